"""Training envelope of a fitted configuration, and out-of-envelope warnings (issue 16).

A production scenario must not be silently outside what a configuration was fitted on.
The envelope records, from the training bundles:

* ``prompt_tokens`` - range of the prompt lengths ``n_in`` [tokens];
* ``context_tokens`` - range of the per-request context ``n_in + n_out`` [tokens] (the KV
  cache a request holds at its end);
* ``concurrency`` - range of the surrogate's A_t on the training schedules [requests]
  (what generation feeds the classifier).

:func:`check_envelope` compares a schedule (and its features) with it and returns one flag
per quantity that lies beyond the fitted range; :func:`warn_envelope` logs them as
warnings that name the quantity, the value and the fitted range.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "QUANTITIES",
    "check_envelope",
    "configuration_envelope",
    "merge_flags",
    "training_envelope",
    "warn_envelope",
]

#: Quantities checked, with their unit.
QUANTITIES: dict[str, str] = {
    "prompt_tokens": "tokens",
    "context_tokens": "tokens",
    "concurrency": "requests",
}


def training_envelope(bundles: Sequence[Any], active: Iterable[np.ndarray] = ()) -> dict:
    """Envelope of training bundles (requests) and surrogate A_t arrays.

    Parameters
    ----------
    bundles : sequence of MeasuredBundle
        Training bundles (``requests`` with ``n_in``, ``n_out``).
    active : iterable of numpy.ndarray
        Surrogate A_t of the training schedules (any shapes); when empty, the measured
        ``active_requests`` of the bundles are used.

    Returns
    -------
    dict
        ``{quantity: [min, max]}`` (JSON-serialisable floats).
    """
    n_in = np.concatenate([b.requests["n_in"].to_numpy() for b in bundles])
    ctx = np.concatenate([(b.requests["n_in"] + b.requests["n_out"]).to_numpy() for b in bundles])
    acts = [np.asarray(a, dtype=np.float64).ravel() for a in active]
    if not acts:
        acts = [
            b.active_requests.to_numpy(dtype=np.float64)
            for b in bundles
            if b.active_requests is not None
        ]
    a = np.concatenate(acts) if acts else np.zeros(1)
    a = a[np.isfinite(a)]
    return {
        "prompt_tokens": [float(n_in.min()), float(n_in.max())],
        "context_tokens": [float(ctx.min()), float(ctx.max())],
        "concurrency": [0.0, float(a.max()) if a.size else 0.0],
    }


def check_envelope(
    envelope: Mapping[str, Sequence[float]] | None,
    schedule: Any,
    features: Any = None,
    *,
    config_id: str = "",
) -> dict[str, dict[str, Any]]:
    """Quantities of ``schedule`` (and ``features``) beyond the fitted envelope.

    Parameters
    ----------
    envelope : mapping or None
        :func:`training_envelope` output (a configuration's ``provenance["envelope"]``);
        None -> no check (an empty dict).
    schedule : RequestSchedule
        ``n_in``, ``n_out`` per request.
    features : WorkloadFeatures, optional
        Its ``active`` (A_t) is checked against ``concurrency``.
    config_id : str
        Recorded in the flags.

    Returns
    -------
    dict
        ``{quantity: {"config_id", "value", "fitted_range", "unit", "n_beyond"}}`` for
        each quantity above its fitted maximum (``value`` the largest seen); empty when
        everything lies inside.  Only the upper end is flagged for concurrency (an idle
        server is always inside).
    """
    if not envelope:
        return {}
    n_in = np.asarray(schedule.n_in, dtype=np.float64)
    values = {
        "prompt_tokens": n_in,
        "context_tokens": n_in + np.asarray(schedule.n_out, dtype=np.float64),
    }
    if features is not None:
        values["concurrency"] = np.asarray(features.active, dtype=np.float64)
    flags: dict[str, dict[str, Any]] = {}
    for q, v in values.items():
        if q not in envelope or v.size == 0:
            continue
        lo, hi = (float(x) for x in envelope[q])
        beyond = v > hi if q == "concurrency" else (v > hi) | (v < lo)
        if beyond.any():
            flags[q] = {
                "config_id": config_id,
                "value": float(v.max() if (v > hi).any() else v.min()),
                "fitted_range": [lo, hi],
                "unit": QUANTITIES[q],
                "n_beyond": int(beyond.sum()),
            }
    return flags


def merge_flags(
    into: dict[str, dict[str, Any]], flags: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Merge flags keyed ``"<config_id>:<quantity>"`` keeping the extreme value and counts."""
    for q, f in flags.items():
        key = f"{f.get('config_id', '')}:{q}"
        if key not in into:
            into[key] = {**f, "quantity": q}
            continue
        old = into[key]
        old["n_beyond"] += int(f["n_beyond"])
        old["value"] = float(max(old["value"], f["value"]))
    return into


def warn_envelope(flags: Mapping[str, Mapping[str, Any]]) -> None:
    """Log one warning per flag naming the quantity, the value and the fitted range."""
    for key, f in flags.items():
        q = f.get("quantity", key)
        lo, hi = f["fitted_range"]
        logger.warning(
            "%s: %s up to %.0f %s lies outside the fitted range %.0f-%.0f %s (%d value(s)); "
            "the generated power is an extrapolation there",
            f.get("config_id") or "configuration",
            q,
            f["value"],
            f["unit"],
            lo,
            hi,
            f["unit"],
            f["n_beyond"],
        )


def configuration_envelope(
    latency: Any, bundles: Sequence[Any], *, n_draws: int = 3, seed: int = 0
) -> dict:
    """:func:`training_envelope` with A_t from ``n_draws`` surrogate replays per bundle.

    For configurations fitted before the envelope was recorded: their training bundles'
    schedules go through the stored latency model (seeds ``[seed, i, d]``), as generation
    would see them.
    """
    from traces.workload.schedule import RequestSchedule
    from traces.workload.surrogate import features_for_schedule

    active = [
        features_for_schedule(
            RequestSchedule.from_bundle(b),
            latency,
            rng=np.random.default_rng([seed, i, d]),
            extra=False,
        ).active
        for i, b in enumerate(bundles)
        for d in range(n_draws)
    ]
    return training_envelope(bundles, active)
