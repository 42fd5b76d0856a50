"""The work ledger: what the GPU computes in every 250 ms step (issue 16).

The paper's features (A_t, dA_t; Eq 6) count the requests a server is working on.  They do
not say how much work those requests are: a 31k-token agentic prompt and a 200-token chat
prompt both add 1 to A_t.  The ledger adds, on the same grid as A_t, the token work of the
batching surrogate's timeline (:class:`~traces.workload.surrogate.BatchTimeline`):

=====================  =============================================================  ========
column                 meaning                                                        unit
=====================  =============================================================  ========
``prefilled_tokens``   prompt tokens prefilled in the step ending at ``t_k``          tokens
``decoded_tokens``     output tokens emitted in that step (the first token of a       tokens
                       request is emitted by its prefill and counted here, as vLLM's
                       ``generation_tokens_total`` does)
``n_prefill``          requests in prefill at ``t_k`` (started, no first token yet)   requests
``n_decode``           requests decoding at ``t_k`` (first token out, not finished)   requests
``kv_tokens``          resident context at ``t_k``: prompt tokens cached or           tokens
                       prefilled so far plus output tokens so far, summed over the
                       requests in the batch (the KV cache the engine holds)
=====================  =============================================================  ========

Rules (vLLM 0.10 V1 scheduler with chunked prefill, the engine of the measured bundles):

* **Chunked prefill.**  A request prefills only its *uncached* prompt tokens
  ``u_i = n_in_i - cached_i`` (at least 1 when ``n_in_i > 0``: vLLM recomputes the last
  prompt token even on a full prefix hit).  They are processed in ``ceil(u_i / B)`` chunks
  of at most ``B = max_num_batched_tokens`` tokens (8,192 in the measured runs, manifest
  ``server.max_num_batched_tokens``), one chunk per engine iteration, the iterations evenly
  spaced over the request's prefill interval ``[start_s, first_token_s]``; the tokens of a
  chunk are spread uniformly over its iteration.  So no request ever prefills more than
  ``B`` tokens per iteration, and a long prompt spreads over several steps.
* **Decode.**  Request i emits its first token at ``first_token_s`` and the remaining
  ``n_out - 1`` uniformly at ``1 / TBT_i`` until ``end_s`` (the surrogate's decode model).
* **Prefix cache.**  Cached prompt tokens are resident from the request's start and are
  never prefilled.  Per-request values (a request log's ``cached_prompt_tokens``) take
  precedence; otherwise a scenario can state a prefix-cache hit rate ``h`` (the fraction
  of prompt tokens served from the cache, vLLM's ``prefix_cache_hits_total /
  prefix_cache_queries_total``), giving ``cached_i = floor(h * n_in_i)``.  A cached prompt
  also has a shorter prefill: :func:`simulate_work` draws TTFT (Eq 4) for the uncached
  length.
* **Step convention.**  Per-step work (``prefilled_tokens``, ``decoded_tokens``) is the
  work done in ``(t_k - dt, t_k]``, the interval before the grid time, so that a causal
  meter model (nvidia-smi averages the past ~1 s) can act on it; counts (``n_prefill``,
  ``n_decode``, ``kv_tokens``) are instantaneous at ``t_k`` like A_t.

This module is part of the workload layer: it knows schedules and the surrogate's
timeline, nothing about power, states, fitted models or measured bundles.

References
----------
W. Kwon et al., "Efficient Memory Management for Large Language Model Serving with
PagedAttention", SOSP 2023 (vLLM); A. Agrawal et al., "Taming Throughput-Latency Tradeoff
in LLM Inference with Sarathi-Serve", OSDI 2024 (chunked prefill under a token budget);
vLLM 0.10 documentation, "Engine arguments" (``max_num_batched_tokens``) and "Metrics".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from traces import DT_S
from traces.workload.schedule import RequestSchedule
from traces.workload.surrogate import (
    MAX_BATCH,
    BatchTimeline,
    LatencyModel,
    SurrogateError,
    WorkloadFeatures,
    simulate_batching,
    workload_features,
)

__all__ = [
    "DEFAULT_MAX_NUM_BATCHED_TOKENS",
    "LEDGER_COLUMNS",
    "WorkLedger",
    "cached_prompt_tokens",
    "measured_timeline",
    "simulate_work",
    "work_ledger",
]

#: vLLM ``max_num_batched_tokens`` of the measured runs (manifest ``server``): 8,192.
DEFAULT_MAX_NUM_BATCHED_TOKENS: int = 8192

#: Ledger column names, in the order of :meth:`WorkLedger.columns`.
LEDGER_COLUMNS: tuple[str, ...] = (
    "prefilled_tokens",
    "decoded_tokens",
    "n_prefill",
    "n_decode",
    "kv_tokens",
)


@dataclass(frozen=True)
class WorkLedger:
    """Token work on the grid ``t_k = k * dt_s`` after ``start`` (see the module table).

    Attributes
    ----------
    time_s : numpy.ndarray, shape (T,)
        Grid times [s].
    prefilled_tokens, decoded_tokens : numpy.ndarray, shape (T,)
        Prompt tokens prefilled / output tokens emitted in ``(t_k - dt, t_k]`` [tokens].
    n_prefill, n_decode : numpy.ndarray, shape (T,)
        Requests in prefill / decode at ``t_k``.
    kv_tokens : numpy.ndarray, shape (T,)
        Resident context at ``t_k`` [tokens].
    dt_s : float
        Grid step [s].
    start : pandas.Timestamp or None
        UTC time of ``time_s == 0``.
    max_num_batched_tokens : int
        Per-iteration token budget used.
    """

    time_s: np.ndarray
    prefilled_tokens: np.ndarray
    decoded_tokens: np.ndarray
    n_prefill: np.ndarray
    n_decode: np.ndarray
    kv_tokens: np.ndarray
    dt_s: float = DT_S
    start: pd.Timestamp | None = None
    max_num_batched_tokens: int = DEFAULT_MAX_NUM_BATCHED_TOKENS

    def __len__(self) -> int:
        return int(self.time_s.shape[0])

    def columns(self) -> dict[str, np.ndarray]:
        """The five ledger columns by name (:data:`LEDGER_COLUMNS`), each shape (T,)."""
        return {name: getattr(self, name) for name in LEDGER_COLUMNS}

    def to_frame(self) -> pd.DataFrame:
        """The ledger as a DataFrame on a UTC DatetimeIndex (needs ``start``).

        Raises
        ------
        SurrogateError
            No ``start`` stored.
        """
        if self.start is None:
            raise SurrogateError("to_frame: this ledger has no start time")
        index = pd.DatetimeIndex(self.start + pd.to_timedelta(self.time_s, unit="s"), name="time")
        return pd.DataFrame(self.columns(), index=index)


def cached_prompt_tokens(
    n_in: Any,
    *,
    n_cached: Any = None,
    prefix_hit_rate: float | None = None,
) -> np.ndarray:
    """Prompt tokens of each request served from the prefix cache, shape (N,).

    Parameters
    ----------
    n_in : array_like of int, shape (N,)
        Prompt lengths [tokens].
    n_cached : array_like of int, shape (N,), optional
        Per-request cached tokens (a request log's ``cached_prompt_tokens``); used as given.
    prefix_hit_rate : float, optional
        Scenario-level fraction of prompt tokens served from the cache, in [0, 1), used
        when ``n_cached`` is not given: ``cached_i = floor(rate * n_in_i)``.

    Returns
    -------
    numpy.ndarray of int64, shape (N,)
        Zeros when neither is given (prefix cache off, as in the measured runs).

    Raises
    ------
    SurrogateError
        Both given, wrong length, negative or larger than the prompt, or a rate outside
        [0, 1).
    """
    n_in = np.asarray(n_in, dtype=np.int64)
    if n_cached is not None and prefix_hit_rate is not None:
        raise SurrogateError(
            "give either per-request n_cached or a scenario prefix_hit_rate, not both"
        )
    if n_cached is not None:
        cached = np.asarray(n_cached, dtype=np.int64)
        if cached.shape != n_in.shape:
            raise SurrogateError(
                f"n_cached: shape {cached.shape} but the schedule has {n_in.shape[0]} requests"
            )
        bad = np.flatnonzero((cached < 0) | (cached > n_in))
        if bad.size:
            i = int(bad[0])
            raise SurrogateError(
                f"n_cached[{i}] = {int(cached[i])} is outside 0..n_in ({int(n_in[i])}); cached "
                "tokens are part of the prompt"
            )
        return cached
    if prefix_hit_rate is None:
        return np.zeros_like(n_in)
    rate = float(prefix_hit_rate)
    if not (math.isfinite(rate) and 0.0 <= rate < 1.0):
        raise SurrogateError(
            f"prefix_hit_rate: must be in [0, 1) (a fraction of prompt tokens), got {prefix_hit_rate!r}"
        )
    return np.floor(rate * n_in).astype(np.int64)


def _ramp_sum(t_a: np.ndarray, t_b: np.ndarray, amount: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """``sum_s amount_s * clip((t - a_s) / (b_s - a_s), 0, 1)`` at each grid time t.

    Segments with ``b_s <= a_s`` are steps at ``a_s`` (value counted from ``t >= a_s``).
    O((S + T) log S) with sorted cumulative sums.
    """
    out = np.zeros(grid.shape, dtype=np.float64)
    if t_a.size == 0:
        return out
    dur = t_b - t_a
    jump = dur <= 0
    if jump.any():
        order = np.argsort(t_a[jump], kind="stable")
        csum = np.concatenate([[0.0], np.cumsum(amount[jump][order])])
        out += csum[np.searchsorted(t_a[jump][order], grid, side="right")]
    ramp = ~jump
    if ramp.any():
        a, b = t_a[ramp], t_b[ramp]
        rate = amount[ramp] / (b - a)

        def part(edge: np.ndarray) -> np.ndarray:
            order = np.argsort(edge, kind="stable")
            c_rate = np.concatenate([[0.0], np.cumsum(rate[order])])
            c_edge = np.concatenate([[0.0], np.cumsum((rate * edge)[order])])
            pos = np.searchsorted(edge[order], grid, side="right")
            return c_rate[pos] * grid - c_edge[pos]

        out += part(a) - part(b)
    return out


def _count_le(times: np.ndarray, grid: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.sort(times), grid, side="right").astype(np.float64)


def _sum_le(times: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    order = np.argsort(times, kind="stable")
    csum = np.concatenate([[0.0], np.cumsum(values[order].astype(np.float64))])
    return csum[np.searchsorted(times[order], grid, side="right")]


def _chunks(
    start_s: np.ndarray, first_token_s: np.ndarray, uncached: np.ndarray, budget: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prefill chunk segments (t_a, t_b, tokens): <= budget tokens each, evenly spaced."""
    n_chunks = np.where(uncached > 0, -(-uncached // budget), 0)
    req = np.repeat(np.arange(uncached.size), n_chunks)
    j = np.arange(req.size) - np.repeat(np.cumsum(n_chunks) - n_chunks, n_chunks)
    k = n_chunks[req].astype(np.float64)
    span = first_token_s[req] - start_s[req]
    t_a = start_s[req] + span * j / k
    t_b = start_s[req] + span * (j + 1) / k
    tokens = np.minimum(budget, uncached[req] - j * budget).astype(np.float64)
    return t_a, t_b, tokens


def work_ledger(
    timeline: BatchTimeline,
    *,
    n_cached: Any = None,
    max_num_batched_tokens: int = DEFAULT_MAX_NUM_BATCHED_TOKENS,
    duration_s: float | None = None,
    dt_s: float = DT_S,
) -> WorkLedger:
    """The work ledger of a batching timeline on the grid ``t_k = k * dt_s`` (module rules).

    Parameters
    ----------
    timeline : BatchTimeline
        From :func:`~traces.workload.surrogate.simulate_batching` or :func:`measured_timeline`.
    n_cached : array_like of int, shape (N,), optional
        Cached prompt tokens per request (:func:`cached_prompt_tokens`); default none.
    max_num_batched_tokens : int
        vLLM's per-iteration token budget ``B`` (>= 1), default 8,192.
    duration_s : float, optional
        Horizon [s]; default ``timeline.duration_s``; ``T = ceil(duration_s / dt_s)`` as in
        :func:`~traces.workload.surrogate.workload_features`.
    dt_s : float
        Grid step [s].

    Returns
    -------
    WorkLedger
        Totals are conserved: ``prefilled_tokens.sum()`` is the uncached prompt tokens
        prefilled inside the horizon and ``decoded_tokens.sum()`` the output tokens emitted
        inside it (all of them when every request finishes before ``duration_s``).

    Raises
    ------
    SurrogateError
        Non-positive horizon, step or budget; bad ``n_cached``.
    """
    dur = float(timeline.duration_s if duration_s is None else duration_s)
    if not (math.isfinite(dur) and dur > 0 and math.isfinite(dt_s) and dt_s > 0):
        raise SurrogateError(f"duration_s and dt_s must be > 0, got {dur} and {dt_s}")
    if int(max_num_batched_tokens) != max_num_batched_tokens or max_num_batched_tokens < 1:
        raise SurrogateError(
            f"max_num_batched_tokens: must be an integer >= 1, got {max_num_batched_tokens!r}"
        )
    budget = int(max_num_batched_tokens)
    n_in = np.asarray(timeline.n_in, dtype=np.int64)
    n_out = np.asarray(timeline.n_out, dtype=np.int64)
    cached = cached_prompt_tokens(n_in, n_cached=n_cached)
    uncached = np.where(n_in > 0, np.maximum(n_in - cached, 1), 0)
    cached = n_in - uncached
    n_steps = int(math.ceil(dur / dt_s - 1e-9))
    grid = np.arange(n_steps, dtype=np.float64) * dt_s
    start, first, end = timeline.start_s, timeline.first_token_s, timeline.end_s

    t_a, t_b, tokens = _chunks(start, first, uncached, budget)
    prefilled_cum = _ramp_sum(t_a, t_b, tokens, grid)
    decoding = n_out > 1
    decoded_cum = _count_le(first, grid) + _ramp_sum(
        first[decoding], end[decoding], (n_out[decoding] - 1).astype(np.float64), grid
    )

    def per_step(cum: np.ndarray) -> np.ndarray:
        # work in (t_k - dt, t_k]; step 0 holds the work at or before t_0
        step = np.diff(cum, prepend=0.0)
        step[np.abs(step) < 1e-6] = 0.0
        return step

    started, ended = _count_le(start, grid), _count_le(end, grid)
    first_out = _count_le(first, grid)
    n_prefill = started - first_out
    n_decode = first_out - ended
    kv = (
        _sum_le(start, cached, grid)
        - _sum_le(end, cached, grid)
        + prefilled_cum
        - _sum_le(end, uncached, grid)
        + decoded_cum
        - _sum_le(end, n_out, grid)
    )
    kv[np.abs(kv) < 1e-6] = 0.0
    return WorkLedger(
        time_s=grid,
        prefilled_tokens=per_step(prefilled_cum),
        decoded_tokens=per_step(decoded_cum),
        n_prefill=n_prefill,
        n_decode=n_decode,
        kv_tokens=kv,
        dt_s=float(dt_s),
        start=timeline.start,
        max_num_batched_tokens=budget,
    )


def measured_timeline(
    schedule: RequestSchedule,
    ttft_s: Any,
    tbt_s: Any,
    *,
    max_batch: int = MAX_BATCH,
) -> BatchTimeline:
    """A batching timeline from measured per-request latencies (no latency draws).

    Used to check the ledger against an engine log fairly: the requests start at their
    arrival (the measured runs never queue: ``num_requests_waiting`` <= 1), emit their first
    token after the measured TTFT and decode at ``tbt_s``.

    Parameters
    ----------
    schedule : RequestSchedule
        Measured arrivals and tokens (N requests).
    ttft_s : array_like of float, shape (N,)
        Measured time to first token [s], >= 0.
    tbt_s : float or array_like of float, shape (N,)
        Time between tokens [s], > 0 (e.g. the engine counters' mean TBT).
    max_batch : int
        Recorded slot count (no queueing is simulated).

    Returns
    -------
    BatchTimeline

    Raises
    ------
    SurrogateError
        Wrong lengths, negative TTFT or non-positive TBT.
    """
    n = len(schedule)
    ttft = np.asarray(ttft_s, dtype=np.float64)
    tbt = np.broadcast_to(np.asarray(tbt_s, dtype=np.float64), (n,)).copy()
    if ttft.shape != (n,):
        raise SurrogateError(f"ttft_s: shape {ttft.shape}, expected ({n},)")
    if not np.all(np.isfinite(ttft)) or (ttft < 0).any():
        raise SurrogateError("ttft_s: must be finite and >= 0 [s]")
    if not np.all(np.isfinite(tbt)) or (tbt <= 0).any():
        raise SurrogateError("tbt_s: must be finite and > 0 [s]")
    arrival = np.asarray(schedule.arrival_s, dtype=np.float64).copy()
    first = arrival + ttft
    return BatchTimeline(
        arrival_s=arrival,
        start_s=arrival.copy(),
        first_token_s=first,
        end_s=first + (schedule.n_out - 1) * tbt,
        n_in=np.asarray(schedule.n_in).copy(),
        n_out=np.asarray(schedule.n_out).copy(),
        ttft_s=ttft,
        tbt_s=tbt,
        start=schedule.start,
        duration_s=schedule.duration_s,
        max_batch=int(max_batch),
        n_queued=0,
    )


def simulate_work(
    schedule: RequestSchedule,
    latency: LatencyModel,
    *,
    n_cached: Any = None,
    prefix_hit_rate: float | None = None,
    max_batch: int = MAX_BATCH,
    max_num_batched_tokens: int = DEFAULT_MAX_NUM_BATCHED_TOKENS,
    rng: np.random.Generator | int | None = None,
    dt_s: float = DT_S,
    duration_s: float | None = None,
) -> WorkloadFeatures:
    """Surrogate features with the work ledger in ``extra`` (A_t, dA_t and the ledger).

    The batching surrogate (:func:`~traces.workload.surrogate.simulate_batching`) runs with TTFT
    drawn for each request's *uncached* prompt length (a prefix hit shortens prefill); the
    random draws are the same as :func:`~traces.workload.surrogate.features_for_schedule`'s, so
    without caching A_t is identical to it for the same ``rng``.

    Parameters
    ----------
    schedule : RequestSchedule
    latency : LatencyModel
    n_cached, prefix_hit_rate
        See :func:`cached_prompt_tokens` (per-request values or a scenario hit rate).
    max_batch : int
        Surrogate slots (64).
    max_num_batched_tokens : int
        Per-iteration token budget (8,192).
    rng : numpy.random.Generator, int or None
    dt_s, duration_s : float
        Grid step and horizon [s] (default ``schedule.duration_s``).

    Returns
    -------
    WorkloadFeatures
        ``extra`` holds the surrogate's ``prefill_tokens``, ``decode_rate``, ``waiting``
        and the :data:`LEDGER_COLUMNS`.
    """
    cached = cached_prompt_tokens(schedule.n_in, n_cached=n_cached, prefix_hit_rate=prefix_hit_rate)
    sim_schedule = schedule
    if cached.any():
        sim_schedule = RequestSchedule(
            arrival_s=schedule.arrival_s,
            n_in=np.asarray(schedule.n_in) - cached,
            n_out=schedule.n_out,
            start=schedule.start,
            duration_s=schedule.duration_s,
        )
    timeline = simulate_batching(sim_schedule, latency, max_batch=max_batch, rng=rng)
    if cached.any():
        timeline = replace(timeline, n_in=np.asarray(schedule.n_in).copy())
    feats = workload_features(timeline, duration_s=duration_s, dt_s=dt_s, extra=True)
    ledger = work_ledger(
        timeline,
        n_cached=cached,
        max_num_batched_tokens=max_num_batched_tokens,
        duration_s=duration_s,
        dt_s=dt_s,
    )
    return replace(feats, extra={**feats.extra, **ledger.columns()})
