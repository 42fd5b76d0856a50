"""Load-duration curve and hours above each level (the utility exceedance view).

The load-duration curve (LDC) sorts a period's load from the highest to the lowest
value; read against its horizontal axis it says for how many hours of the period the
load was at or above each level.  Utilities use it (and its inverse, the hours
above given levels) to size capacity and to judge how peaky a load is; NERC's Large
Loads Task Force lists load shape and duration among the characteristics planners
need from a large load [1]_.

Definitions (a profile ``p_1..p_T`` on a regular step ``dt`` [h], any resolution):

* LDC point ``k`` (``k = 1..T``): the ``k``-th largest value ``p_(k)`` and the
  duration ``k * dt`` [h]: the load is at or above ``p_(k)`` for at least ``k * dt``
  hours (exactly, unless ``p_(k)`` is tied with later values: then the last of the
  tied ranks gives the hours at or above it);
* hours above a level ``L``: ``count(p > L) * dt`` [h] (strictly above, the same
  convention as :func:`gridlink.stats.hours_above`).

References
----------
.. [1] NERC Large Loads Task Force, *Characteristics and Risks of Emerging Large
   Loads*, white paper, July 2025.
.. [2] T. Gönen, *Electric Power Distribution Engineering*, 3rd ed., CRC Press, 2014,
   ch. 2 (load-duration curve).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pint

from gridlink.stats.base import StatsError, as_profile
from gridlink.units import to_magnitude

__all__ = ["DEFAULT_SHARES", "load_duration_curve", "hours_above_levels"]

logger = logging.getLogger(__name__)

#: Levels of the default exceedance table, as shares of the peak.
DEFAULT_SHARES: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99)


def load_duration_curve(profile: pd.Series, *, max_points: int | None = None) -> pd.DataFrame:
    """The load-duration curve of a profile.

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Power with a declared unit on a regular tz-aware index, any step.
    max_points : int, optional
        Keep at most this many points of the curve (evenly spaced ranks, always
        the first and the last), for export and plotting of long 250 ms series.
        Every kept point is an exact point of the curve (nothing is averaged).

    Returns
    -------
    pandas.DataFrame, shape (T or max_points, 3)
        Columns ``rank`` (1 = highest), ``p_mw`` [MW] (non-increasing) and
        ``hours_at_or_above_h`` [h] (``rank * dt``); ``attrs["units"]`` has the units,
        ``attrs["step_s"]`` the step.

    Raises
    ------
    gridlink.units.UnitError
        Not a power Series with a declared unit.
    StatsError
        Naive or irregular index, non-finite values, ``max_points < 2``.
    """
    prof = as_profile(profile)
    sorted_mw = np.sort(prof.p_mw)[::-1]
    ranks = np.arange(1, sorted_mw.size + 1)
    if max_points is not None:
        if not isinstance(max_points, int | np.integer) or max_points < 2:
            raise StatsError(f"max_points: expected an integer >= 2, got {max_points!r}")
        if sorted_mw.size > max_points:
            keep = np.unique(
                np.linspace(0, sorted_mw.size - 1, int(max_points)).round().astype(int)
            )
            sorted_mw, ranks = sorted_mw[keep], ranks[keep]
    df = pd.DataFrame(
        {"rank": ranks, "p_mw": sorted_mw, "hours_at_or_above_h": ranks * prof.step_h}
    )
    df.attrs["units"] = {"rank": "count", "p_mw": "MW", "hours_at_or_above_h": "h"}
    df.attrs["step_s"] = prof.step_s
    return df


def hours_above_levels(
    profile: pd.Series,
    levels: pint.Quantity | None = None,
    *,
    shares_of_peak: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Hours the load is strictly above each level.

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Power with a declared unit on a regular tz-aware index, any step.
    levels : pint.Quantity, optional
        Levels [power], scalar or array, e.g. ``Q_([100, 200], "MW")``.
    shares_of_peak : sequence of float, optional
        Levels as shares of the profile's peak, each in ``[0, 1]``; default
        :data:`DEFAULT_SHARES` when ``levels`` is None too.

    Returns
    -------
    pandas.DataFrame, shape (n_levels, 4)
        Columns ``level_mw`` [MW], ``share_of_peak`` (level / peak), ``hours_above_h``
        (``count(p > level) * dt`` [h]) and ``fraction_of_time`` (hours above over the
        profile's span); ``attrs["units"]``.

    Raises
    ------
    gridlink.units.UnitError
        ``levels`` a bare number or not a power; profile as :func:`load_duration_curve`.
    StatsError
        A share outside ``[0, 1]``, both ``levels`` and ``shares_of_peak``, a
        non-positive peak with shares.
    """
    prof = as_profile(profile)
    peak = float(prof.p_mw.max())
    if levels is not None and shares_of_peak is not None:
        raise StatsError("levels, shares_of_peak: give one of them, not both")
    if levels is not None:
        lv = np.atleast_1d(np.asarray(to_magnitude(levels, "MW", name="levels"), dtype=float))
    else:
        shares = np.asarray(DEFAULT_SHARES if shares_of_peak is None else shares_of_peak, float)
        if shares.ndim != 1 or shares.size == 0:
            raise StatsError("shares_of_peak: expected a non-empty list of shares")
        bad = (shares < 0) | (shares > 1) | ~np.isfinite(shares)
        if bad.any():
            raise StatsError(
                f"shares_of_peak: {shares[bad].tolist()} outside [0, 1]; a share of the peak "
                "is a fraction such as 0.9 (90 %)"
            )
        if not peak > 0:
            raise StatsError(f"profile: peak is {peak} MW; shares need a positive peak")
        lv = shares * peak
    hours = np.array([np.count_nonzero(prof.p_mw > x) for x in lv], dtype=float) * prof.step_h
    span_h = prof.p_mw.size * prof.step_h
    df = pd.DataFrame(
        {
            "level_mw": lv,
            "share_of_peak": lv / peak if peak > 0 else np.nan,
            "hours_above_h": hours,
            "fraction_of_time": hours / span_h,
        }
    )
    df.attrs["units"] = {
        "level_mw": "MW",
        "share_of_peak": "dimensionless",
        "hours_above_h": "h",
        "fraction_of_time": "dimensionless",
    }
    return df
