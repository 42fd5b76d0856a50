"""Tests for traces.schedule: validation, arrival processes, Azure replay and shipped copy."""

from __future__ import annotations

import hashlib
import json
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from traces.schedule import (
    DEFAULT_START,
    RequestSchedule,
    ScheduleError,
    TokenDistribution,
    gamma_renewal,
    load_azure_trace,
    poisson,
    rate_function,
    read_azure_csv,
    replay_azure,
)

START = pd.Timestamp("2026-07-18T22:57:25Z")
TOK = TokenDistribution.from_arrays([10, 200, 3000], [1, 50, 400], source="test")


def _sched(**kw):
    base = dict(
        arrival_s=[0.0, 0.5, 0.5, 2.0],
        n_in=[1, 2, 3, 4],
        n_out=[1, 1, 5, 9],
        start=START,
        duration_s=3.0,
    )
    base.update(kw)
    return RequestSchedule(**base)


# ------------------------------------------------------------------ validation


def test_schedule_stores_readonly_typed_copies():
    arr = np.array([0.0, 1.0])
    s = RequestSchedule(arr, [3, 4], [1, 2], START, 2.0)
    arr[0] = 5.0
    assert s.arrival_s[0] == 0.0
    assert s.n_in.dtype == np.int64 and s.arrival_s.dtype == np.float64
    with pytest.raises(ValueError):
        s.n_out[0] = 7
    assert len(s) == 2
    assert s.start.tz is not None and str(s.start.tz) == "UTC"


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"arrival_s": [0.0, 2.0, 1.0, 2.5]}, "arrival_s"),
        ({"arrival_s": [-0.1, 0.5, 0.5, 2.0]}, "arrival_s"),
        ({"arrival_s": [0.0, np.nan, 1.0, 2.0]}, "arrival_s"),
        ({"n_in": [1, -2, 3, 4]}, "n_in"),
        ({"n_in": [1.5, 2, 3, 4]}, "n_in"),
        ({"n_out": [1, 0, 5, 9]}, "n_out"),
        ({"n_out": [1, 1, 5]}, "lengths"),
        ({"start": pd.Timestamp("2026-07-18 22:57:25")}, "start"),
        ({"duration_s": 1.0}, "duration_s"),
        ({"duration_s": 0.0}, "duration_s"),
    ],
)
def test_schedule_rejects_bad_fields_naming_them(kw, field):
    with pytest.raises(ScheduleError, match=field):
        _sched(**kw)


def test_schedule_accepts_integral_floats_and_converts_start_to_utc():
    s = _sched(n_in=[1.0, 2.0, 3.0, 4.0], start=pd.Timestamp("2026-07-18T15:57:25-07:00"))
    assert s.n_in.dtype == np.int64
    assert s.start == START and str(s.start.tz) == "UTC"


def test_empty_schedule_is_allowed():
    s = RequestSchedule([], [], [], START, 10.0)
    assert len(s) == 0 and s.mean_rate_per_s == 0.0


def test_to_frame_round_trip():
    s = _sched()
    df = s.to_frame()
    assert str(df["arrival_time"].dt.tz) == "UTC"
    assert (df["arrival_time"].iloc[3] - START).total_seconds() == 2.0
    back = RequestSchedule.from_frame(df, start=s.start, duration_s=s.duration_s)
    np.testing.assert_allclose(back.arrival_s, s.arrival_s, atol=1e-9)
    np.testing.assert_array_equal(back.n_out, s.n_out)


def test_from_frame_sorts_stably():
    times = START + pd.to_timedelta([1.0, 0.0, 1.0], unit="s")
    df = pd.DataFrame({"arrival_time": times, "n_in": [1, 2, 3], "n_out": [4, 5, 6]})
    s = RequestSchedule.from_frame(df)
    np.testing.assert_array_equal(s.n_in, [2, 1, 3])


def test_thin_window_concat_superpose():
    s = _sched()
    assert len(s.thin(1.0, rng=0)) == 4
    with pytest.raises(ScheduleError, match="cannot add"):
        s.thin(1.5)
    w = s.window(0.5, 1.5)
    np.testing.assert_array_equal(w.arrival_s, [0.0, 0.0])
    assert w.start == START + pd.Timedelta(seconds=0.5)
    c = RequestSchedule.concat([s, s])
    np.testing.assert_allclose(c.arrival_s[4:], s.arrival_s + 3.0)
    assert c.duration_s == 6.0
    m = RequestSchedule.superpose([s, _sched(arrival_s=[0.1, 0.2, 0.3, 0.4])])
    assert len(m) == 8 and np.all(np.diff(m.arrival_s) >= 0)


# ------------------------------------------------------------------ tokens


