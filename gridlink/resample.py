"""Energy-preserving resampling of power profiles, with explicit time zones.

The resampling itself lives in :mod:`traces.timeseries` (plain pandas, shared with the
generator, so that ``traces`` needs nothing of ``gridlink``); its docstring states the
conventions: samples are interval-beginning step functions, coarser steps are
time-weighted means so every whole target interval keeps its energy, finer steps hold,
naive indexes raise unless ``tz=`` names their zone, results are in UTC, partial intervals
and calendar frequencies are refused, and intervals align to the Unix epoch in UTC.

This module adds the unit check of the bridge's public boundary: the series must declare
a unit of power (pint).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from gridlink.units import check_dimension, declared_unit
from traces import timeseries as _timeseries
from traces.timeseries import ResampleError, infer_step

__all__ = ["ResampleError", "infer_step", "resample_energy"]


def resample_energy(series: pd.Series, freq: str | pd.Timedelta, *, tz: Any = None) -> pd.Series:
    """Resample a power profile to ``freq`` preserving energy.

    Each output value is the time-weighted mean power over its interval
    ``[t, t + freq)``; going to a finer step the source value is held.  For every
    whole target interval ``p_out * freq == sum(p_in * dt)`` over the source
    samples (or parts of samples) inside it, so total energy is conserved.

    Parameters
    ----------
    series : pandas.Series, shape (T,)
        Power profile on a regular DatetimeIndex (``T >= 2``), interval-beginning
        labels: the value at ``t`` is the mean power over ``[t, t + step)``.
        Must declare a unit of power (``attrs["unit"]``, e.g. ``"MW"``, or a
        ``_mw``/``_kw``/``_w`` name suffix).  Values must be finite.
    freq : str or pandas.Timedelta
        Target step, a fixed duration: ``"250ms"``, ``"1min"``, ``"15min"``,
        ``"1h"``, ``"24h"``.  Calendar frequencies (``"D"``, ``"W"``, ``"MS"``)
        are refused.
    tz : str or tzinfo, optional
        Zone of a *naive* index's wall-clock times; the index is localised with
        ``ambiguous="raise", nonexistent="raise"``.  Must be omitted (or equal
        the index's zone) for a tz-aware index.

    Returns
    -------
    pandas.Series, shape (M,)
        Time-weighted mean power per target interval [same unit as ``series``],
        on a UTC DatetimeIndex of interval starts with ``index.freq == freq``;
        ``attrs["unit"]`` is the input's unit, the name is the input's name.

    Raises
    ------
    gridlink.units.UnitError
        If ``series`` declares no unit, or a unit that is not a power
        (e.g. ``"MWh"``, ``"W/m^2"``, dimensionless).
    ResampleError
        If the index is naive and ``tz`` is None; localisation hits an ambiguous
        or nonexistent time; the index is irregular or not increasing (the
        message gives the position); ``freq`` is not a fixed duration; values are
        not finite; or the profile does not start and end on boundaries of the
        ``freq`` grid (a partial first/last interval is refused, not dropped).

    Notes
    -----
    The method and its conventions are those of
    :func:`traces.timeseries.resample_energy`, which this wraps.

    Examples
    --------
    >>> import pandas as pd
    >>> from gridlink.units import series_with_unit
    >>> idx = pd.date_range("2026-01-01", periods=4, freq="15min", tz="UTC")
    >>> p = series_with_unit(pd.Series([1.0, 2.0, 3.0, 6.0], index=idx), "MW")
    >>> resample_energy(p, "1h").tolist()
    [3.0]
    """
    unit = declared_unit(series, name="series")
    check_dimension(unit, "MW", name="series")
    out = _timeseries.resample_energy(series, freq, tz=tz)
    out.attrs["unit"] = unit
    return out
