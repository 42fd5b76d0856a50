"""Samplers (Eq 7-9), FittedConfiguration generation, save/load integrity, bad inputs."""

from __future__ import annotations

import hashlib
import json
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from traces.model import ArtifactError, FittedConfiguration, ModelError, feature_matrix
from traces.sampler import (
    SamplerError,
    clip_power,
    estimate_ar1,
    sample_power_ar1,
    sample_power_iid,
    sample_states,
)

# --------------------------------------------------------------------------- samplers


def test_sample_states_frequencies_follow_probabilities() -> None:
    p = np.tile([0.1, 0.6, 0.0, 0.3], (200_000, 1))
    s = sample_states(p, np.random.default_rng(0))
    freq = np.bincount(s, minlength=4) / s.size
    np.testing.assert_allclose(freq, [0.1, 0.6, 0.0, 0.3], atol=0.005)
    assert not np.any(s == 2)  # zero probability never drawn
    with pytest.raises(SamplerError, match="NaN"):
        sample_states(np.array([[np.nan, 1.0]]), 0)
    with pytest.raises(SamplerError, match="summing to 0"):
        sample_states(np.zeros((2, 3)), 0)


def test_iid_sampler_moments() -> None:
    states = np.repeat([0, 2, 1], 50_000)
    mu, sd = np.array([80.0, 200.0, 400.0]), np.array([1.0, 10.0, 30.0])
    p = sample_power_iid(states, mu, sd, np.random.default_rng(1))
    for k in range(3):
        assert abs(p[states == k].mean() - mu[k]) < 4 * sd[k] / np.sqrt(50_000) * 3
        assert abs(p[states == k].std() / sd[k] - 1) < 0.02
    # i.i.d.: no lag-1 correlation inside a run
    d = p[states == 1] - 200.0
    assert abs(np.corrcoef(d[1:], d[:-1])[0, 1]) < 0.02


def _ar1_loop(
    states: np.ndarray, mu: np.ndarray, sd: np.ndarray, phi: np.ndarray, z: np.ndarray
) -> np.ndarray:
    """Plain Python recursion of Eq 9 (independent reference implementation)."""
    out = np.empty(states.size)
    prev = None
    for t, k in enumerate(states):
        if t == 0 or states[t - 1] != k:
            d = sd[k] * z[t]
        else:
            d = phi[k] * prev + sd[k] * np.sqrt(1 - phi[k] ** 2) * z[t]
        out[t] = mu[k] + d
        prev = d
    return out


def test_ar1_sampler_equals_loop_reference() -> None:
    rng = np.random.default_rng(2)
    states = np.repeat(rng.integers(0, 3, size=400), rng.integers(1, 30, size=400))
    mu, sd, phi = (
        np.array([80.0, 250.0, 410.0]),
        np.array([2.0, 20.0, 15.0]),
        np.array([0.9, 0.0, 0.5]),
    )
    got = sample_power_ar1(states, mu, sd, phi, np.random.default_rng(3))
    z = np.random.default_rng(3).standard_normal(states.size)
    np.testing.assert_allclose(got, _ar1_loop(states, mu, sd, phi, z), rtol=0, atol=1e-9)


def test_ar1_marginal_and_phi_recovered() -> None:
    states = np.zeros(200_000, dtype=int)
    states[100_000:] = 1
    mu, sd, phi = np.array([100.0, 300.0]), np.array([5.0, 20.0]), np.array([0.8, 0.3])
    p = sample_power_ar1(states, mu, sd, phi, np.random.default_rng(4))
    for k in range(2):
        d = p[states == k] - mu[k]
        assert abs(d.std() / sd[k] - 1) < 0.03
        assert abs(np.corrcoef(d[1:], d[:-1])[0, 1] - phi[k]) < 0.02
    est = estimate_ar1(p, states, mu)
    np.testing.assert_allclose(est["phi"], phi, atol=0.02)
    with pytest.raises(SamplerError, match=r"\[0, 1\)"):
        sample_power_ar1(states, mu, sd, np.array([1.0, 0.2]), 0)


def test_clip_power_counts() -> None:
    p, n = clip_power(np.array([50.0, 100.0, 500.0, 600.0, 300.0]), 80.0, 520.0)
    assert n == 2
    np.testing.assert_array_equal(p, [80.0, 100.0, 500.0, 520.0, 300.0])


# --------------------------------------------------------------------- configuration


@pytest.fixture(scope="module")
def h100_bundle(h100_r4_dir: Path):
    from traces.ingest import load_bundle

    return load_bundle(h100_r4_dir)


