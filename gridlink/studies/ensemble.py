"""Uncertainty bands for planners: P10/P50/P90 of load shapes and of planner statistics.

Resource-adequacy and interconnection studies are probabilistic; one seeded trace hides
the spread.  This module turns seed ensembles into the numbers a planner reads:

* **facility runs** (:func:`traces.facility.ensemble.simulate_facility_ensemble`): the pointwise
  band of the PCC series at the output resolution, and the band of every planner
  statistic of :func:`gridlink.stats.load_statistics` (peak, load factor, max ramp per
  window, hours above a level, ...) computed **per member first** and then taken across
  members (:func:`statistics_band`);
* **annual scenarios** (:func:`annual_ensemble`, the fast path of
  :func:`gridlink.annual.annual_load`): the 8,760-hour band, the band of the
  load-duration curve (LDC) and the design demand exceeded for a given number of hours
  (e.g. 22, 44, 88 h per year) with its band (:meth:`AnnualEnsemble.design_demand`);
* plots: the band around the median profile and the LDC band.

Quantiles are ``numpy.quantile`` with its default linear interpolation ("type 7" of
Hyndman & Fan 1996).  With N members the P10/P90 of a statistic are estimates whose own
sampling error shrinks like ``1/sqrt(N)``; N = 10 resolves the P10-P90 range roughly,
not its third digit (``docs/uncertainty.md``).

Members of an annual ensemble vary the scenario seed (the shared modulation path and
the aggregate noise of the fast path, :func:`gridlink.annual.annual_load`); the response
curves are calibrated once and shared, unless ``recalibrate=True`` gives every member
curves calibrated with its own seed (the fast path's analogue of a fit-seed ensemble:
the calibration is a fit to simulated data).

References
----------
R. J. Hyndman and Y. Fan, "Sample quantiles in statistical packages", The American
Statistician 50(4), 1996.  NERC, *Probabilistic Assessment* technical guideline (load
uncertainty as distributions, not point forecasts).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pint

from gridlink.stats import load_statistics
from gridlink.studies.planning.plots import _fig, _save
from gridlink.units import series_with_unit
from traces.facility.ensemble import (
    DEFAULT_QUANTILES,
    EnsembleError,
    FacilityEnsemble,
    check_quantiles,
    member_seeds,
    pointwise_band,
    quantile_label,
)

__all__ = [
    "EnsembleError",
    "AnnualEnsemble",
    "annual_ensemble",
    "member_statistics",
    "statistics_band",
    "load_duration_curves",
    "design_demand",
    "plot_band",
    "plot_ldc_band",
    "pointwise_band",
    "DEFAULT_RAMP_WINDOWS",
]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- statistics
def _members(obj: FacilityEnsemble | AnnualEnsemble | pd.DataFrame) -> pd.DataFrame:
    if isinstance(obj, FacilityEnsemble | AnnualEnsemble):
        return obj.pcc_mw
    if isinstance(obj, pd.DataFrame):
        return obj
    raise EnsembleError(
        "members: expected a FacilityEnsemble, an AnnualEnsemble or a (T, N) DataFrame of "
        f"member profiles, got {type(obj).__name__}"
    )


def _member_series(frame: pd.DataFrame, col: Any) -> pd.Series:
    unit = frame.attrs.get("unit")
    if unit is None:
        raise EnsembleError(
            "members: the frame declares no unit; set frame.attrs['unit'] = 'MW' (or kW, W)"
        )
    return series_with_unit(frame[col].rename(f"member {col}"), str(unit))


#: Ramp windows tried when none are given: those at least one step long that the profile
#: covers at least twice (the step itself if none fits).
DEFAULT_RAMP_WINDOWS: tuple[str, ...] = ("1min", "15min", "1h", "4h")


def _default_windows(frame: pd.DataFrame) -> tuple[str | pd.Timedelta, ...]:
    _step_h(pd.DatetimeIndex(frame.index))  # checks a regular index of >= 2 steps
    step = pd.Timedelta(int(np.diff(pd.DatetimeIndex(frame.index).asi8[:2])[0]), "ns")
    span = step * len(frame)
    out: list[str | pd.Timedelta] = []
    for w in DEFAULT_RAMP_WINDOWS:
        td = pd.Timedelta(w)
        if td >= step and td.value % step.value == 0 and 2 * td <= span:
            out.append(w)
    return tuple(out) or (step,)


def member_statistics(
    members: FacilityEnsemble | AnnualEnsemble | pd.DataFrame,
    *,
    ramp_windows: Iterable[str | pd.Timedelta] | None = None,
    threshold: pint.Quantity | None = None,
) -> pd.DataFrame:
    """Planner statistics of every member (:func:`gridlink.stats.load_statistics`).

    Parameters
    ----------
    members : FacilityEnsemble, AnnualEnsemble or pandas.DataFrame, shape (T, N)
        Member profiles (a frame needs ``attrs["unit"]``, e.g. ``"MW"``).
    ramp_windows : iterable of str or pandas.Timedelta, optional
        Ramp windows (each at least the profile step; see ``load_statistics``).  Default:
        those of :data:`DEFAULT_RAMP_WINDOWS` (1 min, 15 min, 1 h, 4 h) that are whole
        multiples of the step and fit twice in the span, e.g. 1 min and 15 min for a
        1-min hall hour, 1 h and 4 h for an hourly year.
    threshold : pint.Quantity, optional
        Level for the ``hours_above_threshold_h`` / ``longest_run_above_threshold_h``
        columns.

    Returns
    -------
    pandas.DataFrame, shape (N, n_statistics)
        One row per member (index ``member``), the columns of ``load_statistics``;
        ``attrs["units"]`` maps columns to units.

    Raises
    ------
    EnsembleError
        Not an ensemble or frame, or a frame without a unit.
    gridlink.stats.StatsError, gridlink.units.UnitError
        As :func:`gridlink.stats.load_statistics`.
    """
    frame = _members(members)
    windows = _default_windows(frame) if ramp_windows is None else tuple(ramp_windows)
    profiles = {str(c): _member_series(frame, c) for c in frame.columns}
    table = load_statistics(profiles, ramp_windows=windows, threshold=threshold)
    table.index = pd.Index(list(frame.columns), name="member")
    return table


def statistics_band(
    members: FacilityEnsemble | AnnualEnsemble | pd.DataFrame,
    *,
    ramp_windows: Iterable[str | pd.Timedelta] | None = None,
    threshold: pint.Quantity | None = None,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
) -> pd.DataFrame:
    """P10/P50/P90 over the members of every planner statistic.

    Each statistic is computed on each member's own profile and the quantiles are taken
    across members: the P90 of the peak is the 90th percentile of the N member peaks.
    The highest value of the pointwise P90 band is never above it (every member's
    series lies below its own peak, and quantiles keep that order) and usually below,
    because members peak at different times: a peak read off the band understates it.

    Parameters
    ----------
    members, ramp_windows, threshold
        As :func:`member_statistics`.
    quantiles : sequence of float
        Increasing values in [0, 1] (default 0.1, 0.5, 0.9).

    Returns
    -------
    pandas.DataFrame, shape (n_statistics, len(quantiles) + 3)
        Index ``statistic`` (the ``load_statistics`` column names, e.g. ``peak_mw``,
        ``load_factor``, ``max_ramp_mw_per_15min``, ``hours_above_threshold_h``);
        columns ``p10``, ``p50``, ``p90``, ``mean``, ``n_members`` and ``unit``.

    Raises
    ------
    EnsembleError
        Bad quantiles or input (see :func:`member_statistics`).
    """
    qs = check_quantiles(quantiles)
    table = member_statistics(members, ramp_windows=ramp_windows, threshold=threshold)
    values = table.to_numpy(dtype=np.float64)
    band = pd.DataFrame(
        np.quantile(values, qs, axis=0).T,
        index=pd.Index(table.columns, name="statistic"),
        columns=[quantile_label(q) for q in qs],
    )
    band["mean"] = values.mean(axis=0)
    band["n_members"] = values.shape[0]
    units = table.attrs.get("units", {})
    band["unit"] = [units.get(c, "") for c in table.columns]
    return band


# --------------------------------------------------------------------------- LDC
def _step_h(index: pd.DatetimeIndex) -> float:
    if len(index) < 2:
        raise EnsembleError("members: need at least two time steps for a duration curve")
    steps = np.diff(index.asi8)
    if not np.all(steps == steps[0]):
        raise EnsembleError("members: the index is not regular; resample it to one step first")
    return float(steps[0]) / 3.6e12


def load_duration_curves(members: FacilityEnsemble | AnnualEnsemble | pd.DataFrame) -> pd.DataFrame:
    """Load-duration curve of every member (values sorted from the highest).

    Parameters
    ----------
    members : FacilityEnsemble, AnnualEnsemble or pandas.DataFrame, shape (T, N)
        Member profiles on a regular index.

    Returns
    -------
    pandas.DataFrame, shape (T, N)
        Row ``i`` holds each member's ``i``-th highest value; the index ``duration_h``
        is ``i * step_h``, the time the member's load is **strictly above** that value
        when no two samples are equal (row 0: the peak, exceeded 0 h).  Pointwise
        quantiles of this frame are the LDC band (the i-th highest value is a statistic
        of each member, so its band is meaningful, unlike a time-pointwise band).
    """
    frame = _members(members)
    step = _step_h(pd.DatetimeIndex(frame.index))
    values = -np.sort(-frame.to_numpy(dtype=np.float64), axis=0)
    out = pd.DataFrame(
        values,
        index=pd.Index(np.arange(values.shape[0]) * step, name="duration_h"),
        columns=frame.columns,
    )
    out.attrs = dict(frame.attrs)
    return out


def design_demand(
    members: FacilityEnsemble | AnnualEnsemble | pd.DataFrame,
    hours: Sequence[float] = (22.0, 44.0, 88.0),
    *,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
) -> pd.DataFrame:
    """The demand exceeded for a given number of hours, per member and as a band.

    ``d_H`` is the level the load is strictly above for ``H`` hours of the members'
    span (an interconnection booked at ``d_H`` is exceeded, so would need curtailment,
    in ``H`` hours): the ``(H / step + 1)``-th highest value of each member (row ``H``
    of :func:`load_duration_curves`).  For a 365-day scenario this is "hours per year".

    Parameters
    ----------
    members : FacilityEnsemble, AnnualEnsemble or pandas.DataFrame, shape (T, N)
    hours : sequence of float
        Exceedance durations [h], each a whole number of steps and shorter than the span.
    quantiles : sequence of float
        Quantiles across members.

    Returns
    -------
    pandas.DataFrame, shape (len(hours), len(quantiles) + 2)
        Index ``hours_exceeded``; columns ``p10``, ``p50``, ``p90`` [MW, the members'
        unit], ``mean`` and ``members`` (a tuple of the N member values).

    Raises
    ------
    EnsembleError
        An ``hours`` value that is negative, not a whole number of steps, or not
        shorter than the span.
    """
    qs = check_quantiles(quantiles)
    ldc = load_duration_curves(members)
    step = float(ldc.index[1]) if len(ldc) > 1 else 1.0
    rows, member_values = [], []
    for h in hours:
        k = float(h) / step
        if h < 0 or abs(k - round(k)) > 1e-9 or round(k) >= len(ldc):
            raise EnsembleError(
                f"hours={h}: must be >= 0, a whole number of {step} h steps and shorter than "
                f"the {len(ldc) * step} h span"
            )
        v = ldc.iloc[int(round(k))].to_numpy(dtype=np.float64)
        rows.append(list(np.quantile(v, qs)) + [float(v.mean())])
        member_values.append(tuple(float(x) for x in v))
    out = pd.DataFrame(
        rows,
        index=pd.Index([float(h) for h in hours], name="hours_exceeded"),
        columns=[quantile_label(q) for q in qs] + ["mean"],
    )
    out["members"] = member_values
    out.attrs = dict(ldc.attrs)
    return out


# --------------------------------------------------------------------------- annual
@dataclass(frozen=True)
class AnnualEnsemble:
    """N seeds of an annual scenario through the fast path.

    Attributes
    ----------
    scenario : gridlink.annual.AnnualScenario
        The scenario (its own ``seed`` is replaced by each member's).
    root_seed : int
    seeds : tuple of int, length N
        Member seeds (:func:`traces.facility.ensemble.member_seeds`).
    pcc_mw : pandas.DataFrame, shape (M, N)
        Each member's PCC load at ``freq`` (energy-preserving means) [MW]; UTC index,
        columns ``0..N-1`` named ``member``, ``attrs["unit"] == "MW"``.
    peak_bin_mw : pandas.Series, shape (N,)
        Each member's highest bin-mean (``scenario.bin_s``, default 1 min) load [MW].
    reference : pandas.Series, shape (M,)
        The single run with the scenario's own seed (what one seeded trace shows).
    curves : dict
        The shared response curves (``recalibrate=False``) or member 0's.
    recalibrated : bool
        Whether each member calibrated its own curves.
    timings_s : dict
        ``calibration`` and ``members`` [s].
    """

    scenario: Any
    root_seed: int
    seeds: tuple[int, ...]
    pcc_mw: pd.DataFrame
    peak_bin_mw: pd.Series
    reference: pd.Series
    curves: dict[str, Any]
    recalibrated: bool
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def n_members(self) -> int:
        """Number of members N."""
        return len(self.seeds)

    def member(self, k: int) -> pd.Series:
        """Member ``k``'s PCC load at ``freq`` [MW], named ``p_mw``."""
        return series_with_unit(self.pcc_mw[k].rename("p_mw"), "MW")

    def band(self, quantiles: Sequence[float] = DEFAULT_QUANTILES) -> pd.DataFrame:
        """Pointwise P10/P50/P90 of the load at ``freq`` [MW] (e.g. 8,760 hours)."""
        return pointwise_band(self.pcc_mw, quantiles)

    def ldc(self) -> pd.DataFrame:
        """Every member's load-duration curve (:func:`load_duration_curves`)."""
        return load_duration_curves(self.pcc_mw)

    def ldc_band(self, quantiles: Sequence[float] = DEFAULT_QUANTILES) -> pd.DataFrame:
        """P10/P50/P90 of the load-duration curve at each duration [MW]."""
        return pointwise_band(self.ldc(), quantiles)

    def design_demand(
        self,
        hours: Sequence[float] = (22.0, 44.0, 88.0),
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
    ) -> pd.DataFrame:
        """Demand exceeded for ``hours`` of the scenario, with its band (:func:`design_demand`)."""
        return design_demand(self.pcc_mw, hours, quantiles=quantiles)


def annual_ensemble(
    scenario: Any,
    n_members: int,
    *,
    root_seed: int | None = None,
    curves: Mapping[str, Any] | None = None,
    freq: str = "1h",
    recalibrate: bool = False,
) -> AnnualEnsemble:
    """Run an annual scenario with N member seeds through the fast path.

    Parameters
    ----------
    scenario : gridlink.annual.AnnualScenario
        The scenario; member ``k`` runs it with ``seed = member_seeds(root, N)[k]``.
    n_members : int
        Number of members N (>= 1).
    root_seed : int, optional
        Root of the member seeds; default ``scenario.seed``.
    curves : Mapping[str, ResponseCurve], optional
        Response curves to share; calibrated once from the scenario's own seed when
        absent (the slow part).
    freq : str, default "1h"
        Output interval (8,760 values for a 365-day scenario).
    recalibrate : bool, default False
        Calibrate every member's curves with its own seed (each calibration runs the full
        generator, ~10 s per configuration on 2 cores); includes calibration (fit) noise
        in the band.

    Returns
    -------
    AnnualEnsemble

    Raises
    ------
    EnsembleError
        Bad ``n_members`` / ``root_seed``; ``curves`` given with ``recalibrate=True``.
    gridlink.annual.AnnualError
        As :func:`gridlink.annual.annual_load`.
    """
    from gridlink.annual import annual_load

    if recalibrate and curves is not None:
        raise EnsembleError("recalibrate=True calibrates each member itself; drop curves=")
    root = scenario.seed if root_seed is None else root_seed
    seeds = member_seeds(root, n_members)
    t0 = time.perf_counter()
    ref = annual_load(scenario, curves, freq=freq)
    calibration_s = ref.timings_s.get("calibration", 0.0)
    shared = ref.curves
    t1 = time.perf_counter()
    cols: dict[int, np.ndarray] = {}
    peaks: list[float] = []
    index = ref.p_mw.index
    first_curves = shared
    for k, seed in enumerate(seeds):
        shape = annual_load(
            replace(scenario, seed=seed), None if recalibrate else shared, freq=freq
        )
        if recalibrate:
            calibration_s += shape.timings_s.get("calibration", 0.0)
            if k == 0:
                first_curves = shape.curves
        cols[k] = shape.p_mw.to_numpy(dtype=np.float64)
        peaks.append(float(shape.p_mw_bin.max()))
    members_s = time.perf_counter() - t1
    frame = pd.DataFrame(cols, index=index)
    frame.columns.name = "member"
    frame.attrs["unit"] = "MW"
    peak = pd.Series(peaks, index=frame.columns, name="peak_bin_mw")
    peak.attrs["unit"] = "MW"
    logger.info(
        "annual ensemble: %d members in %.2f s (calibration %.1f s)",
        len(seeds), members_s, calibration_s,
    )  # fmt: skip
    return AnnualEnsemble(
        scenario=scenario,
        root_seed=int(root),
        seeds=tuple(seeds),
        pcc_mw=frame,
        peak_bin_mw=peak,
        reference=ref.p_mw,
        curves=dict(first_curves),
        recalibrated=bool(recalibrate),
        timings_s={
            "calibration": calibration_s,
            "members": members_s,
            "total": time.perf_counter() - t0,
        },
    )


# --------------------------------------------------------------------------- plots
def plot_band(
    band: pd.DataFrame,
    path: str | Path,
    *,
    reference: pd.Series | None = None,
    start: Any = None,
    end: Any = None,
    title: str | None = None,
    ylabel: str = "PCC load [MW]",
) -> Path:
    """The P10-P90 band around the median profile (optionally one seeded run on top).

    Parameters
    ----------
    band : pandas.DataFrame
        Output of :meth:`FacilityEnsemble.band` / :meth:`AnnualEnsemble.band` (columns
        ``p10``, ``p50``, ``p90``).
    path : str or Path
        PNG to write.
    reference : pandas.Series, optional
        A single seeded run to draw over the band (e.g. ``AnnualEnsemble.reference``).
    start, end : timestamp-like, optional
        Window to draw (e.g. the peak week of a year); default the whole band.
    title, ylabel : str

    Returns
    -------
    pathlib.Path
    """
    for col in ("p10", "p50", "p90"):
        if col not in band.columns:
            raise EnsembleError(f"band: column {col!r} missing; pass the output of .band()")
    b = band.loc[start:end] if (start is not None or end is not None) else band
    fig, ax = _fig(figsize=(10, 4.2))
    x = b.index
    ax.fill_between(x, b["p10"], b["p90"], color="tab:blue", alpha=0.25, lw=0, label="P10-P90")
    ax.plot(x, b["p50"], color="tab:blue", lw=1.2, label="P50 (median)")
    if reference is not None:
        r = reference.loc[x[0] : x[-1]]
        ax.plot(r.index, r.to_numpy(), color="black", lw=0.6, alpha=0.7, label="one seeded run")
    ax.set_ylabel(ylabel)
    ax.set_xlabel("time [UTC]")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    # the axis is scaled to the data: state the band's width relative to the median so a
    # narrow band drawn large is not read as a large spread
    rel = ((b["p90"] - b["p10"]) / b["p50"]).to_numpy()
    ax.text(0.99, 0.02, f"P10-P90 width: mean {100 * np.nanmean(rel):.2g} %, "
            f"max {100 * np.nanmax(rel):.2g} % of P50", transform=ax.transAxes,
            ha="right", va="bottom", fontsize=8,
            bbox={"facecolor": "white", "alpha": 0.8, "lw": 0})  # fmt: skip
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, path)


