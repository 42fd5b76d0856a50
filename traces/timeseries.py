"""Energy-preserving resampling of power profiles, with explicit time zones (plain pandas).

A power profile sampled on a regular grid is read as a *step function*: the
sample stamped ``t`` is the mean power over ``[t, t + step)`` (interval-beginning
labels, the convention of the 250 ms generator and of utility interval meters).
Resampling to a coarser step (250 ms -> 1 min -> 15 min -> 1 h) returns, for
each target interval, the time-weighted mean power over that interval, so the
energy ``sum(p * dt)`` of every whole target interval equals the energy of the
source samples inside it.  Resampling to a finer step holds each source value
(step-hold), which preserves energy too.  A source step that does not divide
the target step is handled exactly: a source sample straddling a target
boundary contributes to each side in proportion to the time it spends there.

Time zones are never guessed: a naive index raises unless ``tz=`` names the
zone its wall-clock times are in; results are always in UTC.

Partial intervals are refused.  When the profile does not start and end on
boundaries of the target grid, the first or last target interval would be only
partly covered; rather than dropping it or averaging over part of it, the call
raises :class:`ResampleError` saying which interval is partial and by how much,
so the caller trims (``series[start:end]``) or extends the profile knowingly.

Target intervals are fixed durations aligned to the Unix epoch in UTC (so a
``"1h"`` interval starts on a UTC hour, a ``"15min"`` interval on a UTC quarter
hour).  For zones whose UTC offset is a whole number of hours (all of Europe and
the contiguous US) this is the local clock hour as well, in winter and summer.
Calendar frequencies (``"D"``, ``"W"``, ``"MS"``) are refused: a local day is 23,
24 or 25 hours long across daylight-saving changes; resample to ``"1h"`` and
group by local date instead.

This module has no unit checks (it is shared by the generator, which knows its series are
in W / kW): :func:`gridlink.resample.resample_energy` wraps :func:`resample_energy` and
first checks with pint that the series declares a unit of power.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

__all__ = ["ResampleError", "infer_step", "resample_energy"]

logger = logging.getLogger(__name__)


class ResampleError(ValueError):
    """A profile cannot be resampled as asked (index, time zone, frequency, coverage)."""


def _check_datetime_index(index: Any, *, name: str) -> pd.DatetimeIndex:
    if not isinstance(index, pd.DatetimeIndex):
        raise ResampleError(
            f"{name}: expected a pandas DatetimeIndex, got {type(index).__name__}; "
            "set one with series.index = pd.DatetimeIndex(...)"
        )
    return index


def infer_step(index: pd.DatetimeIndex) -> pd.Timedelta:
    """Infer the regular time step of a DatetimeIndex.

    Parameters
    ----------
    index : pandas.DatetimeIndex, shape (T,)
        Strictly increasing, regularly spaced times, ``T >= 2`` (or ``T == 1``
        with a fixed ``index.freq``, as :func:`resample_energy` sets).  For a
        tz-aware index the step is measured in absolute (UTC) time, so a regular
        profile in a local zone stays regular across a daylight-saving change.

    Returns
    -------
    pandas.Timedelta
        The common difference between consecutive times [time].

    Raises
    ------
    ResampleError
        If ``index`` is not a DatetimeIndex, has fewer than 2 entries, or is not
        strictly increasing and regular; the message gives the position ``i`` and
        the times ``index[i-1]``, ``index[i]`` of the first irregular step.
    """
    index = _check_datetime_index(index, name="index")
    if len(index) == 1 and isinstance(index.freq, pd.offsets.Tick):
        if not isinstance(index.freq, pd.offsets.Day):
            return pd.Timedelta(index.freq.nanos, unit="ns")
    if len(index) < 2:
        raise ResampleError(
            f"index: need at least 2 timestamps to infer a step, got {len(index)}; "
            "pass a longer profile"
        )
    ns = index.as_unit("ns").asi8
    diffs = np.diff(ns)
    step = int(diffs[0])
    if step <= 0:
        raise ResampleError(
            f"index: timestamps must be strictly increasing; at position 1 "
            f"{index[1]} follows {index[0]}; sort and de-duplicate the index first"
        )
    bad = np.flatnonzero(diffs != step)
    if bad.size:
        i = int(bad[0]) + 1
        got = pd.Timedelta(int(diffs[i - 1]), unit="ns")
        raise ResampleError(
            f"index: irregular step at position {i}: {index[i - 1]} -> {index[i]} is {got}, "
            f"but the step before is {pd.Timedelta(step, unit='ns')}; "
            f"{bad.size} irregular step(s) in all. Fill or remove the gap explicitly "
            "before resampling (nothing is interpolated here)"
        )
    return pd.Timedelta(step, unit="ns")


def _parse_freq(freq: Any) -> int:
    """Return the target step in integer nanoseconds, refusing calendar frequencies."""
    if isinstance(freq, pd.Timedelta):
        nanos = int(freq.value)
    else:
        try:
            offset = to_offset(freq)
        except (ValueError, TypeError) as exc:
            raise ResampleError(
                f"freq: cannot read {freq!r} as a frequency; use e.g. '250ms', '1min', '15min', '1h'"
            ) from exc
        if isinstance(offset, pd.offsets.Day):
            raise ResampleError(
                f"freq: {freq!r} is a calendar day, which lasts 23, 24 or 25 h across "
                "daylight-saving changes; use '24h' for fixed 24-hour UTC intervals, or "
                "resample to '1h' and group by local date"
            )
        if not isinstance(offset, pd.offsets.Tick):
            raise ResampleError(
                f"freq: {freq!r} is not a fixed duration; use a fixed step such as "
                "'1min', '15min' or '1h' (calendar periods vary in length)"
            )
        nanos = int(offset.nanos)
    if nanos <= 0:
        raise ResampleError(f"freq: must be a positive duration, got {freq!r}")
    return nanos


def _to_utc(index: pd.DatetimeIndex, tz: Any) -> pd.DatetimeIndex:
    if index.tz is None:
        if tz is None:
            raise ResampleError(
                "series: the index is naive (no time zone); pass tz= with the zone its "
                "wall-clock times are in (e.g. tz='UTC' or tz='Europe/Berlin'), or "
                "localise it with series.tz_localize(...)"
            )
        try:
            index = index.tz_localize(tz, ambiguous="raise", nonexistent="raise")
        except Exception as exc:  # pytz/zoneinfo raise several exception types
            raise ResampleError(
                f"tz: cannot localise the naive index to {tz!r}: {exc}. Ambiguous (repeated) "
                "or nonexistent (skipped) wall-clock times occur at daylight-saving changes; "
                "localise explicitly with series.tz_localize(tz, ambiguous=..., "
                "nonexistent=...) or supply UTC times"
            ) from exc
    elif tz is not None and str(index.tz) != str(pd.Timestamp(0, tz=tz).tz):
        raise ResampleError(
            f"tz: the index is already tz-aware ({index.tz}); tz={tz!r} is only for naive "
            "indexes. Drop tz= or convert with series.tz_convert(...)"
        )
    return index.tz_convert("UTC")


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
        Values must be finite; the unit is not checked here (any unit of power,
        carried through in ``attrs``; :func:`gridlink.resample.resample_energy`
        checks it).
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
        ``attrs`` and name are the input's.

    Raises
    ------
    ResampleError
        If the index is naive and ``tz`` is None; localisation hits an ambiguous
        or nonexistent time; the index is irregular or not increasing (the
        message gives the position); ``freq`` is not a fixed duration; values are
        not finite; or the profile does not start and end on boundaries of the
        ``freq`` grid (a partial first/last interval is refused, not dropped).

    Notes
    -----
    With ``E(t)`` the cumulative energy of the step function, the output over
    ``[a, b)`` is ``(E(b) - E(a)) / (b - a)``.  When every target boundary falls
    on a source sample boundary (``freq`` a multiple of the step), this is the
    plain mean of the source samples in the interval, computed with
    ``numpy.add.reduceat``.  Reporting intervals follow utility interval
    metering practice (e.g. 15-minute demand intervals, interval-beginning).

    Examples
    --------
    >>> import pandas as pd
    >>> idx = pd.date_range("2026-01-01", periods=4, freq="15min", tz="UTC")
    >>> p = pd.Series([1.0, 2.0, 3.0, 6.0], index=idx, name="p_mw")
    >>> resample_energy(p, "1h").tolist()
    [3.0]
    """
    index = _to_utc(_check_datetime_index(series.index, name="series.index"), tz)
    step = int(infer_step(index).value)
    target = _parse_freq(freq)

    values = series.to_numpy(dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise ResampleError(
            f"series: {np.count_nonzero(~finite)} non-finite value(s), first at position {i} "
            f"({index[i]}: {values[i]}); fill or remove them explicitly before resampling"
        )

    ns = index.as_unit("ns").asi8
    start, end = int(ns[0]), int(ns[-1]) + step
    for label, edge in (("start", start), ("end", end)):
        offset = edge % target
        if offset:
            boundary = pd.Timestamp(edge - offset, unit="ns", tz="UTC")
            if label == "start":
                detail = (
                    f"the profile starts at {pd.Timestamp(start, unit='ns', tz='UTC')}, "
                    f"{pd.Timedelta(offset, unit='ns')} into the interval starting {boundary}"
                )
            else:
                detail = (
                    f"the profile ends at {pd.Timestamp(end, unit='ns', tz='UTC')} (last "
                    f"sample + step), {pd.Timedelta(offset, unit='ns')} into the interval "
                    f"starting {boundary}"
                )
            raise ResampleError(
                f"series: partial {'first' if label == 'start' else 'last'} interval for "
                f"freq={freq!r}: {detail}. Partial intervals are refused rather than dropped "
                "or averaged over part of their length; trim the profile to whole intervals "
                "(e.g. series[first_boundary:]) or extend it"
            )

    # Integer arithmetic only: np.arange(start, end + 1, target) sizes its output in
    # float64, which loses the last edge for epoch-nanosecond values (~1.7e18).
    edges = start + target * np.arange((end - start) // target + 1, dtype=np.int64)  # (M + 1,)
    rel = edges - start
    k = rel // step  # sample holding each edge
    frac = (rel % step) / step  # fraction of that sample before the edge
    if not frac.any() and np.all(np.diff(k) > 0):
        # Every boundary is a sample boundary and each interval holds >= 1 sample.
        sums = np.add.reduceat(values, k[:-1])
        mean = sums / np.diff(k)
    else:
        # Exact step-function integral: E(edge) = S[k] + frac * values[k].
        prefix = np.concatenate(([0.0], np.cumsum(values)))
        padded = np.concatenate((values, [0.0]))  # k == T at the end edge, frac == 0
        cum = prefix[k] + frac * padded[k]  # in units of (value * step)
        mean = np.diff(cum) * (step / target)

    out_index = pd.DatetimeIndex(
        pd.to_datetime(edges[:-1], unit="ns", utc=True), freq=pd.Timedelta(target, unit="ns")
    )
    out = pd.Series(mean, index=out_index, name=series.name)
    out.attrs = dict(series.attrs)
    logger.debug(
        "resampled %d samples at %s to %d intervals of %s",
        values.size,
        pd.Timedelta(step, unit="ns"),
        out.size,
        pd.Timedelta(target, unit="ns"),
    )
    return out
