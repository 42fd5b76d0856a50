"""The fast path: a facility's PCC load over the whole scenario, bin by bin, from
response curves (paper Eqs 10-11; :func:`annual_load`, :func:`nameplate_mw`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridlink.annual.calibration import _shift, calibrate_response
from gridlink.annual.curves import ResponseCurve
from gridlink.annual.scenario import AnnualError, AnnualScenario, _modulation
from gridlink.units import series_with_unit

logger = logging.getLogger(__name__)


def _fast_core(
    level_b: np.ndarray,
    mod_b: np.ndarray | None,
    replicas: Mapping[str, np.ndarray],
    servers_b: np.ndarray,
    curves: Mapping[str, ResponseCurve],
    *,
    it_base_kw_per_server: float,
    pue: float,
    noise_rng: np.random.Generator | None,
) -> tuple[np.ndarray, np.ndarray]:
    """PCC load per bin [MW] and its noise standard deviation [MW], shapes (B,).

    ``G_b = sum_c R_c g_c(L_b, m_{b-1}, m_b, m_{b+1}) + eps_b`` (``g_c = mu_c(L_b)``
    without modulation; the modulation outside the series at its mean, 1),
    ``eps_b ~ N(0, sum_c R_c v_c(L_b))``; PCC = PUE (G_b + N_b P_base).
    """
    gpu_w = np.zeros_like(level_b)
    var_w2 = np.zeros_like(level_b)
    for cid, r in replicas.items():
        if not np.any(r):
            continue
        curve = curves[cid]
        if mod_b is None:
            per_replica = curve.mean(level_b)
        else:  # response to the shared modulation (own and neighbouring bins), saturating
            per_replica = curve.shared_response(
                level_b, mod_b, _shift(mod_b, -1, 1.0), _shift(mod_b, 1, 1.0)
            )
        gpu_w += r * per_replica
        var_w2 += r * curve.bin_var(level_b)
    sd = np.sqrt(var_w2)
    if noise_rng is not None:
        gpu_w = gpu_w + sd * noise_rng.standard_normal(level_b.shape)
    it_w = gpu_w + servers_b * it_base_kw_per_server * 1e3
    return pue * it_w / 1e6, pue * sd / 1e6


def _curves_for(
    scenario: AnnualScenario,
    curves: Mapping[str, ResponseCurve] | None,
    *,
    max_rate: float,
) -> dict[str, ResponseCurve]:
    sc = scenario
    rho = sc.correlation if sc.traffic_mode == "shared" else 0.0
    out = dict(curves or {})
    for cid in sc.config_ids():
        if cid in out:
            c = out[cid]
            if (
                c.tokens != sc.tokens
                or abs(c.bin_s - sc.bin_s) > 1e-9
                or abs(c.correlation - rho) > 1e-9
                or (rho > 0 and abs(c.cv - sc.cv) > 1e-9)
            ):
                raise AnnualError(
                    f"curves[{cid!r}] was calibrated with tokens={c.tokens!r}, bin_s={c.bin_s}, "
                    f"correlation={c.correlation}, cv={c.cv}; the scenario uses "
                    f"tokens={sc.tokens!r}, bin_s={sc.bin_s}, correlation={rho}, cv={sc.cv}. "
                    "Recalibrate with those settings"
                )
            continue
        logger.info("calibrating %s up to %.3g req/s per replica", cid, max_rate)
        out[cid] = calibrate_response(
            cid, tokens=sc.tokens, max_rate_rps=max_rate, bin_s=sc.bin_s, correlation=rho,
            cv=sc.cv, seed=sc.seed, max_batch=sc.max_batch,
            n_in_fixed=sc.n_in_fixed, n_out_fixed=sc.n_out_fixed,
        )  # fmt: skip
    return out


def _block(values: np.ndarray, per: int, how: str) -> np.ndarray:
    """Mean or max over consecutive blocks of ``per`` samples (exact, aligned)."""
    if values.size % per:
        raise AnnualError(f"{values.size} samples are not a whole number of blocks of {per}")
    blocks = values.reshape(-1, per)
    return blocks.mean(axis=1) if how == "mean" else blocks.max(axis=1)


@dataclass(frozen=True)
class AnnualShape:
    """A facility's PCC load over the scenario, from the fast path.

    Attributes
    ----------
    p_mw : pandas.Series, shape (M,)
        PCC load at ``freq``: mean power per interval (energy-preserving) [MW], UTC
        index, name ``p_mw``, ``attrs["unit"] == "MW"``.  Ready for
        :func:`gridlink.grid.pypsa.add_facility_load`.
    peak_mw : pandas.Series, shape (M,)
        Highest bin-mean (``bin_s``, default 1-min) PCC load within each interval [MW].
    p_mw_bin : pandas.Series, shape (B,)
        PCC load per bin [MW].
    rate_rps : pandas.Series, shape (B,)
        Offered load per replica per bin, including the shared modulation [req/s].
    servers : pandas.Series, shape (B,)
        Servers in operation per bin.
    curves : dict[str, ResponseCurve]
        Response curves used.
    scenario : AnnualScenario
    timings_s : dict
        ``calibration`` (0 when curves were given) and ``build`` [s].
    """

    p_mw: pd.Series
    peak_mw: pd.Series
    p_mw_bin: pd.Series
    rate_rps: pd.Series
    servers: pd.Series
    curves: dict[str, ResponseCurve]
    scenario: AnnualScenario
    timings_s: dict[str, float]


def _replicas_per_server(curves: Mapping[str, ResponseCurve], cid: str, gpus: int) -> int:
    tp = curves[cid].tp
    if gpus % tp:
        raise AnnualError(
            f"gpus_per_server={gpus} is not a multiple of TP={tp} of {cid!r}; use a multiple of {tp}"
        )
    return gpus // tp


def nameplate_mw(scenario: AnnualScenario, curves: Mapping[str, ResponseCurve]) -> float:
    """Largest TDP-based facility power over the fleet phases [MW].

    ``PUE * sum_c servers_c * (replicas_c * tdp_w_c + it_base)`` per phase (the
    flat "TDP" booking a planner would use), maximised over phases.
    """
    best = 0.0
    for p in scenario.fleet:
        it_w = 0.0
        for cid, n in p.servers.items():
            reps = _replicas_per_server(curves, cid, p.gpus_per_server)
            it_w += n * (reps * curves[cid].tdp_w + scenario.it_base_kw_per_server * 1e3)
        best = max(best, scenario.pue * it_w / 1e6)
    return best


def annual_load(
    scenario: AnnualScenario,
    curves: Mapping[str, ResponseCurve] | None = None,
    *,
    freq: str = "1h",
    noise: bool = True,
) -> AnnualShape:
    """Build the facility's PCC load over the whole scenario from response curves.

    Parameters
    ----------
    scenario : AnnualScenario
    curves : Mapping[str, ResponseCurve], optional
        Response curve per configuration id; missing ones are calibrated with
        :func:`calibrate_response` up to 1.05 x the highest offered load the scenario
        reaches (this is the slow part; store curves with ``ResponseCurve.save``).
    freq : str, default "1h"
        Output interval (a multiple of ``scenario.bin_s``).
    noise : bool, default True
        Draw the aggregate bin noise (independent replicas, variances add); False gives
        the expected load given the shared modulation.

    Returns
    -------
    AnnualShape

    Raises
    ------
    AnnualError
        Offered load above a curve's grid, GPUs per server not a multiple of TP,
        curves calibrated for another token mix or bin.
    """
    t0 = time.perf_counter()
    sc = scenario
    idx = sc.bin_index()
    mid = idx + pd.Timedelta(seconds=sc.bin_s / 2)
    rng = np.random.default_rng(np.random.SeedSequence(sc.seed, spawn_key=(7,)))
    level = sc.rate_per_replica(mid)
    mod = _modulation(len(idx), sc.cv, rng) if sc.traffic_mode == "shared" else None
    lam = level if mod is None else level * (1.0 - sc.correlation + sc.correlation * mod)
    t_cal = time.perf_counter()
    curves = _curves_for(sc, curves, max_rate=1.05 * float(level.max()))
    calibration_s = time.perf_counter() - t_cal
    phase = sc.phase_at(idx)
    replicas: dict[str, np.ndarray] = {}
    servers = np.zeros(len(idx))
    for k, p in enumerate(sc.fleet):
        on = phase == k
        for cid, n in p.servers.items():
            reps = _replicas_per_server(curves, cid, p.gpus_per_server)
            replicas.setdefault(cid, np.zeros(len(idx)))[on] += n * reps
            servers[on] += n
    pcc, _ = _fast_core(
        level, mod, replicas, servers, curves, it_base_kw_per_server=sc.it_base_kw_per_server,
        pue=sc.pue, noise_rng=rng if noise else None,
    )  # fmt: skip
    p_bin = series_with_unit(pd.Series(pcc, index=idx, name="p_mw"), "MW")
    step = pd.Timedelta(freq)
    per = step / pd.Timedelta(seconds=sc.bin_s)
    if (
        per < 1
        or abs(per - round(per)) > 1e-9
        or (len(idx) % round(per))
        or (pd.Timestamp(sc.start).value % step.value)
    ):
        raise AnnualError(
            f"freq={freq!r} must be a whole multiple of bin_s={sc.bin_s} s that tiles the "
            "scenario and is aligned with its start (e.g. '15min', '1h')"
        )
    # exact energy-preserving means of aligned whole bins (gridlink.resample convention)
    out_idx = pd.date_range(sc.start, periods=len(idx) // round(per), freq=step)
    p_freq = series_with_unit(
        pd.Series(_block(pcc, round(per), "mean"), index=out_idx, name="p_mw"), "MW"
    )
    peak = series_with_unit(
        pd.Series(_block(pcc, round(per), "max"), index=out_idx, name="peak_mw"), "MW"
    )
    build_s = time.perf_counter() - t0 - calibration_s
    logger.info(
        "annual shape: %d bins, mean %.2f MW, peak %.2f MW; build %.2f s, calibration %.1f s",
        len(idx), float(p_bin.mean()), float(p_bin.max()), build_s, calibration_s,
    )  # fmt: skip
    rate = pd.Series(lam, index=idx, name="rate_rps")
    rate.attrs["unit"] = "1/s"
    return AnnualShape(
        p_mw=p_freq,
        peak_mw=peak,
        p_mw_bin=p_bin,
        rate_rps=rate,
        servers=pd.Series(servers, index=idx, name="servers"),
        curves=dict(curves),
        scenario=sc,
        timings_s={"calibration": calibration_s, "build": build_s},
    )
