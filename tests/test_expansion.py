"""Capacity-expansion stress test: example network, solves, directions and bounds.

Expected values are computed here by hand (capital recovery factor, energy sums,
a feasible-solution cost bound), not taken from the code under test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridlink.grid.expansion import (
    EXAMPLE_BUS,
    LOAD_SHEDDING_CARRIER,
    TECHNOLOGIES,
    VOLL_USD_PER_MWH,
    ExpansionError,
    annualised_cost,
    comparison_profiles,
    example_network,
    run_expansion_study,
)
from gridlink.grid.pypsa import PyPSAAdapterError
from gridlink.units import series_with_unit

HOURS = 72
START = "2025-07-14"


def _snapshots(hours: int = HOURS, freq: str = "h") -> pd.DatetimeIndex:
    return pd.date_range(START, periods=hours, freq=freq, tz="UTC")


def _generated_profile(hours: int = HOURS, seed: int = 0) -> pd.Series:
    """A shaped facility profile at 15 min: diurnal traffic, noise, mean ~60 MW, peak < 100 MW."""
    idx = pd.date_range(START, periods=hours * 4, freq="15min", tz="UTC")
    rng = np.random.default_rng(seed)
    t = np.arange(len(idx)) / 96.0
    p = 60.0 + 15.0 * np.sin(2 * np.pi * (t - 0.3)) + rng.normal(0.0, 3.0, len(idx))
    return series_with_unit(pd.Series(p, index=idx), "MW")


@pytest.fixture(scope="module")
def study():
    profiles = comparison_profiles(_generated_profile(), tdp_mw=110.0)
    return run_expansion_study(profiles, snapshots=_snapshots(), seed=3, keep_networks=True)


def test_annualised_cost_matches_hand_calculation() -> None:
    # 1.07**30 = 7.6122550; CRF = 0.07 / (1 - 1/7.6122550) = 0.0805864
    assert annualised_cost(1100.0, 22.0, 30.0) == pytest.approx(
        1000 * (1100 * 0.0805864 + 22), rel=1e-6
    )
    with pytest.raises(ExpansionError, match="lifetime_yr"):
        annualised_cost(1100.0, 22.0, 0.0)


def test_example_network_is_physical_and_scaled_to_the_horizon() -> None:
    n = example_network(_snapshots(48, "2h"), seed=1)
    assert n.snapshots.tz is None
    assert n.snapshots[0] == pd.Timestamp(START)
    assert (n.snapshot_weightings["generators"] == 2.0).all()
    horizon_h = 96.0
    d = TECHNOLOGIES["CCGT"]
    crf = 0.07 / (1 - 1.07 ** -d["lifetime_yr"])
    expected = 1000 * (d["overnight_usd_per_kw"] * crf + d["fom_usd_per_kw_yr"]) * horizon_h / 8760
    assert n.generators.at["CCGT", "capital_cost"] == pytest.approx(expected, rel=1e-9)
    cf = n.generators_t.p_max_pu
    assert ((cf >= 0) & (cf <= 1)).all().all()
    # solar is zero around local midnight (lon -100: local solar midnight ~ 06:40 UTC)
    night = cf.index.hour.isin([6, 7, 8])
    assert (cf.loc[night, "solar"] == 0).all()
    assert cf["solar"].max() > 0.5
    assert n.storage_units.at["battery", "max_hours"] == 4.0
    # seeded: same seed identical, other seed different weather
    again = example_network(_snapshots(48, "2h"), seed=1)
    other = example_network(_snapshots(48, "2h"), seed=2)
    pd.testing.assert_frame_equal(cf, again.generators_t.p_max_pu)
    assert not np.allclose(cf["wind"], other.generators_t.p_max_pu["wind"])


def test_tdp_booking_costs_more_and_builds_more_firm_capacity(study) -> None:
    s = study.summary
    firm = s.loc["OCGT capacity [MW]"] + s.loc["CCGT capacity [MW]"]
    assert s.at["total system cost [USD]", "tdp"] > s.at["total system cost [USD]", "model"]
    assert s.at["total system cost [USD]", "model"] > s.at["total system cost [USD]", "no facility"]
    assert firm["tdp"] > firm["model"]
    # a flat TDP load makes the system peak exactly background peak + TDP
    background = study.networks["tdp"].loads_t.p_set["background"]
    assert s.at["system peak [MW]", "tdp"] == pytest.approx(background.max() + 110.0, rel=1e-9)
    assert s.at["facility coincident peak [MW]", "tdp"] == pytest.approx(110.0)


def test_facility_energy_and_cost_bound(study) -> None:
    s = study.summary
    prof = _generated_profile()
    assert s.at["facility energy [MWh]", "model"] == pytest.approx(prof.sum() * 0.25, rel=1e-9)
    assert s.at["facility energy [MWh]", "tdp"] == pytest.approx(110.0 * HOURS, rel=1e-12)
    assert s.at["facility coincident peak [MW]", "model"] <= s.at["facility peak [MW]", "model"]
    # Serving the flat 110 MW with new CCGT alone is feasible, so the optimum cannot
    # rise by more than that: 110 * (annualised CCGT * H/8760 + H * marginal CCGT)
    d = TECHNOLOGIES["CCGT"]
    crf = 0.07 / (1 - 1.07 ** -d["lifetime_yr"])
    capital_per_mw = (
        1000 * (d["overnight_usd_per_kw"] * crf + d["fom_usd_per_kw_yr"]) * HOURS / 8760
    )
    marginal = d["marginal_usd_per_mwh"] + 50.0 * d["co2_t_per_mwh"]
    bound = 110.0 * (capital_per_mw + HOURS * marginal)
    increase = (
        s.at["total system cost [USD]", "tdp"] - s.at["total system cost [USD]", "no facility"]
    )
    assert 0 < increase <= bound * (1 + 1e-6)


def test_reported_cost_equals_the_solver_objective(study) -> None:
    for label, n in study.networks.items():
        assert study.summary.at["total system cost [USD]", label] == pytest.approx(
            n.objective, rel=1e-6
        )
        assert study.summary.at["unserved energy [MWh]", label] == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(
        study.price["tdp"].to_numpy(),
        study.networks["tdp"].buses_t.marginal_price[EXAMPLE_BUS].to_numpy(),
    )
    assert study.summary.at["price max [USD/MWh]", "tdp"] == pytest.approx(study.price["tdp"].max())


def test_unserved_energy_is_reported_when_capacity_is_capped() -> None:
    n = example_network(_snapshots(24), seed=0)
    n.generators["p_nom_max"] = 300.0  # every technology capped at 300 MW
    n.storage_units["p_nom_max"] = 0.0
    prof = _generated_profile(24)
    res = run_expansion_study({"model": prof}, network=n, bus=EXAMPLE_BUS,
                              include_baseline=False, keep_networks=True)  # fmt: skip
    solved = res.networks["model"]
    w = solved.snapshot_weightings["generators"]
    demand = (solved.loads_t.p_set.sum(axis=1) * w).sum()
    real = solved.generators.index[solved.generators["carrier"] != LOAD_SHEDDING_CARRIER]
    served = (solved.generators_t.p[real].sum(axis=1) * w).sum()
    unserved = res.summary.at["unserved energy [MWh]", "model"]
    assert unserved > 0
    assert unserved == pytest.approx(demand - served, rel=1e-6)
    assert res.summary.at["price max [USD/MWh]", "model"] == pytest.approx(VOLL_USD_PER_MWH)
    assert n.generators.index.equals(pd.Index(["OCGT", "CCGT", "wind", "solar"], name="name"))


def test_failed_solve_raises_with_status_and_nothing_is_reported() -> None:
    n = example_network(_snapshots(24), seed=0)
    # a must-run block far above demand: its output cannot go anywhere (no battery
    # either: simultaneous charge/discharge losses could burn it)
    n.storage_units["p_nom_max"] = 0.0
    n.add("Generator", "must run", bus=EXAMPLE_BUS, carrier="CCGT", p_nom=50_000.0,
          p_min_pu=1.0, marginal_cost=1.0)  # fmt: skip
    with pytest.raises(ExpansionError, match=r"infeasible.*Hint"):
        run_expansion_study({"model": _generated_profile(24)}, network=n, bus=EXAMPLE_BUS)


def test_bad_inputs_raise_clear_errors() -> None:
    n = example_network(_snapshots(24), seed=0)
    with pytest.raises(ExpansionError, match="bus: required"):
        run_expansion_study({"model": _generated_profile(24)}, network=n)
    short = _generated_profile(12)
    with pytest.raises(PyPSAAdapterError, match="not covered"):
        run_expansion_study({"model": short}, network=n, bus=EXAMPLE_BUS)
    with pytest.raises(ExpansionError, match="below the profile's peak"):
        comparison_profiles(_generated_profile(24), tdp_mw=50.0)
    with pytest.raises(ExpansionError, match="profiles"):
        run_expansion_study({}, network=n, bus=EXAMPLE_BUS)
    with pytest.raises(ExpansionError, match="snapshots"):
        example_network(pd.DatetimeIndex(["2025-01-01", "2025-01-01 01:00", "2025-01-01 03:00"]))


def test_cli_expansion_prints_and_writes_the_comparison(tmp_path) -> None:
    from typer.testing import CliRunner

    from gridlink.cli import app

    prof = _generated_profile(30)
    prof.rename("p_mw").to_frame().to_parquet(tmp_path / "pcc.parquet")
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app,
        ["expansion", "--profile", str(tmp_path / "pcc.parquet"), "--tdp-mw", "110",
         "--hours", "24", "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "total system cost [USD]" in res.output
    table = pd.read_csv(out / "summary.csv", index_col=0)
    assert table.at["facility energy [MWh]", "tdp"] == pytest.approx(110.0 * 24)
    expected = prof.iloc[: 24 * 4].sum() * 0.25  # the first 24 h of 15-min samples
    assert table.at["facility energy [MWh]", "model"] == pytest.approx(expected, rel=1e-9)
    assert table.at["facility energy [MWh]", "mean"] == pytest.approx(expected, rel=1e-9)
