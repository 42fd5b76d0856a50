"""The main job ``gridlink demo`` and the case study, run end to end at a reduced size."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from gridlink.cli import app

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("demo")
    args = [
        "demo",
        "--out",
        str(out),
        "--rows",
        "1",
        "--racks-per-row",
        "2",
        "--servers-per-rack",
        "2",
        "--minutes",
        "30",
        "--oversub-seeds",
        "2",
        "--oversub-minutes",
        "1",
        "--correlation-seeds",
        "1",
        "--row-limit-kw",
        "15",
        "--no-progress",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out, result.output


def test_demo_summary(demo_out, cfg) -> None:
    out, _ = demo_out
    summary = json.loads((out / "summary.json").read_text())
    keys = {"peak_mw", "mean_mw", "peak_to_average", "load_factor", "max_ramp_mw_per_15min"}
    for method in ("model", "tdp", "mean", "lut"):
        assert keys <= set(summary[method]), method
        assert summary[method]["peak_mw"] >= summary[method]["mean_mw"] > 0
    # TDP by hand: PUE x servers x (replicas x TDP + base); by default one replica per
    # server, and tdp_w is the nameplate of the replica's TP GPUs
    expected = 1.3 * 4 * (cfg.tdp_w / 1e3 + 1.0) / 1e3
    assert summary["tdp"]["peak_mw"] == pytest.approx(expected, rel=1e-12)
    assert summary["tdp"]["load_factor"] == pytest.approx(1.0)
    assert summary["tdp"]["max_ramp_mw_per_15min"] == pytest.approx(0.0, abs=1e-15)
    # the model's mean is below nameplate
    assert summary["model"]["mean_mw"] < summary["tdp"]["mean_mw"]
    # oversubscription: TDP racks by hand under 15 kW: floor(15 / (2 x (TDP + 1 kW)))
    rack_kw = 2 * (cfg.tdp_w / 1e3 + 1.0)
    assert summary["oversubscription"]["racks_p95"]["tdp"] == int(15 // rack_kw)
    assert summary["oversubscription"]["racks_p95"]["model"] >= int(15 // rack_kw)
    assert "CC BY 4.0" in summary["attribution"]


def test_demo_files(demo_out) -> None:
    out, output = demo_out
    for name in (
        "table3.csv",
        "oversubscription.csv",
        "oversubscription_by_correlation.csv",
        "aggregation_cv.csv",
        "pcc_mw.parquet",
        "pcc.png",
        "rack_heatmap.png",
        "hierarchy.png",
        "oversubscription.png",
        "ATTRIBUTION.txt",
    ):
        assert (out / name).exists(), name
    assert "CC BY 4.0" in (out / "ATTRIBUTION.txt").read_text()
    table = pd.read_csv(out / "table3.csv", index_col="method")
    assert list(table.index) == ["model", "tdp", "mean", "lut"]
    pcc = pd.read_parquet(out / "pcc_mw.parquet")
    assert len(pcc) == 30 and pcc.index.tz is not None
    assert str(out / "summary.json") in output
    assert "Table 3" in output


def test_demo_names_the_files_where_they_end_up(demo_out) -> None:
    # the demo is written into a staged folder and swapped in: every path it reports
    # (summary, printed lines, the interconnection report) is under --out and exists
    out, output = demo_out
    summary = json.loads((out / "summary.json").read_text())
    for name, path in summary["files"].items():
        assert Path(path).parent in (out, out / "interconnection"), name
        assert Path(path).exists(), name
    report = Path(summary["interconnection"]["report"])
    assert report == out / "interconnection" / "report.html" and report.is_file()
    assert f"report: {report}" in output
    assert ".tmp-" not in output


def test_demo_grid_studies(demo_out) -> None:
    """The demo's feeder study and capacity-expansion test, checked against the hall run
    and by hand (flat TDP energy over the studied hours)."""
    out, output = demo_out
    summary = json.loads((out / "summary.json").read_text())
    feeder = summary["feeder"]
    # the feeder ran on the PCC profiles written at the output resolution (1 min)
    pcc = pd.read_parquet(out / "pcc_mw.parquet")
    for method in ("model", "tdp", "mean", "lut"):
        assert feeder["comparison"][method]["peak_mw"] == pytest.approx(
            pcc[f"{method}_p_mw"].max(), rel=1e-9
        )
        assert feeder["comparison"][method]["n_not_converged"] == 0
    # hosting capacity in servers: the capacity's peak is servers x one server's peak
    n_servers = summary["facility"]["n_servers"]
    for method in ("model", "tdp"):
        hc = feeder["hosting_capacity_servers"][method]
        per_server_peak = pcc[f"{method}_p_mw"].max() / n_servers
        assert hc["peak_mw"] == pytest.approx(hc["servers"] * per_server_peak, rel=1e-9)
        assert hc["servers"] > n_servers  # a 4-server hall is far below a 20 kV feeder's limit
    expansion = summary["expansion"]
    table = pd.read_csv(out / "expansion_summary.csv", index_col=0)
    hours = expansion["hours"]
    # TDP booked flat at nameplate: energy by hand
    assert table.loc["facility energy [MWh]", "tdp"] == pytest.approx(
        expansion["facility_nameplate_mw"] * hours, rel=1e-9
    )
    # the flat mean carries the generated shape's energy; nameplate books more
    assert table.loc["facility energy [MWh]", "mean"] == pytest.approx(
        table.loc["facility energy [MWh]", "model"], rel=1e-9
    )
    assert table.loc["facility energy [MWh]", "tdp"] > table.loc["facility energy [MWh]", "model"]
    assert table.loc["unserved energy [MWh]"].max() == pytest.approx(0.0, abs=1e-9)
    assert (out / "feeder_voltage.png").exists()
    assert "Capacity expansion" in output and "hosting capacity" in output


def test_case_study_runs_reduced(tmp_path, monkeypatch) -> None:
    """The diurnal case study's config validates and its script runs on a small hall."""
    from gridlink.config import load_facility_config

    run = load_facility_config(REPO / "case_studies" / "azure_diurnal_day.toml")
    assert len(run.spec.scenario.profile) == 96
    assert "DIGITIZED ESTIMATE" in run.spec.scenario.profile_label
    assert run.spec.horizon_s == 86400.0
    # the hourly means of the 96 values reproduce the README's hour 19 peak (4854/min)
    hourly = [sum(run.spec.scenario.profile[4 * h : 4 * h + 4]) / 4 for h in range(24)]
    assert max(range(24), key=hourly.__getitem__) == 19
    assert hourly[19] == pytest.approx(4854, abs=1)
    monkeypatch.syspath_prepend(str(REPO / "case_studies"))
    sys.modules.pop("azure_diurnal_day", None)
    import azure_diurnal_day

    summary = azure_diurnal_day.main(
        [
            "--hours",
            "0.5",
            "--start-hour",
            "19",
            "--rows",
            "1",
            "--out",
            str(tmp_path),
            "--no-progress",
        ]
    )
    assert set(summary["table3"]) == {"model", "tdp"}
    assert (tmp_path / "model" / "pcc_mw.parquet").exists()
