"""Validation shared by the interconnection statistics (ramps, duration, spectrum).

A profile enters as a :class:`pandas.Series` of power on a regular tz-aware
:class:`~pandas.DatetimeIndex` that declares its unit (``attrs["unit"]`` or a
``_mw``/``_kw``/``_w`` name suffix), the convention of :mod:`gridlink.stats`
(interval-beginning labels: the value at ``t`` is the mean power over
``[t, t + step)``).  It is converted once to plain float64 MW here.

Only :mod:`gridlink.units`, :mod:`gridlink.resample`, numpy and pandas are imported,
so that this module (and the statistics built on it) can move under
``gridlink/stats/`` unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pint

from gridlink.resample import ResampleError, infer_step
from gridlink.units import Q_, UnitError, check_dimension, declared_unit, to_magnitude

__all__ = ["InterconnectionError", "Profile", "as_profile", "as_window", "window_label"]


class InterconnectionError(ValueError):
    """An input to the interconnection study is invalid; the message names the field."""


@dataclass(frozen=True)
class Profile:
    """A validated profile: plain float MW values on a regular UTC grid.

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
    """Validate a power profile and convert it to MW floats on a UTC index.

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Power with a declared unit on a regular tz-aware DatetimeIndex, ``T >= 2``.
    name : str
        Argument name for error messages.

    Returns
    -------
    Profile

    Raises
    ------
    gridlink.units.UnitError
        Not a Series, no declared unit, or not a unit of power.
    InterconnectionError
        Naive, irregular or too short an index, or non-finite values.
    """
    if not isinstance(profile, pd.Series):
        raise UnitError(
            f"{name}: expected a pandas Series of power with a tz-aware DatetimeIndex and a "
            f"declared unit, got {type(profile).__name__}; build one with "
            "gridlink.units.series_with_unit(pd.Series(values, index=utc_index), 'MW')"
        )
    unit = declared_unit(profile, name=name)
    check_dimension(unit, "MW", name=name)
    index = profile.index
    if not isinstance(index, pd.DatetimeIndex):
        raise InterconnectionError(f"{name}: expected a DatetimeIndex, got {type(index).__name__}")
    if index.tz is None:
        raise InterconnectionError(
            f"{name}: the index is naive (no time zone); localise it first, e.g. "
            "series.tz_localize('UTC')"
        )
    try:
        step = infer_step(index)
    except ResampleError as exc:
        raise InterconnectionError(f"{name}: {exc}") from exc
    factor = to_magnitude(Q_(1.0, unit), "MW", name=name)
    p_mw = profile.to_numpy(dtype=np.float64) * factor
    bad = ~np.isfinite(p_mw)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InterconnectionError(
            f"{name}: {int(bad.sum())} non-finite value(s), first at position {i} "
            f"({index[i]}); fill or remove them explicitly"
        )
    return Profile(p_mw=p_mw, index=index.tz_convert("UTC"), step=step)


def as_window(window: Any, *, name: str = "window") -> pd.Timedelta:
    """Read a positive duration (``"10s"``, ``pd.Timedelta``, or a pint time quantity)."""
    if isinstance(window, pint.Quantity):
        window = pd.Timedelta(seconds=float(to_magnitude(window, "s", name=name)))
    try:
        td = pd.Timedelta(window)
    except (ValueError, TypeError) as exc:
        raise InterconnectionError(
            f"{name}: cannot read {window!r} as a duration; use e.g. '10s', '1min', '1h'"
        ) from exc
    if td <= pd.Timedelta(0):
        raise InterconnectionError(f"{name}: must be a positive duration, got {window!r}")
    return td


def window_label(window: Any) -> str:
    """Short label of a duration: ``1h``, ``10min``, ``1s``, ``250ms`` (for column names)."""
    ns = int(as_window(window).value)
    for unit_ns, suffix in ((3_600_000_000_000, "h"), (60_000_000_000, "min"), (10**9, "s")):
        if ns % unit_ns == 0:
            return f"{ns // unit_ns}{suffix}"
    if ns % 10**6 == 0:
        return f"{ns // 10**6}ms"
    return f"{ns}ns"
