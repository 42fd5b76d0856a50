"""Request schedules and arrival processes (paper §2.1 and §3.3).

A :class:`RequestSchedule` is the input of the workload surrogate
(:mod:`traces.surrogate`): arrival times in seconds after a UTC start, with the prompt
(``n_in``) and output (``n_out``) token counts of every request.  This module builds
schedules from

* a homogeneous Poisson process (:func:`poisson`), the arrival model of the paper's
  measurement corpus (vLLM ``benchmark_serving --request-rate``);
* a gamma renewal process (:func:`gamma_renewal`) with vLLM's ``--burstiness`` (gamma
  shape; 1.0 is Poisson, larger is smoother, smaller is burstier);
* a time-varying rate lambda(t) (:func:`rate_function`, non-homogeneous Poisson), e.g. a
  diurnal profile;
* a replay of the Azure LLM inference trace (:func:`replay_azure`), optionally thinned
  to a lower mean rate;
* a measured bundle's own request table (:meth:`RequestSchedule.from_bundle`).

Token counts are drawn with replacement from an empirical joint ``(n_in, n_out)``
table (:class:`TokenDistribution`), so the prompt/output correlation of the source is
kept.

Azure data: Microsoft Azure Public Dataset (Azure LLM inference trace), CC BY 4.0,
https://github.com/Azure/AzurePublicDataset.  2023 traces: Patel et al., "Splitwise:
Efficient generative LLM inference using phase splitting", ISCA 2024.  The shipped
derived copy and its attribution are in ``traces/data/azure/README.md``.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover - typing only
    from traces.measured.ingest import MeasuredBundle

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_START",
    "AZURE_TRACES",
    "ScheduleError",
    "RequestSchedule",
    "TokenDistribution",
    "poisson",
    "gamma_renewal",
    "rate_function",
    "replay_azure",
    "read_azure_csv",
    "load_azure_trace",
]

#: Start used when a generator is given no ``start``: 2024-05-16 00:00 UTC, the day of
#: the Azure 2024 code trace used in the paper's facility study.
DEFAULT_START: pd.Timestamp = pd.Timestamp("2024-05-16T00:00:00Z")

#: Names of the Azure 2023 traces shipped in ``traces/data/azure`` (see its README).
AZURE_TRACES: tuple[str, ...] = ("code", "conv")

RngLike = np.random.Generator | int | None


class ScheduleError(ValueError):
    """A request schedule, token table, rate or trace is malformed."""


# --------------------------------------------------------------------------- helpers


def _as_utc(value: Any, *, name: str) -> pd.Timestamp:
    """Return ``value`` as a tz-aware UTC Timestamp; naive values are refused."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ScheduleError(f"{name}: cannot read {value!r} as a timestamp ({exc})") from exc
    if ts is pd.NaT:
        raise ScheduleError(f"{name}: got NaT; give a tz-aware UTC timestamp")
    if ts.tzinfo is None:
        raise ScheduleError(
            f"{name}: timestamp {ts} has no time zone; give a tz-aware one, e.g. "
            f"pd.Timestamp('{ts.isoformat()}', tz='UTC')"
        )
    return ts.tz_convert("UTC")