@pytest.fixture(scope="module")
def small_cfg(h100_bundle) -> FittedConfiguration:
    """A quickly fitted configuration on the real H100 bundle (3 epochs: tests the plumbing)."""
    from traces.fit import fit_configuration

    return fit_configuration(
        [h100_bundle],
        n_states=5,
        seed=0,
        max_epochs=3,
        n_feature_draws=1,
        classifier_kwargs={"windows_per_epoch": 16, "train_window": 256},
        baseline_stats=False,
    )


def test_fitted_configuration_contents(small_cfg: FittedConfiguration, h100_bundle) -> None:
    p = h100_bundle.power_w.to_numpy()
    assert small_cfg.config_id == "qwen3-8b_H100_tp1"
    assert small_cfg.n_states == 5
    assert small_cfg.power_range_w == (p.min(), p.max())
    assert small_cfg.tdp_w == 700.0
    assert small_cfg.sampler in ("iid", "ar1")
    assert "reason" in small_cfg.sampler_info
    srcs = small_cfg.provenance["sources"][0]["files"]
    assert (
        srcs["power"]["sha256"]
        == hashlib.sha256(
            (Path(h100_bundle.metadata["sources"]["power"]["path"])).read_bytes()
        ).hexdigest()
    )


def test_generation_is_seeded_and_on_grid(small_cfg: FittedConfiguration, h100_bundle) -> None:
    from traces.schedule import RequestSchedule

    sched = RequestSchedule.from_bundle(h100_bundle)
    a = small_cfg.generate(sched, rng=7)
    b = small_cfg.generate(sched, rng=7)
    c = small_cfg.generate(sched, rng=8)
    np.testing.assert_array_equal(a.power_w.to_numpy(), b.power_w.to_numpy())
    np.testing.assert_array_equal(a.states, b.states)
    assert not np.array_equal(a.power_w.to_numpy(), c.power_w.to_numpy())
    assert a.power_w.index[0] == sched.start
    assert str(a.power_w.index.tz) == "UTC"
    assert (np.diff(a.power_w.index.asi8) == 250_000_000).all()
    assert len(a.power_w) == len(h100_bundle.power_w)
    lo, hi = small_cfg.power_range_w
    assert a.power_w.between(lo, hi).all()
    assert a.n_clipped >= 0


def test_generate_many_equals_single(small_cfg: FittedConfiguration) -> None:
    rng = np.random.default_rng(0)
    feats = []
    for n in (5000, 300, 9000):
        a = np.abs(np.cumsum(rng.choice([-1, 0, 1], size=n))).astype(float) % 15
        feats.append(np.stack([a, np.diff(a, prepend=a[:1])], axis=1))
    many = small_cfg.generate_many(feats, [11, 12, 13], window=1024, overlap=256, batch_windows=4)
    for f, s, m in zip(feats, [11, 12, 13], many, strict=True):
        single = small_cfg.generate_from_features(f, rng=s, window=1024, overlap=256)
        np.testing.assert_array_equal(m, single)
    with pytest.raises(ModelError, match="one rng per"):
        small_cfg.generate_many(feats, [1])


def test_clipping_is_counted(small_cfg: FittedConfiguration) -> None:
    x = np.stack([np.full(4000, 10.0), np.zeros(4000)], axis=1)
    p, _, n = small_cfg.generate_from_features(x, rng=1, return_details=True)
    # independent count: redraw unclipped with the same stream
    p2, states, _ = small_cfg.generate_from_features(x, rng=1, return_details=True)
    lo, hi = small_cfg.power_range_w
    assert n == int(np.sum((p == lo) | (p == hi)))
    np.testing.assert_array_equal(p, p2)


def test_save_load_round_trip(small_cfg: FittedConfiguration, tmp_path: Path) -> None:
    jp = small_cfg.save(tmp_path)
    assert jp.name == "qwen3-8b_H100_tp1.json"
    assert (tmp_path / "qwen3-8b_H100_tp1.safetensors").exists()
    back = FittedConfiguration.load(jp)
    np.testing.assert_array_equal(back.mixture.means_, small_cfg.mixture.means_)
    np.testing.assert_array_equal(back.phi, small_cfg.phi)
    assert back.sampler == small_cfg.sampler
    assert back.latency == small_cfg.latency
    assert back.power_range_w == small_cfg.power_range_w
    x = np.stack([np.arange(600.0) % 9, np.zeros(600)], axis=1)
    np.testing.assert_array_equal(
        back.generate_from_features(x, rng=3), small_cfg.generate_from_features(x, rng=3)
    )
    # saving again gives byte-identical files
    jp2 = back.save(tmp_path / "again")
    assert jp2.read_text() == jp.read_text()


def _stamped(meta: dict) -> dict:
    """A tampered JSON whose content checksum was recomputed (so deeper checks run)."""
    from traces.model.configuration import content_sha256

    return {**meta, "content_sha256": content_sha256(meta)}


