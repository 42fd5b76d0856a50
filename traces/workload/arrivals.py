"""Arrival processes: Poisson, gamma renewal, a time-varying rate, an Azure replay (§2.1, §3.3).

Each returns a :class:`~traces.workload.schedule.RequestSchedule` whose token counts are
drawn from a :class:`~traces.workload.schedule.TokenDistribution`:

* a homogeneous Poisson process (:func:`poisson`), the arrival model of the paper's
  measurement corpus (vLLM ``benchmark_serving --request-rate``);
* a gamma renewal process (:func:`gamma_renewal`) with vLLM's ``--burstiness`` (gamma
  shape; 1.0 is Poisson, larger is smoother, smaller is burstier);
* a time-varying rate lambda(t) (:func:`rate_function`, non-homogeneous Poisson), e.g. a
  diurnal profile;
* a replay of the Azure LLM inference trace (:func:`replay_azure`), optionally thinned
  to a lower mean rate (data: :mod:`traces.workload.azure`).
"""

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from traces.workload.azure import _azure_frame
from traces.workload.base import (
    DEFAULT_START,
    RngLike,
    ScheduleError,
    _as_utc,
    _check_positive,
    _rng,
)
from traces.workload.schedule import RequestSchedule, TokenDistribution, _check_tokens

logger = logging.getLogger(__name__)

__all__ = ["poisson", "gamma_renewal", "rate_function", "replay_azure"]

# --------------------------------------------------------------------------- processes


def poisson(
    rate_per_s: float,
    duration_s: float,
    tokens: TokenDistribution,
    *,
    start: pd.Timestamp | str = DEFAULT_START,
    rng: RngLike = None,
) -> RequestSchedule:
    """Homogeneous Poisson arrivals (the paper's benchmark load, §3.1).

    Draws ``N ~ Poisson(rate_per_s * duration_s)`` and places the N arrivals i.i.d.
    uniformly on ``[0, duration_s)`` (sorted), which is exactly a Poisson process
    conditioned on its count; tokens are drawn from ``tokens``.

    Parameters
    ----------
    rate_per_s : float
        Mean arrival rate lambda [req/s], >= 0 (0 gives an empty schedule).
    duration_s : float
        Horizon [s], > 0.
    tokens : TokenDistribution
        Joint (n_in, n_out) table to sample from.
    start : pandas.Timestamp or str, optional
        tz-aware start; default :data:`DEFAULT_START`.
    rng : numpy.random.Generator, int or None
        Random source; the same seed gives the same schedule.

    Returns
    -------
    RequestSchedule

    Raises
    ------
    ScheduleError
        Negative/non-finite rate, non-positive duration, wrong ``tokens`` type.
    """
    rate = _check_positive(rate_per_s, name="rate_per_s", allow_zero=True)
    dur = _check_positive(duration_s, name="duration_s")
    tok = _check_tokens(tokens)
    gen = _rng(rng)
    n = int(gen.poisson(rate * dur))
    arrival = np.sort(gen.uniform(0.0, dur, size=n))
    n_in, n_out = tok.sample(n, rng=gen)
    return RequestSchedule(arrival, n_in, n_out, _as_utc(start, name="start"), dur)


