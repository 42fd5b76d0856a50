"""PowerStateMixture (Eq 2): recovery of known mixtures, BIC choice, idle level on real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.exceptions import NotFittedError

from traces.states import PowerStateMixture, StateError

TRUE_MEANS = np.array([80.0, 250.0, 420.0])
TRUE_SDS = np.array([2.0, 15.0, 10.0])
TRUE_W = np.array([0.3, 0.5, 0.2])


def _synthetic(n: int = 6000, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    comp = rng.choice(3, size=n, p=TRUE_W)
    return rng.normal(TRUE_MEANS[comp], TRUE_SDS[comp])


def test_recovers_known_mixture_sorted() -> None:
    x = _synthetic()
    # shuffle order of data does not matter; components come out sorted by mean
    m = PowerStateMixture(n_states=3, random_state=0).fit(x[::-1])
    assert m.n_states_ == 3
    assert np.all(np.diff(m.means_) > 0)
    np.testing.assert_allclose(m.means_, TRUE_MEANS, atol=1.5)
    np.testing.assert_allclose(np.sqrt(m.variances_), TRUE_SDS, rtol=0.1)
    np.testing.assert_allclose(m.weights_, TRUE_W, atol=0.03)


def test_bic_chooses_true_k_and_matches_manual_bic() -> None:
    x = _synthetic()
    m = PowerStateMixture(n_states="bic", k_range=(1, 6), random_state=0).fit(x)
    assert m.n_states_ == 3
    assert set(m.bic_path_) == {1, 2, 3, 4, 5, 6}
    assert min(m.bic_path_, key=m.bic_path_.get) == 3
    # bic() against an independent computation with scipy
    dens = sum(
        w * norm.pdf(x, mu, np.sqrt(v))
        for w, mu, v in zip(m.weights_, m.means_, m.variances_, strict=True)
    )
    manual = -2 * np.log(dens).sum() + (3 * 3 - 1) * np.log(x.size)
    assert m.bic(x) == pytest.approx(manual, rel=1e-9)


def test_predict_is_posterior_argmax() -> None:
    x = _synthetic(2000)
    m = PowerStateMixture(n_states=3, random_state=0).fit(x)
    post = np.stack(
        [
            w * norm.pdf(x, mu, np.sqrt(v))
            for w, mu, v in zip(m.weights_, m.means_, m.variances_, strict=True)
        ],
        axis=1,
    )
    post /= post.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(m.predict_proba(x), post, atol=1e-9)
    np.testing.assert_array_equal(m.predict(x), post.argmax(axis=1))
    # state 0 is the lowest-mean (idle) state
    assert m.predict(np.array([75.0]))[0] == 0
    assert m.predict(np.array([430.0]))[0] == 2


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.array([1.0, np.nan, 3.0, 4.0]), "NaN"),
        (np.ones((4, 2)), "1-D"),
        (np.full(50, 100.0), "constant"),
        (np.array([1.0]), "at least"),
    ],
)
def test_bad_power_raises(bad: np.ndarray, match: str) -> None:
    with pytest.raises(StateError, match=match):
        PowerStateMixture(n_states=2).fit(bad)


def test_bad_n_states_and_unfitted() -> None:
    x = _synthetic(500)
    with pytest.raises(StateError, match="n_states"):
        PowerStateMixture(n_states="aic").fit(x)
    with pytest.raises(StateError, match="n_states"):
        PowerStateMixture(n_states=0).fit(x)
    with pytest.raises(NotFittedError):
        PowerStateMixture().predict(x)


def test_dict_round_trip() -> None:
    m = PowerStateMixture(n_states=3).fit(_synthetic(1000))
    m2 = PowerStateMixture.from_dict(json.loads(json.dumps(m.to_dict())))
    np.testing.assert_array_equal(m2.means_, m.means_)
    np.testing.assert_array_equal(m2.variances_, m.variances_)
    np.testing.assert_array_equal(m2.weights_, m.weights_)


def test_from_reference_params(powertrace_dir: Path) -> None:
    path = (
        powertrace_dir / "reference_params" / "llama-3-8b_H100_tp1" / "llama-3-8b_H100_tp1_k10.json"
    )
    raw = json.loads(path.read_text())
    m = PowerStateMixture.from_reference_params(path)
    assert m.n_states_ == raw["k"] == 10
    order = np.argsort(raw["means"])
    np.testing.assert_array_equal(m.means_, np.asarray(raw["means"])[order])
    np.testing.assert_array_equal(m.variances_, np.asarray(raw["variances"])[order])
    with pytest.raises(StateError, match="not found"):
        PowerStateMixture.from_reference_params(path.with_name("nope.json"))


CONFIGS = [
    "qwen3-8b_A100_tp1",
    "qwen3-8b_H100_tp1",
    "qwen3-14b_A100_tp1",
    "gemma-4-26b-a4b_A100_tp2",
    "qwen3-30b-a3b_H100_tp2",
    "llama-3.1-70b_H100_tp4",
]


@pytest.mark.parametrize("config_id", CONFIGS)
def test_lowest_state_is_measured_idle(powertrace_dir: Path, config_id: str) -> None:
    """The lowest state mean equals the idle power before the first request (within a few W).

    The idle level is computed independently: median node power (summed over the TP GPUs
    from the raw power.csv) at timestamps before the first request timestamp.
    """
    import pandas as pd

    powers, idle = [], []
    for run in sorted((powertrace_dir / config_id).iterdir()):
        man_name = (
            "manifest.json" if (run / "manifest.json").exists() else "manifest.no_sessions.json"
        )
        offset = json.loads((run / man_name).read_text())["clock"]["local_utc_offset_s"]
        df = pd.read_csv(run / "power.csv")
        node = df.groupby("timestamp", sort=True)["power.draw [W]"].sum()
        t = pd.to_datetime(node.index, format="%Y/%m/%d %H:%M:%S.%f").astype("int64") / 1e9 - offset
        first_req = min(
            json.loads((run / "requests.no_itls.json").read_text())["request_timestamps"]
        )
        idle.append(node.to_numpy()[np.asarray(t) < first_req])
        powers.append(node.to_numpy())
    measured_idle = float(np.median(np.concatenate(idle)))
    m = PowerStateMixture(random_state=0).fit(np.concatenate(powers))
    assert 4 <= m.n_states_ <= 12
    # a few watts: 1 % of the idle level, at least 3 W
    assert abs(m.means_[0] - measured_idle) <= max(3.0, 0.01 * measured_idle), (
        m.means_[:3],
        measured_idle,
    )
