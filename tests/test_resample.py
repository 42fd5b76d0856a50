"""Tests for gridlink.resample: energy preservation, time zones, refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gridlink.resample import ResampleError, infer_step, resample_energy
from gridlink.units import UnitError, series_with_unit


def _profile(values, start="2026-01-01", freq="15min", tz="UTC", unit="MW"):
    idx = pd.date_range(start, periods=len(values), freq=freq, tz=tz)
    return series_with_unit(pd.Series(np.asarray(values, dtype=float), index=idx), unit)


# ---------------------------------------------------------------- hand calculations


def test_downsample_15min_to_1h_by_hand():
    # hour 0: (1 + 2 + 3 + 6) / 4 = 3.0 MW; hour 1: (4 + 4 + 0 + 0) / 4 = 2.0 MW
    p = _profile([1, 2, 3, 6, 4, 4, 0, 0])
    out = resample_energy(p, "1h")
    assert out.tolist() == [3.0, 2.0]
    assert list(out.index) == [
        pd.Timestamp("2026-01-01 00:00", tz="UTC"),
        pd.Timestamp("2026-01-01 01:00", tz="UTC"),
    ]
    assert out.attrs["unit"] == "MW"
    assert out.index.freq == pd.Timedelta("1h")


def test_upsample_step_hold_by_hand():
    # 1 h at 5 MW then 1 h at 1 MW -> 15 min values 5,5,5,5,1,1,1,1
    p = _profile([5.0, 1.0], freq="1h")
    out = resample_energy(p, "15min")
    assert out.tolist() == [5.0] * 4 + [1.0] * 4
    assert str(out.index.tz) == "UTC"


def test_non_multiple_step_splits_straddling_sample_by_hand():
    # 40 s samples 0,1,2 cover [0,120) s. Minute 0 = 40 s at 0 + 20 s at 1 -> 20/60 = 1/3.
    # Minute 1 = 20 s at 1 + 40 s at 2 -> (20 + 80)/60 = 5/3.
    p = _profile([0.0, 1.0, 2.0], freq="40s")
    out = resample_energy(p, "1min")
    np.testing.assert_allclose(out.to_numpy(), [1 / 3, 5 / 3], rtol=1e-12)


def test_kw_unit_kept_and_250ms_to_1min():
    # 240 samples of 250 ms = 1 min; values 0..239 kW -> mean 119.5 kW
    p = _profile(np.arange(240), freq="250ms", unit="kW")
    out = resample_energy(p, "1min")
    assert out.tolist() == [119.5]
    assert out.attrs["unit"] == "kW"


def test_name_suffix_declares_unit():
    idx = pd.date_range("2026-01-01", periods=4, freq="15min", tz="UTC")
    p = pd.Series([4.0, 4.0, 8.0, 8.0], index=idx, name="p_mw")
    out = resample_energy(p, "30min")
    assert out.tolist() == [4.0, 8.0]
    assert out.name == "p_mw"


# ---------------------------------------------------------------- energy (hypothesis)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.floats(min_value=0.0, max_value=1e4, allow_nan=False), min_size=1, max_size=12
    ),
    src_s=st.sampled_from([0.25, 1.0, 15.0, 40.0, 60.0, 900.0]),
    target=st.sampled_from(["250ms", "1s", "1min", "5min", "15min", "1h"]),
    n_target=st.integers(min_value=1, max_value=4),
)
def test_energy_conserved(values, src_s, target, n_target):
    """Energy sum(p*dt) before == after, for whole target intervals (any step ratio)."""
    tgt_s = pd.Timedelta(target).total_seconds()
    span = tgt_s * n_target
    n_src = span / src_s
    assume(abs(n_src - round(n_src)) < 1e-9)  # source grid tiles the span exactly
    n_src = int(round(n_src))
    assume(2 <= n_src <= 20000)
    vals = np.resize(np.asarray(values, dtype=float), n_src)
    p = _profile(vals, freq=pd.Timedelta(seconds=src_s))
    out = resample_energy(p, target)
    energy_in = float(np.sum(vals) * src_s)  # [MW s]
    energy_out = float(out.to_numpy().sum() * tgt_s)
    assert len(out) == n_target
    assert energy_out == pytest.approx(energy_in, rel=1e-9, abs=1e-6)


# ---------------------------------------------------------------- time zones and DST


def test_naive_index_raises_without_tz():
    idx = pd.date_range("2026-01-01", periods=4, freq="15min")
    p = series_with_unit(pd.Series([1.0] * 4, index=idx), "MW")
    with pytest.raises(ResampleError, match="naive.*tz="):
        resample_energy(p, "1h")


def test_naive_index_with_tz_localised_and_output_utc():
    # Berlin winter is UTC+1: local 01:00 is 00:00 UTC
    idx = pd.date_range("2026-01-01 01:00", periods=4, freq="15min")
    p = series_with_unit(pd.Series([1.0, 2.0, 3.0, 6.0], index=idx), "MW")
    out = resample_energy(p, "1h", tz="Europe/Berlin")
    assert out.index[0] == pd.Timestamp("2026-01-01 00:00", tz="UTC")
    assert out.tolist() == [3.0]


def test_nonexistent_local_time_raises():
    # 2026-03-29 02:00-03:00 does not exist in Europe/Berlin
    idx = pd.date_range("2026-03-29 01:00", periods=8, freq="15min")
    p = series_with_unit(pd.Series(np.ones(8), index=idx), "MW")
    with pytest.raises(ResampleError, match="nonexistent"):
        resample_energy(p, "1h", tz="Europe/Berlin")


def test_ambiguous_local_time_raises():
    # 2026-10-25 02:00-03:00 occurs twice in Europe/Berlin
    idx = pd.DatetimeIndex(["2026-10-25 01:30", "2026-10-25 02:00", "2026-10-25 02:30"])
    p = series_with_unit(pd.Series(np.ones(3), index=idx), "MW")
    with pytest.raises(ResampleError, match="[Aa]mbiguous"):
        resample_energy(p, "30min", tz="Europe/Berlin")


def test_aware_index_with_other_tz_raises():
    p = _profile([1.0, 1.0, 1.0, 1.0], tz="Europe/Berlin")
    with pytest.raises(ResampleError, match="already tz-aware"):
        resample_energy(p, "1h", tz="America/New_York")


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("Europe/Berlin", "2026-03-29", 23),  # spring forward
        ("Europe/Berlin", "2026-10-25", 25),  # fall back
        ("America/Los_Angeles", "2026-03-08", 23),
        ("America/Los_Angeles", "2026-11-01", 25),
    ],
)
def test_dst_day_hourly_energy(zone, day, hours):
    # A local calendar day of 15-min data: 4 * hours samples in absolute time.
    start = pd.Timestamp(day, tz=zone)
    end = pd.Timestamp(pd.Timestamp(day) + pd.Timedelta(days=1), tz=zone)  # next local midnight
    idx = pd.date_range(start, end, freq="15min", inclusive="left")
    assert len(idx) == 4 * hours
    rng = np.random.default_rng(7)
    vals = rng.uniform(10.0, 50.0, size=len(idx))
    p = series_with_unit(pd.Series(vals, index=idx), "MW")
    out = resample_energy(p, "1h")
    assert len(out) == hours
    # independent: each hour is the mean of 4 consecutive quarter hours
    np.testing.assert_allclose(out.to_numpy(), vals.reshape(hours, 4).mean(axis=1), rtol=1e-12)
    # energy of the day [MWh]: sum over 15-min samples * 0.25 h == sum over hours * 1 h
    assert out.sum() == pytest.approx(vals.sum() * 0.25, rel=1e-12)
    assert out.index[0] == start.tz_convert("UTC")
    # grouping by local date recovers one local day of `hours` hours
    local_days = out.index.tz_convert(zone).normalize()
    assert local_days.nunique() == 1


# ---------------------------------------------------------------- refusals


def test_partial_first_interval_refused():
    p = _profile([1.0] * 4, start="2026-01-01 00:15")  # covers 00:15-01:15
    with pytest.raises(ResampleError, match="partial first interval"):
        resample_energy(p, "1h")


def test_partial_last_interval_refused():
    p = _profile([1.0] * 5)  # covers 00:00-01:15
    with pytest.raises(ResampleError, match="partial last interval"):
        resample_energy(p, "1h")


def test_irregular_index_reports_position():
    idx = pd.DatetimeIndex(
        ["2026-01-01 00:00", "2026-01-01 00:15", "2026-01-01 00:45", "2026-01-01 01:00"],
        tz="UTC",
    )
    p = series_with_unit(pd.Series(np.ones(4), index=idx), "MW")
    with pytest.raises(ResampleError, match="position 2"):
        resample_energy(p, "1h")


def test_infer_step():
    idx = pd.date_range("2026-01-01", periods=5, freq="250ms", tz="UTC")
    assert infer_step(idx) == pd.Timedelta(milliseconds=250)
    # one timestamp: the step comes from a fixed index.freq, else it cannot be inferred
    assert infer_step(idx[:1]) == pd.Timedelta(milliseconds=250)
    with pytest.raises(ResampleError, match="at least 2"):
        infer_step(pd.DatetimeIndex([idx[0]]))
    with pytest.raises(ResampleError, match="strictly increasing"):
        infer_step(idx[::-1])
    with pytest.raises(ResampleError, match="DatetimeIndex"):
        infer_step(pd.RangeIndex(5))


@pytest.mark.parametrize("freq", ["1D", "D", "W", "MS", "not-a-freq"])
def test_calendar_or_bad_freq_refused(freq):
    p = _profile([1.0] * 96)
    with pytest.raises(ResampleError, match="freq"):
        resample_energy(p, freq)


def test_non_finite_refused():
    p = _profile([1.0, np.nan, 1.0, 1.0])
    with pytest.raises(ResampleError, match="position 1"):
        resample_energy(p, "1h")


@pytest.mark.parametrize("unit", ["MWh", "W/m^2", "dimensionless", ""])
def test_wrong_unit_refused(unit):
    idx = pd.date_range("2026-01-01", periods=4, freq="15min", tz="UTC")
    p = pd.Series(np.ones(4), index=idx)
    p.attrs["unit"] = unit
    with pytest.raises(UnitError, match="series"):
        resample_energy(p, "1h")


def test_no_unit_refused():
    idx = pd.date_range("2026-01-01", periods=4, freq="15min", tz="UTC")
    with pytest.raises(UnitError, match="declares no unit"):
        resample_energy(pd.Series(np.ones(4), index=idx), "1h")


def test_naive_local_spring_day_without_skipped_hour():
    # Naive Berlin wall-clock hours of 2026-03-29 without the nonexistent 02:00:
    # 23 valid hours; localised they are regular in absolute time.
    wall = pd.date_range("2026-03-29 00:00", "2026-03-29 23:00", freq="1h")
    wall = wall[wall.hour != 2]
    assert len(wall) == 23
    vals = np.arange(1.0, 24.0)
    p = series_with_unit(pd.Series(vals, index=wall), "MW")
    out = resample_energy(p, "1h", tz="Europe/Berlin")
    assert out.index[0] == pd.Timestamp("2026-03-28 23:00", tz="UTC")
    assert out.index[-1] == pd.Timestamp("2026-03-29 21:00", tz="UTC")
    np.testing.assert_array_equal(out.to_numpy(), vals)
    # UTC 00:00-22:00 (local 01:00-24:00) to 2 h: energy 2+3+...+23 = 275 MWh kept
    two = resample_energy(p.iloc[1:23], "2h", tz="Europe/Berlin")
    assert two.sum() * 2 == pytest.approx(vals[1:23].sum())


def test_year_of_minutes_to_hours_keeps_every_interval():
    """A year at 1 min -> 1 h gives 8,760 hourly means (regression: float64 sizing of
    np.arange dropped the last edge for epoch-nanosecond values)."""
    idx = pd.date_range("2025-01-01", periods=8760 * 60, freq="1min", tz="UTC")
    values = np.repeat(np.arange(8760, dtype=float), 60)  # hour h holds the value h
    series = pd.Series(values, index=idx)
    series.attrs["unit"] = "MW"
    out = resample_energy(series, "1h")
    assert len(out) == 8760
    np.testing.assert_array_equal(out.to_numpy(), np.arange(8760, dtype=float))
    assert out.index[-1] == pd.Timestamp("2025-12-31 23:00", tz="UTC")