def test_token_distribution_samples_joint_rows():
    tok = TokenDistribution.from_arrays([1, 2, 3], [10, 20, 30])
    n_in, n_out = tok.sample(30_000, rng=1)
    np.testing.assert_array_equal(n_out, n_in * 10)  # rows are drawn whole
    counts = np.bincount(n_in, minlength=4)[1:]
    # uniform over the 3 rows: chi-square goodness of fit
    assert stats.chisquare(counts).pvalue > 1e-3
    with pytest.raises(ScheduleError, match="n_out"):
        TokenDistribution.from_arrays([1], [0])
    with pytest.raises(ScheduleError, match="empty"):
        TokenDistribution.from_arrays([], [])


# ------------------------------------------------------------------ processes


def test_poisson_counts_match_poisson_moments():
    rate, dur = 3.0, 50.0
    counts = np.array([len(poisson(rate, dur, TOK, rng=seed)) for seed in range(400)])
    # mean and variance of Poisson(150): standard errors ~0.6 and ~10.6
    assert abs(counts.mean() - rate * dur) < 4 * np.sqrt(rate * dur / 400)
    assert abs(counts.var(ddof=1) / (rate * dur) - 1) < 0.25


def test_poisson_interarrivals_are_exponential():
    s = poisson(4.0, 5000.0, TOK, rng=7)
    gaps = np.diff(s.arrival_s)
    assert stats.kstest(gaps, stats.expon(scale=0.25).cdf).pvalue > 0.01
    assert s.start == DEFAULT_START
    assert s.arrival_s[-1] < 5000.0


def test_same_seed_same_schedule_and_different_seed_differs():
    a = gamma_renewal(2.0, 0.5, 100.0, TOK, rng=3)
    b = gamma_renewal(2.0, 0.5, 100.0, TOK, rng=3)
    c = gamma_renewal(2.0, 0.5, 100.0, TOK, rng=4)
    np.testing.assert_array_equal(a.arrival_s, b.arrival_s)
    np.testing.assert_array_equal(a.n_in, b.n_in)
    assert len(a) != len(c) or not np.array_equal(a.arrival_s, c.arrival_s)


@pytest.mark.parametrize("burstiness", [0.25, 1.0, 4.0])
def test_gamma_interarrivals_match_vllm_gamma(burstiness):
    rate = 2.5
    s = gamma_renewal(rate, burstiness, 4000.0, TOK, rng=11)
    gaps = np.diff(np.concatenate([[0.0], s.arrival_s]))  # first gap from 0 (ordinary renewal)
    ref = stats.gamma(a=burstiness, scale=1.0 / (rate * burstiness))
    assert stats.kstest(gaps, ref.cdf).pvalue > 0.01
    # analytic moments: mean 1/rate, CV^2 = 1/burstiness
    assert abs(gaps.mean() * rate - 1) < 0.06
    assert abs(gaps.var() / gaps.mean() ** 2 * burstiness - 1) < 0.15


def test_rate_function_series_piecewise_counts():
    idx = pd.date_range("2024-05-16", periods=4, freq="15min", tz="UTC")
    rates = pd.Series([1.0, 8.0, 0.0, 3.0], index=idx)
    s = rate_function(rates, None, TOK, rng=5)
    assert s.start == idx[0] and s.duration_s == 3600.0
    counts = np.histogram(s.arrival_s, bins=[0, 900, 1800, 2700, 3600])[0]
    expected = rates.to_numpy() * 900
    assert counts[2] == 0
    for c, e in zip(counts, expected, strict=True):
        if e:
            assert abs(c - e) < 5 * np.sqrt(e)


def test_rate_function_callable_matches_integral():
    def diurnal(t):
        return 2.0 + np.sin(2 * np.pi * t / 1000.0)

    s = rate_function(diurnal, 1000.0, TOK, start=START, rng=9)
    # expected counts per 100 s bin from the analytic integral of lambda(t)
    edges = np.arange(0.0, 1001.0, 100.0)
    integral = 2.0 * edges - 1000.0 / (2 * np.pi) * np.cos(2 * np.pi * edges / 1000.0)
    expected = np.diff(integral)
    counts = np.histogram(s.arrival_s, bins=edges)[0]
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < stats.chi2(df=len(expected)).ppf(0.999)


def test_rate_function_refuses_a_wrong_bound():
    with pytest.raises(ScheduleError, match="rate_max_per_s"):
        rate_function(lambda t: 5.0 + 0 * t, 100.0, TOK, rate_max_per_s=1.0, rng=0)
    with pytest.raises(ScheduleError, match="negative"):
        rate_function(lambda t: -1.0 + 0 * t, 100.0, TOK, rng=0)