def test_tampered_artifacts_fail(small_cfg: FittedConfiguration, tmp_path: Path) -> None:
    jp = small_cfg.save(tmp_path)
    st = tmp_path / "qwen3-8b_H100_tp1.safetensors"
    good_blob, good_json = st.read_bytes(), jp.read_text()

    blob = bytearray(good_blob)
    blob[len(blob) // 2] ^= 0xFF
    st.write_bytes(bytes(blob))
    with pytest.raises(ArtifactError, match="checksum"):
        FittedConfiguration.load(jp)
    st.write_bytes(good_blob)

    meta = json.loads(good_json)
    meta["tensors"]["sha256"] = "0" * 64
    jp.write_text(json.dumps(_stamped(meta)))
    with pytest.raises(ArtifactError, match="checksum"):
        FittedConfiguration.load(jp)

    meta = json.loads(good_json)
    meta["schema_version"] = 99
    jp.write_text(json.dumps(_stamped(meta)))
    with pytest.raises(ArtifactError, match="schema_version"):
        FittedConfiguration.load(jp)

    meta = json.loads(good_json)
    meta["n_states"] = 3
    meta["mixture"]["means_w"] = meta["mixture"]["means_w"][:3]
    meta["mixture"]["variances_w2"] = meta["mixture"]["variances_w2"][:3]
    meta["mixture"]["weights"] = [1 / 3] * 3
    jp.write_text(json.dumps(_stamped(meta)))
    with pytest.raises(ArtifactError, match="states"):
        FittedConfiguration.load(jp)

    # a valid tensor file of another configuration, with the checksum made to match
    import copy

    other_cfg = copy.copy(small_cfg)
    other_cfg.config_id = "other_H100_tp1"
    other_cfg.save(tmp_path / "other")
    foreign = (tmp_path / "other" / "other_H100_tp1.safetensors").read_bytes()
    st.write_bytes(foreign)
    meta = json.loads(good_json)
    meta["tensors"]["sha256"] = hashlib.sha256(foreign).hexdigest()
    jp.write_text(json.dumps(_stamped(meta)))
    with pytest.raises(ArtifactError, match="belongs to configuration 'other_H100_tp1'"):
        FittedConfiguration.load(jp)
    st.write_bytes(good_blob)

    jp.write_text(good_json[: len(good_json) // 2])
    with pytest.raises(ArtifactError, match="JSON"):
        FittedConfiguration.load(jp)

    jp.write_text(good_json)
    other = tmp_path / "renamed_H100_tp1.json"
    other.write_text(good_json)
    with pytest.raises(ArtifactError, match="does not match"):
        FittedConfiguration.load(other)
    st.unlink()
    with pytest.raises(ArtifactError, match="not found"):
        FittedConfiguration.load(jp)


def test_bad_inputs(small_cfg: FittedConfiguration) -> None:
    from traces.schedule import RequestSchedule, ScheduleError

    start = pd.Timestamp("2026-01-01", tz="UTC")
    empty = RequestSchedule(np.array([]), np.array([], int), np.array([], int), start, 60.0)
    with pytest.raises(ModelError, match="empty"):
        small_cfg.generate(empty, rng=0)
    with pytest.raises(ScheduleError, match="n_in"):
        RequestSchedule(np.array([0.0]), np.array([-5]), np.array([10]), start, 60.0)
    fake = types.SimpleNamespace(
        arrival_s=np.array([0.0]),
        n_in=np.array([-5]),
        n_out=np.array([10]),
        start=start,
        duration_s=60.0,
    )
    with pytest.raises(ModelError, match="negative token"):
        small_cfg.generate(fake, rng=0)
    x = np.ones((50, 2))
    x[10, 1] = np.nan
    with pytest.raises(ModelError, match=r"NaN.*delta_active"):
        small_cfg.generate_from_features(x, rng=0)
    with pytest.raises(ModelError, match="expected"):
        small_cfg.generate_from_features(np.ones((50, 3)), rng=0)
    with pytest.raises(ModelError, match="empty"):
        small_cfg.generate_from_features(np.ones((0, 2)), rng=0)
    # log1p_ columns: log(1 + x) of the extra column (independent numpy computation)
    ns = types.SimpleNamespace(
        active=np.ones(3),
        delta_active=np.zeros(3),
        extra={"prefill_tokens": np.array([0, 9, 99.0])},
    )
    got = feature_matrix(ns, ("active", "log1p_prefill_tokens"))
    np.testing.assert_allclose(got[:, 1], [0.0, np.log(10.0), np.log(100.0)])
    with pytest.raises(ModelError, match="prefill_tokens"):
        feature_matrix(
            types.SimpleNamespace(active=np.ones(5), delta_active=np.zeros(5), extra={}),
            ("active", "delta_active", "prefill_tokens"),
        )
