"""Baselines planners use today, with the generator's interface (paper §4.3).

Each baseline learns from training data with ``fit(data) -> self`` and then produces a
power trace on the 250 ms grid with ``generate_from_features(features, *, rng)``, the same
call as :meth:`traces.model.FittedConfiguration.generate_from_features`, so that the
evaluation (:mod:`traces.measured.evaluate`) and the facility model can swap them for the model.

* :class:`TDPBaseline` - nameplate power (TDP x TP GPUs), constant.
* :class:`MeanBaseline` - mean measured training power, constant.
* :class:`PhaseLUTBaseline` - Splitwise-style phase look-up table (Patel et al., "Splitwise:
  Efficient generative LLM inference using phase splitting", ISCA 2024): one power level per
  serving phase (idle / prefill / decode / mixed), learned as the mean measured power in that
  phase; the phase of each generated step comes from the surrogate's batch timeline.
* :class:`ActiveLookupBaseline` - E[P | A_t]: mean measured power for each count of active
  requests, looked up along the surrogate's A_t (the stronger yardstick).

``data`` is either a sequence of :class:`traces.measured.ingest.MeasuredBundle` or a sequence of
:class:`TrainingTrace` (plain arrays; useful for tests and for stored statistics).

References
----------
G. Wilkins, F. Kazhamiaka, R. Rajagopal, "From Servers to Sites: Compositional Power Trace
Generation of LLM Inference for Infrastructure Planning", 2026, §4.3 (baselines).
P. Patel et al., "Splitwise: Efficient Generative LLM Inference Using Phase Splitting",
ISCA 2024, doi:10.1109/ISCA59077.2024.00019 (phase-level power look-up).

One cohesive module over ~600 lines: the paper's four baselines (§4.2) and their shared
fitting data handling.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from traces import DT_S

if TYPE_CHECKING:
    from traces.workload.records import RequestLog

logger = logging.getLogger(__name__)

__all__ = [
    "NAMEPLATE_TDP_W",
    "PHASES",
    "ActiveLookupBaseline",
    "BaselineError",
    "MeanBaseline",
    "PhaseLUTBaseline",
    "TDPBaseline",
    "TrainingTrace",
    "baseline_stats",
    "baselines_from_stats",
    "bundle_phases",
    "feature_phases",
    "timeline_phase_counts",
]

#: Nameplate board power per GPU [W] (NVIDIA data sheets: A100 SXM4 80 GB 400 W, H100 SXM5
#: 80 GB 700 W - the Llama-3.1-70B H100 bundle logs ``power.limit`` 700 W).
NAMEPLATE_TDP_W: dict[str, float] = {"A100": 400.0, "H100": 700.0}

#: Phase codes used by :class:`PhaseLUTBaseline` (index = integer code).
PHASES: tuple[str, ...] = ("idle", "prefill", "decode", "mixed")
IDLE, PREFILL, DECODE, MIXED = range(4)


class BaselineError(ValueError):
    """A baseline was given unusable training data or used before ``fit``."""


class _Features(Protocol):
    @property
    def active(self) -> np.ndarray: ...

    @property
    def delta_active(self) -> np.ndarray: ...

    @property
    def time_s(self) -> np.ndarray: ...

    @property
    def extra(self) -> Mapping[str, np.ndarray]: ...


@dataclass(frozen=True)
class TrainingTrace:
    """One training trace as plain arrays on the 250 ms grid.

    Attributes
    ----------
    power_w : numpy.ndarray, shape (T,)
        Measured power [W] (summed over TP GPUs).
    active : numpy.ndarray, shape (T,), optional
        Active requests A_t [-] at each step (for :class:`ActiveLookupBaseline`); NaN steps
        are ignored.
    phase : numpy.ndarray of int, shape (T,), optional
        Phase code per step (index into :data:`PHASES`; -1 = unknown, ignored) for
        :class:`PhaseLUTBaseline`.
    gpu : str, optional
        GPU type (``"A100"``, ``"H100"``) for :class:`TDPBaseline`.
    tp : int
        Number of GPUs summed in ``power_w``.
    """

    power_w: np.ndarray
    active: np.ndarray | None = None
    phase: np.ndarray | None = None
    gpu: str | None = None
    tp: int = 1


def _power(p: Any, where: str) -> np.ndarray:
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise BaselineError(
            f"{where}: power_w must be a non-empty 1-D array, got shape {arr.shape}"
        )
    return arr


def _is_bundle(x: Any) -> bool:
    return hasattr(x, "power_w") and hasattr(x, "requests") and hasattr(x, "config_id")


def _check_data(data: Sequence[Any], who: str) -> list[Any]:
    items = list(data) if not isinstance(data, (np.ndarray, TrainingTrace)) else [data]
    if not items:
        raise BaselineError(f"{who}.fit: no training data (pass MeasuredBundles or TrainingTraces)")
    for i, it in enumerate(items):
        if not (_is_bundle(it) or isinstance(it, TrainingTrace)):
            raise BaselineError(
                f"{who}.fit: item {i} is a {type(it).__name__}; pass MeasuredBundle or TrainingTrace"
            )
    return items


def _n_steps(features: _Features) -> int:
    a = np.asarray(features.active, dtype=np.float64)
    if a.ndim != 1:
        raise BaselineError(f"features.active must be 1-D (T,), got shape {a.shape}")
    return a.size


class TDPBaseline:
    """Constant nameplate power: TDP per GPU x number of GPUs (paper §4.3 "TDP").

    Parameters
    ----------
    tdp_w : float, optional
        Node nameplate power [W]. When None, ``fit`` derives it from the training data's GPU
        type and TP degree via :data:`NAMEPLATE_TDP_W`.

    Attributes
    ----------
    tdp_w_ : float
        Constant power generated [W].
    """

    name = "tdp"

    def __init__(self, tdp_w: float | None = None) -> None:
        self.tdp_w = tdp_w

    def fit(self, data: Sequence[Any] | None = None) -> TDPBaseline:
        """Set the nameplate level from ``tdp_w`` or the data's GPU type and TP degree.

        Raises
        ------
        BaselineError
            If neither ``tdp_w`` nor a known GPU type (with a consistent TP) is available.
        """
        if self.tdp_w is not None:
            if not self.tdp_w > 0:
                raise BaselineError(f"TDPBaseline: tdp_w must be > 0 W, got {self.tdp_w}")
            self.tdp_w_ = float(self.tdp_w)
            return self
        items = _check_data(data or [], "TDPBaseline")
        kinds = {(it.gpu, int(it.tp)) for it in items}
        if len(kinds) != 1:
            raise BaselineError(
                f"TDPBaseline: training data mixes GPU/TP {sorted(map(str, kinds))}"
            )
        gpu, tp = kinds.pop()
        if gpu not in NAMEPLATE_TDP_W:
            raise BaselineError(
                f"TDPBaseline: no nameplate TDP for GPU {gpu!r} (known: {sorted(NAMEPLATE_TDP_W)}); "
                "pass tdp_w="
            )
        self.tdp_w_ = NAMEPLATE_TDP_W[gpu] * tp
        return self

    def generate_from_features(self, features: _Features, *, rng: Any = None) -> np.ndarray:
        """Constant ``tdp_w_`` [W] on the features' grid, shape (T,) (``rng`` unused)."""
        _fitted(self, "tdp_w_")
        return np.full(_n_steps(features), self.tdp_w_)


