"""Work-to-power model: node power as a non-negative function of the work ledger (issue 16).

A compact alternative to the state classifier (and a baseline beside it): power at step t is
an idle level plus non-negative contributions of the work the GPU does, seen through the
power meter's response, plus seeded residual noise::

    P_inst(t) = c_0 + sum_j c_j * x_j(t),          c_j >= 0            (work surface)
    P_meter(t) = sum_{i=0}^{m-1} P_inst(t - d - i) / m                  (meter response)
    P(t) = P_meter(t) + sigma_{level(P_meter(t))} * e_t,  e_t AR(1), unit variance

Work coordinates ``x_j`` (from :mod:`traces.workload.ledger`, all >= 0, so a non-negative surface is
monotone in the work):

* ``busy`` - 1 when any request is in the batch or any token was processed in the step
  (weights are streamed from HBM every iteration, whatever the batch);
* ``prefill_busy``, ``decode_busy`` - 1 when a request is in prefill (compute-bound
  iterations) / decoding (memory-bound iterations) at ``t_k``;
* ``prefill_ktok_s``, ``decode_ktok_s`` - prompt tokens prefilled / output tokens emitted per
  second [1000 tokens/s] (compute work);
* ``prefill_sat``, ``decode_sat`` - ``1 - exp(-x / q)`` of the same rates, ``q`` the 75th
  percentile of the busy training steps (lets the surface saturate as the GPU approaches
  its compute or power limit);
* ``n_decode`` - requests decoding [requests] (batch occupancy);
* ``kv_mtok`` - resident KV cache [10^6 tokens] (attention reads per decode iteration).

Meter response: nvidia-smi's ``power.draw`` on A100/H100 is an average over roughly the
past second, not an instantaneous reading (NVIDIA, nvidia-smi documentation, "power.draw";
Yang et al., "Part-time Power Measurements: nvidia-smi's Lack of Attention", 2024).  It is
modelled explicitly as a causal moving average of ``m`` steps after a delay of ``d`` steps;
``(m, d)`` are chosen on the training data (least squares, grid below) and stored.  As the
surface is linear, the filter is applied to the coordinates and ``c`` is fitted with
:func:`scipy.optimize.nnls` on the filtered coordinates.

Residual noise: the training residuals are grouped into ``n_levels`` quantile levels of the
fitted power; each level stores its standard deviation (per-level Gaussians), and the
residual's lag-1 autocorrelation ``phi`` gives an AR(1) process so that the generated
trace's short-range autocorrelation matches.  Same ``rng`` -> same trace.

The approach follows the authors' maintained simulator (grantwilkins/powertrace-sim,
``docs/PROJECT_OVERVIEW.md``: "a nonnegative combination of idle power, busy fraction,
compute utilization and memory utilization", with "hardware meter delay and averaging as
explicit response transformations"); this is an independent, much smaller implementation
on this library's ledger.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.optimize import nnls

from traces import DT_S
from traces.workload.ledger import LEDGER_COLUMNS

logger = logging.getLogger(__name__)

__all__ = [
    "COORDINATES",
    "METER_GRID",
    "WorkPowerError",
    "WorkPowerModel",
    "bundle_work_features",
    "from_configuration",
]

#: Work coordinates of the surface, in column order (after the constant).
COORDINATES: tuple[str, ...] = (
    "busy",
    "prefill_busy",
    "decode_busy",
    "prefill_ktok_s",
    "decode_ktok_s",
    "prefill_sat",
    "decode_sat",
    "n_decode",
    "kv_mtok",
)

#: Meter responses tried in fitting: (window m [steps], delay d [steps]).
METER_GRID: tuple[tuple[int, int], ...] = tuple(
    (m, d) for m in (1, 2, 3, 4, 5, 6, 8) for d in (0, 1, 2)
)


class WorkPowerError(ValueError):
    """Unusable training data, features without the ledger, or a malformed saved model."""


def _ledger(features: Any) -> dict[str, np.ndarray]:
    extra = getattr(features, "extra", None) or {}
    missing = [c for c in LEDGER_COLUMNS if c not in extra]
    if missing:
        raise WorkPowerError(
            f"features lack the work-ledger column(s) {missing}; build them with "
            "traces.workload.ledger.simulate_work (or bundle_work_features for a measured bundle)"
        )
    cols = {c: np.asarray(extra[c], dtype=np.float64) for c in LEDGER_COLUMNS}
    shapes = {v.shape for v in cols.values()}
    if len(shapes) != 1 or next(iter(shapes))[0] == 0:
        raise WorkPowerError(f"ledger columns must share one non-empty shape (T,), got {shapes}")
    return cols


def _raw_coordinates(
    features: Any, scales: Mapping[str, float] | None, dt_s: float
) -> tuple[np.ndarray, dict[str, float]]:
    led = _ledger(features)
    busy = (
        (led["n_prefill"] + led["n_decode"] > 0)
        | (led["prefilled_tokens"] > 0)
        | (led["decoded_tokens"] > 0)
    ).astype(np.float64)
    pre = led["prefilled_tokens"] / dt_s / 1e3
    dec = led["decoded_tokens"] / dt_s / 1e3
    if scales is None:
        on = busy > 0
        scales = {
            "prefill_q": float(np.percentile(pre[on & (pre > 0)], 75))
            if (pre[on] > 0).any()
            else 1.0,
            "decode_q": float(np.percentile(dec[on & (dec > 0)], 75))
            if (dec[on] > 0).any()
            else 1.0,
        }
    x = np.stack(
        [
            busy,
            np.minimum(led["n_prefill"], 1.0),
            np.minimum(led["n_decode"], 1.0),
            pre,
            dec,
            1.0 - np.exp(-pre / scales["prefill_q"]),
            1.0 - np.exp(-dec / scales["decode_q"]),
            led["n_decode"],
            led["kv_tokens"] / 1e6,
        ],
        axis=1,
    )
    return x, dict(scales)


def _meter(x: np.ndarray, window: int, delay: int) -> np.ndarray:
    """Causal moving average of ``window`` steps after ``delay`` steps, per column (T, J).

    The history before the first step is taken as the first step's value (steady state).
    """
    pad = window + delay - 1
    xp = np.concatenate([np.repeat(x[:1], pad, axis=0), x], axis=0) if pad else x
    c = np.cumsum(np.concatenate([np.zeros((1, x.shape[1])), xp], axis=0), axis=0)
    t = np.arange(x.shape[0]) + pad - delay  # last sample of each window in xp
    return (c[t + 1] - c[t + 1 - window]) / window


class WorkPowerModel:
    """Non-negative work-to-power surface with an explicit meter response (module docstring).

    Parameters
    ----------
    n_levels : int
        Quantile levels of the fitted power for the residual noise (>= 1).
    meter : (int, int) or None
        Fixed meter ``(window, delay)`` in steps; None chooses it from :data:`METER_GRID`
        on the training data.

    Attributes (after :meth:`fit`)
    ------------------------------
    coef_w_ : numpy.ndarray, shape (1 + J,)
        ``c_0`` [W] and the coordinate coefficients [W per unit], all >= 0.
    meter_ : (int, int)
        Chosen window and delay [steps].
    scales_ : dict
        Saturation scales of the rate coordinates [1000 tokens/s].
    level_edges_w_, level_sigma_w_ : numpy.ndarray
        Level boundaries (n_levels - 1,) and residual standard deviations (n_levels,) [W].
    phi_ : float
        Lag-1 autocorrelation of the residuals (AR(1) noise), in [0, 0.99].
    power_range_w_ : (float, float)
        Training power range [W]; generated power is clipped to [0, max] (count logged).
    envelope_ : dict
        Training ranges of the ledger (``kv_tokens``, ``n_decode``, ``prefilled_tokens``
        per step) for out-of-envelope checks.
    train_rmse_w_ : float
        In-sample RMSE of the meter-filtered surface [W].
    """

    name = "work"

    def __init__(self, *, n_levels: int = 5, meter: tuple[int, int] | None = None) -> None:
        if int(n_levels) != n_levels or n_levels < 1:
            raise WorkPowerError(f"n_levels: must be an integer >= 1, got {n_levels!r}")
        self.n_levels = int(n_levels)
        self.meter = meter
        self.dt_s = DT_S

    # ------------------------------------------------------------------ fitting

    def fit(self, data: Sequence[tuple[Any, Any]]) -> WorkPowerModel:
        """Fit on ``[(features, power_w), ...]`` (one pair per training trace).

        Parameters
        ----------
        data : sequence of (WorkloadFeatures, array_like (T,))
            Features with the ledger columns in ``extra`` and the measured power [W] on the
            same grid (e.g. from :func:`bundle_work_features`).

        Raises
        ------
        WorkPowerError
            No data, length mismatch, non-finite power.
        """
        pairs = list(data)
        if not pairs:
            raise WorkPowerError("fit: no training traces")
        raw, power = [], []
        for i, (feats, p) in enumerate(pairs):
            y = np.asarray(p, dtype=np.float64)
            x, _ = _raw_coordinates(feats, {"prefill_q": 1.0, "decode_q": 1.0}, self.dt_s)
            if y.shape != (x.shape[0],) or not np.all(np.isfinite(y)):
                raise WorkPowerError(
                    f"fit: trace {i} has power of shape {y.shape} for {x.shape[0]} feature "
                    "steps, or non-finite values"
                )
            raw.append(feats)
            power.append(y)
        # saturation scales from all training traces pooled
        pre = np.concatenate([_ledger(f)["prefilled_tokens"] / self.dt_s / 1e3 for f in raw])
        dec = np.concatenate([_ledger(f)["decoded_tokens"] / self.dt_s / 1e3 for f in raw])
        scales = {
            "prefill_q": float(np.percentile(pre[pre > 0], 75)) if (pre > 0).any() else 1.0,
            "decode_q": float(np.percentile(dec[dec > 0], 75)) if (dec > 0).any() else 1.0,
        }
        xs = [_raw_coordinates(f, scales, self.dt_s)[0] for f in raw]
        y_all = np.concatenate(power)
        grid = [tuple(self.meter)] if self.meter is not None else list(METER_GRID)
        best: tuple[float, tuple[int, int], np.ndarray] | None = None
        for window, delay in grid:
            a = np.concatenate([_meter(x, window, delay) for x in xs], axis=0)
            a = np.column_stack([np.ones(a.shape[0]), a])
            coef, rnorm = nnls(a, y_all)
            if best is None or rnorm < best[0] - 1e-9:
                best = (float(rnorm), (int(window), int(delay)), coef)
        assert best is not None
        rnorm, meter, coef = best
        self.coef_w_ = coef
        self.meter_ = meter
        self.scales_ = scales
        fitted = [self._surface(x) for x in xs]
        resid = [y - f for y, f in zip(power, fitted, strict=True)]
        f_all, r_all = np.concatenate(fitted), np.concatenate(resid)
        self.train_rmse_w_ = float(np.sqrt(np.mean(r_all**2)))
        qs = np.linspace(0, 1, self.n_levels + 1)[1:-1]
        self.level_edges_w_ = np.quantile(f_all, qs) if self.n_levels > 1 else np.zeros(0)
        lvl = np.searchsorted(self.level_edges_w_, f_all, side="right")
        self.level_sigma_w_ = np.array(
            [
                float(r_all[lvl == k].std()) if (lvl == k).sum() > 1 else float(r_all.std())
                for k in range(self.n_levels)
            ]
        )
        num = sum(float(r[1:] @ r[:-1]) for r in resid if r.size > 1)
        den = sum(float(r @ r) for r in resid)
        self.phi_ = float(np.clip(num / den if den > 0 else 0.0, 0.0, 0.99))
        self.power_range_w_ = (float(y_all.min()), float(y_all.max()))
        led = [_ledger(f) for f in raw]
        self.envelope_ = {
            name: [0.0, float(max(d[name].max() for d in led))]
            for name in ("kv_tokens", "n_decode", "prefilled_tokens")
        }
        logger.info(
            "WorkPowerModel: meter window %d, delay %d steps; train RMSE %.1f W; coef %s",
            meter[0],
            meter[1],
            self.train_rmse_w_,
            np.round(coef, 2).tolist(),
        )
        return self

    def _surface(self, x: np.ndarray) -> np.ndarray:
        a = _meter(x, *self.meter_)
        return self.coef_w_[0] + a @ self.coef_w_[1:]

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_w_"):
            raise WorkPowerError("WorkPowerModel: call fit() (or from_dict) before generating")

    # ------------------------------------------------------------------ generation

    def expected_power(self, features: Any) -> np.ndarray:
        """Meter-filtered surface without noise [W], shape (T,)."""
        self._check_fitted()
        x, _ = _raw_coordinates(features, self.scales_, self.dt_s)
        return self._surface(x)

    def generate_from_features(self, features: Any, *, rng: Any = None) -> np.ndarray:
        """Power trace [W], shape (T,), from ledger features; seeded AR(1) per-level noise.

        Raises
        ------
        WorkPowerError
            Not fitted, or features without the ledger columns.
        """
        mean = self.expected_power(features)
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        z = gen.standard_normal(mean.size)
        e = np.empty_like(z)
        phi = self.phi_
        innov = math.sqrt(1.0 - phi * phi)
        prev = z[0]
        e[0] = prev
        for t in range(1, z.size):
            prev = phi * prev + innov * z[t]
            e[t] = prev
        lvl = np.searchsorted(self.level_edges_w_, mean, side="right")
        power = mean + self.level_sigma_w_[lvl] * e
        # lower bound 0 W (the surface is >= 0; only the noise can go below), upper bound
        # the largest training power (a meter cannot read above the board's limit)
        lo, hi = 0.0, self.power_range_w_[1]
        n_clip = int(np.count_nonzero((power < lo) | (power > hi)))
        if n_clip:
            logger.info(
                "WorkPowerModel: %d of %d steps clipped to the training range %.1f-%.1f W",
                n_clip,
                power.size,
                lo,
                hi,
            )
        return np.clip(power, lo, hi)

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable parameters (inverse :meth:`from_dict`)."""
        self._check_fitted()
        return {
            "kind": "WorkPowerModel",
            "version": 1,
            "coordinates": list(COORDINATES),
            "coef_w": [float(c) for c in self.coef_w_],
            "meter": {
                "kind": "moving_average",
                "window_steps": self.meter_[0],
                "delay_steps": self.meter_[1],
                "dt_s": self.dt_s,
            },
            "scales": dict(self.scales_),
            "level_edges_w": [float(v) for v in self.level_edges_w_],
            "level_sigma_w": [float(v) for v in self.level_sigma_w_],
            "phi": self.phi_,
            "power_range_w": list(self.power_range_w_),
            "envelope": self.envelope_,
            "train_rmse_w": self.train_rmse_w_,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkPowerModel:
        """Rebuild from :meth:`to_dict` output.

        Raises
        ------
        WorkPowerError
            Wrong kind/version or coordinates, missing keys, negative coefficients.
        """
        if not isinstance(data, Mapping) or data.get("kind") != "WorkPowerModel":
            raise WorkPowerError("from_dict: not a WorkPowerModel dict (kind != 'WorkPowerModel')")
        if data.get("version") != 1:
            raise WorkPowerError(f"from_dict: unsupported version {data.get('version')!r}")
        if tuple(data.get("coordinates", ())) != COORDINATES:
            raise WorkPowerError(
                f"from_dict: coordinates {data.get('coordinates')} differ from {COORDINATES}"
            )
        try:
            coef = np.asarray(data["coef_w"], dtype=np.float64)
            sigma = np.asarray(data["level_sigma_w"], dtype=np.float64)
            model = cls(n_levels=len(sigma))
            model.coef_w_ = coef
            model.meter_ = (int(data["meter"]["window_steps"]), int(data["meter"]["delay_steps"]))
            model.scales_ = {k: float(v) for k, v in data["scales"].items()}
            model.level_edges_w_ = np.asarray(data["level_edges_w"], dtype=np.float64)
            model.level_sigma_w_ = sigma
            model.phi_ = float(data["phi"])
            lo_w, hi_w = data["power_range_w"]
            model.power_range_w_ = (float(lo_w), float(hi_w))
            model.envelope_ = {k: list(v) for k, v in data.get("envelope", {}).items()}
            model.train_rmse_w_ = float(data.get("train_rmse_w", float("nan")))
        except (KeyError, TypeError, ValueError) as exc:
            raise WorkPowerError(f"from_dict: malformed WorkPowerModel ({exc})") from exc
        if coef.shape != (1 + len(COORDINATES),) or (coef < 0).any():
            raise WorkPowerError(
                f"from_dict: coef_w must hold {1 + len(COORDINATES)} non-negative values"
            )
        if model.level_edges_w_.shape != (len(sigma) - 1,):
            raise WorkPowerError("from_dict: level_edges_w must have len(level_sigma_w) - 1 values")
        return model


def bundle_work_features(
    bundle: Any,
    *,
    latency: Any = None,
    timing: str = "measured",
    rng: np.random.Generator | int | None = None,
    max_num_batched_tokens: int | None = None,
) -> Any:
    """Ledger features of a measured bundle on its power grid, shape (T,) per column.

    Parameters
    ----------
    bundle : traces.measured.ingest.MeasuredBundle
    latency : traces.workload.surrogate.LatencyModel, optional
        Needed for ``timing="surrogate"`` and, with ``"measured"``, for the decode TBT when
        the bundle has neither ITLs nor an engine log.
    timing : {"measured", "surrogate"}
        ``"measured"``: the requests' logged TTFTs and the bundle's mean TBT
        (:func:`traces.workload.surrogate.estimate_tbt`) - the work the GPU actually did, for fitting
        the power surface.  ``"surrogate"``: the batching surrogate with ``latency`` (what
        generation sees; the held-out protocol uses this).
    rng : numpy.random.Generator, int or None
        Surrogate randomness (``"surrogate"`` only).
    max_num_batched_tokens : int, optional
        Token budget; default the manifest's ``server.max_num_batched_tokens`` or 8,192.

    Returns
    -------
    traces.workload.surrogate.WorkloadFeatures
        A_t, dA_t and the ledger in ``extra``; cached tokens from the request log's
        ``n_cached`` when present.

    Raises
    ------
    WorkPowerError
        Unknown ``timing``, or no latency model where one is needed.
    """
    import pandas as pd

    from traces.workload.ledger import (
        DEFAULT_MAX_NUM_BATCHED_TOKENS,
        measured_timeline,
        simulate_work,
        work_ledger,
    )
    from traces.workload.schedule import RequestSchedule
    from traces.workload.surrogate import SurrogateError, estimate_tbt, workload_features

    budget = max_num_batched_tokens or int(
        ((bundle.manifest or {}).get("server") or {}).get(
            "max_num_batched_tokens", DEFAULT_MAX_NUM_BATCHED_TOKENS
        )
    )
    sched = RequestSchedule.from_bundle(bundle)
    order = np.argsort(pd.DatetimeIndex(bundle.requests["arrival_time"]).asi8, kind="stable")
    cached = (
        bundle.requests["n_cached"].to_numpy()[order] if "n_cached" in bundle.requests else None
    )
    n = len(bundle.power_w)
    if timing == "measured":
        try:
            tbt = estimate_tbt(bundle)["mean_s"]
        except SurrogateError:
            if latency is None:
                raise WorkPowerError(
                    f"{bundle.run_id}: no ITLs or engine log for the TBT; pass latency="
                ) from None
            tbt = latency.mean_tbt_s
        ttft = bundle.requests["ttft_s"].to_numpy()[order]
        tl = measured_timeline(sched, ttft, tbt)
        feats = workload_features(tl, duration_s=sched.duration_s, dt_s=DT_S)
        led = work_ledger(
            tl, n_cached=cached, max_num_batched_tokens=budget, duration_s=sched.duration_s
        )
        feats = type(feats)(
            time_s=feats.time_s,
            active=feats.active,
            delta_active=feats.delta_active,
            extra={**feats.extra, **led.columns()},
            dt_s=feats.dt_s,
            start=feats.start,
        )
    elif timing == "surrogate":
        if latency is None:
            raise WorkPowerError("timing='surrogate' needs a latency model")
        feats = simulate_work(
            sched, latency, n_cached=cached, max_num_batched_tokens=budget, rng=rng
        )
    else:
        raise WorkPowerError(f"timing must be 'measured' or 'surrogate', got {timing!r}")
    if len(feats.active) < n:
        raise WorkPowerError(f"{bundle.run_id}: ledger has {len(feats.active)} steps for {n}")
    cut = {k: np.asarray(v)[:n] for k, v in feats.extra.items()}
    return type(feats)(
        time_s=feats.time_s[:n],
        active=feats.active[:n],
        delta_active=feats.delta_active[:n],
        extra=cut,
        dt_s=feats.dt_s,
        start=feats.start,
    )


def from_configuration(config: Any) -> WorkPowerModel:
    """The work-to-power model stored in a configuration's provenance (``"work_power"``).

    Raises
    ------
    WorkPowerError
        The configuration stores none (fitted before issue 16 or transferred).
    """
    data = (getattr(config, "provenance", None) or {}).get("work_power")
    if data is None:
        raise WorkPowerError(
            f"{getattr(config, 'config_id', 'configuration')}: no work-to-power model stored "
            "(provenance['work_power']); fit one with WorkPowerModel().fit(...)"
        )
    return WorkPowerModel.from_dict(data)
