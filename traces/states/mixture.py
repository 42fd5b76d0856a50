"""Latent power states: a 1-D Gaussian mixture on measured power (paper Sec. 3.2, Eq 2).

The measured (TP-summed) power of one configuration is modelled as a mixture of ``K``
Gaussians. ``K`` is chosen by the Bayesian information criterion (BIC) over a range
(the paper finds 8-12 for its corpus) or fixed by the caller. Components are sorted by
their mean so that state 0 is the lowest (idle) state and state ``K-1`` the highest;
hard labels are the posterior maximum (Eq 2) and are the targets of the state
classifier (:mod:`traces.states.classifier`).

References
----------
Wilkins, Kazhamiaka and Rajagopal, "From Servers to Sites: Compositional Power Trace
Generation of LLM Inference for Infrastructure Planning" (2026), Sec. 3.2, Eq 2.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture
from sklearn.utils.validation import check_is_fitted

logger = logging.getLogger(__name__)

__all__ = ["PowerStateMixture", "StateError"]


class StateError(ValueError):
    """Invalid input to the power-state mixture (bad power array, bad K, bad file)."""


def _as_power(power_w: Any, *, name: str = "power_w", min_len: int = 2) -> np.ndarray:
    """Validate a 1-D power array [W] and return it as float64."""
    try:
        x = np.asarray(power_w, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StateError(f"{name} must be a 1-D array of power values in W: {exc}") from exc
    if x.ndim != 1:
        raise StateError(f"{name} must be 1-D (T,), got shape {x.shape}; pass one power series")
    if x.size < min_len:
        raise StateError(f"{name} has {x.size} samples; need at least {min_len}")
    n_bad = int(np.count_nonzero(~np.isfinite(x)))
    if n_bad:
        raise StateError(
            f"{name} has {n_bad} NaN/inf values; drop or interpolate them before fitting"
        )
    return x


class PowerStateMixture(BaseEstimator):
    """Sorted 1-D Gaussian mixture over power [W]; state 0 is idle (Eq 2).

    Parameters
    ----------
    n_states : int or "bic", default "bic"
        Number of states ``K``, or ``"bic"`` to choose ``K`` in ``k_range`` by minimum BIC.
    k_range : tuple of int, default (4, 12)
        Inclusive range of ``K`` searched when ``n_states="bic"``.
    reg_covar : float, default 0.25
        Variance floor added to each component [W^2]. nvidia-smi reports power in
        0.01 W steps and idle plateaus are nearly constant; the floor keeps BIC from
        rewarding degenerate zero-width components.
    n_init : int, default 2
        Restarts of EM per candidate ``K`` (best log-likelihood kept).
    max_iter : int, default 300
        EM iterations per restart.
    random_state : int, default 0
        Seed of the EM initialisation (k-means++), so fits are reproducible.

    Attributes
    ----------
    means_ : ndarray (K,)
        Component means [W], increasing.
    variances_ : ndarray (K,)
        Component variances [W^2].
    weights_ : ndarray (K,)
        Mixing weights (sum to 1).
    n_states_ : int
        Chosen ``K``.
    bic_path_ : dict[int, float]
        BIC for every ``K`` tried (one entry when ``n_states`` is an int).
    n_samples_fit_ : int
        Number of power samples used in the fit.
    """

    def __init__(
        self,
        n_states: int | str = "bic",
        *,
        k_range: tuple[int, int] = (4, 12),
        reg_covar: float = 0.25,
        n_init: int = 2,
        max_iter: int = 300,
        random_state: int = 0,
    ) -> None:
        self.n_states = n_states
        self.k_range = k_range
        self.reg_covar = reg_covar
        self.n_init = n_init
        self.max_iter = max_iter
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def _candidate_ks(self, n: int) -> list[int]:
        if isinstance(self.n_states, str):
            if self.n_states != "bic":
                raise StateError(f"n_states must be an int >= 1 or 'bic', got {self.n_states!r}")
            lo, hi = (int(v) for v in self.k_range)
            if lo < 1 or hi < lo:
                raise StateError(f"k_range must be (lo, hi) with 1 <= lo <= hi, got {self.k_range}")
            ks = list(range(lo, hi + 1))
        else:
            k = int(self.n_states)
            if k < 1 or k != self.n_states:
                raise StateError(f"n_states must be an int >= 1 or 'bic', got {self.n_states!r}")
            ks = [k]
        ks = [k for k in ks if k < n]
        if not ks:
            raise StateError(f"{n} power samples are too few for K in {self.k_range}")
        return ks

    def fit(self, power_w: Any, y: Any = None) -> PowerStateMixture:
        """Fit the mixture to measured power.

        Parameters
        ----------
        power_w : array-like (T,)
            Measured node power [W] (summed over the TP GPUs), all training traces
            concatenated.
        y : ignored
            Present for scikit-learn API compatibility.

        Returns
        -------
        self : PowerStateMixture

        Raises
        ------
        StateError
            If ``power_w`` is not 1-D, has NaN/inf, or is too short for the requested K.
        """
        x = _as_power(power_w, min_len=3)
        if np.ptp(x) == 0.0:
            raise StateError("power_w is constant; a mixture needs varying power (load + idle)")
        ks = self._candidate_ks(x.size)
        X = x[:, None]
        best: GaussianMixture | None = None
        best_bic = np.inf
        path: dict[int, float] = {}
        for k in ks:
            gm = GaussianMixture(
                n_components=k,
                covariance_type="full",
                reg_covar=float(self.reg_covar),
                n_init=int(self.n_init),
                max_iter=int(self.max_iter),
                random_state=int(self.random_state),
            )
            gm.fit(X)
            b = float(gm.bic(X))
            path[k] = b
            logger.debug("GMM K=%d BIC=%.1f converged=%s", k, b, gm.converged_)
            if b < best_bic:
                best, best_bic = gm, b
        assert best is not None
        order = np.argsort(best.means_.ravel(), kind="stable")
        self.means_ = best.means_.ravel()[order].astype(np.float64)
        self.variances_ = best.covariances_.reshape(-1)[order].astype(np.float64)
        self.weights_ = best.weights_[order].astype(np.float64)
        self.n_states_ = int(self.means_.size)
        self.bic_path_ = path
        self.n_samples_fit_ = int(x.size)
        logger.info("PowerStateMixture: K=%d chosen (BIC path %s)", self.n_states_, path)
        return self

    # ---------------------------------------------------------------- inference
    def _log_joint(self, x: np.ndarray) -> np.ndarray:
        """log w_k + log N(x | mu_k, var_k), shape (T, K)."""
        check_is_fitted(self, ["means_", "variances_", "weights_"])
        var = self.variances_
        d = x[:, None] - self.means_[None, :]
        return (
            np.log(self.weights_)[None, :]
            - 0.5 * np.log(2.0 * np.pi * var)[None, :]
            - 0.5 * d * d / var[None, :]
        )

    def predict_proba(self, power_w: Any) -> np.ndarray:
        """Posterior state probabilities p(s=k | P_t).

        Parameters
        ----------
        power_w : array-like (T,)
            Power [W].

        Returns
        -------
        ndarray (T, K)
            Rows sum to 1; column k is state k (sorted by mean).
        """
        lj = self._log_joint(_as_power(power_w, min_len=1))
        lj -= lj.max(axis=1, keepdims=True)
        p = np.exp(lj)
        p /= p.sum(axis=1, keepdims=True)
        return p

    def predict(self, power_w: Any) -> np.ndarray:
        """Hard state labels, the posterior maximum (Eq 2).

        Parameters
        ----------
        power_w : array-like (T,)
            Power [W].

        Returns
        -------
        ndarray of int64 (T,)
            Labels in ``0..K-1``; 0 is the lowest-mean (idle) state.
        """
        return np.argmax(self._log_joint(_as_power(power_w, min_len=1)), axis=1).astype(np.int64)

    def score_samples(self, power_w: Any) -> np.ndarray:
        """Log-density of each sample under the mixture, shape (T,) [log(1/W)]."""
        lj = self._log_joint(_as_power(power_w, min_len=1))
        m = lj.max(axis=1)
        return m + np.log(np.exp(lj - m[:, None]).sum(axis=1))

    def bic(self, power_w: Any) -> float:
        """Bayesian information criterion on ``power_w`` (lower is better).

        ``BIC = -2 log L + p log n`` with ``p = 3K - 1`` free parameters (K means,
        K variances, K-1 weights) of a 1-D mixture.
        """
        x = _as_power(power_w, min_len=1)
        ll = float(self.score_samples(x).sum())
        p = 3 * self.means_.size - 1
        return -2.0 * ll + p * np.log(x.size)

    @property
    def stds_(self) -> np.ndarray:
        """Component standard deviations [W], shape (K,)."""
        check_is_fitted(self, ["variances_"])
        return np.sqrt(self.variances_)

    # ------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable parameters (means [W], variances [W^2], weights, BIC path)."""
        check_is_fitted(self, ["means_"])
        return {
            "n_states": self.n_states if isinstance(self.n_states, str) else int(self.n_states),
            "k_range": [int(v) for v in self.k_range],
            "reg_covar": float(self.reg_covar),
            "random_state": int(self.random_state),
            "n_states_": int(self.n_states_),
            "means_w": [float(v) for v in self.means_],
            "variances_w2": [float(v) for v in self.variances_],
            "weights": [float(v) for v in self.weights_],
            "bic_path": {str(k): float(v) for k, v in self.bic_path_.items()},
            "n_samples_fit": int(getattr(self, "n_samples_fit_", 0)),
        }

    @classmethod
    def from_arrays(
        cls,
        means_w: Sequence[float],
        variances_w2: Sequence[float],
        weights: Sequence[float],
        *,
        bic_path: dict[int, float] | None = None,
        n_samples_fit: int = 0,
    ) -> PowerStateMixture:
        """Build a fitted mixture from parameters; components are re-sorted by mean.

        Raises
        ------
        StateError
            If lengths differ, a variance is not positive, or weights do not sum to 1
            (within 1e-6) or are negative.
        """
        m = np.asarray(means_w, dtype=np.float64).ravel()
        v = np.asarray(variances_w2, dtype=np.float64).ravel()
        w = np.asarray(weights, dtype=np.float64).ravel()
        if not (m.size == v.size == w.size) or m.size == 0:
            raise StateError(
                f"means ({m.size}), variances ({v.size}) and weights ({w.size}) must have the "
                "same non-zero length K"
            )
        if not (np.all(np.isfinite(m)) and np.all(np.isfinite(v)) and np.all(np.isfinite(w))):
            raise StateError("mixture parameters contain NaN/inf")
        if np.any(v <= 0):
            raise StateError("every variance must be > 0 [W^2]")
        if np.any(w < 0) or abs(w.sum() - 1.0) > 1e-6:
            raise StateError(f"weights must be >= 0 and sum to 1, got sum {w.sum():.8f}")
        order = np.argsort(m, kind="stable")
        obj = cls(n_states=int(m.size))
        obj.means_, obj.variances_, obj.weights_ = m[order], v[order], w[order] / w.sum()
        obj.n_states_ = int(m.size)
        obj.bic_path_ = dict(bic_path) if bic_path else {}
        obj.n_samples_fit_ = int(n_samples_fit)
        return obj

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PowerStateMixture:
        """Inverse of :meth:`to_dict`."""
        try:
            obj = cls.from_arrays(
                d["means_w"],
                d["variances_w2"],
                d["weights"],
                bic_path={int(k): float(v) for k, v in d.get("bic_path", {}).items()},
                n_samples_fit=int(d.get("n_samples_fit", 0)),
            )
        except KeyError as exc:
            raise StateError(
                f"mixture dict lacks field {exc}; expected output of to_dict()"
            ) from exc
        obj.n_states = d.get("n_states", obj.n_states_)
        obj.k_range = tuple(d.get("k_range", (4, 12)))
        obj.reg_covar = float(d.get("reg_covar", 0.25))
        obj.random_state = int(d.get("random_state", 0))
        return obj

    @classmethod
    def from_reference_params(cls, path: str | Path) -> PowerStateMixture:
        """Read the authors' fitted GMM file ``<config>_k10.json`` (powertrace-sim).

        Parameters
        ----------
        path : str or Path
            JSON with sorted ``means`` [W], ``variances`` [W^2] and ``weights``
            (``results/continuous_v1_gmm_bigru/k10_f2/gmms/`` of grantwilkins/powertrace-sim).

        Raises
        ------
        StateError
            If the file is missing, not JSON, or lacks ``means``/``variances``/``weights``.
        """
        p = Path(path)
        try:
            d = json.loads(p.read_text())
        except FileNotFoundError as exc:
            raise StateError(f"reference GMM file not found: {p}") from exc
        except json.JSONDecodeError as exc:
            raise StateError(f"reference GMM file {p} is not valid JSON: {exc}") from exc
        missing = [k for k in ("means", "variances", "weights") if k not in d]
        if missing:
            raise StateError(f"reference GMM file {p} lacks {missing}")
        bic = {int(d["k"]): float(d["bic"])} if "bic" in d and "k" in d else None
        return cls.from_arrays(d["means"], d["variances"], d["weights"], bic_path=bic)

    def __repr__(self) -> str:
        try:
            check_is_fitted(self, ["means_"])
        except NotFittedError:
            return f"PowerStateMixture(n_states={self.n_states!r}, unfitted)"
        return (
            f"PowerStateMixture(K={self.n_states_}, means_w=[{self.means_[0]:.1f} .. "
            f"{self.means_[-1]:.1f}])"
        )
