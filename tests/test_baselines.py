"""Baselines (paper §4.3): hand-built arrays and the real measured bundles."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from traces.baselines import (
    PHASES,
    ActiveLookupBaseline,
    BaselineError,
    MeanBaseline,
    PhaseLUTBaseline,
    TDPBaseline,
    TrainingTrace,
    bundle_phases,
    feature_phases,
    timeline_phase_counts,
)
from traces.ingest import load_bundle


def _features(active, delta=None, **extra) -> SimpleNamespace:
    a = np.asarray(active, dtype=float)
    d = np.diff(a, prepend=0.0) if delta is None else np.asarray(delta, dtype=float)
    return SimpleNamespace(active=a, delta_active=d, time_s=0.25 * np.arange(a.size), extra=extra)


@pytest.fixture(scope="module")
def a100_r4(a100_r4_dir: Path):
    return load_bundle(a100_r4_dir)


def test_tdp_constant_from_nameplate(a100_r4, h100_r4_dir: Path) -> None:
    f = _features([0, 1, 2])
    out = TDPBaseline().fit([a100_r4]).generate_from_features(f, rng=0)
    np.testing.assert_array_equal(out, [400.0, 400.0, 400.0])  # A100 SXM4 nameplate
    h100 = load_bundle(h100_r4_dir)
    assert TDPBaseline().fit([h100]).tdp_w_ == 700.0
    assert TDPBaseline(tdp_w=2800.0).fit().generate_from_features(f, rng=0)[0] == 2800.0
    with pytest.raises(BaselineError, match="mixes GPU"):
        TDPBaseline().fit([a100_r4, h100])
    with pytest.raises(BaselineError, match="no nameplate"):
        TDPBaseline().fit([TrainingTrace(power_w=np.ones(3), gpu="V100")])


def test_mean_is_pooled_training_mean(a100_r4) -> None:
    traces = [
        TrainingTrace(power_w=np.array([100.0, 200.0])),
        TrainingTrace(power_w=np.array([400.0])),
    ]
    m = MeanBaseline().fit(traces)
    assert m.mean_w_ == pytest.approx(700.0 / 3.0)
    np.testing.assert_allclose(m.generate_from_features(_features([0, 5]), rng=1), 700.0 / 3.0)
    assert MeanBaseline().fit([a100_r4]).mean_w_ == pytest.approx(float(a100_r4.power_w.mean()))


def test_unfitted_and_bad_data_raise() -> None:
    with pytest.raises(BaselineError, match="not fitted"):
        MeanBaseline().generate_from_features(_features([1]), rng=0)
    with pytest.raises(BaselineError, match="no training data"):
        MeanBaseline().fit([])
    with pytest.raises(BaselineError, match="pass MeasuredBundle or TrainingTrace"):
        MeanBaseline().fit([np.ones(3), np.ones(3)])
    with pytest.raises(BaselineError, match="active is required"):
        ActiveLookupBaseline().fit([TrainingTrace(power_w=np.ones(3))])
    with pytest.raises(BaselineError, match="phase shape"):
        PhaseLUTBaseline().fit([TrainingTrace(power_w=np.ones(3), phase=np.zeros(2, dtype=int))])


def test_phase_lut_levels_and_fallback() -> None:
    tr = TrainingTrace(
        power_w=np.array([100.0, 102.0, 300.0, 310.0, 500.0]),
        phase=np.array([0, 0, 2, 2, 3]),
    )
    lut = PhaseLUTBaseline().fit([tr])
    assert lut.levels_w_ == {"idle": 101.0, "decode": 305.0, "mixed": 500.0, "prefill": 500.0}
    assert lut.fallback_ == {"prefill": "mixed"}
    assert lut.counts_["prefill"] == 0
    f = _features([0, 1, 2, 2], n_prefill=np.array([0, 1, 1, 0]), n_decode=np.array([0, 0, 1, 2]))
    np.testing.assert_array_equal(
        lut.generate_from_features(f, rng=0), [101.0, 500.0, 500.0, 305.0]
    )


def test_feature_phases_fallback_rule() -> None:
    f = _features([0, 2, 2, 3, 0], delta=[0, 2, 0, 1, -3])
    got = [PHASES[i] for i in feature_phases(f)]
    assert got == ["idle", "prefill", "decode", "mixed", "idle"]


def test_timeline_phase_counts_by_hand() -> None:
    # request 0: prefill [0.10, 0.20), decode [0.20, 1.00); request 1: prefill [0.60, 0.65), decode to 0.70
    npf, ndc = timeline_phase_counts(
        np.array([0.10, 0.60]), np.array([0.20, 0.65]), np.array([1.00, 0.70]), 0.25 * np.arange(6)
    )
    # bins [t-0.125, t+0.125): t=0 [-.125,.125) ; .25 [.125,.375) ; .5 [.375,.625) ; .75 ; 1.0 ; 1.25
    np.testing.assert_array_equal(npf, [1, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(ndc, [0, 1, 1, 2, 1, 0])


def test_lookup_interpolates_and_holds_beyond_range() -> None:
    tr = TrainingTrace(
        power_w=np.array([80.0, 90.0, 200.0, 260.0, 300.0, 320.0]),
        active=np.array([0.0, 0.0, 1.0, 3.0, 3.0, np.nan]),  # NaN step ignored
    )
    lk = ActiveLookupBaseline().fit([tr])
    np.testing.assert_array_equal(lk.counts_, [0, 1, 3])
    np.testing.assert_allclose(lk.levels_w_, [85.0, 200.0, 280.0])
    out = lk.generate_from_features(_features([0, 1, 2, 3, 7, 9]), rng=0)
    np.testing.assert_allclose(out, [85.0, 200.0, 240.0, 280.0, 280.0, 280.0])
    assert lk.n_beyond_ == 2


def test_real_bundle_phases_and_levels(a100_r4) -> None:
    ph = bundle_phases(a100_r4)
    p = a100_r4.power_w.to_numpy()
    assert ph.shape == p.shape
    # unknown only where the grid lies outside the engine log (first/last samples)
    assert (ph == -1).sum() <= 3
    # the run starts with an idle prefix (first request 19 s after the first power sample)
    assert (ph[1:60] == PHASES.index("idle")).all()
    idle = p[ph == 0].mean()
    busy = p[(ph == 2) | (ph == 3)].mean()
    assert 75.0 < idle < 95.0  # README: A100 idle about 82 W
    assert busy > 2.5 * idle
    lut = PhaseLUTBaseline().fit([a100_r4])
    assert lut.levels_w_["idle"] == pytest.approx(idle)
    lk = ActiveLookupBaseline().fit([a100_r4])
    a = a100_r4.active_requests.to_numpy()
    ok = np.isfinite(a)
    assert lk.levels_w_[0] == pytest.approx(p[ok & (np.rint(a) == 0)].mean())
    assert lk.counts_.max() == 20  # README: max measured A_t 20


def test_stats_round_trip_reproduces_baselines(a100_r4) -> None:
    import json

    from traces.baselines import baseline_stats, baselines_from_stats

    stats = json.loads(json.dumps(baseline_stats([a100_r4])))
    rebuilt = baselines_from_stats(stats)
    f = _features(
        [0, 1, 4, 25, 3], n_prefill=np.array([0, 1, 0, 1, 0]), n_decode=np.array([0, 0, 1, 1, 1])
    )
    direct = {
        "tdp": TDPBaseline().fit([a100_r4]),
        "mean": MeanBaseline().fit([a100_r4]),
        "lut": PhaseLUTBaseline().fit([a100_r4]),
        "lookup": ActiveLookupBaseline().fit([a100_r4]),
    }
    for name, b in direct.items():
        np.testing.assert_allclose(
            rebuilt[name].generate_from_features(f, rng=0), b.generate_from_features(f, rng=0)
        )
    with pytest.raises(BaselineError, match="lack"):
        baselines_from_stats({"tdp_w": 1.0})
