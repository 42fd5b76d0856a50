"""Ramp distribution of a large load over 1 s to 1 h windows (NERC LLTF quantities).

NERC's Large Loads Task Force asks planners to describe a large computational load
not by its peak alone but by how fast it changes: ramp rates over seconds to an
hour, and step changes [1]_; the Level 3 alert of May 2026 makes the dynamic
behaviour of computational loads (including customer-initiated load reductions in
seconds) a modelling requirement [2]_.  This module measures those changes on a
generated (or metered) PCC profile as one table over several windows (the changes
themselves are those of :func:`gridlink.stats.ramp_statistics`, from
:mod:`gridlink.stats.ramps`).

Definitions (a profile ``p`` on a regular step ``dt``, values in MW):

* ramp over window ``w`` (``method="sliding"``, default): ``dP(t) = p(t + w) - p(t)``
  for every sample ``t`` (``w`` a whole number of steps) -- every change over any
  window of length ``w`` starting at a sample, so no ramp hides across a block edge;
* ``method="block"``: the change of the time-weighted mean power between
  consecutive non-overlapping windows of length ``w`` aligned to the UTC epoch
  (what an interval meter sees; the same definition as
  :func:`gridlink.stats.ramp_statistics`);
* maximum up ``max(dP)`` and down ``min(dP)`` (signed, negative = decrease), and
  the 99th and 99.9th percentiles of ``|dP|`` (numpy's linear interpolation), all
  in MW per window and as a share of the profile's peak ``max(p)`` at its own step;
* the largest single step: ``max |p(t + dt) - p(t)|`` at the profile's own step;
* counts of ramps above a threshold: ``count(dP > h)`` and ``count(dP < -h)``
  for a user threshold ``h`` [MW] (no default figure is given by NERC or ERCOT for
  this; it is a user parameter).

A window shorter than the data's step cannot be measured and is refused (a 1 s
ramp needs data at 1 s or finer, e.g. the generator's 250 ms grid).

References
----------
.. [1] NERC Large Loads Task Force, *Characteristics and Risks of Emerging Large
   Loads*, white paper, July 2025 (ramp rates, step changes, load loss and
   ride-through of data-centre loads).
.. [2] NERC, *Level 3 Alert -- Essential Actions to Industry: Computational Load
   Modeling, Studies, Instrumentation, Commissioning, Operations, Protection, and
   Control*, issued May 4, 2026.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pint

from gridlink.stats.base import Profile, StatsError, as_profile, as_window, window_label
from gridlink.stats.ramps import RampMethod, _ramp_changes
from gridlink.units import Q_, check_units, to_magnitude

__all__ = [
    "DEFAULT_RAMP_WINDOWS",
    "RampWindow",
    "ramp_changes",
    "ramp_window",
    "ramp_distribution",
]

logger = logging.getLogger(__name__)

#: The windows of the interconnection study: 1 s, 10 s, 1 min, 10 min, 1 h.
DEFAULT_RAMP_WINDOWS: tuple[str, ...] = ("1s", "10s", "1min", "10min", "1h")


@dataclass(frozen=True)
class RampWindow:
    """Ramp distribution of a profile over one window.

    Attributes
    ----------
    window : pandas.Timedelta
        Window length ``w``.
    method : {"sliding", "block"}
        See the module docstring.
    n : int
        Number of ramps in the distribution.
    peak : pint.Quantity
        Peak of the profile at its own step [MW] (the base of the shares).
    max_up, max_down : pint.Quantity
        ``max(dP)`` and ``min(dP)`` [MW per window] (signed).
    p99, p999 : pint.Quantity
        99th and 99.9th percentile of ``|dP|`` [MW per window].
    threshold : pint.Quantity or None
        Threshold ``h`` of the counts [MW], or None.
    n_up_above, n_down_above : int or None
        ``count(dP > h)``, ``count(dP < -h)``; None without a threshold.
    """

    window: pd.Timedelta
    method: str
    n: int
    peak: pint.Quantity
    max_up: pint.Quantity
    max_down: pint.Quantity
    p99: pint.Quantity
    p999: pint.Quantity
    threshold: pint.Quantity | None = None
    n_up_above: int | None = None
    n_down_above: int | None = None

    def share_of_peak(self, value: pint.Quantity) -> float:
        """A change [MW] as a share of the peak (dimensionless, e.g. 0.02 = 2 %)."""
        return float((value / self.peak).to("dimensionless").magnitude)

    def as_row(self) -> dict[str, Any]:
        """Plain numbers for a table: MW columns, ``*_share_of_peak`` columns."""
        row: dict[str, Any] = {
            "window": window_label(self.window),
            "window_s": self.window.total_seconds(),
            "method": self.method,
            "n_ramps": self.n,
        }
        for key in ("max_up", "max_down", "p99", "p999"):
            q = getattr(self, key)
            row[f"{key}_mw"] = float(q.to("MW").magnitude)
            row[f"{key}_share_of_peak"] = self.share_of_peak(q)
        row["threshold_mw"] = (
            float(self.threshold.to("MW").magnitude) if self.threshold is not None else np.nan
        )
        row["n_up_above_threshold"] = self.n_up_above if self.n_up_above is not None else np.nan
        row["n_down_above_threshold"] = (
            self.n_down_above if self.n_down_above is not None else np.nan
        )
        return row


#: Units of the columns of :meth:`RampWindow.as_row` / :func:`ramp_distribution`.
RAMP_UNITS: dict[str, str] = {
    "window_s": "s",
    "n_ramps": "count",
    "max_up_mw": "MW per window",
    "max_down_mw": "MW per window",
    "p99_mw": "MW per window",
    "p999_mw": "MW per window",
    "max_up_share_of_peak": "share of peak per window",
    "max_down_share_of_peak": "share of peak per window",
    "p99_share_of_peak": "share of peak per window",
    "p999_share_of_peak": "share of peak per window",
    "threshold_mw": "MW",
    "n_up_above_threshold": "count",
    "n_down_above_threshold": "count",
}


def ramp_changes(
    profile: pd.Series, window: str | pd.Timedelta, *, method: RampMethod = "sliding"
) -> np.ndarray:
    """The signed ramps ``dP`` of a profile over one window.

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Power with a declared unit on a regular tz-aware index.
    window : str or pandas.Timedelta
        Window ``w``, at least the profile's step.
    method : {"sliding", "block"}
        See the module docstring.

    Returns
    -------
    numpy.ndarray, shape (T - w/dt,) for sliding, (T*dt/w - 1,) for block
        Changes [MW per window].

    Raises
    ------
    gridlink.units.UnitError
        As :func:`gridlink.stats.base.as_profile`.
    StatsError
        A window shorter than the data's resolution (or not a multiple of it for
        sliding ramps), a profile shorter than the window, partial blocks.
    """
    return _ramp_changes(as_profile(profile), as_window(window), method)


def _summarise(
    prof: Profile, w: pd.Timedelta, method: RampMethod, threshold_mw: float | None
) -> RampWindow:
    dp = _ramp_changes(prof, w, method)
    absdp = np.abs(dp)
    p99, p999 = np.percentile(absdp, [99.0, 99.9])
    return RampWindow(
        window=w,
        method=method,
        n=int(dp.size),
        peak=Q_(float(prof.p_mw.max()), "MW"),
        max_up=Q_(float(dp.max()), "MW"),
        max_down=Q_(float(dp.min()), "MW"),
        p99=Q_(float(p99), "MW"),
        p999=Q_(float(p999), "MW"),
        threshold=None if threshold_mw is None else Q_(threshold_mw, "MW"),
        n_up_above=None if threshold_mw is None else int(np.count_nonzero(dp > threshold_mw)),
        n_down_above=None if threshold_mw is None else int(np.count_nonzero(dp < -threshold_mw)),
    )


def _threshold(threshold: pint.Quantity | None) -> float | None:
    if threshold is None:
        return None
    value = float(to_magnitude(threshold, "MW", name="threshold"))
    if not np.isfinite(value) or value < 0:
        raise StatsError(f"threshold: expected a finite power >= 0, got {threshold}")
    return value


@check_units(threshold="MW")
def ramp_window(
    profile: pd.Series,
    window: str | pd.Timedelta,
    *,
    method: RampMethod = "sliding",
    threshold: pint.Quantity | None = None,
) -> RampWindow:
    """Ramp distribution over one window.

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Power with a declared unit on a regular tz-aware index.
    window : str or pandas.Timedelta
        Window ``w`` (``"1s"``, ``"10min"``...), at least the data's step.
    method : {"sliding", "block"}, default "sliding"
        See the module docstring.
    threshold : pint.Quantity, optional
        Power ``h`` for the counts ``count(dP > h)``, ``count(dP < -h)`` [power].

    Returns
    -------
    RampWindow

    Raises
    ------
    gridlink.units.UnitError
        Profile without a power unit; threshold a bare number or not a power.
    StatsError
        As :func:`ramp_changes`; a negative threshold.
    """
    return _summarise(as_profile(profile), as_window(window), method, _threshold(threshold))


@check_units(threshold="MW")
def ramp_distribution(
    profile: pd.Series,
    windows: Iterable[str | pd.Timedelta] = DEFAULT_RAMP_WINDOWS,
    *,
    method: RampMethod = "sliding",
    threshold: pint.Quantity | None = None,
) -> pd.DataFrame:
    """Ramp distribution per window, one row per window (the study's ramp table).

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Power with a declared unit on a regular tz-aware index.
    windows : iterable of str or pandas.Timedelta, default :data:`DEFAULT_RAMP_WINDOWS`
        Windows; every one must be at least the data's step (none is skipped
        silently: a window below the resolution raises).
    method : {"sliding", "block"}, default "sliding"
    threshold : pint.Quantity, optional
        Threshold of the step counts [power].

    Returns
    -------
    pandas.DataFrame, shape (n_windows, 16)
        Index ``window`` (label); the columns of :meth:`RampWindow.as_row`;
        ``df.attrs["units"]`` maps each numeric column to its unit and
        ``df.attrs["largest_step_mw"]`` holds :func:`gridlink.stats.max_step` [MW].

    Raises
    ------
    gridlink.units.UnitError, StatsError
        As :func:`ramp_window`.
    """
    prof = as_profile(profile)
    if isinstance(windows, str | pd.Timedelta):
        windows = (windows,)
    h = _threshold(threshold)
    rows = [_summarise(prof, as_window(w, name="windows"), method, h).as_row() for w in windows]
    if not rows:
        raise StatsError("windows: empty; give at least one window such as '1min'")
    df = pd.DataFrame(rows).set_index("window")
    df.attrs["units"] = dict(RAMP_UNITS)
    df.attrs["largest_step_mw"] = float(np.abs(np.diff(prof.p_mw)).max())
    df.attrs["step_s"] = prof.step_s
    logger.debug("ramp_distribution: %d windows over %d samples", len(df), prof.p_mw.size)
    return df
