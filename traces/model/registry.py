"""Shipped fitted configurations: list, load, and transfer to unmeasured configurations.

Shipped files live in ``traces/data/configurations/`` (``<config_id>.json`` +
``<config_id>.safetensors`` + ``index.json``) and are read through
:mod:`importlib.resources`, so nothing outside the installed package is needed at run
time.

Two kinds of configuration are shipped:

* ``measured``: fitted end to end on measured bundles (:func:`traces.model.fit.fit_configuration`).
* ``transferred``: a paper configuration for which only the authors' fitted power-state
  mixture is public (``reference_params/<config>_k10.json`` of grantwilkins/powertrace-sim;
  the raw traces are not public). The *state dynamics* (classifier: which state follows
  from which workload) come from a measured configuration of the same GPU family; the
  *power levels* (sorted state means, variances, weights) are the authors' fit for the
  target. This assumes that the mapping from workload to relative power state carries
  over between models on the same GPU, which is an approximation; the registry marks such
  configurations ``source == "transferred"`` and names the donor in their provenance
(built by :mod:`traces.model.transfer`).
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from traces.model.configuration import FittedConfiguration

logger = logging.getLogger(__name__)

__all__ = [
    "RegistryError",
    "list_configurations",
    "load_configuration",
    "available_ids",
]


class RegistryError(KeyError):
    """Unknown configuration id or a broken shipped file."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


def _root() -> Any:
    return resources.files("traces").joinpath("data").joinpath("configurations")


def available_ids() -> list[str]:
    """Ids of all shipped configurations (sorted)."""
    root = _root()
    ids = []
    for entry in root.iterdir():
        name = entry.name
        if name.endswith(".json") and name != "index.json":
            ids.append(name[: -len(".json")])
    return sorted(ids)


def load_configuration(config_id: str) -> FittedConfiguration:
    """Load a shipped configuration by id.

    Parameters
    ----------
    config_id : str
        e.g. ``"qwen3-8b_A100_tp1"``; see :func:`list_configurations`.

    Returns
    -------
    FittedConfiguration

    Raises
    ------
    RegistryError
        Unknown id (the message lists the available ids).
    traces.model.ArtifactError
        Shipped files corrupt (checksum, schema).
    """
    ids = available_ids()
    if config_id not in ids:
        raise RegistryError(
            f"unknown configuration id {config_id!r}; available: {', '.join(ids) or '(none shipped)'}"
        )
    root = _root()
    meta = json.loads(root.joinpath(f"{config_id}.json").read_text())
    fname = Path((meta.get("tensors") or {}).get("file", f"{config_id}.safetensors")).name
    blob = root.joinpath(fname).read_bytes()
    return FittedConfiguration.from_json_and_blob(
        meta, blob, where=f"traces/data/configurations/{config_id}.json"
    )


def list_configurations() -> pd.DataFrame:
    """Summary of the shipped configurations.

    Returns
    -------
    pandas.DataFrame
        One row per configuration: ``config_id``, ``model``, ``gpu``, ``tp``, ``source``
        ("measured" | "transferred"), ``K``, ``sampler``, ``feature_set``, ``tdp_w`` [W],
        ``power_min_w``, ``power_max_w`` [W], ``provenance`` (short summary).
    """
    root = _root()
    rows = []
    for cid in available_ids():
        m = json.loads(root.joinpath(f"{cid}.json").read_text())
        prov = m.get("provenance", {})
        summ = prov.get("summary") or "measured: " + ", ".join(
            s.get("run_id", "") for s in prov.get("sources", [])
        )
        rows.append(
            {
                "config_id": cid,
                "model": m.get("model"),
                "gpu": m.get("gpu"),
                "tp": m.get("tp"),
                "source": m.get("source"),
                "K": m.get("n_states"),
                "sampler": m.get("sampler"),
                "feature_set": m.get("feature_set"),
                "tdp_w": m.get("tdp_w"),
                "power_min_w": (m.get("power_range_w") or [None, None])[0],
                "power_max_w": (m.get("power_range_w") or [None, None])[1],
                "provenance": summ,
            }
        )
    cols = [
        "config_id",
        "model",
        "gpu",
        "tp",
        "source",
        "K",
        "sampler",
        "feature_set",
        "tdp_w",
        "power_min_w",
        "power_max_w",
        "provenance",
    ]
    return pd.DataFrame(rows, columns=cols)


# --------------------------------------------------------------------------- transfer
