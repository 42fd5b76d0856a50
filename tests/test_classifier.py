"""BiGRU state classifier (Eq 3): learning, determinism, windowed inference, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from traces.classifier import (
    BiGRUNet,
    ClassifierError,
    StateClassifier,
    _bigru_logits,
    iter_windows,
)
from traces.states import classifier

#: Tolerance on the max abs difference of state probabilities between windowed
#: (window 8192, the configuration's ``inference_overlap`` on each side, chosen at fit time
#: for < 5e-4 on a calibration workload) and full-sequence inference for the shipped
#: classifiers on an independent 2 h Poisson workload.
WINDOW_EDGE_TOL = 1e-3


def _toy(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A_t as a reflected random walk on [0, 12]; state = load bucket, *one step later*.

    The label depends on the past (A_{t-1}), so the recurrence must be used.
    """
    rng = np.random.default_rng(seed)
    walk = 6 + np.cumsum(rng.choice([-1, 0, 1], size=n, p=[0.3, 0.4, 0.3]))
    a = np.abs(np.mod(walk, 24) - 12).astype(float)
    da = np.diff(a, prepend=a[:1])
    lab = np.digitize(np.roll(a, 1), [3.5, 6.5, 9.5])
    lab[0] = 0
    return np.stack([a, da], axis=1), lab


def _small(**kw: object) -> StateClassifier:
    args = dict(
        train_window=256,
        batch_size=8,
        max_epochs=10,
        windows_per_epoch=48,
        lr=1e-2,
        patience=20,
        hidden_size=16,
        random_state=3,
    )
    args.update(kw)
    return StateClassifier(4, **args)


@pytest.fixture(scope="module")
def toy_fitted() -> StateClassifier:
    x, y = _toy(3000, 0)
    return _small().fit([x], [y])


def test_learns_lagged_mapping(toy_fitted: StateClassifier) -> None:
    x, y = _toy(2000, 99)  # unseen sequence
    acc = float(np.mean(toy_fitted.predict(x) == y))
    majority = float(np.max(np.bincount(y)) / y.size)
    assert acc > 0.9 > majority + 0.2, (acc, majority)
    h = toy_fitted.history_
    assert h["n_val_steps"] == 600  # 3 contiguous blocks, 20 % in all
    assert len(h["val_loss"]) == h["epochs_run"]
    assert h["best_val_loss"] == min(h["val_loss"])


def test_fit_is_deterministic() -> None:
    x, y = _toy(800, 1)
    a = _small(max_epochs=2).fit([x], [y]).state_tensors()
    b = _small(max_epochs=2).fit([x], [y]).state_tensors()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    c = _small(max_epochs=2, random_state=4).fit([x], [y]).state_tensors()
    assert not torch.equal(a["classifier.head.weight"], c["classifier.head.weight"])


@pytest.mark.parametrize(
    ("t_len", "window", "overlap"), [(1000, 100, 10), (4352, 4096, 128), (999, 333, 0)]
)
def test_window_plan_partitions_sequence(t_len: int, window: int, overlap: int) -> None:
    covered = np.zeros(t_len, dtype=int)
    length = window + 2 * overlap
    for a, c0, c1 in iter_windows(t_len, window, overlap):
        assert 0 <= a and a + length <= t_len
        assert a <= c0 < c1 <= a + length
        # context of >= overlap steps, or the true boundary
        assert c0 - a >= overlap or a == 0
        assert a + length - c1 >= overlap or a + length == t_len
        covered[c0:c1] += 1
    np.testing.assert_array_equal(covered, 1)


def test_predict_proba_many_matches_full_on_toy(toy_fitted: StateClassifier) -> None:
    xs = [_toy(n, s)[0] for n, s in [(3000, 5), (50, 6), (1200, 7), (50, 8)]]
    many = toy_fitted.predict_proba_many(xs, window=400, overlap=256, batch_windows=3)
    assert [p.shape for p in many] == [(x.shape[0], 4) for x in xs]
    for x, p in zip(xs, many, strict=True):
        full = toy_fitted.predict_proba(x)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
        assert np.max(np.abs(p - full)) < 1e-3
    # without overlap the window edges do change the probabilities (the test can fail)
    edge = toy_fitted.predict_proba_many(xs[:1], window=400, overlap=0)[0]
    assert np.max(np.abs(edge - toy_fitted.predict_proba(xs[0]))) > 1e-3


