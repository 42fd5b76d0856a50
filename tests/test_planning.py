"""Planning views (paper §4.4-4.5): Table 3 layout, oversubscription (Fig 11), CV (Fig 12)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridlink.studies.planning import (
    TABLE3_COLUMNS,
    aggregation_cv,
    interconnection_table,
    oversubscription,
    oversubscription_vs_correlation,
    plot_hierarchy,
    plot_oversubscription,
    plot_pcc,
    plot_rack_heatmap,
)
from traces.facility import (
    FacilitySpec,
    RackChunk,
    WorkloadScenario,
    assemble,
    simulate_facility,
)


def _series(values: np.ndarray) -> pd.Series:
    idx = pd.date_range("2024-05-16", periods=len(values), freq="250ms", tz="UTC")
    s = pd.Series(values, index=idx, name="p_mw")
    s.attrs["unit"] = "MW"
    return s


def test_interconnection_table_by_hand() -> None:
    # 15 min at 1 MW then 15 min at 3 MW (250 ms steps)
    n = 15 * 60 * 4
    step = _series(np.r_[np.full(n, 1.0), np.full(n, 3.0)])
    flat = _series(np.full(2 * n, 2.0))
    t = interconnection_table({"step": step, "flat": flat})
    assert list(t.columns) == list(TABLE3_COLUMNS)
    assert t.loc["step", "peak_mw"] == pytest.approx(3.0)
    assert t.loc["step", "mean_mw"] == pytest.approx(2.0)
    assert t.loc["step", "peak_to_average"] == pytest.approx(1.5)
    assert t.loc["step", "load_factor"] == pytest.approx(2 / 3)
    assert t.loc["step", "max_ramp_mw_per_15min"] == pytest.approx(2.0)
    assert t.loc["step", "max_ramp_mw_per_1min"] == pytest.approx(2.0)
    assert t.loc["flat", "max_ramp_mw_per_15min"] == pytest.approx(0.0)
    assert t.loc["flat", "load_factor"] == pytest.approx(1.0)
    # too short for two 15-min windows: NaN, never a partial-window number
    short = interconnection_table({"x": _series(np.arange(4 * 60 * 5, dtype=float) + 1)})
    assert np.isnan(short.loc["x", "max_ramp_mw_per_15min"])
    assert short.loc["x", "max_ramp_mw_per_1min"] == pytest.approx(240.0)  # 240 steps/min


def _synthetic_result():
    """Two racks of two servers with hand-chosen GPU power (no base, PUE 1.5)."""
    spec = FacilitySpec(
        rows=1,
        racks_per_row=2,
        servers_per_rack=2,
        assignment="x",
        it_base_kw_per_server=0.0,
        pue=1.5,
        horizon_s=60.0,
    )
    T = spec.n_steps
    alt = np.where(np.arange(T) % 2 == 0, 1000.0, 3000.0)  # W: mean 2000, std 1000
    servers = [alt, 4000.0 - alt, alt, alt]  # rack 0 flat, rack 1 alternating
    chunks = []
    for r in range(2):
        sv = np.stack(servers[2 * r : 2 * r + 2])
        chunks.append(
            RackChunk(
                rack=r, gpu_w=sv.sum(axis=0), server_gpu_w=sv, arrivals=np.zeros(1, dtype=int)
            )
        )
    return assemble(spec, iter(chunks), method="model", keep_servers=True)


def test_aggregation_cv_by_hand() -> None:
    res = _synthetic_result()
    cv = aggregation_cv(res)
    assert list(cv.index) == ["server", "rack", "row", "site"]
    assert cv.loc["server", "cv_mean"] == pytest.approx(0.5)  # 1000 / 2000
    assert cv.loc["rack", "cv_min"] == pytest.approx(0.0)  # 1000+3000 alternating with 3000+1000
    assert cv.loc["rack", "cv_max"] == pytest.approx(0.5)
    # row = 4 kW flat + (2, 6) kW alternating -> mean 8, std 2
    assert cv.loc["row", "cv_mean"] == pytest.approx(0.25)
    assert cv.loc["site", "mean_kw"] == pytest.approx(8.0)
    assert res.pcc_mw_250ms.mean() == pytest.approx(1.5 * 8.0 / 1e3)


def test_plots_are_pngs(tmp_path) -> None:
    res = _synthetic_result()
    paths = [
        plot_pcc({"model": res}, tmp_path / "pcc.png"),
        plot_rack_heatmap(res, tmp_path / "heat.png", freq="15s"),
        plot_hierarchy(res, tmp_path / "h.png"),
    ]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_oversubscription(config_id: str, cfg, tmp_path) -> None:
    spec = FacilitySpec(
        rows=1,
        racks_per_row=1,
        servers_per_rack=2,
        assignment=config_id,
        gpus_per_server=cfg.tp,
        scenario=WorkloadScenario(arrival="azure", rate_per_replica_rps=1.0),
        horizon_s=60.0,
        seed=11,
    )
    limit = 12.0
    res = oversubscription(spec, row_limit_kw=limit, seeds=2, methods=("tdp", "model"))
    rack_tdp_kw = 2 * (cfg.tdp_w / 1e3 + 1.0)  # by hand: servers x (TDP + base)
    assert res.answer.loc["tdp", "racks_p95"] == int(limit // rack_tdp_kw)
    assert res.answer.loc["tdp", "racks_peak"] == int(limit // rack_tdp_kw)
    if cfg.power_range_w[1] <= cfg.tdp_w:
        # the model never draws more than nameplate -> at least as many racks fit
        assert res.answer.loc["model", "racks_p95"] >= res.answer.loc["tdp", "racks_p95"]
    # P95 <= peak, so at least as many racks fit under the P95 criterion
    assert (res.per_seed["racks_p95"] >= res.per_seed["racks_peak"]).all()
    # the answer holds for every seed: it is the minimum over seeds
    for m in ("tdp", "model"):
        assert res.answer.loc[m, "racks_p95"] == res.per_seed.loc[m, "racks_p95"].min()
    # row power grows with every rack, and the answer is the last count under the limit
    for (m, seed), g in res.curves.groupby(["method", "seed"]):
        assert np.all(np.diff(g["p95_kw"].to_numpy()) >= 0)
        n_ok = int(res.per_seed.loc[(m, seed), "racks_p95"])
        under = g.loc[g["n_racks"] <= n_ok, "p95_kw"]
        assert (under <= limit).all()
        assert g.loc[g["n_racks"] == n_ok + 1, "p95_kw"].iloc[0] > limit
    corr = oversubscription_vs_correlation(spec, (0.0, 1.0), row_limit_kw=limit, seeds=1)
    assert list(corr.index) == [0.0, 1.0]
    assert (corr["racks_p95"] >= corr["racks_peak"]).all()
    p = plot_oversubscription(res, tmp_path / "o.png", by_correlation=corr)
    assert p.read_bytes()[:4] == b"\x89PNG"


def test_oversubscription_rejects_positional_assignment() -> None:
    from traces.facility import Assignment

    spec = FacilitySpec(
        rows=2,
        racks_per_row=1,
        servers_per_rack=1,
        assignment=Assignment(configs=("a", "b"), by="row"),
    )
    with pytest.raises(ValueError, match="does not depend on the position"):
        oversubscription(spec)


def test_table_on_simulated_methods(config_id: str, cfg) -> None:
    """Baselines that are flat have load factor 1 and no ramps (Table 3 reading)."""
    from traces.facility import simulate_methods

    spec = FacilitySpec(
        rows=1,
        racks_per_row=2,
        servers_per_rack=2,
        assignment=config_id,
        gpus_per_server=cfg.tp,
        horizon_s=120.0,
    )
    res = simulate_methods(spec, ("model", "tdp", "mean"), progress=False)
    t = interconnection_table(res)
    assert t.loc["tdp", "load_factor"] == pytest.approx(1.0)
    assert t.loc["mean", "max_ramp_mw_per_1min"] == pytest.approx(0.0, abs=1e-12)
    assert t.loc["model", "peak_mw"] == pytest.approx(res["model"].pcc_mw_250ms.max())
    single = simulate_facility(spec, method="tdp", progress=False)
    assert t.loc["tdp", "peak_mw"] == pytest.approx(single.pcc_mw_250ms.max())