def _fitted(obj: Any, attr: str) -> None:
    if not hasattr(obj, attr):
        raise BaselineError(f"{type(obj).__name__} is not fitted; call fit(data) first")


def _all_power(items: list[Any]) -> np.ndarray:
    parts = []
    for it in items:
        p = it.power_w.to_numpy() if _is_bundle(it) else it.power_w
        parts.append(_power(p, "training trace"))
    return np.concatenate(parts)


class MeanBaseline:
    """Constant mean measured training power (paper §4.3 "Mean").

    Attributes
    ----------
    mean_w_ : float
        Time-average power over all training samples [W] (traces pooled, so longer traces
        weigh more - the energy-weighted average).
    """

    name = "mean"

    def fit(self, data: Sequence[Any]) -> MeanBaseline:
        """Learn ``mean_w_`` from bundles or :class:`TrainingTrace` s."""
        items = _check_data(data, "MeanBaseline")
        self.mean_w_ = float(np.mean(_all_power(items)))
        return self

    def generate_from_features(self, features: _Features, *, rng: Any = None) -> np.ndarray:
        """Constant ``mean_w_`` [W] on the features' grid, shape (T,) (``rng`` unused)."""
        _fitted(self, "mean_w_")
        return np.full(_n_steps(features), self.mean_w_)


