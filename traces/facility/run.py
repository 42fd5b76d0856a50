"""From servers to sites: facility topology, per-server generation and aggregation to the PCC.

A facility is a hall of ``rows x racks_per_row x servers_per_rack`` servers.  Each server
holds ``gpus_per_server`` GPUs; a configuration with tensor-parallel degree TP serves one
model replica per TP GPUs, so a server hosts ``gpus_per_server // TP`` replicas, each with
its own request stream, its own continuous-batching surrogate and its own power trace
(paper §3.4).  Server GPU power is the sum of its replicas; racks, rows and the site sum
their servers; the load at the point of common coupling (PCC) is

.. math::

    P_\\mathrm{IT}(t) = \\sum_s \\big(P^\\mathrm{GPU}_s(t) + P^\\mathrm{base}_s\\big), \\qquad
    P_\\mathrm{PCC}(t) = \\mathrm{PUE}\\cdot P_\\mathrm{IT}(t)

(paper Eqs 10-11), with a constant non-GPU IT power per server (CPUs, memory, NICs, fans;
default 1 kW) and a constant power usage effectiveness (default 1.3).

Traffic across replicas (paper §3.4) is either ``independent`` (each replica draws its own
arrival process) or ``shared``: one common intensity path lambda(t) (the Azure trace's
binned arrival rate, or a gamma-modulated Cox intensity around the base rate / diurnal
profile) is thinned independently per replica, which makes the streams positively
correlated.  ``correlation`` in [0, 1] mixes the two: a fraction ``correlation`` of each
replica's rate follows the shared path, the rest is an independent stream.

Randomness: every replica's generator is seeded from the master ``seed`` through
``numpy.random.SeedSequence(seed, spawn_key=(0, server_index))`` (and its spawned children
per replica), so the same seed gives the same facility whether racks run serially or on a
dask cluster, in any order.

Work is chunked by groups of racks (:func:`rack_groups`, about :data:`CHUNK_STEPS`
replica-steps each): a group's replicas are generated together (the model's batched
``generate_many`` when it has one) and only the racks' partial sums leave the chunk, so
memory is bounded by one chunk plus the rack/row/site series; per-server series are kept
only with ``keep_servers=True``.  Horizons up to :data:`WHOLE_SEQUENCE_MAX_STEPS` (72 h)
run the BiGRU over each replica's whole sequence (exact bidirectional inference, all the
chunk's replicas of a configuration in one batch) when the facility has at least
:data:`WHOLE_SEQUENCE_MIN_REPLICAS` of them; otherwise overlapping windows are batched.

References
----------
Wilkins, Kazhamiaka & Rajagopal, "From Servers to Sites: Compositional Power Trace
Generation of LLM Inference for Infrastructure Planning" (2026), §3.1, §3.4, Eqs 10-11.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from traces import DT_S
from traces.envelope import check_envelope, merge_flags, warn_envelope

__all__ = [
    "FacilityConfigError",
    "Assignment",
    "WorkloadScenario",
    "FacilitySpec",
    "FacilityResult",
    "RackChunk",
    "METHODS",
    "simulate_facility",
    "simulate_methods",
    "validate_configurations",
    "assemble",
    "simulate_rack",
    "simulate_racks",
    "rack_groups",
    "CHUNK_STEPS",
    "iter_racks",
    "server_seed",
    "replica_schedule",
    "shared_intensity",
    "resample_energy_mean",
    "AZURE_ATTRIBUTION",
]

logger = logging.getLogger(__name__)

#: Generation methods: the fitted model and the paper's baselines (§4.2).
METHODS: tuple[str, ...] = ("model", "tdp", "mean", "lut")

#: Attribution required by the Azure LLM inference traces (CC BY 4.0).
AZURE_ATTRIBUTION: str = (
    "Microsoft Azure Public Dataset (Azure LLM inference trace), CC BY 4.0, "
    "https://github.com/Azure/AzurePublicDataset. 2023 trace: Patel et al., 'Splitwise: "
    "Efficient generative LLM inference using phase splitting', ISCA 2024. 2024 trace: "
    "Stojkovic et al., 'DynamoLLM: Designing LLM Inference Clusters for Performance and "
    "Energy Efficiency', HPCA 2025, https://arxiv.org/abs/2408.00741."
)

_SERVER_KEY = 0  # SeedSequence spawn_key prefix of per-server streams
_SHARED_KEY = 1  # spawn_key prefix of the shared intensity path


class FacilityConfigError(ValueError):
    """A facility specification or config file is invalid; the message names the field."""


class PowerGenerator(Protocol):
    """Anything that maps workload features to GPU power (the model or a baseline)."""

    def generate_from_features(self, features: Any, *, rng: Any) -> np.ndarray:  # pragma: no cover
        ...


# --------------------------------------------------------------------------------------
# Specification
# --------------------------------------------------------------------------------------


def _positive_int(value: Any, name: str, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise FacilityConfigError(f"{name} must be an integer, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else ">= 1"
        raise FacilityConfigError(f"{name} must be {bound}, got {value}; set a positive count")
    return int(value)


def _finite(value: Any, name: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise FacilityConfigError(f"{name} must be a number, got {value!r}") from exc
    if not math.isfinite(out):
        raise FacilityConfigError(f"{name} must be finite, got {value!r}")
    return out


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
        Configuration ids (``<model>_<GPU>_tp<TP>``, see :mod:`traces.registry`).
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
        if rate <= 0:
            raise FacilityConfigError(
                f"scenario.rate_per_replica_rps must be > 0 [requests/s], got {rate}"
            )
        if _finite(self.cv, "scenario.cv") <= 0:
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
        if _finite(self.profile_interval_s, "scenario.profile_interval_s") <= 0:
            raise FacilityConfigError("scenario.profile_interval_s must be > 0 [s]")
        if _finite(self.intensity_bin_s, "scenario.intensity_bin_s") < DT_S:
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

    def __post_init__(self) -> None:
        _positive_int(self.rows, "rows")
        _positive_int(self.racks_per_row, "racks_per_row")
        _positive_int(self.servers_per_rack, "servers_per_rack")
        _positive_int(self.gpus_per_server, "gpus_per_server")
        _positive_int(self.seed, "seed", allow_zero=True)
        _positive_int(self.max_batch, "max_batch")
        if isinstance(self.assignment, str):
            object.__setattr__(self, "assignment", Assignment(configs=(self.assignment,)))
        elif not isinstance(self.assignment, Assignment):
            raise FacilityConfigError(
                "assignment must be a configuration id string or a traces.facility.Assignment, "
                f"got {type(self.assignment).__name__}"
            )
        # validates per-row / per-rack lengths early
        self.assignment.server_configs(self.rows, self.racks_per_row, self.servers_per_rack)
        if not isinstance(self.scenario, WorkloadScenario):
            raise FacilityConfigError("scenario must be a traces.facility.WorkloadScenario")
        if self.traffic_mode not in _TRAFFIC_MODES:
            raise FacilityConfigError(
                f"traffic_mode must be 'independent' or 'shared', got {self.traffic_mode!r}"
            )
        rho = _finite(self.correlation, "correlation")
        if not 0.0 <= rho <= 1.0:
            raise FacilityConfigError(f"correlation must lie in [0, 1], got {rho}")
        base = _finite(self.it_base_kw_per_server, "it_base_kw_per_server")
        if base < 0:
            raise FacilityConfigError(
                f"it_base_kw_per_server must be >= 0 [kW], got {base}; use 0 for GPU-only power"
            )
        pue = _finite(self.pue, "pue")
        if pue < 1.0:
            raise FacilityConfigError(
                f"pue must be >= 1 (facility power / IT power), got {pue}; a typical value is 1.1-1.5"
            )
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
        return out


def _is_multiple(x: float, step: float) -> bool:
    q = x / step
    return abs(q - round(q)) < 1e-9 * max(1.0, abs(q))


# --------------------------------------------------------------------------------------
# Seeds
# --------------------------------------------------------------------------------------


def server_seed(seed: int, server_index: int) -> np.random.SeedSequence:
    """Seed sequence of one server, keyed by its index (independent of execution order).

    Parameters
    ----------
    seed : int
        Master seed of the facility.
    server_index : int
        Row-major server index in ``[0, N_servers)``.

    Returns
    -------
    numpy.random.SeedSequence
        ``SeedSequence(seed, spawn_key=(0, server_index))``; replicas use its children.
    """
    return np.random.SeedSequence(seed, spawn_key=(_SERVER_KEY, int(server_index)))


def _replica_streams(
    seed: int, server_index: int, n_replicas: int
) -> list[tuple[np.random.Generator, np.random.Generator, np.random.SeedSequence]]:
    """Per replica: (schedule rng, surrogate rng, power seed sequence)."""
    out = []
    for child in server_seed(seed, server_index).spawn(n_replicas):
        s_sched, s_surr, s_pow = child.spawn(3)
        out.append((np.random.default_rng(s_sched), np.random.default_rng(s_surr), s_pow))
    return out


def _power_rng(seq: np.random.SeedSequence, method: str) -> np.random.Generator:
    """A replica's power generator for one method (same for serial, dask, multi-method)."""
    return np.random.default_rng(
        np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, METHODS.index(method)))
    )


