"""Tests of the pandapower feeder adapter against independent pandapower power flows.

Independent reference: for a sampled step, a fresh copy of the network gets the
facility load set by hand (``pp.create_load`` with ``p_mw`` and
``q_mvar = p * sqrt(1 - pf^2) / pf``) and is solved by a plain ``pp.runpp``.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from gridlink.grid.feeder import (
    FeederError,
    Limits,
    compare_profiles,
    hosting_capacity,
    load_network,
    prepare_profile,
    reactive_power_mvar,
    run_feeder,
)
from gridlink.units import UnitError, series_with_unit

VM_ATOL_PU = 1e-6  # both sides converge to 1e-8 pu mismatch
LOADING_ATOL_PERCENT = 1e-4


def _profile(values, start="2026-03-01", freq="15min", tz="UTC", unit="MW") -> pd.Series:
    idx = pd.date_range(start, periods=len(values), freq=freq, tz=tz)
    return series_with_unit(pd.Series(np.asarray(values, dtype=float), index=idx), unit)


def _direct(net, bus: int, p_mw: float, pf: float = 0.95):
    """Set the facility by hand and run pandapower's power flow: the reference."""
    ref = copy.deepcopy(net)
    q = p_mw * math.sqrt(1.0 - pf**2) / pf
    pp.create_load(ref, bus=bus, p_mw=p_mw, q_mvar=q)
    try:
        pp.runpp(ref, numba=False, tolerance_mva=1e-8)
    except pp.LoadflowNotConverged:
        return None
    return ref


@pytest.fixture(scope="module")
def cigre() -> object:
    return load_network("cigre_mv", load_scaling=0.5)


@pytest.fixture(scope="module")
def day_profile() -> pd.Series:
    rng = np.random.default_rng(7)
    t = np.arange(96)
    values = 4.0 + 2.5 * np.sin(2 * np.pi * t / 96) + rng.normal(0.0, 0.3, t.size)
    return _profile(values)


# ------------------------------------------------------------------ agreement


@pytest.mark.parametrize("backend", ["fast", "pandapower"])
def test_cigre_voltages_match_direct_runpp(cigre, day_profile, backend):
    res = run_feeder(cigre, 1, day_profile, backend=backend)
    assert res.backend == backend
    assert res.converged.all()
    for step in (0, 17, 40, 63, 95):
        ref = _direct(cigre, 1, float(day_profile.iloc[step]))
        when = day_profile.index[step]
        np.testing.assert_allclose(
            res.vm_pu.loc[when].to_numpy(), ref.res_bus.vm_pu.to_numpy(), atol=VM_ATOL_PU, rtol=0
        )
        np.testing.assert_allclose(
            res.line_loading_percent.loc[when].to_numpy(),
            ref.res_line.loading_percent.to_numpy(),
            atol=LOADING_ATOL_PERCENT,
            rtol=0,
        )
        np.testing.assert_allclose(
            res.trafo_loading_percent.loc[when].to_numpy(),
            ref.res_trafo.loading_percent.to_numpy(),
            atol=LOADING_ATOL_PERCENT,
            rtol=0,
        )


@pytest.mark.parametrize("name,bus", [("mv_oberrhein", 80), ("case33bw", 17)])
def test_fast_backend_matches_direct_runpp_on_other_networks(name, bus):
    net = load_network(name)
    values = [0.0, 0.4, 1.1, 0.7, 1.1]
    res = run_feeder(net, bus, _profile(values), backend="fast")
    for step in (1, 2, 4):
        ref = _direct(net, bus, values[step])
        got = res.vm_pu.iloc[step].to_numpy()
        want = ref.res_bus.vm_pu.to_numpy()
        live = ~np.isnan(want)
        assert np.array_equal(np.isnan(got), ~live)
        np.testing.assert_allclose(got[live], want[live], atol=VM_ATOL_PU, rtol=0)
        np.testing.assert_allclose(
            res.line_loading_percent.iloc[step].to_numpy(),
            ref.res_line.loading_percent.to_numpy(),
            atol=LOADING_ATOL_PERCENT,
            rtol=0,
        )
    # identical injections are solved once
    assert res.n_power_flows == 4


def test_reactive_power_from_power_factor():
    q = reactive_power_mvar(np.array([0.0, 1.0, 10.0]), pf=0.8)
    np.testing.assert_allclose(q, [0.0, 0.75, 7.5])
    np.testing.assert_allclose(reactive_power_mvar(np.array([2.0]), pf=0.8, lagging=False), [-1.5])
    with pytest.raises(FeederError, match="pf"):
        reactive_power_mvar(np.array([1.0]), pf=1.2)


