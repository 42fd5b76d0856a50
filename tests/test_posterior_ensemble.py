"""Posterior-averaging ensemble of state classifiers (traces.model.posterior_ensemble) on a real bundle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from traces.measured.evaluate import heldout_features
from traces.measured.ingest import load_bundle
from traces.model.posterior_ensemble import PosteriorEnsemble, fit_ensemble_configuration


def test_ensemble_averages_member_posteriors(h100_r4_dir: Path) -> None:
    b = load_bundle(h100_r4_dir)
    cfg = fit_ensemble_configuration([b], seed=0, n_members=2, max_epochs=2)
    ens = cfg.classifier
    assert isinstance(ens, PosteriorEnsemble) and len(ens.members) == 2
    assert cfg.provenance["ensemble"]["member_seeds"] == [0, 1]
    feats, _ = heldout_features(b, cfg.latency, rng=0)
    x = np.stack([feats.active, feats.delta_active], axis=1)
    (p,) = ens.predict_proba_many([x], window=None, overlap=0)
    by_hand = np.mean(
        [m.predict_proba_many([x], window=None, overlap=0)[0] for m in ens.members], 0
    )
    np.testing.assert_allclose(p, by_hand, rtol=0, atol=1e-12)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    a = cfg.generate_from_features(feats, rng=5)
    again = fit_ensemble_configuration([b], seed=0, n_members=2, max_epochs=2)
    np.testing.assert_array_equal(a, again.generate_from_features(feats, rng=5))
    with pytest.raises(ValueError, match="at least one"):
        PosteriorEnsemble([])
