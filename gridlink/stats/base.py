"""What every statistic shares: :class:`StatsError`, the validated profile (plain MW on a
regular UTC grid, :func:`as_profile`) and window parsing (:func:`as_window`).

The conventions (declared units, interval-beginning labels) are in :mod:`gridlink.stats`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pint

from gridlink.resample import ResampleError, infer_step
from gridlink.units import Q_, UnitError, check_dimension, declared_unit, to_magnitude


class StatsError(ValueError):
    """A profile or option cannot give the requested statistic."""


# --------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Profile:
    """A validated profile: plain float MW values on a regular UTC grid.

    Built by :func:`as_profile`; shared by every statistic here and by the studies
    (:mod:`gridlink.studies.interconnection`).

    Attributes
    ----------
    p_mw : numpy.ndarray, shape (T,)
        Power [MW], float64, finite.
    index : pandas.DatetimeIndex, shape (T,)
        UTC interval starts.
    step : pandas.Timedelta
        The regular step of ``index``.
    """

    p_mw: np.ndarray
    index: pd.DatetimeIndex
    step: pd.Timedelta

    @property
    def step_s(self) -> float:
        """Step [s]."""
        return self.step.total_seconds()

    @property
    def step_h(self) -> float:
        """Step [h]."""
        return self.step.total_seconds() / 3600.0

    def series(self) -> pd.Series:
        """The profile as a ``p_mw`` Series with ``attrs["unit"] == "MW"``."""
        out = pd.Series(self.p_mw, index=self.index, name="p_mw")
        out.attrs["unit"] = "MW"
        return out


def as_profile(profile: Any, *, name: str = "profile") -> Profile:
    """Validate a power profile and convert it to plain MW floats on a UTC index.

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Power with a declared unit (``attrs["unit"]`` or a ``_mw``/``_kw``/``_w``
        name) on a regular tz-aware DatetimeIndex.
    name : str, default "profile"
        Argument name for error messages.

    Returns
    -------
    Profile

    Raises
    ------
    gridlink.units.UnitError
        Not a Series, no declared unit, or not a unit of power.
    StatsError
        Not a DatetimeIndex, a naive or irregular index, or non-finite values.
    """
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
    return Profile(p_mw=p_mw, index=index.tz_convert("UTC"), step=step)


def as_window(window: Any, *, name: str = "window") -> pd.Timedelta:
    """Read a positive duration: ``"15min"``, a :class:`pandas.Timedelta` or a pint time.

    Raises
    ------
    gridlink.units.UnitError
        A pint quantity that is not a time.
    StatsError
        Not readable as a duration, or not positive.
    """
    if isinstance(window, pint.Quantity):
        window = pd.Timedelta(seconds=float(to_magnitude(window, "s", name=name)))
    try:
        td = pd.Timedelta(window)
    except (ValueError, TypeError) as exc:
        raise StatsError(
            f"{name}: cannot read {window!r} as a duration; use e.g. '10s', '15min', '1h'"
        ) from exc
    if td <= pd.Timedelta(0):
        raise StatsError(f"{name}: must be a positive duration, got {window!r}")
    return td


def window_label(window: Any) -> str:
    """Short label of a duration for column names: ``15min``, ``1min``, ``1h``, ``30s``.

    Parameters
    ----------
    window : str, pandas.Timedelta or pint.Quantity
        A positive duration (as :func:`as_window`).

    Returns
    -------
    str
        Whole hours as ``"<n>h"``, else whole minutes as ``"<n>min"``, else whole
        seconds as ``"<n>s"``, else milliseconds as ``"<n>ms"``.
    """
    ns = int(as_window(window).value)
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