def test_predict_proba_many_whole_sequences_equal_full(toy_fitted: StateClassifier) -> None:
    """window=None: each sequence runs whole, batched with its equal-length neighbours,
    and equals the single-sequence full inference bit for bit (mixed lengths, order kept)."""
    xs = [_toy(n, s)[0] for n, s in [(700, 1), (700, 2), (700, 3), (90, 4), (700, 5)]]
    for batch in (1, 2, 16):
        many = toy_fitted.predict_proba_many(xs, window=None, batch_windows=batch)
        assert len(many) == len(xs)
        for x, p in zip(xs, many, strict=True):
            np.testing.assert_array_equal(p, toy_fitted.predict_proba(x))
    with pytest.raises(ClassifierError, match="window"):
        toy_fitted.predict_proba_many(xs, window=0)


def test_shipped_classifiers_window_edges_within_tolerance() -> None:
    """Windowed (8192 + 2 x inference_overlap) vs full-sequence inference, 2 h Poisson workload."""
    from traces.registry import list_configurations, load_configuration
    from traces.schedule import TokenDistribution, poisson

    cfgs = list_configurations()
    measured = cfgs.loc[cfgs["source"] == "measured", "config_id"].tolist()
    assert len(measured) == 6
    tokens = TokenDistribution.from_arrays([200, 800, 1500, 60], [150, 300, 600, 20])
    worst = {}
    for cid in measured:
        cfg = load_configuration(cid)
        sched = poisson(2.0, 7200.0, tokens, rng=11)
        from traces.surrogate import features_for_schedule

        feats = features_for_schedule(sched, cfg.latency, rng=12)
        from traces.model import feature_matrix

        x = feature_matrix(feats, cfg.feature_names)
        full = cfg.classifier.predict_proba(x)
        win = cfg.classifier.predict_proba_many([x], window=8192, overlap=cfg.inference_overlap)[0]
        worst[cid] = float(np.max(np.abs(win - full)))
    assert max(worst.values()) < WINDOW_EDGE_TOL, worst


@pytest.mark.parametrize(
    ("feats", "labels", "match"),
    [
        ([np.array([[1.0, np.nan]] * 20)], [np.zeros(20, int)], "NaN"),
        ([np.zeros((20, 2))], [np.full(20, 7)], "K mismatch"),
        ([np.zeros((20, 2))], [np.zeros(19, int)], "shape"),
        ([np.zeros((0, 2))], [np.zeros(0, int)], "empty"),
        ([], [], "one label array"),
    ],
)
def test_bad_training_input(feats: list, labels: list, match: str) -> None:
    with pytest.raises(ClassifierError, match=match):
        StateClassifier(4, max_epochs=1).fit(feats, labels)


def test_bad_inference_input(toy_fitted: StateClassifier) -> None:
    with pytest.raises(ClassifierError, match="feature columns"):
        toy_fitted.predict_proba(np.zeros((10, 3)))
    with pytest.raises(ClassifierError, match="NaN"):
        toy_fitted.predict_proba_many([np.full((10, 2), np.inf)])


def _require_c_kernel() -> None:
    """Fail when the compiled kernel is missing (a broken build), unless the fallback was
    asked for with GRIDLINK_BIGRU_KERNEL=torch (then skip)."""
    import os

    if classifier._C_KERNEL is not None:
        return
    if os.environ.get("GRIDLINK_BIGRU_KERNEL", "").strip().lower() == "torch":
        pytest.skip("GRIDLINK_BIGRU_KERNEL=torch: the compiled kernel is switched off")
    pytest.fail(
        "traces._bigru is not built (no C compiler at install?): rebuild with "
        "`pip install -e .`, or set GRIDLINK_BIGRU_KERNEL=torch to test the fallback only"
    )


