"""Expansion study with flexibility (issue 15) and the ``[flexibility]`` config table.

The deferrable part is exported with :mod:`gridlink.grid.flex_pypsa` (its own tests are
in ``tests/test_flex_pypsa.py``).  Expected values are hand-derived: energy sums of the
deferrable load, the feasibility argument (serving every MWh on arrival is a solution of
the flexible case, so its optimal system plus service cost is at most the inflexible
one's), the FIFO delay bound, the service cost as backlog x cost x hours.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_expansion import _generated_profile  # the same synthetic facility shape

from gridlink.config import ConfigError, parse_facility_config
from gridlink.grid.flex_expansion import run_flexibility_expansion_study
from gridlink.grid.flex_pypsa import DeferrableDemand, deferrable_demand_from_curtailment
from gridlink.grid.pypsa import PyPSAAdapterError


def _profile() -> pd.Series:
    """The shaped 15-min facility profile of tests/test_expansion.py, 48 h."""
    return _generated_profile(48)


@pytest.fixture(scope="module")
def study():
    flex = DeferrableDemand(share=0.2, p_max_mw=25.0, e_max_mwh=40.0, max_delay_h=4.0,
                            backlog_cost_per_mwh_h=1.0)  # fmt: skip
    return _profile(), flex, run_flexibility_expansion_study(_profile(), flex, tdp_mw=110.0, seed=3)


def test_flexible_case_serves_every_deferred_mwh_within_limits(study) -> None:
    profile, flex, st = study
    d = st.dispatch
    # hourly snapshots: the arrivals are 20 % of each hour's mean power
    hourly = profile.resample("h").mean().to_numpy()
    np.testing.assert_allclose(d["arrivals_mw"].to_numpy(), 0.2 * hourly, rtol=1e-12)
    assert d["served_mw"].sum() == pytest.approx(d["arrivals_mw"].sum(), rel=1e-9)
    assert d["backlog_mwh"].max() <= flex.e_max_mwh + 1e-6
    assert d["backlog_mwh"].iloc[-1] == pytest.approx(0.0, abs=1e-6)
    assert (d["served_mw"] <= flex.p_max_mw + 1e-6).all()
    # FIFO deadline: backlog <= work arrived in the last 4 hours
    last4 = d["arrivals_mw"].rolling(4, min_periods=1).sum().to_numpy()
    assert (d["backlog_mwh"].to_numpy() <= last4 + 1e-6).all()
    called = float((d["backlog_mwh"] > 1e-6).sum())
    assert st.summary.loc["flexibility called [h]", "model + flexibility"] == called > 0


def test_flexibility_saves_cost_against_the_inflexible_shape(study) -> None:
    _, flex, st = study
    s = st.summary
    cost = s.loc["total system cost [USD]"]
    service = s.loc["backlog service cost [USD]"]
    # the service cost by hand: backlog [MWh] x 1 USD/MWh/h x 1-h snapshots; none elsewhere
    assert service["model + flexibility"] == pytest.approx(
        st.dispatch["backlog_mwh"].sum() * flex.backlog_cost_per_mwh_h, rel=1e-9
    )
    assert service["model + flexibility"] > 0
    assert (service.drop("model + flexibility") == 0.0).all()
    # serving every MWh on arrival (no backlog, no service cost) is feasible in the flexible
    # case, so its system cost plus service cost is at most the inflexible shape's
    flexible = cost["model + flexibility"] + service["model + flexibility"]
    assert flexible <= cost["model"] * (1 + 1e-6)
    # the store's -cost x level term is not in the system cost: capital + operating only
    assert cost["model + flexibility"] == pytest.approx(
        s.loc["capital cost [USD]", "model + flexibility"]
        + s.loc["operating cost [USD]", "model + flexibility"]
    )
    assert s.loc["operating cost [USD]", "model + flexibility"] > 0
    assert cost["model"] < cost["tdp"]
    assert s.loc["cost saved vs tdp [USD]", "tdp"] == 0.0
    assert s.loc["cost saved vs tdp [USD]", "model + flexibility"] == pytest.approx(
        cost["tdp"] - cost["model + flexibility"] - service["model + flexibility"]
    )
    assert s.loc["facility energy [MWh]", "model + flexibility"] == pytest.approx(
        s.loc["facility energy [MWh]", "model"], rel=1e-9
    )


def test_curtailment_result_gives_deferrable_demand() -> None:
    from traces.facility import FacilitySpec, WorkloadScenario
    from traces.facility.flexibility import CurtailmentWindow, FlexibilitySpec, simulate_curtailment

    spec = FacilitySpec(rows=1, racks_per_row=1, servers_per_rack=2, assignment="qwen3-8b_H100_tp1",
                        gpus_per_server=2, horizon_s=900.0, seed=1,
                        scenario=WorkloadScenario(arrival="azure", rate_per_replica_rps=6.0))  # fmt: skip
    w = CurtailmentWindow(start_h=0.05, end_h=0.15, pcc_limit_mw=0.004, deferrable_share=0.5,
                          max_delay_h=0.5)  # fmt: skip
    res = simulate_curtailment(spec, FlexibilitySpec(curtailment=w))
    dd = deferrable_demand_from_curtailment(res, backlog_cost_per_mwh_h=2.0)
    assert dd.e_max_mwh == pytest.approx(res.summary["energy shifted [MWh]"])
    assert 0 < dd.share < 0.5  # the idle floor and base IT power are not deferrable
    assert dd.max_delay_h == 0.5
    assert dd.backlog_cost_per_mwh_h == 2.0 and "seed 1" in dd.source
    # a window that defers nothing has no deferrable demand to export: a clear error
    none = simulate_curtailment(
        spec, FlexibilitySpec(curtailment=CurtailmentWindow(start_h=0.05, end_h=0.15,
                                                            pcc_limit_mw=0.004))
    )  # fmt: skip
    with pytest.raises(PyPSAAdapterError, match="deferred nothing"):
        deferrable_demand_from_curtailment(none)


# ----------------------------------------------------------------------------- config


def _config(flex: dict) -> dict:
    return {
        "facility": {"rows": 1, "racks_per_row": 1, "servers_per_rack": 2, "gpus_per_server": 2},
        "assignment": {"config": "qwen3-8b_H100_tp1"},
        "run": {"horizon": "1h", "seed": 0},
        "flexibility": flex,
    }


def test_flexibility_table_is_read() -> None:
    cfg = parse_facility_config(_config({
        "gpu_power_cap_w": 350, "cap_sensitivity": 0.5,
        "curtailment": {"start_h": 0.25, "end_h": 0.5, "pcc_limit_mw": 0.01,
                        "deferrable_share": 0.2, "max_delay_h": 1.0},
    }))  # fmt: skip
    f = cfg.flexibility
    assert f is not None and f.gpu_power_cap_w == 350.0 and f.cap_sensitivity == 0.5
    assert f.curtailment is not None and f.curtailment.end_h == 0.5
    assert parse_facility_config({k: v for k, v in _config({}).items() if k != "flexibility"}
                                 ).flexibility is None  # fmt: skip


@pytest.mark.parametrize(
    ("flex", "match"),
    [
        ({"gpu_power_cap_w": 0}, "flexibility.gpu_power_cap_w must be > 0"),
        ({"curtailment": {"start_h": 0.5, "end_h": 2.0, "pcc_limit_mw": 1.0}},
         "flexibility.curtailment.end_h=2.0 h lies outside the horizon"),
        ({"curtailment": {"start_h": 0.0, "end_h": 0.5, "pcc_limit_mw": 1.0,
                          "deferrable_share": 2}}, "flexibility.curtailment.deferrable_share"),
        ({"curtailment": {"start_h": 0.0, "end_h": 0.5}}, "needs \\['pcc_limit_mw'\\]"),
        ({"cap_w": 300}, "unknown key"),
    ],
)  # fmt: skip
def test_bad_flexibility_table_names_file_and_field(flex, match) -> None:
    with pytest.raises(ConfigError, match=match) as err:
        parse_facility_config(_config(flex), source="hall.toml")
    assert "hall.toml" in str(err.value)


HALL_TOML = """
[facility]
rows = 1
racks_per_row = 1
servers_per_rack = 2
gpus_per_server = 2

