"""Facility specification: topology, configuration assignment, workload scenario (paper §3.4).

:class:`FacilitySpec` (a hall of ``rows x racks_per_row x servers_per_rack`` servers, PUE,
non-GPU IT power, horizon, seed, traffic mode), :class:`Assignment` (which configuration
runs on which racks) and :class:`WorkloadScenario` (the request process of each replica),
with the validation of every field (:class:`FacilityConfigError` names the field).
Simulation is in :mod:`traces.facility.run`; the model is described in
:mod:`traces.facility`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from traces import DT_S
from traces.fields import allowed_keys, as_integer, as_number, check_plausible

logger = logging.getLogger(__name__)


#: Generation methods: the fitted model, the paper's baselines (§4.2) and the work-to-power
#: model on the surrogate's token ledger (``"work"``, :mod:`traces.model.work_power`, stored in
#: a configuration's ``provenance["work_power"]``; issue 16).  Appended last so the per-method
#: power seeds of the others (``traces.facility.traffic._power_rng``) do not change.
METHODS: tuple[str, ...] = ("model", "tdp", "mean", "lut", "work")

#: The paper's four methods (the demo's and the planning views' default comparison).
PAPER_METHODS: tuple[str, ...] = ("model", "tdp", "mean", "lut")


class FacilityConfigError(ValueError):
    """A facility specification or config file is invalid; the message names the field."""


# --------------------------------------------------------------------------------------
# Specification
# --------------------------------------------------------------------------------------


def _positive_int(value: Any, name: str, *, allow_zero: bool = False) -> int:
    out = as_integer(value, name, error=FacilityConfigError)
    if out < 0 or (out == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else ">= 1"
        raise FacilityConfigError(f"{name} must be {bound}, got {value}; set a positive count")
    return out


def _finite(
    value: Any, name: str, *, error: type[FacilityConfigError] = FacilityConfigError
) -> float:
    return as_number(value, name, error=error)


@dataclass(frozen=True)
class Assignment:
    """Which fitted configuration each server runs (paper §3.4).

    Parameters
    ----------
    by : {"all", "row", "rack", "fraction"}
        ``"all"``: every server runs ``configs[0]``.  ``"row"``: row ``i`` runs
        ``configs[i]`` (one entry per row).  ``"rack"``: rack ``j`` (row-major over the
        hall) runs ``configs[j]`` (one entry per rack).  ``"fraction"``: a mix in which
        ``fractions[k]`` of the servers run ``configs[k]``; counts are rounded by largest
        remainder and assigned in contiguous blocks of servers (row-major), so whole
        racks tend to share a configuration as in a real hall.
    configs : tuple of str
        Configuration ids (``<model>_<GPU>_tp<TP>``, see :mod:`traces.model.registry`).
    fractions : tuple of float, optional
        Only for ``by="fraction"``; non-negative, summing to 1.
    """

    configs: tuple[str, ...]
    by: Literal["all", "row", "rack", "fraction"] = "all"
    fractions: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        configs = (self.configs,) if isinstance(self.configs, str) else tuple(self.configs)
        object.__setattr__(self, "configs", configs)
        if not configs or not all(isinstance(c, str) and c for c in configs):
            raise FacilityConfigError(
                "assignment.configs must list at least one configuration id (a non-empty "
                f"string such as 'qwen3-8b_H100_tp1'), got {self.configs!r}"
            )
        if self.by not in ("all", "row", "rack", "fraction"):
            raise FacilityConfigError(
                f"assignment.by must be one of 'all', 'row', 'rack', 'fraction', got {self.by!r}"
            )
        if self.by == "all" and len(configs) != 1:
            raise FacilityConfigError(
                "assignment.by='all' takes exactly one configuration id; use by='row', "
                "'rack' or 'fraction' for a heterogeneous hall"
            )
        if self.by == "fraction":
            if self.fractions is None or len(self.fractions) != len(configs):
                raise FacilityConfigError(
                    "assignment.fractions must give one fraction per configuration id "
                    f"({len(configs)}) when by='fraction'"
                )
            fr = np.asarray([_finite(f, "assignment.fractions") for f in self.fractions])
            if np.any(fr < 0) or not math.isclose(float(fr.sum()), 1.0, abs_tol=1e-9):
                raise FacilityConfigError(
                    f"assignment.fractions must be >= 0 and sum to 1, got {list(self.fractions)}"
                )
            object.__setattr__(self, "fractions", tuple(float(f) for f in fr))
        elif self.fractions is not None:
            raise FacilityConfigError("assignment.fractions is only used with by='fraction'")

    def server_configs(self, rows: int, racks_per_row: int, servers_per_rack: int) -> list[str]:
        """Configuration id of every server, row-major (row, rack, server); length N_servers."""
        n_racks = rows * racks_per_row
        n = n_racks * servers_per_rack
        if self.by == "all":
            return [self.configs[0]] * n
        if self.by == "row":
            if len(self.configs) != rows:
                raise FacilityConfigError(
                    f"assignment.by='row' needs one configuration per row: got "
                    f"{len(self.configs)} ids for rows={rows}"
                )
            return [self.configs[i // (racks_per_row * servers_per_rack)] for i in range(n)]
        if self.by == "rack":
            if len(self.configs) != n_racks:
                raise FacilityConfigError(
                    f"assignment.by='rack' needs one configuration per rack: got "
                    f"{len(self.configs)} ids for {n_racks} racks (rows x racks_per_row)"
                )
            return [self.configs[i // servers_per_rack] for i in range(n)]
        assert self.fractions is not None
        raw = np.asarray(self.fractions) * n
        counts = np.floor(raw).astype(int)
        short = n - int(counts.sum())
        order = np.argsort(-(raw - counts), kind="stable")
        counts[order[:short]] += 1
        out: list[str] = []
        for cid, k in zip(self.configs, counts, strict=True):
            out.extend([cid] * int(k))
        return out


@dataclass(frozen=True)
class WorkloadScenario:
    """Per-replica request traffic (paper §3.1: arrival process + token lengths).

    Parameters
    ----------
    arrival : {"poisson", "gamma", "azure", "profile"}
        ``poisson``: homogeneous Poisson at ``rate_per_replica_rps``.  ``gamma``: gamma
        renewal process with inter-arrival CV ``cv``.  ``azure``: replay of the shipped
        Azure LLM production trace (``azure_trace``), time-scaled to the per-replica rate,
        each replica from its own random offset (wrapping around).  ``profile``: Poisson
        with a time-varying rate following ``profile`` (e.g. a diurnal shape).
    rate_per_replica_rps : float
        Mean arrival rate per model replica [requests/s].  For ``profile`` it is the mean
        over the whole profile; the rate at time t is
        ``rate_per_replica_rps * profile[k] / mean(profile)``.
    cv : float
        Coefficient of variation: of inter-arrival times (``gamma``), and of the gamma
        Cox modulation of the shared intensity (``shared`` traffic with poisson / gamma /
        profile arrivals).
    azure_trace : {"code", "conv"}
        Which Azure trace to replay / draw token lengths from.
    tokens : {"azure-code", "azure-conv", "fixed"}
        Token-length distribution for synthetic arrivals: empirical Azure prompt/output
        lengths, or fixed ``n_in_fixed``/``n_out_fixed``.  Azure replay uses the trace's
        own lengths.
    profile : tuple of float, optional
        Relative arrival-rate shape, one value per ``profile_interval_s`` bin starting at the
        facility start time (units cancel; e.g. requests/min).
    profile_interval_s : float
        Width of one profile bin [s].
    profile_label : str
        Provenance of the profile (e.g. "DIGITIZED ESTIMATE ..."); carried into outputs.
    intensity_bin_s : float
        Bin width of the shared intensity path lambda(t) [s] (Azure binned arrival rate
        or the gamma Cox modulation).
    """

    arrival: Literal["poisson", "gamma", "azure", "profile"] = "poisson"
    rate_per_replica_rps: float = 1.0
    cv: float = 1.0
    azure_trace: Literal["code", "conv"] = "code"
    tokens: Literal["azure-code", "azure-conv", "fixed"] = "azure-code"
    n_in_fixed: int = 512
    n_out_fixed: int = 128
    profile: tuple[float, ...] | None = None
    profile_interval_s: float = 900.0
    profile_label: str = ""
    intensity_bin_s: float = 60.0

    def __post_init__(self) -> None:
        if self.arrival not in ("poisson", "gamma", "azure", "profile"):
            raise FacilityConfigError(
                "scenario.arrival must be 'poisson', 'gamma', 'azure' or 'profile', "
                f"got {self.arrival!r}"
            )
        rate = _finite(self.rate_per_replica_rps, "scenario.rate_per_replica_rps")
        object.__setattr__(self, "rate_per_replica_rps", rate)
        if rate <= 0:
            raise FacilityConfigError(
                f"scenario.rate_per_replica_rps must be > 0 [requests/s], got {rate}"
            )
        object.__setattr__(self, "cv", _finite(self.cv, "scenario.cv"))
        if self.cv <= 0:
            raise FacilityConfigError(f"scenario.cv must be > 0, got {self.cv}")
        if self.azure_trace not in ("code", "conv"):
            raise FacilityConfigError(
                f"scenario.azure_trace must be 'code' or 'conv', got {self.azure_trace!r}"
            )
        if self.tokens not in ("azure-code", "azure-conv", "fixed"):
            raise FacilityConfigError(
                "scenario.tokens must be 'azure-code', 'azure-conv' or 'fixed', "
                f"got {self.tokens!r}"
            )
        _positive_int(self.n_in_fixed, "scenario.n_in_fixed", allow_zero=True)
        _positive_int(self.n_out_fixed, "scenario.n_out_fixed")
        for key in ("profile_interval_s", "intensity_bin_s"):
            object.__setattr__(self, key, _finite(getattr(self, key), f"scenario.{key}"))
        if self.profile_interval_s <= 0:
            raise FacilityConfigError("scenario.profile_interval_s must be > 0 [s]")
        if self.intensity_bin_s < DT_S:
            raise FacilityConfigError(
                f"scenario.intensity_bin_s must be >= {DT_S} s, got {self.intensity_bin_s}"
            )
        if self.arrival == "profile":
            if self.profile is None or len(self.profile) == 0:
                raise FacilityConfigError(
                    "scenario.profile must list the relative rate per bin when "
                    "arrival='profile' (e.g. 96 values for a day of 15-min bins)"
                )
        if self.profile is not None:
            prof = np.asarray([_finite(v, "scenario.profile") for v in self.profile])
            if np.any(prof < 0) or not np.any(prof > 0):
                raise FacilityConfigError(
                    "scenario.profile values must be >= 0 with at least one > 0"
                )
            object.__setattr__(self, "profile", tuple(float(v) for v in prof))


_TRAFFIC_MODES = ("independent", "shared")


@dataclass(frozen=True)
class FacilitySpec:
    """A facility to simulate: topology, configurations, traffic and site parameters.

    Parameters
    ----------
    rows, racks_per_row, servers_per_rack : int
        Hall topology (all >= 1).  ``N_servers = rows * racks_per_row * servers_per_rack``.
    assignment : str or Assignment
        One configuration id for every server, or an :class:`Assignment` (mix by row,
        rack or fraction).
    gpus_per_server : int
        GPUs per server; the server hosts ``gpus_per_server // TP`` independently
        generated replicas (TP from the registry).  Must be a multiple of every assigned
        configuration's TP.
    scenario : WorkloadScenario
        Per-replica traffic.
    traffic_mode : {"independent", "shared"}
        Cross-replica traffic (paper §3.4).
    correlation : float
        Fraction in [0, 1] of each replica's rate that follows the shared intensity when
        ``traffic_mode="shared"`` (ignored for ``independent``).
    it_base_kw_per_server : float
        Non-GPU IT power per server [kW] (Eq 10), >= 0.
    pue : float
        Power usage effectiveness (Eq 11), >= 1.
    horizon_s : float
        Simulated duration [s]; a positive multiple of 250 ms and of ``resolution``.
    seed : int
        Master seed (>= 0).
    resolution : str
        Output interval of the PCC series (pandas offset alias, e.g. ``"1min"``, ``"15min"``,
        ``"250ms"``); not finer than 250 ms.
    start : str or pandas.Timestamp
        UTC wall-clock time of t = 0.
    max_batch : int
        Continuous-batching limit of the surrogate (paper: 64).
    allow_implausible : tuple of str
        Keys of :data:`traces.fields.PLAUSIBLE` (``"pue"``, ``"it_base_kw_per_server"``)
        whose value is meant although it lies outside the plausible range.
    """

    rows: int
    racks_per_row: int
    servers_per_rack: int
    assignment: str | Assignment
    gpus_per_server: int = 8
    scenario: WorkloadScenario = field(default_factory=WorkloadScenario)
    traffic_mode: Literal["independent", "shared"] = "independent"
    correlation: float = 1.0
    it_base_kw_per_server: float = 1.0
    pue: float = 1.3
    horizon_s: float = 3600.0
    seed: int = 0
    resolution: str = "1min"
    start: str | pd.Timestamp = "2024-05-16T00:00:00Z"
    max_batch: int = 64
    allow_implausible: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        allow = allowed_keys(self.allow_implausible, error=FacilityConfigError)
        object.__setattr__(self, "allow_implausible", tuple(sorted(allow)))
        _positive_int(self.rows, "rows")
        _positive_int(self.racks_per_row, "racks_per_row")
        _positive_int(self.servers_per_rack, "servers_per_rack")
        _positive_int(self.gpus_per_server, "gpus_per_server")
        _positive_int(self.seed, "seed", allow_zero=True)
        _positive_int(self.max_batch, "max_batch")
        assignment = self.assignment
        if isinstance(assignment, str):
            assignment = Assignment(configs=(assignment,))
            object.__setattr__(self, "assignment", assignment)
        elif not isinstance(assignment, Assignment):
            raise FacilityConfigError(
                "assignment must be a configuration id string or a traces.facility.Assignment, "
                f"got {type(assignment).__name__}"
            )
        # validates per-row / per-rack lengths early
        assignment.server_configs(self.rows, self.racks_per_row, self.servers_per_rack)
        if not isinstance(self.scenario, WorkloadScenario):
            raise FacilityConfigError("scenario must be a traces.facility.WorkloadScenario")
        if self.traffic_mode not in _TRAFFIC_MODES:
            raise FacilityConfigError(
                f"traffic_mode must be 'independent' or 'shared', got {self.traffic_mode!r}"
            )
        rho = _finite(self.correlation, "correlation")
        if not 0.0 <= rho <= 1.0:
            raise FacilityConfigError(f"correlation must lie in [0, 1], got {rho}")
        object.__setattr__(self, "correlation", rho)
        base = _finite(self.it_base_kw_per_server, "it_base_kw_per_server")
        if base < 0:
            raise FacilityConfigError(
                f"it_base_kw_per_server must be >= 0 [kW], got {base}; use 0 for GPU-only power"
            )
        check_plausible(
            base, "it_base_kw_per_server", "it_base_kw_per_server", allow=allow,
            error=FacilityConfigError,
        )  # fmt: skip
        object.__setattr__(self, "it_base_kw_per_server", base)
        pue = _finite(self.pue, "pue")
        if pue < 1.0:
            raise FacilityConfigError(
                f"pue must be >= 1 (facility power / IT power), got {pue}; a typical value is 1.1-1.5"
            )
        check_plausible(pue, "pue", "pue", allow=allow, error=FacilityConfigError)
        object.__setattr__(self, "pue", pue)
        try:
            start = pd.Timestamp(self.start)
        except (ValueError, TypeError) as exc:
            raise FacilityConfigError(f"start: cannot parse {self.start!r} as a timestamp") from exc
        start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
        object.__setattr__(self, "start", start)
        try:
            res = pd.Timedelta(pd.tseries.frequencies.to_offset(self.resolution))
        except (ValueError, TypeError) as exc:
            raise FacilityConfigError(
                f"resolution: {self.resolution!r} is not a pandas interval such as '250ms', "
                "'1min' or '15min'"
            ) from exc
        res_s = res.total_seconds()
        if res_s < DT_S - 1e-12:
            raise FacilityConfigError(
                f"resolution {self.resolution!r} is finer than the generator's 250 ms step; "
                "use '250ms' or a coarser interval"
            )
        if not _is_multiple(res_s, DT_S):
            raise FacilityConfigError(
                f"resolution {self.resolution!r} must be a whole number of 250 ms steps"
            )
        if start.value % int(round(res_s * 1e9)):
            raise FacilityConfigError(
                f"start {start} is not on the {self.resolution!r} grid (UTC); output intervals "
                "are interval-beginning and aligned like utility interval meters. Start on a "
                f"whole {self.resolution} boundary"
            )
        horizon = _finite(self.horizon_s, "horizon_s")
        if horizon < DT_S or horizon < res_s:
            raise FacilityConfigError(
                f"horizon_s={horizon} is shorter than one step (250 ms) or one output interval "
                f"({self.resolution}); lengthen the horizon"
            )
        if not _is_multiple(horizon, res_s):
            raise FacilityConfigError(
                f"horizon_s={horizon} is not a whole number of output intervals "
                f"({self.resolution} = {res_s} s); the last interval would be partial. "
                "Choose a horizon that is a multiple of the resolution"
            )
        object.__setattr__(self, "horizon_s", horizon)
        sc = self.scenario
        if sc.arrival == "profile" and sc.profile is not None:
            covered = len(sc.profile) * sc.profile_interval_s
            if horizon > covered + 1e-9:
                raise FacilityConfigError(
                    f"horizon_s={horizon} exceeds the rate profile ({len(sc.profile)} bins x "
                    f"{sc.profile_interval_s} s = {covered} s); shorten the horizon or "
                    "extend scenario.profile"
                )

    # ---- derived quantities ------------------------------------------------------------
    @property
    def n_racks(self) -> int:
        """Number of racks (rows x racks_per_row)."""
        return self.rows * self.racks_per_row

    @property
    def n_servers(self) -> int:
        """Number of servers."""
        return self.n_racks * self.servers_per_rack

    @property
    def n_steps(self) -> int:
        """Number of 250 ms steps T in the horizon."""
        return int(round(self.horizon_s / DT_S))

    @property
    def resolution_s(self) -> float:
        """Output interval [s]."""
        return pd.Timedelta(pd.tseries.frequencies.to_offset(self.resolution)).total_seconds()

    def server_configs(self) -> list[str]:
        """Configuration id per server, row-major; length N_servers."""
        assert isinstance(self.assignment, Assignment)
        return self.assignment.server_configs(self.rows, self.racks_per_row, self.servers_per_rack)

    def index(self) -> pd.DatetimeIndex:
        """UTC index of the 250 ms grid (T,), ``start + k * 250 ms``."""
        return pd.date_range(
            self.start, periods=self.n_steps, freq=pd.Timedelta(seconds=DT_S), name="time"
        )

    def rack_location(self, rack: int) -> tuple[int, int]:
        """(row, rack-in-row) of a rack index (row-major)."""
        return divmod(rack, self.racks_per_row)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation (for summaries and provenance)."""
        out = asdict(self)
        out["start"] = self.start.isoformat()  # type: ignore[union-attr]
        if not out["allow_implausible"]:
            del out["allow_implausible"]  # only an override in use is worth recording
        return out


def _is_multiple(x: float, step: float) -> bool:
    q = x / step
    return abs(q - round(q)) < 1e-9 * max(1.0, abs(q))