# ---------------------------------------------------------------- phases


def _label(prefill: np.ndarray, decode: np.ndarray, busy: np.ndarray) -> np.ndarray:
    phase = np.full(prefill.shape, IDLE, dtype=np.int64)
    phase[prefill & ~decode] = PREFILL
    phase[decode & ~prefill] = DECODE
    phase[prefill & decode] = MIXED
    # busy but no token counted in the step: requests are in flight -> decode
    phase[busy & ~prefill & ~decode] = DECODE
    return phase


def bundle_phases(bundle: RequestLog) -> np.ndarray:
    """Measured serving phase at each power sample of a bundle, from its vLLM engine log.

    For grid time t, the engine scrape interval (e_{j-1}, e_j] containing t gives the prompt
    and generated token increments. The first token of a request is produced by its prefill,
    so generated tokens minus the number of first tokens in the interval (request
    ``arrival + ttft``) count decode tokens. Phase: ``prefill`` if prompt tokens > 0 and no
    decode tokens, ``decode`` if decode tokens > 0 and no prompt tokens, ``mixed`` if both,
    ``decode`` if neither but ``num_requests_running`` > 0, else ``idle``.

    Parameters
    ----------
    bundle : RequestLog
        E.g. a :class:`traces.measured.ingest.MeasuredBundle`, with an ``engine`` log (powertrace_sim format).

    Returns
    -------
    numpy.ndarray of int64, shape (T,)
        Phase codes (:data:`PHASES`) on ``bundle.power_w.index``; -1 where the grid time lies
        outside the engine log.

    Raises
    ------
    BaselineError
        If the bundle has no engine log (legacy bundles).
    """
    eng = bundle.engine
    if eng is None or not {"prompt_tokens_total", "generation_tokens_total"} <= set(eng.columns):
        raise BaselineError(
            f"bundle {bundle.run_id}: no engine token counters; phases need the vLLM engine log"
        )
    t_e = eng.index.asi8.astype(np.float64) / 1e9
    t_g = bundle.power_w.index.asi8.astype(np.float64) / 1e9
    ptok = eng["prompt_tokens_total"].to_numpy(dtype=np.float64)
    gtok = eng["generation_tokens_total"].to_numpy(dtype=np.float64)
    run = eng["num_requests_running"].to_numpy(dtype=np.float64)
    j = np.searchsorted(t_e, t_g, side="left")
    inside = (j >= 1) & (j < t_e.size)
    jj = np.clip(j, 1, t_e.size - 1)
    dp = ptok[jj] - ptok[jj - 1]
    dg = gtok[jj] - gtok[jj - 1]
    first_tok = bundle.requests["arrival_time"].astype("int64").to_numpy() / 1e9 + bundle.requests[
        "ttft_s"
    ].to_numpy(dtype=np.float64)
    first_tok = np.sort(first_tok)
    n_first = np.searchsorted(first_tok, t_e[jj], side="right") - np.searchsorted(
        first_tok, t_e[jj - 1], side="right"
    )
    prefill = dp > 0
    decode = (dg - n_first) > 0
    busy = np.maximum(run[jj], run[jj - 1]) > 0
    phase = _label(prefill, decode, busy)
    phase[~inside] = -1
    return phase


