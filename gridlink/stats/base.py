"""What every statistic shares: :class:`StatsError`, the validated profile (plain MW on a
regular UTC grid) and window parsing.

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