# --------------------------------------------------------------------------------------
# Workload: schedules per replica, shared intensity
# --------------------------------------------------------------------------------------


def _rate_shape(spec: FacilitySpec, t_s: np.ndarray) -> np.ndarray:
    """Deterministic relative rate (mean 1 over the profile) at times ``t_s`` [s]."""
    sc = spec.scenario
    if sc.arrival != "profile":
        return np.ones_like(t_s, dtype=float)
    prof = np.asarray(sc.profile, dtype=float)
    k = np.minimum((t_s // sc.profile_interval_s).astype(int), len(prof) - 1)
    return prof[k] / prof.mean()


_AZURE_LOCK = threading.Lock()
_AZURE_CACHE: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, float]] = {}


def _azure(trace: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Shipped Azure trace as (arrival_s from first request, n_in, n_out, span_s), cached."""
    with _AZURE_LOCK:
        if trace not in _AZURE_CACHE:
            from traces.workload.schedule import load_azure_trace

            frame = load_azure_trace(trace)
            times = pd.DatetimeIndex(frame["arrival_time"])
            t = (times - times[0]).total_seconds().to_numpy(dtype=np.float64)
            n_in = frame["n_in"].to_numpy(dtype=np.int64)
            n_out = frame["n_out"].to_numpy(dtype=np.int64)
            _AZURE_CACHE[trace] = (t, n_in, n_out, float(t[-1]))
        return _AZURE_CACHE[trace]


def _azure_rate(trace: str) -> float:
    """Mean arrival rate of the shipped trace [requests/s]."""
    t, _, _, span = _azure(trace)
    return t.size / span


_TOKENS_CACHE: dict[tuple[Any, ...], Any] = {}


def _tokens(sc: WorkloadScenario, *, for_azure_shared: bool = False) -> Any:
    """Token-length table of the scenario (cached): Azure empirical or constant."""
    from traces.workload.schedule import TokenDistribution

    if for_azure_shared:
        key: tuple[Any, ...] = ("azure", sc.azure_trace)
    elif sc.tokens == "fixed":
        key = ("fixed", sc.n_in_fixed, sc.n_out_fixed)
    else:
        key = ("azure", "code" if sc.tokens == "azure-code" else "conv")
    with _AZURE_LOCK:
        if key not in _TOKENS_CACHE:
            if key[0] == "fixed":
                _TOKENS_CACHE[key] = TokenDistribution.constant(key[1], key[2])
            else:
                _TOKENS_CACHE[key] = TokenDistribution.from_azure(key[1])
        return _TOKENS_CACHE[key]


def shared_intensity(spec: FacilitySpec) -> tuple[np.ndarray, np.ndarray]:
    """The common intensity path lambda(t) per replica for ``traffic_mode="shared"``.

    Parameters
    ----------
    spec : FacilitySpec
        Facility; uses ``scenario``, ``horizon_s`` and ``seed``.

    Returns
    -------
    edges_s : numpy.ndarray, shape (B + 1,)
        Bin edges [s] from 0 to ``horizon_s`` (bins of ``scenario.intensity_bin_s``, the
        last one possibly shorter).
    rate_rps : numpy.ndarray, shape (B,)
        Piecewise-constant per-replica rate [requests/s].  For ``azure``: the shipped
        trace's arrival count per bin (from its first request, repeating the trace when the
        horizon is longer), scaled by ``rate_per_replica_rps / trace mean rate``.
        Otherwise: a gamma Cox modulation (i.i.d. per bin, mean 1, CV ``scenario.cv``,
        drawn from the master seed) times ``rate_per_replica_rps`` and the profile shape
        (paper §3.4).  Its expectation is the per-replica rate (times the profile).
    """
    sc = spec.scenario
    width = sc.intensity_bin_s
    n_bins = int(math.ceil(spec.horizon_s / width - 1e-9))
    edges = np.minimum(np.arange(n_bins + 1) * width, spec.horizon_s)
    mids = 0.5 * (edges[:-1] + edges[1:])
    if sc.arrival == "azure":
        t, _, _, span = _azure(sc.azure_trace)
        laps = np.floor(edges / span)
        cum = laps * t.size + np.searchsorted(t, edges - laps * span, side="left")
        counts = np.diff(cum)
        rate = counts / np.diff(edges) * (sc.rate_per_replica_rps / _azure_rate(sc.azure_trace))
        return edges, rate
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(_SHARED_KEY,)))
    k = 1.0 / sc.cv**2
    mod = rng.gamma(shape=k, scale=1.0 / k, size=n_bins)
    return edges, sc.rate_per_replica_rps * _rate_shape(spec, mids) * mod


def _azure_replay_wrapped(spec: FacilitySpec, rate: float, rng: np.random.Generator) -> Any:
    """Azure replay at ``rate`` [req/s] from random offsets, thinned (real burst timing kept).

    The trace repeats with its span; ``ceil(rate / trace rate)`` copies, each from its own
    uniform random offset, are thinned independently with probability
    ``rate / (copies * trace rate)`` and superposed.
    """
    from traces.workload.schedule import RequestSchedule

    t, n_in, n_out, span = _azure(spec.scenario.azure_trace)
    horizon = spec.horizon_s
    own = _azure_rate(spec.scenario.azure_trace)
    copies = max(1, int(math.ceil(rate / own - 1e-12)))
    keep = rate / (copies * own)
    parts_t, parts_i = [], []
    for _ in range(copies):
        offset = rng.random() * span
        laps = int(math.ceil((offset + horizon) / span)) + 1
        rep = (t[None, :] + span * np.arange(laps)[:, None]).ravel() - offset
        idx = np.tile(np.arange(t.size), laps)
        sel = (rep >= 0) & (rep < horizon)
        sel &= rng.random(sel.size) < keep
        parts_t.append(rep[sel])
        parts_i.append(idx[sel])
    tt = np.concatenate(parts_t)
    ii = np.concatenate(parts_i)
    order = np.argsort(tt, kind="stable")
    return RequestSchedule(tt[order], n_in[ii[order]], n_out[ii[order]], spec.start, horizon)


def _independent_schedule(spec: FacilitySpec, rate_factor: float, rng: np.random.Generator) -> Any:
    """A replica's own (independent) stream at ``rate_factor`` x the per-replica rate."""
    from traces.workload.schedule import gamma_renewal, poisson, rate_function

    sc = spec.scenario
    rate = sc.rate_per_replica_rps * rate_factor
    horizon = spec.horizon_s
    if sc.arrival == "poisson" or (rate_factor == 0 and sc.arrival != "azure"):
        return poisson(rate, horizon, _tokens(sc), start=spec.start, rng=rng)
    if sc.arrival == "gamma":
        return gamma_renewal(rate, 1.0 / sc.cv**2, horizon, _tokens(sc), start=spec.start, rng=rng)
    if sc.arrival == "profile":
        edges = np.arange(0.0, horizon, sc.profile_interval_s)
        lam = pd.Series(rate * _rate_shape(spec, edges), index=edges)
        return rate_function(lam, horizon, _tokens(sc), start=spec.start, rng=rng)
    if rate_factor == 0:
        return poisson(0.0, horizon, _tokens(sc), start=spec.start, rng=rng)
    return _azure_replay_wrapped(spec, rate, rng)