def gamma_renewal(
    rate_per_s: float,
    burstiness: float,
    duration_s: float,
    tokens: TokenDistribution,
    *,
    start: pd.Timestamp | str = DEFAULT_START,
    rng: RngLike = None,
) -> RequestSchedule:
    """Gamma renewal arrivals, vLLM ``benchmark_serving --burstiness`` semantics.

    Inter-arrival times are i.i.d. ``Gamma(shape=burstiness, scale=1/(rate_per_s *
    burstiness))``: mean ``1/rate_per_s`` [s], coefficient of variation
    ``1/sqrt(burstiness)``.  ``burstiness = 1`` is a Poisson process; > 1 is smoother
    (the measured "smooth" A100 run used 4.0), < 1 burstier.  The process is an
    ordinary renewal process started at 0: the first arrival is at the first
    inter-arrival time.

    Parameters
    ----------
    rate_per_s : float
        Mean arrival rate [req/s], > 0.
    burstiness : float
        Gamma shape k, > 0.
    duration_s : float
        Horizon [s], > 0; arrivals in ``[0, duration_s)`` are kept.
    tokens, start, rng
        As in :func:`poisson`.

    Returns
    -------
    RequestSchedule

    Raises
    ------
    ScheduleError
        Non-positive rate, burstiness or duration.
    """
    rate = _check_positive(rate_per_s, name="rate_per_s")
    k = _check_positive(burstiness, name="burstiness")
    dur = _check_positive(duration_s, name="duration_s")
    tok = _check_tokens(tokens)
    gen = _rng(rng)
    scale = 1.0 / (rate * k)
    expected = rate * dur
    chunks: list[np.ndarray] = []
    t_last = 0.0
    while t_last < dur:
        size = int(expected + 10.0 * np.sqrt(expected + 1.0) + 16)
        gaps = gen.gamma(shape=k, scale=scale, size=size)
        times = t_last + np.cumsum(gaps)
        chunks.append(times)
        t_last = float(times[-1])
    arrival = np.concatenate(chunks)
    arrival = arrival[arrival < dur]
    n_in, n_out = tok.sample(len(arrival), rng=gen)
    return RequestSchedule(arrival, n_in, n_out, _as_utc(start, name="start"), dur)


def _series_rate(rate: pd.Series, start: pd.Timestamp | None, dur: float | None):
    """Piecewise-constant rate from a Series -> (start, edges_s, rates_per_s)."""
    if len(rate) == 0:
        raise ScheduleError("rate_per_s: the rate Series is empty")
    values = rate.to_numpy(dtype=np.float64)
    if isinstance(rate.index, pd.DatetimeIndex):
        if rate.index.tz is None:
            raise ScheduleError("rate_per_s: the Series index is naive; localise it to UTC")
        idx = rate.index.tz_convert("UTC")
        t0 = _as_utc(start, name="start") if start is not None else idx[0]
        knots = (idx - t0).total_seconds().to_numpy(dtype=np.float64)
    elif pd.api.types.is_numeric_dtype(rate.index):
        t0 = _as_utc(start if start is not None else DEFAULT_START, name="start")
        knots = rate.index.to_numpy(dtype=np.float64)
    else:
        raise ScheduleError(
            "rate_per_s: a Series needs a tz-aware DatetimeIndex or a numeric index in "
            f"seconds after start, got {type(rate.index).__name__}"
        )
    if len(knots) > 1 and np.any(np.diff(knots) <= 0):
        raise ScheduleError("rate_per_s: the Series index must be strictly increasing")
    if knots[0] > 0:
        raise ScheduleError(
            f"rate_per_s: the Series starts {knots[0]} s after start; it must cover the "
            f"whole horizon from start"
        )
    if dur is None:
        if len(knots) < 2:
            raise ScheduleError("rate_per_s: give duration_s for a one-value Series")
        step = float(np.median(np.diff(knots)))
        dur = float(knots[-1] + step)
        logger.info("rate_function: duration_s taken as the Series' end + one step = %g s", dur)
    edges = np.append(knots, np.inf)
    return t0, edges, values, dur


