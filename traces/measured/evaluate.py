"""Held-out evaluation of the generator against the baselines (paper §4.1-4.3).

Protocol (what :func:`evaluate_configuration` does)
----------------------------------------------------
* **Splits at the trace level.**  A configuration with several measured traces is evaluated
  leave-one-trace-out (each trace held out once, the others train).  A configuration with a
  single trace is split into two contiguous time blocks: the first ``1 - holdout_frac``
  (default 70 %) of its power samples train, the last ``holdout_frac`` (30 %) are held out.
* **Features end to end.**  The held-out features come from the held-out trace's own request
  schedule (:meth:`traces.workload.schedule.RequestSchedule.from_bundle`) run through the
  continuous-batching surrogate with a latency model fitted on the training data only
  (:func:`traces.workload.surrogate.fit_latency_model`); the measured A_t of the held-out trace is never
  used.  For a block split the surrogate runs over the whole schedule (requests still in
  flight at the block boundary are part of the input) and only the held-out block's steps are
  scored.
* **Fitting.**  The model (:func:`traces.model.fit.fit_configuration`) and all baselines
  (:mod:`traces.model.baselines`) are fitted on the training part only, once per split; the
  evaluation seeds vary the surrogate's and the sampler's randomness (the paper's "5 seeds").
  Hyper-parameters are fixed before looking at held-out data (``fit_kwargs``; the number of
  states is chosen by BIC on the training power).
* **Metrics** are :func:`traces.measured.fidelity.fidelity_metrics` on the held-out steps; summaries are
  medians over held-out traces x seeds (pooled, as the paper's ``*_median`` columns).

References
----------
G. Wilkins, F. Kazhamiaka, R. Rajagopal, "From Servers to Sites: Compositional Power Trace
Generation of LLM Inference for Infrastructure Planning", 2026, §4.1 (metrics), §4.3
(baselines), Table 1/2.

One cohesive module over ~600 lines: the evaluation protocol (splits, fitting every method
on the same training data, scoring, caching and summary tables) of docs/fidelity.md.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from traces import DT_S
from traces.measured.fidelity import METRIC_NAMES, fidelity_metrics, summarize_metrics
from traces.model.baselines import (
    ActiveLookupBaseline,
    MeanBaseline,
    PhaseLUTBaseline,
    TDPBaseline,
    baselines_from_stats,
    timeline_phase_counts,
)
from traces.outputs import atomic_path

if TYPE_CHECKING:
    from traces.measured.ingest import MeasuredBundle

logger = logging.getLogger(__name__)

__all__ = [
    "BASELINE_METHODS",
    "METHODS",
    "EvaluationError",
    "Split",
    "cached_evaluation",
    "evaluate_configuration",
    "evaluate_fitted",
    "evaluate_split",
    "heldout_features",
    "make_splits",
    "slice_bundle",
    "summary_table",
    "transfer_experiment",
]

#: Methods compared, in table order.
METHODS: tuple[str, ...] = ("model", "tdp", "mean", "lut", "lookup")
BASELINE_METHODS: tuple[str, ...] = ("tdp", "mean", "lut", "lookup")

#: Default evaluation seeds (paper: 5 seeds).
DEFAULT_SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)

#: Any object with ``generate_from_features(features, *, rng) -> np.ndarray`` (model, baseline).
Generator = Any
#: ``factory(train_bundles, seed) -> fitted model``; default wraps ``traces.model.fit.fit_configuration``.
ModelFactory = Callable[[list["MeasuredBundle"], int], Generator]


class EvaluationError(ValueError):
    """The evaluation cannot run as asked (no data, split too short, length mismatch)."""


# ----------------------------------------------------------------- splits


def slice_bundle(bundle: MeasuredBundle, start: int, stop: int) -> MeasuredBundle:
    """Contiguous block ``[start, stop)`` of a bundle's power samples, as a bundle.

    ``power_w`` and ``active_requests`` are sliced by position; ``engine`` rows and
    ``requests`` are kept when they fall in the block's time span
    ``[t_start, t_stop)`` (requests by arrival time).  ``run_id`` gets a ``[start:stop]``
    suffix and ``metadata["slice"]`` records the positions.

    Raises
    ------
    EvaluationError
        If the block is empty or out of range.
    """
    n = len(bundle.power_w)
    if not 0 <= start < stop <= n:
        raise EvaluationError(f"slice [{start}:{stop}) is empty or outside 0..{n} samples")
    power = bundle.power_w.iloc[start:stop]
    t0 = power.index[0]
    t1 = power.index[-1] + pd.Timedelta(seconds=DT_S)
    req = bundle.requests
    arr = pd.DatetimeIndex(req["arrival_time"])
    keep = (arr >= t0) & (arr < t1)
    engine = bundle.engine
    if engine is not None:
        engine = engine[(engine.index >= t0) & (engine.index < t1)]
    active = bundle.active_requests
    if active is not None:
        active = active.iloc[start:stop]
    meta = dict(bundle.metadata)
    meta["slice"] = {"start": int(start), "stop": int(stop), "of": int(n)}
    return dataclasses.replace(
        bundle,
        run_id=f"{bundle.run_id}[{start}:{stop}]",
        power_w=power,
        requests=req.loc[np.asarray(keep)].reset_index(drop=True),
        active_requests=active,
        engine=engine,
        metadata=meta,
    )


@dataclass(frozen=True)
class Split:
    """One train / held-out split.

    Attributes
    ----------
    name : str
        ``"loto:<run_id>"`` or ``"block:<run_id>"``.
    train : list of MeasuredBundle
        Training data (for a block split: the leading block of the trace).
    test : MeasuredBundle
        The held-out trace, whole (its full request schedule feeds the surrogate).
    start, stop : int
        Positions of the scored held-out steps in ``test.power_w``.
    """

    name: str
    train: list[MeasuredBundle]
    test: MeasuredBundle
    start: int
    stop: int

    @property
    def measured_w(self) -> np.ndarray:
        """Measured held-out power [W], shape (stop - start,)."""
        return self.test.power_w.to_numpy(dtype=np.float64)[self.start : self.stop]


def make_splits(bundles: Sequence[MeasuredBundle], *, holdout_frac: float = 0.3) -> list[Split]:
    """Trace-level splits: leave-one-trace-out, or a contiguous tail block for one trace.

    Parameters
    ----------
    bundles : sequence of MeasuredBundle
        All traces of one configuration.
    holdout_frac : float
        For a single trace: fraction of samples held out at the end (0 < f < 1).

    Returns
    -------
    list of Split

    Raises
    ------
    EvaluationError
        If no bundles are given, they mix configurations, or a block is shorter than 60
        samples (15 s; the ACF needs more than 50 lags).
    """
    bundles = list(bundles)
    if not bundles:
        raise EvaluationError("make_splits: no bundles")
    ids = {b.config_id for b in bundles}
    if len(ids) != 1:
        raise EvaluationError(f"make_splits: bundles mix configurations {sorted(ids)}")
    if len(bundles) > 1:
        return [
            Split(
                f"loto:{b.run_id}",
                [o for o in bundles if o is not b],
                b,
                0,
                len(b.power_w),
            )
            for b in bundles
        ]
    if not 0 < holdout_frac < 1:
        raise EvaluationError(f"holdout_frac must be in (0, 1), got {holdout_frac}")
    b = bundles[0]
    n = len(b.power_w)
    cut = int(round(n * (1.0 - holdout_frac)))
    if min(cut, n - cut) < 60:
        raise EvaluationError(
            f"{b.run_id}: {n} samples; a {holdout_frac:.0%} block split leaves a block under "
            "60 samples (the ACF needs > 50 lags)"
        )
    return [Split(f"block:{b.run_id}", [slice_bundle(b, 0, cut)], b, cut, n)]


# ----------------------------------------------------------------- features


def _replace_features(features: Any, **changes: Any) -> Any:
    if dataclasses.is_dataclass(features) and not isinstance(features, type):
        return dataclasses.replace(features, **changes)
    d = dict(vars(features))
    d.update(changes)
    return type(features)(**d)


def _slice_features(features: Any, start: int, stop: int) -> Any:
    extra = {k: np.asarray(v)[start:stop] for k, v in (features.extra or {}).items()}
    return _replace_features(
        features,
        active=np.asarray(features.active)[start:stop],
        delta_active=np.asarray(features.delta_active)[start:stop],
        time_s=np.asarray(features.time_s)[start:stop],
        extra=extra,
    )


def heldout_features(
    test: MeasuredBundle,
    latency: Any,
    *,
    rng: np.random.Generator | int | None,
    max_batch: int = 64,
) -> tuple[Any, dict[str, np.ndarray]]:
    """Surrogate features for a whole measured trace from its request schedule.

    Schedule -> :func:`traces.workload.surrogate.simulate_batching` -> ``workload_features`` on the
    bundle's 250 ms grid, plus the requests in prefill / decode per step
    (:func:`traces.model.baselines.timeline_phase_counts`) for the phase LUT.

    Returns
    -------
    (WorkloadFeatures, dict)
        Features of length ``len(test.power_w)`` (T,) and ``{"n_prefill": (T,),
        "n_decode": (T,)}`` (given to the phase LUT as extra features; the model gets the
        surrogate's features unchanged).

    Raises
    ------
    EvaluationError
        If the surrogate's grid is shorter than the power trace.
    """
    from traces.workload.schedule import RequestSchedule
    from traces.workload.surrogate import simulate_batching, workload_features

    gen = np.random.default_rng(rng)
    schedule = RequestSchedule.from_bundle(test)
    timeline = simulate_batching(schedule, latency, max_batch=max_batch, rng=gen)
    feats = workload_features(timeline, duration_s=schedule.duration_s, dt_s=DT_S)
    n = len(test.power_w)
    if len(feats.active) < n:
        raise EvaluationError(
            f"{test.run_id}: surrogate grid has {len(feats.active)} steps, power has {n}"
        )
    feats = _slice_features(feats, 0, n)
    npf, ndc = timeline_phase_counts(
        timeline.start_s, timeline.first_token_s, timeline.end_s, feats.time_s, dt_s=DT_S
    )
    phase_counts = {"n_prefill": npf.astype(np.float64), "n_decode": ndc.astype(np.float64)}
    return feats, phase_counts


# ----------------------------------------------------------------- fitting


def default_model_factory(**fit_kwargs: Any) -> ModelFactory:
    """Factory fitting :func:`traces.model.fit.fit_configuration` on the training bundles.

    ``fit_kwargs`` go to ``fit_configuration`` (e.g. ``max_epochs``, ``feature_set``,
    ``n_states``); ``seed`` is set by the evaluation.
    """

    def factory(train: list[MeasuredBundle], seed: int) -> Generator:
        from traces.model.fit import fit_configuration

        return fit_configuration(train, seed=seed, **fit_kwargs)

    return factory


def fit_baselines(train: Sequence[MeasuredBundle]) -> dict[str, Generator]:
    """All four baselines fitted on the training bundles (paper §4.3)."""
    return {
        "tdp": TDPBaseline().fit(train),
        "mean": MeanBaseline().fit(train),
        "lut": PhaseLUTBaseline().fit(train),
        "lookup": ActiveLookupBaseline().fit(train),
    }


def _score(
    rows: list[dict[str, Any]],
    generators: Mapping[str, Generator],
    features: Any,
    phase_counts: Mapping[str, np.ndarray],
    measured_w: np.ndarray,
    start: int,
    stop: int,
    seed: int,
    base: dict[str, Any],
) -> None:
    lut_features = _replace_features(features, extra={**(features.extra or {}), **phase_counts})
    for method, gen in generators.items():
        f = lut_features if method == "lut" else features
        power = np.asarray(gen.generate_from_features(f, rng=seed), dtype=np.float64)
        if power.shape[0] != len(features.active):
            raise EvaluationError(
                f"{method} generated {power.shape[0]} steps for {len(features.active)} features"
            )
        m = fidelity_metrics(measured_w, power[start:stop], dt_s=DT_S)
        row = {**base, "method": method, "seed": seed, **m}
        if method == "lookup":
            row["lookup_n_beyond"] = int(getattr(gen, "n_beyond_", 0))
        rows.append(row)


def evaluate_split(
    split: Split,
    *,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    model_factory: ModelFactory | None = None,
    fit_seed: int = 0,
    model: Generator | None = None,
    methods: Sequence[str] = METHODS,
    refit_per_seed: bool = False,
) -> pd.DataFrame:
    """Fit on ``split.train`` and score every method on the held-out steps, per seed.

    Parameters
    ----------
    split : Split
    seeds : sequence of int
        Evaluation seeds (surrogate + sampling randomness).
    model_factory : callable, optional
        ``factory(train_bundles, seed)``; default :func:`default_model_factory`.
    fit_seed : int
        Seed passed to the factory (when not ``refit_per_seed``).
    model : object, optional
        An already-fitted model to use instead of fitting one.
    methods : sequence of str
        Subset of :data:`METHODS`.
    refit_per_seed : bool
        Fit one model per evaluation seed (fit seed = evaluation seed), so the spread over
        seeds includes the training randomness (mixture, classifier initialisation, window
        draws), not only the generation randomness. Costs one fit per seed.

    Returns
    -------
    pandas.DataFrame
        One row per (method, seed): ``split``, ``config_id``, ``heldout``, ``n_steps``,
        ``method``, ``seed``, ``fit_seed`` and the metrics of
        :func:`traces.measured.fidelity.fidelity_metrics`.
    """
    from traces.workload.surrogate import fit_latency_model

    unknown = set(methods) - set(METHODS)
    if unknown:
        raise EvaluationError(f"unknown methods {sorted(unknown)}; choose from {METHODS}")
    latency = fit_latency_model(split.train)
    gens: dict[str, Generator] = {}
    model_given = model
    if "model" in methods:
        if model is None:
            factory = model_factory or default_model_factory()
            logger.info(
                "fitting model on %d training bundle(s) for %s", len(split.train), split.name
            )
            model = factory(split.train, fit_seed)
        gens["model"] = model
    base_fitted = fit_baselines(split.train)
    gens.update({k: v for k, v in base_fitted.items() if k in methods})
    measured = split.measured_w
    base = {
        "split": split.name,
        "config_id": split.test.config_id,
        "heldout": split.test.run_id,
        "n_steps": split.stop - split.start,
    }
    rows: list[dict[str, Any]] = []
    refit = refit_per_seed and "model" in methods and model_given is None
    model0 = gens.get("model")
    for seed in seeds:
        if refit:
            factory = model_factory or default_model_factory()
            gens["model"] = model0 if seed == fit_seed else factory(split.train, int(seed))
        used_fit_seed = int(seed) if refit else int(fit_seed)
        feats, counts = heldout_features(split.test, latency, rng=np.random.default_rng([seed, 1]))
        _score(
            rows,
            gens,
            feats,
            counts,
            measured,
            split.start,
            split.stop,
            seed,
            {**base, "fit_seed": used_fit_seed},
        )
    return pd.DataFrame(rows)


def _load_bundles(config_id_or_bundles: str | Sequence[MeasuredBundle], data_root: Any) -> list:
    if isinstance(config_id_or_bundles, str):
        from traces.measured.ingest import find_bundles, load_bundle

        if data_root is None:
            raise EvaluationError("evaluate_configuration(config_id): pass data_root=<bundles dir>")
        paths = [p for p in find_bundles(data_root) if p.parent.name == config_id_or_bundles]
        if not paths:
            raise EvaluationError(f"no bundles for {config_id_or_bundles!r} under {data_root}")
        return [load_bundle(p) for p in paths]
    bundles = list(config_id_or_bundles)
    if not bundles:
        raise EvaluationError("evaluate_configuration: no bundles")
    return bundles


def evaluate_configuration(
    config_id_or_bundles: str | Sequence[MeasuredBundle],
    *,
    data_root: str | Path | Sequence[str | Path] | None = None,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    holdout_frac: float = 0.3,
    fit_kwargs: Mapping[str, Any] | None = None,
    model_factory: ModelFactory | None = None,
    methods: Sequence[str] = METHODS,
    refit_per_seed: bool = False,
) -> pd.DataFrame:
    """Held-out evaluation of one configuration (protocol in the module docstring).

    Parameters
    ----------
    config_id_or_bundles : str or sequence of MeasuredBundle
        A config id (bundles found under ``data_root``) or the bundles themselves.
    data_root : path or list of paths, optional
        Root(s) of measured bundles (``find_bundles``), needed with a config id.
    seeds : sequence of int
        Evaluation seeds (default 5).
    holdout_frac : float
        Held-out tail fraction for single-trace configurations.
    fit_kwargs : mapping, optional
        Passed to ``fit_configuration`` by the default factory.
    model_factory : callable, optional
        Replaces the default factory (e.g. a cached fit).
    methods : sequence of str
        Subset of :data:`METHODS`.
    refit_per_seed : bool
        One model fit per seed and split (see :func:`evaluate_split`).

    Returns
    -------
    pandas.DataFrame
        One row per held-out trace x method x seed (columns of :func:`evaluate_split`);
        summarise with :func:`summary_table`.

    Raises
    ------
    EvaluationError
        No bundles, mixed configurations, a split too short.
    """
    bundles = _load_bundles(config_id_or_bundles, data_root)
    factory = model_factory or default_model_factory(**dict(fit_kwargs or {}))
    frames = [
        evaluate_split(
            s, seeds=seeds, model_factory=factory, methods=methods, refit_per_seed=refit_per_seed
        )
        for s in make_splits(bundles, holdout_frac=holdout_frac)
    ]
    return pd.concat(frames, ignore_index=True)


def cached_evaluation(
    config_id: str,
    *,
    data_root: str | Path,
    cache_dir: str | Path,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    holdout_frac: float = 0.3,
    fit_kwargs: Mapping[str, Any] | None = None,
    methods: Sequence[str] = METHODS,
) -> pd.DataFrame:
    """:func:`evaluate_configuration` with its rows cached as CSV in ``cache_dir``.

    The cache key is a hash of every argument that changes the result (config id, seeds,
    hold-out fraction, fit arguments, methods), of the bundles' file checksums
    (``metadata["sources"]``) and of the source files of the generator's modules, so edited
    data, settings or code never reuse stale rows.  Meant for
    notebooks and docs; the cache is a user cache (not part of the repository).

    Returns
    -------
    pandas.DataFrame
        As :func:`evaluate_configuration`.
    """
    import hashlib
    import importlib
    import json

    bundles = _load_bundles(config_id, data_root)
    code = hashlib.sha256()
    for mod in (
        "measured.ingest",
        "workload.base",
        "workload.schedule",
        "workload.arrivals",
        "workload.azure",
        "workload.surrogate",
        "states.mixture",
        "states.classifier",
        "power.sampler",
        "model.configuration",
        "model.fit",
        "model.baselines",
        "measured.fidelity",
        "measured.evaluate",
        "fields",
    ):
        src = importlib.import_module(f"traces.{mod}").__file__
        if src:
            code.update(Path(src).read_bytes())
    key = {
        "config_id": config_id,
        "seeds": [int(s) for s in seeds],
        "holdout_frac": float(holdout_frac),
        "fit_kwargs": {k: repr(v) for k, v in sorted(dict(fit_kwargs or {}).items())},
        "methods": list(methods),
        "sources": [
            json.dumps(b.metadata.get("sources"), sort_keys=True, default=str) for b in bundles
        ],
        "code_sha256": code.hexdigest(),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir).expanduser() / f"eval_{config_id}_{digest}.csv"
    if path.exists():
        logger.info("cached evaluation %s", path)
        return pd.read_csv(path, keep_default_na=True).fillna({"acf_note": ""})
    rows = evaluate_configuration(
        bundles, seeds=seeds, holdout_frac=holdout_frac, fit_kwargs=fit_kwargs, methods=methods
    )
    with atomic_path(path) as tmp:  # concurrent runs and a full disk leave no half file
        rows.to_csv(tmp, index=False)
    return rows


def summary_table(
    rows: pd.DataFrame,
    *,
    by: Sequence[str] = ("config_id", "method"),
    over: str = "pooled",
) -> pd.DataFrame:
    """Median of every metric per ``by`` group.

    Parameters
    ----------
    rows : pandas.DataFrame
        Rows of :func:`evaluate_configuration` (one per held-out trace x method x seed).
    by : sequence of str
        Grouping columns.
    over : {"pooled", "traces"}
        ``"pooled"``: median over all held-out traces x seeds together (the paper's
        ``*_median``); ``"traces"``: median over seeds per held-out trace first, then the
        median over held-out traces (each trace weighs the same however many seeds).

    Returns
    -------
    pandas.DataFrame
        Index ``by``; columns :data:`traces.measured.fidelity.METRIC_NAMES` and ``n`` (rows, or traces
        for ``over="traces"``).

    Raises
    ------
    EvaluationError
        Unknown ``over``.
    """
    if over == "pooled":
        return summarize_metrics(rows, by=tuple(by), metrics=METRIC_NAMES)
    if over != "traces":
        raise EvaluationError(f"over must be 'pooled' or 'traces', got {over!r}")
    per_trace = summarize_metrics(rows, by=(*by, "heldout"), metrics=METRIC_NAMES)
    return summarize_metrics(per_trace.reset_index(), by=tuple(by), metrics=METRIC_NAMES)


# ----------------------------------------------------------------- fitted configuration


def _stored_baseline_stats(config: Any) -> Mapping[str, Any] | None:
    stats = getattr(config, "baseline_stats", None)
    if stats:
        return stats
    prov = getattr(config, "provenance", None)
    if isinstance(prov, Mapping) and prov.get("baseline_stats"):
        return prov["baseline_stats"]
    return None


def evaluate_fitted(
    config: Any,
    bundle: MeasuredBundle,
    *,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    baselines: Mapping[str, Generator] | None = None,
) -> pd.DataFrame:
    """Score an already-fitted configuration (and baselines) on a user's measured bundle.

    Features come from the bundle's request schedule through the configuration's own
    latency model (``config.latency_model()``), so the bundle's measured A_t and power are used
    only for scoring.  Baselines: ``baselines`` if given; else the configuration's stored
    training statistics (``config.baseline_stats`` or ``config.provenance["baseline_stats"]``,
    :func:`traces.model.baselines.baseline_stats`); else they are fitted on the bundle itself,
    which is in-sample for the baselines (a warning is logged and ``baselines_in_sample`` is
    True in the rows).

    Returns
    -------
    pandas.DataFrame
        One row per method x seed (as :func:`evaluate_split`), plus ``baselines_in_sample``.
    """
    in_sample = False
    if baselines is None:
        stats = _stored_baseline_stats(config)
        if stats is not None:
            baselines = baselines_from_stats(stats)
        else:
            logger.warning(
                "configuration %s carries no training baseline statistics: baselines are fitted "
                "on the evaluation bundle itself (IN-SAMPLE for the baselines, optimistic)",
                getattr(config, "config_id", "?"),
            )
            baselines = fit_baselines([bundle])
            in_sample = True
    gens = {"model": config, **dict(baselines)}
    n = len(bundle.power_w)
    measured = bundle.power_w.to_numpy(dtype=np.float64)
    base = {
        "split": f"fitted:{getattr(config, 'config_id', '?')}",
        "config_id": bundle.config_id,
        "heldout": bundle.run_id,
        "n_steps": n,
        "baselines_in_sample": in_sample,
    }
    latency = config.latency_model() if hasattr(config, "latency_model") else config.latency
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        feats, counts = heldout_features(bundle, latency, rng=np.random.default_rng([seed, 1]))
        _score(rows, gens, feats, counts, measured, 0, n, seed, base)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------- transfer


def transfer_experiment(
    source: Sequence[MeasuredBundle],
    target: MeasuredBundle,
    *,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    holdout_frac: float | None = 0.3,
    fit_kwargs: Mapping[str, Any] | None = None,
    source_model: Generator | None = None,
    native_model: Generator | None = None,
) -> pd.DataFrame:
    """Cross-GPU transfer: the source GPU's classifier with the target GPU's power states.

    The target trace is split into contiguous blocks (first ``1 - holdout_frac`` train,
    last ``holdout_frac`` held out).  Methods scored on the target's held-out block:

    * ``transfer``: model fitted on the source bundles (all of them), transferred with
      :func:`traces.model.transfer.transfer_configuration` using a state dictionary
      (:class:`traces.states.PowerStateMixture`) fitted on the target's training-block power
      alone; source state probabilities are spread over the target states at the same
      occupancy quantile (:func:`traces.model.transfer.quantile_state_map`);
    * ``transfer_rank``: the same with source state k driving target state k;
    * ``model``: natively trained on the target's training block;
    * baselines fitted on the target's training block.

    Features: the target's schedule through a latency model fitted on the target's training
    block (same for every method).

    With ``holdout_frac=None`` the target is not split: the state dictionary, the native
    model, the latency model and the baselines are all fitted on the whole target trace and
    scored on it (in-sample for everything except the transferred classifier; use it to
    compare methods on equal footing when the target trace is too short to split).

    Returns
    -------
    pandas.DataFrame
        Rows per method x seed with ``source``, ``target`` and the metrics.
    """
    import copy

    from traces.model.transfer import quantile_state_map, transfer_configuration

    fit_kwargs = dict(fit_kwargs or {})
    if holdout_frac is None:
        n = len(target.power_w)
        split = Split(f"insample:{target.run_id}", [target], target, 0, n)
    else:
        split = make_splits([target], holdout_frac=holdout_frac)[0]
    target_train = split.train
    if source_model is None:
        source_model = default_model_factory(**fit_kwargs)(list(source), 0)
    transferred = transfer_configuration(source_model, target_train)
    variants = {"transfer": transferred}
    try:
        variants["transfer_rank"] = transfer_configuration(
            source_model, target_train, state_mapping="rank"
        )
    except TypeError:  # registry without state_mapping: its default is the rank map
        quant = copy.copy(transferred)
        quant.state_map = quantile_state_map(
            source_model.mixture.weights_, transferred.mixture.weights_
        )
        variants = {"transfer_rank": transferred, "transfer": quant}
    rows = evaluate_split(
        split,
        seeds=seeds,
        model=native_model,
        model_factory=default_model_factory(**fit_kwargs),
    )
    frames = [rows]
    for name, mdl in variants.items():
        extra = evaluate_split(split, seeds=seeds, model=mdl, methods=("model",))
        extra["method"] = name
        frames.append(extra)
    out = pd.concat(frames, ignore_index=True)
    out["source"] = ",".join(sorted({b.config_id for b in source}))
    out["target"] = target.config_id
    return out