def replica_schedule(
    spec: FacilitySpec,
    rng: np.random.Generator,
    shared: tuple[np.ndarray, np.ndarray] | None = None,
) -> Any:
    """Request schedule of one replica (paper §3.1, §3.4).

    Parameters
    ----------
    spec : FacilitySpec
        Facility (traffic scenario, mode, correlation, horizon, start).
    rng : numpy.random.Generator
        The replica's own schedule generator.
    shared : (edges_s, rate_rps), optional
        The common intensity from :func:`shared_intensity`; required in ``shared`` mode.

    Returns
    -------
    traces.schedule.RequestSchedule
        Arrivals in [0, horizon_s) [s] with token lengths; ``start = spec.start``.

    Notes
    -----
    ``independent``: the scenario's own process (``traces.schedule.poisson``,
    ``gamma_renewal``, ``rate_function`` for a profile, or a randomly offset, thinned
    Azure replay) at the full per-replica rate.  ``shared``: superposition of an
    independent Poisson thinning of the common path lambda(t) at ``correlation`` x the
    rate (``traces.schedule.rate_function`` on the piecewise-constant path) and an
    independent stream of the scenario's own process at ``1 - correlation`` x the rate.
    """
    from traces.workload.schedule import RequestSchedule, rate_function

    rho = spec.correlation if spec.traffic_mode == "shared" else 0.0
    own = _independent_schedule(spec, 1.0 - rho, rng)
    if rho == 0.0:
        return own
    if shared is None:
        raise ValueError("replica_schedule: shared traffic needs the shared_intensity() path")
    edges, rate = shared
    lam = pd.Series(rho * rate, index=edges[:-1])
    common = rate_function(
        lam,
        spec.horizon_s,
        _tokens(spec.scenario, for_azure_shared=spec.scenario.arrival == "azure"),
        start=spec.start,
        rng=rng,
    )
    return RequestSchedule.superpose([own, common])


# --------------------------------------------------------------------------------------
# Generators (model / baselines), cached per process
# --------------------------------------------------------------------------------------

_GEN_LOCK = threading.Lock()
_CONFIG_CACHE: dict[str, Any] = {}
_GEN_CACHE: dict[tuple[str, str], Any] = {}


def _load_config(config_id: str) -> Any:
    with _GEN_LOCK:
        if config_id not in _CONFIG_CACHE:
            from traces.model.registry import available_ids, load_configuration

            try:
                _CONFIG_CACHE[config_id] = load_configuration(config_id)
            except (KeyError, FileNotFoundError, ValueError) as exc:
                known = ", ".join(available_ids()) or "(none shipped)"
                raise FacilityConfigError(
                    f"assignment: unknown configuration {config_id!r}; shipped "
                    f"configurations are: {known}"
                ) from exc
        return _CONFIG_CACHE[config_id]


def _config_tp(cfg: Any, config_id: str) -> int:
    tp = getattr(cfg, "tp", None)
    if tp is None:
        tail = config_id.rsplit("_tp", 1)
        tp = int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else 1
    return int(tp)


def _generator(config_id: str, method: str) -> Any:
    """The power generator for a configuration and method (cached per process).

    ``"model"`` is the fitted configuration itself.  Baselines are rebuilt from the
    statistics stored with the configuration (``provenance["baseline_stats"]``, fitted on
    the configuration's own training data, :func:`traces.baselines.baseline_stats`); the
    TDP baseline falls back to the configuration's ``tdp_w``.
    """
    cfg = _load_config(config_id)
    if method == "model":
        return cfg
    key = (config_id, method)
    with _GEN_LOCK:
        if key not in _GEN_CACHE:
            from traces.model.baselines import TDPBaseline, baselines_from_stats

            prov = getattr(cfg, "provenance", None) or {}
            stats = prov.get("baseline_stats") if isinstance(prov, Mapping) else None
            if stats:
                _GEN_CACHE[key] = baselines_from_stats(stats)[method]
            elif method == "tdp" and getattr(cfg, "tdp_w", None):
                _GEN_CACHE[key] = TDPBaseline(float(cfg.tdp_w)).fit()
            else:
                raise FacilityConfigError(
                    f"method={method!r}: configuration {config_id!r} carries no baseline "
                    "statistics (provenance['baseline_stats']); refit it with baseline stats "
                    "or use method='model'/'tdp'"
                )
        return _GEN_CACHE[key]


