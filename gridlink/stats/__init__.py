"""Planner statistics of a facility load profile at the point of common coupling.

Every function takes a profile as a :class:`pandas.Series` of power on a regular,
tz-aware :class:`~pandas.DatetimeIndex` that declares its unit (``attrs["unit"]``
or a ``_mw``/``_kw``/``_w`` name suffix) and returns pint quantities in the
package registry (:data:`gridlink.units.ureg`).  A sample stamped ``t`` is the
mean power over ``[t, t + step)`` (interval-beginning labels), so energy is
``sum(p) * step``.  :func:`load_statistics` gathers everything into a tidy
table whose column names carry their unit, one row per profile.

The definitions (written out with a worked example in ``docs/statistics.md``)
follow the usual utility/IEEE vocabulary (load factor, coincidence factor,
demand at system peak) and what NERC's Large Loads Task Force asks of large
computational loads: not only peak MW but ramps, step changes and how long the
load stays high.

References
----------
.. [1] IEEE Std 100-2000, *The Authoritative Dictionary of IEEE Standards Terms*,
   entries "load factor" and "coincidence factor"; also T. Gönen, *Electric
   Power Distribution Engineering*, 3rd ed., CRC Press, 2014, ch. 2.
.. [2] NERC Large Loads Task Force, *Characteristics and Risks of Emerging
   Large Loads* (white paper, 2025): ramp rates, step changes and ride-through
   of data-centre loads.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pint

from gridlink.resample import ResampleError, infer_step, resample_energy
from gridlink.units import (
    Q_,
    UnitError,
    check_dimension,
    check_units,
    declared_unit,
    to_magnitude,
)

__all__ = [
    "StatsError",
    "RampStatistics",
    "energy",
    "peak",
    "mean_power",
    "load_factor",
    "peak_to_average",
    "coefficient_of_variation",
    "max_step",
    "ramp_statistics",
    "hours_above",
    "longest_run_above",
    "contribution_to_system_peak",
    "coincidence_factor",
    "load_statistics",
    "window_label",
]

logger = logging.getLogger(__name__)

RampMethod = Literal["block", "sliding"]


class StatsError(ValueError):
    """A profile or option cannot give the requested statistic."""


# --------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Profile:
    """A validated profile: plain float MW values on a regular UTC grid."""

    p_mw: np.ndarray  # (T,) float64 [MW]
    index: pd.DatetimeIndex  # (T,) UTC
    step: pd.Timedelta

    @property
    def step_h(self) -> float:
        return self.step.total_seconds() / 3600.0

    def series(self) -> pd.Series:
        out = pd.Series(self.p_mw, index=self.index, name="p_mw")
        out.attrs["unit"] = "MW"
        return out


def _as_profile(profile: Any, *, name: str) -> _Profile:
    """Validate a power profile and convert it to plain MW floats on a UTC index."""
    if isinstance(profile, pint.Quantity | np.ndarray | list | tuple | float | int):
        raise UnitError(
            f"{name}: expected a pandas Series of power with a tz-aware DatetimeIndex and a "
            f"declared unit, got {type(profile).__name__}; build one with "
            "gridlink.units.series_with_unit(pd.Series(values, index=utc_index), 'MW')"
        )
    unit = declared_unit(profile, name=name)
    check_dimension(unit, "MW", name=name)
    index = profile.index
    if not isinstance(index, pd.DatetimeIndex):
        raise StatsError(f"{name}: expected a DatetimeIndex, got {type(index).__name__}")
    if index.tz is None:
        raise StatsError(
            f"{name}: the index is naive (no time zone); localise it first, e.g. "
            "series.tz_localize('UTC') or gridlink.resample.resample_energy(series, freq, tz=...)"
        )
    try:
        step = infer_step(index)
    except ResampleError as exc:
        raise StatsError(f"{name}: {exc}") from exc
    factor = to_magnitude(Q_(1.0, unit), "MW", name=name)
    p_mw = profile.to_numpy(dtype=np.float64) * factor
    finite = np.isfinite(p_mw)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise StatsError(
            f"{name}: {np.count_nonzero(~finite)} non-finite value(s), first at position {i} "
            f"({index[i]}); fill or remove them explicitly"
        )
    return _Profile(p_mw=p_mw, index=index.tz_convert("UTC"), step=step)


def _window(window: str | pd.Timedelta, *, name: str = "window") -> pd.Timedelta:
    try:
        td = pd.Timedelta(window)
    except (ValueError, TypeError) as exc:
        raise StatsError(f"{name}: cannot read {window!r} as a duration; use e.g. '15min'") from exc
    if td <= pd.Timedelta(0):
        raise StatsError(f"{name}: must be a positive duration, got {window!r}")
    return td


def window_label(window: str | pd.Timedelta) -> str:
    """Short label of a duration for column names: ``15min``, ``1min``, ``1h``, ``30s``.

    Parameters
    ----------
    window : str or pandas.Timedelta
        A positive duration.

    Returns
    -------
    str
        Whole hours as ``"<n>h"``, else whole minutes as ``"<n>min"``, else whole
        seconds as ``"<n>s"``, else milliseconds as ``"<n>ms"``.
    """
    ns = int(_window(window).value)
    for unit_ns, suffix in ((3_600_000_000_000, "h"), (60_000_000_000, "min"), (10**9, "s")):
        if ns % unit_ns == 0:
            return f"{ns // unit_ns}{suffix}"
    if ns % 10**6 == 0:
        return f"{ns // 10**6}ms"
    return f"{ns}ns"


def _positive(value: float, what: str, name: str) -> float:
    if not value > 0.0:
        raise StatsError(f"{name}: {what} is {value} MW; this ratio needs a positive {what}")
    return value


# --------------------------------------------------------------------- level statistics


def energy(profile: pd.Series) -> pint.Quantity:
    """Energy of a power profile.

    ``E = sum_i p_i * dt`` with ``dt`` the step of the index.

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Power on a regular tz-aware DatetimeIndex, declared unit of power
        (e.g. ``attrs["unit"] = "MW"``; kW and W are converted).

    Returns
    -------
    pint.Quantity
        Energy [MWh].

    Raises
    ------
    gridlink.units.UnitError
        If ``profile`` is not a Series, declares no unit, or a non-power unit.
    StatsError
        If the index is naive, irregular, or values are not finite.
    """
    prof = _as_profile(profile, name="profile")
    return Q_(float(prof.p_mw.sum()) * prof.step_h, "MWh")


def peak(profile: pd.Series) -> pint.Quantity:
    """Peak (maximum) power at the profile's own resolution.

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Power profile with a declared unit (see :func:`energy`).

    Returns
    -------
    pint.Quantity
        ``max_i p_i`` [MW].  To get a 15-minute demand peak, first resample with
        :func:`gridlink.resample.resample_energy` (``"15min"``).

    Raises
    ------
    gridlink.units.UnitError, StatsError
        As :func:`energy`.
    """
    return Q_(float(_as_profile(profile, name="profile").p_mw.max()), "MW")


def mean_power(profile: pd.Series) -> pint.Quantity:
    """Time-weighted mean power (energy divided by duration).

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Power profile with a declared unit (see :func:`energy`).

    Returns
    -------
    pint.Quantity
        ``E / (T * dt)`` [MW] (on a regular grid: the arithmetic mean).

    Raises
    ------
    gridlink.units.UnitError, StatsError
        As :func:`energy`.
    """
    return Q_(float(_as_profile(profile, name="profile").p_mw.mean()), "MW")


def load_factor(profile: pd.Series) -> pint.Quantity:
    """Load factor: average load over the period divided by the peak load in it.

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Power profile with a declared unit (see :func:`energy`).

    Returns
    -------
    pint.Quantity
        ``mean / peak`` [dimensionless], in ``(0, 1]`` for a positive load.
        Depends on the resolution of the peak: resample to the demand interval
        first when a billing-style load factor is wanted.

    Raises
    ------
    gridlink.units.UnitError, StatsError
        As :func:`energy`; :class:`StatsError` also if the peak is not positive.

    References
    ----------
    IEEE Std 100-2000, "load factor"; Gönen (2014), ch. 2.
    """
    prof = _as_profile(profile, name="profile")
    pk = _positive(float(prof.p_mw.max()), "peak", "profile")
    return Q_(float(prof.p_mw.mean()) / pk, "dimensionless")


def peak_to_average(profile: pd.Series) -> pint.Quantity:
    """Peak-to-average ratio ``peak / mean`` (the inverse of the load factor).

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Power profile with a declared unit (see :func:`energy`).

    Returns
    -------
    pint.Quantity
        ``peak / mean`` [dimensionless], ``>= 1`` for a positive load.

    Raises
    ------
    gridlink.units.UnitError, StatsError
        As :func:`energy`; :class:`StatsError` also if the mean is not positive.
    """
    prof = _as_profile(profile, name="profile")
    mean = _positive(float(prof.p_mw.mean()), "mean", "profile")
    return Q_(float(prof.p_mw.max()) / mean, "dimensionless")


def coefficient_of_variation(profile: pd.Series) -> pint.Quantity:
    """Coefficient of variation: population standard deviation over the mean.

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Power profile with a declared unit (see :func:`energy`).

    Returns
    -------
    pint.Quantity
        ``std(p, ddof=0) / mean(p)`` [dimensionless] (time-weighted on a regular
        grid).  Depends on resolution: fast fluctuations average out when the
        profile is resampled to coarser steps.

    Raises
    ------
    gridlink.units.UnitError, StatsError
        As :func:`energy`; :class:`StatsError` also if the mean is not positive.
    """
    prof = _as_profile(profile, name="profile")
    mean = _positive(float(prof.p_mw.mean()), "mean", "profile")
    return Q_(float(prof.p_mw.std(ddof=0)) / mean, "dimensionless")


# --------------------------------------------------------------------- ramps


def max_step(profile: pd.Series) -> pint.Quantity:
    """Largest single step between consecutive samples, ``max_i |p_{i+1} - p_i|``.

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Power profile with a declared unit (see :func:`energy`), ``T >= 2``.

    Returns
    -------
    pint.Quantity
        The largest absolute change between two consecutive samples [MW] (at the
        profile's own step; a step change of a large load as NERC's LLTF uses it).

    Raises
    ------
    gridlink.units.UnitError, StatsError
        As :func:`energy`.
    """
    prof = _as_profile(profile, name="profile")
    return Q_(float(np.abs(np.diff(prof.p_mw)).max()), "MW")


@dataclass(frozen=True)
class RampStatistics:
    """Distribution of ramps of a profile over one window length.

    All changes are in MW *per window*: ``max_up = 12 MW`` with a 15-minute
    window reads "12 MW per 15 min"; divide by the window in minutes for MW/min
    (:meth:`per_minute`).

    Attributes
    ----------
    window : pandas.Timedelta
        Window length.
    method : {"block", "sliding"}
        ``"block"``: differences of the time-weighted mean power of consecutive
        non-overlapping windows (aligned to the UTC epoch grid, as
        :func:`gridlink.resample.resample_energy`).  ``"sliding"``: ``p(t + w) -
        p(t)`` for every sample time ``t`` (the change over any window of length
        ``w`` starting at a sample).
    n : int
        Number of ramps (differences) in the distribution.
    max_up : pint.Quantity
        Largest signed change ``max(dP)`` [MW per window] (negative only if the
        profile never rises).
    max_down : pint.Quantity
        Most negative signed change ``min(dP)`` [MW per window]; e.g. ``-30 MW``
        is a 30 MW decrease.
    max_abs : pint.Quantity
        ``max |dP|`` [MW per window].
    p50, p95, p99 : pint.Quantity
        Percentiles of ``|dP|`` [MW per window] (numpy's linear interpolation).
    """

    window: pd.Timedelta
    method: RampMethod
    n: int
    max_up: pint.Quantity
    max_down: pint.Quantity
    max_abs: pint.Quantity
    p50: pint.Quantity
    p95: pint.Quantity
    p99: pint.Quantity

    def per_minute(self, value: pint.Quantity) -> pint.Quantity:
        """Convert a change per window [MW] to a ramp rate [MW/min]."""
        minutes = self.window.total_seconds() / 60.0
        return (value / Q_(minutes, "min")).to("MW/min")


def _ramp_changes(prof: _Profile, window: pd.Timedelta, method: RampMethod) -> np.ndarray:
    if window < prof.step:
        raise StatsError(
            f"window: {window_label(window)} is shorter than the profile step "
            f"{prof.step}; ramps over a window finer than the data cannot be measured. "
            "Use a window that is a multiple of the step"
        )
    if method == "block":
        try:
            blocks = resample_energy(prof.series(), window).to_numpy()
        except ResampleError as exc:
            raise StatsError(
                f"profile: block ramps over {window_label(window)} need whole windows: {exc}"
            ) from exc
        if blocks.size < 2:
            raise StatsError(
                f"profile: covers {blocks.size} window(s) of {window_label(window)}; "
                "block ramps need at least 2"
            )
        return np.diff(blocks)
    if method == "sliding":
        lag, rem = divmod(int(window.value), int(prof.step.value))
        if rem:
            raise StatsError(
                f"window: {window_label(window)} is not a multiple of the profile step "
                f"{prof.step}; sliding ramps need a whole number of samples"
            )
        if prof.p_mw.size <= lag:
            raise StatsError(
                f"profile: {prof.p_mw.size} samples do not span one window of "
                f"{window_label(window)} plus a sample"
            )
        return prof.p_mw[lag:] - prof.p_mw[:-lag]
    raise StatsError(f"method: expected 'block' or 'sliding', got {method!r}")


def ramp_statistics(
    profile: pd.Series, window: str | pd.Timedelta = "15min", *, method: RampMethod = "block"
) -> RampStatistics:
    """Ramp distribution of a profile over a window.

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Power profile with a declared unit (see :func:`energy`).
    window : str or pandas.Timedelta, default "15min"
        Window length ``w``, at least the profile step.
    method : {"block", "sliding"}, default "block"
        ``"block"``: ``dP_k = P̄_{k+1} - P̄_k`` with ``P̄_k`` the time-weighted mean
        power over the k-th window of the UTC-aligned grid (what a 15-minute
        interval meter sees; the profile must cover whole windows).
        ``"sliding"``: ``dP(t) = p(t + w) - p(t)`` for every sample ``t`` (``w``
        a multiple of the step); catches ramps that straddle block boundaries.

    Returns
    -------
    RampStatistics
        Max up, max down (signed), max absolute and percentiles of ``|dP|``
        [MW per window].

    Raises
    ------
    gridlink.units.UnitError
        As :func:`energy`.
    StatsError
        If the window is shorter than the step, not a multiple of it
        (``"sliding"``), the profile covers partial windows (``"block"``) or
        fewer than 2 windows, or ``method`` is unknown.

    References
    ----------
    NERC Large Loads Task Force (2025): ramp rates and step changes of large loads.
    """
    prof = _as_profile(profile, name="profile")
    w = _window(window)
    dp = _ramp_changes(prof, w, method)
    absdp = np.abs(dp)
    p50, p95, p99 = np.percentile(absdp, [50.0, 95.0, 99.0])
    return RampStatistics(
        window=w,
        method=method,
        n=int(dp.size),
        max_up=Q_(float(dp.max()), "MW"),
        max_down=Q_(float(dp.min()), "MW"),
        max_abs=Q_(float(absdp.max()), "MW"),
        p50=Q_(float(p50), "MW"),
        p95=Q_(float(p95), "MW"),
        p99=Q_(float(p99), "MW"),
    )


# --------------------------------------------------------------------- durations


def _above(prof: _Profile, threshold: pint.Quantity) -> np.ndarray:
    return prof.p_mw > to_magnitude(threshold, "MW", name="threshold")


@check_units(threshold="MW")
def hours_above(profile: pd.Series, threshold: pint.Quantity) -> pint.Quantity:
    """Total time the load is strictly above a threshold.

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Power profile with a declared unit (see :func:`energy`).
    threshold : pint.Quantity
        Power threshold [power], e.g. ``Q_(80, "MW")``; samples with
        ``p > threshold`` count.

    Returns
    -------
    pint.Quantity
        ``count(p > threshold) * dt`` [h].

    Raises
    ------
    gridlink.units.UnitError
        If ``threshold`` is a bare number or not a power; ``profile`` as :func:`energy`.
    StatsError
        As :func:`energy`.
    """
    prof = _as_profile(profile, name="profile")
    return Q_(float(np.count_nonzero(_above(prof, threshold))) * prof.step_h, "h")


@check_units(threshold="MW")
def longest_run_above(profile: pd.Series, threshold: pint.Quantity) -> pint.Quantity:
    """Longest continuous time the load stays strictly above a threshold.

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Power profile with a declared unit (see :func:`energy`).
    threshold : pint.Quantity
        Power threshold [power].

    Returns
    -------
    pint.Quantity
        Length of the longest run of consecutive samples with ``p > threshold``,
        times ``dt`` [h]; ``0 h`` if none.

    Raises
    ------
    gridlink.units.UnitError, StatsError
        As :func:`hours_above`.
    """
    prof = _as_profile(profile, name="profile")
    return Q_(_longest_run(_above(prof, threshold)) * prof.step_h, "h")


def _longest_run(mask: np.ndarray) -> int:
    """Length of the longest run of True in a boolean array (0 if none)."""
    if not mask.any():
        return 0
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


# --------------------------------------------------------------------- coincidence


def _align(prof: _Profile, system: _Profile) -> tuple[np.ndarray, np.ndarray]:
    """Bring facility and system to the coarser of the two steps on one index."""
    step = max(prof.step, system.step)
    fac = prof.series() if prof.step == step else _coarsen(prof, step, "profile")
    sysl = system.series() if system.step == step else _coarsen(system, step, "system_load")
    if not fac.index.equals(sysl.index):
        raise StatsError(
            f"system_load: covers {sysl.index[0]} .. {sysl.index[-1]} but profile covers "
            f"{fac.index[0]} .. {fac.index[-1]} (at the common step {step}); slice both "
            "to the same period (e.g. system_load[profile.index[0]:profile.index[-1]])"
        )
    return fac.to_numpy(), sysl.to_numpy()


def _coarsen(prof: _Profile, step: pd.Timedelta, name: str) -> pd.Series:
    try:
        return resample_energy(prof.series(), step)
    except ResampleError as exc:
        raise StatsError(f"{name}: cannot be resampled to the common step {step}: {exc}") from exc


def _peak_positions(system_mw: np.ndarray, n_peaks: int) -> np.ndarray:
    if not isinstance(n_peaks, int | np.integer) or n_peaks < 1:
        raise StatsError(f"n_peaks: expected a positive integer, got {n_peaks!r}")
    if n_peaks > system_mw.size:
        raise StatsError(f"n_peaks: {n_peaks} exceeds the {system_mw.size} aligned intervals")
    # stable sort of -load: highest first, ties broken by the earliest time
    return np.argsort(-system_mw, kind="stable")[:n_peaks]


def contribution_to_system_peak(
    profile: pd.Series, system_load: pd.Series, *, n_peaks: int = 1
) -> pint.Quantity:
    """Facility demand at the system peak interval(s).

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Facility power with a declared unit (see :func:`energy`).
    system_load : pandas.Series, shape (S,)
        System load with a declared power unit over the same period.  The finer
        of the two is resampled (energy-preserving) to the coarser step; the two
        must then share one index.
    n_peaks : int, default 1
        Number of highest system-load intervals to average over (e.g. 5 for a
        PJM-style 5CP over a summer); ties go to the earliest interval.

    Returns
    -------
    pint.Quantity
        Mean facility power over the ``n_peaks`` system-peak intervals [MW], at
        the common (coarser) step.

    Raises
    ------
    gridlink.units.UnitError
        If either Series declares no unit or a non-power unit.
    StatsError
        If the two cannot be aligned to one index, or ``n_peaks`` is invalid.
    """
    fac, sysl = _align(
        _as_profile(profile, name="profile"), _as_profile(system_load, name="system_load")
    )
    pos = _peak_positions(sysl, n_peaks)
    return Q_(float(fac[pos].mean()), "MW")


def coincidence_factor(
    profile: pd.Series, system_load: pd.Series, *, n_peaks: int = 1
) -> pint.Quantity:
    """Coincidence factor of a facility with the system peak.

    ``CF = P_fac(at system peak) / max P_fac``, both at the common (coarser)
    step: the facility's contribution to the system peak
    (:func:`contribution_to_system_peak`) over its own non-coincident peak.

    Parameters
    ----------
    profile, system_load, n_peaks
        As :func:`contribution_to_system_peak`.

    Returns
    -------
    pint.Quantity
        Coincidence factor [dimensionless], in ``[0, 1]`` for a non-negative load.

    Raises
    ------
    gridlink.units.UnitError, StatsError
        As :func:`contribution_to_system_peak`; :class:`StatsError` also if the
        facility peak is not positive.

    References
    ----------
    IEEE Std 100-2000, "coincidence factor" (coincident maximum demand over the
    sum of individual maximum demands; here one facility); Gönen (2014), ch. 2.
    """
    fac, sysl = _align(
        _as_profile(profile, name="profile"), _as_profile(system_load, name="system_load")
    )
    pos = _peak_positions(sysl, n_peaks)
    pk = _positive(float(fac.max()), "peak", "profile")
    return Q_(float(fac[pos].mean()) / pk, "dimensionless")


# --------------------------------------------------------------------- summary table


def _row(
    profile: pd.Series,
    *,
    label: str,
    ramp_windows: Iterable[str | pd.Timedelta],
    threshold: pint.Quantity | None,
    system_load: pd.Series | None,
    units: dict[str, str],
) -> dict[str, float]:
    name = f"profile {label!r}"
    prof = _as_profile(profile, name=name)
    p = prof.p_mw
    row: dict[str, float] = {}

    def put(col: str, value: float, unit: str) -> None:
        row[col] = value
        units[col] = unit

    pk = float(p.max())
    mean = float(p.mean())
    put("duration_h", p.size * prof.step_h, "h")
    put("step_s", prof.step.total_seconds(), "s")
    put("energy_mwh", float(p.sum()) * prof.step_h, "MWh")
    put("peak_mw", pk, "MW")
    put("mean_mw", mean, "MW")
    put("min_mw", float(p.min()), "MW")
    put("load_factor", mean / _positive(pk, "peak", name), "dimensionless")
    put("peak_to_average", pk / _positive(mean, "mean", name), "dimensionless")
    put("cv", float(p.std(ddof=0)) / mean, "dimensionless")
    put("max_step_mw", float(np.abs(np.diff(p)).max()), "MW")
    for window in ramp_windows:
        w = _window(window, name="ramp_windows")
        lab = window_label(w)
        try:
            block = _ramp_changes(prof, w, "block")
            sliding = _ramp_changes(prof, w, "sliding")
        except StatsError as exc:
            raise StatsError(
                f"ramp_windows: {exc} (profile {label!r}); pass ramp_windows= suited to "
                f"its step {prof.step}"
            ) from exc
        unit = f"MW per {lab}"
        put(f"max_ramp_up_mw_per_{lab}", float(block.max()), unit)
        put(f"max_ramp_down_mw_per_{lab}", float(block.min()), unit)
        put(f"max_ramp_mw_per_{lab}", float(np.abs(block).max()), unit)
        p95, p99 = np.percentile(np.abs(block), [95.0, 99.0])
        put(f"p95_ramp_mw_per_{lab}", float(p95), unit)
        put(f"p99_ramp_mw_per_{lab}", float(p99), unit)
        put(f"max_sliding_ramp_up_mw_per_{lab}", float(sliding.max()), unit)
        put(f"max_sliding_ramp_down_mw_per_{lab}", float(sliding.min()), unit)
    if threshold is not None:
        above = _above(prof, threshold)
        put("threshold_mw", to_magnitude(threshold, "MW", name="threshold"), "MW")
        put("hours_above_threshold_h", float(np.count_nonzero(above)) * prof.step_h, "h")
        put("longest_run_above_threshold_h", _longest_run(above) * prof.step_h, "h")
    if system_load is not None:
        sysp = _as_profile(system_load, name="system_load")
        fac, sysl = _align(prof, sysp)
        pos = _peak_positions(sysl, 1)
        put("contribution_to_system_peak_mw", float(fac[pos].mean()), "MW")
        put(
            "coincidence_factor",
            float(fac[pos].mean()) / _positive(float(fac.max()), "peak", name),
            "dimensionless",
        )
    return row


@check_units(threshold="MW", system_load="MW")
def load_statistics(
    profile: pd.Series | Mapping[str, pd.Series],
    *,
    ramp_windows: Iterable[str | pd.Timedelta] = ("1min", "15min"),
    threshold: pint.Quantity | None = None,
    system_load: pd.Series | None = None,
) -> pd.DataFrame:
    """Tidy table of planner statistics, one row per profile.

    Parameters
    ----------
    profile : pandas.Series or mapping of str to pandas.Series
        One power profile (row label: its name, or ``"profile"``) or several to
        compare, e.g. ``{"model": p_model, "tdp": p_tdp}`` (one row per key).
        Each with a declared power unit on a regular tz-aware index.
    ramp_windows : iterable of str or pandas.Timedelta, default ("1min", "15min")
        Ramp windows; each must be at least the profile step, a multiple of it,
        and the profile must cover at least 2 whole windows.
    threshold : pint.Quantity, optional
        Power threshold for the duration columns; omitted columns when None.
    system_load : pandas.Series, optional
        System load over the same period for the coincidence columns (see
        :func:`coincidence_factor`); omitted columns when None.

    Returns
    -------
    pandas.DataFrame, shape (n_profiles, n_columns)
        Index ``profile`` (names); float columns whose names end in their unit:

        - ``duration_h``, ``step_s``: span and step of the profile;
        - ``energy_mwh``; ``peak_mw``, ``mean_mw``, ``min_mw``;
        - ``load_factor`` (mean/peak), ``peak_to_average`` (peak/mean),
          ``cv`` (std/mean), dimensionless;
        - ``max_step_mw``: largest change between consecutive samples;
        - per window ``w`` (label ``1min``, ``15min``, ...), block ramps (change
          of the mean power between consecutive windows, MW per ``w``):
          ``max_ramp_up_mw_per_<w>``, ``max_ramp_down_mw_per_<w>`` (signed,
          negative = decrease), ``max_ramp_mw_per_<w>`` (absolute),
          ``p95_ramp_mw_per_<w>``, ``p99_ramp_mw_per_<w>`` (of absolute changes);
          sliding ramps ``p(t+w) - p(t)``: ``max_sliding_ramp_up_mw_per_<w>``,
          ``max_sliding_ramp_down_mw_per_<w>``;
        - with ``threshold``: ``threshold_mw``, ``hours_above_threshold_h``,
          ``longest_run_above_threshold_h``;
        - with ``system_load``: ``contribution_to_system_peak_mw``,
          ``coincidence_factor`` (single system peak interval).

        ``df.attrs["units"]`` maps each column to its unit (a pint unit string;
        ``"MW per <w>"`` for ramp columns).

    Raises
    ------
    gridlink.units.UnitError
        If a profile or ``system_load`` declares no/non-power unit, or
        ``threshold`` is not a power quantity.
    StatsError
        As the single statistics, naming the offending profile; also for an
        empty mapping.

    Examples
    --------
    >>> import pandas as pd
    >>> from gridlink.units import Q_, series_with_unit
    >>> idx = pd.date_range("2026-01-01", periods=4, freq="15min", tz="UTC")
    >>> p = series_with_unit(pd.Series([10.0, 20.0, 30.0, 20.0], index=idx), "MW")
    >>> df = load_statistics(p, ramp_windows=("15min",), threshold=Q_(15, "MW"))
    >>> df[["energy_mwh", "peak_mw", "load_factor", "hours_above_threshold_h"]].iloc[0].tolist()
    [20.0, 30.0, 0.6666666666666666, 0.75]
    """
    if isinstance(ramp_windows, str | pd.Timedelta):
        ramp_windows = (ramp_windows,)
    ramp_windows = tuple(ramp_windows)
    if isinstance(profile, Mapping):
        if not profile:
            raise StatsError("profile: the mapping of profiles is empty")
        items = [(str(k), v) for k, v in profile.items()]
    else:
        label = profile.name if isinstance(profile, pd.Series) and profile.name else "profile"
        items = [(str(label), profile)]
    units: dict[str, str] = {}
    rows = [
        _row(
            p,
            label=label,
            ramp_windows=ramp_windows,
            threshold=threshold,
            system_load=system_load,
            units=units,
        )
        for label, p in items
    ]
    df = pd.DataFrame(rows, index=pd.Index([k for k, _ in items], name="profile"))
    df.attrs["units"] = units
    logger.debug("load_statistics: %d profile(s), %d columns", len(df), df.shape[1])
    return df