def test_leading_power_factor_and_given_q(cigre):
    prof = _profile([3.0, 6.0])
    lead = run_feeder(cigre, 11, prof, pf=0.9, lagging=False)
    ref = copy.deepcopy(cigre)
    pp.create_load(ref, bus=11, p_mw=6.0, q_mvar=-6.0 * math.sqrt(1 - 0.81) / 0.9)
    pp.runpp(ref, numba=False, tolerance_mva=1e-8)
    np.testing.assert_allclose(lead.vm_pu.iloc[1], ref.res_bus.vm_pu, atol=VM_ATOL_PU, rtol=0)
    q = pd.Series([0.0, -2.0], index=prof.index, name="q_mvar")
    given = run_feeder(cigre, 11, prof, q_mvar=q)
    ref = copy.deepcopy(cigre)
    pp.create_load(ref, bus=11, p_mw=6.0, q_mvar=-2.0)
    pp.runpp(ref, numba=False, tolerance_mva=1e-8)
    np.testing.assert_allclose(given.vm_pu.iloc[1], ref.res_bus.vm_pu, atol=VM_ATOL_PU, rtol=0)


# ------------------------------------------------------------- divergence


@pytest.mark.parametrize("backend", ["fast", "pandapower"])
def test_divergent_steps_are_reported_not_returned_as_numbers(backend):
    net = load_network("case33bw")
    values = [0.5, 0.5, 500.0, 500.0, 500.0, 0.5]
    assert _direct(net, 17, 500.0) is None  # independent: plain runpp cannot solve it
    res = run_feeder(net, 17, _profile(values), backend=backend)
    expected = np.array([True, True, False, False, False, True])
    np.testing.assert_array_equal(res.converged.to_numpy(), expected)
    assert res.n_not_converged == 3
    assert np.isnan(res.vm_pu.to_numpy()[~expected]).all()
    assert np.isnan(res.line_loading_percent.to_numpy()[~expected]).all()
    assert np.isnan(res.vm_min_pu.to_numpy()[~expected]).all()
    assert not np.isnan(res.vm_pu.to_numpy()[expected]).any()
    # the converged steps after the divergent ones are right, not recycled garbage
    ref = _direct(net, 17, 0.5)
    np.testing.assert_allclose(res.vm_pu.iloc[5], ref.res_bus.vm_pu, atol=VM_ATOL_PU, rtol=0)
    summary = res.summary()
    assert summary.loc["not_converged", "n_steps"] == 3
    assert summary.loc["not_converged", "duration_h"] == pytest.approx(0.75)
    assert res.binding["constraint"] == "not_converged"
    assert res.violations["any"].to_numpy()[~expected].all()
    assert not res.passes


# ------------------------------------------------------------- violations


def test_violations_and_durations_match_direct_runpp(cigre):
    values = [0.0, 2.5, 2.5, 0.5, 2.5, 0.0, 5.0, 1.0]
    res = run_feeder(cigre, 11, _profile(values, freq="30min"))
    under, line_over, trafo_over = [], [], []
    for p in values:
        ref = _direct(cigre, 11, p)
        under.append(ref.res_bus.vm_pu.min() < 0.95)
        line_over.append(ref.res_line.loading_percent.max() > 100.0)
        trafo_over.append(ref.res_trafo.loading_percent.max() > 100.0)
    assert any(under) and not all(under)  # the profile straddles the limit
    viol = res.violations
    np.testing.assert_array_equal(viol["undervoltage"].to_numpy(), under)
    np.testing.assert_array_equal(viol["line_overload"].to_numpy(), line_over)
    np.testing.assert_array_equal(viol["trafo_overload"].to_numpy(), trafo_over)
    summary = res.summary()
    assert summary.loc["undervoltage", "n_steps"] == sum(under)
    assert summary.loc["undervoltage", "duration_h"] == pytest.approx(0.5 * sum(under))
    assert summary.loc["undervoltage", "worst_time"] == res.time[6]
    ref = _direct(cigre, 11, 5.0)
    assert summary.loc["undervoltage", "worst"] == pytest.approx(ref.res_bus.vm_pu.min(), abs=1e-6)
    assert summary.loc["undervoltage", "element"] == f"bus {ref.res_bus.vm_pu.idxmin()}"


def test_custom_limits_change_violations(cigre, day_profile):
    strict = run_feeder(cigre, 1, day_profile, limits=Limits(vm_min_pu=0.99))
    loose = run_feeder(cigre, 1, day_profile, limits=Limits(vm_min_pu=0.90))
    assert strict.violations["undervoltage"].all()
    assert not loose.violations["undervoltage"].any()
    with pytest.raises(FeederError, match="vm_min_pu"):
        Limits(vm_min_pu=1.1, vm_max_pu=1.05)


