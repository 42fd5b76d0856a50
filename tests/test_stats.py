"""Tests for gridlink.stats: hand calculations, independent checks, unit errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlink import stats
from gridlink.resample import resample_energy
from gridlink.stats import (
    StatsError,
    hours_above_levels,
    load_duration_curve,
    load_spectrum,
    ramp_distribution,
    ramp_window,
)
from gridlink.units import Q_, UnitError, series_with_unit

# Hand profile A: 8 quarter hours [MW] from 2026-01-01 00:00 UTC (2 hours).
A = [10.0, 20.0, 30.0, 20.0, 10.0, 10.0, 40.0, 40.0]


def _profile(values, *, freq="15min", unit="MW", start="2026-01-01", tz="UTC", name=None):
    idx = pd.date_range(start, periods=len(values), freq=freq, tz=tz)
    s = pd.Series(np.asarray(values, dtype=float), index=idx, name=name)
    return series_with_unit(s, unit) if unit is not None else s


# ------------------------------------------------------------------ hand calculations


def test_level_statistics_by_hand():
    p = _profile(A)
    # energy = (10+20+30+20+10+10+40+40) MW * 0.25 h = 180 * 0.25 = 45 MWh
    assert stats.energy(p) == Q_(45.0, "MWh")
    assert stats.peak(p) == Q_(40.0, "MW")
    # mean = 180 / 8 = 22.5 MW
    assert stats.mean_power(p) == Q_(22.5, "MW")
    # load factor = 22.5 / 40 = 0.5625
    assert stats.load_factor(p).to("dimensionless").magnitude == pytest.approx(0.5625, abs=1e-15)
    # peak to average = 40 / 22.5 = 1.777...
    assert stats.peak_to_average(p).magnitude == pytest.approx(40 / 22.5, rel=1e-15)
    # squared deviations from 22.5: 156.25, 6.25, 56.25, 6.25, 156.25, 156.25, 306.25, 306.25
    # sum 1150 -> variance 1150/8 = 143.75 -> cv = sqrt(143.75) / 22.5 = 0.53287...
    assert stats.coefficient_of_variation(p).magnitude == pytest.approx(
        math.sqrt(143.75) / 22.5, rel=1e-12
    )
    # consecutive differences: +10 +10 -10 -10 0 +30 0 -> largest |step| = 30 MW
    assert stats.max_step(p) == Q_(30.0, "MW")


def test_kw_input_converted():
    p = _profile([v * 1000.0 for v in A], unit="kW")
    assert stats.peak(p).to("MW").magnitude == pytest.approx(40.0, rel=1e-15)
    assert stats.energy(p).to("MWh").magnitude == pytest.approx(45.0, rel=1e-15)
    # a threshold in kW is converted too: 15 000 kW == 15 MW
    assert stats.hours_above(p, Q_(15000.0, "kW")) == Q_(1.25, "h")


def test_name_suffix_declares_unit():
    p = _profile([v * 1e6 for v in A], unit=None, name="site_w")  # watts by name
    assert stats.peak(p).magnitude == pytest.approx(40.0, rel=1e-15)


def test_block_ramps_by_hand():
    p = _profile(A)
    # window = step (15 min): ramps are the consecutive differences +10 +10 -10 -10 0 +30 0
    r15 = stats.ramp_statistics(p, "15min")
    assert (r15.n, r15.max_up, r15.max_down, r15.max_abs) == (
        7,
        Q_(30.0, "MW"),
        Q_(-10.0, "MW"),
        Q_(30.0, "MW"),
    )
    # 30-min block means: (10+20)/2=15, (30+20)/2=25, (10+10)/2=10, (40+40)/2=40
    # ramps: +10, -15, +30; |dP| sorted 10, 15, 30
    r30 = stats.ramp_statistics(p, "30min")
    assert r30.n == 3
    assert r30.max_up.magnitude == 30.0
    assert r30.max_down.magnitude == -15.0
    assert r30.p50.magnitude == 15.0
    # p99 by linear interpolation: rank 0.99*2 = 1.98 -> 15 + 0.98*(30-15) = 29.7
    assert r30.p99.magnitude == pytest.approx(29.7, rel=1e-12)
    # per-minute rate: 30 MW per 30 min = 1 MW/min
    assert r30.per_minute(r30.max_up) == Q_(1.0, "MW/min")
    # 1-h block means: (10+20+30+20)/4 = 20, (10+10+40+40)/4 = 25 -> a single ramp +5
    r60 = stats.ramp_statistics(p, "1h")
    assert (r60.n, r60.max_up.magnitude, r60.max_down.magnitude) == (1, 5.0, 5.0)


def test_sliding_ramps_by_hand():
    p = _profile(A)
    # lag 2 samples: 30-10=20, 20-20=0, 10-30=-20, 10-20=-10, 40-10=30, 40-10=30
    r = stats.ramp_statistics(p, "30min", method="sliding")
    assert r.n == 6
    assert r.max_up.magnitude == 30.0
    assert r.max_down.magnitude == -20.0


def test_durations_by_hand():
    p = _profile(A)
    # > 15 MW: 20, 30, 20, 40, 40 -> 5 quarter hours = 1.25 h; longest run 20,30,20 = 0.75 h
    assert stats.hours_above(p, Q_(15.0, "MW")) == Q_(1.25, "h")
    assert stats.longest_run_above(p, Q_(15.0, "MW")) == Q_(0.75, "h")
    # strictly above: 40 MW is not above 40 MW
    assert stats.hours_above(p, Q_(40.0, "MW")) == Q_(0.0, "h")
    assert stats.longest_run_above(p, Q_(40.0, "MW")) == Q_(0.0, "h")
    # > 25 MW: 30 (single), 40, 40 (run of 2) -> 0.75 h total, longest 0.5 h
    assert stats.hours_above(p, Q_(25.0, "MW")) == Q_(0.75, "h")
    assert stats.longest_run_above(p, Q_(25.0, "MW")) == Q_(0.5, "h")


def test_coincidence_same_step_by_hand():
    p = _profile(A)
    system = _profile([100.0, 130.0, 90.0, 80.0, 70.0, 60.0, 110.0, 120.0], unit="GW")
    # system peak at position 1 -> facility 20 MW; CF = 20 / 40 = 0.5
    assert stats.contribution_to_system_peak(p, system) == Q_(20.0, "MW")
    assert stats.coincidence_factor(p, system).magnitude == 0.5
    # two highest system intervals: positions 1 (130) and 7 (120) -> (20 + 40)/2 = 30; CF 0.75
    assert stats.contribution_to_system_peak(p, system, n_peaks=2) == Q_(30.0, "MW")
    assert stats.coincidence_factor(p, system, n_peaks=2).magnitude == 0.75


def test_coincidence_hourly_system_by_hand():
    p = _profile(A)
    system = _profile([100.0, 120.0], freq="1h")
    # facility coarsened to hourly means 20, 25; system peak in hour 2 -> 25 MW;
    # facility hourly peak 25 -> CF = 1.0
    assert stats.contribution_to_system_peak(p, system) == Q_(25.0, "MW")
    assert stats.coincidence_factor(p, system).magnitude == 1.0


def test_coincidence_ties_go_to_earliest():
    p = _profile(A)
    system = _profile([1.0, 5.0, 1.0, 1.0, 1.0, 1.0, 5.0, 1.0])
    assert stats.contribution_to_system_peak(p, system) == Q_(20.0, "MW")  # position 1


def test_coincidence_period_mismatch_raises():
    p = _profile(A)
    system = _profile([100.0, 120.0, 110.0], freq="1h")
    with pytest.raises(stats.StatsError, match="system_load.*slice"):
        stats.coincidence_factor(p, system)


def test_load_statistics_hand_row():
    p = _profile(A, name="site")
    system = _profile([100.0, 130.0, 90.0, 80.0, 70.0, 60.0, 110.0, 120.0])
    df = stats.load_statistics(
        p, ramp_windows=("15min", "30min"), threshold=Q_(15.0, "MW"), system_load=system
    )
    assert list(df.index) == ["site"]
    row = df.loc["site"]
    expected = {
        "duration_h": 2.0,
        "step_s": 900.0,
        "energy_mwh": 45.0,
        "peak_mw": 40.0,
        "mean_mw": 22.5,
        "min_mw": 10.0,
        "load_factor": 0.5625,
        "max_step_mw": 30.0,
        "max_ramp_up_mw_per_15min": 30.0,
        "max_ramp_down_mw_per_15min": -10.0,
        "max_ramp_up_mw_per_30min": 30.0,
        "max_ramp_down_mw_per_30min": -15.0,
        "max_ramp_mw_per_30min": 30.0,
        "p99_ramp_mw_per_30min": 29.7,
        "max_sliding_ramp_up_mw_per_30min": 30.0,
        "max_sliding_ramp_down_mw_per_30min": -20.0,
        "threshold_mw": 15.0,
        "hours_above_threshold_h": 1.25,
        "longest_run_above_threshold_h": 0.75,
        "contribution_to_system_peak_mw": 20.0,
        "coincidence_factor": 0.5,
    }
    for col, value in expected.items():
        assert row[col] == pytest.approx(value, rel=1e-12), col
    assert df.attrs["units"]["energy_mwh"] == "MWh"
    assert df.attrs["units"]["max_ramp_up_mw_per_15min"] == "MW per 15min"


def test_load_statistics_dict_and_optional_columns():
    model = _profile(A)
    tdp = _profile([40.0] * 8)
    df = stats.load_statistics({"model": model, "tdp": tdp}, ramp_windows=("15min",))
    assert list(df.index) == ["model", "tdp"]
    assert df.index.name == "profile"
    # flat TDP profile: load factor 1, no ramps, cv 0
    assert df.loc["tdp", "load_factor"] == 1.0
    assert df.loc["tdp", "max_ramp_mw_per_15min"] == 0.0
    assert df.loc["tdp", "cv"] == 0.0
    # not requested -> columns absent, never NaN-filled
    assert "hours_above_threshold_h" not in df.columns
    assert "coincidence_factor" not in df.columns
    assert not df.isna().any().any()


def test_load_statistics_default_windows_on_250ms():
    # 250 ms profile of 30 min: 0 MW for 15 min then 8 MW for 15 min
    n = 4 * 60 * 15
    p = _profile([0.0] * n + [8.0] * n, freq="250ms")
    df = stats.load_statistics(p)
    row = df.iloc[0]
    assert row["max_ramp_up_mw_per_15min"] == 8.0  # 15-min means 0 -> 8
    assert row["max_ramp_mw_per_1min"] == 8.0  # 1-min means jump at 00:15
    assert row["max_step_mw"] == 8.0
    assert row["energy_mwh"] == pytest.approx(8.0 * 0.25, rel=1e-12)


# ------------------------------------------------------------------ independent checks


def test_against_pandas_one_liners():
    rng = np.random.default_rng(11)
    idx = pd.date_range("2026-06-01", periods=4 * 60 * 6, freq="15s", tz="UTC")  # 6 h
    raw = pd.Series(rng.gamma(4.0, 5.0, idx.size), index=idx)
    p = series_with_unit(raw, "MW")
    df = stats.load_statistics(p, ramp_windows=("1min", "15min"), threshold=Q_(25.0, "MW"))
    row = df.iloc[0]
    assert row["energy_mwh"] == pytest.approx(raw.sum() * 15 / 3600, rel=1e-12)
    assert row["load_factor"] == pytest.approx(raw.mean() / raw.max(), rel=1e-12)
    assert row["cv"] == pytest.approx(raw.std(ddof=0) / raw.mean(), rel=1e-12)
    block = raw.resample("15min").mean().diff().dropna()
    assert row["max_ramp_up_mw_per_15min"] == pytest.approx(block.max(), rel=1e-12)
    assert row["max_ramp_down_mw_per_15min"] == pytest.approx(block.min(), rel=1e-12)
    assert row["p99_ramp_mw_per_15min"] == pytest.approx(block.abs().quantile(0.99), rel=1e-12)
    sliding = (raw.shift(-4) - raw).dropna()  # 1 min = 4 samples of 15 s
    assert row["max_sliding_ramp_up_mw_per_1min"] == pytest.approx(sliding.max(), rel=1e-12)
    assert row["max_step_mw"] == pytest.approx(raw.diff().abs().max(), rel=1e-12)
    runs = [sum(1 for _ in g) for above, g in itertools.groupby(raw > 25.0) if above]
    assert row["longest_run_above_threshold_h"] == pytest.approx(max(runs) * 15 / 3600)
    assert row["hours_above_threshold_h"] == pytest.approx(sum(runs) * 15 / 3600)


@settings(max_examples=50, deadline=None)
@given(
    values=st.lists(
        st.floats(min_value=0.0, max_value=1e3, allow_nan=False), min_size=4, max_size=4 * 24
    ).filter(lambda v: len(v) % 4 == 0 and max(v) > 0),
    threshold=st.floats(min_value=0.0, max_value=1e3),
)
def test_properties(values, threshold):
    p = _profile(values)
    hourly = resample_energy(p, "1h")
    # energy conserved by resampling, and statistics agree on it
    assert stats.energy(hourly).magnitude == pytest.approx(
        stats.energy(p).magnitude, rel=1e-9, abs=1e-9
    )
    # the hourly peak can only be lower: averaging never raises the maximum
    assert stats.peak(hourly) <= stats.peak(p) + Q_(1e-9, "MW")
    th = Q_(threshold, "MW")
    total = stats.hours_above(p, th)
    assert Q_(0, "h") <= stats.longest_run_above(p, th) <= total <= Q_(len(values) / 4, "h")
    if stats.mean_power(p).magnitude > 0:
        lf = stats.load_factor(p).magnitude
        assert 0 < lf <= 1 + 1e-12
        assert lf * stats.peak_to_average(p).magnitude == pytest.approx(1.0, rel=1e-9)


# ------------------------------------------------------------------ unit errors


@pytest.mark.parametrize(
    "bad",
    [
        12.3,  # bare float
        np.array(A),  # bare array
        Q_(np.array(A), "MW"),  # quantity with no time index
    ],
)
def test_profile_not_a_series_raises(bad):
    with pytest.raises(UnitError, match="profile: expected a pandas Series"):
        stats.peak(bad)


@pytest.mark.parametrize(
    ("unit", "match"),
    [
        ("dimensionless", "dimensionless"),
        ("", "dimensionless"),
        ("W/m^2", "W/m"),
        ("MWh", "MWh"),  # energy where power expected
    ],
)
def test_profile_wrong_unit_raises(unit, match):
    p = _profile(A, unit=unit)
    with pytest.raises(UnitError, match=rf"profile: expected dimension .*{match}"):
        stats.energy(p)


def test_energy_named_series_refused():
    p = _profile(A, unit=None, name="energy_mwh")
    with pytest.raises(UnitError, match="profile"):
        stats.peak(p)


def test_profile_without_unit_raises():
    with pytest.raises(UnitError, match="declares no unit"):
        stats.peak(_profile(A, unit=None))


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (15.0, "bare float"),
        (Q_(15.0, "dimensionless"), "dimension"),
        (Q_(15.0, "W/m^2"), "dimension"),
        (Q_(15.0, "MWh"), "dimension"),
    ],
)
def test_threshold_wrong_unit_raises(bad, match):
    p = _profile(A)
    with pytest.raises(UnitError, match=f"threshold.*{match}"):
        stats.hours_above(p, bad)
    with pytest.raises(UnitError, match="threshold"):
        stats.load_statistics(p, ramp_windows=("15min",), threshold=bad)


def test_system_load_wrong_unit_raises():
    p = _profile(A)
    with pytest.raises(UnitError, match="system_load"):
        stats.coincidence_factor(p, _profile(A, unit="W/m^2"))
    with pytest.raises(UnitError, match="system_load"):
        stats.load_statistics(p, ramp_windows=("15min",), system_load=_profile(A, unit=None))


def test_dict_profile_error_names_key():
    with pytest.raises(UnitError, match="'tdp'"):
        stats.load_statistics(
            {"model": _profile(A), "tdp": _profile(A, unit="MWh")}, ramp_windows=("15min",)
        )


# ------------------------------------------------------------------ other refusals


def test_naive_and_irregular_index_raise():
    with pytest.raises(stats.StatsError, match="naive"):
        stats.peak(_profile(A, tz=None))
    p = _profile(A)
    irregular = p.drop(p.index[3])
    with pytest.raises(stats.StatsError, match="position 3"):
        stats.peak(irregular)


def test_ramp_window_finer_than_step_raises():
    with pytest.raises(stats.StatsError, match="shorter than the profile step"):
        stats.load_statistics(_profile(A))  # default windows include 1min on 15-min data


def test_ramp_window_partial_or_too_short_raises():
    p = _profile(A[:6])  # 1.5 h: the second hour is partial
    with pytest.raises(stats.StatsError, match="whole windows"):
        stats.ramp_statistics(p, "1h")
    with pytest.raises(stats.StatsError, match="at least 2"):
        stats.ramp_statistics(_profile(A[:4]), "1h")
    with pytest.raises(stats.StatsError, match="method"):
        stats.ramp_statistics(p, "15min", method="diagonal")


def test_ratios_need_positive_load():
    zero = _profile([0.0] * 4)
    with pytest.raises(stats.StatsError, match="peak"):
        stats.load_factor(zero)
    with pytest.raises(stats.StatsError, match="mean"):
        stats.coefficient_of_variation(zero)


def test_window_label():
    assert [stats.window_label(w) for w in ("15min", "1min", "1h", "30s", "250ms", "90min")] == [
        "15min",
        "1min",
        "1h",
        "30s",
        "250ms",
        "90min",
    ]


def _mw_series(values, step: str = "250ms") -> pd.Series:
    idx = pd.date_range("2026-01-01T00:00:00Z", periods=len(values), freq=step)
    return series_with_unit(pd.Series(np.asarray(values, float), index=idx), "MW")


# ------------------------------------------- ramp table (1 s - 1 h), the interconnection view


def test_ramps_of_a_step() -> None:
    # 1 MW for 100 s, then 5 MW: every window that spans the step sees +4 MW
    t = np.arange(4 * 200) * 0.25
    p = _mw_series(np.where(t >= 100.0, 5.0, 1.0))
    df = ramp_distribution(p, ("1s", "10s", "1min"), threshold=Q_(3.0, "MW"))
    assert df["max_up_mw"].tolist() == [4.0, 4.0, 4.0]
    assert df["max_down_mw"].tolist() == [0.0, 0.0, 0.0]
    assert df.loc["1s", "max_up_share_of_peak"] == pytest.approx(4.0 / 5.0)
    # sliding ramps over w that contain the step: w / dt of them (4, 40, 240)
    assert df["n_up_above_threshold"].tolist() == [4, 40, 240]
    assert df["n_down_above_threshold"].tolist() == [0, 0, 0]
    assert df.attrs["largest_step_mw"] == 4.0
    # 1 s: 4 of 796 ramps are 4 MW (0.5 %): numpy's P99 sits at rank 0.99 * 795 = 787.05
    # (a zero), P99.9 at 794.2 (between two 4 MW ramps); 10 s: 40 of 760 (5.3 %)
    assert df.loc["1s", "p99_mw"] == 0.0
    assert df.loc["1s", "p999_mw"] == 4.0
    assert df.loc["10s", "p99_mw"] == 4.0


def test_ramps_of_a_linear_ramp() -> None:
    # p = 10 + 0.002 t MW (0.12 MW/min): any window w sees exactly 0.002 * w MW
    t = np.arange(4 * 3 * 3600) * 0.25
    p = _mw_series(10.0 + 0.002 * t)
    df = ramp_distribution(p, ("1s", "10s", "1min", "10min", "1h"))
    w = np.array([1.0, 10.0, 60.0, 600.0, 3600.0])
    np.testing.assert_allclose(df["max_up_mw"], 0.002 * w, rtol=1e-9)
    np.testing.assert_allclose(df["p99_mw"], 0.002 * w, rtol=1e-9)
    np.testing.assert_allclose(df["p999_mw"], 0.002 * w, rtol=1e-9)
    np.testing.assert_allclose(df["max_down_mw"], 0.002 * w, rtol=1e-9)  # never falls
    peak = 10.0 + 0.002 * t[-1]
    np.testing.assert_allclose(df["max_up_share_of_peak"], 0.002 * w / peak, rtol=1e-9)
    # block ramps (interval-meter view) agree with gridlink.stats' definition
    from gridlink.stats import ramp_statistics

    block = ramp_window(p, "10min", method="block")
    ref = ramp_statistics(p, "10min", method="block")
    assert block.max_up.to("MW").magnitude == pytest.approx(ref.max_up.to("MW").magnitude)
    assert block.max_up.to("MW").magnitude == pytest.approx(0.002 * 600.0)


def test_ramp_window_below_resolution_is_refused() -> None:
    p = _mw_series(np.arange(120.0), step="1min")
    with pytest.raises(
        StatsError,
        match=r"window: 1s is shorter than the profile step 1min \(the data's resolution\)",
    ):
        ramp_distribution(p, ("1s", "10min"))
    with pytest.raises(StatsError, match="window: 90s is not a multiple of the profile step 1min"):
        ramp_window(p, "90s")
    with pytest.raises(UnitError, match="threshold"):
        ramp_window(p, "10min", threshold=3.0)
    with pytest.raises(UnitError):
        ramp_window(pd.Series(np.arange(10.0), index=p.index[:10]), "1min")  # no unit


# --------------------------------------------------------------------------- spectrum


def _square(period_s: float, amplitude: float, n: int = 4 * 7200) -> pd.Series:
    t = np.arange(n) * 0.25
    return _mw_series(10.0 + amplitude * np.where((t % period_s) < period_s / 2, 1.0, -1.0))


def test_square_wave_spectrum() -> None:
    # +-a square wave: variance a^2; its fundamental carries 8/pi^2 of it
    a = 2.0
    slow = load_spectrum(_square(20.0, a))  # fundamental 0.05 Hz, harmonics 0.15, 0.25 ...
    b = slow.bands.set_index("f_lo_hz")
    assert slow.nyquist_hz == 2.0
    assert b.loc[0.01, "peak_frequency_hz"] == pytest.approx(0.05, abs=slow.resolution_hz)
    assert b.loc[0.01, "power_mw2"] == pytest.approx(8 / math.pi**2 * a * a, rel=0.01)
    assert b.loc[0.1, "power_mw2"] == pytest.approx((1 - 8 / math.pi**2) * a * a, rel=0.02)
    fast = load_spectrum(_square(4.0, a))  # fundamental 0.25 Hz: all of it in 0.1-2 Hz
    f = fast.bands.set_index("f_lo_hz")
    assert f.loc[0.1, "power_mw2"] == pytest.approx(a * a, rel=1e-3)
    assert f.loc[0.01, "power_mw2"] == pytest.approx(0.0, abs=1e-6)
    assert f.loc[0.1, "peak_frequency_hz"] == pytest.approx(0.25, abs=fast.resolution_hz)
    assert f["resolved"].all()


def test_spectrum_says_what_it_cannot_resolve() -> None:
    t = np.arange(7200.0)
    sp = load_spectrum(_mw_series(10 + np.sin(2 * np.pi * 0.05 * t), step="1s"))
    b = sp.bands.set_index("f_lo_hz")
    assert sp.nyquist_hz == 0.5
    assert not b.loc[0.1, "resolved"] and np.isnan(b.loc[0.1, "power_mw2"])
    assert "Nyquist" in b.loc[0.1, "reason"]
    assert b.loc[0.01, "resolved"]
    # a sine of amplitude 1 has variance 1/2
    assert b.loc[0.01, "power_mw2"] == pytest.approx(0.5, rel=0.01)
    assert "0.5 Hz" in sp.statement() and "not resolvable" in sp.statement()
    with pytest.raises(StatsError, match=r"bands_hz\[0\]"):
        load_spectrum(_mw_series(np.ones(100)), bands_hz=[(0.2, 0.1)])


# --------------------------------------------------------------------------- duration


def test_load_duration_curve_and_hours_above() -> None:
    p = _mw_series([10.0, 30.0, 20.0, 40.0, 30.0, 0.0, 10.0, 20.0], step="15min")
    ldc = load_duration_curve(p)
    assert ldc["p_mw"].tolist() == [40.0, 30.0, 30.0, 20.0, 20.0, 10.0, 10.0, 0.0]
    assert ldc["hours_at_or_above_h"].tolist() == [0.25 * k for k in range(1, 9)]
    hrs = hours_above_levels(p, Q_([15_000.0, 30_000.0, 25_000.0], "kW"))
    # above 15 MW: 30, 20, 40, 30, 20 -> 5 x 15 min; above 30 MW: only 40; above 25 MW: 3
    assert hrs["hours_above_h"].tolist() == [1.25, 0.25, 0.75]
    shares = hours_above_levels(p, shares_of_peak=[0.5, 1.0])
    assert shares["level_mw"].tolist() == [20.0, 40.0]
    assert shares["hours_above_h"].tolist() == [0.75, 0.0]
    assert shares["fraction_of_time"].tolist() == [0.375, 0.0]
    with pytest.raises(StatsError, match=r"shares_of_peak: \[1.5\] outside \[0, 1\]"):
        hours_above_levels(p, shares_of_peak=[0.5, 1.5])
    thin = load_duration_curve(_mw_series(np.arange(1000.0)), max_points=11)
    assert len(thin) == 11 and thin["p_mw"].iloc[0] == 999.0 and thin["p_mw"].iloc[-1] == 0.0
