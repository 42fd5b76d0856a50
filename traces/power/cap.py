"""GPU power caps (``nvidia-smi -pl`` / ``power.limit``): clipping and the work slowdown.

A power cap is enforced by the GPU's firmware, which lowers the clocks whenever the
board would draw more than the limit: the power above the cap is clipped and the work
that needed it takes longer (the work still happens).  This module holds the two
power-side pieces; the latency stretch is handed to the workload layer as a number
(:meth:`traces.workload.surrogate.LatencyModel.scaled`), and the facility layer
(:mod:`traces.facility.flexibility`) puts them together.

Clipping
--------
:func:`clip_to_cap`: ``min(P(t), C(t))`` per 250 ms step, with the clipped energy.

Slowdown (documented model)
---------------------------
Near the top states the work rate of an inference server is taken as proportional to
its dynamic power, the power above the configuration's idle state (the lowest state of
its power-state mixture, Eq 2).  Under a cap ``C`` a state ``k`` with power
``X_k ~ N(mu_k, sigma_k^2)`` delivers ``E[min(X_k, C)] - mu_0`` instead of
``mu_k - mu_0``; weighting by the states' occupancies ``w_k`` (the mixture weights,
fitted on the configuration's measured traces) gives the throughput ratio

.. math::

    r(C) = \\frac{\\sum_k w_k\\,(E[\\min(X_k, C)] - \\mu_0)^+}
                {\\sum_k w_k\\,(\\mu_k - \\mu_0)^+},
    \\qquad E[\\min(X, C)] = \\mu - \\sigma\\,[\\varphi(z) - z\\,(1 - \\Phi(z))],
    \\ z = (C - \\mu)/\\sigma,

and every request's TTFT and TBT stretch by ``r(C)^(-beta)`` (``beta`` = sensitivity,
default 1: throughput proportional to power).  A cap at or above the configuration's
maximum power (``power_max_w``, the largest power the generator emits) gives
``r = 1`` exactly: nothing changes.  ``beta = 1`` is the pessimistic end: measured
studies find LLM inference less sensitive to caps than that, because decode is
memory-bound and often draws less than the cap (Samsi et al. 2023 report that capping
V100s from 250 to 175 W cut energy by about 23 % for a 6-7 % longer latency; Ma et al.
2026 find that decode on an H200 draws 137-300 W of its 700 W and caps above that never
bind; Patel et al. 2024 (POLCA) cap inference clusters with little performance loss).
A ``beta < 1`` expresses that.

References
----------
S. Samsi et al., "From Words to Watts: Benchmarking the Energy Costs of Large Language
Model Inference", IEEE HPEC 2023, arXiv:2310.03003.
P. Patel et al., "POLCA: Power Oversubscription in LLM Cloud Providers" /
"Characterizing Power Management Opportunities for LLMs in the Cloud", ASPLOS 2024,
arXiv:2308.12908.
B. Ma, A. Afzal, J. Eitzinger, G. Wellein, "The Illusion of Power Capping in LLM Decode",
arXiv:2605.11999 (2026).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from traces import DT_S

__all__ = ["PowerCapError", "clip_to_cap", "throughput_ratio", "latency_stretch"]


class PowerCapError(ValueError):
    """An invalid power cap or state dictionary; the message names the argument."""


def _cap_value(cap_w: Any, name: str = "cap_w") -> float:
    try:
        c = float(cap_w)
    except (TypeError, ValueError) as exc:
        raise PowerCapError(f"{name} must be a number of watts, got {cap_w!r}") from exc
    if not math.isfinite(c) or c <= 0:
        raise PowerCapError(f"{name} must be finite and > 0 [W], got {cap_w!r}")
    return c


def clip_to_cap(power_w: np.ndarray, cap_w: float | np.ndarray) -> tuple[np.ndarray, float]:
    """Clip a power series at a cap: ``min(P(t), C(t))``.

    Parameters
    ----------
    power_w : numpy.ndarray, shape (T,)
        Power [W] on the 250 ms grid.
    cap_w : float or numpy.ndarray of shape (T,)
        Cap [W] (> 0), constant or per step (``inf`` at a step: no cap there).

    Returns
    -------
    clipped_w : numpy.ndarray, shape (T,)
        ``numpy.minimum(power_w, cap_w)`` (a new array; values at or below the cap are
        returned unchanged, bit for bit).
    clipped_j : float
        Energy above the cap [J] (``sum(P - clipped) * 0.25 s``).

    Raises
    ------
    PowerCapError
        A cap that is not finite and > 0, or of the wrong shape.
    """
    p = np.asarray(power_w, dtype=np.float64)
    c = np.asarray(cap_w, dtype=np.float64)
    if c.ndim == 0:
        _cap_value(float(c))
    elif c.shape != p.shape:
        raise PowerCapError(f"cap_w: expected a number or shape {p.shape}, got shape {c.shape}")
    elif not np.all(~np.isnan(c) & (c > 0)):
        raise PowerCapError("cap_w: every step's cap must be > 0 [W] (inf: no cap at that step)")
    out = np.minimum(p, c)
    return out, float((p - out).sum() * DT_S)


def _expected_min(mu: np.ndarray, sd: np.ndarray, cap: float) -> np.ndarray:
    """``E[min(X, cap)]`` for ``X ~ N(mu, sd^2)`` (``min(mu, cap)`` where ``sd == 0``)."""
    out = np.minimum(mu, cap).astype(np.float64)
    pos = sd > 0
    z = (cap - mu[pos]) / sd[pos]
    out[pos] = mu[pos] - sd[pos] * (stats.norm.pdf(z) - z * stats.norm.sf(z))
    return out


def throughput_ratio(
    means_w: np.ndarray,
    stds_w: np.ndarray,
    weights: np.ndarray,
    cap_w: float,
    *,
    power_max_w: float,
) -> float:
    """Work rate under a cap relative to uncapped, ``r(C)`` in (0, 1] (module docstring).

    Parameters
    ----------
    means_w, stds_w, weights : numpy.ndarray, shape (K,)
        The configuration's power states (Eq 2), sorted by mean: means and standard
        deviations [W] (summed over the TP GPUs of a replica) and occupancies (>= 0).
    cap_w : float
        Cap on the replica's power [W] (per-GPU cap x TP), > 0.
    power_max_w : float
        Largest power the generator emits [W]; a cap at or above it gives exactly 1.

    Returns
    -------
    float
        ``r(C)``; 1.0 when ``cap_w >= power_max_w`` or when no state lies above idle.

    Raises
    ------
    PowerCapError
        A cap that is not > 0, a cap at or below the idle state ``mu_0`` (the GPUs could
        do no work), or arrays of different shapes / negative weights.
    """
    cap = _cap_value(cap_w)
    if cap >= float(power_max_w):
        return 1.0
    mu = np.asarray(means_w, dtype=np.float64).ravel()
    sd = np.asarray(stds_w, dtype=np.float64).ravel()
    w = np.asarray(weights, dtype=np.float64).ravel()
    if not (mu.shape == sd.shape == w.shape) or mu.size == 0:
        raise PowerCapError(
            f"means_w, stds_w, weights must have the same shape (K,), got {mu.shape}, "
            f"{sd.shape}, {w.shape}"
        )
    if np.any(w < 0) or np.any(sd < 0):
        raise PowerCapError("weights and stds_w must be >= 0")
    idle = float(mu.min())
    if cap <= idle:
        raise PowerCapError(
            f"cap_w={cap:.6g} W is at or below the idle state's power {idle:.6g} W (mu_0 of "
            "the power-state mixture); such a cap leaves no power for work. Raise the cap"
        )
    full = np.clip(mu - idle, 0.0, None)
    denom = float((w * full).sum())
    if denom <= 0:
        return 1.0
    capped = np.clip(_expected_min(mu, sd, cap) - idle, 0.0, None)
    return float(min(1.0, (w * capped).sum() / denom))


def latency_stretch(ratio: float, *, sensitivity: float = 1.0) -> float:
    """TTFT/TBT multiplier ``ratio^(-sensitivity)`` (>= 1) for a throughput ratio.

    Parameters
    ----------
    ratio : float
        Throughput ratio in (0, 1] (:func:`throughput_ratio`).
    sensitivity : float
        ``beta`` in (0, 1]: 1 = throughput proportional to dynamic power.

    Raises
    ------
    PowerCapError
        ``ratio`` outside (0, 1] or ``sensitivity`` outside (0, 1].
    """
    r = float(ratio)
    b = float(sensitivity)
    if not (math.isfinite(r) and 0 < r <= 1):
        raise PowerCapError(f"ratio must lie in (0, 1], got {ratio!r}")
    if not (math.isfinite(b) and 0 < b <= 1):
        raise PowerCapError(f"sensitivity must lie in (0, 1], got {sensitivity!r}")
    return 1.0 if r == 1.0 else float(r ** (-b))