def rate_function(
    rate_per_s: Callable[[np.ndarray], np.ndarray] | pd.Series,
    duration_s: float | None,
    tokens: TokenDistribution,
    *,
    start: pd.Timestamp | str | None = None,
    rate_max_per_s: float | None = None,
    rng: RngLike = None,
) -> RequestSchedule:
    """Non-homogeneous Poisson arrivals with a time-varying rate lambda(t).

    * ``pd.Series``: a piecewise-constant rate; the value at index i holds from that time
      until the next index.  Each piece is an exact homogeneous Poisson process (count
      ``~ Poisson(lambda_i * length_i)``, uniform positions).
    * callable ``f(t_s) -> rate``: vectorised over a float array of seconds after
      ``start``.  Generated by thinning (Lewis & Shedler 1979): candidates from a Poisson
      process of rate ``rate_max_per_s``, each kept with probability
      ``f(t)/rate_max_per_s``.

    Parameters
    ----------
    rate_per_s : callable or pandas.Series
        lambda(t) [req/s], >= 0.  A Series has a tz-aware DatetimeIndex (relative to
        ``start``; default ``start`` = its first index) or a numeric index in seconds
        after ``start``; it must begin at or before ``start``.
    duration_s : float or None
        Horizon [s]. ``None`` only for a Series: its last index plus one median step.
    tokens : TokenDistribution
        Joint (n_in, n_out) table.
    start : pandas.Timestamp or str, optional
        tz-aware start; default the Series' first time, else :data:`DEFAULT_START`.
    rate_max_per_s : float, optional
        Upper bound of a callable rate on ``[0, duration_s)`` [req/s]. Default: the
        maximum of ``f`` on a grid of 100,001 points times 1.05; candidates where ``f``
        exceeds the bound raise (the bound was wrong), nothing is clipped.
    rng : numpy.random.Generator, int or None

    Returns
    -------
    RequestSchedule

    Raises
    ------
    ScheduleError
        Negative or non-finite rates, a bound exceeded, a Series that does not cover the
        horizon.

    Examples
    --------
    A diurnal profile, peak 3 req/s at 15:00 UTC, trough 1 req/s:

    >>> tok = TokenDistribution.constant(512, 128)
    >>> f = lambda t: 2.0 + np.cos(2 * np.pi * (t / 3600.0 - 15.0) / 24.0)
    >>> s = rate_function(f, 86400.0, tok, start="2024-05-16T00:00Z", rng=0)
    """
    tok = _check_tokens(tokens)
    gen = _rng(rng)
    if isinstance(rate_per_s, pd.Series):
        t0, edges, values, dur = _series_rate(rate_per_s, start, duration_s)
        dur = _check_positive(dur, name="duration_s")
        if np.any(~np.isfinite(values) | (values < 0)):
            raise ScheduleError("rate_per_s: the Series has negative or non-finite rates")
        lo = np.clip(edges[:-1], 0.0, dur)
        hi = np.clip(edges[1:], 0.0, dur)
        lengths = hi - lo
        counts = gen.poisson(values * lengths)
        arrival = np.sort(
            np.repeat(lo, counts) + gen.random(counts.sum()) * np.repeat(lengths, counts)
        )
    elif callable(rate_per_s):
        if duration_s is None:
            raise ScheduleError("duration_s: required when rate_per_s is a callable")
        dur = _check_positive(duration_s, name="duration_s")
        t0 = _as_utc(start if start is not None else DEFAULT_START, name="start")
        if rate_max_per_s is None:
            grid = np.linspace(0.0, dur, 100_001)
            f_grid = np.asarray(rate_per_s(grid), dtype=np.float64)
            if f_grid.shape != grid.shape:
                raise ScheduleError(
                    f"rate_per_s: the callable must be vectorised (array in, same-shape array "
                    f"out); got shape {f_grid.shape} for input {grid.shape}"
                )
            if np.any(~np.isfinite(f_grid) | (f_grid < 0)):
                raise ScheduleError("rate_per_s: the callable gave negative or non-finite rates")
            lam_max = 1.05 * float(f_grid.max())
        else:
            lam_max = _check_positive(rate_max_per_s, name="rate_max_per_s")
        if lam_max == 0:
            arrival = np.empty(0)
        else:
            n_cand = int(gen.poisson(lam_max * dur))
            cand = np.sort(gen.uniform(0.0, dur, size=n_cand))
            f_cand = np.asarray(rate_per_s(cand), dtype=np.float64).reshape(cand.shape)
            if np.any(~np.isfinite(f_cand) | (f_cand < 0)):
                raise ScheduleError("rate_per_s: the callable gave negative or non-finite rates")
            over = f_cand > lam_max
            if over.any():
                raise ScheduleError(
                    f"rate_max_per_s: lambda(t) exceeds the bound {lam_max:g} req/s at "
                    f"{int(over.sum())} candidate time(s) (max {f_cand.max():g}); give a larger "
                    f"rate_max_per_s"
                )
            arrival = cand[gen.random(n_cand) * lam_max < f_cand]
    else:
        raise ScheduleError(
            f"rate_per_s: expected a callable or a pandas Series, got {type(rate_per_s).__name__}"
        )
    n_in, n_out = tok.sample(len(arrival), rng=gen)
    return RequestSchedule(arrival, n_in, n_out, t0, dur)


