"""Facility aggregation (paper §3.4, Eqs 10-11): topology, seeding, traffic, energy, dask.

All generation uses a real shipped configuration (``traces.registry``).  Expected values
are computed here independently of the code under test: hand arithmetic for the
topology and TDP levels, direct calls to the configuration for one server's power, and
plain numpy sums for conservation.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traces import DT_S
from traces.facility import (
    Assignment,
    FacilityConfigError,
    FacilitySpec,
    WorkloadScenario,
    replica_schedule,
    resample_energy_mean,
    server_seed,
    shared_intensity,
    simulate_facility,
    simulate_methods,
    simulate_racks,
)


def small_spec(config_id: str, **kw) -> FacilitySpec:
    from traces.registry import load_configuration

    base = dict(
        rows=2,
        racks_per_row=2,
        servers_per_rack=2,
        assignment=config_id,
        gpus_per_server=load_configuration(config_id).tp,  # one replica per server
        scenario=WorkloadScenario(arrival="azure", rate_per_replica_rps=1.0),
        horizon_s=120.0,
        resolution="1min",
        seed=7,
    )
    base.update(kw)
    return FacilitySpec(**base)


# ----------------------------------------------------------------------------- topology


def test_assignment_by_row_rack_fraction() -> None:
    a = Assignment(configs=("a", "b"), by="row")
    got = a.server_configs(rows=2, racks_per_row=3, servers_per_rack=2)
    assert got == ["a"] * 6 + ["b"] * 6
    r = Assignment(configs=("a", "b", "c", "d"), by="rack")
    assert r.server_configs(2, 2, 3) == ["a"] * 3 + ["b"] * 3 + ["c"] * 3 + ["d"] * 3
    f = Assignment(configs=("a", "b"), by="fraction", fractions=(0.75, 0.25))
    got = f.server_configs(2, 2, 4)  # 16 servers: 12 a, 4 b
    assert got.count("a") == 12 and got.count("b") == 4
    # largest remainder: 10 servers at 1/3 each -> 4, 3, 3
    g = Assignment(configs=("a", "b", "c"), by="fraction", fractions=(1 / 3, 1 / 3, 1 / 3))
    got = g.server_configs(1, 1, 10)
    assert sorted(got.count(c) for c in "abc") == [3, 3, 4]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"rows": -1}, "rows"),
        ({"racks_per_row": 0}, "racks_per_row"),
        ({"servers_per_rack": -3}, "servers_per_rack"),
        ({"gpus_per_server": 0}, "gpus_per_server"),
        ({"pue": 0.9}, "pue"),
        ({"it_base_kw_per_server": -1.0}, "it_base_kw_per_server"),
        ({"resolution": "100ms"}, "resolution"),
        ({"horizon_s": 0.1, "resolution": "250ms"}, "horizon_s"),
        ({"horizon_s": 90.0}, "horizon_s"),  # 1.5 output intervals
        ({"traffic_mode": "correlated"}, "traffic_mode"),
        ({"correlation": 1.5}, "correlation"),
    ],
)
def test_spec_errors_name_the_field(kwargs: dict, field: str) -> None:
    base = dict(rows=1, racks_per_row=1, servers_per_rack=1, assignment="x", horizon_s=60.0)
    base.update(kwargs)
    with pytest.raises(FacilityConfigError, match=field):
        FacilitySpec(**base)


def test_assignment_length_errors() -> None:
    with pytest.raises(FacilityConfigError, match="one configuration per row"):
        FacilitySpec(
            rows=3,
            racks_per_row=1,
            servers_per_rack=1,
            assignment=Assignment(configs=("a", "b"), by="row"),
        )
    with pytest.raises(FacilityConfigError, match="sum to 1"):
        Assignment(configs=("a", "b"), by="fraction", fractions=(0.5, 0.6))


def test_unknown_configuration_is_reported() -> None:
    spec = FacilitySpec(rows=1, racks_per_row=1, servers_per_rack=1, assignment="nope_X1_tp1")
    with pytest.raises(FacilityConfigError, match="unknown configuration 'nope_X1_tp1'"):
        simulate_facility(spec, progress=False)


def test_gpus_must_be_multiple_of_tp(config_id: str, cfg) -> None:
    if cfg.tp == 1:
        spec = small_spec(config_id, gpus_per_server=3)
        res = simulate_facility(spec, method="tdp", progress=False)
        assert res.replicas_per_server == {config_id: 3}
    else:  # pragma: no cover - depends on the shipped configuration
        spec = small_spec(config_id, gpus_per_server=cfg.tp + 1)
        with pytest.raises(FacilityConfigError, match="multiple"):
            simulate_facility(spec, progress=False)


def test_profile_horizon_checked() -> None:
    sc = WorkloadScenario(arrival="profile", profile=(1.0, 2.0), profile_interval_s=60.0)
    with pytest.raises(FacilityConfigError, match="exceeds the rate profile"):
        FacilitySpec(
            rows=1, racks_per_row=1, servers_per_rack=1, assignment="x", scenario=sc, horizon_s=180
        )


# ------------------------------------------------------------------------------ traffic


@pytest.mark.parametrize("arrival", ["poisson", "gamma", "azure", "profile"])
def test_per_replica_rate(arrival: str) -> None:
    """Mean arrivals over many replicas match the per-replica rate (independent mode)."""
    rate = 2.0
    sc = WorkloadScenario(
        arrival=arrival,
        rate_per_replica_rps=rate,
        cv=2.0,
        profile=(1.0, 3.0) if arrival == "profile" else None,
        profile_interval_s=300.0,
    )
    spec = FacilitySpec(
        rows=1, racks_per_row=1, servers_per_rack=1, assignment="x", scenario=sc, horizon_s=600
    )
    counts = []
    for i in range(40):
        sched = replica_schedule(spec, np.random.default_rng(i))
        assert np.all(np.diff(sched.arrival_s) >= 0)
        assert sched.arrival_s.min() >= 0 and sched.arrival_s.max() < 600
        counts.append(len(sched.arrival_s))
    # expected count over the horizon: rate * 600 (profile: mean of shape = 1 over its bins)
    assert np.mean(counts) == pytest.approx(rate * 600, rel=0.1)


def test_shared_intensity_correlates_replicas() -> None:
    """Shared intensity (paper §3.4) makes per-minute counts of two replicas correlated."""
    sc = WorkloadScenario(arrival="poisson", rate_per_replica_rps=2.0, cv=1.0)
    kw = dict(rows=1, racks_per_row=1, servers_per_rack=1, assignment="x", scenario=sc)
    corr = {}
    for mode in ("independent", "shared"):
        spec = FacilitySpec(**kw, horizon_s=3600.0, traffic_mode=mode, correlation=1.0)
        shared = shared_intensity(spec) if mode == "shared" else None
        per_min = []
        for i in range(2):
            s = replica_schedule(spec, np.random.default_rng(100 + i), shared)
            per_min.append(np.bincount((s.arrival_s // 60).astype(int), minlength=60))
        corr[mode] = np.corrcoef(per_min[0], per_min[1])[0, 1]
    assert corr["shared"] > 0.7
    assert abs(corr["independent"]) < 0.4


def test_azure_shared_intensity_follows_trace() -> None:
    """Shared Azure intensity: per-bin rate = trace counts x (target rate / trace rate)."""
    from traces.schedule import load_azure_trace

    frame = load_azure_trace("code")
    t = (frame["arrival_time"] - frame["arrival_time"].iloc[0]).dt.total_seconds().to_numpy()
    sc = WorkloadScenario(arrival="azure", rate_per_replica_rps=1.0, intensity_bin_s=60.0)
    spec = FacilitySpec(
        rows=1,
        racks_per_row=1,
        servers_per_rack=1,
        assignment="x",
        scenario=sc,
        horizon_s=600.0,
        traffic_mode="shared",
    )
    edges, rate = shared_intensity(spec)
    trace_rate = len(t) / t[-1]
    expected = np.array([((t >= a) & (t < a + 60)).sum() for a in range(0, 600, 60)]) / 60.0
    np.testing.assert_allclose(rate, expected / trace_rate, rtol=1e-12)
    np.testing.assert_allclose(edges, np.arange(0, 601, 60))


# ------------------------------------------------------------------- seeds and aggregation


def test_server_power_reproduced_from_its_own_seed(config_id: str, cfg) -> None:
    """Server k's GPU power equals an independent run of its replica with server_seed(k):
    traffic over the horizon plus EDGE_MARGIN_S on each side, trimmed to the horizon."""
    from traces.facility import EDGE_MARGIN_S
    from traces.surrogate import features_for_schedule

    spec = small_spec(config_id)
    res = simulate_facility(spec, progress=False, keep_servers=True)
    k = 5
    (child,) = server_seed(spec.seed, k).spawn(1)
    s_sched, s_surr, s_pow = child.spawn(3)
    sched = replica_schedule(spec, np.random.default_rng(s_sched), margin_s=EDGE_MARGIN_S)
    assert sched.start == spec.start - pd.Timedelta(seconds=EDGE_MARGIN_S)
    feats = features_for_schedule(
        sched,
        cfg.latency,
        max_batch=64,
        rng=np.random.default_rng(s_surr),
        duration_s=120.0 + 2 * EDGE_MARGIN_S,
    )
    power_rng = np.random.default_rng(
        np.random.SeedSequence(s_pow.entropy, spawn_key=(*s_pow.spawn_key, 0))
    )
    window = cfg.classifier.context_plan()[0]
    phase = int(s_pow.generate_state(1, dtype=np.uint32)[0]) % window
    (expected_w,) = cfg.generate_many([feats], [power_rng], phases=[phase])
    m0 = int(EDGE_MARGIN_S / 0.25)
    got_kw = res.server_it_kw.iloc[:, k].to_numpy() - spec.it_base_kw_per_server
    np.testing.assert_allclose(got_kw * 1e3, expected_w[m0 : m0 + 480], rtol=1e-6, atol=1e-6)


def test_same_seed_same_facility_and_rack_independent_of_size(config_id: str) -> None:
    spec = small_spec(config_id)
    a = simulate_facility(spec, progress=False)
    b = simulate_facility(spec, progress=False)
    pd.testing.assert_series_equal(a.pcc_mw_250ms, b.pcc_mw_250ms)
    c = simulate_facility(replace(spec, seed=8), progress=False)
    assert not np.allclose(a.pcc_mw_250ms.to_numpy(), c.pcc_mw_250ms.to_numpy())
    # rack 0 of a bigger hall equals rack 0 of this one (seeds keyed by server index)
    big = simulate_facility(replace(spec, rows=3), progress=False)
    np.testing.assert_array_equal(
        big.rack_it_kw.iloc[:, 0].to_numpy(), a.rack_it_kw.iloc[:, 0].to_numpy()
    )
    # grouping racks differently does not change a rack
    (alone,) = simulate_racks(spec, [3])
    np.testing.assert_array_equal(
        alone.gpu_w / 1e3 + 2 * spec.it_base_kw_per_server, a.rack_it_kw.iloc[:, 3].to_numpy()
    )


def test_energy_conserved_through_every_level(config_id: str) -> None:
    """Site = sum of racks = sum of rows = sum of servers; PCC = PUE x IT (Eqs 10-11)."""
    spec = small_spec(config_id, pue=1.25, it_base_kw_per_server=0.8)
    spec = replace(spec, gpus_per_server=2 * spec.gpus_per_server)  # two replicas per server
    res = simulate_facility(spec, progress=False, keep_servers=True)
    servers = res.server_it_kw.to_numpy()
    assert servers.shape == (spec.n_steps, 8)
    # energies [kWh] computed independently with plain numpy
    e_servers = servers.sum() * DT_S / 3600
    e_racks = res.rack_it_kw.to_numpy().sum() * DT_S / 3600
    e_rows = res.row_it_kw.to_numpy().sum() * DT_S / 3600
    e_site = res.site_it_kw.to_numpy().sum() * DT_S / 3600
    assert e_racks == pytest.approx(e_servers, rel=1e-12)
    assert e_rows == pytest.approx(e_servers, rel=1e-12)
    assert e_site == pytest.approx(e_servers, rel=1e-12)
    gpu_kwh = res.site_gpu_kw.to_numpy().sum() * DT_S / 3600
    base_kwh = 8 * 0.8 * spec.horizon_s / 3600
    assert e_site == pytest.approx(gpu_kwh + base_kwh, rel=1e-12)
    assert res.energy_mwh() * 1e3 == pytest.approx(1.25 * e_site, rel=1e-12)
    # row 1 = racks 2 and 3 at every step
    np.testing.assert_allclose(
        res.row_it_kw[1].to_numpy(), res.rack_it_kw.iloc[:, 2:4].to_numpy().sum(axis=1)
    )
    # resampled PCC keeps energy, for every coarser interval
    for freq in ("250ms", "1s", "15s", "1min", "2min"):
        p = res.pcc(freq)
        step_h = pd.Timedelta(freq).total_seconds() / 3600
        assert p.sum() * step_h == pytest.approx(res.energy_mwh(), rel=1e-12)
        assert p.name == "p_mw" and p.index.tz is not None
    assert res.pcc_mw.attrs["unit"] == "MW"
    coarse = res.resample("1min")
    assert coarse.rack_it_kw.to_numpy().sum() * 60 == pytest.approx(
        res.rack_it_kw.to_numpy().sum() * DT_S, rel=1e-12
    )


@settings(max_examples=30, deadline=None)
@given(
    values=st.lists(
        st.floats(min_value=0.0, max_value=1e4, allow_nan=False), min_size=24, max_size=24
    ),
    k=st.sampled_from([1, 2, 3, 4, 6, 8, 12, 24]),
)
def test_resampling_preserves_energy(values: list[float], k: int) -> None:
    idx = pd.date_range("2024-05-16", periods=24, freq="250ms", tz="UTC")
    s = pd.Series(values, index=idx, name="p_kw")
    out = resample_energy_mean(s, f"{250 * k}ms")
    assert len(out) == 24 // k
    assert out.sum() * k == pytest.approx(sum(values), rel=1e-12, abs=1e-9)


def test_tdp_method_is_nameplate(config_id: str, cfg) -> None:
    """TDP baseline: PCC = PUE x N x (replicas x TDP + base), by hand."""
    spec = small_spec(config_id, gpus_per_server=cfg.tp * 2, pue=1.4)
    res = simulate_facility(spec, method="tdp", progress=False)
    expected_mw = 1.4 * 8 * (2 * cfg.tdp_w / 1e3 + 1.0) / 1e3
    np.testing.assert_allclose(res.pcc_mw_250ms.to_numpy(), expected_mw, rtol=1e-12)


def test_methods_share_traffic(config_id: str) -> None:
    spec = small_spec(config_id)
    both = simulate_methods(spec, ("model", "lut"), progress=False)
    alone = simulate_facility(spec, method="model", progress=False)
    pd.testing.assert_series_equal(both["model"].pcc_mw_250ms, alone.pcc_mw_250ms)
    pd.testing.assert_series_equal(
        both["lut"].arrival_rate_rps, both["model"].arrival_rate_rps, check_names=False
    )
    assert both["lut"].pcc_mw_250ms.std() > 0


def test_labelled_outputs(config_id: str, tmp_path) -> None:
    spec = small_spec(config_id)
    res = simulate_facility(spec, progress=False)
    assert res.pcc_mw.index.tz is not None and str(res.pcc_mw.index.tz) == "UTC"
    assert len(res.pcc_mw) == 2 and len(res.pcc_mw_250ms) == 480
    assert list(res.rack_it_kw.columns.names) == ["row", "rack"]
    ds = res.to_xarray()
    assert ds["rack_it_kw"].attrs["units"] == "kW" and ds.sizes["rack"] == 4
    files = res.write(tmp_path, csv=True)
    back = pd.read_parquet(files["pcc_mw"])
    np.testing.assert_allclose(back["p_mw"].to_numpy(), res.pcc_mw.to_numpy())
    summary = json.loads(files["summary"].read_text())
    assert summary["energy_mwh"] == pytest.approx(res.energy_mwh())
    assert "CC BY 4.0" in summary["metadata"]["attribution"]


def test_dask_equals_serial(config_id: str) -> None:
    from distributed import Client, LocalCluster

    spec = small_spec(config_id, traffic_mode="shared", correlation=0.5)
    serial = simulate_facility(spec, progress=False)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        par = simulate_facility(spec, scheduler=client, progress=False)
        # small chunks so racks really spread over both workers
        from traces.facility import assemble, iter_racks

        chunks = iter_racks(spec, scheduler=client, progress=False, chunk_steps=1)
        par2 = assemble(spec, chunks, method="model")
    pd.testing.assert_series_equal(serial.pcc_mw_250ms, par.pcc_mw_250ms)
    pd.testing.assert_frame_equal(serial.rack_it_kw, par2.rack_it_kw)


# ------------------------------------------------------------------------- config files

GOOD_TOML = """
[facility]
rows = 2
racks_per_row = 2
servers_per_rack = 2
gpus_per_server = {tp}
it_base_kw_per_server = 1.0
pue = 1.3

