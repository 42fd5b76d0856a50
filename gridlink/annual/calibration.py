""":func:`calibrate_response`: run the full 250 ms generator on a grid of offered loads
and fit one replica's bin-mean power (natural cubic spline in the shared modulation,
neighbouring-bin terms, arrival control variates).  Method: :mod:`gridlink.annual`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gridlink.annual.curves import ResponseCurve
from gridlink.annual.scenario import DT_S, AnnualError, _modulation, _tokens

if TYPE_CHECKING:  # typing only; imported where it runs
    from traces.model import FittedConfiguration

logger = logging.getLogger(__name__)


def _load_config(config: str | FittedConfiguration) -> FittedConfiguration:
    if isinstance(config, str):
        from traces.model.registry import load_configuration

        return load_configuration(config)
    return config


def _ncs_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Natural cubic spline basis, shape (N, K) for K knots (constant and linear included).

    Cubic between the knots, linear beyond the outer ones (Hastie, Tibshirani & Friedman,
    *The Elements of Statistical Learning*, 2nd ed., 2009, Eqs 5.4-5.5).
    """
    x = np.asarray(x, dtype=np.float64)
    k = np.asarray(knots, dtype=np.float64)

    def d(i: int) -> np.ndarray:
        return (np.maximum(x - k[i], 0.0) ** 3 - np.maximum(x - k[-1], 0.0) ** 3) / (k[-1] - k[i])

    last = d(len(k) - 2)
    return np.stack([np.ones_like(x), x] + [d(i) - last for i in range(len(k) - 2)], axis=-1)


def _shift(a: np.ndarray, by: int, fill: float) -> np.ndarray:
    """``a[:, b + by]`` along the last axis, ``fill`` where that falls outside."""
    out = np.full_like(a, fill, dtype=np.float64)
    if by > 0:
        out[..., :-by] = a[..., by:]
    elif by < 0:
        out[..., -by:] = a[..., :by]
    else:
        out[...] = a
    return out


@dataclass(frozen=True)
class _LevelFit:
    table_w: np.ndarray  # (G,) conditional mean bin power on the modulation grid [W]
    lag_w: np.ndarray  # (2,) [W per unit m] for m_{b-1} - 1, m_{b+1} - 1
    mean_w: float  # mean bin power over the modulation law, controls applied [W]
    bin_var_w2: float  # variance of the bin mean given the modulation path [W^2]
    beta_w: float  # least-squares slope on m_b under the modulation law [W per unit m]


