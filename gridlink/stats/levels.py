"""Level statistics of a PCC load profile: energy, peak, mean power, load factor,
peak-to-average, coefficient of variation, and how long the load stays above a threshold.

Definitions and references: :mod:`gridlink.stats` and ``docs/statistics.md``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pint

from gridlink.stats.base import Profile, _positive, as_profile
from gridlink.units import Q_, check_units, to_magnitude


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
    prof = as_profile(profile, name="profile")
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
    return Q_(float(as_profile(profile, name="profile").p_mw.max()), "MW")


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
    return Q_(float(as_profile(profile, name="profile").p_mw.mean()), "MW")


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
    prof = as_profile(profile, name="profile")
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
    prof = as_profile(profile, name="profile")
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
    prof = as_profile(profile, name="profile")
    mean = _positive(float(prof.p_mw.mean()), "mean", "profile")
    return Q_(float(prof.p_mw.std(ddof=0)) / mean, "dimensionless")


def _above(prof: Profile, threshold: pint.Quantity) -> np.ndarray:
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
    prof = as_profile(profile, name="profile")
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
    prof = as_profile(profile, name="profile")
    return Q_(_longest_run(_above(prof, threshold)) * prof.step_h, "h")


def _longest_run(mask: np.ndarray) -> int:
    """Length of the longest run of True in a boolean array (0 if none)."""
    if not mask.any():
        return 0
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())
