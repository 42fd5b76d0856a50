""":class:`ResponseCurve`: one replica's GPU power statistics versus the offered load,
as calibrated on the 250 ms generator and read by the fast path (JSON save/load).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gridlink.annual.scenario import AnnualError
from traces.outputs import write_text


@dataclass(frozen=True)
class ResponseCurve:
    """One replica's GPU power statistics versus the offered load level.

    Attributes
    ----------
    config_id : str
    tokens : str
        Token mix the curve was calibrated with.
    tp : int
        Tensor-parallel degree (GPUs per replica).
    tdp_w : float
        Nameplate power of one replica [W].
    rate_rps : numpy.ndarray, shape (J,)
        Offered load levels per replica [req/s] (the deterministic rate before the
        shared modulation), increasing, starting at 0.
    mean_w : numpy.ndarray, shape (J,)
        Mean replica power at the level over the modulation law [W] (shared traffic:
        the fitted response averaged over the gamma law; independent traffic: the
        calibration bins' mean with the arrival control variates applied).
    var_w2 : numpy.ndarray, shape (J,)
        Variance of the 250 ms replica power [W^2].
    bin_var_w2 : numpy.ndarray, shape (J,)
        Variance of the replica's bin-mean power left after the shared modulation's
        effect (its own bin and the neighbouring bins) [W^2] (the independent part;
        variances of replicas add).
    beta_w : numpy.ndarray, shape (J,)
        Least-squares slope of the fitted response on the shared modulation ``m_b``
        (mean 1) under its law [W per unit m]; 0 for independent traffic (a summary).
    mod_knots, mod_mean_w : numpy.ndarray, shape (J, Q)
        Response to the bin's own modulation per level: a table of modulation values
        and the conditional mean bin power there [W], piecewise linear in ``m``
        between them and extended linearly beyond (used by the fast path; a single
        knot holding the level mean for independent traffic).
    correlation, cv : float
        Shared fraction and modulation CV the curve was calibrated under.
    bin_mean_range_w : (float, float)
        Lowest and highest bin-mean replica power seen in calibration [W]; the linear
        response to the modulation saturates there (a replica cannot exceed its
        busiest calibrated bin, nor go below idle).
    bin_s : float
        Bin length [s].
    duration_s, warmup_s : float
        Calibration trace length per rate and the discarded start [s].
    seed : int
    provenance : dict
        Calibration time, generator class, library versions.
    lag_w : numpy.ndarray, shape (J, 2), optional
        Response of a bin's mean power to the modulation of the previous and of the
        next bin, ``m_{b-1} - 1`` and ``m_{b+1} - 1`` [W per unit m] (requests that
        arrive late in a bin are served in the next; the state classifier sees both
        sides).  None (curves saved before it existed) reads as zeros.
    """

    config_id: str
    tokens: str
    tp: int
    tdp_w: float
    rate_rps: np.ndarray
    mean_w: np.ndarray
    var_w2: np.ndarray
    bin_var_w2: np.ndarray
    beta_w: np.ndarray
    mod_knots: np.ndarray
    mod_mean_w: np.ndarray
    correlation: float
    cv: float
    bin_mean_range_w: tuple[float, float]
    bin_s: float
    duration_s: float
    warmup_s: float
    seed: int
    provenance: dict[str, Any] = field(default_factory=dict)
    lag_w: np.ndarray | None = None

    def __post_init__(self) -> None:
        lag = np.zeros((len(self.rate_rps), 2)) if self.lag_w is None else self.lag_w
        lag = np.asarray(lag, dtype=np.float64)
        if lag.shape != (len(self.rate_rps), 2):
            raise AnnualError(
                f"lag_w must have shape ({len(self.rate_rps)}, 2) (levels x [previous, next] "
                f"bin), got {lag.shape}"
            )
        object.__setattr__(self, "lag_w", lag)

    def _check(self, rate: np.ndarray) -> None:
        top = float(self.rate_rps[-1])
        if rate.size and (np.nanmax(rate) > top * (1 + 1e-9) or np.nanmin(rate) < 0):
            raise AnnualError(
                f"offered load up to {float(np.nanmax(rate)):.4g} req/s per replica exceeds the "
                f"calibrated grid of {self.config_id!r} (0 to {top:.4g} req/s); recalibrate with "
                "calibrate_response(..., max_rate_rps=...) (curves are never extrapolated)"
            )

    def mean(self, rate: np.ndarray) -> np.ndarray:
        """Mean replica power [W] at offered load ``rate`` [req/s] (linear interpolation)."""
        rate = np.asarray(rate, dtype=float)
        self._check(rate)
        return np.interp(rate, self.rate_rps, self.mean_w)

    def shared_response(
        self,
        rate: np.ndarray,
        mod: np.ndarray,
        mod_prev: np.ndarray | None = None,
        mod_next: np.ndarray | None = None,
    ) -> np.ndarray:
        """Mean replica bin power [W] at level ``rate`` [req/s] and modulation ``mod``.

        Piecewise linear in ``mod`` within each level, linear in ``rate`` between
        levels, plus the neighbouring bins' terms ``lag_w[:, 0] (mod_prev - 1) +
        lag_w[:, 1] (mod_next - 1)`` when they are given (None: their mean, 1),
        saturating at :attr:`bin_mean_range_w`.  Below the table's first knot the
        response is extended linearly.  Above its last knot ``m_top`` (a modulation
        the calibration saw too rarely to fit) the bin's own rate ``L (1 - rho + rho
        m)`` is kept: the response is read at ``m_top`` on the level ``L (1 - rho +
        rho m) / (1 - rho + rho m_top)`` (at most the highest level), since a
        replica's power follows its bin's rate within seconds.

        Parameters
        ----------
        rate, mod : numpy.ndarray, shape (B,)
            Level [req/s] and the bin's shared modulation [-].
        mod_prev, mod_next : numpy.ndarray, shape (B,), optional
            Modulation of the previous and of the next bin [-].

        Returns
        -------
        numpy.ndarray, shape (B,)
            Mean replica power [W].

        Raises
        ------
        AnnualError
            A level outside the calibrated grid.
        """
        rate = np.asarray(rate, dtype=float)
        mod = np.asarray(mod, dtype=float)
        self._check(rate)
        levels = self.rate_rps
        level, m = rate.copy(), mod.copy()
        rho = self.correlation
        top = np.interp(rate, levels, self.mod_knots[:, -1])
        over = m > top
        if rho > 0 and np.any(over):  # same bin rate, at the highest modulation with data
            scale = (1.0 - rho + rho * m[over]) / (1.0 - rho + rho * top[over])
            level[over] = np.minimum(rate[over] * scale, levels[-1])
            m[over] = top[over]
        j = np.clip(np.searchsorted(levels, level, side="right") - 1, 0, len(levels) - 2)
        w = (level - levels[j]) / (levels[j + 1] - levels[j])
        out = np.empty_like(rate)
        for k in np.unique(j):
            sel = j == k
            lo = _interp_extrap(m[sel], self.mod_knots[k], self.mod_mean_w[k])
            hi = _interp_extrap(m[sel], self.mod_knots[k + 1], self.mod_mean_w[k + 1])
            out[sel] = (1.0 - w[sel]) * lo + w[sel] * hi
        assert self.lag_w is not None  # None is replaced by zeros in __post_init__
        for col, nb in enumerate((mod_prev, mod_next)):
            if nb is not None:
                out += np.interp(rate, levels, self.lag_w[:, col]) * (np.asarray(nb) - 1.0)
        low, high = self.bin_mean_range_w
        return np.minimum(np.maximum(out, low), high)

    def beta(self, rate: np.ndarray) -> np.ndarray:
        """Response of the bin mean to the shared modulation [W per unit m] at ``rate``."""
        rate = np.asarray(rate, dtype=float)
        self._check(rate)
        return np.interp(rate, self.rate_rps, self.beta_w)

    def bin_var(self, rate: np.ndarray) -> np.ndarray:
        """Variance of the bin-mean replica power [W^2] at ``rate`` [req/s]."""
        rate = np.asarray(rate, dtype=float)
        self._check(rate)
        return np.interp(rate, self.rate_rps, self.bin_var_w2)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation (arrays as lists)."""
        out: dict[str, Any] = {}
        for k, v in self.__dict__.items():
            out[k] = v.tolist() if isinstance(v, np.ndarray) else v
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResponseCurve:
        """Inverse of :meth:`to_dict`."""
        d = dict(data)
        d["bin_mean_range_w"] = tuple(float(v) for v in d["bin_mean_range_w"])
        for k in ("rate_rps", "mean_w", "var_w2", "bin_var_w2", "beta_w", "mod_knots",
                  "mod_mean_w", "lag_w"):  # fmt: skip
            if d.get(k) is not None:
                d[k] = np.asarray(d[k], dtype=np.float64)
        return cls(**d)

    def save(self, path: str | Path) -> Path:
        """Write the curve as JSON (``path``; parent folders created)."""
        return write_text(Path(path), json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> ResponseCurve:
        """Read a curve written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _interp_extrap(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Piecewise-linear interpolation, extended linearly beyond the end points."""
    if xp.size == 1 or np.all(xp == xp[0]):
        return np.full_like(x, float(np.mean(fp)))
    y = np.interp(x, xp, fp)
    left, right = x < xp[0], x > xp[-1]
    y[left] = fp[0] + (x[left] - xp[0]) * (fp[1] - fp[0]) / (xp[1] - xp[0])
    y[right] = fp[-1] + (x[right] - xp[-1]) * (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
    return y