[assignment]
config = "qwen3-8b_H100_tp1"

[workload]
arrival = "azure"
rate_per_replica_rps = 6.0

[run]
horizon = "10min"
seed = 1
resolution = "1min"

[flexibility]
gpu_power_cap_w = 400

[flexibility.curtailment]
start_h = 0.05
end_h = 0.1
pcc_limit_mw = 0.004
deferrable_share = 0.5
max_delay_h = 0.5
"""


def test_generate_command_runs_the_flexibility_table(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from gridlink.cli import app

    cfg = tmp_path / "hall.toml"
    cfg.write_text(HALL_TOML)
    out = tmp_path / "out"
    r = CliRunner().invoke(
        app, ["generate", "--config", str(cfg), "--out", str(out), "--no-progress"]
    )
    assert r.exit_code == 0, r.output
    flex = json.loads((out / "flexibility.json").read_text())
    pcc = pd.read_parquet(out / "pcc_mw_250ms.parquet")["p_mw"].to_numpy()
    k0, k1 = int(0.05 * 3600 / 0.25), int(0.1 * 3600 / 0.25)
    assert pcc[k0:k1].max() <= 0.004 == flex["pcc limit [MW]"]
    assert flex["requests deferred"] > 0 and "requests deferred" in r.output
    # a window outside the horizon: one line, exit 2
    bad = tmp_path / "bad.toml"
    bad.write_text(HALL_TOML.replace("end_h = 0.1", "end_h = 1.0"))
    r = CliRunner().invoke(app, ["generate", "--config", str(bad), "--out", str(out)])
    assert r.exit_code == 2 and "flexibility.curtailment.end_h=1.0 h lies outside" in r.output
