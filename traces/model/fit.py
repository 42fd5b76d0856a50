"""Fit a :class:`~traces.model.FittedConfiguration` from measured bundles (paper Sec. 3).

Pipeline per configuration:

1. Power-state mixture on the measured node power of all training bundles (Eq 2; K by
   BIC unless fixed) -> hard labels per step.
2. Latency model of the batching surrogate on the same bundles (Eq 4-5,
   :func:`traces.workload.surrogate.fit_latency_model`).
3. Training features, **computed end to end the way generation sees them**: each
   bundle's own request schedule (:meth:`RequestSchedule.from_bundle`) is replayed
   through the surrogate with that latency model
   (:func:`traces.workload.surrogate.features_for_schedule`). Training the classifier on the
   engine's measured ``num_requests_running`` instead would teach it a feature
   distribution (measured A_t, with its scheduler-specific timing) that it never sees at
   generation time, where only surrogate A_t exists; the paper trains on features of the
   same construction as generation. ``features="measured"`` is offered for comparison.
   ``n_feature_draws`` independent surrogate draws per bundle are used (the surrogate is
   stochastic; several draws teach the classifier p(state | surrogate features) instead
   of one draw's accidents).
4. BiGRU classifier on (features, labels) with early stopping on contiguous end blocks.
5. AR(1) coefficients per state from label runs (for Eq 9); sampler choice
   ("auto": the sampler whose generated power reproduces the measured autocorrelation
   (lags 1-50, 0.25-12.5 s) better on the training bundles; the authors' rule
   "median phi > 0.3" is recorded beside it), chosen jointly with the coherence of the
   per-step state draws (``state_rho``; 0 = the paper's independent draws).

``fit_all(data_root, out_dir)`` fits every configuration with measured bundles and the
transferred paper configurations and writes the shipped files; ``python -m traces.measured.training``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from traces.model.configuration import (
    FEATURE_SETS,
    GPU_TDP_W,
    FittedConfiguration,
    feature_matrix,
    needs_ledger,
)
from traces.power.sampler import AR1_PHI_THRESHOLD, estimate_ar1
from traces.states.classifier import StateClassifier
from traces.states.mixture import PowerStateMixture
from traces.workload.records import RequestLog

logger = logging.getLogger(__name__)

__all__ = [
    "FitError",
    "TrainingRun",
    "fit_configuration",
    "training_features",
    "acf",
    "AR1_PHI_THRESHOLD",
    "STATE_RHO_GRID",
    "OVERLAP_GRID",
    "choose_overlap",
    "DATA_LICENSE_NOTE",
]

#: Recorded in every shipped configuration's provenance.
DATA_LICENSE_NOTE: str = (
    "Fitted parameters derived from measured bundles of github.com/grantwilkins/powertrace-sim "
    "(no LICENSE file; raw data not redistributed here, only fitted parameters)."
)


class TrainingRun(RequestLog, Protocol):
    """A measured run to fit on: a :class:`~traces.workload.records.RequestLog` with the
    tensor-parallel degree of its configuration (e.g. a
    :class:`traces.measured.ingest.MeasuredBundle`)."""

    @property
    def model(self) -> str: ...

    @property
    def gpu(self) -> str: ...

    @property
    def tp(self) -> int: ...


class FitError(ValueError):
    """Invalid input to fitting (no bundles, mixed configurations, bad options)."""


def _library_version() -> str:
    """The installed distribution's version (package metadata), for provenance."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gridlink")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def acf(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample autocorrelation at lags 1..max_lag (biased estimator), shape (max_lag,)."""
    d = np.asarray(x, dtype=np.float64) - np.mean(x)
    den = float(d @ d)
    if den == 0.0:
        return np.zeros(max_lag)
    n = d.size
    return np.array([float(d[: n - k] @ d[k:]) / den for k in range(1, max_lag + 1)])