def _as_int_tokens(values: Any, *, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D int64 array; non-integral or non-finite values raise."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ScheduleError(f"{name}: expected a 1-D array of token counts, got shape {arr.shape}")
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ScheduleError(f"{name}: expected integer token counts, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ScheduleError(
                f"{name}: {int(bad.sum())} value(s) are not whole token counts "
                f"(first at index {i}: {arr[i]!r}); token counts must be integers"
            )
    return arr.astype(np.int64)


def _rng(rng: RngLike) -> np.random.Generator:
    return np.random.default_rng(rng)


def _check_positive(value: float, *, name: str, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ScheduleError(f"{name}: expected a number, got {value!r}") from exc
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        need = ">= 0" if allow_zero else "> 0"
        raise ScheduleError(f"{name}: must be finite and {need}, got {value!r}")
    return v


# --------------------------------------------------------------------------- schedule


@dataclass(frozen=True)
class RequestSchedule:
    """Arrival times and token counts of a stream of LLM inference requests.

    Validated on construction; the arrays are stored as read-only copies.

    Parameters
    ----------
    arrival_s : array_like of float, shape (N,)
        Arrival time of each request [s] after ``start``; non-decreasing, >= 0, finite.
    n_in : array_like of int, shape (N,)
        Prompt (input) length of each request [tokens], >= 0.
    n_out : array_like of int, shape (N,)
        Output length of each request [tokens], >= 1 (every request decodes at least
        the token emitted by its prefill).
    start : pandas.Timestamp
        Wall-clock time of ``arrival_s == 0``; must be tz-aware (converted to UTC).
    duration_s : float
        Horizon of the schedule [s]; ``>= arrival_s[-1]`` and > 0.

    Notes
    -----
    An empty schedule (N = 0) is allowed: thinning or a low rate can legitimately give
    no arrivals in a window, and its workload features are all zero.  The power
    generator (``FittedConfiguration.generate``) rejects empty schedules.

    Raises
    ------
    ScheduleError
        Naming the field that is malformed and how to fix it.
    """

    arrival_s: np.ndarray
    n_in: np.ndarray
    n_out: np.ndarray
    start: pd.Timestamp
    duration_s: float

    def __post_init__(self) -> None:
        arrival = np.array(self.arrival_s, dtype=np.float64, copy=True)
        if arrival.ndim != 1:
            raise ScheduleError(f"arrival_s: expected a 1-D array, got shape {arrival.shape}")
        n_in = _as_int_tokens(self.n_in, name="n_in").copy()
        n_out = _as_int_tokens(self.n_out, name="n_out").copy()
        if not (len(arrival) == len(n_in) == len(n_out)):
            raise ScheduleError(
                f"arrival_s, n_in, n_out must have equal lengths, got "
                f"{len(arrival)}, {len(n_in)}, {len(n_out)}"
            )
        if not np.all(np.isfinite(arrival)):
            raise ScheduleError(
                f"arrival_s: {int((~np.isfinite(arrival)).sum())} non-finite value(s)"
            )
        if len(arrival) and arrival[0] < 0:
            raise ScheduleError(
                f"arrival_s: first arrival is {arrival[0]} s < 0; arrivals are seconds after "
                f"start, so move start earlier"
            )
        if len(arrival) > 1:
            back = np.diff(arrival) < 0
            if back.any():
                i = int(np.flatnonzero(back)[0])
                raise ScheduleError(
                    f"arrival_s: not sorted ({int(back.sum())} decreasing step(s), first at "
                    f"index {i + 1}: {arrival[i + 1]} < {arrival[i]}); sort the requests by "
                    f"arrival (np.argsort(..., kind='stable')) first"
                )
        if (n_in < 0).any():
            raise ScheduleError(f"n_in: {int((n_in < 0).sum())} negative prompt length(s)")
        if (n_out < 1).any():
            raise ScheduleError(
                f"n_out: {int((n_out < 1).sum())} request(s) with n_out < 1; every request "
                f"produces at least one output token"
            )
        start = _as_utc(self.start, name="start")
        duration = _check_positive(self.duration_s, name="duration_s")
        if len(arrival) and duration < arrival[-1]:
            raise ScheduleError(
                f"duration_s: {duration} s is before the last arrival ({arrival[-1]} s); "
                f"give duration_s >= arrival_s[-1]"
            )
        for arr in (arrival, n_in, n_out):
            arr.setflags(write=False)
        object.__setattr__(self, "arrival_s", arrival)
        object.__setattr__(self, "n_in", n_in)
        object.__setattr__(self, "n_out", n_out)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "duration_s", duration)

    def __len__(self) -> int:
        return int(self.arrival_s.shape[0])

    @property
    def end(self) -> pd.Timestamp:
        """Wall-clock end of the horizon, ``start + duration_s`` (UTC)."""
        return self.start + pd.Timedelta(seconds=self.duration_s)

    @property
    def mean_rate_per_s(self) -> float:
        """Mean arrival rate over the horizon, ``N / duration_s`` [req/s]."""
        return len(self) / self.duration_s

    def arrival_times(self) -> pd.DatetimeIndex:
        """Arrival wall-clock times, tz-aware UTC, shape (N,)."""
        return self.start + pd.to_timedelta(self.arrival_s, unit="s")

    def to_frame(self) -> pd.DataFrame:
        """Return the schedule as a DataFrame.

        Returns
        -------
        pandas.DataFrame
            N rows; columns ``arrival_time`` (datetime64[ns, UTC]), ``arrival_s``
            (float64, [s] after ``start``), ``n_in`` and ``n_out`` (int64, [tokens]).
            ``attrs`` holds ``start`` (ISO string) and ``duration_s``.
        """
        df = pd.DataFrame(
            {
                "arrival_time": self.arrival_times(),
                "arrival_s": np.asarray(self.arrival_s),
                "n_in": np.asarray(self.n_in),
                "n_out": np.asarray(self.n_out),
            }
        )
        df.attrs["start"] = self.start.isoformat()
        df.attrs["duration_s"] = self.duration_s
        return df

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        start: pd.Timestamp | str | None = None,
        duration_s: float | None = None,
    ) -> RequestSchedule:
        """Build a schedule from a table with ``arrival_time`` (UTC), ``n_in``, ``n_out``.

        Parameters
        ----------
        frame : pandas.DataFrame
            Columns ``arrival_time`` (tz-aware), ``n_in``, ``n_out`` [tokens]. Rows
            need not be sorted; they are sorted stably by arrival (the number of rows
            moved is logged).
        start : pandas.Timestamp, optional
            Time of ``arrival_s == 0``; default the first arrival.
        duration_s : float, optional
            Horizon [s]; default the last arrival's offset (or 1 s for a single arrival
            at ``start``).

        Raises
        ------
        ScheduleError
            Missing columns, naive times, arrivals before ``start``.
        """
        missing = {"arrival_time", "n_in", "n_out"} - set(frame.columns)
        if missing:
            raise ScheduleError(f"frame: missing column(s) {sorted(missing)}")
        times = pd.DatetimeIndex(frame["arrival_time"])
        if times.tz is None:
            raise ScheduleError("frame.arrival_time: times are naive; localise them to UTC")
        times = times.tz_convert("UTC")
        order = np.argsort(times.asi8, kind="stable")
        n_moved = int((order != np.arange(len(order))).sum())
        if n_moved:
            logger.info("from_frame: sorted %d of %d requests by arrival time", n_moved, len(order))
        times = times[order]
        if start is None and len(times) == 0:
            raise ScheduleError("start: required for an empty frame (no first arrival to use)")
        t0 = _as_utc(start, name="start") if start is not None else times[0]
        arrival_s = (times - t0).total_seconds().to_numpy(dtype=np.float64)
        if duration_s is None:
            duration_s = float(arrival_s[-1]) if len(arrival_s) and arrival_s[-1] > 0 else 1.0
        return cls(
            arrival_s=arrival_s,
            n_in=np.asarray(frame["n_in"])[order],
            n_out=np.asarray(frame["n_out"])[order],
            start=t0,
            duration_s=duration_s,
        )

    @classmethod
    def from_bundle(cls, bundle: MeasuredBundle) -> RequestSchedule:
        """The request schedule of a measured bundle, aligned with its power grid.

        ``start`` is the first power sample (``bundle.power_w.index[0]``) and
        ``duration_s = len(bundle.power_w) * dt``, so that
        ``workload_features(..., duration_s=schedule.duration_s)`` has exactly one row per
        power sample.  Requests are sorted stably by arrival time (the engine can see two
        requests sent 0.6 ms apart in either order; the count moved is logged).

        Parameters
        ----------
        bundle : traces.ingest.MeasuredBundle
            Uses ``power_w`` (regular 250 ms UTC index) and ``requests`` (columns
            ``arrival_time``, ``n_in``, ``n_out``).

        Raises
        ------
        ScheduleError
            If a request arrives before the first power sample (the bundle would need
            re-basing, see the powertrace_sim README) or the power index is not regular.
        """
        index = pd.DatetimeIndex(bundle.power_w.index)
        if len(index) < 2:
            raise ScheduleError(f"bundle {bundle.run_id}: power_w has fewer than 2 samples")
        steps = np.diff(index.asi8)
        if not np.all(steps == steps[0]):
            raise ScheduleError(
                f"bundle {bundle.run_id}: power_w index is not regular; ingest should "
                f"return a regular grid"
            )
        dt_s = steps[0] / 1e9
        start = _as_utc(index[0], name="bundle.power_w.index[0]")
        duration_s = len(index) * dt_s
        req = bundle.requests
        times = pd.DatetimeIndex(req["arrival_time"]).tz_convert("UTC")
        offsets = (times - start).total_seconds().to_numpy(dtype=np.float64)
        if len(offsets) and offsets.min() < 0:
            raise ScheduleError(
                f"bundle {bundle.run_id}: {int((offsets < 0).sum())} request(s) arrive before "
                f"the first power sample (earliest {offsets.min():.3f} s); re-base the requests "
                f"into the power window first"
            )
        if len(offsets) and offsets.max() > duration_s:
            logger.info(
                "bundle %s: last request at %.3f s is after the power log's end (%.3f s); "
                "duration_s extended to it",
                bundle.run_id,
                offsets.max(),
                duration_s,
            )
            duration_s = float(offsets.max())
        frame = pd.DataFrame({"arrival_time": times, "n_in": req["n_in"], "n_out": req["n_out"]})
        return cls.from_frame(frame, start=start, duration_s=duration_s)

    # ------------------------------------------------------------------ transforms

    def thin(self, keep_probability: float, *, rng: RngLike = None) -> RequestSchedule:
        """Keep each request independently with probability ``keep_probability``.

        Independent (Bernoulli) thinning of a Poisson process with rate lambda gives a
        Poisson process with rate ``p * lambda``; for other processes it scales the mean
        rate by ``p``.  Thinning cannot add requests: ``keep_probability`` must be in
        (0, 1].

        Raises
        ------
        ScheduleError
            If ``keep_probability`` is outside (0, 1].
        """
        p = _check_positive(keep_probability, name="keep_probability")
        if p > 1:
            raise ScheduleError(
                f"keep_probability: {p} > 1; thinning cannot add requests (use a generator "
                f"with a higher rate or concatenate schedules)"
            )
        keep = _rng(rng).random(len(self)) < p
        logger.debug("thin: kept %d of %d requests (p=%.4f)", int(keep.sum()), len(self), p)
        return RequestSchedule(
            self.arrival_s[keep], self.n_in[keep], self.n_out[keep], self.start, self.duration_s
        )

    def window(self, offset_s: float, duration_s: float) -> RequestSchedule:
        """Requests arriving in ``[offset_s, offset_s + duration_s)``, re-based to ``offset_s``.

        The new ``start`` is ``self.start + offset_s``.

        Raises
        ------
        ScheduleError
            If the window is empty in time or starts outside the horizon.
        """
        off = _check_positive(offset_s, name="offset_s", allow_zero=True)
        dur = _check_positive(duration_s, name="duration_s")
        if off >= self.duration_s:
            raise ScheduleError(
                f"offset_s: {off} s is at or after the schedule's end ({self.duration_s} s)"
            )
        lo, hi = np.searchsorted(self.arrival_s, [off, off + dur], side="left")
        return RequestSchedule(
            self.arrival_s[lo:hi] - off,
            self.n_in[lo:hi],
            self.n_out[lo:hi],
            self.start + pd.Timedelta(seconds=off),
            dur,
        )

    @classmethod
    def concat(cls, schedules: Sequence[RequestSchedule]) -> RequestSchedule:
        """Play schedules one after another.

        The result starts at ``schedules[0].start``; schedule k is shifted by the sum of
        the durations of schedules 0..k-1 (their own ``start`` is ignored after the
        first).  Duration is the sum of durations.

        Raises
        ------
        ScheduleError
            If ``schedules`` is empty.
        """
        if not schedules:
            raise ScheduleError("schedules: need at least one schedule to concatenate")
        offsets = np.cumsum([0.0] + [s.duration_s for s in schedules[:-1]])
        return cls(
            np.concatenate([s.arrival_s + o for s, o in zip(schedules, offsets, strict=True)]),
            np.concatenate([s.n_in for s in schedules]),
            np.concatenate([s.n_out for s in schedules]),
            schedules[0].start,
            float(sum(s.duration_s for s in schedules)),
        )

    @classmethod
    def superpose(cls, schedules: Sequence[RequestSchedule]) -> RequestSchedule:
        """Merge concurrent streams that share one ``start`` (sum of arrival processes).

        Arrivals are merged in time order (stable: ties keep the order of
        ``schedules``); duration is the longest.

        Raises
        ------
        ScheduleError
            If ``schedules`` is empty or the starts differ.
        """
        if not schedules:
            raise ScheduleError("schedules: need at least one schedule to superpose")
        starts = {s.start for s in schedules}
        if len(starts) != 1:
            raise ScheduleError(
                f"schedules: starts differ ({sorted(str(s) for s in starts)}); use window() "
                f"or build them on one start"
            )
        arrival = np.concatenate([s.arrival_s for s in schedules])
        order = np.argsort(arrival, kind="stable")
        return cls(
            arrival[order],
            np.concatenate([s.n_in for s in schedules])[order],
            np.concatenate([s.n_out for s in schedules])[order],
            schedules[0].start,
            max(s.duration_s for s in schedules),
        )


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class TokenDistribution:
    """Empirical joint distribution of (prompt, output) token counts.

    Sampling draws whole rows ``(n_in[j], n_out[j])`` uniformly with replacement, so the
    correlation between prompt and output lengths in the source is kept.

    Parameters
    ----------
    n_in : array_like of int, shape (M,)
        Prompt lengths [tokens], >= 0.
    n_out : array_like of int, shape (M,)
        Output lengths [tokens], >= 1.
    source : str
        Where the table came from (dataset, file, bundle), kept for provenance.

    Raises
    ------
    ScheduleError
        Empty table, unequal lengths, negative or non-integral counts, ``n_out < 1``.
    """

    n_in: np.ndarray
    n_out: np.ndarray
    source: str = field(default="arrays")

    def __post_init__(self) -> None:
        n_in = _as_int_tokens(self.n_in, name="n_in").copy()
        n_out = _as_int_tokens(self.n_out, name="n_out").copy()
        if len(n_in) != len(n_out):
            raise ScheduleError(f"n_in and n_out lengths differ: {len(n_in)} vs {len(n_out)}")
        if len(n_in) == 0:
            raise ScheduleError("TokenDistribution: the token table is empty")
        if (n_in < 0).any():
            raise ScheduleError(f"n_in: {int((n_in < 0).sum())} negative prompt length(s)")
        if (n_out < 1).any():
            raise ScheduleError(
                f"n_out: {int((n_out < 1).sum())} row(s) with n_out < 1 in {self.source}; "
                f"drop them explicitly before building the table"
            )
        n_in.setflags(write=False)
        n_out.setflags(write=False)
        object.__setattr__(self, "n_in", n_in)
        object.__setattr__(self, "n_out", n_out)

    def __len__(self) -> int:
        return int(self.n_in.shape[0])

    @property
    def mean_n_in(self) -> float:
        """Mean prompt length [tokens]."""
        return float(self.n_in.mean())

    @property
    def mean_n_out(self) -> float:
        """Mean output length [tokens]."""
        return float(self.n_out.mean())

    @classmethod
    def from_arrays(cls, n_in: Any, n_out: Any, *, source: str = "arrays") -> TokenDistribution:
        """Table from two equal-length integer arrays [tokens]."""
        return cls(np.asarray(n_in), np.asarray(n_out), source)

    @classmethod
    def constant(cls, n_in: int, n_out: int) -> TokenDistribution:
        """Every request has ``n_in`` prompt and ``n_out`` output tokens."""
        return cls(np.array([n_in]), np.array([n_out]), f"constant({n_in},{n_out})")

    @classmethod
    def from_bundle(cls, bundle: MeasuredBundle) -> TokenDistribution:
        """Table of a measured bundle's requests (``bundle.requests.n_in/n_out``)."""
        return cls(
            bundle.requests["n_in"].to_numpy(),
            bundle.requests["n_out"].to_numpy(),
            f"bundle:{bundle.config_id}/{bundle.run_id}",
        )

    @classmethod
    def from_schedule(cls, schedule: RequestSchedule) -> TokenDistribution:
        """Table of a schedule's requests."""
        return cls(schedule.n_in, schedule.n_out, "schedule")

    @classmethod
    def from_azure(cls, source: str | Path | pd.DataFrame = "code") -> TokenDistribution:
        """Table of an Azure LLM inference trace (``ContextTokens``, ``GeneratedTokens``).

        Parameters
        ----------
        source : {"code", "conv"}, path or DataFrame
            A shipped 2023 trace name (:func:`load_azure_trace`), a CSV in the original
            Azure format (:func:`read_azure_csv`), or a frame as those return.
        """
        frame = _azure_frame(source)
        name = source if isinstance(source, str | Path) else "frame"
        return cls(frame["n_in"].to_numpy(), frame["n_out"].to_numpy(), f"azure:{name}")

    def sample(self, n: int, *, rng: RngLike = None) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` (n_in, n_out) pairs with replacement.

        Returns
        -------
        n_in, n_out : numpy.ndarray of int64, shape (n,)
            [tokens].
        """
        if int(n) != n or n < 0:
            raise ScheduleError(f"n: expected a non-negative integer, got {n!r}")
        idx = _rng(rng).integers(0, len(self), size=int(n))
        return self.n_in[idx], self.n_out[idx]


def _check_tokens(tokens: Any) -> TokenDistribution:
    if not isinstance(tokens, TokenDistribution):
        raise ScheduleError(
            f"tokens: expected a TokenDistribution (e.g. TokenDistribution.from_azure('conv') "
            f"or TokenDistribution.constant(512, 128)), got {type(tokens).__name__}"
        )
    return tokens


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


# --------------------------------------------------------------------------- Azure


def read_azure_csv(path: str | Path) -> pd.DataFrame:
    """Read an Azure LLM inference trace CSV in its original format.

    Columns ``TIMESTAMP, ContextTokens, GeneratedTokens`` (Azure Public Dataset,
    CC BY 4.0).  The 2023 traces have naive timestamps with 7 fractional digits and no
    documented time zone: they are **treated as UTC** (an assumption, logged).  The 2024
    traces carry ``+00:00`` with 6 or 0 fractional digits (mixed formats): both parse.

    Parameters
    ----------
    path : str or Path
        CSV file (optionally ``.gz``).

    Returns
    -------
    pandas.DataFrame
        Columns ``arrival_time`` (datetime64[ns, UTC]), ``n_in`` (ContextTokens,
        int64 [tokens]), ``n_out`` (GeneratedTokens, int64 [tokens]), in file order.

    Raises
    ------
    ScheduleError
        Missing columns or unparseable timestamps.
    """
    raw = pd.read_csv(path, dtype={"TIMESTAMP": str})
    missing = {"TIMESTAMP", "ContextTokens", "GeneratedTokens"} - set(raw.columns)
    if missing:
        raise ScheduleError(f"{path}: not an Azure LLM trace, missing column(s) {sorted(missing)}")
    stamps = raw["TIMESTAMP"]
    has_zone = stamps.str.contains(r"(?:[+-]\d\d:\d\d|Z)$", regex=True)
    if not has_zone.all():
        logger.info(
            "%s: %d timestamp(s) have no time zone (Azure 2023 format); treated as UTC",
            path,
            int((~has_zone).sum()),
        )
    try:
        times = pd.to_datetime(stamps, format="ISO8601", utc=True)
    except (ValueError, TypeError) as exc:
        raise ScheduleError(f"{path}: cannot parse TIMESTAMP ({exc})") from exc
    return pd.DataFrame(
        {
            "arrival_time": times,
            "n_in": raw["ContextTokens"].to_numpy(dtype=np.int64),
            "n_out": raw["GeneratedTokens"].to_numpy(dtype=np.int64),
        }
    )


def load_azure_trace(name: str) -> pd.DataFrame:
    """Load a shipped 2023 Azure LLM inference trace (``"code"`` or ``"conv"``).

    Reads ``traces/data/azure/azure2023_<name>.csv.gz`` through ``importlib.resources``
    (no external data needed).  The copy keeps every row; arrival times are stored as
    integer microsecond offsets from the first request (the originals have 1 µs
    resolution, so the copy is exact; see the README there).

    Parameters
    ----------
    name : {"code", "conv"}

    Returns
    -------
    pandas.DataFrame
        Same columns as :func:`read_azure_csv`: ``arrival_time`` (UTC, 2023 stamps
        treated as UTC), ``n_in``, ``n_out`` [tokens].

    Raises
    ------
    ScheduleError
        Unknown name.

    Notes
    -----
    Data: Microsoft Azure Public Dataset (Azure LLM inference trace), CC BY 4.0.
    Patel et al., "Splitwise: Efficient generative LLM inference using phase
    splitting", ISCA 2024.
    """
    if name not in AZURE_TRACES:
        raise ScheduleError(f"name: expected one of {AZURE_TRACES}, got {name!r}")
    base = resources.files("traces") / "data" / "azure"
    meta = json.loads((base / "azure2023.json").read_text(encoding="utf-8"))[name]
    with gzip.open(io.BytesIO((base / meta["file"]).read_bytes()), "rt") as fh:
        raw = pd.read_csv(fh, dtype=np.int64)
    t0 = pd.Timestamp(meta["first_arrival_utc"])
    times = t0 + pd.to_timedelta(raw["arrival_us"].to_numpy(), unit="us")
    return pd.DataFrame(
        {
            "arrival_time": pd.DatetimeIndex(times).as_unit("ns"),
            "n_in": raw["ContextTokens"].to_numpy(),
            "n_out": raw["GeneratedTokens"].to_numpy(),
        }
    )


def _azure_frame(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        missing = {"arrival_time", "n_in", "n_out"} - set(source.columns)
        if missing:
            raise ScheduleError(
                f"source: frame lacks column(s) {sorted(missing)}; use read_azure_csv() first"
            )
        return source
    if isinstance(source, str) and source in AZURE_TRACES:
        return load_azure_trace(source)
    path = Path(source)
    if not path.exists():
        raise ScheduleError(
            f"source: {source!r} is neither a shipped trace {AZURE_TRACES} nor an existing file"
        )
    return read_azure_csv(path)


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
