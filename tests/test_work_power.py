"""Tests of the work-to-power model (traces.model.work_power): a hand-built surface and real bundles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from traces.measured.fidelity import fidelity_metrics
from traces.measured.ingest import find_bundles, load_bundle
from traces.model.work_power import WorkPowerError, WorkPowerModel, bundle_work_features
from traces.workload.ledger import LEDGER_COLUMNS
from traces.workload.surrogate import WorkloadFeatures, fit_latency_model

START = pd.Timestamp("2026-01-01T00:00:00Z")


def _features(cols: dict[str, np.ndarray]) -> WorkloadFeatures:
    t = cols["n_decode"].size
    z = np.zeros(t)
    return WorkloadFeatures(
        time_s=np.arange(t) * 0.25, active=z, delta_active=z, extra=cols, start=START
    )


def _synthetic(seed: int, t: int = 4000) -> tuple[WorkloadFeatures, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    on = (np.sin(np.arange(t) / 40.0) > -0.3).astype(float)
    prefill = on * rng.exponential(800.0, t) * (rng.random(t) < 0.4)
    decoded = on * rng.poisson(20, t)
    n_decode = on * rng.integers(1, 12, t)
    cols = {
        "prefilled_tokens": prefill,
        "decoded_tokens": decoded.astype(float),
        "n_prefill": (prefill > 0).astype(float),
        "n_decode": n_decode.astype(float),
        "kv_tokens": on * 3000.0,
    }
    # instantaneous power: 80 W idle + 150 W busy + 20 W per 1000 prefill tokens/s
    inst = 80 + 150 * on + 20 * prefill / 0.25 / 1000
    # meter: mean of the 4 steps ending 1 step before t (history = first value)
    pad = np.concatenate([np.full(4, inst[0]), inst])
    meter = np.array([pad[k : k + 4].mean() for k in range(t)])
    return _features(cols), meter + rng.normal(0, 2.0, t), meter


def test_recovers_a_hand_built_surface_and_meter() -> None:
    feats, power, _ = _synthetic(0)
    model = WorkPowerModel().fit([(feats, power)])
    assert model.meter_ == (4, 1)
    assert model.coef_w_[0] == pytest.approx(80, abs=3)  # idle
    # the 150 W busy step is shared by collinear columns (busy, decode_busy, decode_sat are
    # all ~constant while on), so check the surface, not each of them
    assert model.coef_w_[4] == pytest.approx(20, abs=2)  # W per 1000 prefill tokens/s
    assert model.train_rmse_w_ == pytest.approx(2.0, abs=0.3)  # the added noise
    feats2, power2, exact2 = _synthetic(1)
    assert np.sqrt(np.mean((model.expected_power(feats2) - exact2) ** 2)) < 1.0
    gen = model.generate_from_features(feats2, rng=3)
    assert abs(gen.sum() / power2.sum() - 1) < 0.01


def test_seeded_round_trip_and_errors() -> None:
    feats, power, _ = _synthetic(0, t=800)
    model = WorkPowerModel().fit([(feats, power)])
    again = WorkPowerModel.from_dict(json.loads(json.dumps(model.to_dict())))
    a = model.generate_from_features(feats, rng=11)
    np.testing.assert_array_equal(a, again.generate_from_features(feats, rng=11))
    np.testing.assert_array_equal(a, model.generate_from_features(feats, rng=11))
    assert not np.array_equal(a, model.generate_from_features(feats, rng=12))
    assert (np.asarray(model.to_dict()["coef_w"]) >= 0).all()
    bare = _features({c: np.zeros(10) for c in LEDGER_COLUMNS if c != "kv_tokens"})
    with pytest.raises(WorkPowerError, match="kv_tokens"):
        model.generate_from_features(bare)
    bad = model.to_dict()
    bad["coef_w"][2] = -1.0
    with pytest.raises(WorkPowerError, match="non-negative"):
        WorkPowerModel.from_dict(bad)


def test_heldout_sharegpt_run(powertrace_dir: Path) -> None:
    """Fit on two A100 ShareGPT runs (measured timing), generate the third from its schedule."""
    paths = [
        p for p in find_bundles(powertrace_dir) if "validate" in p.name and "A100_tp1" in str(p)
    ]
    bundles = [load_bundle(p) for p in paths if p.parent.name == "qwen3-8b_A100_tp1"]
    assert len(bundles) == 3
    test = next(b for b in bundles if "r4p0" in b.run_id)
    train = [b for b in bundles if b is not test]
    latency = fit_latency_model(train)
    model = WorkPowerModel().fit(
        [(bundle_work_features(b, timing="measured"), b.power_w.to_numpy()) for b in train]
    )
    measured = test.power_w.to_numpy()
    feats = bundle_work_features(test, latency=latency, timing="surrogate", rng=0)
    m = fidelity_metrics(measured, model.generate_from_features(feats, rng=0))
    mean_w = np.concatenate([b.power_w.to_numpy() for b in train]).mean()
    m_mean = fidelity_metrics(measured, np.full(measured.size, mean_w))
    # measured at this commit: |dE| 2.4 %, KS 0.22 (mean baseline: KS 0.8)
    assert m["abs_delta_energy_pct"] < 5.0
    assert m["ks"] < 0.35 < m_mean["ks"]
    assert m["acf_r2"] > 0.3


# ---- the facility runs the work-to-power model (method="work") -------------------------
def _work_hall(config_id: str = "qwen3-8b_H100_tp1", **kw):
    from traces.facility import FacilitySpec, WorkloadScenario

    base = dict(
        rows=1,
        racks_per_row=2,
        servers_per_rack=2,
        assignment=config_id,
        gpus_per_server=1,
        scenario=WorkloadScenario(arrival="azure", rate_per_replica_rps=1.0),
        horizon_s=120.0,
        resolution="1min",
        seed=11,
    )
    base.update(kw)
    return FacilitySpec(**base)


def test_facility_work_method_reproduces_a_server_from_its_own_seed() -> None:
    """Server k's GPU power under method='work' equals an independent run of its replica:
    the same schedule and surrogate draws, the work ledger, the configuration's stored
    work-to-power model and the power stream of the fifth method (spawn key 4), over the
    horizon and its warm-up and cool-down margins (issue 12), trimmed to the horizon."""
    from traces import DT_S
    from traces.facility import EDGE_MARGIN_S, server_seed, simulate_facility
    from traces.facility.traffic import replica_schedule
    from traces.model.registry import load_configuration
    from traces.model.work_power import from_configuration
    from traces.workload.ledger import simulate_work

    spec = _work_hall()
    cfg = load_configuration("qwen3-8b_H100_tp1")
    res = simulate_facility(spec, method="work", progress=False, keep_servers=True)
    k = 3
    (child,) = server_seed(spec.seed, k).spawn(1)
    s_sched, s_surr, s_pow = child.spawn(3)
    sched = replica_schedule(spec, np.random.default_rng(s_sched), margin_s=EDGE_MARGIN_S)
    feats = simulate_work(
        sched, cfg.latency, max_batch=64, rng=np.random.default_rng(s_surr),
        duration_s=120.0 + 2 * EDGE_MARGIN_S,
    )  # fmt: skip
    power_rng = np.random.default_rng(
        np.random.SeedSequence(s_pow.entropy, spawn_key=(*s_pow.spawn_key, 4))
    )
    m0 = round(EDGE_MARGIN_S / DT_S)
    expected_w = from_configuration(cfg).generate_from_features(feats, rng=power_rng)
    expected_w = expected_w[m0 : m0 + spec.n_steps]
    got_kw = res.server_it_kw.iloc[:, k].to_numpy() - spec.it_base_kw_per_server
    np.testing.assert_allclose(got_kw * 1e3, expected_w, rtol=1e-6, atol=1e-6)
    assert expected_w.std() > 0  # a real trace, not a constant


def test_facility_work_method_leaves_the_other_methods_unchanged() -> None:
    """Running 'work' beside 'model' computes the ledger for every replica; A_t draws the same
    random numbers, so the model's PCC equals a model-only run bit for bit, and each method
    equals its own single-method run."""
    from traces.facility import simulate_facility, simulate_methods

    spec = _work_hall()
    both = simulate_methods(spec, ("model", "work"), progress=False)
    model_only = simulate_facility(spec, method="model", progress=False)
    work_only = simulate_facility(spec, method="work", progress=False)
    pd.testing.assert_series_equal(both["model"].pcc_mw, model_only.pcc_mw)
    pd.testing.assert_series_equal(both["work"].pcc_mw, work_only.pcc_mw)
    assert not np.array_equal(both["work"].pcc_mw.to_numpy(), both["model"].pcc_mw.to_numpy())


def test_facility_work_method_refuses_a_configuration_without_a_work_model() -> None:
    from traces.facility import FacilityConfigError, simulate_facility
    from traces.model.registry import load_configuration

    cid = "llama-3-8b_H100_tp1"  # transferred from the paper's parameters: no ledger fit
    assert "work_power" not in (load_configuration(cid).provenance or {})
    with pytest.raises(FacilityConfigError, match=r"method='work'.*llama-3-8b_H100_tp1"):
        simulate_facility(_work_hall(cid), method="work", progress=False)
