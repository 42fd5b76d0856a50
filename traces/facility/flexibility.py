"""Facility flexibility with a service cost: GPU power caps and curtailment windows (issue 15).

Two levers a large-load operator has (paper §5.2; Texas SB6, PJM non-firm large loads):

* **GPU power cap** (``nvidia-smi -pl``): every GPU of the hall runs under a per-GPU
  limit ``gpu_power_cap_w``.  The replica's power (summed over its TP GPUs) is clipped
  at ``TP x cap`` (:func:`traces.power.cap.clip_to_cap`) and its work slows by the
  stretch ``r(C)^(-beta)`` of :mod:`traces.power.cap` (throughput proportional to
  dynamic power near the top states, from the configuration's state dictionary).  The
  stretch scales every TTFT and TBT of the surrogate
  (:meth:`traces.workload.surrogate.LatencyModel.scaled`), so the queue and ``A_t``
  change and the generator sees the slower, longer-busy servers; the cost shows up as
  latency.  :func:`compare_power_cap` runs the capped and the uncapped hall on the same
  traffic.
* **Curtailment window** (:class:`CurtailmentWindow`): between ``start_h`` and ``end_h``
  the PCC must stay at or below ``pcc_limit_mw``.  A share ``deferrable_share`` of the
  requests is latency-tolerant (each request is marked independently, with its own seed
  stream): those arriving in the window are held, up to their maximum delay or to the
  window's end (``release="deadline"``, default) or to the window's end
  (``"window_end"``), then queued and served (the rebound).  Everything served in the
  window runs under the uniform per-GPU cap that makes the limit hold with certainty
  whatever the load, ``C_w = (pcc_limit / PUE - N_servers x P_base) / N_GPUs`` (or the
  hall's own cap when lower), slowed as above.  A deferred request whose first token
  comes later than ``max_delay_h`` after its arrival is still served (nothing is
  dropped) and counted as late; requests that do not finish inside the horizon are
  counted too.  :func:`simulate_curtailment` returns the PCC
  series, the energy shifted out of the window, the rebound after it, the service cost
  and the limits of the deferrable demand for a PyPSA export
  (:meth:`CurtailmentResult.deferrable_demand_fields`).

A request's latencies are set by the cap in force when it enters the queue (its arrival,
or its release when deferred); a request that arrives before the window and is still
running in it keeps its speed while its power is clipped (a first-order model, see
docs/flexibility.md).  Randomness: the traffic, surrogate and power streams are those of
:func:`traces.facility.simulate_facility` (same seed, same traffic), and an uncapped,
uncurtailed run here equals ``simulate_facility(spec)`` bit for bit; the deferral marks
come from ``SeedSequence(seed, spawn_key=(2, server, replica))``.

References
----------
Wilkins, Kazhamiaka & Rajagopal (2026), §5.2.  Power-cap sources: :mod:`traces.power.cap`.

One cohesive module over ~600 lines: one facility run under caps and windows with its
per-request ledger, and the two studies (cap comparison, curtailment) that read that
ledger; the settings and their validation live in :mod:`traces.facility.flex_spec`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from traces import DT_S
from traces.facility.flex_spec import CurtailmentWindow, FlexibilityError, FlexibilitySpec
from traces.facility.result import FacilityResult, RackChunk, assemble
from traces.facility.run import (
    EDGE_MARGIN_S,
    _config_tp,
    _generate,
    _generator,
    _load_config,
    _margin_steps,
    _window_phase,
    validate_configurations,
)
from traces.facility.spec import METHODS, FacilityConfigError, FacilitySpec
from traces.facility.traffic import _power_rng, _replica_streams, replica_schedule, shared_intensity
from traces.power.cap import PowerCapError, clip_to_cap, latency_stretch, throughput_ratio

if TYPE_CHECKING:  # pragma: no cover - typing only
    from traces.model.configuration import FittedConfiguration
    from traces.power.generator import PowerGenerator
    from traces.workload.surrogate import WorkloadFeatures

logger = logging.getLogger(__name__)

__all__ = [
    "FlexibilityError",
    "CurtailmentWindow",
    "FlexibilitySpec",
    "FlexibleRun",
    "CapComparison",
    "CurtailmentResult",
    "config_stretch",
    "simulate_flexible",
    "compare_power_cap",
    "simulate_curtailment",
]

#: Relative margin under the PCC limit of the derived window cap (float rounding).
_LIMIT_MARGIN = 1e-9


# --------------------------------------------------------------------------------------
# The cap's effect on one configuration
# --------------------------------------------------------------------------------------


def config_stretch(
    cfg: FittedConfiguration, gpu_cap_w: float | None, *, sensitivity: float = 1.0,
    field_name: str = "flexibility.gpu_power_cap_w",
) -> float:  # fmt: skip
    """Latency stretch (>= 1) of a configuration under a per-GPU cap (``None``: 1).

    Raises
    ------
    FlexibilityError
        A cap at or below the configuration's idle power per GPU (names ``field_name``).
    """
    if gpu_cap_w is None:
        return 1.0
    tp = _config_tp(cfg, cfg.config_id)
    mix = cfg.mixture
    try:
        r = throughput_ratio(
            mix.means_, mix.stds_, mix.weights_, gpu_cap_w * tp, power_max_w=cfg.power_range_w[1]
        )
        return latency_stretch(r, sensitivity=sensitivity)
    except PowerCapError as exc:
        raise FlexibilityError(
            f"{field_name}={gpu_cap_w:.6g} W per GPU is too low for {cfg.config_id!r} "
            f"(TP={tp}): {exc}"
        ) from exc


# --------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlexibleRun:
    """A facility run under a power cap and/or a curtailment window, with its requests.

    Attributes
    ----------
    result : FacilityResult
        Rack/row/site power and the PCC (``result.pcc_mw``, ``result.pcc_mw_250ms``).
    requests : pandas.DataFrame, shape (N, 15)
        One row per request of the hall: ``server``, ``replica``, ``config_id``,
        ``arrival_s``, ``release_s`` (enters the queue: arrival, or the end of its
        deferral), ``start_s``, ``first_token_s``, ``end_s`` [s after start], ``n_in``,
        ``n_out``, ``ttft_s`` (first token minus arrival: queueing, deferral and prefill),
        ``tbt_s`` (the request's mean time between tokens), ``stretch`` (latency
        multiplier), ``deferred`` (bool), ``added_s`` (time to first token minus the one
        at full speed with a free slot).
    gpu_cap_w : pandas.Series, shape (T,) or None
        Per-GPU cap in force at each 250 ms step [W] (``None``: uncapped).
    clipped_mwh : float
        GPU energy clipped above the caps [MWh] (before PUE).
    flex : FlexibilitySpec
    """

    result: FacilityResult
    requests: pd.DataFrame
    gpu_cap_w: pd.Series | None
    clipped_mwh: float
    flex: FlexibilitySpec

    def metrics(self) -> dict[str, float]:
        """Energy [MWh], peak [MW] (250 ms and at the spec's resolution), P50/P99 TTFT and
        TBT [s], requests, requests delayed (``added_s > delay_threshold_s``), mean added
        time to first token [s], requests not finished inside the horizon."""
        req = self.requests
        pcc = self.result.pcc_mw_250ms
        horizon = self.result.spec.horizon_s
        return {
            "energy [MWh]": float(pcc.sum() * DT_S / 3600.0),
            "peak 250 ms [MW]": float(pcc.max()),
            f"peak {self.result.spec.resolution} [MW]": float(self.result.pcc_mw.max()),
            "TTFT P50 [s]": float(np.percentile(req["ttft_s"], 50)) if len(req) else math.nan,
            "TTFT P99 [s]": float(np.percentile(req["ttft_s"], 99)) if len(req) else math.nan,
            "TBT P50 [s]": float(np.percentile(req["tbt_s"], 50)) if len(req) else math.nan,
            "TBT P99 [s]": float(np.percentile(req["tbt_s"], 99)) if len(req) else math.nan,
            "requests": float(len(req)),
            "requests delayed": float((req["added_s"] > self.flex.delay_threshold_s).sum()),
            "requests slowed (stretch > 1)": float((req["stretch"] > 1.0).sum()),
            "mean added TTFT [s]": float(req["added_s"].mean()) if len(req) else math.nan,
            "requests unfinished in horizon": float((req["end_s"] > horizon).sum()),
            "clipped GPU energy [MWh]": self.clipped_mwh,
        }


def _window_gpu_cap_w(spec: FacilitySpec, flex: FlexibilitySpec) -> float:
    """Per-GPU cap that keeps the PCC at or under the limit in the window [W]."""
    assert flex.curtailment is not None
    limit_w = flex.curtailment.pcc_limit_mw * 1e6 * (1.0 - _LIMIT_MARGIN)
    base_w = spec.n_servers * spec.it_base_kw_per_server * 1e3
    n_gpus = spec.n_servers * spec.gpus_per_server
    cap = (limit_w / spec.pue - base_w) / n_gpus
    if cap <= 0:
        raise FlexibilityError(
            f"flexibility.curtailment.pcc_limit_mw={flex.curtailment.pcc_limit_mw} MW is at or "
            f"below the hall's non-GPU load ({spec.pue} x {base_w / 1e6:.6g} MW); no GPU "
            "power cap can meet it. Raise the limit"
        )
    if flex.gpu_power_cap_w is not None:
        cap = min(cap, flex.gpu_power_cap_w)
    return cap


def simulate_flexible(
    spec: FacilitySpec,
    flex: FlexibilitySpec,
    *,
    method: str = "model",
    apply_curtailment: bool = True,
    generators: Mapping[str, PowerGenerator] | None = None,
) -> FlexibleRun:
    """Simulate a hall under ``flex`` (serially; for halls of up to a few hundred replicas).

    Parameters
    ----------
    spec : FacilitySpec
    flex : FlexibilitySpec
    method : {"model", "tdp", "mean", "lut"}
    apply_curtailment : bool
        ``False`` ignores ``flex.curtailment`` (the baseline of a curtailment study).
    generators : Mapping[str, PowerGenerator], optional
        ``config_id -> power generator`` used instead of ``method``'s (any object with
        ``generate_from_features``, e.g. a measured-trace model of your own); the
        configuration still supplies TP, latencies and the power states of the cap.

    Returns
    -------
    FlexibleRun

    Raises
    ------
    FlexibilityError
        A cap below a configuration's idle power, a PCC limit no cap can meet, a window
        outside the horizon.
    FacilityConfigError
        Unknown method or configuration.
    """
    from traces.workload.schedule import RequestSchedule
    from traces.workload.surrogate import simulate_batching, workload_features

    if method not in METHODS:
        raise FacilityConfigError(f"method must be one of {METHODS}, got {method!r}")
    if not isinstance(flex, FlexibilitySpec):
        raise FlexibilityError("flex must be a traces.facility.flexibility.FlexibilitySpec")
    validate_configurations(spec)
    T = spec.n_steps
    window = flex.curtailment if apply_curtailment else None
    k0 = k1 = 0
    cap_w = None if flex.gpu_power_cap_w is None else np.full(T, flex.gpu_power_cap_w)
    win_cap = math.nan
    if window is not None:
        k0, k1 = window.check_horizon(spec)
        win_cap = _window_gpu_cap_w(spec, flex)
        if cap_w is None:
            cap_w = np.full(T, math.inf)
        cap_w[k0:k1] = win_cap
    t0, t1 = k0 * DT_S, k1 * DT_S
    # traffic, batching and power over the warm-up and cool-down margins, as in
    # simulate_facility (same streams, same window plan), trimmed to the horizon; the
    # ledger keeps the requests that arrive in the horizon, in horizon time [s]
    margin = EDGE_MARGIN_S
    m0 = _margin_steps()
    t_ext = T + 2 * m0
    shared = shared_intensity(spec, margin_s=margin) if spec.traffic_mode == "shared" else None
    configs = spec.server_configs()
    n_res = int(round(spec.horizon_s / spec.resolution_s))
    spr = spec.servers_per_rack
    stretch: dict[str, tuple[float, float]] = {}
    jobs: dict[str, list[tuple[int, WorkloadFeatures, np.random.SeedSequence, int]]] = {}
    arrivals = np.zeros((spec.n_racks, n_res), dtype=np.int64)
    envelope: list[dict[str, np.ndarray]] = [{} for _ in range(spec.n_racks)]
    envelope_defs: dict[str, dict[str, Any]] = {}
    flags: list[dict[str, Any]] = [{} for _ in range(spec.n_racks)]
    frames = []
    for s in range(spec.n_servers):
        cid = configs[s]
        cfg = _load_config(cid)
        tp = _config_tp(cfg, cid)
        if cid not in stretch:
            hall = config_stretch(cfg, flex.gpu_power_cap_w, sensitivity=flex.cap_sensitivity)
            win = (
                config_stretch(cfg, win_cap, sensitivity=flex.cap_sensitivity,
                               field_name="flexibility.curtailment.pcc_limit_mw (window cap)")
                if window is not None else hall
            )  # fmt: skip
            stretch[cid] = (hall, win)
        hall_s, win_s = stretch[cid]
        latency = cfg.latency.scaled(hall_s)
        names = getattr(cfg, "feature_names", None)
        extra = names is None or any(n not in ("active", "delta_active") for n in names)
        n_rep = spec.gpus_per_server // tp
        for j, (r_sched, r_surr, r_pow) in enumerate(_replica_streams(spec.seed, s, n_rep)):
            sched = replica_schedule(spec, r_sched, shared, margin_s=margin)
            arr = np.asarray(sched.arrival_s, dtype=np.float64) - margin  # horizon time [s]
            inside = (arr >= 0) & (arr < spec.horizon_s)
            k = np.minimum((arr[inside] // spec.resolution_s).astype(int), n_res - 1)
            arrivals[s // spr] += np.bincount(k, minlength=n_res)
            release = arr.copy()
            deferred = np.zeros(len(arr), dtype=bool)
            scale = None
            if window is not None:
                if window.deferrable_share > 0:
                    marks = np.random.default_rng(
                        np.random.SeedSequence(spec.seed, spawn_key=(2, s, j))
                    ).random(len(arr))
                    deferred = (marks < window.deferrable_share) & (arr >= t0) & (arr < t1)
                    held = np.full(len(arr), t1)
                    if window.release == "deadline":
                        held = np.minimum(arr + window.max_delay_h * 3600.0, t1)
                    release[deferred] = held[deferred]
                in_win = (release >= t0) & (release < t1)
                if in_win.any() and win_s != hall_s:
                    scale = np.where(in_win, win_s / hall_s, 1.0)
            order = np.argsort(release, kind="stable")
            if window is None:
                tl = simulate_batching(sched, latency, max_batch=spec.max_batch, rng=r_surr)
            else:
                # each request keeps the draws it has in the run without the window
                ttft = latency.sample_ttft_s(sched.n_in, rng=r_surr)
                tbt = latency.sample_tbt_s(len(arr), rng=r_surr)
                sched2 = RequestSchedule(
                    arrival_s=release[order] + margin,
                    n_in=np.asarray(sched.n_in)[order],
                    n_out=np.asarray(sched.n_out)[order],
                    start=sched.start,
                    duration_s=sched.duration_s,
                )
                tl = simulate_batching(
                    sched2, latency, max_batch=spec.max_batch, latencies=(ttft[order], tbt[order]),
                    service_scale=None if scale is None else scale[order],
                )  # fmt: skip
            feats = workload_features(tl, duration_s=spec.horizon_s + 2 * margin, extra=extra)
            jobs.setdefault(cid, []).append((s, feats, r_pow, tp))
            env = (getattr(cfg, "provenance", None) or {}).get("envelope")
            if env:  # the same flags as simulate_facility, over the horizon
                from types import SimpleNamespace

                from traces.model.envelope import check_envelope, envelope_counts, merge_flags

                active = np.asarray(feats.active)[m0 : m0 + T]
                seen = SimpleNamespace(
                    n_in=np.asarray(sched.n_in)[inside], n_out=np.asarray(sched.n_out)[inside]
                )
                flags_ = check_envelope(env, seen, SimpleNamespace(active=active), config_id=cid)
                merge_flags(flags[s // spr], flags_)
                if "max_level" in env:
                    c = envelope_counts(env, active)
                    envelope[s // spr][cid] = envelope[s // spr].get(cid, 0) + c
                    envelope_defs[cid] = env
            arr_o = arr[order]
            stretch_o = hall_s * (np.ones(len(arr)) if scale is None else scale[order])
            full_ttft = tl.ttft_s / stretch_o
            frame = pd.DataFrame(
                {
                    "server": s,
                    "replica": j,
                    "config_id": cid,
                    "arrival_s": arr_o,
                    "release_s": tl.arrival_s - margin,
                    "start_s": tl.start_s - margin,
                    "first_token_s": tl.first_token_s - margin,
                    "end_s": tl.end_s - margin,
                    "n_in": tl.n_in,
                    "n_out": tl.n_out,
                    "ttft_s": tl.first_token_s - margin - arr_o,
                    "tbt_s": tl.tbt_s,
                    "stretch": stretch_o,
                    "deferred": deferred[order],
                    "added_s": (tl.first_token_s - margin - arr_o) - full_ttft,
                }
            )
            frames.append(frame[inside[order]].reset_index(drop=True))
    servers = np.zeros((spec.n_servers, T), dtype=np.float64)
    clipped_j = 0.0
    for cid, items in jobs.items():
        gen = generators[cid] if generators and cid in generators else _generator(cid, method)
        rngs = [_power_rng(seq, method) for _, _, seq, _ in items]
        clf = getattr(gen, "classifier", None)
        plan = clf.context_plan()[0] if clf is not None else 1
        phases = [_window_phase(seq, plan) for _, _, seq, _ in items]
        powers = _generate(gen, [f for _, f, _, _ in items], rngs, t_ext, phases=phases)
        for (s, _, _, tp), p_ext in zip(items, powers, strict=True):
            p = p_ext[m0 : m0 + T]
            if cap_w is not None:
                p, cj = clip_to_cap(p, cap_w * tp)
                clipped_j += cj
            servers[s] += p
    chunks = {
        r: RackChunk(
            rack=r,
            gpu_w=servers[r * spr : (r + 1) * spr].sum(axis=0),
            server_gpu_w=None,
            arrivals=arrivals[r],
            out_of_envelope=flags[r],
            envelope_counts=envelope[r],
            envelopes={cid: envelope_defs[cid] for cid in envelope[r]},
        )
        for r in range(spec.n_racks)
    }
    result = assemble(spec, chunks, method=method, replicas=validate_configurations(spec))
    cap_series = None
    if cap_w is not None:
        cap_series = pd.Series(cap_w, index=spec.index(), name="gpu_power_cap_w")
        cap_series.attrs["unit"] = "W"
    requests = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    logger.info(
        "flexible run: %d requests, %d deferred, window cap %s W/GPU, clipped %.4g MWh",
        len(requests), int(requests["deferred"].sum()) if len(requests) else 0,
        "-" if window is None else f"{win_cap:.1f}", clipped_j / 3.6e9,
    )  # fmt: skip
    return FlexibleRun(
        result=result, requests=requests, gpu_cap_w=cap_series, clipped_mwh=clipped_j / 3.6e9,
        flex=flex,
    )  # fmt: skip


# --------------------------------------------------------------------------------------
# Studies
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CapComparison:
    """A capped hall against the uncapped one on the same traffic.

    Attributes
    ----------
    uncapped, capped : FlexibleRun
    table : pandas.DataFrame
        Rows = metrics (:meth:`FlexibleRun.metrics`), columns ``uncapped``, ``capped``,
        ``change``.
    stretch : dict
        ``config_id -> latency stretch`` of the cap.
    """

    uncapped: FlexibleRun
    capped: FlexibleRun
    table: pd.DataFrame
    stretch: dict[str, float] = field(default_factory=dict)


def compare_power_cap(
    spec: FacilitySpec,
    gpu_power_cap_w: float,
    *,
    cap_sensitivity: float = 1.0,
    delay_threshold_s: float = 1.0,
    method: str = "model",
) -> CapComparison:
    """Run the hall uncapped and under a per-GPU cap; report energy, peak, latency.

    Parameters
    ----------
    spec : FacilitySpec
    gpu_power_cap_w : float
        Per-GPU cap [W], > 0.
    cap_sensitivity, delay_threshold_s
        As :class:`FlexibilitySpec`.
    method : str
        Generation method.

    Returns
    -------
    CapComparison

    Raises
    ------
    FlexibilityError
        Cap <= 0 or at or below a configuration's idle power.
    """
    capped_flex = FlexibilitySpec(
        gpu_power_cap_w=gpu_power_cap_w, cap_sensitivity=cap_sensitivity,
        delay_threshold_s=delay_threshold_s,
    )  # fmt: skip
    base_flex = FlexibilitySpec(delay_threshold_s=delay_threshold_s)
    capped = simulate_flexible(spec, capped_flex, method=method)
    uncapped = simulate_flexible(spec, base_flex, method=method)
    a, b = uncapped.metrics(), capped.metrics()
    table = pd.DataFrame({"uncapped": a, "capped": b})
    table["change"] = table["capped"] - table["uncapped"]
    stretch = {
        cid: config_stretch(_load_config(cid), capped_flex.gpu_power_cap_w,
                            sensitivity=cap_sensitivity)
        for cid in dict.fromkeys(spec.server_configs())
    }  # fmt: skip
    return CapComparison(uncapped=uncapped, capped=capped, table=table, stretch=stretch)


@dataclass(frozen=True)
class CurtailmentResult:
    """A curtailment window against the same hall without it (same traffic and seeds).

    Attributes
    ----------
    curtailed, baseline : FlexibleRun
    window : CurtailmentWindow
    window_start, window_end : pandas.Timestamp (UTC)
    window_gpu_cap_w : float
        Per-GPU cap in force in the window [W].
    summary : dict
        ``pcc max in window [MW]``, ``pcc limit [MW]``, ``energy shifted [MWh]`` (baseline
        minus curtailed PCC energy in the window), ``rebound energy [MWh]`` (curtailed
        minus baseline after the window), ``rebound peak [MW]`` / ``baseline peak after
        window [MW]``, ``requests``, ``requests deferred``, ``deferred within max delay``,
        ``deferred beyond max delay`` (first token later than ``max_delay_h`` after
        arrival: served late, never dropped), ``max deferral wait [h]`` (release minus
        arrival), ``requests delayed`` and ``mean added TTFT of delayed [s]`` (service cost),
        ``requests unfinished in horizon``, ``flexibility called [h]``.
    """

    curtailed: FlexibleRun
    baseline: FlexibleRun
    window: CurtailmentWindow
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    window_gpu_cap_w: float
    summary: dict[str, float]

    @property
    def pcc_mw(self) -> pd.Series:
        """Curtailed PCC at the spec's resolution [MW]."""
        return self.curtailed.result.pcc_mw

    def deferrable_demand_fields(self) -> dict[str, Any]:
        """Limits of the deferrable demand, for a PyPSA demand-shifting export.

        The fields of ``DeferrableDemand`` (gridlink's PyPSA flexible-demand export):

        * ``share``: the deferrable fraction of the facility's PCC power: the requests'
          share times the part of the baseline PCC energy above the idle floor (idle
          state of every replica plus base IT power, times PUE), over the PCC energy.
        * ``p_max_mw``: the largest PCC power the deferrable part drew, ``share x``
          baseline peak plus the largest rebound excess over the baseline after the
          window [MW].
        * ``e_max_mwh``: the energy shifted out of the window [MWh] (the largest backlog).
        * ``max_delay_h``: the window's ``max_delay_h``.
        * ``source``: the spec's seed and the window.
        """
        spec = self.baseline.result.spec
        base = self.baseline.result.pcc_mw_250ms.to_numpy()
        floor_w = 0.0  # every replica in its idle state
        for cid in spec.server_configs():
            cfg = _load_config(cid)
            floor_w += (
                spec.gpus_per_server // _config_tp(cfg, cid) * float(cfg.mixture.means_.min())
            )
        floor_mw = spec.pue * (floor_w + spec.n_servers * spec.it_base_kw_per_server * 1e3) / 1e6
        e_base = float(base.sum())
        dyn = float(np.clip(base - floor_mw, 0.0, None).sum())
        share = self.window.deferrable_share * (dyn / e_base if e_base > 0 else 0.0)
        k1 = int(round(self.window.end_h * 3600.0 / DT_S))
        after = self.curtailed.result.pcc_mw_250ms.to_numpy()[k1:] - base[k1:]
        excess = float(after.max()) if after.size else 0.0
        return {
            "share": share,
            "p_max_mw": share * float(base.max()) + max(0.0, excess),
            "e_max_mwh": max(self.summary["energy shifted [MWh]"], 0.0),
            "max_delay_h": self.window.max_delay_h,
            "source": (
                f"traces.facility.flexibility curtailment, seed {spec.seed}, window "
                f"{self.window.start_h}-{self.window.end_h} h, limit {self.window.pcc_limit_mw} MW"
            ),
        }


