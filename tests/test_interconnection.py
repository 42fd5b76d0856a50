"""The large-load interconnection study against hand calculations (issue 14)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gridlink.studies.interconnection import (
    InterconnectionError,
    LoadLossEvent,
    RackRideThrough,
    RideThroughEnvelope,
    Sag,
    apply_load_loss,
    ride_through,
    worst_case_loss,
)
from gridlink.units import series_with_unit

START = pd.Timestamp("2026-01-01T00:00:00Z")


def series(values: np.ndarray, step: str = "250ms") -> pd.Series:
    idx = pd.date_range(START, periods=len(values), freq=step, tz="UTC")
    return series_with_unit(pd.Series(np.asarray(values, float), index=idx), "MW")


def racks(n_t: int, mw: list[float], spr: int = 1) -> pd.DataFrame:
    idx = pd.date_range(START, periods=n_t, freq="250ms", tz="UTC")
    df = pd.DataFrame(np.tile(np.asarray(mw, float), (n_t, 1)), index=idx,
                      columns=[f"r{i}" for i in range(len(mw))])  # fmt: skip
    df.attrs["unit"] = "MW"
    df.attrs["servers_per_rack"] = spr
    return df


# --------------------------------------------------------------------------- events


def test_load_loss_energy_and_step_at_once() -> None:
    rk = racks(2400, [0.5, 0.5, 0.5, 0.5])  # 2 MW for 600 s
    ev = apply_load_loss(
        rk, LoadLossEvent(start=START + pd.Timedelta("100s"), share=1.0, duration_s=30.0)
    )
    assert ev.step_mw == pytest.approx(2.0)
    assert ev.return_step_mw == pytest.approx(2.0)
    assert ev.energy_not_served_mwh == pytest.approx(2.0 * 30.0 / 3600.0)  # 2 MW x 30 s
    assert ev.p_mw[START + pd.Timedelta("110s")] == 0.0
    assert ev.p_mw[START + pd.Timedelta("130s")] == pytest.approx(2.0)
    assert ev.drop_time == START + pd.Timedelta("100s")
    assert ev.restored_time == START + pd.Timedelta("130s")


def test_load_loss_with_ramp_limit_and_partial_share() -> None:
    rk = racks(2400, [0.5, 0.5, 0.5, 0.5], spr=2)
    # return limited to 12 MW/min = 0.05 MW per 250 ms step: 2 MW back after M = 40 steps;
    # energy = 2 MW x 30 s + sum_{k<40} (2 - 0.05 k) MW x 0.25 s
    ev = apply_load_loss(
        rk,
        LoadLossEvent(
            start=START + pd.Timedelta("100s"), duration_s=30.0, return_ramp_mw_per_min=12.0
        ),
    )
    extra_mws = sum((2.0 - 0.05 * k) * 0.25 for k in range(40))
    assert ev.energy_not_served_mwh == pytest.approx((2.0 * 30.0 + extra_mws) / 3600.0)
    assert ev.return_step_mw == pytest.approx(0.05)
    assert ev.restored_time == START + pd.Timedelta("140s")
    # 3 of 8 servers: rack 0 whole, half of rack 1; rack 1 returns 1 s after rack 0
    ev = apply_load_loss(
        rk,
        LoadLossEvent(
            start=START + pd.Timedelta("100s"), share=0.375, duration_s=30.0, stagger_s=1.0
        ),
    )
    assert ev.racks["fraction"].tolist() == [1.0, 0.5, 0.0, 0.0]
    assert ev.step_mw == pytest.approx(0.75)
    assert ev.energy_not_served_mwh == pytest.approx((0.75 * 30.0 + 0.25 * 1.0) / 3600.0)
    for bad in (-0.1, 1.01):
        with pytest.raises(InterconnectionError, match=r"event.share: .* outside \[0, 1\]"):
            LoadLossEvent(start=START, share=bad)
    with pytest.raises(InterconnectionError, match="event.start"):
        apply_load_loss(rk, LoadLossEvent(start=START + pd.Timedelta("2h")))


PRC = RideThroughEnvelope((0.45, 0.65, 0.75, 0.90), (0.15, 0.30, 2.0, 3.0))


def test_envelope_boundaries() -> None:
    assert PRC.required_s(0.4499) == 0.15
    assert PRC.required_s(0.45) == 0.30  # a threshold belongs to the looser band
    assert PRC.required_s(0.8999) == 3.0
    assert PRC.required_s(0.90) == math.inf
    assert PRC.must_ride_through(0.5, 0.30)  # the required time itself must be ridden
    assert not PRC.must_ride_through(0.5, 0.3001)
    with pytest.raises(InterconnectionError, match=r"envelope.threshold: not monotone at row 2"):
        RideThroughEnvelope((0.45, 0.65, 0.60), (0.1, 0.2, 0.3))
    with pytest.raises(InterconnectionError, match=r"envelope.duration_s: not monotone at row 1"):
        RideThroughEnvelope((0.45, 0.65), (0.3, 0.2))
    high = RideThroughEnvelope((1.2, 1.1), (0.2, 1.0), side="high")
    assert high.required_s(1.25) == 0.2 and high.required_s(1.15) == 1.0
    assert high.required_s(1.1) == math.inf


def test_ride_through_decision_at_the_boundaries() -> None:
    rk = racks(2400, [1.0, 1.0, 1.0, 1.0])
    at = START + pd.Timedelta("100s")
    settings = RackRideThrough(v_transfer_pu=0.7, t_transfer_s=0.3, return_delay_s=10.0)
    cases = [
        (0.70, 1.0, True),  # at the threshold voltage: not below it, rides through
        (0.69, 0.30, True),  # exactly the transfer delay: not longer, rides through
        (0.69, 0.3001, False),  # longer than the delay: transfers
    ]
    for v, d, rides in cases:
        res = ride_through(rk, Sag(at, v, d), settings, PRC)
        assert res.racks["rides_through"].all() == rides, (v, d)
    res = ride_through(rk, Sag(at, 0.69, 0.5), settings, PRC)
    # transfers 0.3 s into the sag, returns 10 s after it ends; 4 MW off the grid
    assert (res.racks["transfer_time"] == at + pd.Timedelta("300ms")).all()
    assert (res.racks["return_time"] == at + pd.Timedelta("10.5s")).all()
    assert res.event.step_mw == pytest.approx(4.0)
    # a 0.69 pu sag for 0.5 s is inside PRC's 2 s ride-through: a violation of the envelope
    assert res.racks["envelope_violation"].all() and bool(res.sags["must_ride_through"][0])
    # the setting check: bands below 0.7 pu need 0.15, 0.30 and 2.0 s
    per_rack = RackRideThrough(
        v_transfer_pu=[0.7, 0.7, 0.6, 0.95], t_transfer_s=[2.0, 1.99, 0.3, 9.0]
    )
    assert per_rack.compliant(PRC, 4).tolist() == [True, False, True, False]
    with pytest.raises(
        InterconnectionError, match="ride_through.t_transfer_s: 2 values for 4 racks"
    ):
        RackRideThrough(t_transfer_s=[0.1, 0.2]).per_rack(4)


def test_repeated_dips_lock_out() -> None:
    rk = racks(2400, [1.0, 1.0])
    at = START + pd.Timedelta("100s")
    sags = [Sag(at + pd.Timedelta(seconds=15 * k), 0.5, 0.1) for k in range(4)]
    settings = RackRideThrough(
        v_transfer_pu=[0.7, 0.4], t_transfer_s=1.0, dip_count=3, dip_window_s=60.0
    )
    res = ride_through(rk, sags, settings, PRC)
    # rack 0 sees every dip below 0.7 pu and locks out at the third; rack 1 (0.4 pu) never
    assert res.racks["cause"].tolist() == ["dip count", ""]
    assert res.racks["transfer_time"].iloc[0] == at + pd.Timedelta("30s")
    assert res.racks["rides_through"].tolist() == [False, True]


def test_worst_case_loss() -> None:
    p = series([100.0, 300.0, 250.0])
    w = worst_case_loss(p, 2600.0)
    assert (w["loss_mw"], w["exceeds"], w["margin_mw"], w["facilities_to_limit"]) == (
        300.0,
        False,
        2300.0,
        9,
    )
    w = worst_case_loss(p, 200.0, susceptible_share=0.5)
    assert w["loss_mw"] == 150.0 and not w["exceeds"]
    assert worst_case_loss(p, 250.0)["exceeds"]
    with pytest.raises(InterconnectionError, match="susceptible_share"):
        worst_case_loss(p, 200.0, susceptible_share=2.0)


# --------------------------------------------------------------------------- feeder


def test_reactive_power_conventions() -> None:
    from gridlink.studies.interconnection.event_study import ReactivePower

    p = series([0.0, 1.0, 2.0])
    q = ReactivePower().q_mvar(p)
    np.testing.assert_allclose(q, p * math.tan(math.acos(0.95)))
    assert (ReactivePower(lagging=False).q_mvar(p) <= 0).all()
    table = ReactivePower(q_table=((0.0, 0.0), (1.0, 0.1), (2.0, 0.5)))
    np.testing.assert_allclose(table.q_mvar(series([0.5, 1.5])), [0.05, 0.3])
    with pytest.raises(InterconnectionError, match="reactive.q_table: covers 0..2 MW"):
        table.q_mvar(series([1.0, 3.0]))
    with pytest.raises(InterconnectionError, match="reactive.pf"):
        ReactivePower(pf=1.2)


def test_event_study_voltage_rises_when_load_drops_on_a_radial_feeder() -> None:
    from gridlink.grid.feeder import load_network
    from gridlink.studies.interconnection.event_study import run_event_study

    net = load_network("case33bw")  # Baran & Wu 33-bus radial feeder, 12.66 kV
    rk = racks(4 * 240, [0.25, 0.25, 0.25, 0.25])  # 1 MW facility at the feeder's end bus 17
    ev = apply_load_loss(rk, LoadLossEvent(start=START + pd.Timedelta("60s"), duration_s=60.0))
    st = run_event_study(net, 17, ev, step="1s")
    s = st.summary
    assert s["converged_all"]
    assert s["voltage_step_pu"] > 1e-3  # 1 MW off the end of a weak feeder: a clear rise
    assert s["voltage_rise_vs_baseline_pu"] == pytest.approx(s["voltage_step_pu"], rel=1e-6)
    ph = st.phases
    assert ph.loc["during", "pcc_vm_min_pu"] > ph.loc["before", "pcc_vm_max_pu"]
    assert ph.loc["after", "pcc_vm_mean_pu"] == pytest.approx(
        ph.loc["before", "pcc_vm_mean_pu"], abs=1e-9
    )
    assert ph.loc["during", "trafo_loading_max_percent"] <= ph.loc[
        "before", "trafo_loading_max_percent"
    ] or np.isnan(ph.loc["during", "trafo_loading_max_percent"])
    assert ph["n_steps"].tolist() == [60, 60, 120]
    assert "not a dynamic (RMS)" in s["note"]


# --------------------------------------------------------------------------- command


HALL = """
[facility]
rows = 1
racks_per_row = 2
servers_per_rack = 2
[assignment]
config = "{cid}"
[workload]
arrival = "azure"
rate_per_replica_rps = 4.0
[run]
horizon = "10min"
seed = 0
resolution = "1min"
start = "2024-05-16T00:00:00Z"
"""


def test_interconnection_command(tmp_path: Path, config_id: str) -> None:
    from gridlink.cli import app

    cfg = tmp_path / "hall.toml"
    cfg.write_text(HALL.format(cid=config_id))
    out = tmp_path / "report"
    args = ["interconnection", "--config", str(cfg), "--network", "cigre_mv", "--bus", "1", "--out", str(out),
            "--event", "share=0.5,duration=30s,stagger=1s", "--sag", "at=2024-05-16T00:05:00Z,v=0.5,duration=0.2s",
            "--event-step", "1s"]  # fmt: skip
    runner = CliRunner()
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "quasi-static" in result.output
    for name in ("report.html", "statistics.json", "ramps.csv", "ldc.csv", "spectrum_bands.csv",
                 "event_load_loss_pq.csv", "event_ride_through_pq.csv", "rack_ride_through.csv",
                 "profile.png", "ramps.png", "ldc.png", "spectrum.png", "event_load_loss.png"):  # fmt: skip
        assert (out / name).is_file(), name
    stats = json.loads((out / "statistics.json").read_text())
    assert stats["units"]["facts"]["peak_mw"] == "MW"
    assert stats["spectrum"]["nyquist_hz"] == 2.0
    assert stats["ramp_windows_not_measured"] == {"10min": "not shorter than the series (10min)",
                                                  "1h": "not shorter than the series (10min)"}  # fmt: skip
    ll = stats["events"]["load_loss"]["summary"]
    pq = pd.read_csv(out / "event_load_loss_pq.csv", index_col=0, parse_dates=True)
    assert list(pq.columns) == ["p_mw", "q_mvar", "p_base_mw", "converged", "pcc_vm_pu"]
    assert pq.index[1] - pq.index[0] == pd.Timedelta("1s")
    # half of the 4 servers off for 30 s: the lost energy is what the P(t) export shows
    lost = ((pq["p_base_mw"] - pq["p_mw"]) / 3600.0).sum()
    assert lost == pytest.approx(ll["energy_not_served_mwh"], rel=1e-9)
    assert ll["voltage_step_pu"] > 0
    assert not list(tmp_path.glob(".report.tmp-*"))  # written atomically, nothing left over
    again = runner.invoke(app, args)
    assert again.exit_code == 2
    assert "already holds results" in again.output and "--overwrite" in again.output
    assert len(again.output.strip().splitlines()) == 1
    bad = runner.invoke(app, [*args[:-6], "--out", str(tmp_path / "x"), "--event", "share=1.5"])
    assert bad.exit_code == 2 and "event.share" in bad.output
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0


def test_demo_has_an_interconnection_section(tmp_path: Path) -> None:
    """``gridlink demo`` runs the study on its hall and prints its lines (small hall)."""
    from gridlink.studies.demo import DemoOptions, format_report, run_demo

    opts = DemoOptions(
        out_dir=tmp_path / "demo", rows=1, racks_per_row=2, servers_per_rack=2, horizon_s=900.0,
        oversub_seeds=1, oversub_horizon_s=60.0, correlations=(0.0,), row_limit_kw=15.0,
        progress=False,
    )  # fmt: skip
    report = run_demo(opts)
    ic = report.summary["interconnection"]
    assert (tmp_path / "demo" / "interconnection" / "report.html").is_file()
    text = format_report(report)
    assert "Interconnection study" in text and "quasi-static" in text
    # the default event drops the whole hall: its step is the load at the drop, the highest
    # 250 ms load of the times whose study window (60 s before, 180 s after) fits
    pcc = report.results["model"].pcc_mw_250ms
    drop = pd.Timestamp(ic["load_loss"]["drop_time_utc"])
    assert ic["load_loss"]["event_step_mw"] == pytest.approx(pcc[drop], rel=1e-12)
    fits = pcc[pcc.index[0] + pd.Timedelta("60s") : pcc.index[-1] - pd.Timedelta("179.75s")]
    assert pcc[drop] == fits.max()
    assert ic["worst_case"]["loss_mw"] == pytest.approx(float(pcc.max()), rel=1e-12)


def test_default_event_time_leaves_room_for_the_study_window() -> None:
    from gridlink.studies.interconnection.study import default_event_time

    p = np.ones(4 * 600)
    p[-1] = 9.0  # the peak in the last sample: no room for the event after it
    p[100] = 5.0  # 25 s after the start: no room before it
    p[1000] = 3.0  # 250 s: the window fits
    assert default_event_time(series(p), 60.0) == START + pd.Timedelta("250s")
    assert default_event_time(series(p[:100]), 60.0) == START  # too short: overall peak


def test_study_reports_coincidence_with_the_one_definition() -> None:
    """run_study's coincidence numbers are gridlink.stats' (one definition), checked by hand:
    the facility is 2 MW from 100 s to 200 s and 1 MW otherwise; the system peaks in the
    sixth minute, where the facility draws 1 MW; its 1-min peak is 2 MW (minute 2)."""
    from gridlink.studies.interconnection.study import racks_from_profile, run_study

    t = np.arange(4 * 600) * 0.25
    pcc = series(np.where((t >= 100) & (t < 200), 2.0, 1.0))
    sysl = series([10.0, 11.0, 12.0, 13.0, 14.0, 30.0, 15.0, 14.0, 13.0, 12.0], step="1min")
    st = run_study(
        pcc_mw=pcc, rack_mw=racks_from_profile(pcc, 2), network="case33bw", bus=17,
        system_load=sysl, normal_freq=None, event_step="1s",
    )  # fmt: skip
    assert st.coincidence["contribution_to_system_peak_mw"] == pytest.approx(1.0)
    assert st.coincidence["coincidence_factor"] == pytest.approx(0.5)
    # the default event drops the 2 MW plateau's first sample that leaves room for the window
    assert st.event_studies["load_loss"].event.step_mw == pytest.approx(2.0)
    assert st.facts["largest_step_mw"] == 1.0


def test_frequency_ride_through_at_the_boundaries() -> None:
    from gridlink.studies.interconnection import (
        FrequencyExcursion,
        RackFrequencyRideThrough,
        frequency_ride_through,
    )

    rk = racks(2400, [1.0, 1.0, 1.0, 1.0])
    at = START + pd.Timedelta("100s")
    # a hand-made under-frequency table: below 57 Hz 0 s, 57-58.4 Hz 30 s, 58.4-59.4 Hz
    # 1,800 s, above 59.4 Hz continuous (the format of a frequency ride-through table)
    low = RideThroughEnvelope((57.0, 58.4, 59.4), (0.0, 30.0, 1800.0), quantity="frequency_hz")
    settings = RackFrequencyRideThrough(f_min_hz=58.0, t_transfer_s=0.1, return_delay_s=10.0)
    cases = [
        (58.0, 5.0, True),  # at the window's edge: inside it, rides through
        (57.9, 0.1, True),  # exactly the detection delay: not longer, rides through
        (57.9, 0.1001, False),  # longer than the delay: transfers
        (63.5, 5.0, False),  # above the 63 Hz default window: transfers
    ]
    for f, d, rides in cases:
        res = frequency_ride_through(rk, FrequencyExcursion(at, f, d), settings, [low])
        assert res.racks["rides_through"].all() == rides, (f, d)
    res = frequency_ride_through(rk, FrequencyExcursion(at, 57.5, 10.0), settings, [low])
    assert (res.racks["transfer_time"] == at + pd.Timedelta("100ms")).all()
    assert (res.racks["return_time"] == at + pd.Timedelta("20s")).all()
    assert res.event.step_mw == pytest.approx(4.0)
    # 57.5 Hz for 10 s lies inside the 30 s band: the envelope required riding through
    assert res.sags["required_s"][0] == 30.0 and bool(res.sags["must_ride_through"][0])
    assert res.racks["envelope_violation"].all()
    # below 57 Hz nothing is required: transferring is no violation
    res = frequency_ride_through(rk, FrequencyExcursion(at, 56.5, 10.0), settings, [low])
    assert not res.racks["envelope_violation"].any()
    # an over-frequency excursion is not judged by an under-frequency table
    res = frequency_ride_through(rk, FrequencyExcursion(at, 63.5, 5.0), settings, [low])
    assert np.isnan(res.sags["required_s"][0]) and not res.racks["envelope_violation"].any()
    with pytest.raises(InterconnectionError, match="f_min_hz >= f_max_hz"):
        RackFrequencyRideThrough(f_min_hz=61.0, f_max_hz=59.0).per_rack(4)
    with pytest.raises(InterconnectionError, match="envelopes: expected frequency_hz"):
        frequency_ride_through(rk, FrequencyExcursion(at, 57.5, 1.0), settings, [PRC])