def _fit_level(
    p_w: np.ndarray,
    mod: np.ndarray,
    controls: np.ndarray,
    *,
    knots: np.ndarray | None,
    grid: np.ndarray,
    nodes: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> _LevelFit:
    """Least-squares fit of one level's bin means (see :func:`calibrate_response`).

    ``p_w`` (R, N) bin-mean power [W]; ``mod`` (R, N + 2) modulation with one bin
    before and after the recorded ones; ``controls`` (R, N, C) zero-mean arrival
    controls; ``knots`` None for independent traffic (no modulation terms).  The fit
    is conditional on the modulation, so it does not depend on how the bins' ``m``
    were drawn; statistics *over* the modulation law use ``nodes`` (equal-probability
    quantiles of the law; default: the bins' own ``m``) and ``weights`` (R, N)
    (density of the law over the density the bins were drawn from; default 1).
    """
    y = p_w.ravel()
    z = controls.reshape(y.size, -1)
    m = mod[:, 1:-1].ravel()
    if knots is None:
        mod_cols = np.ones((y.size, 1))
        lag_cols = np.zeros((y.size, 0))
    else:
        mod_cols = _ncs_basis(m, knots)
        lag_cols = np.stack([mod[:, :-2].ravel() - 1.0, mod[:, 2:].ravel() - 1.0], axis=-1)
    x = np.concatenate([mod_cols, lag_cols, z], axis=1)
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    k, nl = mod_cols.shape[1], lag_cols.shape[1]
    given_mod = mod_cols @ coef[:k] + lag_cols @ coef[k : k + nl]
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if knots is None:
        mean = float(np.average(y - z @ coef[k + nl :], weights=w))
        table = np.array([mean])
        lag = np.zeros(2)
        beta = 0.0
    else:
        table = _ncs_basis(grid, knots) @ coef[:k]
        lag = coef[k : k + nl]
        at = m if nodes is None else np.asarray(nodes, dtype=np.float64)
        s_at = _ncs_basis(at, knots) @ coef[:k]
        mean = float(s_at.mean())  # the neighbours' terms have mean 0 under the law
        var_m = float(at.var())
        beta = float(((s_at - mean) * (at - at.mean())).mean() / var_m) if var_m > 0 else 0.0
    resid = y - given_mod  # controls and noise: independent between replicas
    r_mean = np.average(resid, weights=w)
    dof = y.size / max(1, y.size - k - nl)
    bin_var = float(np.average((resid - r_mean) ** 2, weights=w) * dof) if y.size > 1 else 0.0
    return _LevelFit(table, lag, mean, bin_var, beta)


#: Quantiles of the modulation law between which ``tail_fraction`` of the calibration
#: bins draw their modulation (the rare busy minutes that set the hourly 1-min peaks).
_TAIL_Q: tuple[float, float] = (0.98, 0.99995)


def _mod_law(cv: float) -> Any:
    """The shared modulation's gamma law (mean 1, CV ``cv``) as a frozen scipy distribution."""
    from scipy import stats

    return stats.gamma(a=1.0 / cv**2, scale=cv**2)


def _mod_weights(mod: np.ndarray, cv: float, tail_fraction: float) -> np.ndarray:
    """Density of the gamma law over the calibration's mixture density at ``mod``."""
    lo, hi = _mod_law(cv).ppf(_TAIL_Q)
    in_tail = (mod >= lo) & (mod <= hi)
    width = _TAIL_Q[1] - _TAIL_Q[0]
    return 1.0 / ((1.0 - tail_fraction) + tail_fraction * in_tail / width)


@dataclass(frozen=True)
class _LevelRuns:
    """Calibration traces per level and replica, reduced to bins (arrays (J, R, T))."""

    mod: np.ndarray  # shared modulation m_b [-] (1 for independent traffic)
    rate_rps: np.ndarray  # bin rate lambda_b [req/s]
    count: np.ndarray  # arrivals per bin
    service_s: np.ndarray  # summed service time of the bin's arrivals [s]
    bin_p_w: np.ndarray  # bin-mean power [W]
    bin_p2_w2: np.ndarray  # bin mean of the squared 250 ms power [W^2]
    n_warm: int
    n_bins: int
    bin_s: float
    correlation: float
    cv: float
    tail_fraction: float


def _simulate_levels(
    cfg: Any,
    levels: np.ndarray,
    *,
    n_replicas: int,
    n_warm: int,
    n_bins: int,
    bin_s: float,
    correlation: float,
    cv: float,
    seed: int,
    tokens: Any,
    max_batch: int,
    tail_fraction: float,
) -> _LevelRuns:
    """Run the 250 ms generator for every level and replica (see :func:`calibrate_response`)."""
    from traces.workload.arrivals import rate_function
    from traces.workload.surrogate import simulate_batching, workload_features

    n_rates = len(levels)
    shared = correlation > 0.0
    n_tot = n_warm + n_bins + 1  # one bin after the record: every recorded bin has a next
    total = n_tot * bin_s
    per_bin = int(round(bin_s / DT_S))
    jobs = [
        (j, sq)
        for j, level_seq in enumerate(np.random.SeedSequence(seed).spawn(n_rates))
        for sq in level_seq.spawn(n_replicas)
    ]
    shape = (n_rates, n_replicas)
    mods = np.ones(shape + (n_tot,))
    lams = np.zeros(shape + (n_tot,))
    counts = np.zeros(shape + (n_tot,))
    service = np.zeros(shape + (n_tot,))
    bin_p = np.zeros(shape + (n_tot,))
    bin_p2 = np.zeros(shape + (n_tot,))
    tail = _mod_law(cv).ppf if shared and tail_fraction > 0 else None
    chunk = 128  # traces per generate_many call: bounds the features held in memory
    for first in range(0, len(jobs), chunk):
        feats, rngs, where = [], [], []
        for i, (j, sq) in enumerate(jobs[first : first + chunk], start=first):
            r = i - j * n_replicas
            mod_rng, sched_rng, feat_rng, power_rng = (
                np.random.default_rng(c) for c in sq.spawn(4)
            )
            m = _modulation(n_tot, cv, mod_rng) if shared else np.ones(n_tot)
            if tail is not None:  # a fraction of bins from the law's upper 2 %
                sel = mod_rng.random(n_tot) < tail_fraction
                m[sel] = tail(mod_rng.uniform(*_TAIL_Q, size=int(sel.sum())))
            lam = levels[j] * (1.0 - correlation + correlation * m)
            sched = rate_function(
                pd.Series(lam, index=np.arange(n_tot) * bin_s), total, tokens,
                start="2025-01-01T00:00Z", rng=sched_rng,
            )  # fmt: skip
            timeline = simulate_batching(sched, cfg.latency, max_batch=max_batch, rng=feat_rng)
            feats.append(workload_features(timeline, duration_s=total))
            arrival_bin = np.minimum((timeline.arrival_s // bin_s).astype(int), n_tot - 1)
            mods[j, r], lams[j, r] = m, lam
            counts[j, r] = np.bincount(arrival_bin, minlength=n_tot)
            service[j, r] = np.bincount(
                arrival_bin, weights=timeline.end_s - timeline.start_s, minlength=n_tot
            )
            rngs.append(power_rng)
            where.append((j, r))
        powers = _generate_many(cfg, feats, rngs)
        for (j, r), p in zip(where, powers, strict=True):
            x = np.asarray(p, dtype=np.float64).reshape(n_tot, per_bin)
            bin_p[j, r] = x.mean(axis=1)
            bin_p2[j, r] = (x**2).mean(axis=1)
        del feats, powers
    return _LevelRuns(
        mods, lams, counts, service, bin_p, bin_p2, n_warm, n_bins, bin_s, correlation, cv,
        tail_fraction,
    )  # fmt: skip


def _fit_levels(
    run: _LevelRuns, *, n_mod_knots: int
) -> tuple[list[_LevelFit], np.ndarray, np.ndarray, float]:
    """Per-level fits of the calibration bins.

    Returns (fits, modulation grid, weights (J, R, N) of the recorded bins under the
    modulation law, mean service time [s]).
    """
    n_warm, n_bins, bin_s = run.n_warm, run.n_bins, run.bin_s
    shape = run.mod.shape[:2]
    counts, service, lams, mods = run.count, run.service_s, run.rate_rps, run.mod
    mean_s = float(service.sum() / counts.sum()) if counts.sum() > 0 else 0.0
    z = counts - lams * bin_s  # zero-mean given the rate path
    u = service - lams * bin_s * mean_s
    keep = slice(n_warm, n_warm + n_bins)
    controls = np.stack(
        [_shift(a, k, 0.0)[..., keep] for a in (z, u) for k in (-1, 0, 1)], axis=-1
    )  # (J, R, N, 6)
    edge = slice(n_warm - 1 if n_warm else 0, n_warm + n_bins + 1)
    mod_ext = mods[..., edge]
    if not n_warm:  # no bin before the record: the previous bin's modulation at its mean
        mod_ext = np.concatenate([np.ones(shape + (1,)), mod_ext], axis=-1)
    if run.correlation > 0.0:
        law = _mod_law(run.cv)
        lo_m, hi_m = law.ppf([0.0005, 0.9995])
        knots = np.r_[lo_m, law.ppf(np.arange(1, n_mod_knots + 1) / (n_mod_knots + 1)), hi_m]
        grid = np.r_[0.0, lo_m, law.ppf(np.linspace(0.01, 0.99, 25)), hi_m]
        nodes = law.ppf((np.arange(2000) + 0.5) / 2000)
        weights = _mod_weights(mods[..., keep], run.cv, run.tail_fraction)
    else:
        knots, grid, nodes = None, np.array([1.0]), None
        weights = np.ones(mods[..., keep].shape)
    fits = [
        _fit_level(
            run.bin_p_w[j][..., keep],
            mod_ext[j],
            controls[j],
            knots=knots,
            grid=grid,
            nodes=nodes,
            weights=weights[j],
        )  # fmt: skip
        for j in range(shape[0])
    ]
    return fits, grid, weights, mean_s


def calibrate_response(
    config: str | FittedConfiguration,
    *,
    tokens: str = "azure-conv",
    max_rate_rps: float = 4.0,
    n_rates: int = 16,
    n_replicas: int = 32,
    duration_s: float = 3600.0,
    warmup_s: float = 120.0,
    bin_s: float = 60.0,
    correlation: float = 0.0,
    cv: float = 0.5,
    n_mod_knots: int = 5,
    tail_fraction: float = 0.05,
    seed: int = 0,
    max_batch: int = 64,
    n_in_fixed: int = 512,
    n_out_fixed: int = 128,
) -> ResponseCurve:
    """Run the full 250 ms generator on a grid of offered loads and record the response.

    For each level ``r_j = max_rate_rps * j / (n_rates - 1)``, ``n_replicas``
    independent replicas are driven through the batching surrogate
    (:func:`traces.surrogate.simulate_batching`, :func:`traces.surrogate.workload_features`)
    and the configuration's ``generate_many`` by Poisson arrivals whose rate in each bin
    is ``r_j (1 - rho + rho m_b)``, with ``m_b`` a gamma modulation (mean 1, CV ``cv``,
    i.i.d. per bin and per replica) as shared traffic uses
    (:func:`traces.schedule.rate_function`; ``rho = 0`` gives stationary Poisson), except
    that a fraction ``tail_fraction`` of the bins draw ``m_b`` from the law's upper 2 %.
    The first ``warmup_s`` are discarded and one bin is simulated after the recorded
    ones.

    Per level, every recorded bin ``b`` of every replica gives one bin-mean power
    ``P_b``, fitted by least squares as

    .. math::

        P_b = s_j(m_b) + \\gamma_{j,-}(m_{b-1} - 1) + \\gamma_{j,+}(m_{b+1} - 1)
              + \\sum_{k=-1}^{1} \\big(a_{j,k} z_{b+k} + c_{j,k} u_{b+k}\\big) + e_b

    * ``s_j`` -- a natural cubic spline in the bin's own modulation (``n_mod_knots``
      interior knots at equal-probability quantiles of the gamma law, linear beyond
      the 0.05 % and 99.95 % quantiles), stored as a table on a grid of ``m`` from 0
      to the 99.95 % quantile (``mod_knots``, ``mod_mean_w``; above it
      :meth:`ResponseCurve.shared_response` keeps the bin's rate).  A constant for
      ``rho = 0``.
    * ``gamma`` -- the response to the previous and next bin's modulation (``lag_w``):
      requests that arrive late in a bin are served in the next, and the
      bidirectional state classifier sees both sides.  An hour's energy moves with
      its mean modulation through ``s_j`` *and* these terms.
    * ``z_b = n_b - lambda_b bin_s`` and ``u_b = S_b - lambda_b bin_s E[S]`` --
      control variates: ``n_b`` requests arrived in bin ``b`` and ``S_b`` the sum
      of their service times (``E[S]``: the mean service time of all calibration
      requests).  Their expectation given the modulation is zero, so they remove
      much of the arrival noise from the estimate without biasing it (they are not
      used by the fast path).

    ``bin_var_w2`` is the variance of ``P_b`` around the modulation terms (controls
    and ``e_b`` together: everything that is independent between replicas).  No queue
    state is carried: the surrogate's capacity (``max_batch`` slots over the mean
    service time) is 12-37 req/s per replica for the shipped configurations, far above
    the levels of the shipped scenarios, so a replica's power depends on the last few
    minutes of its rate, not on hours of history.  Near that capacity a backlog would
    carry over from bin to bin, which this fit does not model.

    The defaults (32 replicas, 5 knots, the neighbouring-bin terms, the controls and
    ``tail_fraction = 0.05``) were chosen on development days and seeds that the test
    and the benchmark do not use (``docs/pypsa.md``).

    Parameters
    ----------
    config : str or traces.model.FittedConfiguration
        Configuration id (loaded through :func:`traces.registry.load_configuration`) or
        a fitted configuration.
    tokens : {"azure-code", "azure-conv", "fixed"}, default "azure-conv"
    max_rate_rps : float, default 4.0
        Highest level [req/s per replica] (the deterministic level before the
        modulation).
    n_rates : int, default 16
        Levels J (>= 3), including 0 (idle).
    n_replicas : int, default 32
        Independent replicas per level (>= 1).  The estimate's noise falls as
        ``1/sqrt(n_replicas * duration_s)``; cost grows linearly.
    duration_s : float, default 3600.0
        Recorded trace length per replica [s] (a whole number, >= 4, of bins).
    warmup_s : float, default 120.0
        Discarded start [s] (a whole number of bins).
    bin_s : float, default 60.0
        Bin [s].
    correlation, cv : float
        Shared-traffic fraction ``rho`` and modulation CV of the scenario.
    n_mod_knots : int, default 5
        Interior knots (>= 1) of the spline in the bin's own modulation.
    tail_fraction : float, default 0.05
        Fraction in [0, 1) of the calibration bins whose modulation is drawn from the
        law's upper 2 % (quantiles 0.98 to 0.99995) instead of the whole law, so that
        the rare busy minutes that set hourly peaks are seen often enough to fit.  The
        fit is conditional on ``m``, so this does not bias it; the level mean
        ``mean_w``, ``beta_w``, ``var_w2`` and ``bin_var_w2`` are taken under the
        modulation law itself (quadrature on the fitted spline; importance weights).
    seed : int, default 0
    max_batch : int, default 64
    n_in_fixed, n_out_fixed : int
        Token counts for ``tokens="fixed"``.

    Returns
    -------
    ResponseCurve
        Levels (J,) with ``rate_rps[0] == 0``; modulation table (J, G).

    Raises
    ------
    AnnualError
        A grid, duration or replica count that is not usable (fewer than 10 bins per
        fitted coefficient).
    """

    if n_rates < 3 or not max_rate_rps > 0:
        raise AnnualError("calibrate_response: need n_rates >= 3 and max_rate_rps > 0")
    n_bins = duration_s / bin_s
    n_warm = warmup_s / bin_s
    if n_bins < 4 or abs(n_bins - round(n_bins)) > 1e-9 or abs(n_warm - round(n_warm)) > 1e-9:
        raise AnnualError(
            f"duration_s={duration_s} and warmup_s={warmup_s} must be whole numbers of "
            f"bins of {bin_s} s (duration at least 4 bins)"
        )
    if not 0.0 <= correlation <= 1.0 or not cv > 0 or not 0.0 <= tail_fraction < 1.0:
        raise AnnualError(
            "calibrate_response: correlation must lie in [0, 1], cv > 0 and tail_fraction in [0, 1)"
        )
    n_bins, n_warm = int(round(n_bins)), int(round(n_warm))
    shared = correlation > 0.0
    n_coef = (n_mod_knots + 2 + 2 if shared else 1) + 6
    if int(n_replicas) < 1 or int(n_mod_knots) < 1 or n_replicas * n_bins < 10 * n_coef:
        raise AnnualError(
            f"calibrate_response: n_replicas={n_replicas} x {n_bins} bins per level is too "
            f"few for {n_coef} coefficients (need >= 10 bins each, n_replicas >= 1 and "
            "n_mod_knots >= 1); raise n_replicas or duration_s"
        )
    cfg = _load_config(config)
    t0 = time.perf_counter()
    levels = max_rate_rps * np.arange(n_rates) / (n_rates - 1)
    run = _simulate_levels(
        cfg, levels, n_replicas=int(n_replicas), n_warm=n_warm, n_bins=n_bins, bin_s=bin_s,
        correlation=correlation, cv=cv, seed=seed,
        tokens=_tokens(tokens, n_in_fixed, n_out_fixed), max_batch=max_batch,
        tail_fraction=tail_fraction,
    )  # fmt: skip
    fits, grid, weights, mean_s = _fit_levels(run, n_mod_knots=n_mod_knots)
    keep = slice(n_warm, n_warm + n_bins)
    recorded = run.bin_p_w[..., keep]
    axes = (1, 2)  # replicas and bins, weighted to the modulation law
    mean_k = np.array([f.mean_w for f in fits])
    var_k = np.average(run.bin_p2_w2[..., keep], weights=weights, axis=axes) - (
        np.average(recorded, weights=weights, axis=axes) ** 2
    )
    elapsed = time.perf_counter() - t0
    logger.info(
        "%s: calibrated %d levels x %d replicas up to %.3g req/s (rho=%.2f) in %.1f s "
        "(idle %.0f W, top %.0f W)",
        getattr(cfg, "config_id", "?"), n_rates, n_replicas, max_rate_rps, correlation, elapsed,
        mean_k[0], mean_k[-1],
    )  # fmt: skip
    return ResponseCurve(
        config_id=str(getattr(cfg, "config_id", "custom")),
        tokens=tokens,
        tp=int(getattr(cfg, "tp", 1)),
        tdp_w=float(getattr(cfg, "tdp_w", float("nan"))),
        rate_rps=levels,
        mean_w=mean_k,
        var_w2=np.maximum(var_k, 0.0),
        bin_var_w2=np.array([f.bin_var_w2 for f in fits]),
        beta_w=np.array([f.beta_w for f in fits]),
        mod_knots=np.tile(grid, (n_rates, 1)),
        mod_mean_w=np.stack([f.table_w for f in fits]),
        correlation=float(correlation),
        cv=float(cv),
        bin_mean_range_w=(float(recorded.min()), float(recorded.max())),
        bin_s=float(bin_s),
        duration_s=float(duration_s),
        warmup_s=float(warmup_s),
        seed=int(seed),
        provenance={
            "calibration_s": elapsed,
            "generator": type(cfg).__name__,
            "max_batch": max_batch,
            "correlation": float(correlation),
            "cv": float(cv),
            "n_levels": int(n_rates),
            "n_replicas": int(n_replicas),
            "n_mod_knots": int(n_mod_knots),
            "tail_fraction": float(tail_fraction),
            "mean_service_s": mean_s,
            "estimator": "per level: natural cubic spline in m_b + previous/next-bin "
            "modulation + arrival-count and service-time control variates (least squares)",
            "source": "traces.schedule.rate_function (gamma-modulated Poisson) -> "
            "traces.surrogate.simulate_batching/workload_features -> "
            "FittedConfiguration.generate_many",
        },
        lag_w=np.stack([f.lag_w for f in fits]),
    )


def _generate_many(cfg: Any, feats: list[Any], rngs: list[np.random.Generator]) -> list[np.ndarray]:
    """Power of many equal-length traces in one batched call when the generator has one.

    Whole-sequence (exact) inference, as :func:`traces.facility.simulate_facility` runs
    horizons of a day or two, so calibration and the full path see the same classifier.
    """
    import torch

    with torch.inference_mode():
        if not hasattr(cfg, "generate_many"):
            return [cfg.generate_from_features(f, rng=g) for f, g in zip(feats, rngs, strict=True)]
        try:
            return list(cfg.generate_many(feats, rngs, window=None, batch_windows=len(feats)))
        except TypeError:  # a generate_many without window/batch_windows
            return list(cfg.generate_many(feats, rngs))
