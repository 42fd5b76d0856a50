"""PyPSA export of deferrable facility demand (issue 15): energy, hours and a HiGHS solve.

Expected values are hand calculations (energy sums of the input profile, arrivals x
delay, merit-order costs), not outputs of the export.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pypsa
import pytest

from gridlink.grid.flex_pypsa import (
    DeferrableDemand,
    add_flexible_facility,
    backlog_limit_mwh,
    flexible_dispatch,
)
from gridlink.grid.pypsa import PyPSAAdapterError, add_facility_load
from gridlink.units import series_with_unit

START = "2025-01-01"


def _profile(values: np.ndarray, freq: str = "15min") -> pd.Series:
    idx = pd.date_range(START, periods=len(values), freq=freq, tz="UTC")
    return series_with_unit(pd.Series(values, index=idx, name="p_mw"), "MW")


def _network(freq_h: int, hours: int = 24) -> pypsa.Network:
    n = pypsa.Network()
    n.set_snapshots(pd.date_range(START, periods=hours // freq_h, freq=f"{freq_h}h"))
    n.snapshot_weightings.loc[:, :] = float(freq_h)
    n.add("Bus", "grid")
    return n


def _solve(n: pypsa.Network) -> float:
    status, condition = n.optimize(
        solver_name="highs", include_objective_constant=False, log_to_console=False
    )
    assert condition == "optimal", (status, condition)
    return float(n.objective)


@pytest.mark.parametrize("freq_h", [1, 2, 3])
def test_export_conserves_energy_on_1_2_3_hourly_snapshots(freq_h: int) -> None:
    rng = np.random.default_rng(3)
    values = 20.0 + 5.0 * rng.random(96)  # 24 h of 15-min means [MW]
    energy_mwh = values.sum() * 0.25  # hand: sum of 15-min means x 0.25 h
    n = _network(freq_h)
    n.add("Generator", "gas", bus="grid", p_nom=100.0, marginal_cost=50.0)
    flex = DeferrableDemand(share=0.25, p_max_mw=15.0, e_max_mwh=20.0, max_delay_h=4.0)
    ex = add_flexible_facility(n, _profile(values), flex, bus="grid")
    w = n.snapshot_weightings["generators"]
    # before the solve: the two loads carry the whole energy, split by the share
    assert float((ex.p_set_inflexible_mw * w).sum()) == pytest.approx(0.75 * energy_mwh, rel=1e-12)
    assert float((ex.p_set_arrivals_mw * w).sum()) == pytest.approx(0.25 * energy_mwh, rel=1e-12)
    _solve(n)
    d = flexible_dispatch(n, ex)
    # after: what the facility draws at its bus is its energy, and the backlog is cleared
    assert float((d["grid_mw"] * w).sum()) == pytest.approx(energy_mwh, rel=1e-9)
    assert float(n.generators_t.p["gas"].mul(w).sum()) == pytest.approx(energy_mwh, rel=1e-9)
    assert d["backlog_mwh"].iloc[-1] == pytest.approx(0.0, abs=1e-6)
    assert (d["served_mw"] <= flex.p_max_mw + 1e-9).all()


@pytest.mark.parametrize("freq_h", [1, 2, 3])
def test_delay_limit_is_in_hours_not_snapshots(freq_h: int) -> None:
    # constant 10 MW, share 0.3 -> 3 MW of deferrable work; 2 h delay -> at most 6 MWh
    # waiting once two hours have passed, whatever the snapshot length (a limit counted
    # in snapshots would give 18 MWh at 3-hourly resolution)
    n = _network(freq_h)
    flex = DeferrableDemand(share=0.3, p_max_mw=10.0, e_max_mwh=100.0, max_delay_h=2.0)
    ex = add_flexible_facility(n, _profile(np.full(96, 10.0)), flex, bus="grid")
    lim = ex.backlog_limit_mwh.to_numpy()
    ends_h = (np.arange(len(lim)) + 1) * freq_h
    expected = 3.0 * np.minimum(ends_h, 2.0)  # before 2 h: only what has arrived so far
    expected[-1] = 0.0  # the horizon ends with no backlog
    np.testing.assert_allclose(lim, expected, rtol=1e-12)
    # the bound sits on the store as a state limit (e_min_pu), not as an averaged power
    e_min = n.stores_t.e_min_pu[ex.store].to_numpy()
    np.testing.assert_allclose(100.0 * (1.0 - e_min), expected, rtol=1e-12, atol=1e-12)


def test_backlog_window_with_a_gap_between_snapshots() -> None:
    # two 1-h periods at 00:00 and 05:00 (a gap), 6 MW arriving; D = 3 h
    starts = pd.DatetimeIndex(["2025-01-01T00:00Z", "2025-01-01T05:00Z"]).asi8
    w = backlog_limit_mwh(np.array([6.0, 6.0]), starts, np.array([1.0, 1.0]), 3.0)
    # end of period 2 is 06:00; window 03:00-06:00 holds only period 2's 6 MWh
    np.testing.assert_allclose(w, [6.0, 6.0])


def _day_with_solar(flex: DeferrableDemand | None) -> tuple[float, pd.DataFrame | None]:
    """20 MW facility for a day; 40 MW of free solar 10:00-14:00, gas at 80 /MWh."""
    n = _network(1)
    hours = np.arange(24)
    sun = ((hours >= 10) & (hours < 14)).astype(float)
    n.add("Generator", "solar", bus="grid", p_nom=40.0,
          p_max_pu=pd.Series(sun, index=n.snapshots), marginal_cost=0.0)  # fmt: skip
    n.add("Generator", "gas", bus="grid", p_nom=100.0, marginal_cost=80.0)
    profile = _profile(np.full(96, 20.0))
    if flex is None:
        add_facility_load(n, profile, bus="grid")
        return _solve(n), None
    ex = add_flexible_facility(n, profile, flex, bus="grid")
    return _solve(n), flexible_dispatch(n, ex)


def test_store_shifts_deferrable_load_into_the_cheap_hours() -> None:
    # inflexible: gas serves 20 MW in the 20 hours without sun -> 20 * 20 * 80 = 32,000
    base, _ = _day_with_solar(None)
    assert base == pytest.approx(32_000.0, rel=1e-9)
    # 6 MW deferrable, backlog <= 30 MWh, delay <= 6 h: the backlog fills to 30 MWh before
    # 10:00 and is served by the sun (catch-up 14 MW x 4 h > 30 MWh, solar spare 20 MW),
    # so 30 MWh less gas: 32,000 - 30 * 80 = 29,600
    flex = DeferrableDemand(share=0.3, p_max_mw=20.0, e_max_mwh=30.0, max_delay_h=6.0)
    cost, d = _day_with_solar(flex)
    assert cost == pytest.approx(29_600.0, rel=1e-9)
    assert d is not None
    sun = slice(10, 14)
    assert d["served_mw"].iloc[sun].sum() > d["arrivals_mw"].iloc[sun].sum() + 29.0
    # FIFO deadline, checked on cumulative curves: by each hour's end, all work that
    # arrived more than 6 h earlier has been served
    arrived = np.cumsum(d["arrivals_mw"].to_numpy())
    served = np.cumsum(d["served_mw"].to_numpy())
    lagged = np.concatenate([np.zeros(6), arrived[:-6]])
    assert np.all(served >= lagged - 1e-6)
    # a 3 h delay allows only 3 h x 6 MW = 18 MWh to wait for the sun: 32,000 - 18 * 80
    short = DeferrableDemand(share=0.3, p_max_mw=20.0, e_max_mwh=30.0, max_delay_h=3.0)
    cost3, _ = _day_with_solar(short)
    assert cost3 == pytest.approx(30_560.0, rel=1e-9)


def test_a_backlog_cost_stops_deferral_that_saves_nothing() -> None:
    # flat gas price: deferring saves nothing, so any service cost keeps the backlog at 0;
    # the objective is the gas bill 24 h x 10 MW x 50 = 12,000 minus the documented
    # constant c x e_max x 24 h
    n = _network(1)
    n.add("Generator", "gas", bus="grid", p_nom=100.0, marginal_cost=50.0)
    flex = DeferrableDemand(0.3, p_max_mw=10.0, e_max_mwh=20.0, max_delay_h=4.0,
                            backlog_cost_per_mwh_h=2.0)  # fmt: skip
    ex = add_flexible_facility(n, _profile(np.full(96, 10.0)), flex, bus="grid")
    cost = _solve(n)
    d = flexible_dispatch(n, ex)
    np.testing.assert_allclose(d["backlog_mwh"].to_numpy(), 0.0, atol=1e-6)
    assert d["service_cost"].sum() == pytest.approx(0.0, abs=1e-5)
    assert cost == pytest.approx(12_000.0 - 2.0 * 20.0 * 24.0, rel=1e-9)


def test_bad_limits_and_networks_are_refused() -> None:
    with pytest.raises(PyPSAAdapterError, match="share"):
        DeferrableDemand(share=0.0, p_max_mw=1.0, e_max_mwh=1.0, max_delay_h=1.0)
    with pytest.raises(PyPSAAdapterError, match="DeferrableDemand.share"):
        DeferrableDemand(share=1.5, p_max_mw=1.0, e_max_mwh=1.0, max_delay_h=1.0)
    with pytest.raises(PyPSAAdapterError, match="DeferrableDemand.e_max_mwh"):
        DeferrableDemand(share=0.5, p_max_mw=1.0, e_max_mwh=0.0, max_delay_h=1.0)
    with pytest.raises(PyPSAAdapterError, match="backlog_cost_per_mwh_h"):
        DeferrableDemand(0.5, 1.0, 1.0, 1.0, backlog_cost_per_mwh_h=-1.0)
    with pytest.raises(PyPSAAdapterError, match="max_delay_h"):
        DeferrableDemand(share=0.5, p_max_mw=1.0, e_max_mwh=1.0, max_delay_h=float("nan"))
    # strings and booleans are refused where numbers are meant (issue 13), not read as 0.5 / 1
    with pytest.raises(PyPSAAdapterError, match=r"DeferrableDemand.share must be a number"):
        DeferrableDemand(share="0.5", p_max_mw=1.0, e_max_mwh=1.0, max_delay_h=1.0)
    with pytest.raises(PyPSAAdapterError, match=r"DeferrableDemand.p_max_mw must be a number"):
        DeferrableDemand(share=0.5, p_max_mw=True, e_max_mwh=1.0, max_delay_h=1.0)
    kept = DeferrableDemand(share=np.float64(0.5), p_max_mw=2, e_max_mwh=1.0, max_delay_h=1.0)
    assert type(kept.share) is float and kept.p_max_mw == 2.0 and type(kept.p_max_mw) is float
    profile = _profile(np.full(96, 10.0))
    n = _network(1)
    with pytest.raises(PyPSAAdapterError, match="p_max_mw"):  # 3 MW arrive on average
        add_flexible_facility(
            n, profile, DeferrableDemand(0.3, p_max_mw=2.0, e_max_mwh=5.0, max_delay_h=2.0),
            bus="grid",
        )  # fmt: skip
    assert len(n.loads) == 0 and len(n.stores) == 0  # nothing added on failure
    n.snapshot_weightings.loc[:, "stores"] = 2.0
    with pytest.raises(PyPSAAdapterError, match="stores"):
        add_flexible_facility(n, profile, DeferrableDemand(0.3, 5.0, 5.0, 2.0), bus="grid")
    with pytest.raises(PyPSAAdapterError, match="bus"):
        add_flexible_facility(_network(1), profile, DeferrableDemand(0.3, 5.0, 5.0, 2.0), bus="x")