def validate_configurations(spec: FacilitySpec) -> dict[str, int]:
    """Load every assigned configuration and check GPUs per server against its TP.

    Returns
    -------
    dict
        ``config_id -> replicas per server``.

    Raises
    ------
    FacilityConfigError
        Unknown configuration id, or ``gpus_per_server`` not a multiple of the TP.
    """
    out: dict[str, int] = {}
    for cid in dict.fromkeys(spec.server_configs()):
        tp = _config_tp(_load_config(cid), cid)
        if spec.gpus_per_server % tp:
            raise FacilityConfigError(
                f"gpus_per_server={spec.gpus_per_server} is not a multiple of the tensor-parallel "
                f"degree TP={tp} of {cid!r}; use a multiple of {tp}"
            )
        out[cid] = spec.gpus_per_server // tp
    return out


# --------------------------------------------------------------------------------------
# One rack (the chunk)
# --------------------------------------------------------------------------------------


@dataclass
class RackChunk:
    """GPU power of one rack (the unit of work and of memory).

    Attributes
    ----------
    rack : int
        Rack index (row-major).
    gpu_w : numpy.ndarray, shape (T,)
        Rack GPU power, summed over its servers and their replicas [W].
    server_gpu_w : numpy.ndarray, shape (servers_per_rack, T) or None
        Per-server GPU power [W] (only with ``keep_servers``).
    arrivals : numpy.ndarray, shape (n_res,)
        Requests arriving in the rack per output interval (counts).
    methods : dict
        For multi-method chunks: ``method -> gpu_w (T,)``.
    """

    rack: int
    gpu_w: np.ndarray
    server_gpu_w: np.ndarray | None
    arrivals: np.ndarray
    methods: dict[str, np.ndarray] = field(default_factory=dict)
    server_methods: dict[str, np.ndarray] = field(default_factory=dict)
    #: Out-of-envelope flags of the rack's schedules (traces.envelope.merge_flags keys).
    out_of_envelope: dict[str, Any] = field(default_factory=dict)


def _features(schedule: Any, cfg: Any, spec: FacilitySpec, rng: np.random.Generator) -> Any:
    from traces.model.configuration import needs_ledger
    from traces.workload.surrogate import features_for_schedule

    # the surrogate's extra columns (prefill tokens, decode rate, waiting) cost more than
    # A_t and dA_t; compute them only for configurations whose classifier reads them
    names = getattr(cfg, "feature_names", None)
    extra = names is None or any(n not in ("active", "delta_active") for n in names)
    if names is not None and needs_ledger(names):  # work-ledger features (issue 16)
        from traces.ledger import simulate_work

        return simulate_work(
            schedule, cfg.latency, max_batch=spec.max_batch, rng=rng, duration_s=spec.horizon_s
        )
    return features_for_schedule(
        schedule, cfg.latency, max_batch=spec.max_batch, rng=rng, duration_s=spec.horizon_s,
        extra=extra,
    )  # fmt: skip


#: Default size of a chunk of work: replica-steps generated together (2^23, e.g. 6 racks of
#: 4 servers for 24 h).  The compiled BiGRU kernel runs 4 sequences at a time, so its speed
#: per replica-step does not grow with the batch beyond a few blocks per thread; the chunk
#: bounds memory (features, logits and power of one chunk, ~60-90 bytes per replica-step).
#: Measured on the 240-server day (benchmarks/bench_facility.py, 2 cores): 2^25 32 s and
#: 2.3 GB peak, 2^24 31 s and 1.6 GB, 2^23 30 s and 1.1 GB, 2^22 37 s and 1.0 GB.
CHUNK_STEPS: int = 2**23

#: Sequences of at most this many steps (72 h at 250 ms) go through the BiGRU whole:
#: exact bidirectional inference, every replica of a chunk in one batch.  Longer ones
#: are cut into windows of :data:`LONG_WINDOW` steps with the configuration's
#: ``inference_overlap`` of context on each side (window edges change the state
#: probabilities by < 5e-4).  The choice (:func:`_whole_sequences`) depends only on the
#: spec, so a rack's result never depends on how racks are grouped.
WHOLE_SEQUENCE_MAX_STEPS: int = 2**20

#: Whole-sequence inference also needs at least this many replicas of a configuration in
#: the facility (a batch of a few whole sequences runs at a fraction of the kernel's
#: speed; windows of one long sequence batch well).
WHOLE_SEQUENCE_MIN_REPLICAS: int = 32

#: Core length [steps] of the inference windows for longer sequences.
LONG_WINDOW: int = 32768

#: Most BiGRU windows per inference batch for long sequences (``generate_many(
#: batch_windows=...)``); a chunk's windows are split into equal batches of at most this.
BATCH_WINDOWS: int = 512