def timeline_phase_counts(
    start_s: np.ndarray,
    first_token_s: np.ndarray,
    end_s: np.ndarray,
    time_s: np.ndarray,
    *,
    dt_s: float = DT_S,
) -> tuple[np.ndarray, np.ndarray]:
    """Requests in prefill / decode during each grid step of a batch timeline.

    A request is in prefill over ``[start_s, first_token_s)`` and in decode over
    ``[first_token_s, end_s)``; it counts in step k if that interval overlaps
    ``[t_k - dt/2, t_k + dt/2)`` (so a 30 ms prefill is not missed between grid points).

    Parameters
    ----------
    start_s, first_token_s, end_s : numpy.ndarray, shape (N,)
        Per-request batch times [s after schedule start] (``traces.workload.surrogate.BatchTimeline``).
    time_s : numpy.ndarray, shape (T,)
        Grid times [s].
    dt_s : float
        Grid step [s].

    Returns
    -------
    (numpy.ndarray, numpy.ndarray), each shape (T,), int64
        Number of requests in prefill and in decode per step.
    """
    t = np.asarray(time_s, dtype=np.float64)
    lo, hi = t - dt_s / 2.0, t + dt_s / 2.0

    def overlap_count(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        keep = b > a
        a, b = np.sort(a[keep]), np.sort(b[keep])
        # intervals with a < hi minus those that ended (b <= lo)
        return np.searchsorted(a, hi, side="left") - np.searchsorted(b, lo, side="right")

    return overlap_count(start_s, first_token_s), overlap_count(first_token_s, end_s)


def feature_phases(features: _Features) -> np.ndarray:
    """Serving phase at each generated step from surrogate features.

    Uses ``features.extra["n_prefill"]`` and ``features.extra["n_decode"]`` (requests in
    prefill / decode per step, e.g. from :func:`timeline_phase_counts`) when present.
    Otherwise falls back to A_t and dA_t: idle if A_t = 0; prefill if all active requests
    arrived in this step (dA_t = A_t > 0); mixed if some arrived (0 < dA_t < A_t); decode
    otherwise.

    Returns
    -------
    numpy.ndarray of int64, shape (T,)
        Phase codes (:data:`PHASES`).
    """
    a = np.asarray(features.active, dtype=np.float64)
    extra = getattr(features, "extra", None) or {}
    if "n_prefill" in extra and "n_decode" in extra:
        npf = np.asarray(extra["n_prefill"], dtype=np.float64)
        ndc = np.asarray(extra["n_decode"], dtype=np.float64)
        return _label(npf > 0, ndc > 0, a > 0)
    da = np.asarray(features.delta_active, dtype=np.float64)
    new = np.clip(da, 0.0, None)
    prefill = new > 0
    decode = (a - new) > 0
    return _label(prefill, decode, a > 0)


class PhaseLUTBaseline:
    """Splitwise-style phase look-up table (paper §4.3 "LUT"; Patel et al., ISCA 2024).

    ``fit`` learns the mean measured power in each phase (idle / prefill / decode / mixed,
    phases from the engine log: :func:`bundle_phases`). ``generate_from_features`` labels each
    step's phase from the surrogate (:func:`feature_phases`) and emits that phase's level.
    A phase never seen in training falls back (prefill -> mixed -> decode, decode -> mixed,
    idle -> lowest level); the fallbacks are listed in ``fallback_``.

    Attributes
    ----------
    levels_w_ : dict[str, float]
        Power level per phase [W].
    counts_ : dict[str, int]
        Training samples per phase.
    fallback_ : dict[str, str]
        Phases without training samples and the phase whose level they use.
    """

    name = "lut"

    def fit(self, data: Sequence[Any]) -> PhaseLUTBaseline:
        """Learn per-phase mean power from bundles (engine log) or TrainingTraces (``phase``).

        Raises
        ------
        BaselineError
            If a TrainingTrace has no ``phase`` or lengths differ, or no phase has data.
        """
        items = _check_data(data, "PhaseLUTBaseline")
        powers, phases = [], []
        for it in items:
            if _is_bundle(it):
                ph = bundle_phases(it)
                p = it.power_w.to_numpy(dtype=np.float64)
            else:
                if it.phase is None:
                    raise BaselineError("PhaseLUTBaseline.fit: TrainingTrace.phase is required")
                ph = np.asarray(it.phase, dtype=np.int64)
                p = _power(it.power_w, "PhaseLUTBaseline.fit")
            if ph.shape != p.shape:
                raise BaselineError(
                    f"PhaseLUTBaseline.fit: phase shape {ph.shape} != power shape {p.shape}"
                )
            powers.append(p)
            phases.append(ph)
        p_all, ph_all = np.concatenate(powers), np.concatenate(phases)
        levels: dict[str, float] = {}
        counts: dict[str, int] = {}
        for code, name in enumerate(PHASES):
            sel = ph_all == code
            counts[name] = int(sel.sum())
            if counts[name]:
                levels[name] = float(p_all[sel].mean())
        if not levels:
            raise BaselineError("PhaseLUTBaseline.fit: no sample has a known phase")
        chains = {
            "prefill": ("mixed", "decode"),
            "decode": ("mixed", "prefill"),
            "mixed": ("decode", "prefill"),
            "idle": (),
        }
        fallback: dict[str, str] = {}
        for name in PHASES:
            if name in levels:
                continue
            src = next((c for c in chains[name] if c in levels), None)
            if src is None:
                src = min(levels, key=levels.__getitem__)
            levels[name] = levels[src]
            fallback[name] = src
        if fallback:
            # common: at 250 ms a prefill-only step is rare in dense serving (prefills take ms)
            logger.info("PhaseLUTBaseline: phases without training data use %s", fallback)
        self.levels_w_ = levels
        self.counts_ = counts
        self.fallback_ = fallback
        return self

    def generate_from_features(self, features: _Features, *, rng: Any = None) -> np.ndarray:
        """Per-step phase level [W], shape (T,) (deterministic; ``rng`` unused)."""
        _fitted(self, "levels_w_")
        phase = feature_phases(features)
        table = np.array([self.levels_w_[n] for n in PHASES])
        return table[phase]


class ActiveLookupBaseline:
    """E[P | A_t]: mean measured power per active-request count (paper §4.3 yardstick).

    ``fit`` averages the measured power over the training samples with each (rounded)
    count of active requests - measured ``num_requests_running`` for bundles, ``active`` for
    TrainingTraces. ``generate_from_features`` looks the table up along the surrogate's A_t;
    counts between seen counts are linearly interpolated, counts above the largest seen use
    the largest seen count's level (counted in ``n_beyond_`` and logged).

    Attributes
    ----------
    counts_ : numpy.ndarray of int64, shape (K,)
        Active-request counts seen in training.
    levels_w_ : numpy.ndarray, shape (K,)
        Mean power at each count [W].
    n_samples_ : numpy.ndarray of int64, shape (K,)
        Training samples per count.
    n_beyond_ : int
        Steps of the last generated trace whose A_t exceeded ``counts_.max()``.
    """

    name = "lookup"

    def fit(self, data: Sequence[Any]) -> ActiveLookupBaseline:
        """Learn E[P | A] from bundles or TrainingTraces (``active`` required).

        Raises
        ------
        BaselineError
            If A_t is missing, lengths differ, or no finite A_t is present.
        """
        items = _check_data(data, "ActiveLookupBaseline")
        a_parts, p_parts = [], []
        for it in items:
            if _is_bundle(it):
                if it.active_requests is None:
                    raise BaselineError(
                        f"bundle {it.run_id}: no measured active_requests (legacy bundle); "
                        "pass TrainingTrace(active=...)"
                    )
                a = it.active_requests.to_numpy(dtype=np.float64)
                p = it.power_w.to_numpy(dtype=np.float64)
            else:
                if it.active is None:
                    raise BaselineError(
                        "ActiveLookupBaseline.fit: TrainingTrace.active is required"
                    )
                a = np.asarray(it.active, dtype=np.float64)
                p = _power(it.power_w, "ActiveLookupBaseline.fit")
            if a.shape != p.shape:
                raise BaselineError(
                    f"ActiveLookupBaseline.fit: active shape {a.shape} != power shape {p.shape}"
                )
            ok = np.isfinite(a)
            a_parts.append(np.rint(a[ok]).astype(np.int64))
            p_parts.append(p[ok])
        a_all, p_all = np.concatenate(a_parts), np.concatenate(p_parts)
        if a_all.size == 0:
            raise BaselineError("ActiveLookupBaseline.fit: no finite active-request count")
        counts, inv, n = np.unique(a_all, return_inverse=True, return_counts=True)
        self.counts_ = counts
        self.levels_w_ = np.bincount(inv, weights=p_all) / n
        self.n_samples_ = n
        self.n_beyond_ = 0
        return self

    def generate_from_features(self, features: _Features, *, rng: Any = None) -> np.ndarray:
        """E[P | A_t] along ``features.active`` [W], shape (T,) (``rng`` unused)."""
        _fitted(self, "levels_w_")
        a = np.asarray(features.active, dtype=np.float64)
        _n_steps(features)
        beyond = int(np.sum(a > self.counts_[-1]))
        self.n_beyond_ = beyond
        if beyond:
            logger.info(
                "ActiveLookupBaseline: %d of %d steps have A_t > %d (largest count seen in "
                "training); they use that count's level",
                beyond,
                a.size,
                int(self.counts_[-1]),
            )
        # np.interp holds the end values outside the range (largest / smallest seen count)
        return np.interp(a, self.counts_.astype(np.float64), self.levels_w_)


def baseline_stats(data: Sequence[Any], *, tdp_w: float | None = None) -> dict[str, Any]:
    """Fit all four baselines and return their learned statistics (JSON-serialisable).

    Meant to be stored with a fitted configuration (e.g. in its provenance under
    ``"baseline_stats"``) so that a later evaluation of that configuration against a new
    bundle compares it with baselines fitted on the same training data, not in-sample.

    Parameters
    ----------
    data : sequence of MeasuredBundle or TrainingTrace
        The configuration's training data.
    tdp_w : float, optional
        Node nameplate power [W]; derived from GPU type x TP when None.

    Returns
    -------
    dict
        ``{"tdp_w": float, "mean_w": float, "lut_levels_w": {phase: W},
        "lut_counts": {phase: n}, "lookup_counts": [int], "lookup_levels_w": [W],
        "lookup_n_samples": [int]}``.
    """
    tdp = TDPBaseline(tdp_w).fit(data)
    mean = MeanBaseline().fit(data)
    lut = PhaseLUTBaseline().fit(data)
    lk = ActiveLookupBaseline().fit(data)
    return {
        "tdp_w": tdp.tdp_w_,
        "mean_w": mean.mean_w_,
        "lut_levels_w": dict(lut.levels_w_),
        "lut_counts": dict(lut.counts_),
        "lookup_counts": [int(c) for c in lk.counts_],
        "lookup_levels_w": [float(v) for v in lk.levels_w_],
        "lookup_n_samples": [int(n) for n in lk.n_samples_],
    }


def baselines_from_stats(stats: Mapping[str, Any]) -> dict[str, Any]:
    """Rebuild fitted baselines from :func:`baseline_stats` output.

    Returns
    -------
    dict
        ``{"tdp": TDPBaseline, "mean": MeanBaseline, "lut": PhaseLUTBaseline,
        "lookup": ActiveLookupBaseline}``, ready for ``generate_from_features``.

    Raises
    ------
    BaselineError
        If a key is missing.
    """
    need = ("tdp_w", "mean_w", "lut_levels_w", "lookup_counts", "lookup_levels_w")
    missing = [k for k in need if k not in stats]
    if missing:
        raise BaselineError(f"baseline stats lack {missing}; produce them with baseline_stats()")
    tdp = TDPBaseline(float(stats["tdp_w"])).fit()
    mean = MeanBaseline()
    mean.mean_w_ = float(stats["mean_w"])
    lut = PhaseLUTBaseline()
    lut.levels_w_ = {p: float(stats["lut_levels_w"][p]) for p in PHASES}
    lut.counts_ = {p: int(stats.get("lut_counts", {}).get(p, 0)) for p in PHASES}
    lut.fallback_ = {}
    lk = ActiveLookupBaseline()
    lk.counts_ = np.asarray(stats["lookup_counts"], dtype=np.int64)
    lk.levels_w_ = np.asarray(stats["lookup_levels_w"], dtype=np.float64)
    lk.n_samples_ = np.asarray(
        stats.get("lookup_n_samples", np.ones(lk.counts_.size)), dtype=np.int64
    )
    lk.n_beyond_ = 0
    return {"tdp": tdp, "mean": mean, "lut": lut, "lookup": lk}
