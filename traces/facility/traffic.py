"""Facility traffic: per-replica request schedules and seeds (paper §3.4).

Traffic across replicas is either ``independent`` (each replica draws its own arrival
process) or ``shared``: one common intensity path lambda(t) (the Azure trace's binned
arrival rate, or a gamma-modulated Cox intensity around the base rate / diurnal profile)
is thinned independently per replica, which makes the streams positively correlated.
``correlation`` in [0, 1] mixes the two.  Azure replays start at per-replica offsets;
:func:`_rate_shape` is the diurnal shape.

Randomness: every replica's generator is seeded from the master ``seed`` through
``numpy.random.SeedSequence(seed, spawn_key=(0, server_index))`` (:func:`server_seed`)
and its spawned children per replica, so the same seed gives the same facility whether
racks run serially or on a dask cluster, in any order.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from traces.facility.spec import METHODS, FacilitySpec, WorkloadScenario

if TYPE_CHECKING:  # pragma: no cover - typing only
    from traces.workload.schedule import RequestSchedule, TokenDistribution

logger = logging.getLogger(__name__)


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
            from traces.workload.azure import load_azure_trace

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


_TOKENS_CACHE: dict[tuple[Any, ...], TokenDistribution] = {}


def _tokens(sc: WorkloadScenario, *, for_azure_shared: bool = False) -> TokenDistribution:
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


def _azure_replay_wrapped(
    spec: FacilitySpec, rate: float, rng: np.random.Generator
) -> RequestSchedule:
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


def _independent_schedule(
    spec: FacilitySpec, rate_factor: float, rng: np.random.Generator
) -> RequestSchedule:
    """A replica's own (independent) stream at ``rate_factor`` x the per-replica rate."""
    from traces.workload.arrivals import gamma_renewal, poisson, rate_function

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
) -> RequestSchedule:
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
    traces.workload.schedule.RequestSchedule
        Arrivals in [0, horizon_s) [s] with token lengths; ``start = spec.start``.

    Notes
    -----
    ``independent``: the scenario's own process (``traces.workload.arrivals.poisson``,
    ``gamma_renewal``, ``rate_function`` for a profile, or a randomly offset, thinned
    Azure replay) at the full per-replica rate.  ``shared``: superposition of an
    independent Poisson thinning of the common path lambda(t) at ``correlation`` x the
    rate (``traces.workload.arrivals.rate_function`` on the piecewise-constant path) and an
    independent stream of the scenario's own process at ``1 - correlation`` x the rate.
    """
    from traces.workload.arrivals import rate_function
    from traces.workload.schedule import RequestSchedule

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