def _batch_windows(n_seq: int, T: int, window: int = LONG_WINDOW) -> int:
    """Equal batches of at most :data:`BATCH_WINDOWS` for ``n_seq`` sequences of ``T`` steps
    (no small trailing batch: a batch's per-step cost is partly fixed)."""
    n_w = max(1, n_seq * -(-T // window))
    n_b = -(-n_w // BATCH_WINDOWS)
    return max(1, -(-n_w // n_b))


def _whole_sequences(spec: FacilitySpec, config_id: str) -> bool:
    """Whether ``config_id``'s replicas run the BiGRU whole (a function of the spec only,
    so results never depend on how racks are grouped or on the workers)."""
    if spec.n_steps > WHOLE_SEQUENCE_MAX_STEPS:
        return False
    reps = validate_configurations(spec)[config_id]
    n_servers = sum(1 for c in spec.server_configs() if c == config_id)
    return n_servers * reps >= WHOLE_SEQUENCE_MIN_REPLICAS


def _generate(
    gen: Any, feats: list[Any], rngs: list[np.random.Generator], T: int, *, whole: bool = False
) -> list[np.ndarray]:
    """Generate power for many replicas, batched when the generator supports it.

    ``whole``: every sequence whole, all replicas in one batch (exact); otherwise windows
    of :data:`LONG_WINDOW` with the configuration's overlap.
    """
    import torch

    window = None if whole else LONG_WINDOW
    with torch.inference_mode():
        if hasattr(gen, "generate_many"):
            batch = len(feats) if whole else _batch_windows(len(feats), T)
            try:
                outs = list(gen.generate_many(feats, rngs, window=window, batch_windows=batch))
            except TypeError:  # a generate_many without window/batch_windows
                outs = list(gen.generate_many(feats, rngs))
        else:
            outs = [gen.generate_from_features(f, rng=r) for f, r in zip(feats, rngs, strict=True)]
    res = []
    for o in outs:
        a = np.asarray(o, dtype=np.float64)
        if a.shape != (T,):
            raise ValueError(f"generator returned shape {a.shape}, expected ({T},)")
        res.append(a)
    return res


def simulate_racks(
    spec: FacilitySpec,
    racks: Sequence[int],
    *,
    methods: Sequence[str] = ("model",),
    keep_servers: bool = False,
    shared: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[RackChunk]:
    """Generate a group of racks: schedules, surrogate features and power of every replica.

    All replicas of the group that run one configuration go through one batched
    ``generate_many`` call.  Features (A_t, dA_t) are computed once per replica and
    shared by all ``methods``, so the model and the baselines see identical traffic.
    Each replica's randomness comes only from its server's seed sequence, so the result
    of a rack does not depend on which racks it is grouped with.

    Parameters
    ----------
    spec : FacilitySpec
        Facility.
    racks : sequence of int
        Rack indices in ``[0, n_racks)`` (row-major).
    methods : sequence of str
        Any of :data:`METHODS`; the first is returned in ``gpu_w``.
    keep_servers : bool
        Keep per-server series.
    shared : (edges_s, rate_rps), optional
        Precomputed :func:`shared_intensity` (computed here when needed and absent).

    Returns
    -------
    list of RackChunk
        One per rack, in the order of ``racks``.
    """
    methods = tuple(methods)
    for m in methods:
        if m not in METHODS:
            raise FacilityConfigError(f"method must be one of {METHODS}, got {m!r}")
    for rack in racks:
        if not 0 <= rack < spec.n_racks:
            raise ValueError(f"rack index {rack} outside [0, {spec.n_racks})")
    if spec.traffic_mode == "shared" and shared is None:
        shared = shared_intensity(spec)
    T = spec.n_steps
    spr = spec.servers_per_rack
    configs = spec.server_configs()
    n_res = int(round(spec.horizon_s / spec.resolution_s))
    arrivals = np.zeros((len(racks), n_res), dtype=np.int64)
    # per configuration: (row in the group's server matrix, features, power seed sequence)
    jobs: dict[str, list[tuple[int, Any, np.random.SeedSequence]]] = {}
    flags: list[dict[str, Any]] = [{} for _ in racks]
    for g, rack in enumerate(racks):
        for slot in range(spr):
            s = rack * spr + slot
            cid = configs[s]
            cfg = _load_config(cid)
            n_rep = spec.gpus_per_server // _config_tp(cfg, cid)
            for r_sched, r_surr, r_pow in _replica_streams(spec.seed, s, n_rep):
                sched = replica_schedule(spec, r_sched, shared)
                k = np.minimum(
                    (np.asarray(sched.arrival_s) // spec.resolution_s).astype(int), n_res - 1
                )
                arrivals[g] += np.bincount(k, minlength=n_res)
                feats = _features(sched, cfg, spec, r_surr)
                jobs.setdefault(cid, []).append((g * spr + slot, feats, r_pow))
                # out-of-envelope flags (issue 16): logged once per facility in assemble()
                envelope = (getattr(cfg, "provenance", None) or {}).get("envelope")
                merge_flags(flags[g], check_envelope(envelope, sched, feats, config_id=cid))
    whole = {cid: _whole_sequences(spec, cid) for cid in jobs}  # once, not per method
    per_method: dict[str, np.ndarray] = {}
    for m in methods:
        servers = np.zeros((len(racks) * spr, T), dtype=np.float64)
        for cid, items in jobs.items():
            gen = _generator(cid, m)
            rngs = [_power_rng(seq, m) for _, _, seq in items]
            powers = _generate(gen, [f for _, f, _ in items], rngs, T, whole=whole[cid])
            for (row, _, _), p in zip(items, powers, strict=True):
                servers[row] += p
        per_method[m] = servers.reshape(len(racks), spr, T)
    first = methods[0]
    out = []
    for g, rack in enumerate(racks):
        sums = {m: v[g].sum(axis=0) for m, v in per_method.items()}
        srv = {m: v[g].copy() for m, v in per_method.items()} if keep_servers else {}
        out.append(
            RackChunk(
                rack=int(rack),
                gpu_w=sums[first],
                server_gpu_w=srv.get(first),
                arrivals=arrivals[g],
                methods=sums,
                server_methods=srv,
                out_of_envelope=flags[g],
            )
        )
    return out


def simulate_rack(
    spec: FacilitySpec,
    rack: int,
    *,
    methods: Sequence[str] = ("model",),
    keep_servers: bool = False,
    shared: tuple[np.ndarray, np.ndarray] | None = None,
) -> RackChunk:
    """One rack (see :func:`simulate_racks`)."""
    (chunk,) = simulate_racks(
        spec, [rack], methods=methods, keep_servers=keep_servers, shared=shared
    )
    return chunk


def rack_groups(
    spec: FacilitySpec,
    racks: Sequence[int],
    *,
    chunk_steps: int = CHUNK_STEPS,
    n_parallel: int = 1,
) -> list[list[int]]:
    """Split racks into consecutive groups of at most about ``chunk_steps`` replica-steps.

    A group holds at least one rack; groups are as equal in size as possible and, for
    ``n_parallel`` workers, their number is a multiple of ``n_parallel`` when there are
    enough racks (so that workers finish together).  Results never depend on the
    grouping: a rack's power depends only on the spec and its index.
    """
    reps = validate_configurations(spec)
    per_rack = spec.servers_per_rack * max(reps.values())
    racks = list(racks)
    if not racks:
        return []
    most = max(1, int(chunk_steps // max(1, per_rack * spec.n_steps)))
    n_groups = -(-len(racks) // most)
    if n_parallel > 1:
        n_groups = min(len(racks), -(-n_groups // n_parallel) * n_parallel)
    return [list(map(int, g)) for g in np.array_split(np.asarray(racks), n_groups)]


# --------------------------------------------------------------------------------------
# Running racks serially or on dask
# --------------------------------------------------------------------------------------


def _make_client(workers: int | None, scheduler: Any) -> tuple[Any, Any]:
    """A dask.distributed Client (and the cluster we own, or None)."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        if isinstance(scheduler, Client):
            return scheduler, None
        return Client(scheduler), None
    assert workers is not None
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise FacilityConfigError(f"workers must be an integer >= 1, got {workers!r}")
    import dask

    # dask's nannies set MALLOC_TRIM_THRESHOLD_=65536 in their workers by default, which
    # also switches off glibc's dynamic mmap threshold: every large temporary array is
    # then mapped and unmapped afresh, and the page faults (kernel time) made a
    # 2-worker hall-day slower than the serial run (benchmarks/bench_facility.py).
    # Our workers hold one chunk at a time and free it, so glibc's defaults are kept.
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
    return Client(cluster), cluster


def _group_task(
    spec: FacilitySpec,
    racks: list[int],
    methods: tuple[str, ...],
    keep_servers: bool,
    shared: Any,
) -> list[RackChunk]:
    import multiprocessing

    if multiprocessing.current_process().name != "MainProcess":
        import torch

        torch.set_num_threads(1)  # one single-threaded worker process per core
    return simulate_racks(spec, racks, methods=methods, keep_servers=keep_servers, shared=shared)


def iter_racks(
    spec: FacilitySpec,
    *,
    methods: Sequence[str] = ("model",),
    racks: Sequence[int] | None = None,
    keep_servers: bool = False,
    workers: int | None = None,
    scheduler: Any = None,
    progress: bool = True,
    chunk_steps: int = CHUNK_STEPS,
) -> Iterator[RackChunk]:
    """Generate racks chunk by chunk, serially or on a dask cluster.

    Racks are grouped by :func:`rack_groups`; each group is one task.  Chunks are yielded
    as groups complete (in rack order serially, in any order on dask).  A rack's power
    depends only on the spec and its index, never on grouping, order or workers.

    Parameters
    ----------
    spec : FacilitySpec
    methods : sequence of str
        Methods evaluated on the same features.
    racks : sequence of int, optional
        Which racks (default all).
    keep_servers, workers, scheduler, progress
        See :func:`simulate_facility`.
    chunk_steps : int
        Replica-steps per group (memory/speed trade-off).
    """
    from tqdm.auto import tqdm

    methods = tuple(methods)
    rack_ids = list(range(spec.n_racks)) if racks is None else [int(r) for r in racks]
    groups = rack_groups(spec, rack_ids, chunk_steps=chunk_steps)
    shared = shared_intensity(spec) if spec.traffic_mode == "shared" else None
    bar = tqdm(
        total=len(rack_ids) * spec.servers_per_rack,
        unit="server",
        desc="servers",
        disable=not progress,
    )
    try:
        if workers is None and scheduler is None:
            for grp in groups:
                chunks = simulate_racks(
                    spec, grp, methods=methods, keep_servers=keep_servers, shared=shared
                )
                bar.update(len(grp) * spec.servers_per_rack)
                yield from chunks
            return
        from distributed import as_completed

        client, cluster = _make_client(workers, scheduler)
        try:
            # a multiple of the worker threads in equal groups, so the workers finish together
            n_par = max(1, sum(client.nthreads().values()))
            groups = rack_groups(spec, rack_ids, chunk_steps=chunk_steps, n_parallel=n_par)
            # spec and the shared path are small: sent with each task, never scattered
            futures = [
                client.submit(
                    _group_task,
                    spec,
                    grp,
                    methods,
                    keep_servers,
                    shared,
                    pure=False,
                )
                for grp in groups
            ]
            for fut in as_completed(futures):
                chunks = fut.result()
                fut.release()
                bar.update(len(chunks) * spec.servers_per_rack)
                yield from chunks
        finally:
            if cluster is not None:
                client.close()
                cluster.close()
    finally:
        bar.close()


# --------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------


def resample_energy_mean(series: pd.Series | pd.DataFrame, freq: str) -> Any:
    """Energy-preserving resampling of a regular series to a coarser interval.

    Each output value is the mean power over its interval, so ``sum(out) * freq`` equals
    ``sum(series) * 250 ms``; uses :func:`gridlink.resample.resample_energy` when
    available.

    Parameters
    ----------
    series : pandas.Series or DataFrame
        Power on a regular UTC grid, length a multiple of the new interval.
    freq : str
        Pandas offset alias, not finer than the input step.

    Raises
    ------
    ValueError
        Interval finer than the input, or not a whole number of input steps / partial bins.
    """
    idx = series.index
    step = (idx[1] - idx[0]).total_seconds() if len(idx) > 1 else DT_S
    new = pd.Timedelta(pd.tseries.frequencies.to_offset(freq)).total_seconds()
    if new < step - 1e-12 or not _is_multiple(new, step):
        raise ValueError(f"resample: {freq!r} must be a whole multiple of the {step} s input step")
    k = int(round(new / step))
    if len(idx) % k:
        raise ValueError(
            f"resample: {len(idx)} samples are not a whole number of {freq!r} intervals; "
            "choose a horizon that is a multiple of the interval"
        )
    if k == 1:
        return series.copy()
    vals = series.to_numpy(dtype=np.float64)
    shaped = vals.reshape((len(idx) // k, k) + vals.shape[1:])
    mean = shaped.mean(axis=1)
    new_idx = idx[::k]
    new_idx = pd.DatetimeIndex(new_idx, freq=pd.Timedelta(seconds=new), name=idx.name)
    if isinstance(series, pd.DataFrame):
        out: Any = pd.DataFrame(mean, index=new_idx, columns=series.columns)
    else:
        out = pd.Series(mean, index=new_idx, name=series.name)
    out.attrs = dict(series.attrs)
    return out


@dataclass
class FacilityResult:
    """Facility power at every level of the hierarchy (paper §3.4, Eqs 10-11).

    All series share a tz-aware UTC ``DatetimeIndex`` on the 250 ms grid (T,) except
    ``pcc_mw`` and ``arrival_rate_rps`` (at ``spec.resolution``).

    Attributes
    ----------
    spec : FacilitySpec
    method : str
        ``"model"``, ``"tdp"``, ``"mean"`` or ``"lut"``.
    rack_it_kw : pandas.DataFrame, shape (T, n_racks)
        Rack IT power (GPU + base) [kW]; columns MultiIndex (row, rack).
    row_it_kw : pandas.DataFrame, shape (T, rows)
        Row IT power [kW].
    site_gpu_kw : pandas.Series, shape (T,)
        Site GPU power [kW].
    site_it_kw : pandas.Series, shape (T,)
        Site IT power, GPU + base (Eq 10) [kW].
    pcc_mw_250ms : pandas.Series, shape (T,)
        PCC load = PUE x site IT (Eq 11) [MW], named ``p_mw``.
    arrival_rate_rps : pandas.Series
        Facility arrivals per second in each output interval [requests/s].
    server_it_kw : pandas.DataFrame or None, shape (T, N_servers)
        Per-server IT power [kW] (``keep_servers=True`` only); columns MultiIndex
        (row, rack, server).
    server_configs : list of str
        Configuration id per server.
    replicas_per_server : dict
        ``config_id -> replicas``.
    """

    spec: FacilitySpec
    method: str
    rack_it_kw: pd.DataFrame
    row_it_kw: pd.DataFrame
    site_gpu_kw: pd.Series
    site_it_kw: pd.Series
    pcc_mw_250ms: pd.Series
    arrival_rate_rps: pd.Series
    server_it_kw: pd.DataFrame | None
    server_configs: list[str]
    replicas_per_server: dict[str, int]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def out_of_envelope(self) -> bool:
        """True when a schedule's prompt lengths, context or concurrency lay beyond a
        configuration's fitted range (details: ``metadata["out_of_envelope"]``)."""
        return bool(self.metadata.get("out_of_envelope"))

    @property
    def pcc_mw(self) -> pd.Series:
        """PCC load at ``spec.resolution`` [MW] (energy-preserving mean), named ``p_mw``."""
        return self.pcc(self.spec.resolution)

    def pcc(self, freq: str) -> pd.Series:
        """PCC load resampled to ``freq`` by energy-preserving averaging [MW], ``p_mw``."""
        return _resample(self.pcc_mw_250ms, freq)

    def resample(self, freq: str) -> FacilityResult:
        """All series of the result at a coarser interval (energy preserved)."""
        return replace(
            self,
            rack_it_kw=_resample(self.rack_it_kw, freq),
            row_it_kw=_resample(self.row_it_kw, freq),
            site_gpu_kw=_resample(self.site_gpu_kw, freq),
            site_it_kw=_resample(self.site_it_kw, freq),
            pcc_mw_250ms=_resample(self.pcc_mw_250ms, freq),
            server_it_kw=None if self.server_it_kw is None else _resample(self.server_it_kw, freq),
        )

    def energy_mwh(self) -> float:
        """PCC energy over the horizon [MWh]."""
        return float(self.pcc_mw_250ms.sum() * DT_S / 3600.0)

    def to_xarray(self) -> Any:
        """An ``xarray.Dataset`` with ``rack_it_kw (time, rack)``, ``row_it_kw (time, row)``,
        ``site_it_kw (time)``, ``pcc_mw (time)``; units in ``attrs``."""
        import xarray as xr

        time = self.site_it_kw.index.tz_convert("UTC").tz_localize(None)
        rack_row = [r for r, _ in self.rack_it_kw.columns]
        rack_pos = [k for _, k in self.rack_it_kw.columns]
        ds = xr.Dataset(
            {
                "rack_it_kw": (("time", "rack"), self.rack_it_kw.to_numpy(), {"units": "kW"}),
                "row_it_kw": (("time", "row"), self.row_it_kw.to_numpy(), {"units": "kW"}),
                "site_gpu_kw": ("time", self.site_gpu_kw.to_numpy(), {"units": "kW"}),
                "site_it_kw": ("time", self.site_it_kw.to_numpy(), {"units": "kW"}),
                "pcc_mw": ("time", self.pcc_mw_250ms.to_numpy(), {"units": "MW"}),
            },
            coords={
                "time": ("time", time, {"timezone": "UTC"}),
                "rack": np.arange(self.rack_it_kw.shape[1]),
                "rack_row": ("rack", np.asarray(rack_row)),
                "rack_in_row": ("rack", np.asarray(rack_pos)),
                "row": np.arange(self.row_it_kw.shape[1]),
            },
            attrs={
                "method": self.method,
                "pue": self.spec.pue,
                "source": "gridlink traces.facility",
            },
        )
        return ds

    def write(
        self, out_dir: str | Path, *, csv: bool = False, meta: Mapping[str, Any] | None = None
    ) -> dict[str, Path]:
        """Write the result: Parquet (and CSV on request) plus ``summary.json``.

        Files: ``pcc_mw.parquet`` (PCC at ``spec.resolution``, column ``p_mw`` [MW]),
        ``pcc_mw_250ms.parquet``, ``site_kw.parquet`` (site GPU and IT power at the
        resolution [kW]), ``racks_kw.parquet`` / ``rows_kw.parquet`` (IT power at the
        resolution [kW], columns ``r<row>_k<rack>`` / ``row<row>``), ``servers_kw.parquet``
        when per-server series were kept, ``arrivals.parquet``, and ``summary.json``
        (spec, peak/mean/energy, provenance and attribution).

        Returns
        -------
        dict
            Name -> path of each file written.
        """
        import json

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        freq = self.spec.resolution
        racks = _resample(self.rack_it_kw, freq)
        racks.columns = [f"r{r:02d}_k{k:02d}_kw" for r, k in racks.columns]
        rows = _resample(self.row_it_kw, freq)
        rows.columns = [f"row{r:02d}_kw" for r in rows.columns]
        tables: dict[str, pd.DataFrame] = {
            "pcc_mw": self.pcc_mw.to_frame("p_mw"),
            "pcc_mw_250ms": self.pcc_mw_250ms.to_frame("p_mw"),
            "site_kw": pd.DataFrame(
                {
                    "site_gpu_kw": _resample(self.site_gpu_kw, freq),
                    "site_it_kw": _resample(self.site_it_kw, freq),
                }
            ),
            "racks_kw": racks,
            "rows_kw": rows,
            "arrivals": self.arrival_rate_rps.to_frame("arrival_rate_rps"),
        }
        if self.server_it_kw is not None:
            srv = _resample(self.server_it_kw, freq)
            srv.columns = [f"r{r:02d}_k{k:02d}_s{s:02d}_kw" for r, k, s in srv.columns]
            tables["servers_kw"] = srv
        files: dict[str, Path] = {}
        for name, df in tables.items():
            df = df.copy()
            df.attrs = {}
            files[name] = out / f"{name}.parquet"
            df.to_parquet(files[name])
            if csv:
                files[f"{name}_csv"] = out / f"{name}.csv"
                df.to_csv(files[f"{name}_csv"])
        p = self.pcc_mw
        summary = {
            "method": self.method,
            "n_servers": self.spec.n_servers,
            "replicas_per_server": self.replicas_per_server,
            "peak_mw": float(self.pcc_mw_250ms.max()),
            "peak_mw_at_resolution": float(p.max()),
            "mean_mw": float(p.mean()),
            "energy_mwh": self.energy_mwh(),
            "resolution": freq,
            "units": {"p_mw": "MW", "*_kw": "kW", "arrival_rate_rps": "requests/s"},
            "spec": self.spec.to_dict(),
            "metadata": {k: v for k, v in self.metadata.items() if k != "spec"},
            "meta": dict(meta or {}),
            "files": {k: str(v) for k, v in files.items()},
        }
        files["summary"] = out / "summary.json"
        files["summary"].write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
        return files

    def levels_kw(self) -> dict[str, pd.DataFrame | pd.Series]:
        """Power at each level [kW]: server (if kept), rack, row, site (IT)."""
        out: dict[str, Any] = {}
        if self.server_it_kw is not None:
            out["server"] = self.server_it_kw
        out["rack"] = self.rack_it_kw
        out["row"] = self.row_it_kw
        out["site"] = self.site_it_kw
        return out


def _resample(obj: Any, freq: str) -> Any:
    try:
        from gridlink.resample import resample_energy
    except ImportError:  # pragma: no cover - until gridlink.resample lands
        return resample_energy_mean(obj, freq)
    if isinstance(obj, pd.DataFrame):
        return resample_energy_mean(obj, freq)
    out = resample_energy(obj, freq)
    out.name = obj.name
    out.attrs = dict(obj.attrs)
    return out


def _series(values: np.ndarray, index: pd.DatetimeIndex, name: str, unit: str) -> pd.Series:
    s = pd.Series(values, index=index, name=name)
    s.attrs["unit"] = unit
    return s


def assemble(
    spec: FacilitySpec,
    chunks: Mapping[int, RackChunk] | Iterator[RackChunk],
    *,
    method: str,
    keep_servers: bool = False,
    replicas: dict[str, int] | None = None,
) -> FacilityResult:
    """Aggregate rack chunks to racks, rows, site IT and PCC (Eqs 10-11).

    Streams: each chunk is folded into the rack matrix and dropped.
    """
    T = spec.n_steps
    index = spec.index()
    rack_gpu = np.zeros((spec.n_racks, T), dtype=np.float64)
    servers = np.zeros((spec.n_servers, T), dtype=np.float64) if keep_servers else None
    n_res = int(round(spec.horizon_s / spec.resolution_s))
    arrivals = np.zeros(n_res, dtype=np.int64)
    seen = np.zeros(spec.n_racks, dtype=bool)
    envelope_flags: dict[str, Any] = {}
    it = chunks.values() if isinstance(chunks, Mapping) else chunks
    for ch in it:
        merge_flags(envelope_flags, {f["quantity"]: f for f in ch.out_of_envelope.values()})
        gpu = ch.methods.get(method, ch.gpu_w)
        rack_gpu[ch.rack] = gpu
        seen[ch.rack] = True
        arrivals += ch.arrivals
        if servers is not None:
            sv = ch.server_methods.get(method, ch.server_gpu_w)
            assert sv is not None
            s0 = ch.rack * spec.servers_per_rack
            servers[s0 : s0 + spec.servers_per_rack] = sv
    if not seen.all():
        raise RuntimeError(f"racks missing from the result: {np.flatnonzero(~seen).tolist()}")
    base_kw = spec.it_base_kw_per_server
    rack_it = rack_gpu.T / 1e3 + base_kw * spec.servers_per_rack  # (T, n_racks) kW
    cols = pd.MultiIndex.from_tuples(
        [spec.rack_location(r) for r in range(spec.n_racks)], names=["row", "rack"]
    )
    rack_df = pd.DataFrame(rack_it, index=index, columns=cols)
    rack_df.attrs["unit"] = "kW"
    row_it = rack_it.reshape(T, spec.rows, spec.racks_per_row).sum(axis=2)
    row_df = pd.DataFrame(row_it, index=index, columns=pd.Index(range(spec.rows), name="row"))
    row_df.attrs["unit"] = "kW"
    site_it = row_it.sum(axis=1)
    site_gpu = rack_gpu.sum(axis=0) / 1e3
    pcc_mw = spec.pue * site_it / 1e3
    server_df = None
    if servers is not None:
        scols = pd.MultiIndex.from_tuples(
            [
                (*spec.rack_location(s // spec.servers_per_rack), s % spec.servers_per_rack)
                for s in range(spec.n_servers)
            ],
            names=["row", "rack", "server"],
        )
        server_df = pd.DataFrame(servers.T / 1e3 + base_kw, index=index, columns=scols)
        server_df.attrs["unit"] = "kW"
    res_idx = pd.date_range(
        spec.start, periods=n_res, freq=pd.Timedelta(seconds=spec.resolution_s), name="time"
    )
    meta: dict[str, Any] = {"spec": spec.to_dict(), "method": method}
    if envelope_flags:  # issue 16: the scenario lies outside a configuration's fit
        warn_envelope(envelope_flags)
        meta["out_of_envelope"] = envelope_flags
    if spec.scenario.arrival == "azure" or spec.scenario.tokens.startswith("azure"):
        meta["attribution"] = AZURE_ATTRIBUTION
    if spec.scenario.profile_label:
        meta["profile_label"] = spec.scenario.profile_label
    return FacilityResult(
        spec=spec,
        method=method,
        rack_it_kw=rack_df,
        row_it_kw=row_df,
        site_gpu_kw=_series(site_gpu, index, "site_gpu_kw", "kW"),
        site_it_kw=_series(site_it, index, "site_it_kw", "kW"),
        pcc_mw_250ms=_series(pcc_mw, index, "p_mw", "MW"),
        arrival_rate_rps=_series(arrivals / spec.resolution_s, res_idx, "arrival_rate_rps", "1/s"),
        server_it_kw=server_df,
        server_configs=spec.server_configs(),
        replicas_per_server=replicas or {},
        metadata=meta,
    )


def simulate_facility(
    spec: FacilitySpec,
    *,
    method: str = "model",
    workers: int | None = None,
    scheduler: Any = None,
    progress: bool = True,
    keep_servers: bool = False,
) -> FacilityResult:
    """Simulate a facility's power from servers to the PCC (paper §3.4, Eqs 10-11).

    Parameters
    ----------
    spec : FacilitySpec
        Topology, configurations, traffic, base IT power, PUE, horizon, seed, resolution.
    method : {"model", "tdp", "mean", "lut"}
        The fitted BiGRU model or one of the baselines (paper §4.2).
    workers : int, optional
        Run racks on a new ``dask.distributed.LocalCluster`` with this many single-threaded
        worker processes.
    scheduler : str or distributed.Client, optional
        Address of an existing dask scheduler (or a Client) to run racks on.
    progress : bool
        Show a tqdm progress bar of servers done.
    keep_servers : bool
        Keep per-server series (memory N_servers x T x 8 bytes).

    Returns
    -------
    FacilityResult
        Rack/row/site IT power at 250 ms [kW] and the PCC load [MW]; identical for the same
        spec whether run serially or on dask.

    Raises
    ------
    FacilityConfigError
        Unknown method or configuration, GPUs per server not a multiple of TP.
    """
    if method not in METHODS:
        raise FacilityConfigError(f"method must be one of {METHODS}, got {method!r}")
    replicas = validate_configurations(spec)
    logger.info(
        "simulating %d servers (%d racks) x %.0f s with method=%s, %s",
        spec.n_servers,
        spec.n_racks,
        spec.horizon_s,
        method,
        "serial" if workers is None and scheduler is None else "dask",
    )
    chunks = iter_racks(
        spec,
        methods=(method,),
        keep_servers=keep_servers,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
    )
    return assemble(spec, chunks, method=method, keep_servers=keep_servers, replicas=replicas)


def simulate_methods(
    spec: FacilitySpec,
    methods: Sequence[str] = METHODS,
    *,
    workers: int | None = None,
    scheduler: Any = None,
    progress: bool = True,
    keep_servers: bool = False,
) -> dict[str, FacilityResult]:
    """Simulate several methods on identical traffic (features computed once per replica).

    Parameters
    ----------
    spec : FacilitySpec
    methods : sequence of str
        Subset of :data:`METHODS`.
    workers, scheduler, progress, keep_servers
        As :func:`simulate_facility`.

    Returns
    -------
    dict
        ``method -> FacilityResult``; each equals ``simulate_facility(spec, method=m)``.
    """
    methods = tuple(methods)
    for m in methods:
        if m not in METHODS:
            raise FacilityConfigError(f"method must be one of {METHODS}, got {m!r}")
    replicas = validate_configurations(spec)
    collected: dict[int, RackChunk] = {}
    for ch in iter_racks(
        spec,
        methods=methods,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        keep_servers=keep_servers,
    ):
        collected[ch.rack] = ch
    return {
        m: assemble(spec, collected, method=m, keep_servers=keep_servers, replicas=replicas)
        for m in methods
    }
