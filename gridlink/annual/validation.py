"""The full path on chosen windows and the check of the fast path against it: a scenario
day as a :class:`traces.facility.FacilitySpec` (:func:`day_spec`), rendered at 250 ms
(:func:`render_day`), the fast path on the same spec (:func:`fast_facility`) and the
hourly comparison (:func:`compare_fast_full`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gridlink.annual.curves import ResponseCurve
from gridlink.annual.fast import _block, _fast_core
from gridlink.annual.scenario import DT_S, AnnualError, AnnualScenario, _utc
from gridlink.units import series_with_unit

if TYPE_CHECKING:  # typing only; imported where it runs
    from traces.facility import FacilityResult, FacilitySpec


def day_spec(
    scenario: AnnualScenario,
    day: str | pd.Timestamp,
    *,
    hours: float = 24.0,
    n_servers: int | None = None,
    resolution: str | None = None,
) -> FacilitySpec:
    """The :class:`traces.facility.FacilitySpec` that renders part of a scenario day.

    The day's deterministic offered load ``lambda(t)`` per bin becomes a ``profile``
    arrival scenario (bins of ``bin_s``); the shared modulation is the facility's own
    (:func:`traces.facility.shared_intensity`, gamma with CV ``cv`` per bin).

    Parameters
    ----------
    scenario : AnnualScenario
    day : str or pandas.Timestamp
        tz-aware start of the window (usually a UTC midnight) inside the scenario.
    hours : float, default 24
        Window length [h] (a whole number of bins).
    n_servers : int, optional
        Render a smaller hall with the phase's configuration mix (default: the
        phase's full fleet; a 10,000-server day at 250 ms is costly).
    resolution : str, optional
        Output resolution (default ``bin_s``).

    Raises
    ------
    AnnualError
        Window outside the scenario, or a fleet change inside the window.
    """
    from traces.facility import Assignment, FacilitySpec, WorkloadScenario

    sc = scenario
    start = _utc(day, name="day")
    end = start + pd.Timedelta(hours=hours)
    s_end = sc.start + pd.Timedelta(days=sc.days)
    if start < sc.start or end > s_end:
        raise AnnualError(
            f"day: window {start} to {end} is outside the scenario ({sc.start} to {s_end})"
        )
    n_bins = hours * 3600.0 / sc.bin_s
    if abs(n_bins - round(n_bins)) > 1e-9 or (start.value - pd.Timestamp(sc.start).value) % int(
        sc.bin_s * 1e9
    ):
        raise AnnualError(
            f"day/hours: the window must cover whole {sc.bin_s} s bins of the scenario"
        )
    idx = pd.date_range(start, periods=int(round(n_bins)), freq=pd.Timedelta(seconds=sc.bin_s))
    phases = np.unique(sc.phase_at(idx))
    if phases.size != 1:
        raise AnnualError(
            f"day: the fleet changes inside {start} to {end}; render a window within one phase"
        )
    phase = sc.fleet[int(phases[0])]
    lam = sc.rate_per_replica(idx + pd.Timedelta(seconds=sc.bin_s / 2))
    ids = [c for c, n in phase.servers.items() if n > 0]
    counts = np.array([phase.servers[c] for c in ids], dtype=float)
    total = int(counts.sum()) if n_servers is None else int(n_servers)
    per_rack = next(k for k in (8, 4, 2, 1) if total % k == 0)
    assignment: Any = ids[0] if len(ids) == 1 else Assignment(
        configs=tuple(ids), by="fraction", fractions=tuple(counts / counts.sum()))  # fmt: skip
    workload = WorkloadScenario(
        arrival="profile", rate_per_replica_rps=float(lam.mean()), cv=sc.cv,
        tokens=sc.tokens, n_in_fixed=sc.n_in_fixed, n_out_fixed=sc.n_out_fixed,
        profile=tuple(float(v) for v in lam), profile_interval_s=sc.bin_s,
        profile_label="gridlink.annual scenario day", intensity_bin_s=sc.bin_s,
    )  # fmt: skip
    day_seed = int(
        np.random.SeedSequence([sc.seed, int(start.value // 10**9)]).generate_state(1)[0]
    )
    return FacilitySpec(
        rows=1, racks_per_row=total // per_rack, servers_per_rack=per_rack,
        assignment=assignment, gpus_per_server=phase.gpus_per_server, scenario=workload,
        traffic_mode=sc.traffic_mode, correlation=sc.correlation,
        it_base_kw_per_server=sc.it_base_kw_per_server, pue=sc.pue, horizon_s=hours * 3600.0,
        seed=day_seed, resolution=resolution or f"{int(sc.bin_s)}s", start=start,
        max_batch=sc.max_batch,
    )  # fmt: skip


def render_day(
    scenario: AnnualScenario,
    day: str | pd.Timestamp,
    *,
    hours: float = 24.0,
    n_servers: int | None = None,
    resolution: str = "250ms",
    workers: int | None = None,
) -> FacilityResult:
    """Render a scenario window at 250 ms through the full path (the generator).

    :func:`traces.facility.simulate_facility` on :func:`day_spec`; returns its
    ``FacilityResult`` (``pcc_mw_250ms`` at 250 ms, ``pcc_mw`` at ``resolution``).
    Cost grows with servers x hours: a 10,000-server day is ~3.5e9 server-steps.
    """
    from traces.facility import simulate_facility

    spec = day_spec(scenario, day, hours=hours, n_servers=n_servers, resolution=resolution)
    return simulate_facility(spec, workers=workers, progress=False)


def fast_facility(
    spec: FacilitySpec,
    curves: Mapping[str, ResponseCurve],
    *,
    noise_seed: int | None = 0,
) -> tuple[pd.Series, pd.Series]:
    """The fast path on a :class:`traces.facility.FacilitySpec` (``profile``/``poisson`` arrivals).

    Uses the spec's own rate profile and, for shared traffic, its own intensity path
    (:func:`traces.facility.shared_intensity`), so it can be compared with
    :func:`traces.facility.simulate_facility` on the same spec.

    Returns
    -------
    p_mw : pandas.Series, shape (B,)
        PCC load per intensity bin [MW] (noise drawn unless ``noise_seed`` is None).
    sd_mw : pandas.Series, shape (B,)
        Standard deviation of the aggregate bin noise [MW].
    """
    from traces.facility import shared_intensity, validate_configurations

    sc = spec.scenario
    if sc.arrival not in ("profile", "poisson"):
        raise AnnualError(f"fast_facility: arrival {sc.arrival!r} not supported (profile, poisson)")
    bin_s = sc.intensity_bin_s
    n_bins = int(round(spec.horizon_s / bin_s))
    idx = pd.date_range(spec.start, periods=n_bins, freq=pd.Timedelta(seconds=bin_s))
    mids = (np.arange(n_bins) + 0.5) * bin_s
    if sc.arrival == "profile":
        prof = np.asarray(sc.profile, dtype=float)
        k = np.minimum((mids // sc.profile_interval_s).astype(int), len(prof) - 1)
        lam = sc.rate_per_replica_rps * prof[k] / prof.mean()
    else:
        lam = np.full(n_bins, sc.rate_per_replica_rps)
    mod = None
    if spec.traffic_mode == "shared":
        edges, shared = shared_intensity(spec)
        if len(shared) != n_bins:
            raise AnnualError("fast_facility: the horizon must be a whole number of intensity bins")
        # the facility's own gamma draws: shared = level x m_b
        mod = np.divide(shared, lam, out=np.ones_like(lam), where=lam > 0)
    reps_per_server = validate_configurations(spec)
    counts = pd.Series(spec.server_configs()).value_counts()
    replicas = {c: np.full(n_bins, float(counts[c] * reps_per_server[c])) for c in counts.index}
    rng = None if noise_seed is None else np.random.default_rng(noise_seed)
    pcc, sd = _fast_core(
        lam, mod, replicas, np.full(n_bins, float(spec.n_servers)), curves,
        it_base_kw_per_server=spec.it_base_kw_per_server, pue=spec.pue, noise_rng=rng,
    )  # fmt: skip
    return (
        series_with_unit(pd.Series(pcc, index=idx, name="p_mw"), "MW"),
        series_with_unit(pd.Series(sd, index=idx, name="sd_mw"), "MW"),
    )


def compare_fast_full(
    scenario: AnnualScenario,
    day: str | pd.Timestamp,
    curves: Mapping[str, ResponseCurve],
    *,
    hours: float = 24.0,
    n_servers: int | None = None,
    noise_seed: int = 0,
    workers: int | None = None,
    warmup_hours: float = 1.0,
) -> pd.DataFrame:
    """Hourly energy and hourly peak: fast path versus the full 250 ms path.

    Both run on the same :func:`day_spec` (same rate profile, same shared intensity
    path).  The peak is the highest ``bin_s`` (1-min) mean PCC load in each hour.
    The full path starts with empty queues, whereas the year it is compared with is
    continuous, so both paths are run from ``warmup_hours`` before ``day`` (when the
    scenario has them) and those hours are dropped.

    Returns
    -------
    pandas.DataFrame, shape (hours, 8)
        Index: hour start (UTC).  Columns ``energy_full_mwh``, ``energy_fast_mwh``,
        ``energy_rel_err`` (fast / full - 1), ``peak_full_mw``, ``peak_fast_mw``,
        ``peak_rel_err``, ``full_s`` and ``fast_s`` (wall time of each path [s],
        repeated on every row).
    """
    from traces.facility import simulate_facility

    start = _utc(day, name="day")
    warm = int(round(warmup_hours))
    if abs(warmup_hours - warm) > 1e-9 or warm < 0:
        raise AnnualError(f"warmup_hours={warmup_hours} must be a whole number >= 0")
    warm = min(warm, int((start - scenario.start) / pd.Timedelta(hours=1)))
    spec = day_spec(
        scenario, start - pd.Timedelta(hours=warm), hours=hours + warm, n_servers=n_servers
    )
    t0 = time.perf_counter()
    full = simulate_facility(spec, workers=workers, progress=False)
    full_s = time.perf_counter() - t0
    per_bin = int(round(scenario.bin_s / DT_S))
    full_bin = _block(full.pcc_mw_250ms.to_numpy(dtype=np.float64), per_bin, "mean")
    t1 = time.perf_counter()
    fast, _ = fast_facility(spec, curves, noise_seed=noise_seed)
    fast_s = time.perf_counter() - t1
    fast_bin = fast.to_numpy()
    per_hour = int(round(3600.0 / scenario.bin_s))
    hours_idx = pd.date_range(spec.start, periods=len(full_bin) // per_hour, freq="1h")
    out = pd.DataFrame(
        {
            "energy_full_mwh": _block(full_bin, per_hour, "mean"),
            "energy_fast_mwh": _block(fast_bin, per_hour, "mean"),
            "peak_full_mw": _block(full_bin, per_hour, "max"),
            "peak_fast_mw": _block(fast_bin, per_hour, "max"),
        },
        index=hours_idx,
    )
    out["energy_rel_err"] = out["energy_fast_mwh"] / out["energy_full_mwh"] - 1.0
    out["peak_rel_err"] = out["peak_fast_mw"] / out["peak_full_mw"] - 1.0
    out["full_s"] = full_s
    out["fast_s"] = fast_s
    out = out.iloc[warm:]
    out.attrs["servers"] = spec.n_servers
    out.attrs["warmup_hours"] = warm
    return out[
        ["energy_full_mwh", "energy_fast_mwh", "energy_rel_err", "peak_full_mw", "peak_fast_mw",
         "peak_rel_err", "full_s", "fast_s"]
    ]  # fmt: skip
