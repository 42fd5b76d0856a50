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