def replay_azure(
    source: str | Path | pd.DataFrame = "code",
    *,
    offset_s: float = 0.0,
    duration_s: float | None = None,
    target_rate_per_s: float | None = None,
    start: pd.Timestamp | str | None = None,
    rng: RngLike = None,
) -> RequestSchedule:
    """Replay an Azure LLM inference trace as a request schedule (paper §4, Azure day).

    The window ``[t_first + offset_s, t_first + offset_s + duration_s)`` of the trace is
    kept (``t_first`` = first request), with its real arrival times and token counts.
    The schedule's ``start`` is the window's wall-clock start (UTC; 2023 stamps are
    treated as UTC) unless ``start`` is given.
    With ``target_rate_per_s`` the window is thinned independently (each request kept
    with probability ``target / window_rate``) to that mean rate; the bursts of the
    trace are kept, only scaled.

    Parameters
    ----------
    source : {"code", "conv"}, path or DataFrame
        Shipped 2023 trace, an original-format CSV (2023 or 2024), or a frame with
        ``arrival_time``, ``n_in``, ``n_out``.
    offset_s : float
        Window start after the first request [s], >= 0.
    duration_s : float, optional
        Window length [s]; default up to and including the last request.
    target_rate_per_s : float, optional
        Mean rate after thinning [req/s]; must not exceed the window's own rate
        ``N / duration_s`` (thinning cannot add requests).
    start : pandas.Timestamp or str, optional
        Move the replay to this tz-aware wall-clock start (e.g. replay the 2023 hour on
        another day); default the window's own start in the trace.
    rng : numpy.random.Generator, int or None
        Used only for thinning.

    Returns
    -------
    RequestSchedule

    Raises
    ------
    ScheduleError
        Window outside the trace, no requests in it while thinning is asked for, target
        rate above the window's rate, ``n_out < 1`` rows in the source.
    """
    frame = _azure_frame(source)
    times = pd.DatetimeIndex(frame["arrival_time"])
    if len(times) == 0:
        raise ScheduleError("source: the trace has no rows")
    off = _check_positive(offset_s, name="offset_s", allow_zero=True)
    t_first = times.min()
    span_s = (times.max() - t_first).total_seconds()
    if off > span_s:
        raise ScheduleError(f"offset_s: {off} s is after the trace's last request ({span_s:.3f} s)")
    window_start = t_first + pd.Timedelta(seconds=off)
    rel = (times - window_start).total_seconds().to_numpy(dtype=np.float64)
    if duration_s is None:
        inside = rel >= 0
        sched_dur = float(rel[inside].max()) if inside.any() else 0.0
        if sched_dur <= 0:
            raise ScheduleError("duration_s: the window from offset_s to the last request is empty")
    else:
        sched_dur = _check_positive(duration_s, name="duration_s")
        inside = (rel >= 0) & (rel < sched_dur)
        if off + sched_dur > span_s:
            logger.info(
                "replay_azure: window ends %.3f s after the trace's last request",
                off + sched_dur - span_s,
            )
    window = frame.loc[inside]
    schedule = RequestSchedule.from_frame(
        pd.DataFrame(
            {
                "arrival_time": times[inside],
                "n_in": window["n_in"].to_numpy(),
                "n_out": window["n_out"].to_numpy(),
            }
        ),
        start=window_start,
        duration_s=float(sched_dur),
    )
    if start is not None:
        schedule = RequestSchedule(
            schedule.arrival_s,
            schedule.n_in,
            schedule.n_out,
            _as_utc(start, name="start"),
            schedule.duration_s,
        )
    if target_rate_per_s is None:
        return schedule
    target = _check_positive(target_rate_per_s, name="target_rate_per_s")
    own = schedule.mean_rate_per_s
    if target > own:
        raise ScheduleError(
            f"target_rate_per_s: {target:g} req/s exceeds the window's own rate {own:g} req/s; "
            f"thinning cannot add requests (superpose several windows or use a generator)"
        )
    return schedule.thin(target / own, rng=rng)