def training_features(
    bundle: TrainingRun,
    latency: Any,
    *,
    feature_set: str = "f2",
    features: str = "surrogate",
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Classifier input for one measured bundle, aligned with ``bundle.power_w``.

    Parameters
    ----------
    bundle : traces.measured.ingest.MeasuredBundle
    latency : traces.workload.surrogate.LatencyModel
        Fitted on the *training* bundles only.
    feature_set : str
        Key of :data:`traces.model.FEATURE_SETS`.
    features : {"surrogate", "measured"}
        ``"surrogate"``: the bundle's request schedule through the batching surrogate
        (what generation sees). ``"measured"``: the engine log's ``num_requests_running``
        (f2 only; NaN before the engine log starts is set to 0 and counted in the log).
    rng : numpy.random.Generator or int or None
        Random source of the surrogate.

    Returns
    -------
    ndarray (T, F)
        T = ``len(bundle.power_w)``.
    """
    t_len = len(bundle.power_w)
    if features == "measured":
        if feature_set != "f2":
            raise FitError("features='measured' only provides f2 (A_t, dA_t)")
        if bundle.active_requests is None:
            raise FitError(f"{bundle.run_id}: no engine log, use features='surrogate'")
        a = bundle.active_requests.to_numpy(dtype=np.float64)
        n_nan = int(np.isnan(a).sum())
        if n_nan:
            logger.info("%s: %d grid points before the engine log set to A=0", bundle.run_id, n_nan)
        a = np.nan_to_num(a, nan=0.0)
        return np.stack([a, np.diff(a, prepend=a[:1])], axis=1)
    if features != "surrogate":
        raise FitError(f"features must be 'surrogate' or 'measured', got {features!r}")
    from traces.workload.schedule import RequestSchedule
    from traces.workload.surrogate import features_for_schedule

    sched = RequestSchedule.from_bundle(bundle)
    if needs_ledger(FEATURE_SETS[feature_set]):
        from traces.workload.ledger import simulate_work

        cached = bundle.requests["n_cached"].to_numpy() if "n_cached" in bundle.requests else None
        if cached is not None:
            order = np.argsort(bundle.requests["arrival_time"].to_numpy(), kind="stable")
            cached = cached[order]
        wf = simulate_work(sched, latency, n_cached=cached, rng=rng)
    else:
        wf = features_for_schedule(sched, latency, rng=rng)
    x = feature_matrix(wf, FEATURE_SETS[feature_set])
    if x.shape[0] < t_len:
        raise FitError(
            f"{bundle.run_id}: surrogate gave {x.shape[0]} steps for {t_len} power samples"
        )
    if x.shape[0] > t_len:
        logger.debug("%s: surrogate horizon trimmed %d -> %d", bundle.run_id, x.shape[0], t_len)
    return x[:t_len]


def _power_limit_w(bundle: TrainingRun) -> float | None:
    """Enforced power limit x TP [W] from a ``power.limit`` column of the power log, if any."""
    src = (bundle.metadata or {}).get("sources", {}).get("power", {})
    path = src.get("path") if isinstance(src, dict) else None
    if not path or not Path(path).exists():
        return None
    import pandas as pd

    head = pd.read_csv(path, nrows=0).columns
    cols = [c for c in head if c.strip().startswith("power.limit")]
    if not cols:
        return None
    lim = pd.read_csv(path, usecols=[cols[0]])[cols[0]]
    lim = pd.to_numeric(lim.astype(str).str.replace("W", "").str.strip(), errors="coerce")
    if lim.notna().sum() == 0:
        return None
    return float(lim.median()) * int(bundle.tp)


def _sources(bundles: Sequence[TrainingRun]) -> list[dict[str, Any]]:
    out = []
    for b in bundles:
        srcs = (b.metadata or {}).get("sources", {})
        files = {}
        for k, v in srcs.items():
            if isinstance(v, dict):
                p = v.get("path", "")
                # keep the path relative to the data root (config/run/file)
                rel = "/".join(Path(p).parts[-3:]) if p else ""
                files[k] = {"path": rel, "sha256": v.get("sha256")}
        out.append({"config_id": b.config_id, "run_id": b.run_id, "files": files})
    return out


#: Grid of state-draw coherence values tried by ``state_rho="auto"`` (0 = paper Eq 7).
STATE_RHO_GRID: tuple[float, ...] = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99)


def _choose_sampler(
    sampler: str,
    state_rho: float | str,
    cfg: FittedConfiguration,
    xs: Sequence[np.ndarray],
    powers: Sequence[np.ndarray],
    phi_info: dict[str, Any],
    seed: int,
    max_lag: int = 50,
) -> dict[str, Any]:
    """Pick the power sampler (Eq 8 / Eq 9) and the state coherence by ACF on training data.

    For every candidate (sampler, rho) the configuration generates power from the
    training bundles' own (surrogate) features with 2 seeds, and the mean squared
    difference between generated and measured autocorrelation over lags 1..``max_lag``
    (12.5 s, the paper's ACF lag range) is averaged over bundles (weighted by length).
    The candidate with the lowest error wins. Marginal power distributions do not
    depend on the choice (Eq 7 holds per step for every rho).
    """
    med_phi = float(np.median(phi_info["phi"]))
    info: dict[str, Any] = {
        "phi_median": med_phi,
        "phi_threshold": AR1_PHI_THRESHOLD,
        "threshold_rule_choice": "ar1" if med_phi > AR1_PHI_THRESHOLD else "iid",
        "phi_n_pairs": [int(v) for v in phi_info["n_pairs"]],
        "phi_raw": [float(v) for v in phi_info["phi_raw"]],
        "n_clipped_phi": int(phi_info["n_clipped_phi"]),
        "min_run_length": int(phi_info["min_run_length"]),
    }
    if sampler == "auto":
        samplers = ["iid", "ar1"]
    elif sampler == "threshold":
        samplers = [info["threshold_rule_choice"]]
    elif sampler in ("iid", "ar1"):
        samplers = [sampler]
    else:
        raise FitError(f"sampler must be 'auto', 'threshold', 'iid' or 'ar1', got {sampler!r}")
    if state_rho == "auto":
        rhos = list(STATE_RHO_GRID)
    else:
        rhos = [float(state_rho)]
        if not 0.0 <= rhos[0] < 1.0:
            raise FitError(f"state_rho must be 'auto' or in [0, 1), got {state_rho!r}")
    probas = [cfg.classifier.predict_proba_many([x])[0] for x in xs]
    meas_acf = []
    for p in powers:
        lag = min(max_lag, p.size // 4)
        meas_acf.append(acf(p, lag) if lag >= 1 else None)
    weights = [p.size for p in powers]
    errs: dict[str, float] = {}
    for kind in samplers:
        for rho in rhos:
            cfg.sampler, cfg.state_rho = kind, rho
            e, w = [], []
            for i, (pr, ma) in enumerate(zip(probas, meas_acf, strict=True)):
                if ma is None:
                    continue
                for rep in range(2):
                    g, _, _ = cfg._sample(pr, np.random.default_rng([seed, 7, i, rep]))
                    e.append(float(np.mean((acf(g, ma.size) - ma) ** 2)))
                    w.append(weights[i])
            errs[f"{kind}/rho={rho:g}"] = float(np.average(e, weights=w)) if e else float("nan")
    best = min(errs, key=lambda k: (np.nan_to_num(errs[k], nan=np.inf), k))
    kind, rho_s = best.split("/rho=")
    cfg.sampler, cfg.state_rho = kind, float(rho_s)
    info["acf_mse_lags_1_50"] = errs
    paper = errs.get(f"{kind}/rho=0")
    info["reason"] = (
        f"{sampler}/{state_rho}: lowest ACF MSE (lags 1-{max_lag}) on the training bundles: "
        f"sampler={kind}, state_rho={float(rho_s):g} (MSE {errs[best]:.4f}"
        + (f"; paper's independent draws rho=0: {paper:.4f}" if paper is not None else "")
        + f"); authors' rule median phi {med_phi:.2f} > {AR1_PHI_THRESHOLD} -> "
        f"{info['threshold_rule_choice']}"
    )
    return info


#: Candidate inference overlaps [steps] and the window-edge tolerance used to pick one.
OVERLAP_GRID: tuple[int, ...] = (512, 1024, 2048)
WINDOW_EDGE_TOL_FIT: float = 5e-4


def choose_overlap(
    cfg: FittedConfiguration,
    bundles: Sequence[TrainingRun],
    *,
    seed: int = 0,
    window: int = 8192,
    hours: float = 2.0,
) -> dict[str, Any]:
    """Smallest overlap whose windowed inference matches full-sequence inference, on a
    calibration workload.

    Generation does not rely on this figure: it uses the classifier's bounded-memory plan
    (``StateClassifier.context_plan``), because whole-sequence inference itself carries
    hours of history and the measured difference holds only at the calibration rates
    (at other rates the shipped 70B classifier's windows and whole sequence differ by up
    to 0.9 in probability).  The chosen overlap serves explicit-``window`` calls.

    A calibration workload spans idle to saturated load: Poisson arrivals at
    0.1, 0.5, 1, 2 and 4 times the training bundles' mean request rate with their token
    table, then 2 times the rate with 3x longer prompts and 2x longer outputs
    (``hours / 6`` each, played one after another), through the configuration's
    surrogate. For each overlap
    in :data:`OVERLAP_GRID` the max abs difference of the state probabilities between
    windowed (``window``) and full-sequence inference is measured; the smallest overlap
    below :data:`WINDOW_EDGE_TOL_FIT` wins (else the largest). Sets
    ``cfg.inference_overlap``.
    """
    from traces.workload.arrivals import poisson
    from traces.workload.schedule import RequestSchedule, TokenDistribution
    from traces.workload.surrogate import features_for_schedule

    scheds = [RequestSchedule.from_bundle(b) for b in bundles]
    n = sum(len(s) for s in scheds)
    dur = sum(s.duration_s for s in scheds)
    tokens = TokenDistribution.from_arrays(
        np.concatenate([s.n_in for s in scheds]), np.concatenate([s.n_out for s in scheds])
    )
    rng = np.random.default_rng([seed, 11])
    rate = max(n / dur, 0.05)
    heavy = TokenDistribution.from_arrays(tokens.n_in * 3, tokens.n_out * 2)
    parts = [poisson(rate * f, hours * 600.0, tokens, rng=rng) for f in (0.1, 0.5, 1.0, 2.0, 4.0)]
    parts.append(poisson(rate * 2.0, hours * 600.0, heavy, rng=rng))  # long, saturating requests
    sched = RequestSchedule.concat(parts)
    if needs_ledger(cfg.feature_names):
        from traces.workload.ledger import simulate_work

        wf = simulate_work(sched, cfg.latency, rng=rng)
    else:
        wf = features_for_schedule(sched, cfg.latency, rng=rng)
    x = feature_matrix(wf, cfg.feature_names)
    full = cfg.classifier._predict_proba_full(x)
    diffs: dict[int, float] = {}
    chosen = OVERLAP_GRID[-1]
    for ov in OVERLAP_GRID:
        win = cfg.classifier.predict_proba_many([x], window=window, overlap=ov)[0]
        diffs[ov] = float(np.max(np.abs(win - full)))
        if diffs[ov] < WINDOW_EDGE_TOL_FIT:
            chosen = ov
            break
    cfg.inference_overlap = int(chosen)
    return {
        "inference_overlap": int(chosen),
        "window": int(window),
        "tolerance": WINDOW_EDGE_TOL_FIT,
        "max_abs_diff_by_overlap": {str(k): v for k, v in diffs.items()},
        "calibration": (
            f"Poisson at (0.1, 0.5, 1, 2, 4) x {rate:.3f} req/s with the training token "
            f"table + 2 x rate with 3x/2x longer requests, {hours} h in all"
        ),
    }


def fit_configuration(
    bundles: Sequence[TrainingRun],
    *,
    n_states: int | str = "bic",
    k_range: tuple[int, int] = (4, 12),
    feature_set: str = "f2",
    seed: int = 0,
    max_epochs: int = 60,
    sampler: str = "auto",
    state_rho: float | str = "auto",
    features: str = "surrogate",
    n_feature_draws: int = 3,
    latency: Any = None,
    config_id: str | None = None,
    classifier_kwargs: dict[str, Any] | None = None,
    baseline_stats: bool = True,
    mixture_seed: int | None = None,
) -> FittedConfiguration:
    """Fit one configuration from its measured bundles.

    Parameters
    ----------
    bundles : sequence of traces.measured.ingest.MeasuredBundle
        Training bundles, all of one ``config_id`` (unless ``config_id`` is given).
    n_states : int or "bic", default "bic"
        Mixture size K or BIC selection over ``k_range``.
    k_range : (int, int), default (4, 12)
    feature_set : {"f2", "f4", "f4l", "fl"}, default "f2"
        f2 = (A_t, dA_t) (paper); f4 adds the surrogate's ``prefill_tokens`` and
        ``decode_rate``; f4l adds them as ``log(1 + x)``; fl adds ``log(1 + x)`` of the
        work ledger's prefilled and emitted tokens per step and resident KV tokens
        (:mod:`traces.workload.ledger`).
    seed : int, default 0
        Seeds the mixture, the surrogate draws, the classifier and the sampler check.
    max_epochs : int, default 60
    sampler : {"auto", "threshold", "iid", "ar1"}, default "auto"
        Power sampler: Eq 8 (iid) or Eq 9 (ar1); "auto" picks by ACF on the training
        bundles, "threshold" uses the authors' rule (median phi > 0.3 -> ar1).
    state_rho : float or "auto", default "auto"
        Coherence of the per-step state draws (0 = the paper's independent Eq 7 draws;
        see :func:`traces.power.sampler.sample_states`); "auto" picks from
        :data:`STATE_RHO_GRID` by ACF on the training bundles, jointly with ``sampler``.
    features : {"surrogate", "measured"}, default "surrogate"
        Source of the training features (see module docstring).
    n_feature_draws : int, default 3
        Surrogate draws per bundle (ignored for measured features).
    latency : traces.workload.surrogate.LatencyModel, optional
        Use this latency model instead of fitting one on ``bundles``.
    config_id : str, optional
        Override (default: the bundles' common ``config_id``).
    classifier_kwargs : dict, optional
        Extra :class:`~traces.states.classifier.StateClassifier` arguments.
    baseline_stats : bool, default True
        Store :func:`traces.model.baselines.baseline_stats` of the training data in the
        provenance (used by the facility's baseline methods).
    mixture_seed : int, optional
        Seed of the power-state mixture when it should not follow ``seed`` (the
        posterior ensemble of :mod:`traces.model.posterior_ensemble` keeps one mixture across fits).

    Returns
    -------
    FittedConfiguration

    Raises
    ------
    FitError
        No bundles, mixed configurations, unknown feature set / sampler / GPU.
    """
    t0 = time.perf_counter()
    bundles = list(bundles)
    if not bundles:
        raise FitError(
            "bundles is empty; pass at least one MeasuredBundle (traces.measured.ingest.load_bundle)"
        )
    ids = sorted({b.config_id for b in bundles})
    if config_id is None:
        if len(ids) > 1:
            raise FitError(f"bundles mix configurations {ids}; fit one at a time or pass config_id")
        config_id = ids[0]
    if feature_set not in FEATURE_SETS:
        raise FitError(f"feature_set {feature_set!r} unknown; use one of {sorted(FEATURE_SETS)}")
    if n_feature_draws < 1:
        raise FitError(f"n_feature_draws must be >= 1, got {n_feature_draws}")
    b0 = bundles[0]
    if b0.gpu not in GPU_TDP_W:
        raise FitError(f"GPU {b0.gpu!r} has no nameplate TDP in GPU_TDP_W {sorted(GPU_TDP_W)}")

    powers = [b.power_w.to_numpy(dtype=np.float64) for b in bundles]
    for b, p in zip(bundles, powers, strict=True):
        if np.isnan(p).any():
            raise FitError(f"{b.run_id}: power_w has NaN; reload the bundle with gap interpolation")
    p_all = np.concatenate(powers)
    mix_seed = seed if mixture_seed is None else int(mixture_seed)
    mixture = PowerStateMixture(n_states, k_range=k_range, random_state=mix_seed).fit(p_all)
    labels = [mixture.predict(p) for p in powers]

    if latency is None:
        from traces.workload.surrogate import fit_latency_model

        latency = fit_latency_model(bundles)

    n_draws = 1 if features == "measured" else int(n_feature_draws)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    first_draw: list[np.ndarray] = []
    for i, (b, lab) in enumerate(zip(bundles, labels, strict=True)):
        for d in range(n_draws):
            x = training_features(
                b,
                latency,
                feature_set=feature_set,
                features=features,
                rng=np.random.default_rng([seed, i, d]),
            )
            xs.append(x)
            ys.append(lab)
            if d == 0:
                first_draw.append(x)

    ckw = {"max_epochs": max_epochs, "random_state": seed, **(classifier_kwargs or {})}
    clf = StateClassifier(mixture.n_states_, **ckw).fit(xs, ys)

    seg = np.concatenate([np.full(p.size, i) for i, p in enumerate(powers)])
    phi_info = estimate_ar1(p_all, np.concatenate(labels), mixture.means_, segment_ids=seg)
    limits = [v for v in (_power_limit_w(b) for b in bundles) if v is not None]
    cfg = FittedConfiguration(
        config_id=config_id,
        mixture=mixture,
        classifier=clf,
        feature_set=feature_set,
        latency=latency,
        sampler="iid",
        phi=phi_info["phi"],
        power_range_w=(float(p_all.min()), float(p_all.max())),
        model=b0.model,
        gpu=b0.gpu,
        tp=b0.tp,
        tdp_w=GPU_TDP_W[b0.gpu] * b0.tp,
        power_limit_w=max(limits) if limits else None,
        source="measured",
    )
    ovinfo = choose_overlap(cfg, bundles, seed=seed)
    sinfo = _choose_sampler(sampler, state_rho, cfg, first_draw, powers, phi_info, seed)
    sinfo["window_edges"] = ovinfo
    cfg.sampler_info = sinfo
    idle = []
    for b in bundles:
        first = b.requests["arrival_time"].min()
        pre = b.power_w[b.power_w.index < first]
        if len(pre):
            idle.append(float(pre.median()))
    prov: dict[str, Any] = {
        "sources": _sources(bundles),
        "data_license": DATA_LICENSE_NOTE,
        "seed": int(seed),
        "library_version": _library_version(),
        "torch_version": __import__("torch").__version__,
        "features": features,
        "n_feature_draws": n_draws,
        "n_steps": int(p_all.size),
        "k_selection": "bic" if isinstance(n_states, str) else "fixed",
        "training": {
            "val_accuracy": clf.history_.get("val_accuracy"),
            "best_val_loss": clf.history_.get("best_val_loss"),
            "epochs_run": clf.history_.get("epochs_run"),
            "classifier_fit_time_s": clf.history_.get("fit_time_s"),
        },
        "idle_median_w": float(np.median(idle)) if idle else None,
        "tdp_note": (
            f"tdp_w = {GPU_TDP_W[b0.gpu]:.0f} W nameplate ({b0.gpu} datasheet) x TP {b0.tp}; "
            "power_limit_w = enforced limit from the power log when recorded"
        ),
    }
    from traces.model.envelope import training_envelope

    prov["envelope"] = training_envelope(bundles, [x[:, 0] for x in first_draw])
    if baseline_stats:
        try:
            from traces.model.baselines import baseline_stats as _bstats

            prov["baseline_stats"] = _bstats(bundles, tdp_w=cfg.tdp_w)
        except Exception as exc:  # noqa: BLE001 - optional extra, never blocks a fit
            logger.warning("baseline_stats failed for %s: %r", config_id, exc)
    if "baseline_stats" in prov:  # rates and samples per concurrency level (issue 12)
        prov["envelope"].update(level_envelope(bundles, prov["baseline_stats"]))
    prov["fit_time_s"] = time.perf_counter() - t0
    cfg.provenance = prov
    logger.info(
        "fitted %s: K=%d sampler=%s val_acc=%.3f in %.1f s",
        config_id,
        cfg.n_states,
        cfg.sampler,
        prov["training"]["val_accuracy"] or float("nan"),
        prov["fit_time_s"],
    )
    return cfg


def level_envelope(bundles: Sequence[Any], stats: Mapping[str, Any]) -> dict[str, Any]:
    """The concurrency-level part of the training envelope
    (:func:`traces.model.envelope.fit_envelope`): each bundle's mean request rate
    (requests over its request window) and the measured samples per concurrency level
    from ``stats`` (:func:`traces.model.baselines.baseline_stats`); it is added to the
    token and concurrency ranges of :func:`traces.model.envelope.training_envelope` in
    ``provenance["envelope"]``."""
    from traces.model.envelope import fit_envelope
    from traces.workload.schedule import RequestSchedule

    rates = []
    for b in bundles:
        sched = RequestSchedule.from_bundle(b)
        rates.append(len(sched) / max(sched.duration_s, 1e-9))
    return fit_envelope(rates, stats["lookup_counts"], stats["lookup_n_samples"])
