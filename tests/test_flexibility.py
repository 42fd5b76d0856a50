"""Flexibility with a service cost (issue 15): GPU power caps and curtailment windows.

Runs a small hall of a real shipped configuration (qwen3-8b on H100, TP1) on the Azure
code trace.  Expected values come from hand calculations (the throughput ratio of a
state dictionary, the PCC bound of a cap, the grid-sampling bound on energy) or from
the same hall run by :func:`traces.facility.simulate_facility`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from traces import DT_S
from traces.facility import FacilitySpec, WorkloadScenario, simulate_facility
from traces.facility.flexibility import (
    CurtailmentWindow,
    FlexibilityError,
    FlexibilitySpec,
    compare_power_cap,
    simulate_curtailment,
    simulate_flexible,
)
from traces.power.cap import PowerCapError, clip_to_cap, throughput_ratio
from traces.registry import load_configuration
from traces.workload.surrogate import LatencyModel

CID = "qwen3-8b_H100_tp1"


def _spec(horizon_s: float = 600.0, rate: float = 4.0, **kw) -> FacilitySpec:
    base = dict(
        rows=1, racks_per_row=2, servers_per_rack=2, assignment=CID, gpus_per_server=2,
        scenario=WorkloadScenario(arrival="azure", rate_per_replica_rps=rate),
        horizon_s=horizon_s, resolution="1min", seed=3,
    )  # fmt: skip
    base.update(kw)
    return FacilitySpec(**base)


# ----------------------------------------------------------------------------- power layer


def test_throughput_ratio_matches_hand_calculation_for_sharp_states() -> None:
    mu = np.array([100.0, 200.0, 400.0])
    w = np.array([0.5, 0.25, 0.25])
    # cap 300 W: dynamic power above idle 100 W: (0, 100, 300) -> (0, 100, 200)
    hand = (0.25 * 100 + 0.25 * 200) / (0.25 * 100 + 0.25 * 300)
    got = throughput_ratio(mu, np.zeros(3), w, 300.0, power_max_w=450.0)
    assert got == pytest.approx(hand, rel=1e-12)
    assert throughput_ratio(mu, np.ones(3), w, 450.0, power_max_w=450.0) == 1.0
    with pytest.raises(PowerCapError, match="idle"):
        throughput_ratio(mu, np.zeros(3), w, 90.0, power_max_w=450.0)


def test_state_dictionary_ratio_matches_the_measured_trace(h100_r4_dir) -> None:
    """r(C) from the fitted states against the same ratio from the measured 250 ms power."""
    from traces.measured.ingest import load_bundle

    bundle = load_bundle(h100_r4_dir)
    cfg = load_configuration(CID)
    p = bundle.power_w.to_numpy()
    mix = cfg.mixture
    idle = float(mix.means_.min())
    for cap in (431.0, 396.0, 362.0, 328.0):
        measured = (
            np.clip(np.minimum(p, cap) - idle, 0, None).sum() / np.clip(p - idle, 0, None).sum()
        )
        got = throughput_ratio(
            mix.means_, mix.stds_, mix.weights_, cap, power_max_w=cfg.power_range_w[1]
        )
        assert got == pytest.approx(measured, abs=0.01), cap
    assert measured < 0.75  # the caps do bind on this trace


def test_clip_to_cap_clips_and_counts_the_energy() -> None:
    p = np.array([100.0, 350.0, 500.0, 200.0])
    out, clipped_j = clip_to_cap(p, 300.0)
    np.testing.assert_array_equal(out, [100.0, 300.0, 300.0, 200.0])
    assert clipped_j == pytest.approx((50.0 + 200.0) * DT_S)
    with pytest.raises(PowerCapError, match="cap_w"):
        clip_to_cap(p, 0.0)


def test_scaled_latency_model_stretches_every_draw() -> None:
    lat = LatencyModel.from_typical(0.15, 0.02, n_in_ref=1000, ttft_a1=0.2, ttft_sigma=0.3,
                                    tbt_sigma=0.1)  # fmt: skip
    n_in = np.arange(1, 200) * 10
    slow = lat.scaled(1.7)
    np.testing.assert_allclose(slow.sample_ttft_s(n_in, rng=5), 1.7 * lat.sample_ttft_s(n_in, rng=5),
                               rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(slow.sample_tbt_s(50, rng=5), 1.7 * lat.sample_tbt_s(50, rng=5),
                               rtol=1e-12)  # fmt: skip
    assert lat.scaled(1.0) is lat


# ----------------------------------------------------------------------------- power cap


def test_cap_at_or_above_max_power_changes_nothing() -> None:
    spec = _spec()
    cfg = load_configuration(CID)
    ref = simulate_facility(spec, progress=False)
    free = simulate_flexible(spec, FlexibilitySpec())
    capped = simulate_flexible(spec, FlexibilitySpec(gpu_power_cap_w=cfg.power_range_w[1]))
    np.testing.assert_array_equal(free.result.pcc_mw_250ms.to_numpy(), ref.pcc_mw_250ms.to_numpy())
    np.testing.assert_array_equal(
        capped.result.pcc_mw_250ms.to_numpy(), ref.pcc_mw_250ms.to_numpy()
    )
    pd.testing.assert_frame_equal(capped.requests, free.requests)
    assert capped.clipped_mwh == 0.0


def test_lower_cap_lowers_peak_and_raises_latency_monotonically() -> None:
    # a loaded hall (8 requests/s per replica), where the caps bind: at light load a
    # slower server holds more requests at once and one seed's peak need not fall at
    # every step (measured: docs/flexibility.md)
    spec = _spec(rate=8.0)
    caps = [450.0, 400.0, 350.0, 300.0, 250.0, 200.0]
    runs = [simulate_flexible(spec, FlexibilitySpec(gpu_power_cap_w=c)) for c in caps]
    peaks = [r.result.pcc_mw_250ms.max() for r in runs]
    assert all(b <= a for a, b in zip(peaks, peaks[1:], strict=False))
    assert peaks[-1] < peaks[0]
    for c, r in zip(caps, runs, strict=True):
        # hand bound: every GPU at its cap plus the base IT power, times PUE
        bound = spec.pue * (spec.n_servers * 1e3 + spec.n_servers * spec.gpus_per_server * c) / 1e6
        assert r.result.pcc_mw_250ms.max() <= bound * (1 + 1e-12)
    for q in ("TTFT P50 [s]", "TTFT P99 [s]", "TBT P50 [s]", "TBT P99 [s]"):
        vals = [r.metrics()[q] for r in runs]
        assert all(b > a for a, b in zip(vals, vals[1:], strict=False)), q
    # same traffic, same requests: each request's TTFT is no shorter under a lower cap
    a, b = runs[0].requests, runs[-1].requests
    np.testing.assert_array_equal(a["arrival_s"], b["arrival_s"])
    assert (b["ttft_s"].to_numpy() >= a["ttft_s"].to_numpy() - 1e-12).all()


def test_compare_power_cap_reports_both_runs() -> None:
    cmp = compare_power_cap(_spec(horizon_s=300.0), 300.0)
    t = cmp.table
    assert t.loc["peak 250 ms [MW]", "capped"] < t.loc["peak 250 ms [MW]", "uncapped"]
    assert t.loc["TTFT P99 [s]", "capped"] > t.loc["TTFT P99 [s]", "uncapped"]
    assert t.loc["requests", "capped"] == t.loc["requests", "uncapped"]
    assert cmp.stretch[CID] > 1.0


# ----------------------------------------------------------------------------- curtailment


@pytest.fixture(scope="module", params=["deadline", "window_end"])
def curtailment(request):
    spec = _spec(horizon_s=1800.0)
    base = simulate_flexible(spec, FlexibilitySpec())
    limit = 0.85 * float(base.result.pcc_mw_250ms.max())
    window = CurtailmentWindow(start_h=0.125, end_h=0.25, pcc_limit_mw=limit,
                               deferrable_share=0.3, max_delay_h=0.05,
                               release=request.param)  # fmt: skip
    return spec, simulate_curtailment(spec, FlexibilitySpec(curtailment=window))


def test_curtailment_keeps_pcc_under_the_limit_in_the_window(curtailment) -> None:
    spec, res = curtailment
    k0, k1 = int(0.125 * 3600 / DT_S), int(0.25 * 3600 / DT_S)
    pcc = res.curtailed.result.pcc_mw_250ms.to_numpy()
    assert pcc[k0:k1].max() <= res.window.pcc_limit_mw
    assert res.baseline.result.pcc_mw_250ms.to_numpy()[k0:k1].max() > res.window.pcc_limit_mw
    assert res.summary["energy shifted [MWh]"] > 0
    assert res.window_end - res.window_start == pd.Timedelta(minutes=7.5)
    # requests entering the queue in the window are slowed by the window cap's stretch
    req = res.curtailed.requests
    entered = (req["release_s"] >= 0.125 * 3600) & (req["release_s"] < 0.25 * 3600)
    assert (req.loc[entered, "stretch"] > 1.0).all() and (req.loc[~entered, "stretch"] == 1.0).all()


def test_curtailment_reports_every_deferred_request(curtailment) -> None:
    spec, res = curtailment
    req, base = res.curtailed.requests, res.baseline.requests
    # nothing dropped: the same requests (arrival, tokens) in both runs
    key = ["server", "replica", "arrival_s", "n_in", "n_out"]
    pd.testing.assert_frame_equal(
        req[key].sort_values(key).reset_index(drop=True),
        base[key].sort_values(key).reset_index(drop=True),
    )
    t0, t1, delay_s = 0.125 * 3600, 0.25 * 3600, 0.05 * 3600
    d = req[req["deferred"]]
    assert ((d["arrival_s"] >= t0) & (d["arrival_s"] < t1)).all()
    if res.window.release == "window_end":
        assert (d["release_s"] == t1).all()
    else:  # held as long as allowed, at most to the window's end
        np.testing.assert_allclose(d["release_s"], np.minimum(d["arrival_s"] + delay_s, t1))
        assert (d["release_s"] < t1).any()
    assert (d["start_s"] >= d["release_s"]).all()
    in_window = ((req["arrival_s"] >= t0) & (req["arrival_s"] < t1)).sum()
    share = len(d) / in_window  # binomial: 4 sigma around 0.3
    assert abs(share - 0.3) < 4 * np.sqrt(0.3 * 0.7 / in_window)
    late = ((d["first_token_s"] - d["arrival_s"]) > delay_s).sum()
    s = res.summary
    assert s["requests deferred"] == len(d)
    assert s["deferred beyond max delay"] == late > 0
    assert s["deferred within max delay"] + s["deferred beyond max delay"] == len(d)
    assert s["requests"] == len(base)


class _LinearActivePower:
    """P = a + b * A_t per replica [W]: energy is b x (grid-sampled busy time) + a x T."""

    a, b = 150.0, 4.0

    def generate_from_features(self, features, *, rng=None):  # noqa: ARG002
        return self.a + self.b * np.asarray(features.active, dtype=np.float64)


def test_curtailment_conserves_the_energy_of_served_requests() -> None:
    spec = _spec(horizon_s=1800.0)
    gen = {CID: _LinearActivePower()}
    window = CurtailmentWindow(start_h=0.125, end_h=0.25, pcc_limit_mw=1e3,
                               deferrable_share=0.5, max_delay_h=1.0)  # fmt: skip
    res = simulate_curtailment(spec, FlexibilitySpec(curtailment=window), generators=gen)
    req, base = res.curtailed.requests, res.baseline.requests
    assert res.summary["requests deferred"] > 100
    # the limit is far above the load: no cap binds, requests keep their own durations
    assert (req["stretch"] == 1.0).all()
    key = ["server", "replica", "arrival_s", "n_in", "n_out"]
    a = req.sort_values(key).reset_index(drop=True)
    b = base.sort_values(key).reset_index(drop=True)
    np.testing.assert_allclose(a["end_s"] - a["start_s"], b["end_s"] - b["start_s"], atol=1e-9)
    # the busy time sampled on the 250 ms grid differs from the true one by < one step
    # per request, so only requests whose start moved can change the energy
    moved = a["start_s"] != b["start_s"]
    # requests cut by the horizon's end are the same ones, with the same start, in both
    cut = a["end_s"] > spec.horizon_s
    assert cut.equals(b["end_s"] > spec.horizon_s) and not (cut & moved).any()
    moved = int(moved.sum())
    bound_mwh = spec.pue * _LinearActivePower.b * 2 * moved * DT_S / 3.6e9
    diff = res.summary["energy total curtailed [MWh]"] - res.summary["energy total baseline [MWh]"]
    assert abs(diff) <= bound_mwh
    shifted, rebound = res.summary["energy shifted [MWh]"], res.summary["rebound energy [MWh]"]
    assert shifted > 0 and abs(rebound - shifted) <= bound_mwh


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"gpu_power_cap_w": 0.0}, "flexibility.gpu_power_cap_w"),
        ({"gpu_power_cap_w": -5}, "flexibility.gpu_power_cap_w"),
        ({"cap_sensitivity": 1.5}, "flexibility.cap_sensitivity"),
    ],
)
def test_bad_flexibility_fields_name_the_field(kwargs, field) -> None:
    with pytest.raises(FlexibilityError, match=field):
        FlexibilitySpec(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"deferrable_share": 1.2}, "deferrable_share"),
        ({"deferrable_share": -0.1}, "deferrable_share"),
        ({"start_h": 0.5, "end_h": 0.25}, "end_h"),
        ({"start_h": -1.0}, "start_h"),
        ({"pcc_limit_mw": 0.0}, "pcc_limit_mw"),
        ({"max_delay_h": 0.0}, "max_delay_h"),
    ],
)
def test_bad_window_fields_name_the_field(kwargs, field) -> None:
    base = dict(start_h=0.0, end_h=0.1, pcc_limit_mw=1.0, deferrable_share=0.2)
    base.update(kwargs)
    with pytest.raises(FlexibilityError, match=f"flexibility.curtailment.{field}"):
        CurtailmentWindow(**base)


def test_window_outside_horizon_and_impossible_limits_are_refused() -> None:
    spec = _spec(horizon_s=300.0)
    late = CurtailmentWindow(start_h=0.05, end_h=0.2, pcc_limit_mw=1.0)
    with pytest.raises(FlexibilityError, match="end_h=0.2 h lies outside the horizon"):
        simulate_curtailment(spec, FlexibilitySpec(curtailment=late))
    below_base = CurtailmentWindow(start_h=0.0, end_h=0.05, pcc_limit_mw=1e-3)
    with pytest.raises(FlexibilityError, match="pcc_limit_mw.*non-GPU load"):
        simulate_curtailment(spec, FlexibilitySpec(curtailment=below_base))
    with pytest.raises(FlexibilityError, match="gpu_power_cap_w=100 W per GPU is too low"):
        simulate_flexible(spec, FlexibilitySpec(gpu_power_cap_w=100.0))