# ------------------------------------------------------------- time index


def test_results_on_utc_timestamps_with_step_mapping(cigre):
    prof = _profile([1.0, 2.0, 3.0, 4.0], start="2026-03-29 00:00", tz="Europe/Berlin", freq="1h")
    res = run_feeder(cigre, 1, prof)
    assert str(res.vm_pu.index.tz) == "UTC"
    assert res.vm_pu.index.equals(prof.index.tz_convert("UTC"))
    assert list(res.steps.index) == [0, 1, 2, 3]
    assert res.steps.iloc[2] == prof.index[2]
    assert res.step_h == 1.0
    np.testing.assert_allclose(res.p_mw.to_numpy(), [1.0, 2.0, 3.0, 4.0])


def test_unit_conversion_and_resampling(cigre):
    kw = _profile([1000.0, 3000.0, 2000.0, 4000.0, 4000.0, 4000.0], freq="5min", unit="kW")
    res = run_feeder(cigre, 1, kw, freq="15min")
    np.testing.assert_allclose(res.p_mw.to_numpy(), [2.0, 4.0])  # energy-preserving means
    assert res.step_h == 0.25
    ref = _direct(cigre, 1, 4.0)
    np.testing.assert_allclose(res.vm_pu.iloc[1], ref.res_bus.vm_pu, atol=VM_ATOL_PU, rtol=0)


# ------------------------------------------------------------- bad input


def test_unit_errors(cigre):
    good = _profile([1.0, 2.0])
    with pytest.raises(UnitError, match="profile"):
        run_feeder(cigre, 1, series_with_unit(good, "W/m^2"))
    with pytest.raises(UnitError, match="profile"):
        run_feeder(cigre, 1, 5.0)
    with pytest.raises(UnitError, match="unit"):
        run_feeder(cigre, 1, pd.Series([1.0, 2.0], index=good.index))


def test_naive_index_and_bad_values_raise(cigre):
    naive = series_with_unit(
        pd.Series([1.0, 2.0], index=pd.date_range("2026-01-01", periods=2, freq="h")), "MW"
    )
    with pytest.raises(FeederError, match="naive"):
        run_feeder(cigre, 1, naive)
    with pytest.raises(FeederError, match="non-finite"):
        run_feeder(cigre, 1, _profile([1.0, np.nan]))
    with pytest.raises(FeederError, match="bus"):
        run_feeder(cigre, 999, _profile([1.0, 2.0]))
    with pytest.raises(FeederError, match="slack|PV"):
        run_feeder(cigre, 0, _profile([1.0, 2.0]), backend="fast")
    with pytest.raises(FeederError, match="backend"):
        run_feeder(cigre, 1, _profile([1.0, 2.0]), backend="gpu")
    irregular = series_with_unit(
        pd.Series(
            [1.0, 2.0, 3.0],
            index=pd.DatetimeIndex(
                ["2026-01-01 00:00", "2026-01-01 00:15", "2026-01-01 01:00"], tz="UTC"
            ),
        ),
        "MW",
    )
    with pytest.raises(ValueError, match="irregular"):
        prepare_profile(irregular)


def test_load_network_names():
    for name in ("cigre_mv", "mv_oberrhein", "case33bw"):
        net = load_network(name)
        pp.runpp(net, numba=False)
        assert net.converged
    half = load_network("cigre_mv", load_scaling=0.5)
    assert (half.load["scaling"] == 0.5).all()
    with pytest.raises(FeederError, match="cigre_mv"):
        load_network("ieee9000")


def test_fast_backend_refuses_networks_with_controllers(cigre):
    from pandapower.control import ConstControl
    from pandapower.timeseries import DFData

    net = copy.deepcopy(cigre)
    ConstControl(net, "load", "p_mw", element_index=[0], data_source=DFData(pd.DataFrame({"x": [1.0, 1.0]})),
                 profile_name=["x"])  # fmt: skip
    with pytest.raises(FeederError, match="controller"):
        run_feeder(net, 1, _profile([1.0, 2.0]), backend="fast")
    assert run_feeder(net, 1, _profile([1.0, 2.0]), backend="auto").backend == "pandapower"


# ------------------------------------------------------------- studies


