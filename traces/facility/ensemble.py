"""Seed ensembles of a facility run: N independent draws of the same facility.

One seeded facility run (:func:`traces.facility.simulate_facility`) is one draw of the
load shape.  An ensemble runs the same :class:`~traces.facility.FacilitySpec` with
``N`` member seeds and keeps every member's PCC series at the output resolution, so
that the spread of the load shape (and of any statistic computed from it, see
:mod:`gridlink.studies.ensemble`) can be reported as P10/P50/P90 bands.

What a member varies
--------------------
Everything a facility draws comes from ``FacilitySpec.seed``: each replica's request
schedule (Poisson/gamma arrivals, token lengths, the random offset of an Azure replay),
the shared intensity path of ``traffic_mode="shared"``, the batching surrogate's
TTFT/TBT draws and the power-state sampling (paper Eqs 8-9).  A member therefore
varies traffic, surrogate and state sampling together.  What it does **not** vary is
the fitted configuration itself: no shipped configuration carries a fit-seed ensemble
(each file's ``provenance["seed"]`` is a single training seed, see
:mod:`traces.registry`), so the bands here do not include model-fit uncertainty.
``docs/fidelity.md`` reports the spread over fit seeds separately.

Seeds
-----
Member ``k`` of an ensemble with root seed ``r`` uses the integer seed

``seed_k = SeedSequence(r).spawn(N)[k].generate_state(1, dtype=uint64)[0]``

(:func:`member_seeds`).  ``SeedSequence.spawn`` gives the k-th child the spawn key
``(k,)`` whatever ``N`` is, so adding members never changes the first ones, and the
children are independent streams in NumPy's sense (the seed-sequence hash of the
root entropy and the spawn key).  ``FacilitySpec.seed`` takes an integer, so the
child's first 64-bit state word is used; the facility then derives every server's
stream from it through its own ``SeedSequence(seed_k, spawn_key=(0, server))``.  Two
members share streams only if two 64-bit words coincide (probability ~N^2 / 2^65).

Serial and dask runs give identical members bit for bit, because each member is an
ordinary :func:`~traces.facility.simulate_facility` call, which is itself identical
serially and on dask for a given seed.

References
----------
NumPy, "Parallel random number generation" (``numpy.random.SeedSequence.spawn``).
Wilkins, Kazhamiaka & Rajagopal (2026), §3.4 (facility aggregation), Eqs 10-11.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from traces.facility.run import simulate_facility
from traces.facility.spec import METHODS, FacilityConfigError, FacilitySpec

__all__ = [
    "EnsembleError",
    "FacilityEnsemble",
    "member_seeds",
    "quantile_label",
    "pointwise_band",
    "simulate_facility_ensemble",
    "ENSEMBLE_SOURCES",
    "DEFAULT_QUANTILES",
    "check_quantiles",
]

logger = logging.getLogger(__name__)

#: What a facility ensemble member varies (see the module docstring).
ENSEMBLE_SOURCES: tuple[str, ...] = (
    "request schedules (arrivals, token lengths, replay offsets)",
    "shared intensity path (traffic_mode='shared')",
    "batching surrogate TTFT/TBT draws",
    "power-state sampling (Eqs 8-9)",
)

#: Default quantiles of a band: P10, P50 (median), P90.
DEFAULT_QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)


class EnsembleError(ValueError):
    """An ensemble request is invalid; the message names the argument and the fix."""


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise EnsembleError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def member_seeds(root_seed: int, n_members: int) -> list[int]:
    """Integer seeds of an ensemble's members, from independent ``SeedSequence`` children.

    Parameters
    ----------
    root_seed : int
        Root seed (>= 0) of the ensemble.
    n_members : int
        Number of members N (>= 1).

    Returns
    -------
    list of int, length N
        ``seed_k = SeedSequence(root_seed).spawn(N)[k].generate_state(1, uint64)[0]``.
        The first ``M`` seeds of an ensemble of ``N >= M`` members equal those of an
        ensemble of ``M`` members (the k-th child's spawn key is ``(k,)``).

    Raises
    ------
    EnsembleError
        ``root_seed`` negative or not an integer; ``n_members`` < 1.
    """
    if isinstance(root_seed, bool) or not isinstance(root_seed, (int, np.integer)) or root_seed < 0:
        raise EnsembleError(f"root_seed must be an integer >= 0, got {root_seed!r}")
    n = _count(n_members, "n_members")
    children = np.random.SeedSequence(int(root_seed)).spawn(n)
    return [int(c.generate_state(1, dtype=np.uint64)[0]) for c in children]


def quantile_label(q: float) -> str:
    """Column label of a quantile: 0.1 -> ``"p10"``, 0.5 -> ``"p50"``, 0.975 -> ``"p97.5"``."""
    pct = round(float(q) * 100.0, 6)
    return f"p{int(pct)}" if pct == int(pct) else f"p{pct:g}"


def check_quantiles(quantiles: Sequence[float]) -> tuple[float, ...]:
    """Validate quantiles (increasing, distinct, in [0, 1]); raises :class:`EnsembleError`."""
    qs = tuple(float(q) for q in quantiles)
    if not qs or any(not 0.0 <= q <= 1.0 for q in qs) or list(qs) != sorted(set(qs)):
        raise EnsembleError(
            f"quantiles must be increasing distinct values in [0, 1], got {tuple(quantiles)!r}"
        )
    return qs


def pointwise_band(
    members: pd.DataFrame, quantiles: Sequence[float] = DEFAULT_QUANTILES
) -> pd.DataFrame:
    """Quantiles over the members at each time step.

    Parameters
    ----------
    members : pandas.DataFrame, shape (T, N)
        One column per member, one row per time step.
    quantiles : sequence of float
        Increasing quantiles in [0, 1] (default P10, P50, P90).

    Returns
    -------
    pandas.DataFrame, shape (T, len(quantiles))
        Columns ``p10``, ``p50``, ``p90`` (:func:`quantile_label`), same index and
        ``attrs`` as ``members``.  ``numpy.quantile`` with its default (linear, "type 7")
        interpolation.  A pointwise band is not a trajectory: each member peaks at its
        own time, so the band's highest P90 is at most (and usually below) the P90 of
        the member peaks; reading a peak off the band understates it.  Compute
        statistics per member first (:func:`gridlink.studies.ensemble.statistics_band`).

    Raises
    ------
    EnsembleError
        Bad quantiles, no members, or NaN values.
    """
    qs = check_quantiles(quantiles)
    values = members.to_numpy(dtype=np.float64)
    if values.ndim != 2 or values.shape[1] < 1:
        raise EnsembleError("members: need a (T, N) frame with at least one member column")
    if np.isnan(values).any():
        raise EnsembleError("members: NaN values found; every member must cover every step")
    out = pd.DataFrame(
        np.quantile(values, qs, axis=1).T,
        index=members.index,
        columns=[quantile_label(q) for q in qs],
    )
    out.attrs = dict(members.attrs)
    return out


@dataclass(frozen=True)
class FacilityEnsemble:
    """N seeded runs of one facility (members differ only by their seed).

    Attributes
    ----------
    spec : FacilitySpec
        The facility (its own ``seed`` is replaced by each member's).
    method : str
        Generation method of every member (``"model"`` or a baseline).
    root_seed : int
        Root of :func:`member_seeds`.
    seeds : tuple of int, length N
        Member seeds.
    pcc_mw : pandas.DataFrame, shape (T_res, N)
        PCC load of each member at ``spec.resolution`` (energy-preserving means) [MW];
        UTC index, columns ``0..N-1`` named ``member``, ``attrs["unit"] == "MW"``.
    peak_mw_250ms : pandas.Series, shape (N,)
        Each member's highest 250 ms PCC load [MW].
    sources : tuple of str
        What the members vary (:data:`ENSEMBLE_SOURCES`).
    metadata : dict
        ``fit_seed_ensemble`` (False: no shipped configuration has one), timings.
    """

    spec: FacilitySpec
    method: str
    root_seed: int
    seeds: tuple[int, ...]
    pcc_mw: pd.DataFrame
    peak_mw_250ms: pd.Series
    sources: tuple[str, ...] = ENSEMBLE_SOURCES
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def n_members(self) -> int:
        """Number of members N."""
        return len(self.seeds)

    def member(self, k: int) -> pd.Series:
        """Member ``k``'s PCC series at the output resolution [MW], named ``p_mw``."""
        s = self.pcc_mw[k].rename("p_mw")
        s.attrs["unit"] = "MW"
        return s

    def member_spec(self, k: int) -> FacilitySpec:
        """The spec member ``k`` ran (``spec`` with ``seed = seeds[k]``)."""
        return replace(self.spec, seed=self.seeds[k])

    def band(self, quantiles: Sequence[float] = DEFAULT_QUANTILES) -> pd.DataFrame:
        """Pointwise P10/P50/P90 of the PCC series [MW] (:func:`pointwise_band`)."""
        return pointwise_band(self.pcc_mw, quantiles)


def simulate_facility_ensemble(
    spec: FacilitySpec,
    n_members: int,
    *,
    root_seed: int | None = None,
    method: str = "model",
    workers: int | None = None,
    scheduler: Any = None,
    progress: bool = False,
) -> FacilityEnsemble:
    """Run a facility with ``n_members`` independent seeds.

    Parameters
    ----------
    spec : FacilitySpec
        The facility; every member runs it with its own seed.
    n_members : int
        Number of members N (>= 1).
    root_seed : int, optional
        Root seed of :func:`member_seeds`; default ``spec.seed``.
    method : {"model", "tdp", "mean", "lut"}
        Generation method (baselines vary only through the traffic that they ignore).
    workers : int, optional
        Run each member's racks on one ``dask.distributed.LocalCluster`` of this many
        single-threaded worker processes, started once for the whole ensemble.
    scheduler : str or distributed.Client, optional
        An existing dask scheduler address or Client instead.
    progress : bool
        Progress bar of each member's servers.

    Returns
    -------
    FacilityEnsemble
        Members' PCC at ``spec.resolution``; identical serially and on dask.

    Raises
    ------
    EnsembleError
        Bad ``n_members`` or ``root_seed``, or both ``workers`` and ``scheduler`` given.
    traces.facility.FacilityConfigError
        Unknown method or configuration (as :func:`~traces.facility.simulate_facility`).
    """
    import time

    if method not in METHODS:
        raise FacilityConfigError(f"method must be one of {METHODS}, got {method!r}")
    root = spec.seed if root_seed is None else root_seed
    seeds = member_seeds(root, n_members)  # validates both
    if workers is not None and scheduler is not None:
        raise EnsembleError("give workers= (a new local cluster) or scheduler=, not both")
    client = cluster = None
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise EnsembleError(f"workers must be an integer >= 1, got {workers!r}")
        import dask
        from distributed import Client, LocalCluster

        # one cluster for all members; glibc's malloc defaults kept in the workers for the
        # reason given in traces.facility (dask's MALLOC_TRIM_THRESHOLD_ costs page faults)
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
        client = Client(cluster)
        scheduler = client
    t0 = time.perf_counter()
    columns: dict[int, np.ndarray] = {}
    peaks: list[float] = []
    index = None
    try:
        for k, seed in enumerate(seeds):
            res = simulate_facility(
                replace(spec, seed=seed), method=method, scheduler=scheduler, progress=progress
            )
            pcc = res.pcc_mw
            index = pcc.index
            columns[k] = pcc.to_numpy(dtype=np.float64)
            peaks.append(float(res.pcc_mw_250ms.max()))
            logger.info("ensemble member %d/%d (seed %d) done", k + 1, len(seeds), seed)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    elapsed = time.perf_counter() - t0
    frame = pd.DataFrame(columns, index=index)
    frame.columns.name = "member"
    frame.attrs["unit"] = "MW"
    peak = pd.Series(peaks, index=frame.columns, name="peak_mw_250ms")
    peak.attrs["unit"] = "MW"
    return FacilityEnsemble(
        spec=spec,
        method=method,
        root_seed=int(root),
        seeds=tuple(seeds),
        pcc_mw=frame,
        peak_mw_250ms=peak,
        metadata={
            "fit_seed_ensemble": False,
            "fit_seed_note": "no shipped configuration carries a fit-seed ensemble; "
            "the bands cover traffic, surrogate and state sampling only",
            "elapsed_s": elapsed,
            "execution": "serial" if scheduler is None else "dask",
        },
    )