def test_process_argument_errors():
    with pytest.raises(ScheduleError, match="rate_per_s"):
        poisson(-1.0, 10.0, TOK)
    with pytest.raises(ScheduleError, match="burstiness"):
        gamma_renewal(1.0, 0.0, 10.0, TOK)
    with pytest.raises(ScheduleError, match="tokens"):
        poisson(1.0, 10.0, (100, 10))
    with pytest.raises(ScheduleError, match="start"):
        poisson(1.0, 10.0, TOK, start="2024-01-01 00:00")


# ------------------------------------------------------------------ Azure


@pytest.mark.parametrize("name", ["code", "conv"])
def test_shipped_azure_copy_equals_original(azure_dir, name):
    original = azure_dir / f"AzureLLMInferenceTrace_{name}.csv"
    meta = json.loads(
        (resources.files("traces") / "data" / "azure" / "azure2023.json").read_text("utf-8")
    )[name]
    assert hashlib.sha256(original.read_bytes()).hexdigest() == meta["original_sha256"]
    raw = pd.read_csv(original, dtype=str)
    shipped = load_azure_trace(name)
    assert len(shipped) == len(raw) == meta["rows"]
    np.testing.assert_array_equal(shipped["n_in"], raw["ContextTokens"].astype(np.int64))
    np.testing.assert_array_equal(shipped["n_out"], raw["GeneratedTokens"].astype(np.int64))
    # independent parse of the 7-digit stamps with the standard library, in integer µs
    from datetime import UTC, datetime

    first = datetime.fromisoformat(raw["TIMESTAMP"].iloc[0][:26]).replace(tzinfo=UTC)
    want_us = np.array(
        [
            (datetime.fromisoformat(t[:26]).replace(tzinfo=UTC) - first) // pd.Timedelta("1us")
            for t in raw["TIMESTAMP"]
        ]
    )
    got_us = (shipped["arrival_time"] - shipped["arrival_time"].iloc[0]) // pd.Timedelta("1us")
    np.testing.assert_array_equal(got_us.to_numpy(), want_us)
    assert shipped["arrival_time"].iloc[0] == pd.Timestamp(first)
    assert read_azure_csv(original).equals(shipped)


def test_read_azure_csv_2024_mixed_formats(tmp_path):
    path = tmp_path / "azure2024.csv"
    path.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2024-05-12 00:00:00+00:00,100,5\n"
        "2024-05-12 00:00:00.009930+00:00,200,6\n"
        "2024-05-12 00:00:01.5+00:00,300,7\n"
    )
    df = read_azure_csv(path)
    assert str(df["arrival_time"].dt.tz) == "UTC"
    offsets = (df["arrival_time"] - df["arrival_time"].iloc[0]).dt.total_seconds()
    np.testing.assert_allclose(offsets, [0.0, 0.00993, 1.5])
    s = replay_azure(df)
    assert len(s) == 3 and s.arrival_s[-1] == 1.5


def test_replay_azure_window_and_thinning():
    full = load_azure_trace("conv")
    s = replay_azure("conv", offset_s=600.0, duration_s=900.0)
    rel = (full["arrival_time"] - full["arrival_time"].iloc[0]).dt.total_seconds()
    want = full[(rel >= 600.0) & (rel < 1500.0)]
    assert len(s) == len(want)
    np.testing.assert_array_equal(s.n_in, want["n_in"])
    assert s.start == full["arrival_time"].iloc[0] + pd.Timedelta(seconds=600)
    own = len(s) / 900.0
    rates = [
        len(replay_azure("conv", offset_s=600.0, duration_s=900.0, target_rate_per_s=2.0, rng=k))
        / 900.0
        for k in range(20)
    ]
    # binomial thinning: mean 2.0 req/s, sd of the mean ~ sqrt(n p (1-p))/900/sqrt(20)
    p = 2.0 / own
    sd = np.sqrt(len(s) * p * (1 - p)) / 900.0 / np.sqrt(20)
    assert abs(np.mean(rates) - 2.0) < 4 * sd
    with pytest.raises(ScheduleError, match="cannot add"):
        replay_azure("conv", offset_s=600.0, duration_s=900.0, target_rate_per_s=own * 1.01)
    moved = replay_azure("conv", offset_s=600.0, duration_s=900.0, start="2024-05-16T19:00Z")
    assert moved.start == pd.Timestamp("2024-05-16T19:00Z")
    np.testing.assert_array_equal(moved.arrival_s, s.arrival_s)


def test_replay_azure_full_trace_keeps_every_row():
    s = replay_azure("code")
    assert len(s) == 8819
    assert s.duration_s == pytest.approx(s.arrival_s[-1])
    assert 2.5 < s.mean_rate_per_s < 2.6  # README: mean 2.57 req/s


def test_token_distribution_from_azure_matches_readme_stats():
    tok = TokenDistribution.from_azure("conv")
    # README summary: conv ContextTokens median 1020, GeneratedTokens median 129
    assert np.median(tok.n_in) == 1020 and np.median(tok.n_out) == 129
