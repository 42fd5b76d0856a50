"""Continuous-batching workload surrogate and workload features (paper §2.1, Eqs 4–6).

The power model is driven by the number of requests a server is working on, not by the
arrival process directly.  This module turns a :class:`~traces.workload.schedule.RequestSchedule`
into that workload:

1. :class:`LatencyModel` — per-request latencies.  Time to first token (prefill), Eq 4::

       log TTFT_i = a0 + a1 * log(n_in_i + 1) + e_i,   e_i ~ N(0, ttft_sigma^2)

   and time between tokens (decode), Eq 5: ``log TBT_i ~ N(tbt_mu, tbt_sigma^2)``, one
   draw per request (its mean inter-token time).  Fitted from measured bundles by
   :func:`fit_latency_model` (OLS for Eq 4; engine decode-time counters for Eq 5).
2. :func:`simulate_batching` — a FIFO continuous-batching server with at most
   ``max_batch`` concurrent requests (64 in the paper).  Request i starts at
   ``max(arrival_i, earliest free slot)``, prefills for ``TTFT_i`` (its first token is
   emitted at ``first_token_s = start_s + TTFT_i``), then decodes the remaining
   ``n_out_i - 1`` tokens at ``TBT_i`` each: ``end_s = first_token_s + (n_out_i - 1) *
   TBT_i``.
3. :func:`workload_features` — on the 250 ms grid ``t_k = k * dt``: the active-request
   count ``A_t`` = #requests started and not finished at ``t_k`` (Eq 6) and
   ``dA_t = A_t - A_{t-1}``, plus optional extra features.

:func:`validate_surrogate` reproduces the paper's Appendix A.1 check on measured bundles:
simulated ``A_t`` against the engine's measured ``num_requests_running``.

Decode-time convention
----------------------
The first output token is produced by the prefill step, so a request decodes
``n_out - 1`` further tokens.  This matches the authors' alignment code (decode time =
``sum(itls)``, which has ``n_out - 1`` entries) and vLLM's ``request_decode_time_seconds``
(first to last token).  A request with ``n_out = 1`` ends at its first token.

References
----------
G. Wilkins, F. Kazhamiaka, R. Rajagopal, "From Servers to Sites: Compositional Power Trace
Generation of LLM Inference for Infrastructure Planning", 2026: §2.1, §3.3, Eqs 4–6,
Appendix A.1.

One cohesive module over ~600 lines: the continuous-batching surrogate (latency model,
its fit, the batching simulation, the features it yields and their validation against
measured A_t), one model of the paper (§3.1).
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from traces import DT_S
from traces.workload.schedule import RequestSchedule

if TYPE_CHECKING:  # pragma: no cover - typing only
    from traces.workload.records import RequestLog

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_BATCH",
    "SurrogateError",
    "LatencyModel",
    "fit_latency_model",
    "estimate_tbt",
    "BatchTimeline",
    "simulate_batching",
    "WorkloadFeatures",
    "workload_features",
    "features_for_schedule",
    "active_at",
    "validate_surrogate",
]

#: Maximum number of concurrently running requests in the paper's surrogate.
MAX_BATCH: int = 64

RngLike = np.random.Generator | int | None


class SurrogateError(ValueError):
    """Invalid latency parameters, timeline, feature grid or fitting data."""


# --------------------------------------------------------------------------- latency model


def _finite(value: Any, *, name: str, nonneg: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise SurrogateError(f"{name}: expected a number, got {value!r}") from exc
    if not math.isfinite(v) or (nonneg and v < 0):
        need = "finite and >= 0" if nonneg else "finite"
        raise SurrogateError(f"{name}: must be {need}, got {value!r}")
    return v


@dataclass(frozen=True)
class LatencyModel:
    """Per-request latency model: TTFT (Eq 4) and TBT (Eq 5) of one configuration.

    Parameters
    ----------
    ttft_a0 : float
        Intercept of Eq 4, ``log TTFT [s]``.
    ttft_a1 : float
        Slope of ``log TTFT`` on ``log(n_in + 1)`` [-].
    ttft_sigma : float
        Standard deviation of the Eq 4 residual (log scale), >= 0.
    tbt_mu : float
        Mean of ``log TBT [s]`` (Eq 5).
    tbt_sigma : float
        Standard deviation of ``log TBT`` (log scale), >= 0.
    source : str
        Provenance: ``"fit:<config>/<runs>"``, ``"typical values"``, ...
    details : dict
        JSON-serialisable fit diagnostics (counts, R², per-bundle TBT estimates).

    Raises
    ------
    SurrogateError
        Non-finite parameters or negative sigmas.

    Examples
    --------
    From a benchmark sweep or SLO: median TTFT 150 ms for a 1000-token prompt, mean TBT
    20 ms:

    >>> lat = LatencyModel.from_typical(0.150, 0.020, n_in_ref=1000, ttft_a1=0.2)
    >>> round(lat.median_ttft_s(1000), 3), round(lat.mean_tbt_s, 3)
    (0.15, 0.02)
    """

    ttft_a0: float
    ttft_a1: float
    ttft_sigma: float
    tbt_mu: float
    tbt_sigma: float
    source: str = "manual"
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ttft_a0", _finite(self.ttft_a0, name="ttft_a0"))
        object.__setattr__(self, "ttft_a1", _finite(self.ttft_a1, name="ttft_a1"))
        object.__setattr__(
            self, "ttft_sigma", _finite(self.ttft_sigma, name="ttft_sigma", nonneg=True)
        )
        object.__setattr__(self, "tbt_mu", _finite(self.tbt_mu, name="tbt_mu"))
        object.__setattr__(
            self, "tbt_sigma", _finite(self.tbt_sigma, name="tbt_sigma", nonneg=True)
        )
        if not isinstance(self.source, str):
            raise SurrogateError(f"source: expected a string, got {type(self.source).__name__}")

    @classmethod
    def from_typical(
        cls,
        ttft_median_s: float,
        tbt_mean_s: float,
        *,
        n_in_ref: int,
        ttft_a1: float,
        ttft_sigma: float = 0.0,
        tbt_sigma: float = 0.0,
        source: str = "typical values",
    ) -> LatencyModel:
        """Build from typical values (benchmark sweep, SLOs, vendor numbers).

        Parameters
        ----------
        ttft_median_s : float
            Median TTFT [s] of a prompt of ``n_in_ref`` tokens, > 0.
        tbt_mean_s : float
            Mean time between tokens [s], > 0 (``tbt_mu = log(tbt_mean_s) - tbt_sigma²/2``).
        n_in_ref : int
            Prompt length [tokens] at which ``ttft_median_s`` holds.
        ttft_a1 : float
            Slope of Eq 4 (0 = TTFT independent of prompt length).
        ttft_sigma, tbt_sigma : float
            Log-scale spreads, >= 0.
        """
        t = _finite(ttft_median_s, name="ttft_median_s")
        b = _finite(tbt_mean_s, name="tbt_mean_s")
        if t <= 0 or b <= 0:
            raise SurrogateError("ttft_median_s and tbt_mean_s must be > 0 [s]")
        if n_in_ref < 0:
            raise SurrogateError(f"n_in_ref: must be >= 0 tokens, got {n_in_ref}")
        a0 = math.log(t) - ttft_a1 * math.log(n_in_ref + 1.0)
        mu = math.log(b) - 0.5 * float(tbt_sigma) ** 2
        return cls(a0, ttft_a1, ttft_sigma, mu, tbt_sigma, source)

    @property
    def mean_tbt_s(self) -> float:
        """Mean TBT of the log-normal, ``exp(mu + sigma²/2)`` [s]."""
        return math.exp(self.tbt_mu + 0.5 * self.tbt_sigma**2)

    def median_ttft_s(self, n_in: Any) -> Any:
        """Median TTFT ``exp(a0 + a1 log(n_in + 1))`` [s] for prompt length(s) [tokens]."""
        return np.exp(self.ttft_a0 + self.ttft_a1 * np.log1p(np.asarray(n_in, dtype=np.float64)))

    def sample_ttft_s(self, n_in: np.ndarray, *, rng: RngLike = None) -> np.ndarray:
        """Draw TTFT [s], shape (N,), for prompt lengths ``n_in`` [tokens] (Eq 4)."""
        gen = np.random.default_rng(rng)
        x = np.log1p(np.asarray(n_in, dtype=np.float64))
        return np.exp(
            self.ttft_a0 + self.ttft_a1 * x + self.ttft_sigma * gen.standard_normal(x.shape)
        )

    def sample_tbt_s(self, n: int, *, rng: RngLike = None) -> np.ndarray:
        """Draw ``n`` per-request TBTs [s], shape (n,) (Eq 5)."""
        gen = np.random.default_rng(rng)
        return np.exp(self.tbt_mu + self.tbt_sigma * gen.standard_normal(int(n)))

    def scaled(self, factor: float, *, source: str | None = None) -> LatencyModel:
        """The same model with every TTFT and TBT stretched by ``factor`` (a slower server).

        ``log TTFT`` and ``log TBT`` shift by ``log(factor)``: ``ttft_a0 + log(factor)``,
        ``tbt_mu + log(factor)``, spreads unchanged, so every drawn latency is ``factor``
        times the unscaled one for the same random numbers.  Used for a GPU power cap
        (:mod:`traces.facility.flexibility`), where the stretch comes from the power
        layer; this layer only sees the factor.

        Parameters
        ----------
        factor : float
            Latency stretch [-], finite and > 0 (> 1 slower, 1 returns ``self``).
        source : str, optional
            Provenance of the scaled model; default ``"<source> x<factor>"``.

        Raises
        ------
        SurrogateError
            ``factor`` not finite or <= 0.
        """
        f = _finite(factor, name="factor")
        if f <= 0:
            raise SurrogateError(f"factor: latency stretch must be > 0, got {factor!r}")
        if f == 1.0:
            return self
        shift = math.log(f)
        return LatencyModel(
            ttft_a0=self.ttft_a0 + shift,
            ttft_a1=self.ttft_a1,
            ttft_sigma=self.ttft_sigma,
            tbt_mu=self.tbt_mu + shift,
            tbt_sigma=self.tbt_sigma,
            source=source if source is not None else f"{self.source} x{f:.6g}",
            details=dict(self.details),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict; inverse of :meth:`from_dict`."""
        return {
            "kind": "LatencyModel",
            "version": 1,
            "ttft_a0": self.ttft_a0,
            "ttft_a1": self.ttft_a1,
            "ttft_sigma": self.ttft_sigma,
            "tbt_mu": self.tbt_mu,
            "tbt_sigma": self.tbt_sigma,
            "source": self.source,
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatencyModel:
        """Rebuild from :meth:`to_dict` output.

        Raises
        ------
        SurrogateError
            Wrong ``kind``/``version`` or missing parameters.
        """
        if not isinstance(data, dict) or data.get("kind") != "LatencyModel":
            raise SurrogateError("from_dict: not a LatencyModel dict (kind != 'LatencyModel')")
        if data.get("version") != 1:
            raise SurrogateError(f"from_dict: unsupported version {data.get('version')!r}")
        keys = ("ttft_a0", "ttft_a1", "ttft_sigma", "tbt_mu", "tbt_sigma")
        missing = [k for k in keys if k not in data]
        if missing:
            raise SurrogateError(f"from_dict: missing parameter(s) {missing}")
        return cls(
            ttft_a0=data["ttft_a0"],
            ttft_a1=data["ttft_a1"],
            ttft_sigma=data["ttft_sigma"],
            tbt_mu=data["tbt_mu"],
            tbt_sigma=data["tbt_sigma"],
            source=data.get("source", "unknown"),
            details=dict(data.get("details", {})),
        )


# --------------------------------------------------------------------------- fitting


def _label(bundle: RequestLog) -> str:
    return f"{bundle.config_id}/{bundle.run_id}"


def estimate_tbt(bundle: RequestLog, *, window_s: float = 5.0) -> dict[str, Any]:
    """Time-between-tokens statistics of one measured bundle (input to Eq 5).

    Two sources, in order of preference:

    * ``itl_s`` (per-request inter-token latencies, when the bundle has them): the mean
      ITL of every request with >= 2 output tokens; ``log`` of those is the Eq 5 sample.
    * engine counters (the bundles shipped here have no ITLs): the **mean** TBT is the
      engine's decode time over the decode tokens,
      ``Δ request_decode_time_seconds_sum / sum(n_out - 1)`` (vLLM's decode time runs from
      a request's first to its last token, so this is exactly the mean inter-token time
      per decode token).  The **spread** comes from the engine log in windows of
      ``window_s``: ``∫ num_requests_running dt / Δ generation_tokens_total`` is the
      time a running request waits per generated token in that window; the
      request-second-weighted standard deviation of its log over loaded windows is
      ``sigma``.  It includes prefill time (a few % of request time) and is smoothed over
      the requests of a window.

    Parameters
    ----------
    bundle : RequestLog
        E.g. a :class:`traces.measured.ingest.MeasuredBundle`.
    window_s : float
        Window for the spread estimate [s].

    Returns
    -------
    dict
        ``method`` ("itl" | "engine_counters"), ``mean_s``, ``log_mu``, ``log_sigma``,
        ``n`` (requests or windows used), and for the counter method the cross-checks
        ``counter_running_per_token_s`` (whole-run ``∫running dt / Δgeneration_tokens``).

    Raises
    ------
    SurrogateError
        Neither ITLs nor an engine log with the needed columns, or no decode tokens.
    """
    req = bundle.requests
    decode_tokens = int((req["n_out"].to_numpy() - 1).sum())
    if "itl_s" in req.columns:
        means = []
        for itl in req["itl_s"]:
            vals = np.asarray(itl if itl is not None else [], dtype=np.float64)
            if len(vals) and np.all(np.isfinite(vals)) and vals.mean() > 0:
                means.append(float(vals.mean()))
        n_skip = len(req) - len(means)
        if bundle.metadata.get("itls_flat"):
            logger.info(
                "%s: flat ITL list (one value per request) used as per-request means",
                _label(bundle),
            )
        if len(means) >= 2:
            if n_skip:
                logger.info(
                    "%s: %d request(s) without usable ITLs (e.g. n_out = 1) not used for TBT",
                    _label(bundle),
                    n_skip,
                )
            logt = np.log(np.asarray(means))
            return {
                "method": "itl",
                "mean_s": float(np.mean(means)),
                "log_mu": float(logt.mean()),
                "log_sigma": float(logt.std(ddof=1)),
                "n": len(means),
                "decode_tokens": decode_tokens,
            }
        logger.info(
            "%s: fewer than 2 requests with ITLs; using the engine counters", _label(bundle)
        )
    engine = bundle.engine
    need = {"request_decode_time_seconds_sum", "generation_tokens_total", "num_requests_running"}
    if engine is None or not need <= set(engine.columns):
        raise SurrogateError(
            f"{_label(bundle)}: no itl_s column and no engine log with {sorted(need)}; "
            f"cannot estimate TBT (give a LatencyModel directly)"
        )
    if decode_tokens <= 0:
        raise SurrogateError(f"{_label(bundle)}: no request has n_out >= 2; TBT is undefined")
    dec = engine["request_decode_time_seconds_sum"].to_numpy()
    mean_s = float((dec[-1] - dec[0]) / decode_tokens)
    t = engine.index.asi8 / 1e9
    running = engine["num_requests_running"].to_numpy()[:-1]
    gen = np.diff(engine["generation_tokens_total"].to_numpy())
    req_s = running * np.diff(t)
    win = np.floor((t[:-1] - t[0]) / window_s).astype(np.int64)
    req_s_w = np.bincount(win, weights=req_s)
    gen_w = np.bincount(win, weights=gen)
    loaded = (req_s_w > 0) & (gen_w > 0)
    if loaded.sum() >= 2:
        log_w = np.log(req_s_w[loaded] / gen_w[loaded])
        sigma = float(np.sqrt(np.cov(log_w, aweights=req_s_w[loaded])))
    else:
        sigma = 0.0
        logger.info("%s: fewer than 2 loaded windows; TBT sigma set to 0", _label(bundle))
    return {
        "method": "engine_counters",
        "mean_s": mean_s,
        "log_mu": math.log(mean_s) - 0.5 * sigma**2,
        "log_sigma": sigma,
        "n": int(loaded.sum()),
        "counter_running_per_token_s": float(req_s.sum() / max(gen.sum(), 1.0)),
        "decode_tokens": decode_tokens,
    }


def fit_latency_model(bundles: Sequence[RequestLog], *, tbt_window_s: float = 5.0) -> LatencyModel:
    """Fit Eq 4 (TTFT) and Eq 5 (TBT) on measured bundles of one configuration.

    * Eq 4: ordinary least squares (``statsmodels.OLS``) of ``log ttft_s`` on
      ``[1, log(n_in + 1)]`` over all requests of all bundles pooled; ``ttft_sigma`` is
      the residual standard error (``sqrt(scale)``, ddof = 2).
    * Eq 5: per bundle :func:`estimate_tbt`; pooled by weighting each bundle's mean with
      its decode tokens ``sum(n_out - 1)``, ``tbt_sigma`` the pooled
      root-mean-square of the per-bundle sigmas, and ``tbt_mu = log(mean) - sigma²/2`` so
      that the model's mean TBT equals the measured one (the mean is what sets the
      request durations and, by Little's law, the mean of A_t).

    Parameters
    ----------
    bundles : sequence of RequestLog
        E.g. :class:`traces.measured.ingest.MeasuredBundle`.
        Bundles of one configuration (their ``config_id`` may differ only if the caller
        wants to pool; a mix is logged).
    tbt_window_s : float
        Window of the counter-based TBT spread [s].

    Returns
    -------
    LatencyModel
        ``details`` holds ``n_requests``, ``r2``, the parameter standard errors and the
        per-bundle TBT estimates.

    Raises
    ------
    SurrogateError
        No bundles, non-positive or non-finite TTFTs, too few requests.
    """
    if not bundles:
        raise SurrogateError("bundles: need at least one measured bundle to fit")
    import statsmodels.api as sm

    configs = sorted({b.config_id for b in bundles})
    if len(configs) > 1:
        logger.info("fit_latency_model: pooling %d configurations %s", len(configs), configs)
    n_in = np.concatenate([b.requests["n_in"].to_numpy(dtype=np.float64) for b in bundles])
    ttft = np.concatenate([b.requests["ttft_s"].to_numpy(dtype=np.float64) for b in bundles])
    bad = ~np.isfinite(ttft) | (ttft <= 0)
    if bad.any():
        raise SurrogateError(
            f"ttft_s: {int(bad.sum())} non-positive or non-finite TTFT(s) in the bundles; "
            f"clean the request tables first"
        )
    if len(ttft) < 3:
        raise SurrogateError(f"bundles: {len(ttft)} requests; need >= 3 to fit Eq 4")
    x = sm.add_constant(np.log1p(n_in), has_constant="add")
    ols = sm.OLS(np.log(ttft), x).fit()
    tbts = [estimate_tbt(b, window_s=tbt_window_s) for b in bundles]
    weights = np.array([max(t["decode_tokens"], 1) for t in tbts], dtype=np.float64)
    mean_s = float(np.average([t["mean_s"] for t in tbts], weights=weights))
    sigma = float(np.sqrt(np.average([t["log_sigma"] ** 2 for t in tbts], weights=weights)))
    runs = ",".join(b.run_id for b in bundles)
    return LatencyModel(
        ttft_a0=float(ols.params[0]),
        ttft_a1=float(ols.params[1]),
        ttft_sigma=float(np.sqrt(ols.scale)),
        tbt_mu=math.log(mean_s) - 0.5 * sigma**2,
        tbt_sigma=sigma,
        source=f"fit:{'+'.join(configs)}/{runs}",
        details={
            "n_requests": len(ttft),
            "ttft_r2": float(ols.rsquared),
            "ttft_a0_se": float(ols.bse[0]),
            "ttft_a1_se": float(ols.bse[1]),
            "tbt_mean_s": mean_s,
            "tbt": {_label(b): t for b, t in zip(bundles, tbts, strict=True)},
        },
    )


# --------------------------------------------------------------------------- simulation


@dataclass(frozen=True)
class BatchTimeline:
    """Per-request timeline of the continuous-batching surrogate.

    All times are seconds after ``start`` (float64 arrays of shape (N,), in schedule
    order).

    Attributes
    ----------
    arrival_s : numpy.ndarray
        Arrival [s].
    start_s : numpy.ndarray
        Time the request enters the batch [s] (``>= arrival_s``; later when queued).
    first_token_s : numpy.ndarray
        End of prefill / first token [s] (``start_s + ttft_s``).
    end_s : numpy.ndarray
        Last token [s] (``first_token_s + (n_out - 1) * tbt_s``).
    n_in, n_out : numpy.ndarray of int64
        Prompt / output tokens.
    ttft_s, tbt_s : numpy.ndarray
        Drawn prefill duration and per-request TBT [s].
    start : pandas.Timestamp
        UTC time of 0 s.
    duration_s : float
        Horizon of the schedule [s].
    max_batch : int
        Slot count used.
    n_queued : int
        Requests that waited for a slot (``start_s > arrival_s``).
    """

    arrival_s: np.ndarray
    start_s: np.ndarray
    first_token_s: np.ndarray
    end_s: np.ndarray
    n_in: np.ndarray
    n_out: np.ndarray
    ttft_s: np.ndarray
    tbt_s: np.ndarray
    start: pd.Timestamp
    duration_s: float
    max_batch: int
    n_queued: int

    def __len__(self) -> int:
        return int(self.arrival_s.shape[0])

    def to_frame(self) -> pd.DataFrame:
        """Per-request table with the arrays above as columns (times in [s])."""
        return pd.DataFrame(
            {
                "arrival_s": self.arrival_s,
                "start_s": self.start_s,
                "first_token_s": self.first_token_s,
                "end_s": self.end_s,
                "n_in": self.n_in,
                "n_out": self.n_out,
                "ttft_s": self.ttft_s,
                "tbt_s": self.tbt_s,
            }
        )


def _fifo_starts(arrival_s: np.ndarray, service_s: np.ndarray, max_batch: int) -> np.ndarray:
    """Start times of a FIFO queue with ``max_batch`` servers (G/G/c, Kiefer–Wolfowitz).

    Fast path: if no request ever finds all slots busy when started at its arrival, the
    starts are the arrivals (checked with one ``searchsorted``).  Otherwise a heap of
    slot free-times is run from the first request that finds the server full.
    """
    n = len(arrival_s)
    if n <= max_batch:
        return arrival_s.copy()
    end_free = arrival_s + service_s
    ends_sorted = np.sort(end_free)
    # requests j < i still running at arrival_i if every request starts on arrival
    busy = np.arange(n) - np.searchsorted(ends_sorted, arrival_s, side="right")
    full = np.flatnonzero(busy >= max_batch)
    if len(full) == 0:
        return arrival_s.copy()
    first = int(full[0])
    starts = arrival_s.copy()
    # up to `first` nobody waited: the slots hold the ends of requests 0..first-1
    heap = list(np.sort(end_free[:first])[-max_batch:])
    heap = [float(e) for e in heap]
    while len(heap) < max_batch:
        heap.append(-math.inf)
    heapq.heapify(heap)
    arr = arrival_s.tolist()
    svc = service_s.tolist()
    out = starts.tolist()
    replace = heapq.heapreplace
    for i in range(first, n):
        free = heap[0]
        s = arr[i] if arr[i] >= free else free
        out[i] = s
        replace(heap, s + svc[i])
    return np.asarray(out, dtype=np.float64)


def simulate_batching(
    schedule: RequestSchedule,
    latency: LatencyModel,
    *,
    max_batch: int = MAX_BATCH,
    rng: RngLike = None,
    service_scale: np.ndarray | None = None,
    latencies: tuple[np.ndarray, np.ndarray] | None = None,
) -> BatchTimeline:
    """Simulate a FIFO continuous-batching server (paper §2.1, Eqs 4–5).

    Each request draws ``TTFT_i`` from Eq 4 given its ``n_in`` and ``TBT_i`` from Eq 5
    (in this order, with one normal vector each, so the same ``rng`` gives the same
    timeline).  Request i starts at ``max(arrival_i, earliest free slot)`` (first in,
    first out; at most ``max_batch`` requests in the batch), emits its first token after
    ``TTFT_i`` and its last after ``(n_out_i - 1) * TBT_i`` more.  Latencies do not
    depend on the batch size (the paper's surrogate; see docs/surrogate.md).

    Parameters
    ----------
    schedule : RequestSchedule
        Arrivals [s] and tokens.
    latency : LatencyModel
        Fitted or typical latencies.
    max_batch : int
        Maximum concurrent requests, >= 1 (paper: 64).
    rng : numpy.random.Generator, int or None
    service_scale : numpy.ndarray, shape (N,), optional
        Per-request stretch [-] (> 0) of the drawn ``TTFT_i`` and ``TBT_i``, applied after
        the draws (so the random numbers are the same with and without it): a server
        that is slower for some requests, e.g. those served under a power cap
        (:mod:`traces.facility.flexibility`).  ``None`` or all ones: unchanged.
    latencies : (ttft_s, tbt_s), each shape (N,), optional
        Latencies drawn beforehand (e.g. with :meth:`LatencyModel.sample_ttft_s` and
        :meth:`LatencyModel.sample_tbt_s` in another order of the same requests, so a
        request keeps its own draws when requests are reordered); ``rng`` is then unused.

    Returns
    -------
    BatchTimeline
        ``n_queued`` counts requests that waited for a slot (logged when > 0).

    Raises
    ------
    SurrogateError
        Wrong argument types, ``max_batch < 1``, or a ``service_scale`` of the wrong
        shape or not finite and > 0.

    Notes
    -----
    Cost: O(N log N) vectorised when the batch never fills, plus an O(N log max_batch)
    heap pass from the first request that finds it full (benchmarks/bench_surrogate.py).
    """
    if not isinstance(schedule, RequestSchedule):
        raise SurrogateError(f"schedule: expected a RequestSchedule, got {type(schedule).__name__}")
    if not isinstance(latency, LatencyModel):
        raise SurrogateError(f"latency: expected a LatencyModel, got {type(latency).__name__}")
    if int(max_batch) != max_batch or max_batch < 1:
        raise SurrogateError(f"max_batch: must be an integer >= 1, got {max_batch!r}")
    max_batch = int(max_batch)
    gen = np.random.default_rng(rng)
    n = len(schedule)
    if latencies is None:
        ttft = latency.sample_ttft_s(schedule.n_in, rng=gen)
        tbt = latency.sample_tbt_s(n, rng=gen)
    else:
        ttft, tbt = (np.asarray(a, dtype=np.float64) for a in latencies)
        if ttft.shape != (n,) or tbt.shape != (n,):
            raise SurrogateError(
                f"latencies: expected two arrays of shape ({n},), got {ttft.shape}, {tbt.shape}"
            )
        if not (np.all(np.isfinite(ttft) & (ttft > 0)) and np.all(np.isfinite(tbt) & (tbt > 0))):
            raise SurrogateError("latencies: every TTFT and TBT must be finite and > 0 [s]")
    if service_scale is not None:
        scale = np.asarray(service_scale, dtype=np.float64)
        if scale.shape != (n,):
            raise SurrogateError(
                f"service_scale: expected shape ({n},) (one factor per request), got {scale.shape}"
            )
        if not np.all(np.isfinite(scale) & (scale > 0)):
            raise SurrogateError("service_scale: every factor must be finite and > 0")
        ttft = ttft * scale
        tbt = tbt * scale
    service = ttft + (schedule.n_out - 1) * tbt
    arrival = np.asarray(schedule.arrival_s, dtype=np.float64)
    start_s = _fifo_starts(arrival, service, max_batch)
    first_token = start_s + ttft
    end = first_token + (schedule.n_out - 1) * tbt
    n_queued = int((start_s > arrival).sum())
    if n_queued:
        logger.info(
            "simulate_batching: %d of %d requests waited for a slot (max_batch=%d); mean wait %.3f s",
            n_queued,
            n,
            max_batch,
            float((start_s - arrival).mean()),
        )
    return BatchTimeline(
        arrival_s=arrival.copy(),
        start_s=start_s,
        first_token_s=first_token,
        end_s=end,
        n_in=np.asarray(schedule.n_in).copy(),
        n_out=np.asarray(schedule.n_out).copy(),
        ttft_s=ttft,
        tbt_s=tbt,
        start=schedule.start,
        duration_s=schedule.duration_s,
        max_batch=max_batch,
        n_queued=n_queued,
    )


# --------------------------------------------------------------------------- features


@dataclass(frozen=True)
class WorkloadFeatures:
    """Workload features on the regular grid ``t_k = k * dt_s`` after ``start``.

    Attributes
    ----------
    time_s : numpy.ndarray, shape (T,)
        Grid times [s] after ``start``.
    active : numpy.ndarray, shape (T,)
        A_t, requests started and not finished at ``t_k`` (Eq 6), float64.
    delta_active : numpy.ndarray, shape (T,)
        dA_t = A_t - A_{t-1}; ``dA_0 = 0`` (no history before the grid).
    extra : dict of str to numpy.ndarray (T,)
        Optional features: ``prefill_tokens`` [tokens] (prompt tokens of requests in
        prefill at ``t_k``), ``decode_rate`` [tokens/s] (sum of ``1/TBT_i`` over requests
        decoding at ``t_k``), ``waiting`` [requests] (arrived, not yet started).
    dt_s : float
        Grid step [s].
    start : pandas.Timestamp or None
        UTC time of ``time_s == 0``.
    """

    time_s: np.ndarray
    active: np.ndarray
    delta_active: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    dt_s: float = DT_S
    start: pd.Timestamp | None = None

    def __len__(self) -> int:
        return int(self.time_s.shape[0])

    def index(self, start: pd.Timestamp | None = None) -> pd.DatetimeIndex:
        """UTC DatetimeIndex of the grid (``start`` defaults to the stored one).

        Raises
        ------
        SurrogateError
            No start given or stored, or a naive start.
        """
        t0 = self.start if start is None else pd.Timestamp(start)
        if t0 is None:
            raise SurrogateError("index: give start (no start stored in these features)")
        if t0.tzinfo is None:
            raise SurrogateError("start: naive timestamp; give a tz-aware UTC one")
        t0 = t0.tz_convert("UTC")
        return pd.DatetimeIndex(t0 + pd.to_timedelta(self.time_s, unit="s"), name="time")

    def to_frame(self, start: pd.Timestamp | None = None) -> pd.DataFrame:
        """Features as a DataFrame on :meth:`index` (columns ``active``, ``delta_active``, extras)."""
        data = {"active": self.active, "delta_active": self.delta_active, **self.extra}
        return pd.DataFrame(data, index=self.index(start))


def _count_le(sorted_times: np.ndarray, grid: np.ndarray) -> np.ndarray:
    return np.searchsorted(sorted_times, grid, side="right")


def _sum_le(times: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """``sum(values[times <= t])`` for each grid time t."""
    order = np.argsort(times, kind="stable")
    csum = np.concatenate([[0.0], np.cumsum(values[order])])
    return csum[np.searchsorted(times[order], grid, side="right")]


def workload_features(
    timeline: BatchTimeline,
    *,
    duration_s: float | None = None,
    dt_s: float = DT_S,
    extra: bool = True,
) -> WorkloadFeatures:
    """A_t and dA_t on a regular grid (Eq 6), plus optional extra features.

    ``A(t_k) = #{i: start_i <= t_k} - #{i: end_i <= t_k}`` for ``t_k = k * dt_s``,
    ``k = 0 .. T-1``, ``T = ceil(duration_s / dt_s)`` (a duration that is a whole number
    of steps, as from :meth:`RequestSchedule.from_bundle`, gives exactly
    ``duration_s / dt_s`` points).  A request that ends exactly at ``t_k`` is not active
    there.  Computed with ``numpy.searchsorted``: O((N + T) log N).

    Parameters
    ----------
    timeline : BatchTimeline
    duration_s : float, optional
        Horizon [s]; default ``timeline.duration_s``.  Requests still running at the end
        are simply active on the last points (nothing is cut).
    dt_s : float
        Grid step [s], default 0.25.
    extra : bool
        Also compute ``prefill_tokens``, ``decode_rate`` and ``waiting``.

    Returns
    -------
    WorkloadFeatures

    Raises
    ------
    SurrogateError
        Non-positive ``duration_s`` or ``dt_s``.
    """
    dur = _finite(timeline.duration_s if duration_s is None else duration_s, name="duration_s")
    step = _finite(dt_s, name="dt_s")
    if dur <= 0 or step <= 0:
        raise SurrogateError(f"duration_s and dt_s must be > 0, got {dur} and {step}")
    n_steps = int(math.ceil(dur / step - 1e-9))
    grid = np.arange(n_steps, dtype=np.float64) * step
    start_sorted = np.sort(timeline.start_s)
    end_sorted = np.sort(timeline.end_s)
    active = (_count_le(start_sorted, grid) - _count_le(end_sorted, grid)).astype(np.float64)
    delta = np.diff(active, prepend=active[:1])
    feats: dict[str, np.ndarray] = {}
    if extra:
        n_in = timeline.n_in.astype(np.float64)
        feats["prefill_tokens"] = _sum_le(timeline.start_s, n_in, grid) - _sum_le(
            timeline.first_token_s, n_in, grid
        )
        rate = 1.0 / timeline.tbt_s
        decoding = timeline.n_out > 1
        feats["decode_rate"] = _sum_le(
            timeline.first_token_s[decoding], rate[decoding], grid
        ) - _sum_le(timeline.end_s[decoding], rate[decoding], grid)
        # cancellation in the cumulative sums leaves ~1e-12 residues: round to exact 0
        feats["decode_rate"][np.abs(feats["decode_rate"]) < 1e-6] = 0.0
        feats["prefill_tokens"] = np.round(feats["prefill_tokens"])
        feats["waiting"] = (
            _count_le(timeline.arrival_s, grid) - _count_le(start_sorted, grid)
        ).astype(np.float64)
    return WorkloadFeatures(
        time_s=grid,
        active=active,
        delta_active=delta,
        extra=feats,
        dt_s=step,
        start=timeline.start,
    )


def features_for_schedule(
    schedule: RequestSchedule,
    latency: LatencyModel,
    *,
    max_batch: int = MAX_BATCH,
    rng: RngLike = None,
    dt_s: float = DT_S,
    duration_s: float | None = None,
    extra: bool = True,
) -> WorkloadFeatures:
    """:func:`simulate_batching` then :func:`workload_features` (horizon ``schedule.duration_s``)."""
    timeline = simulate_batching(schedule, latency, max_batch=max_batch, rng=rng)
    return workload_features(timeline, duration_s=duration_s, dt_s=dt_s, extra=extra)


# --------------------------------------------------------------------------- validation


def _compare(measured: np.ndarray, simulated: np.ndarray) -> dict[str, float]:
    err = simulated - measured
    corr = (
        float(stats.pearsonr(measured, simulated).statistic)
        if measured.std() > 0 and simulated.std() > 0
        else float("nan")
    )
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "ks": float(stats.ks_2samp(measured, simulated, method="asymp").statistic),
        "corr": corr,
        "mean_a_measured": float(measured.mean()),
        "mean_a_simulated": float(simulated.mean()),
        "max_a_measured": float(measured.max()),
        "max_a_simulated": float(simulated.max()),
    }


def active_at(timeline: BatchTimeline, times_s: np.ndarray) -> np.ndarray:
    """Exact A(t) = #{start_i <= t} - #{end_i <= t} at arbitrary times [s] (Eq 6).

    Parameters
    ----------
    timeline : BatchTimeline
    times_s : numpy.ndarray, shape (M,)
        Times [s] after ``timeline.start``.

    Returns
    -------
    numpy.ndarray of float64, shape (M,)
    """
    t = np.asarray(times_s, dtype=np.float64)
    return (_count_le(np.sort(timeline.start_s), t) - _count_le(np.sort(timeline.end_s), t)).astype(
        np.float64
    )


def _sampled_like_engine(
    timeline: BatchTimeline, grid_s: np.ndarray, engine_s: np.ndarray, dt_s: float
) -> np.ndarray:
    """Simulated A_t observed the way ``MeasuredBundle.active_requests`` observes vLLM.

    The engine count is scraped at the engine log's times and put on the power grid by
    sample-and-hold (last engine sample at or before each grid time; the first sample
    if it lies within one step after the grid time), as in ``traces.measured.ingest``.  Doing
    the same to the simulation removes the 0–250 ms staleness of the measurement from
    the comparison.
    """
    at_engine = active_at(timeline, engine_s)
    pos = np.searchsorted(engine_s, grid_s, side="right") - 1
    early = pos < 0
    pos = np.where(early & (engine_s[0] <= grid_s + dt_s), 0, pos)
    return np.where(pos >= 0, at_engine[np.clip(pos, 0, None)], np.nan)


def validate_surrogate(
    bundles: Sequence[RequestLog],
    *,
    max_batch: int = MAX_BATCH,
    rng: RngLike = 0,
    n_seeds: int = 1,
    observe: str = "engine",
) -> pd.DataFrame:
    """Simulated vs measured active requests on measured bundles (paper Appendix A.1).

    For each bundle the surrogate is driven by the bundle's own request schedule
    (:meth:`RequestSchedule.from_bundle`: real arrival times and tokens) and the
    simulated A_t is compared with the engine's measured ``num_requests_running`` on the
    power grid.  The latency model is fitted **leave-one-trace-out** when the bundle's
    configuration has other bundles (fitted on those others), else **on the bundle
    itself** (in-sample; column ``fit``).

    The comparison window is the *load window*: from the bundle's first request to the
    end of the power log (grid points with a measured value).  The idle prefix before
    the first request (up to 196 s in these bundles), where both counts are 0 apart from
    the client's test request, is left out so it cannot inflate the agreement.

    Parameters
    ----------
    bundles : sequence of RequestLog
        E.g. :class:`traces.measured.ingest.MeasuredBundle`.
        Bundles with ``active_requests`` (powertrace_sim format).
    max_batch : int
        Slots of the surrogate (64).
    rng : numpy.random.Generator, int or None
        Seeds the simulations; each bundle and seed gets its own child stream.
    n_seeds : int
        Simulations per bundle; metrics are averaged over them.
    observe : {"engine", "instant"}
        How the simulated A_t is read on the grid.  ``"engine"`` (default): evaluated at
        the engine log's scrape times and sample-and-held onto the grid exactly as the
        measured count is (``traces.measured.ingest``), so both carry the same 0–250 ms
        staleness; ``"instant"``: the exact count at each grid time (Eq 6).  The
        ``*_instant`` columns always give the instantaneous comparison.

    Returns
    -------
    pandas.DataFrame
        One row per bundle: ``config_id``, ``run_id``, ``fit``, ``n_requests``,
        ``n_points``, ``mae``, ``rmse`` [requests], ``ks`` (two-sample KS statistic of
        the A_t distributions), ``corr`` (Pearson), ``mean_a_measured``,
        ``mean_a_simulated``, ``max_a_measured``, ``max_a_simulated``, ``corr_instant``,
        ``mae_instant``, ``observe``, ``tbt_mean_ms``, ``ttft_a1``.

    Raises
    ------
    SurrogateError
        A bundle without measured active requests.
    """
    if not bundles:
        raise SurrogateError("bundles: nothing to validate")
    if observe not in ("engine", "instant"):
        raise SurrogateError(f"observe: expected 'engine' or 'instant', got {observe!r}")
    seeds = np.random.SeedSequence(
        rng if isinstance(rng, int) else np.random.default_rng(rng).integers(2**63)
    ).spawn(len(bundles))
    rows = []
    for b, seed in zip(bundles, seeds, strict=True):
        if b.active_requests is None:
            raise SurrogateError(f"{_label(b)}: no measured active_requests to compare with")
        others = [o for o in bundles if o.config_id == b.config_id and o.run_id != b.run_id]
        if others:
            latency = fit_latency_model(others)
            fit = f"leave-one-out ({len(others)} other)"
        else:
            latency = fit_latency_model([b])
            fit = "own bundle (in-sample)"
        schedule = RequestSchedule.from_bundle(b)
        measured = b.active_requests.to_numpy(dtype=np.float64)
        grid_s = (
            (pd.DatetimeIndex(b.active_requests.index) - schedule.start).total_seconds()
        ).to_numpy(dtype=np.float64)
        dt_s = float(grid_s[1] - grid_s[0]) if len(grid_s) > 1 else DT_S
        first = schedule.arrival_s[0] if len(schedule) else 0.0
        keep = (grid_s >= first) & np.isfinite(measured)
        engine = b.engine
        use_engine = observe == "engine" and engine is not None
        if observe == "engine" and engine is None:
            logger.info("%s: no engine log; comparing the instantaneous A_t", _label(b))
        engine_s = (
            (pd.DatetimeIndex(engine.index) - schedule.start).total_seconds().to_numpy()
            if use_engine and engine is not None
            else None
        )
        metrics = []
        for child in seed.spawn(n_seeds):
            tl = simulate_batching(
                schedule, latency, max_batch=max_batch, rng=np.random.default_rng(child)
            )
            instant = active_at(tl, grid_s)
            sim = (
                _sampled_like_engine(tl, grid_s, engine_s, dt_s)
                if engine_s is not None
                else instant
            )
            keep_k = keep & np.isfinite(sim)
            m = _compare(measured[keep_k], sim[keep_k])
            inst = _compare(measured[keep_k], instant[keep_k])
            m["corr_instant"] = inst["corr"]
            m["mae_instant"] = inst["mae"]
            metrics.append(m)
        row = {k: float(np.mean([m[k] for m in metrics])) for k in metrics[0]}
        rows.append(
            {
                "config_id": b.config_id,
                "run_id": b.run_id,
                "fit": fit,
                "n_requests": len(schedule),
                "n_points": int(keep.sum()),
                **row,
                "observe": "engine" if use_engine else "instant",
                "tbt_mean_ms": latency.mean_tbt_s * 1e3,
                "ttft_a1": latency.ttft_a1,
            }
        )
    return pd.DataFrame(rows)
