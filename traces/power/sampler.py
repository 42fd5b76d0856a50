"""Per-step state sampling and per-state power sampling (paper Sec. 3.3, Eq 7-9).

* :func:`sample_states` draws ``s_t ~ Categorical(p_t)`` from the classifier's state
  probabilities (Eq 7). Sampling, not the arg-max, keeps the state occupancy right.
* :func:`sample_power_iid` draws ``P_t ~ N(mu_{s_t}, sigma_{s_t}^2)`` independently (Eq 8,
  the paper's sampler for dense models).
* :func:`sample_power_ar1` draws a per-state AR(1) around the state mean (Eq 9, the
  paper's sampler for MoE models): within a run of state k,
  ``P_t - mu_k = phi_k (P_{t-1} - mu_k) + eps_t``, ``eps_t ~ N(0, sigma_k^2 (1 - phi_k^2))``,
  so the marginal per state stays ``N(mu_k, sigma_k^2)``; a run starts from the stationary
  marginal. Vectorised with one :func:`scipy.signal.lfilter` call per state.
* :func:`estimate_ar1` estimates ``phi_k`` from label runs of the training data.
* :func:`clip_power` clips to the observed power range and counts the clipped samples.

All functions take a :class:`numpy.random.Generator` and draw a fixed number of variates
in a fixed order, so the same seed gives bit-identical output.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from scipy.signal import lfilter
from scipy.special import ndtr

logger = logging.getLogger(__name__)

__all__ = [
    "SamplerError",
    "sample_states",
    "sample_power_iid",
    "sample_power_ar1",
    "estimate_ar1",
    "clip_power",
    "run_starts",
    "AR1_PHI_THRESHOLD",
]

#: The authors' threshold on phi for using AR(1) (reference_params ``phi_threshold``):
#: a configuration samples per-state AR(1) noise when its median phi exceeds it.
AR1_PHI_THRESHOLD: float = 0.3


class SamplerError(ValueError):
    """Invalid input to a sampler (probabilities, states or AR(1) parameters)."""


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def sample_states(
    proba: np.ndarray, rng: np.random.Generator | int | None, *, rho: float = 0.0
) -> np.ndarray:
    """Draw one state per step from per-step state probabilities (Eq 7).

    Inverse-CDF sampling: ``s_t = min{k : sum_{j<=k} p_tj > u_t}``.

    * ``rho == 0`` (the paper's Eq 7): ``u_t`` i.i.d. uniform (``rng.random(T)``), the
      states of successive steps are drawn independently.
    * ``0 < rho < 1`` (temporally coherent extension): ``u_t = Phi(x_t)`` with a
      stationary Gaussian AR(1) ``x_t = rho x_{t-1} + sqrt(1 - rho^2) z_t``
      (``rng.standard_normal(T)``). Each ``u_t`` is still exactly uniform, so every
      step's marginal is still ``Categorical(p_t)`` (Eq 7 holds per step), but a server
      that is in the upper part of its predicted state distribution stays there for
      ~``1 / (1 - rho)`` steps instead of flickering between states every 250 ms
      (states are sorted by power, so the quantile ``u_t`` is a load level).

    Parameters
    ----------
    proba : ndarray (T, K)
        Non-negative rows; each row is normalised here (rows must have a positive sum).
    rng : numpy.random.Generator or int or None
        Random source.
    rho : float, default 0.0
        Lag-1 correlation of the latent Gaussian, in [0, 1).

    Returns
    -------
    ndarray of int64 (T,)
        Sampled states in ``0..K-1``.

    Raises
    ------
    SamplerError
        If ``proba`` is not 2-D, has NaN/negative entries or a zero row.
    """
    p = np.asarray(proba)
    if p.ndim != 2 or p.shape[1] < 1:
        raise SamplerError(f"proba must have shape (T, K), got {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise SamplerError("proba has NaN/inf or negative entries; pass softmax probabilities")
    cdf = np.cumsum(p, axis=1, dtype=np.float64)
    tot = cdf[:, -1]
    if np.any(tot <= 0):
        raise SamplerError("proba has a row summing to 0; every step needs a state distribution")
    if not 0.0 <= rho < 1.0:
        raise SamplerError(f"rho must lie in [0, 1), got {rho}")
    if rho == 0.0:
        u = _rng(rng).random((p.shape[0],))
    else:
        z = _rng(rng).standard_normal((p.shape[0],))
        b = z * np.sqrt(1.0 - rho * rho)
        b[:1] = z[:1]  # stationary start
        u = ndtr(lfilter([1.0], [1.0, -rho], b))
    u = u * tot
    # number of cdf entries <= u  -> state index; guard u == tot (float round-off)
    s = (cdf <= u[:, None]).sum(axis=1)
    return np.minimum(s, p.shape[1] - 1).astype(np.int64)


def _check_states(states: np.ndarray, k: int) -> np.ndarray:
    s = np.asarray(states)
    if s.ndim != 1:
        raise SamplerError(f"states must be 1-D (T,), got shape {s.shape}")
    if s.size and (s.min() < 0 or s.max() >= k):
        raise SamplerError(f"states must lie in 0..{k - 1} (K={k}), got {s.min()}..{s.max()}")
    return s.astype(np.int64, copy=False)


def sample_power_iid(
    states: np.ndarray,
    means_w: np.ndarray,
    stds_w: np.ndarray,
    rng: np.random.Generator | int | None,
) -> np.ndarray:
    """I.i.d. Gaussian power per state (Eq 8).

    Parameters
    ----------
    states : ndarray of int (T,)
        State per step.
    means_w, stds_w : ndarray (K,)
        State means and standard deviations [W].
    rng : numpy.random.Generator or int or None
        Random source (draws ``T`` standard normals).

    Returns
    -------
    ndarray (T,)
        Power [W] (not clipped; see :func:`clip_power`).
    """
    mu = np.asarray(means_w, dtype=np.float64)
    sd = np.asarray(stds_w, dtype=np.float64)
    s = _check_states(states, mu.size)
    z = _rng(rng).standard_normal(s.size)
    return mu[s] + sd[s] * z


def run_starts(states: np.ndarray) -> np.ndarray:
    """Boolean mask (T,) that is True where a run of equal states begins."""
    s = np.asarray(states)
    starts = np.ones(s.size, dtype=bool)
    if s.size > 1:
        starts[1:] = s[1:] != s[:-1]
    return starts


def sample_power_ar1(
    states: np.ndarray,
    means_w: np.ndarray,
    stds_w: np.ndarray,
    phi: np.ndarray,
    rng: np.random.Generator | int | None,
) -> np.ndarray:
    """Per-state AR(1) power (Eq 9).

    Within a run of state k: ``d_t = phi_k d_{t-1} + sigma_k sqrt(1 - phi_k^2) z_t`` with
    ``d_t = P_t - mu_k``; at a run start ``d_t = sigma_k z_t`` (stationary start). One
    standard normal per step (``T`` draws).

    Implementation: for each state, the steps of that state are concatenated and
    filtered with one ``lfilter`` call (recursion ``y_t = phi y_{t-1} + b_t``); the carry
    that leaks from the previous run into a new run, ``phi^(m+1) y_prev`` at the m-th step
    of the run, is subtracted in closed form, so no Python loop over steps or runs.

    Parameters
    ----------
    states : ndarray of int (T,)
    means_w, stds_w : ndarray (K,)
        Marginal mean and standard deviation per state [W].
    phi : ndarray (K,)
        Lag-1 coefficients in [0, 1).
    rng : numpy.random.Generator or int or None

    Returns
    -------
    ndarray (T,)
        Power [W] (not clipped).

    Raises
    ------
    SamplerError
        If ``phi`` has the wrong length or lies outside [0, 1).
    """
    mu = np.asarray(means_w, dtype=np.float64)
    sd = np.asarray(stds_w, dtype=np.float64)
    ph = np.asarray(phi, dtype=np.float64)
    if ph.shape != mu.shape:
        raise SamplerError(f"phi has shape {ph.shape}, expected ({mu.size},) = one per state")
    if np.any(~np.isfinite(ph)) or np.any(ph < 0) or np.any(ph >= 1):
        raise SamplerError("phi must lie in [0, 1) for a stationary AR(1)")
    s = _check_states(states, mu.size)
    z = _rng(rng).standard_normal(s.size)
    starts = run_starts(s)
    # innovation scale per step: sigma at run starts, sigma*sqrt(1-phi^2) inside runs
    scale = np.where(starts, sd[s], sd[s] * np.sqrt(1.0 - ph[s] ** 2))
    b = scale * z
    d = np.empty(s.size, dtype=np.float64)
    for k in np.unique(s):
        idx = np.flatnonzero(s == k)
        pk = float(ph[k])
        bk = b[idx]
        if pk == 0.0:
            d[idx] = bk
            continue
        y = lfilter([1.0], [1.0, -pk], bk)
        st = starts[idx]
        run_id = np.cumsum(st) - 1  # run number within this state's steps
        first = np.flatnonzero(st)  # position of each run start in idx space
        m = np.arange(idx.size) - first[run_id]  # offset within run
        y_prev = np.zeros(first.size)
        y_prev[1:] = y[first[1:] - 1]  # uncorrected value just before each run
        d[idx] = y - pk ** (m + 1) * y_prev[run_id]
    return mu[s] + d


def estimate_ar1(
    power_w: np.ndarray,
    labels: np.ndarray,
    means_w: np.ndarray,
    *,
    min_run_length: int = 5,
    phi_max: float = 0.99,
    segment_ids: np.ndarray | None = None,
) -> dict[str, Any]:
    """Per-state lag-1 autocorrelation from label runs of the training data (for Eq 9).

    For each state k, pairs ``(d_{t-1}, d_t)`` with ``d = P - mu_k`` are pooled over the
    runs of label k that are at least ``min_run_length`` steps long, and
    ``phi_k = sum d_t d_{t-1} / sum d_{t-1}^2``, clipped to ``[0, phi_max]``
    (the clipping is counted). States without enough pairs get ``phi_k = 0`` (i.i.d.).

    Parameters
    ----------
    power_w : ndarray (T,)
        Measured power [W], training traces concatenated.
    labels : ndarray of int (T,)
        Hard state labels (Eq 2) of ``power_w``.
    means_w : ndarray (K,)
        State means [W].
    min_run_length : int, default 5
        Shortest run used (the authors' value).
    phi_max : float, default 0.99
        Upper cap on phi (the authors' value).
    segment_ids : ndarray of int (T,), optional
        Trace id per step; runs never cross a trace boundary.

    Returns
    -------
    dict
        ``phi`` (K,), ``n_pairs`` (K,), ``n_clipped_phi`` (int), ``min_run_length``.
    """
    x = np.asarray(power_w, dtype=np.float64)
    lab = np.asarray(labels, dtype=np.int64)
    mu = np.asarray(means_w, dtype=np.float64)
    if x.shape != lab.shape or x.ndim != 1:
        raise SamplerError(f"power_w {x.shape} and labels {lab.shape} must be equal 1-D shapes")
    k = mu.size
    key = lab if segment_ids is None else lab * (int(np.max(segment_ids)) + 1) + segment_ids
    starts = run_starts(key)
    run_id = np.cumsum(starts) - 1
    run_len = np.bincount(run_id)
    long_run = run_len[run_id] >= min_run_length
    pair = np.zeros(x.size, dtype=bool)
    pair[1:] = (~starts[1:]) & long_run[1:]
    d = x - mu[lab]
    num = np.bincount(lab[pair], weights=d[pair] * np.roll(d, 1)[pair], minlength=k)
    den = np.bincount(lab[pair], weights=np.roll(d, 1)[pair] ** 2, minlength=k)
    n_pairs = np.bincount(lab[pair], minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.where((n_pairs >= 2) & (den > 0), num / den, 0.0)
    phi = np.clip(raw, 0.0, phi_max)
    n_clip = int(np.count_nonzero(phi != raw))
    if n_clip:
        logger.info("estimate_ar1: %d of %d phi values clipped to [0, %.2f]", n_clip, k, phi_max)
    return {
        "phi": phi,
        "phi_raw": raw,
        "n_pairs": n_pairs,
        "n_clipped_phi": n_clip,
        "min_run_length": int(min_run_length),
    }


def clip_power(power_w: np.ndarray, lo_w: float, hi_w: float) -> tuple[np.ndarray, int]:
    """Clip power to the observed range ``[lo_w, hi_w]`` and count the clipped samples.

    Returns
    -------
    (ndarray (T,), int)
        Clipped power [W] and the number of samples that were outside the range.
    """
    p = np.asarray(power_w, dtype=np.float64)
    n = int(np.count_nonzero((p < lo_w) | (p > hi_w)))
    return np.clip(p, lo_w, hi_w), n