def test_compare_profiles_table(cigre, day_profile):
    tdp = _profile(np.full(96, float(day_profile.max())))
    table = compare_profiles(cigre, 1, {"tdp": tdp, "model": day_profile})
    assert list(table.index) == ["tdp", "model"]
    assert table.loc["tdp", "energy_mwh"] == pytest.approx(float(day_profile.max()) * 24.0)
    assert table.loc["model", "energy_mwh"] == pytest.approx(float(day_profile.sum()) * 0.25)
    # TDP is the constant peak: its worst case equals the model's worst case
    ref = _direct(cigre, 1, float(day_profile.max()))
    assert table.loc["tdp", "vm_min_pu"] == pytest.approx(ref.res_bus.vm_pu.min(), abs=1e-6)
    assert table.loc["model", "vm_min_pu"] == pytest.approx(ref.res_bus.vm_pu.min(), abs=1e-6)
    assert table.loc["tdp", "n_violation_steps"] >= table.loc["model", "n_violation_steps"]


@pytest.fixture(scope="module")
def hc_shape() -> pd.Series:
    t = np.arange(48)
    return _profile(0.6 + 0.4 * np.sin(2 * np.pi * t / 48) ** 2, freq="30min")


def test_hosting_capacity_bounds_and_monotone(cigre, hc_shape):
    hc = hosting_capacity(cigre, 11, hc_shape)
    assert hc.unit == "MW" and hc.capacity > 0
    assert hc.capacity_peak_mw == pytest.approx(hc.capacity)
    scaled = hc_shape / hc_shape.max()

    def passes(size: float) -> bool:
        return run_feeder(cigre, 11, series_with_unit(scaled * size, "MW")).passes

    assert passes(hc.capacity)
    assert not passes(hc.capacity * 1.05)
    # monotone: once a size fails, every larger size fails
    outcomes = [passes(hc.capacity * f) for f in (0.1, 0.5, 0.9, 0.99, 1.0, 1.01, 1.2, 2.0, 4.0)]
    assert outcomes == sorted(outcomes, reverse=True)
    # the binding constraint is the one violated just above the capacity
    above = run_feeder(cigre, 11, series_with_unit(scaled * hc.first_failing, "MW"))
    assert above.violations[hc.binding_constraint].any()
    assert hc.binding_constraint != "not_converged"


def test_hosting_capacity_in_servers(cigre, hc_shape):
    server_kw = series_with_unit(hc_shape * 10.0, "kW")  # a 10 kW-peak server
    hc = hosting_capacity(cigre, 11, server_kw, unit="servers")
    assert hc.capacity == int(hc.capacity) and hc.first_failing == hc.capacity + 1
    per_server_mw = hc_shape.to_numpy() * 0.01

    def passes(n: int) -> bool:
        return run_feeder(cigre, 11, _profile(per_server_mw * n, freq="30min")).passes

    assert passes(int(hc.capacity)) and not passes(int(hc.capacity) + 1)


def test_hosting_capacity_refuses_violating_base_case(hc_shape):
    with pytest.raises(FeederError, match="without the facility"):
        hosting_capacity(load_network("cigre_mv"), 11, hc_shape)


# ------------------------------------------------------------- CLI


def test_cli_feeder_writes_tables_and_plot(tmp_path):
    import typer
    from typer.testing import CliRunner

    from gridlink.cli.commands.feeder import register
    from gridlink.cli.errors import HandledGroup

    app = typer.Typer(cls=HandledGroup)  # the gridlink app's error handler (exit 2)
    register(app)

    @app.callback()
    def _root() -> None:  # keep "feeder" as a named sub-command
        pass

    values = [0.5, 2.5, 2.5, 0.5]
    frame = pd.DataFrame(
        {"p_mw": values}, index=pd.date_range("2026-01-01", periods=4, freq="15min", tz="UTC")
    )
    frame.index.name = "time"
    frame.to_parquet(tmp_path / "pcc.parquet")
    out = tmp_path / "out"
    args = ["feeder", "--profile", str(tmp_path / "pcc.parquet"), "--network", "cigre_mv", "--bus", "11",
            "--load-scaling", "0.5", "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "undervoltage" in result.output and "binding" in result.output
    steps = pd.read_parquet(out / "feeder_steps.parquet")
    assert str(steps.index.tz) == "UTC" and len(steps) == 4
    net = load_network("cigre_mv", load_scaling=0.5)
    ref = _direct(net, 11, 2.5)
    assert steps["vm_min_pu"].iloc[1] == pytest.approx(ref.res_bus.vm_pu.min(), abs=1e-6)
    vm = pd.read_parquet(out / "vm_pu.parquet")
    assert vm.shape == (4, len(net.bus))
    assert (out / "feeder_voltage.png").stat().st_size > 0
    summary = pd.read_csv(out / "feeder_summary.csv", index_col=0)
    assert summary.loc["undervoltage", "n_steps"] == 2
    # a naive-time file is refused with a clear message
    frame.index = frame.index.tz_localize(None)
    frame.to_parquet(tmp_path / "naive.parquet")
    args[2] = str(tmp_path / "naive.parquet")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "naive" in result.output
