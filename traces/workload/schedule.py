"""Request schedules and token tables (paper §2.1 and §3.3).

A :class:`RequestSchedule` is the input of the workload surrogate
(:mod:`traces.workload.surrogate`): arrival times in seconds after a UTC start, with the
prompt (``n_in``) and output (``n_out``) token counts of every request.  Schedules come
from the arrival processes of :mod:`traces.workload.arrivals` (Poisson, gamma renewal,
a time-varying rate, an Azure replay), from a frame (:meth:`RequestSchedule.from_frame`)
or from a measured run's own request table (:meth:`RequestSchedule.from_bundle`, any
:class:`~traces.workload.records.RequestLog`).

Token counts are drawn with replacement from an empirical joint ``(n_in, n_out)``
table (:class:`TokenDistribution`), so the prompt/output correlation of the source is
kept; :meth:`TokenDistribution.from_azure` reads the Azure LLM inference traces
(:mod:`traces.workload.azure`, CC BY 4.0, attribution in ``traces/data/azure/README.md``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from traces.workload.azure import _azure_frame
from traces.workload.base import (
    DEFAULT_START,
    RngLike,
    ScheduleError,
    _as_int_tokens,
    _as_utc,
    _check_positive,
    _rng,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from traces.workload.records import RequestLog


logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_START",
    "ScheduleError",
    "RequestSchedule",
    "TokenDistribution",
]

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
    def from_bundle(cls, bundle: RequestLog) -> RequestSchedule:
        """The request schedule of a measured bundle, aligned with its power grid.

        ``start`` is the first power sample (``bundle.power_w.index[0]``) and
        ``duration_s = len(bundle.power_w) * dt``, so that
        ``workload_features(..., duration_s=schedule.duration_s)`` has exactly one row per
        power sample.  Requests are sorted stably by arrival time (the engine can see two
        requests sent 0.6 ms apart in either order; the count moved is logged).

        Parameters
        ----------
        bundle : RequestLog
            E.g. a :class:`traces.measured.ingest.MeasuredBundle`.
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
    def from_bundle(cls, bundle: RequestLog) -> TokenDistribution:
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