def plot_ldc_band(
    ldc_band: pd.DataFrame,
    path: str | Path,
    *,
    design: pd.DataFrame | None = None,
    zoom_h: float = 300.0,
    title: str | None = None,
    ylabel: str = "PCC load [MW]",
) -> Path:
    """Load-duration curve band: the whole span and a zoom on the top ``zoom_h`` hours.

    Parameters
    ----------
    ldc_band : pandas.DataFrame
        :meth:`AnnualEnsemble.ldc_band` (index ``duration_h``; ``p10``, ``p50``, ``p90``).
    path : str or Path
        PNG to write.
    design : pandas.DataFrame, optional
        :meth:`AnnualEnsemble.design_demand`; drawn as P50 points with P10-P90 bars.
    zoom_h : float
        Hours of the right panel (the top of the curve, where capacity is decided).
    title, ylabel : str

    Returns
    -------
    pathlib.Path
    """
    fig, axes = _fig(1, 2, figsize=(11, 4.2))
    for ax, lim in zip(axes, (None, zoom_h), strict=True):
        b = ldc_band if lim is None else ldc_band.loc[:lim]
        x = b.index.to_numpy(dtype=float)
        ax.fill_between(x, b["p10"], b["p90"], color="tab:orange", alpha=0.3, lw=0,
                        label="P10-P90")  # fmt: skip
        ax.plot(x, b["p50"], color="tab:orange", lw=1.2, label="P50")
        if design is not None:
            hrs = design.index.to_numpy(dtype=float)
            keep = hrs <= x[-1]
            p50 = design["p50"].to_numpy()[keep]
            err = np.vstack(
                [p50 - design["p10"].to_numpy()[keep], design["p90"].to_numpy()[keep] - p50]
            )
            ax.errorbar(hrs[keep], p50, yerr=err, fmt="o", color="black", ms=4, capsize=3,
                        label="demand exceeded H h (P10-P90)")  # fmt: skip
            for h, v in zip(hrs[keep], p50, strict=True):
                if lim is None:
                    break  # label the points on the zoomed panel only
                ax.annotate(f"{h:g} h: {v:.2f}", (h, v), textcoords="offset points",
                            xytext=(6, 6), fontsize=7)  # fmt: skip
        ax.set_xlabel("hours the load is exceeded [h]")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0].set_title("load-duration curve", fontsize=10)
    axes[1].set_title(f"top {zoom_h:g} hours", fontsize=10)
    axes[1].legend(loc="upper right", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)
