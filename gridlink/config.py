"""Planner config files (TOML or YAML) for a facility simulation (paper §3.1, §3.4).

A config file describes one facility: its topology, which fitted configuration each
server runs, the request traffic, the site parameters (non-GPU IT power, PUE) and the
run (horizon, seed, output resolution, method).  :func:`load_facility_config` validates
it into a :class:`traces.facility.FacilitySpec`; every error names the file, the table
and the field, and says how to fix it.

Example (TOML)::

    [facility]
    rows = 10
    racks_per_row = 6
    servers_per_rack = 4
    gpus_per_server = 8
    it_base_kw_per_server = 1.0   # [kW] non-GPU IT power per server (Eq 10)
    pue = 1.3                     # Eq 11

    [assignment]
    config = "qwen3-8b_H100_tp1"  # or: by = "row" | "rack", configs = [...]
                                  # or: by = "fraction", mix = {"a" = 0.75, "b" = 0.25}

    [workload]
    arrival = "azure"             # poisson | gamma | azure | profile
    rate_per_replica_rps = 1.0    # [requests/s]
    traffic_mode = "independent"  # or "shared" (common intensity, thinned per replica)

    [run]
    horizon = "1h"                # or horizon_s = 3600
    seed = 0
    resolution = "1min"
    method = "model"              # model | tdp | mean | lut
    # allow_implausible = ["pue"] # accept a value outside its plausible range on purpose

    [flexibility]                 # optional (issue 15, docs/flexibility.md)
    gpu_power_cap_w = 350         # [W per GPU] nvidia-smi power limit, whole horizon
    cap_sensitivity = 1.0         # beta of the latency stretch r(C)^-beta, in (0, 1]
    delay_threshold_s = 1.0       # a request is 'delayed' beyond this added TTFT [s]

    [flexibility.curtailment]     # optional: a window under a PCC limit
    start_h = 0.25                # [h after start]
    end_h = 0.5
    pcc_limit_mw = 2.0            # [MW]
    deferrable_share = 0.2        # latency-tolerant share of requests, in [0, 1]
    max_delay_h = 1.0             # [h]
    release = "deadline"          # or "window_end": hold deferred work to the window's end

Numbers must be numbers (``pue = "1.3"`` and ``pue = true`` are refused), a duration
needs a unit (``horizon = 120`` is refused: write ``"120s"`` or ``horizon_s = 120``),
and YAML files may not repeat a key (docs/hardening.md).
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traces.facility import (
    METHODS,
    Assignment,
    FacilityConfigError,
    FacilitySpec,
    WorkloadScenario,
    validate_configurations,
)
from traces.facility.flexibility import CurtailmentWindow, FlexibilitySpec
from traces.fields import as_duration_s

__all__ = ["ConfigError", "RunConfig", "load_facility_config", "parse_facility_config"]

logger = logging.getLogger(__name__)

_TABLES: dict[str, set[str]] = {
    "facility": {
        "rows",
        "racks_per_row",
        "servers_per_rack",
        "gpus_per_server",
        "it_base_kw_per_server",
        "pue",
    },
    "assignment": {"config", "by", "configs", "mix"},
    "workload": {
        "arrival",
        "rate_per_replica_rps",
        "cv",
        "azure_trace",
        "tokens",
        "n_in_fixed",
        "n_out_fixed",
        "profile",
        "profile_interval_s",
        "profile_label",
        "intensity_bin_s",
        "traffic_mode",
        "correlation",
    },
    "run": {
        "horizon",
        "horizon_s",
        "seed",
        "resolution",
        "start",
        "method",
        "max_batch",
        "allow_implausible",
    },
    "flexibility": {"gpu_power_cap_w", "cap_sensitivity", "delay_threshold_s", "curtailment"},
    "meta": None,  # type: ignore[dict-item]  # free-form provenance (title, attribution, ...)
}


class ConfigError(FacilityConfigError):
    """A planner config file is malformed; the message names the file, table and field."""


@dataclass(frozen=True)
class RunConfig:
    """A validated config file: the facility and how to run it.

    Attributes
    ----------
    spec : traces.facility.FacilitySpec
    method : str
        ``"model"``, ``"tdp"``, ``"mean"`` or ``"lut"``.
    meta : dict
        The free-form ``[meta]`` table (title, attribution, labels).
    source : str
        File the config came from (or ``"<dict>"``).
    flexibility : traces.facility.flexibility.FlexibilitySpec or None
        The ``[flexibility]`` table (power cap, curtailment window), if any.
    """

    spec: FacilitySpec
    method: str
    meta: dict[str, Any]
    source: str
    flexibility: FlexibilitySpec | None = None


_CURTAILMENT_KEYS = {
    "start_h", "end_h", "pcc_limit_mw", "deferrable_share", "max_delay_h", "release",
}  # fmt: skip


def _flexibility(table: dict[str, Any], spec: FacilitySpec, where: str) -> FlexibilitySpec:
    """The ``[flexibility]`` table (and ``[flexibility.curtailment]``), checked against the spec."""
    table = dict(table)
    curt = table.pop("curtailment", None)
    window = None
    if curt is not None:
        if not isinstance(curt, dict):
            raise ConfigError(f"{where}: [flexibility.curtailment] must be a table of key = value")
        unknown = set(curt) - _CURTAILMENT_KEYS
        if unknown:
            raise ConfigError(
                f"{where}: unknown key(s) {sorted(unknown)} in [flexibility.curtailment]; "
                f"allowed: {sorted(_CURTAILMENT_KEYS)}"
            )
        missing = {"start_h", "end_h", "pcc_limit_mw"} - set(curt)
        if missing:
            raise ConfigError(
                f"{where}: [flexibility.curtailment] needs {sorted(missing)} (window in hours "
                "after the start, PCC limit in MW)"
            )
        window = CurtailmentWindow(**curt)
        window.check_horizon(spec)
    flex = FlexibilitySpec(curtailment=window, **table)
    return flex


def _unique_key_loader() -> type:
    """A ``yaml.SafeLoader`` that refuses duplicate keys (TOML does; YAML lets the last win)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"duplicate key {key!r} (first at line {seen[key].line + 1}); keep one",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark
            return super().construct_mapping(node, deep=deep)

    UniqueKeyLoader.add_constructor(
        yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, UniqueKeyLoader.construct_mapping
    )
    return UniqueKeyLoader


