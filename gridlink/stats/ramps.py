"""Ramps and steps of a PCC load profile: the largest step between samples and ramp-rate
distributions over a window (block and sliding), as NERC's Large Loads Task Force asks.

Definitions and references: :mod:`gridlink.stats` and ``docs/statistics.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pint

from gridlink.resample import ResampleError, resample_energy
from gridlink.stats.base import Profile, StatsError, as_profile, as_window, window_label
from gridlink.units import Q_

RampMethod = Literal["block", "sliding"]


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
    prof = as_profile(profile, name="profile")
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


def _ramp_changes(prof: Profile, window: pd.Timedelta, method: RampMethod) -> np.ndarray:
    if window < prof.step:
        raise StatsError(
            f"window: {window_label(window)} is shorter than the profile step "
            f"{window_label(prof.step)} (the data's resolution); ramps over a window finer "
            "than the data cannot be measured. Use a window that is a multiple of the step, "
            "or a finer profile (the generator's 250 ms PCC series)"
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
                f"{window_label(prof.step)}; sliding ramps need a whole number of samples"
            )
        if prof.p_mw.size <= lag:
            raise StatsError(
                f"profile: {prof.p_mw.size} samples of {window_label(prof.step)} do not span "
                f"one window of {window_label(window)} plus a sample; pass a longer profile "
                "or drop the window"
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
    prof = as_profile(profile, name="profile")
    w = as_window(window)
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
