"""Tests for traces.surrogate: latency model, FIFO batching, features, fit and validation."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from traces.schedule import RequestSchedule, TokenDistribution, poisson
from traces.surrogate import (
    BatchTimeline,
    LatencyModel,
    SurrogateError,
    active_at,
    estimate_tbt,
    features_for_schedule,
    fit_latency_model,
    simulate_batching,
    validate_surrogate,
    workload_features,
)

START = pd.Timestamp("2026-07-18T22:57:25Z")
LAT = LatencyModel(
    ttft_a0=-4.4, ttft_a1=0.25, ttft_sigma=0.35, tbt_mu=math.log(0.0135), tbt_sigma=0.1
)


# ------------------------------------------------------------------ references


def reference_fifo(arrival, ttft, tbt, n_out, max_batch):
    """Slow discrete-event simulation of a FIFO continuous-batching server.

    Events are processed in time order; at equal times, completions free their slots
    before waiting requests are admitted.  Independent of the heap/Kiefer-Wolfowitz
    formulation used by the library.
    """
    n = len(arrival)
    start = [None] * n
    end = [None] * n
    running = []  # (end_time, i)
    queue = []
    next_arrival = 0
    t = 0.0
    while next_arrival < n or queue or running:
        candidates = []
        if next_arrival < n:
            candidates.append(arrival[next_arrival])
        if running:
            candidates.append(min(e for e, _ in running))
        t = min(candidates)
        running = [(e, i) for e, i in running if e > t]  # completions at t
        while next_arrival < n and arrival[next_arrival] <= t:
            queue.append(next_arrival)
            next_arrival += 1
        while queue and len(running) < max_batch:
            i = queue.pop(0)
            start[i] = t
            end[i] = t + ttft[i] + (n_out[i] - 1) * tbt[i]
            running.append((end[i], i))
    return np.array(start), np.array(end)


def reference_active(start, end, grid):
    return np.array([sum(1 for s, e in zip(start, end, strict=True) if s <= t < e) for t in grid])


def _random_schedule(seed, n=40, ties=True):
    rng = np.random.default_rng(seed)
    arrival = np.sort(rng.exponential(0.05, n).cumsum())
    if ties:
        arrival[5:9] = arrival[5]  # simultaneous arrivals
    n_in = rng.integers(0, 3000, n)
    n_out = rng.integers(1, 60, n)
    return RequestSchedule(arrival, n_in, n_out, START, float(arrival[-1] + 1.0))


# ------------------------------------------------------------------ simulation


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("max_batch", [1, 3, 64])
def test_simulation_matches_reference_event_simulation(seed, max_batch):
    sched = _random_schedule(seed)
    tl = simulate_batching(sched, LAT, max_batch=max_batch, rng=seed)
    ref_start, ref_end = reference_fifo(
        list(sched.arrival_s), list(tl.ttft_s), list(tl.tbt_s), list(sched.n_out), max_batch
    )
    np.testing.assert_allclose(tl.start_s, ref_start, rtol=0, atol=1e-12)
    np.testing.assert_allclose(tl.end_s, ref_end, rtol=0, atol=1e-12)
    np.testing.assert_allclose(tl.first_token_s, tl.start_s + tl.ttft_s)
    assert tl.n_queued == int((ref_start > sched.arrival_s).sum())
    if max_batch == 1:
        assert tl.n_queued > 0  # the reference exercised the queue


@settings(max_examples=150, deadline=None)
@given(
    gaps=st.lists(st.integers(0, 3), min_size=1, max_size=60),
    services=st.lists(st.integers(1, 8), min_size=60, max_size=60),
    max_batch=st.integers(1, 6),
)
def test_fifo_on_integer_times_with_exact_coincidences(gaps, services, max_batch):
    # integer arrivals and service times: many ties and slots freed exactly at an arrival
    from traces.surrogate import _fifo_starts

    arrival = np.cumsum(gaps).astype(np.float64)
    service = np.asarray(services[: len(arrival)], dtype=np.float64)
    got = _fifo_starts(arrival, service, max_batch)
    ref_start, _ = reference_fifo(
        list(arrival), list(service), [0.0] * len(arrival), [1] * len(arrival), max_batch
    )
    np.testing.assert_array_equal(got, ref_start)


def test_simulation_never_exceeds_max_batch_and_is_fifo():
    sched = poisson(20.0, 60.0, TokenDistribution.constant(100, 200), rng=3)
    tl = simulate_batching(sched, LAT, max_batch=8, rng=4)
    f = workload_features(tl)
    assert f.active.max() == 8
    assert np.all(np.diff(tl.start_s) >= 0)  # FIFO: starts in arrival order
    assert f.extra["waiting"].max() > 0


def test_ttft_and_tbt_draws_follow_eq4_and_eq5():
    n = 20_000
    n_in = np.random.default_rng(0).integers(0, 4000, n)
    sched = RequestSchedule(np.zeros(n), n_in, np.full(n, 5), START, 1.0)
    tl = simulate_batching(sched, LAT, max_batch=n, rng=5)
    resid = np.log(tl.ttft_s) - (LAT.ttft_a0 + LAT.ttft_a1 * np.log1p(n_in))
    assert stats.kstest(resid, stats.norm(0, LAT.ttft_sigma).cdf).pvalue > 0.01
    assert stats.kstest(np.log(tl.tbt_s), stats.norm(LAT.tbt_mu, LAT.tbt_sigma).cdf).pvalue > 0.01


def test_same_seed_same_timeline():
    sched = _random_schedule(1)
    a = simulate_batching(sched, LAT, rng=9)
    b = simulate_batching(sched, LAT, rng=np.random.default_rng(9))
    np.testing.assert_array_equal(a.end_s, b.end_s)
    c = simulate_batching(sched, LAT, rng=10)
    assert not np.array_equal(a.end_s, c.end_s)


def test_simulation_argument_errors():
    sched = _random_schedule(0)
    with pytest.raises(SurrogateError, match="max_batch"):
        simulate_batching(sched, LAT, max_batch=0)
    with pytest.raises(SurrogateError, match="latency"):
        simulate_batching(sched, {"ttft_a0": 1})
    with pytest.raises(SurrogateError, match="schedule"):
        simulate_batching(sched.to_frame(), LAT)


# ------------------------------------------------------------------ features


@pytest.mark.parametrize("seed", range(5))
def test_active_and_extras_match_brute_force(seed):
    sched = _random_schedule(seed, n=30)
    tl = simulate_batching(sched, LAT, max_batch=4, rng=seed)
    f = workload_features(tl, duration_s=sched.duration_s, dt_s=0.1)
    grid = np.arange(len(f)) * 0.1
    np.testing.assert_allclose(f.time_s, grid)
    np.testing.assert_array_equal(f.active, reference_active(tl.start_s, tl.end_s, grid))
    np.testing.assert_array_equal(f.delta_active[1:], np.diff(f.active))
    assert f.delta_active[0] == 0
    pre = [
        sum(n for s, e, n in zip(tl.start_s, tl.first_token_s, tl.n_in, strict=True) if s <= t < e)
        for t in grid
    ]
    dec = [
        sum(
            1 / b
            for s, e, b in zip(tl.first_token_s, tl.end_s, tl.tbt_s, strict=True)
            if s <= t < e
        )
        for t in grid
    ]
    wait = [
        sum(1 for a, s in zip(tl.arrival_s, tl.start_s, strict=True) if a <= t < s) for t in grid
    ]
    np.testing.assert_array_equal(f.extra["prefill_tokens"], pre)
    np.testing.assert_allclose(f.extra["decode_rate"], dec, atol=1e-6)
    np.testing.assert_array_equal(f.extra["waiting"], wait)


def test_grid_length_and_index():
    sched = _random_schedule(0)
    sched = RequestSchedule(sched.arrival_s, sched.n_in, sched.n_out, START, 75.0)
    f = features_for_schedule(sched, LAT, rng=0)
    assert len(f) == 300  # 75 s / 0.25 s
    idx = f.index()
    assert str(idx.tz) == "UTC" and idx[0] == START and idx[1] - idx[0] == pd.Timedelta("250ms")
    frame = f.to_frame()
    assert list(frame.columns[:2]) == ["active", "delta_active"]
    with pytest.raises(SurrogateError, match="naive"):
        f.index(pd.Timestamp("2026-01-01"))


def test_empty_schedule_gives_zero_features():
    sched = RequestSchedule([], [], [], START, 10.0)
    f = features_for_schedule(sched, LAT, rng=0)
    assert len(f) == 40 and not f.active.any() and not f.extra["decode_rate"].any()


def test_mean_active_obeys_littles_law():
    # no queueing (max_batch large): E[A] = lambda * E[service] (Little's law), with
    # E[ttft] = exp(a0 + a1 log(n_in+1) + s^2/2) and E[tbt] = exp(mu + s^2/2) analytically.
    tok = TokenDistribution.from_arrays([100, 1000, 3000], [20, 200, 50])
    rate, dur = 5.0, 4000.0
    sched = poisson(rate, dur, tok, rng=12)
    f = features_for_schedule(sched, LAT, max_batch=10_000, rng=13)
    e_ttft = np.mean(np.exp(LAT.ttft_a0 + LAT.ttft_a1 * np.log1p(tok.n_in) + LAT.ttft_sigma**2 / 2))
    e_service = e_ttft + np.mean(tok.n_out - 1) * LAT.mean_tbt_s
    assert f.active.mean() == pytest.approx(rate * e_service, rel=0.05)


# ------------------------------------------------------------------ latency model


def test_latency_model_json_round_trip_and_validation():
    lat = LatencyModel.from_typical(0.15, 0.02, n_in_ref=1000, ttft_a1=0.2, tbt_sigma=0.3)
    assert lat.median_ttft_s(1000) == pytest.approx(0.15)
    assert lat.mean_tbt_s == pytest.approx(0.02)
    back = LatencyModel.from_dict(json.loads(json.dumps(lat.to_dict())))
    assert back == lat
    with pytest.raises(SurrogateError, match="ttft_sigma"):
        LatencyModel(0, 0, -0.1, 0, 0)
    with pytest.raises(SurrogateError, match="tbt_mu"):
        LatencyModel(0, 0, 0, float("nan"), 0)
    with pytest.raises(SurrogateError, match="missing"):
        LatencyModel.from_dict({"kind": "LatencyModel", "version": 1, "ttft_a0": 1.0})


# ------------------------------------------------------------------ real data


@pytest.fixture(scope="module")
def bundles(powertrace_dir):
    from traces.ingest import find_bundles, load_bundle

    return [load_bundle(p) for p in find_bundles(powertrace_dir)]


@pytest.fixture(scope="module")
def a100_r4(a100_r4_dir):
    from traces.ingest import load_bundle

    return load_bundle(a100_r4_dir)


def test_from_bundle_lines_up_with_power(a100_r4):
    sched = RequestSchedule.from_bundle(a100_r4)
    assert len(sched) == len(a100_r4.requests) == 200
    assert sched.start == a100_r4.power_w.index[0]
    # README: first request 19.0 s after the first power sample (A100 r4)
    assert sched.arrival_s[0] == pytest.approx(19.0, abs=0.15)
    f = features_for_schedule(sched, LAT, rng=0)
    assert len(f) == len(a100_r4.power_w)
    assert f.index().equals(pd.DatetimeIndex(a100_r4.power_w.index, name="time"))


def test_ttft_fit_equals_independent_least_squares(a100_r4):
    lat = fit_latency_model([a100_r4])
    r = a100_r4.requests
    x = np.log1p(r["n_in"].to_numpy(float))
    y = np.log(r["ttft_s"].to_numpy())
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (intercept + slope * x)
    assert lat.ttft_a1 == pytest.approx(slope, rel=1e-9)
    assert lat.ttft_a0 == pytest.approx(intercept, rel=1e-9)
    assert lat.ttft_sigma == pytest.approx(np.sqrt(resid @ resid / (len(y) - 2)), rel=1e-9)
    assert lat.ttft_a1 > 0  # longer prompts take longer to prefill


def test_tbt_matches_readme_and_littles_law(bundles):
    by_run = {b.run_id: b for b in bundles}
    h100 = by_run["h100_validate_tp1_r4p0_b1p0_s20260712_1784422665"]
    # README: TBT about 7.6 ms (H100) and 12-14 ms (A100) for Qwen3-8B at this load,
    # read off the ITL lists of the full requests.json (an independent source).
    assert 7.0e-3 < estimate_tbt(h100)["mean_s"] < 8.5e-3
    for b in bundles:
        if b.config_id == "qwen3-8b_A100_tp1" and "validate" in b.run_id:
            assert 12.0e-3 < estimate_tbt(b)["mean_s"] < 14.5e-3
    # Little's law on the measured count: integral of A dt = sum of request durations
    # = sum(ttft) + mean_tbt * sum(n_out - 1); agrees with the counter estimate.
    for b in bundles:
        r = b.requests
        little = (b.active_requests.sum() * 0.25 - r["ttft_s"].sum()) / (r["n_out"] - 1).sum()
        assert estimate_tbt(b)["mean_s"] == pytest.approx(little, rel=0.06)


# Thresholds (docs/surrogate.md), from validate_surrogate over seeds 0-9: worst bundle is
# the BurstGPT replay (corr 0.83, mean A +13.7 %; instantaneous corr 0.67); the ShareGPT
# bundles all reach corr >= 0.93 (instantaneous >= 0.89).  Margins ~0.03-0.08 below.
MIN_CORR_ALL = 0.75
MIN_CORR_SHAREGPT = 0.90
MIN_CORR_INSTANT_ALL = 0.60
MIN_CORR_INSTANT_SHAREGPT = 0.85
MAX_KS = 0.17
MAX_MAE = 1.25
MAX_MEAN_REL_ERR = 0.20


def test_validate_surrogate_on_measured_bundles(bundles):
    table = validate_surrogate(bundles, rng=0, n_seeds=3)
    assert len(table) == 9 and (table["observe"] == "engine").all()
    assert set(table["fit"].str.split(" ").str[0]) == {"leave-one-out", "own"}
    loo = table[table["config_id"] == "qwen3-8b_A100_tp1"]
    assert (loo["fit"] == "leave-one-out (3 other)").all()
    cols = ["run_id", "corr", "corr_instant", "ks", "mae"]
    assert (table["corr"] >= MIN_CORR_ALL).all(), table[cols]
    assert (table["corr_instant"] >= MIN_CORR_INSTANT_ALL).all(), table[cols]
    sharegpt = table[~table["run_id"].str.contains("trace_replay")]
    assert len(sharegpt) == 8
    assert (sharegpt["corr"] >= MIN_CORR_SHAREGPT).all(), sharegpt[cols]
    assert (sharegpt["corr_instant"] >= MIN_CORR_INSTANT_SHAREGPT).all(), sharegpt[cols]
    assert (table["ks"] <= MAX_KS).all(), table[cols]
    assert (table["mae"] <= MAX_MAE).all(), table[cols]
    rel = (table["mean_a_simulated"] - table["mean_a_measured"]).abs() / table["mean_a_measured"]
    assert (rel <= MAX_MEAN_REL_ERR).all(), rel
    # observing the simulation like the engine (scrape + sample-and-hold) helps everywhere
    assert (table["corr"] > table["corr_instant"]).all(), table[cols]
    # the surrogate beats a constant prediction at the measured mean (MAE of the mean)
    for b, row in zip(bundles, table.itertuples(), strict=True):
        a = b.active_requests.to_numpy()[-row.n_points :]
        assert row.mae < np.abs(a - a.mean()).mean()


def test_active_at_matches_features_on_grid():
    tl = simulate_batching(_random_schedule(2), LAT, max_batch=3, rng=2)
    f = workload_features(tl, dt_s=0.05)
    np.testing.assert_array_equal(active_at(tl, f.time_s), f.active)


def test_fit_errors():
    with pytest.raises(SurrogateError, match="bundles"):
        fit_latency_model([])


def test_batch_timeline_frame():
    tl = simulate_batching(_random_schedule(0), LAT, rng=0)
    assert isinstance(tl, BatchTimeline)
    df = tl.to_frame()
    assert len(df) == len(tl) and (df["end_s"] >= df["first_token_s"]).all()


def _synthetic_itl_bundle(seed, mu, sigma, a0, a1, s_ttft, n=400):
    """A MeasuredBundle with known Eq 4/Eq 5 parameters and per-request ITL lists."""
    from traces.ingest import MeasuredBundle

    rng = np.random.default_rng(seed)
    n_in = rng.integers(1, 4000, n)
    n_out = rng.integers(2, 50, n)
    ttft = np.exp(a0 + a1 * np.log1p(n_in) + s_ttft * rng.standard_normal(n))
    tbt = np.exp(mu + sigma * rng.standard_normal(n))
    requests = pd.DataFrame(
        {
            "arrival_time": START + pd.to_timedelta(np.arange(n) * 0.5, unit="s"),
            "n_in": n_in,
            "n_out": n_out,
            "ttft_s": ttft,
            "itl_s": [[t] * (k - 1) for t, k in zip(tbt, n_out, strict=True)],
        }
    )
    power = pd.Series(100.0, index=pd.date_range(START, periods=1000, freq="250ms"))
    return MeasuredBundle(
        config_id="synthetic_H100_tp1",
        run_id=f"synthetic_{seed}",
        model="synthetic",
        gpu="H100",
        tp=1,
        power_w=power,
        requests=requests,
        active_requests=None,
        engine=None,
    )


def test_fit_recovers_known_parameters_from_itls():
    truth = dict(mu=math.log(0.02), sigma=0.3, a0=-4.0, a1=0.3, s_ttft=0.25)
    bundles = [_synthetic_itl_bundle(s, **truth) for s in range(3)]
    lat = fit_latency_model(bundles)
    assert lat.details["tbt"]["synthetic_H100_tp1/synthetic_0"]["method"] == "itl"
    # standard errors with 1200 requests: a1 ~0.01, sigmas ~0.006, mu ~0.009
    assert lat.ttft_a1 == pytest.approx(truth["a1"], abs=0.04)
    assert lat.ttft_a0 == pytest.approx(truth["a0"], abs=0.3)
    assert lat.ttft_sigma == pytest.approx(truth["s_ttft"], abs=0.025)
    assert lat.tbt_sigma == pytest.approx(truth["sigma"], abs=0.03)
    assert lat.mean_tbt_s == pytest.approx(
        math.exp(truth["mu"] + truth["sigma"] ** 2 / 2), rel=0.05
    )
    with pytest.raises(SurrogateError, match="no active_requests|measured active"):
        validate_surrogate(bundles)


def test_fit_without_itls_or_engine_raises():
    b = _synthetic_itl_bundle(0, mu=-4.0, sigma=0.1, a0=-4.0, a1=0.2, s_ttft=0.2)
    import dataclasses

    b = dataclasses.replace(b, requests=b.requests.drop(columns="itl_s"))
    with pytest.raises(SurrogateError, match="cannot estimate TBT"):
        fit_latency_model([b])