def _read(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    text = path.read_text(encoding="utf-8")
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.load(text, Loader=_unique_key_loader())  # noqa: S506 - a SafeLoader
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the YAML document must be a mapping of tables")
        return data
    raise ConfigError(f"{path}: unknown config format {suffix!r}; use .toml, .yaml or .yml")


def _horizon_s(run: dict[str, Any], where: str) -> float:
    if "horizon" in run and "horizon_s" in run:
        raise ConfigError(f"{where}: [run] gives both horizon and horizon_s; keep one")
    for key in ("horizon_s", "horizon"):
        if key in run:
            try:
                return as_duration_s(run[key], key, error=ConfigError)
            except ConfigError as exc:
                raise ConfigError(f"{where}: [run] {exc}") from exc
    raise ConfigError(f"{where}: [run] needs horizon (e.g. '1h') or horizon_s")


def _assignment(table: dict[str, Any], where: str) -> Assignment | str:
    if "config" in table:
        extra = set(table) - {"config"}
        if extra:
            raise ConfigError(
                f"{where}: [assignment] config= assigns one configuration to every server; "
                f"remove {sorted(extra)} or use by=... with configs/mix"
            )
        return str(table["config"])
    by = table.get("by")
    if by is None:
        raise ConfigError(
            f"{where}: [assignment] needs config = '<id>' (all servers) or by = 'row' | 'rack' "
            "| 'fraction'"
        )
    if by == "fraction":
        mix = table.get("mix")
        if not isinstance(mix, dict) or not mix:
            raise ConfigError(
                f"{where}: [assignment] by='fraction' needs mix = {{'<config id>' = fraction, ...}}"
            )
        return Assignment(configs=tuple(mix), by="fraction", fractions=tuple(mix.values()))
    configs = table.get("configs")
    if not isinstance(configs, list):
        raise ConfigError(f"{where}: [assignment] by={by!r} needs configs = [list of ids]")
    return Assignment(configs=tuple(configs), by=by)


def parse_facility_config(
    data: dict[str, Any],
    *,
    source: str = "<dict>",
    check_registry: bool = True,
    allow_implausible: Sequence[str] = (),
) -> RunConfig:
    """Validate a config mapping (as read from TOML/YAML) into a :class:`RunConfig`.

    Parameters
    ----------
    data : dict
        Tables ``facility``, ``assignment``, ``workload``, ``run`` and optional ``meta``
        and ``flexibility`` (with an optional ``flexibility.curtailment`` sub-table).
    source : str
        Name used in error messages (the file path).
    check_registry : bool
        Also load every assigned configuration from the registry (unknown ids and GPUs per
        server that are not a multiple of TP are reported here, before any work).
    allow_implausible : sequence of str
        Plausible-range keys accepted outside their range (added to ``[run]
        allow_implausible``; see :data:`traces.fields.PLAUSIBLE`).

    Raises
    ------
    ConfigError
        Unknown table or key, wrong type, negative counts, PUE < 1, unknown configuration,
        resolution finer than 250 ms, horizon shorter than one step, a power cap <= 0, a
        curtailment window outside the horizon, a deferrable share outside [0, 1], ...
    """
    where = source
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of tables")
    for table, value in data.items():
        if table not in _TABLES:
            raise ConfigError(
                f"{where}: unknown table [{table}]; known tables are {sorted(_TABLES)}"
            )
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: [{table}] must be a table of key = value")
        allowed = _TABLES[table]
        if allowed is not None:
            unknown = set(value) - allowed
            if unknown:
                raise ConfigError(
                    f"{where}: unknown key(s) {sorted(unknown)} in [{table}]; allowed: "
                    f"{sorted(allowed)}"
                )
    for required in ("facility", "assignment", "run"):
        if required not in data:
            raise ConfigError(f"{where}: missing table [{required}]")
    fac = dict(data["facility"])
    for key in ("rows", "racks_per_row", "servers_per_rack"):
        if key not in fac:
            raise ConfigError(f"{where}: [facility] needs {key} (an integer >= 1)")
    work = dict(data.get("workload", {}))
    run = dict(data["run"])
    if allow_implausible:
        listed = run.get("allow_implausible", [])
        listed = list(listed) if isinstance(listed, list | tuple) else [listed]
        run["allow_implausible"] = [*listed, *allow_implausible]
    method = run.pop("method", "model")
    if method not in METHODS:
        raise ConfigError(f"{where}: [run] method must be one of {list(METHODS)}, got {method!r}")
    traffic_mode = work.pop("traffic_mode", "independent")
    correlation = work.pop("correlation", 1.0)
    if "profile" in work and work["profile"] is not None:
        if not isinstance(work["profile"], list):
            raise ConfigError(f"{where}: [workload] profile must be a list of numbers")
        work["profile"] = tuple(work["profile"])
    try:
        scenario = WorkloadScenario(**work)
        spec = FacilitySpec(
            rows=fac.pop("rows"),
            racks_per_row=fac.pop("racks_per_row"),
            servers_per_rack=fac.pop("servers_per_rack"),
            assignment=_assignment(dict(data["assignment"]), where),
            scenario=scenario,
            traffic_mode=traffic_mode,
            correlation=correlation,
            horizon_s=_horizon_s(run, where),
            **fac,
            **{k: v for k, v in run.items() if k not in ("horizon", "horizon_s")},
        )
        if check_registry:
            validate_configurations(spec)
        flex = _flexibility(data["flexibility"], spec, where) if "flexibility" in data else None
    except ConfigError:
        raise
    except FacilityConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    return RunConfig(
        spec=spec, method=method, meta=dict(data.get("meta", {})), source=source,
        flexibility=flex,
    )  # fmt: skip


def load_facility_config(
    path: str | Path, *, check_registry: bool = True, allow_implausible: Sequence[str] = ()
) -> RunConfig:
    """Read and validate a TOML or YAML planner config file.

    Parameters
    ----------
    path : str or Path
        ``.toml``, ``.yaml`` or ``.yml`` file.
    check_registry, allow_implausible
        See :func:`parse_facility_config`.

    Returns
    -------
    RunConfig

    Raises
    ------
    ConfigError
        With the file name, the table and the field in the message.
    """
    p = Path(path)
    return parse_facility_config(
        _read(p), source=str(p), check_registry=check_registry,
        allow_implausible=allow_implausible,
    )  # fmt: skip