@pytest.fixture(params=["c", "torch"])
def cpu_kernel(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test once with the compiled kernel and once with the PyTorch fallback."""
    if request.param == "torch":
        monkeypatch.setattr(classifier, "_C_KERNEL", None)
    else:
        _require_c_kernel()
    return request.param


def test_cpu_kernel_matches_gru_and_is_batch_independent(cpu_kernel: str) -> None:
    """Each CPU inference kernel equals the torch module within float rounding, and each
    sequence's logits are bit-identical whatever batch (size, position) or thread count."""
    torch.manual_seed(3)
    net = BiGRUNet(4, 5).eval()
    x = torch.randn(37, 150, 4)
    prev = torch.get_num_threads()
    with torch.inference_mode():
        full = _bigru_logits(net, x)
        assert full.shape == (37, 150, 5)
        assert _bigru_logits(net, x[:0]).shape == (0, 150, 5)
        assert _bigru_logits(net, x[:, :0]).shape == (37, 0, 5)
        assert torch.max(torch.abs(full - net(x))) < 1e-5
        for a, b in [(0, 1), (36, 37), (3, 10), (5, 37), (1, 17)]:
            assert torch.equal(full[a:b], _bigru_logits(net, x[a:b]))
        try:
            for n in (1, 2, 3):
                torch.set_num_threads(n)
                assert torch.equal(full, _bigru_logits(net, x))
        finally:
            torch.set_num_threads(prev)


def test_c_kernel_equals_torch_kernel_on_a_shipped_classifier(cfg) -> None:  # noqa: ANN001
    """The compiled kernel and the PyTorch kernel give the same state probabilities (to
    float rounding) for a shipped network on surrogate features of a real-size workload."""
    _require_c_kernel()
    from traces.model import feature_matrix
    from traces.schedule import TokenDistribution, poisson
    from traces.surrogate import features_for_schedule

    tokens = TokenDistribution.from_arrays([200, 800, 1500, 60], [150, 300, 600, 20])
    xs = []
    for seed in (1, 2, 3):
        sched = poisson(1.5, 900.0, tokens, rng=seed)
        feats = features_for_schedule(sched, cfg.latency, rng=seed + 10)
        xs.append(cfg.classifier._normalise(feature_matrix(feats, cfg.feature_names)))
    x = torch.from_numpy(np.stack([a[:3600] for a in xs]).astype(np.float32))
    net = cfg.classifier.net_
    with torch.inference_mode():
        c = classifier._bigru_logits(net, x)
        t = classifier._bigru_logits_torch(net, x)
        ref = net(x)
    assert torch.max(torch.abs(c - ref)) < 2e-5
    assert torch.max(torch.abs(t - ref)) < 2e-5
    pc = torch.softmax(c, -1)
    pt = torch.softmax(t, -1)
    assert torch.max(torch.abs(pc - pt)) < 1e-5


@pytest.mark.skipif(
    classifier._C_KERNEL is None or classifier._C_KERNEL.BUILD != "avx512",
    reason="needs the compiled kernel's AVX-512 build (an AVX-512 CPU)",
)
def test_c_kernel_builds_agree() -> None:
    """The AVX-512 build (4 sequences x 2 column blocks) and the AVX2 build (2 x 6) are
    bit-identical; the generic build (no FMA) agrees within float rounding."""
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np, torch\n"
        "from traces.classifier import BiGRUNet, _bigru_logits\n"
        "import traces.states._bigru as b\n"
        "torch.manual_seed(5); net = BiGRUNet(2, 7).eval(); x = torch.randn(7, 500, 2)\n"
        "with torch.inference_mode(): out = _bigru_logits(net, x).numpy()\n"
        "import sys; np.save(sys.argv[1], out); print(b.BUILD)\n"
    )
    outs = {}
    for build in ("avx512", "avx2", "generic"):
        env = {**os.environ, "GRIDLINK_BIGRU_BUILD": build}
        env.pop("GRIDLINK_BIGRU_KERNEL", None)
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"gridlink_bigru_{build}.npy")
        res = subprocess.run(
            [sys.executable, "-c", code, path], env=env, capture_output=True, text=True
        )
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == build
        outs[build] = np.load(path)
        os.remove(path)
    assert np.array_equal(outs["avx512"], outs["avx2"])
    assert np.max(np.abs(outs["avx512"] - outs["generic"])) < 1e-5
    assert not np.array_equal(outs["avx512"], np.zeros_like(outs["avx512"]))


def test_c_kernel_rejects_bad_buffers() -> None:
    _require_c_kernel()
    torch.manual_seed(0)
    w = classifier._pack_bigru(BiGRUNet(2, 4).eval())
    x = np.zeros((3, 10, 2), np.float32)
    out = np.zeros((3, 10, 4), np.float32)
    k = classifier._C_KERNEL
    with pytest.raises(ValueError, match="packed weights"):
        k.logits(x, w[:-1], out, 10, 2, 4, 0, 3)
    with pytest.raises(ValueError, match=r"\(B, T, F\)"):
        k.logits(x, w, np.zeros((3, 9, 4), np.float32), 10, 2, 4, 0, 3)
    with pytest.raises(ValueError, match="rows"):
        k.logits(x, w, out, 10, 2, 4, 0, 4)
    with pytest.raises(ValueError, match="K"):
        k.logits(x, w, out, 10, 2, 17, 0, 3)
    k.logits(x, w, out, 10, 2, 4, 0, 3)
    assert np.isfinite(out).all()
