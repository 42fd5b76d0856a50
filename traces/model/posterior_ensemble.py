"""Seed stability of the state classifier: posterior averaging over several fits (issue 16).

One BiGRU fit seed can decide the answer out of distribution (docs/fidelity.md: held-out
BurstGPT energy error from -38 % to +12 % over five fit seeds).  The remedy here keeps one
power-state mixture (Eq 2, fitted once) and trains ``n_members`` classifiers (Eq 3) on the
same labels and features with different initialisation / window seeds; generation uses the
*average* of their state posteriors ``p(s_t | x) = (1/M) sum_m p_m(s_t | x)``, a standard
deep-ensemble estimate (Lakshminarayanan, Pritzel & Blundell, "Simple and Scalable
Predictive Uncertainty Estimation using Deep Ensembles", NeurIPS 2017).  The sampler and
everything downstream are unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any, cast

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["PosteriorEnsemble", "fit_ensemble_configuration"]


class PosteriorEnsemble:
    """Several :class:`~traces.states.classifier.StateClassifier` fits over one state space.

    Offers the inference interface a :class:`~traces.model.FittedConfiguration` uses
    (``n_states``, ``n_features_``, ``predict_proba_many``, ``iter_proba_many``) and
    returns the mean of the members' posteriors, shape (T, K) per sequence.

    Raises
    ------
    ValueError
        No members, or members with different state or feature counts.
    """

    def __init__(self, members: Sequence[Any]) -> None:
        members = list(members)
        if not members:
            raise ValueError("PosteriorEnsemble: needs at least one fitted classifier")
        ks = {int(m.n_states) for m in members}
        fs = {int(m.n_features_) for m in members}
        if len(ks) != 1 or len(fs) != 1:
            raise ValueError(f"PosteriorEnsemble: members disagree on states {ks} or features {fs}")
        self.members = members
        self.n_states = ks.pop()
        self.n_features_ = fs.pop()
        self.history_ = {"members": [getattr(m, "history_", {}) for m in members]}

    def predict_proba_many(self, xs: Sequence[np.ndarray], **kwargs: Any) -> list[np.ndarray]:
        """Mean member posterior per sequence, each (T_i, K)."""
        xs = list(xs)
        total = list(self.members[0].predict_proba_many(xs, **kwargs))
        for m in self.members[1:]:
            p = m.predict_proba_many(xs, **kwargs)
            total = [a + b for a, b in zip(total, p, strict=True)]
        return [t / len(self.members) for t in total]

    def iter_proba_many(self, xs: Any, **kwargs: Any) -> Iterator[tuple[int, np.ndarray]]:
        """Like ``StateClassifier.iter_proba_many`` (input order), member posteriors averaged."""
        xs = list(xs)
        kwargs.pop("batch_windows", None)
        kwargs.pop("device", None)
        yield from enumerate(self.predict_proba_many(xs, **kwargs))

    def state_tensors(self) -> dict[str, Any]:
        """Not available: an ensemble is not stored (``FittedConfiguration.save`` keeps one
        classifier).

        Raises
        ------
        ValueError
            Always; save a single-classifier fit (``fit_configuration``) instead.
        """
        raise ValueError(
            "PosteriorEnsemble cannot be saved: FittedConfiguration.save stores one classifier; "
            "save a single-classifier fit (traces.model.fit.fit_configuration) instead"
        )


def fit_ensemble_configuration(
    bundles: Sequence[Any],
    *,
    seed: int = 0,
    n_members: int = 3,
    mixture_seed: int | None = 0,
    **fit_kwargs: Any,
) -> Any:
    """:func:`traces.model.fit.fit_configuration` with an ensemble of ``n_members`` classifiers.

    The first member is the ordinary fit with ``seed`` (latency model, sampler choice and
    provenance come from it; the mixture uses ``mixture_seed``, 0 by default, so that the
    state space does not change with the fit seed - None lets it follow ``seed``); members ``j = 1 .. n_members - 1`` are trained on
    the same mixture labels with classifier seed ``seed * 1000 + j`` and surrogate feature
    draws of their own.  The result generates with the averaged posteriors.  Not
    serialisable by ``FittedConfiguration.save`` (which stores one classifier).

    Returns
    -------
    traces.model.FittedConfiguration
        ``classifier`` is a :class:`PosteriorEnsemble`; ``provenance["ensemble"]`` lists
        the member seeds.
    """
    from traces.model.fit import fit_configuration, training_features
    from traces.states.classifier import StateClassifier

    if n_members < 1:
        raise ValueError(f"n_members must be >= 1, got {n_members}")
    bundles = list(bundles)
    cfg = fit_configuration(bundles, seed=seed, mixture_seed=mixture_seed, **fit_kwargs)
    if n_members == 1:
        return cfg
    labels = [cfg.mixture.predict(b.power_w.to_numpy(dtype=np.float64)) for b in bundles]
    n_draws = int(cfg.provenance.get("n_feature_draws", 3))
    members = [cfg.classifier]
    seeds = []
    for j in range(1, n_members):
        s = int(seed) * 1000 + j
        xs, ys = [], []
        for i, (b, lab) in enumerate(zip(bundles, labels, strict=True)):
            for d in range(n_draws):
                xs.append(
                    training_features(
                        b,
                        cfg.latency,
                        feature_set=cfg.feature_set,
                        features=fit_kwargs.get("features", "surrogate"),
                        rng=np.random.default_rng([s, i, d]),
                    )
                )
                ys.append(lab)
        ckw = {
            "max_epochs": fit_kwargs.get("max_epochs", 60),
            "random_state": s,
            **(fit_kwargs.get("classifier_kwargs") or {}),
        }
        members.append(StateClassifier(cfg.mixture.n_states_, **ckw).fit(xs, ys))
        seeds.append(s)
    # duck-typed for inference (n_states, n_features_, predict_proba_many, iter_proba_many);
    # FittedConfiguration.save refuses it with a clear error (state_tensors)
    cfg.classifier = cast("StateClassifier", PosteriorEnsemble(members))
    cfg.provenance["ensemble"] = {"n_members": n_members, "member_seeds": [int(seed), *seeds]}
    logger.info("%s: posterior ensemble of %d classifiers", cfg.config_id, n_members)
    return cfg