[assignment]
config = "{cid}"

[workload]
arrival = "poisson"
rate_per_replica_rps = 1.5
tokens = "azure-conv"
traffic_mode = "shared"
correlation = 0.5

[run]
horizon = "2min"
seed = 3
resolution = "1min"
method = "model"
"""


def _good(config_id: str) -> str:
    """GOOD_TOML for ``config_id`` with one replica per server (GPUs per server = its TP)."""
    from traces.registry import load_configuration

    return GOOD_TOML.format(cid=config_id, tp=load_configuration(config_id).tp)


def _write(tmp_path, text: str, name: str = "f.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_config_file_toml_and_yaml(tmp_path, config_id: str) -> None:
    import yaml

    from gridlink.config import load_facility_config

    run = load_facility_config(_write(tmp_path, _good(config_id)))
    spec = run.spec
    assert (spec.rows, spec.racks_per_row, spec.servers_per_rack) == (2, 2, 2)
    assert spec.horizon_s == 120.0 and spec.seed == 3 and spec.traffic_mode == "shared"
    assert spec.scenario.rate_per_replica_rps == 1.5 and run.method == "model"
    import tomllib

    data = tomllib.loads(_good(config_id))
    y = _write(tmp_path, yaml.safe_dump(data), "f.yaml")
    assert load_facility_config(y).spec == spec


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("rows = 2", "rows = -2", r"rows must be >= 1"),
        ("servers_per_rack = 2", "servers_per_rack = 0", r"servers_per_rack must be >= 1"),
        ("pue = 1.3", "pue = 0.8", r"pue must be >= 1"),
        (
            'config = "{cid}"',
            'config = "llama-9t_Z9_tp1"',
            r"unknown configuration 'llama-9t_Z9_tp1'",
        ),
        ('resolution = "1min"', 'resolution = "100ms"', r"finer than the generator's 250 ms"),
        ('horizon = "2min"', "horizon_s = 0.1", r"shorter than one step"),
        ("pue = 1.3", "pue = 1.3\npeu = 1.2", r"unknown key\(s\) \['peu'\] in \[facility\]"),
        ('method = "model"', 'method = "magic"', r"method must be one of"),
        ("[run]", "[runn]", r"unknown table \[runn\]"),
    ],
)
def test_config_file_errors(tmp_path, config_id: str, old: str, new: str, match: str) -> None:
    from gridlink.config import ConfigError, load_facility_config

    text = _good(config_id)
    old = old.format(cid=config_id)
    assert old in text
    text = text.replace(old, new)
    p = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as info:
        load_facility_config(p)
    assert str(p) in str(info.value)


def test_generate_command(tmp_path, config_id: str) -> None:
    from typer.testing import CliRunner

    from gridlink.cli import app

    cfg = _write(tmp_path, _good(config_id))
    out = tmp_path / "out"
    r = CliRunner().invoke(
        app, ["generate", "--config", str(cfg), "--out", str(out), "--csv", "--no-progress"]
    )
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    pcc = pd.read_parquet(out / "pcc_mw.parquet")["p_mw"]
    assert summary["mean_mw"] == pytest.approx(pcc.mean())
    assert (out / "racks_kw.csv").exists()
    # bad file: clear message, exit code 2
    bad = _write(tmp_path, _good(config_id).replace("pue = 1.3", "pue = 0.5"), "b.toml")
    r = CliRunner().invoke(app, ["generate", "--config", str(bad), "--out", str(out)])
    assert r.exit_code == 2 and "pue must be >= 1" in r.output
