"""Fidelity metrics against hand calculations (paper §4.1 definitions)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from traces.fidelity import (
    FidelityError,
    acf_r2,
    autocorrelation,
    fidelity_metrics,
    summarize_metrics,
)


def _acf_by_hand(x: np.ndarray, max_lag: int) -> np.ndarray:
    d = x - x.mean()
    den = float(d @ d)
    return np.array([float(d[:-k] @ d[k:]) / den for k in range(1, max_lag + 1)])


def test_energy_and_nrmse_by_hand() -> None:
    m = np.array([100.0, 200.0, 300.0, 400.0])
    g = np.array([110.0, 190.0, 330.0, 420.0])
    out = fidelity_metrics(m, g, max_lag=2)
    # E_meas = 1000 * 0.25 J, E_gen = 1050 * 0.25 J -> +5 %
    assert out["delta_energy_pct"] == pytest.approx(5.0)
    assert out["abs_delta_energy_pct"] == pytest.approx(5.0)
    assert out["energy_measured_j"] == pytest.approx(250.0)
    # errors 10, -10, 30, 20 -> MSE = (100+100+900+400)/4 = 375; range 300
    assert out["nrmse"] == pytest.approx(math.sqrt(375.0) / 300.0)


def test_negative_energy_error_is_signed() -> None:
    m = np.array([100.0, 200.0, 300.0, 400.0])
    out = fidelity_metrics(m, m * 0.9, max_lag=2)
    assert out["delta_energy_pct"] == pytest.approx(-10.0)
    assert out["abs_delta_energy_pct"] == pytest.approx(10.0)


def test_ks_by_hand() -> None:
    m = np.array([1.0, 2.0, 3.0, 4.0])
    g = np.array([3.5, 4.5, 5.5, 6.5])
    # ECDFs: at x=3 measured is 3/4, generated 0 -> 0.75; at 4: 1 vs 1/4 -> 0.75
    assert fidelity_metrics(m, g, max_lag=2)["ks"] == pytest.approx(0.75)
    assert fidelity_metrics(m, m.copy(), max_lag=2)["ks"] == 0.0


def test_percentile_errors_by_hand() -> None:
    m = np.arange(1.0, 101.0)  # P95 = 1 + 0.95*99 = 95.05, P99 = 99.01 (linear)
    g = 2.0 * m  # percentiles double -> 100 % error
    out = fidelity_metrics(m, g)
    assert out["p95_error_pct"] == pytest.approx(100.0)
    assert out["p99_error_pct"] == pytest.approx(100.0)
    g2 = m.copy()
    g2[-1] = 200.0  # P99 of g2 = 99 + 0.01*(200-99) = 100.01; P95 unchanged
    out2 = fidelity_metrics(m, g2)
    assert out2["p95_error_pct"] == pytest.approx(0.0, abs=1e-12)
    assert out2["p99_error_pct"] == pytest.approx((100.01 - 99.01) / 99.01 * 100.0)


def test_autocorrelation_matches_hand_formula() -> None:
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.normal(size=300)) + 200.0
    np.testing.assert_allclose(autocorrelation(x, max_lag=50), _acf_by_hand(x, 50), rtol=1e-10)


def test_acf_r2_by_hand() -> None:
    rng = np.random.default_rng(4)
    m = np.cumsum(rng.normal(size=400)) + 300.0
    g = rng.normal(300.0, 5.0, size=400)  # white noise: ACF near 0 -> low R2
    rm, rg = _acf_by_hand(m, 50), _acf_by_hand(g, 50)
    expected = 1.0 - np.sum((rm - rg) ** 2) / np.sum((rm - rm.mean()) ** 2)
    r2, note = acf_r2(m, g)
    assert note == ""
    assert r2 == pytest.approx(expected, rel=1e-9)
    assert r2 < 0.5
    assert acf_r2(m, m + 7.0)[0] == pytest.approx(1.0)  # shift leaves the ACF unchanged


def test_constant_series_gives_nan_with_reason() -> None:
    rng = np.random.default_rng(5)
    m = rng.normal(300.0, 20.0, size=100)
    out = fidelity_metrics(m, np.full(100, 300.0))
    assert math.isnan(out["acf_r2"])
    assert "generated trace is constant" in out["acf_note"]
    out2 = fidelity_metrics(np.full(100, 250.0), m)
    assert math.isnan(out2["acf_r2"])
    assert "measured" in out2["acf_note"]
    assert math.isnan(out2["nrmse"])  # zero measured range


@pytest.mark.parametrize(
    ("m", "g", "match"),
    [
        (np.ones(60), np.ones(61), "same length"),
        (np.ones((60, 2)), np.ones((60, 2)), "1-D"),
        (np.r_[np.ones(59), np.nan], np.ones(60), "non-finite"),
        (np.ones(30), np.ones(30), "needs more than 50"),
        (np.zeros(60), np.ones(60), "E_meas > 0"),
    ],
)
def test_invalid_inputs_raise(m: np.ndarray, g: np.ndarray, match: str) -> None:
    with pytest.raises(FidelityError, match=match):
        fidelity_metrics(m, g)


def test_summarize_medians() -> None:
    df = pd.DataFrame(
        {
            "method": ["a", "a", "a", "b"],
            "ks": [0.1, 0.3, 0.2, 0.9],
            "acf_r2": [np.nan, 0.5, 0.7, np.nan],
        }
    )
    out = summarize_metrics(df, metrics=("ks", "acf_r2"))
    assert out.loc["a", "ks"] == pytest.approx(0.2)
    assert out.loc["a", "acf_r2"] == pytest.approx(0.6)
    assert math.isnan(out.loc["b", "acf_r2"])
    assert out.loc["a", "n"] == 3
    with pytest.raises(FidelityError, match="missing columns"):
        summarize_metrics(df, metrics=("nrmse",))