def simulate_curtailment(
    spec: FacilitySpec,
    flex: FlexibilitySpec,
    *,
    method: str = "model",
    generators: Mapping[str, PowerGenerator] | None = None,
) -> CurtailmentResult:
    """Run a curtailment window and the same hall without it (module docstring).

    Parameters
    ----------
    spec : FacilitySpec
    flex : FlexibilitySpec
        With ``curtailment`` set (its hall-wide ``gpu_power_cap_w``, if any, applies to
        both runs).
    method : str
    generators : Mapping[str, PowerGenerator], optional
        As :func:`simulate_flexible`.

    Returns
    -------
    CurtailmentResult

    Raises
    ------
    FlexibilityError
        No ``curtailment``, window outside the horizon, a limit no cap can meet.
    """
    if not isinstance(flex, FlexibilitySpec) or flex.curtailment is None:
        raise FlexibilityError(
            "flexibility.curtailment: simulate_curtailment needs a FlexibilitySpec with a "
            "CurtailmentWindow"
        )
    w = flex.curtailment
    k0, k1 = w.check_horizon(spec)
    curtailed = simulate_flexible(spec, flex, method=method, generators=generators)
    baseline = simulate_flexible(
        spec, flex, method=method, apply_curtailment=False, generators=generators
    )
    pc = curtailed.result.pcc_mw_250ms.to_numpy()
    pb = baseline.result.pcc_mw_250ms.to_numpy()
    to_mwh = DT_S / 3600.0
    req = curtailed.requests
    d = req[req["deferred"]]
    wait_h = (d["release_s"] - d["arrival_s"]) / 3600.0
    late = d["ttft_s"] / 3600.0 > w.max_delay_h
    delayed = req["added_s"] > flex.delay_threshold_s
    win_cap = float(curtailed.gpu_cap_w.iloc[k0]) if curtailed.gpu_cap_w is not None else math.nan
    steps_below = int((pc[k0:k1] < pb[k0:k1]).sum())
    summary = {
        "pcc limit [MW]": w.pcc_limit_mw,
        "pcc max in window [MW]": float(pc[k0:k1].max()),
        "baseline pcc max in window [MW]": float(pb[k0:k1].max()),
        "energy shifted [MWh]": float((pb[k0:k1] - pc[k0:k1]).sum() * to_mwh),
        "rebound energy [MWh]": float((pc[k1:] - pb[k1:]).sum() * to_mwh),
        "rebound peak [MW]": float(pc[k1:].max()) if k1 < len(pc) else math.nan,
        "baseline peak after window [MW]": float(pb[k1:].max()) if k1 < len(pb) else math.nan,
        "energy total curtailed [MWh]": float(pc.sum() * to_mwh),
        "energy total baseline [MWh]": float(pb.sum() * to_mwh),
        "requests": float(len(req)),
        "requests deferred": float(len(d)),
        "deferred within max delay": float((~late).sum()),
        "deferred beyond max delay": float(late.sum()),
        "max deferral wait [h]": float(wait_h.max()) if len(d) else 0.0,
        "requests delayed": float(delayed.sum()),
        "mean added TTFT of delayed [s]": (
            float(req.loc[delayed, "added_s"].mean()) if delayed.any() else 0.0
        ),
        "requests unfinished in horizon": float((req["end_s"] > spec.horizon_s).sum()),
        "window GPU cap [W]": win_cap,
        "flexibility called [h]": steps_below * DT_S / 3600.0,
    }
    if summary["deferred beyond max delay"]:
        logger.warning(
            "curtailment: %d deferred request(s) got their first token later than "
            "max_delay_h=%g h after arrival (served late, not dropped)",
            int(summary["deferred beyond max delay"]), w.max_delay_h,
        )  # fmt: skip
    start = pd.Timestamp(spec.start)
    return CurtailmentResult(
        curtailed=curtailed,
        baseline=baseline,
        window=w,
        window_start=start + pd.Timedelta(hours=w.start_h),
        window_end=start + pd.Timedelta(hours=w.end_h),
        window_gpu_cap_w=win_cap,
        summary=summary,
    )
