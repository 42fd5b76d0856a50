"""Fast annual load shapes of an AI facility, calibrated on the 250 ms generator.

Rendering a year at 250 ms for every server of a 10,000-server site is far too slow
(about 10^12 server-steps).  This module builds the year from **response curves**:
for each fitted configuration, the full generator (``traces.surrogate`` batching
surrogate + ``FittedConfiguration.generate_many``) is run for many replicas at each of
a grid of offered-load levels ``L_j`` (req/s per replica, with the scenario's token mix
and, for shared traffic, a gamma modulation ``m_b`` of the rate per bin like the
scenario's), and one replica's bin-mean GPU power is fitted (:func:`calibrate_response`):

* ``mod_mean_w`` -- for shared traffic, the conditional mean bin power ``g(L, m)`` given
  the bin's own modulation (a natural cubic spline in ``m`` per level, tabulated);
* ``lag_w`` -- the response to the previous and the next bin's modulation (requests
  that arrive late in a bin are served in the next one; the state classifier is
  bidirectional): an hour's energy moves with its mean modulation through both;
* ``mean_w`` -- mean power at the level over the modulation law [W]; ``beta_w`` the
  least-squares slope on ``m`` (a summary);
* ``bin_var_w2`` -- the variance of the bin mean left given the modulation path (the
  part independent between replicas) [W^2];
* ``var_w2`` -- variance of the 250 ms power [W^2] (reported, not used).

The fit uses arrival control variates (arrivals and summed service time per bin, whose
expectation given the rate is known) to remove arrival noise, and draws 5 % of the
calibration bins' modulation from the law's upper 2 % so that the rare busy minutes
that set hourly peaks are fitted from data (the fit is conditional on ``m``; statistics
over the law are weighted back).

What the error was, measured: the previous per-level table (one replica per level,
four modulation groups) missed the hourly energy by up to 2.4 % and the hourly peak by
up to 21 % on the days compared in ``docs/pypsa.md``.  The cause was not queue
history: the surrogate's 64-slot batch holds 12-37 req/s per replica for the shipped
configurations and is far from full at the scenarios' 0.5-2.5 req/s, and a replica's mean
power shows no trend over 3 hours at a fixed level.  It was (a) calibration noise, one
replica's hourly mean at a level varying by 3-5 % from seed to seed, (b) the linear
interpolation of a convex/concave response between four modulation groups, (c) the
ignored previous-bin effect, and (d) minutes with a modulation beyond the calibrated
range (up to m = 4.4), where a linear extension of the table is far off; there the
bin's own rate is kept (:meth:`ResponseCurve.shared_response`).

The annual shape (:func:`annual_load`) is then assembled bin by bin (60 s bins, 525,600
per year) from the scenario's deterministic level ``L_b`` and, for shared traffic, one
common draw ``m_b`` per bin:

.. math::

    G_b = \\sum_c R_{c,b}\\, g_c(L_b, m_{b-1}, m_b, m_{b+1}) + \\varepsilon_b, \\qquad
    \\varepsilon_b \\sim N\\!\\big(0, \\textstyle\\sum_c R_{c,b}\\, v_c(L_b)\\big),

    P^{PCC}_b = \\mathrm{PUE}\\,\\big(G_b + N_b\\, P^{base}\\big)

with ``R_{c,b}`` replicas of configuration ``c`` (servers x GPUs per server / TP) and
``N_b`` servers in bin ``b`` (paper Eqs 10-11).  Independent replicas: variances add
(``epsilon_b``).  Shared-intensity traffic (paper §3.4, as in :mod:`traces.facility`):
the common modulation moves every replica together through ``g``, so that part
scales with ``R`` and does not average out.

Assumptions, stated: curves are interpolated linearly between levels and never
extrapolated (a level above the grid raises; a bin rate above it is read at the top
level); the response is piecewise linear in ``m`` between the table's knots and
saturates at the lowest and highest bin-mean power seen in calibration; the
independent part is Gaussian.  The fast and full paths are compared by
:func:`compare_fast_full` (hourly energy and hourly peak of 1-min means) in
``tests/test_annual.py`` and ``benchmarks/bench_annual.py``; measured agreement and how
the method and its constants were chosen (on development days, not on those) are in
``docs/pypsa.md``.  Hourly values are exact means of whole aligned bins (the
energy-preserving convention of :mod:`gridlink.resample`).

A chosen subset of days can still be rendered at 250 ms through the full path with
:func:`render_day` (:func:`traces.facility.simulate_facility` on the same scenario).

References
----------
Wilkins, Kazhamiaka & Rajagopal, "From Servers to Sites: Compositional Power Trace
Generation of LLM Inference for Infrastructure Planning" (2026), §3.1-3.4, Eqs 10-11.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from gridlink.units import series_with_unit

__all__ = [
    "AnnualError",
    "DEFAULT_DIURNAL",
    "DEFAULT_WEEKLY",
    "FleetPhase",
    "AnnualScenario",
    "ResponseCurve",
    "AnnualShape",
    "calibrate_response",
    "annual_load",
    "fast_facility",
    "render_day",
    "day_spec",
    "compare_fast_full",
    "nameplate_mw",
]

logger = logging.getLogger(__name__)

DT_S = 0.25  # the generator's step [s] (traces.DT_S)

#: Relative offered load per local hour 0..23 (illustrative business-day shape with an
#: evening shoulder; the mean is normalised away).
DEFAULT_DIURNAL: tuple[float, ...] = (
    0.45, 0.38, 0.34, 0.32, 0.33, 0.38, 0.50, 0.68, 0.86, 0.98, 1.05, 1.08,
    1.08, 1.10, 1.12, 1.12, 1.10, 1.06, 1.00, 0.95, 0.90, 0.82, 0.70, 0.56,
)  # fmt: skip
#: Relative offered load Monday..Sunday (weekends lighter).
DEFAULT_WEEKLY: tuple[float, ...] = (1.0, 1.03, 1.03, 1.02, 0.98, 0.78, 0.72)


class AnnualError(ValueError):
    """An annual scenario, a response curve or a fast/full comparison is invalid."""


# --------------------------------------------------------------------------- scenario
def _utc(value: Any, *, name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise AnnualError(f"{name}: cannot read {value!r} as a timestamp") from exc
    if ts.tzinfo is None:
        raise AnnualError(
            f"{name}: {value!r} has no time zone; write it in UTC, e.g. '2025-01-01T00:00Z'"
        )
    return ts.tz_convert("UTC")


@dataclass(frozen=True)
class FleetPhase:
    """The facility's fleet from ``start`` until the next phase starts.

    Parameters
    ----------
    start : str or pandas.Timestamp
        tz-aware start of the phase (converted to UTC); must fall on a bin boundary.
    servers : Mapping[str, int]
        Configuration id -> number of servers (e.g. ``{"qwen3-8b_A100_tp1": 6000}``),
        each >= 0, at least one > 0.
    gpus_per_server : int, default 8
        GPUs per server; a server hosts ``gpus_per_server // TP`` replicas.
    """

    start: str | pd.Timestamp
    servers: Mapping[str, int]
    gpus_per_server: int = 8

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _utc(self.start, name="FleetPhase.start"))
        servers = {str(k): int(v) for k, v in dict(self.servers).items()}
        if not servers or any(v < 0 for v in servers.values()) or sum(servers.values()) == 0:
            raise AnnualError(
                f"FleetPhase.servers must map configuration ids to server counts >= 0 with a "
                f"positive total, got {dict(self.servers)!r}"
            )
        object.__setattr__(self, "servers", servers)
        if int(self.gpus_per_server) < 1:
            raise AnnualError(
                f"FleetPhase.gpus_per_server must be >= 1, got {self.gpus_per_server}"
            )


@dataclass(frozen=True)
class AnnualScenario:
    """A year (or any number of days) of facility traffic and fleet.

    The offered load per model replica at UTC time ``t`` [req/s] is

    ``lambda(t) = rate_per_replica_rps * d(h)/mean(d) * w(dow)/mean(w)
    * (1 + growth_per_year) ** years(t) * (holiday_factor if holiday)``

    with ``h`` the local hour (``local_tz``; ``d`` interpolated linearly between hour
    centres, cyclically), ``dow`` the local weekday, ``years(t)`` the time since
    ``start`` in 365-day years and holidays given as local dates.

    Parameters
    ----------
    fleet : sequence of FleetPhase
        Fleet phases; the first must start at or before ``start``.  A later phase
        changes size or configuration mid-year (e.g. a hardware refresh).
    start : str or pandas.Timestamp, default "2025-01-01T00:00Z"
        tz-aware first instant (UTC), on a bin boundary.
    days : int, default 365
        Length of the scenario [days].
    rate_per_replica_rps : float, default 1.0
        Mean offered load per replica at the start, outside holidays [req/s].
    diurnal, weekly : tuple of float
        Relative shapes (24 and 7 non-negative values).
    local_tz : str, default "America/Chicago"
        Zone of the users' clock for the diurnal/weekly shapes and holidays.
    growth_per_year : float, default 0.0
        Compound growth of the offered load per 365 days [-] (0.5 = +50 %).
    holidays : tuple of str
        Local dates ``"YYYY-MM-DD"`` with traffic scaled by ``holiday_factor``.
    holiday_factor : float, default 0.7
    tokens : {"azure-code", "azure-conv", "fixed"}, default "azure-conv"
        Token-length mix (Azure LLM inference trace 2023, CC BY 4.0, or fixed).  The
        conversation mix (mean ~210 output tokens) keeps replicas busy at a few req/s;
        the code mix (~28 output tokens) leaves them near idle at the same rate.
    n_in_fixed, n_out_fixed : int
        Token counts for ``tokens="fixed"``.
    traffic_mode : {"independent", "shared"}, default "shared"
    correlation : float, default 0.5
        Fraction of each replica's rate following the shared intensity.
    cv : float, default 0.5
        CV of the shared gamma modulation per bin (mean 1).
    bin_s : float, default 60.0
        Bin of the fast path and of the shared intensity [s]; divides 3600.
    it_base_kw_per_server : float, default 1.0
        Non-GPU IT power per server [kW].
    pue : float, default 1.3
    seed : int, default 0
    max_batch : int, default 64
        Continuous-batching limit of the surrogate.
    """

    fleet: Sequence[FleetPhase]
    start: str | pd.Timestamp = "2025-01-01T00:00Z"
    days: int = 365
    rate_per_replica_rps: float = 1.0
    diurnal: tuple[float, ...] = DEFAULT_DIURNAL
    weekly: tuple[float, ...] = DEFAULT_WEEKLY
    local_tz: str = "America/Chicago"
    growth_per_year: float = 0.0
    holidays: tuple[str, ...] = ()
    holiday_factor: float = 0.7
    tokens: Literal["azure-code", "azure-conv", "fixed"] = "azure-conv"
    n_in_fixed: int = 512
    n_out_fixed: int = 128
    traffic_mode: Literal["independent", "shared"] = "shared"
    correlation: float = 0.5
    cv: float = 0.5
    bin_s: float = 60.0
    it_base_kw_per_server: float = 1.0
    pue: float = 1.3
    seed: int = 0
    max_batch: int = 64

    def __post_init__(self) -> None:
        start = _utc(self.start, name="start")
        object.__setattr__(self, "start", start)
        fleet = tuple(sorted(self.fleet, key=lambda p: p.start))
        if not fleet or not all(isinstance(p, FleetPhase) for p in fleet):
            raise AnnualError("fleet: give at least one FleetPhase")
        if fleet[0].start > start:
            raise AnnualError(
                f"fleet: the first phase starts at {fleet[0].start}, after the scenario start "
                f"{start}; start a phase at or before it"
            )
        object.__setattr__(self, "fleet", fleet)
        if int(self.days) < 1:
            raise AnnualError(f"days must be >= 1, got {self.days}")
        if not self.rate_per_replica_rps > 0:
            raise AnnualError(
                f"rate_per_replica_rps must be > 0 [req/s], got {self.rate_per_replica_rps}"
            )
        for name, shape, size in (("diurnal", self.diurnal, 24), ("weekly", self.weekly, 7)):
            arr = np.asarray(shape, dtype=float)
            if (
                arr.shape != (size,)
                or np.any(~np.isfinite(arr))
                or np.any(arr < 0)
                or arr.sum() <= 0
            ):
                raise AnnualError(f"{name}: need {size} finite values >= 0 with a positive sum")
        if self.traffic_mode not in ("independent", "shared"):
            raise AnnualError(
                f"traffic_mode must be 'independent' or 'shared', got {self.traffic_mode!r}"
            )
        if not 0.0 <= self.correlation <= 1.0:
            raise AnnualError(f"correlation must lie in [0, 1], got {self.correlation}")
        if not self.cv > 0:
            raise AnnualError(f"cv must be > 0, got {self.cv}")
        if self.tokens not in ("azure-code", "azure-conv", "fixed"):
            raise AnnualError(
                f"tokens must be 'azure-code', 'azure-conv' or 'fixed', got {self.tokens!r}"
            )
        q = 3600.0 / self.bin_s
        if not (self.bin_s >= DT_S and abs(q - round(q)) < 1e-9):
            raise AnnualError(f"bin_s={self.bin_s} must divide 3600 s (e.g. 60, 300, 900)")
        steps = self.bin_s / DT_S
        if abs(steps - round(steps)) > 1e-9:
            raise AnnualError(f"bin_s={self.bin_s} must be a whole number of 250 ms steps")
        if self.pue < 1.0 or self.it_base_kw_per_server < 0:
            raise AnnualError("pue must be >= 1 and it_base_kw_per_server >= 0 [kW]")
        if not 0 <= self.holiday_factor:
            raise AnnualError(f"holiday_factor must be >= 0, got {self.holiday_factor}")
        bin_ns = int(round(self.bin_s * 1e9))
        for p in fleet:
            if (p.start.value - start.value) % bin_ns and p.start > start:
                raise AnnualError(
                    f"fleet phase at {p.start} does not start on a {self.bin_s} s bin boundary"
                )

    # ---- derived
    @property
    def n_bins(self) -> int:
        """Number of fast-path bins B."""
        return int(round(self.days * 86400.0 / self.bin_s))

    def bin_index(self) -> pd.DatetimeIndex:
        """UTC starts of the bins, shape (B,)."""
        return pd.date_range(self.start, periods=self.n_bins, freq=pd.Timedelta(seconds=self.bin_s))

    def config_ids(self) -> list[str]:
        """Every configuration used by any phase."""
        return sorted({c for p in self.fleet for c in p.servers})

    def rate_per_replica(self, times: pd.DatetimeIndex) -> np.ndarray:
        """Deterministic offered load per replica ``lambda(t)`` [req/s] at ``times`` (UTC)."""
        local = times.tz_convert(self.local_tz)
        hour = (local.hour + local.minute / 60.0 + local.second / 3600.0).to_numpy()
        d = np.asarray(self.diurnal, dtype=float)
        d = d / d.mean()
        x = hour - 0.5  # hour centres at h + 0.5
        lo = np.floor(x).astype(int) % 24
        frac = x - np.floor(x)
        diurnal = d[lo] * (1 - frac) + d[(lo + 1) % 24] * frac
        w = np.asarray(self.weekly, dtype=float)
        weekly = (w / w.mean())[local.dayofweek.to_numpy()]
        years = (times - self.start).total_seconds().to_numpy() / (365.0 * 86400.0)
        growth = (1.0 + self.growth_per_year) ** years
        local_days = local.tz_localize(None).normalize().asi8
        holiday_days = pd.DatetimeIndex(list(self.holidays)).normalize().asi8
        hol = np.isin(local_days, holiday_days)
        holiday = np.where(hol, self.holiday_factor, 1.0)
        return self.rate_per_replica_rps * diurnal * weekly * growth * holiday

    def phase_at(self, times: pd.DatetimeIndex) -> np.ndarray:
        """Index of the fleet phase active at each time (UTC), shape like ``times``."""
        starts = np.array([p.start.value for p in self.fleet], dtype=np.int64)
        return np.searchsorted(starts, times.asi8, side="right") - 1


def _tokens(tokens: str, n_in: int, n_out: int) -> Any:
    from traces.schedule import TokenDistribution

    if tokens == "fixed":
        return TokenDistribution.constant(int(n_in), int(n_out))
    return TokenDistribution.from_azure("code" if tokens == "azure-code" else "conv")


# --------------------------------------------------------------------------- response curves
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
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")
        return path

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


def _load_config(config: Any) -> Any:
    if isinstance(config, str):
        from traces.registry import load_configuration

        return load_configuration(config)
    return config


def _ncs_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Natural cubic spline basis, shape (N, K) for K knots (constant and linear included).

    Cubic between the knots, linear beyond the outer ones (Hastie, Tibshirani & Friedman,
    *The Elements of Statistical Learning*, 2nd ed., 2009, Eqs 5.4-5.5).
    """
    x = np.asarray(x, dtype=np.float64)
    k = np.asarray(knots, dtype=np.float64)

    def d(i: int) -> np.ndarray:
        return (np.maximum(x - k[i], 0.0) ** 3 - np.maximum(x - k[-1], 0.0) ** 3) / (k[-1] - k[i])

    last = d(len(k) - 2)
    return np.stack([np.ones_like(x), x] + [d(i) - last for i in range(len(k) - 2)], axis=-1)


def _shift(a: np.ndarray, by: int, fill: float) -> np.ndarray:
    """``a[:, b + by]`` along the last axis, ``fill`` where that falls outside."""
    out = np.full_like(a, fill, dtype=np.float64)
    if by > 0:
        out[..., :-by] = a[..., by:]
    elif by < 0:
        out[..., -by:] = a[..., :by]
    else:
        out[...] = a
    return out


@dataclass(frozen=True)
class _LevelFit:
    table_w: np.ndarray  # (G,) conditional mean bin power on the modulation grid [W]
    lag_w: np.ndarray  # (2,) [W per unit m] for m_{b-1} - 1, m_{b+1} - 1
    mean_w: float  # mean bin power over the modulation law, controls applied [W]
    bin_var_w2: float  # variance of the bin mean given the modulation path [W^2]
    beta_w: float  # least-squares slope on m_b under the modulation law [W per unit m]


def _fit_level(
    p_w: np.ndarray,
    mod: np.ndarray,
    controls: np.ndarray,
    *,
    knots: np.ndarray | None,
    grid: np.ndarray,
    nodes: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> _LevelFit:
    """Least-squares fit of one level's bin means (see :func:`calibrate_response`).

    ``p_w`` (R, N) bin-mean power [W]; ``mod`` (R, N + 2) modulation with one bin
    before and after the recorded ones; ``controls`` (R, N, C) zero-mean arrival
    controls; ``knots`` None for independent traffic (no modulation terms).  The fit
    is conditional on the modulation, so it does not depend on how the bins' ``m``
    were drawn; statistics *over* the modulation law use ``nodes`` (equal-probability
    quantiles of the law; default: the bins' own ``m``) and ``weights`` (R, N)
    (density of the law over the density the bins were drawn from; default 1).
    """
    y = p_w.ravel()
    z = controls.reshape(y.size, -1)
    m = mod[:, 1:-1].ravel()
    if knots is None:
        mod_cols = np.ones((y.size, 1))
        lag_cols = np.zeros((y.size, 0))
    else:
        mod_cols = _ncs_basis(m, knots)
        lag_cols = np.stack([mod[:, :-2].ravel() - 1.0, mod[:, 2:].ravel() - 1.0], axis=-1)
    x = np.concatenate([mod_cols, lag_cols, z], axis=1)
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    k, nl = mod_cols.shape[1], lag_cols.shape[1]
    given_mod = mod_cols @ coef[:k] + lag_cols @ coef[k : k + nl]
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if knots is None:
        mean = float(np.average(y - z @ coef[k + nl :], weights=w))
        table = np.array([mean])
        lag = np.zeros(2)
        beta = 0.0
    else:
        table = _ncs_basis(grid, knots) @ coef[:k]
        lag = coef[k : k + nl]
        at = m if nodes is None else np.asarray(nodes, dtype=np.float64)
        s_at = _ncs_basis(at, knots) @ coef[:k]
        mean = float(s_at.mean())  # the neighbours' terms have mean 0 under the law
        var_m = float(at.var())
        beta = float(((s_at - mean) * (at - at.mean())).mean() / var_m) if var_m > 0 else 0.0
    resid = y - given_mod  # controls and noise: independent between replicas
    r_mean = np.average(resid, weights=w)
    dof = y.size / max(1, y.size - k - nl)
    bin_var = float(np.average((resid - r_mean) ** 2, weights=w) * dof) if y.size > 1 else 0.0
    return _LevelFit(table, lag, mean, bin_var, beta)


#: Quantiles of the modulation law between which ``tail_fraction`` of the calibration
#: bins draw their modulation (the rare busy minutes that set the hourly 1-min peaks).
_TAIL_Q: tuple[float, float] = (0.98, 0.99995)


def _mod_law(cv: float) -> Any:
    """The shared modulation's gamma law (mean 1, CV ``cv``) as a frozen scipy distribution."""
    from scipy import stats

    return stats.gamma(a=1.0 / cv**2, scale=cv**2)


def _mod_weights(mod: np.ndarray, cv: float, tail_fraction: float) -> np.ndarray:
    """Density of the gamma law over the calibration's mixture density at ``mod``."""
    lo, hi = _mod_law(cv).ppf(_TAIL_Q)
    in_tail = (mod >= lo) & (mod <= hi)
    width = _TAIL_Q[1] - _TAIL_Q[0]
    return 1.0 / ((1.0 - tail_fraction) + tail_fraction * in_tail / width)


@dataclass(frozen=True)
class _LevelRuns:
    """Calibration traces per level and replica, reduced to bins (arrays (J, R, T))."""

    mod: np.ndarray  # shared modulation m_b [-] (1 for independent traffic)
    rate_rps: np.ndarray  # bin rate lambda_b [req/s]
    count: np.ndarray  # arrivals per bin
    service_s: np.ndarray  # summed service time of the bin's arrivals [s]
    bin_p_w: np.ndarray  # bin-mean power [W]
    bin_p2_w2: np.ndarray  # bin mean of the squared 250 ms power [W^2]
    n_warm: int
    n_bins: int
    bin_s: float
    correlation: float
    cv: float
    tail_fraction: float


def _simulate_levels(
    cfg: Any,
    levels: np.ndarray,
    *,
    n_replicas: int,
    n_warm: int,
    n_bins: int,
    bin_s: float,
    correlation: float,
    cv: float,
    seed: int,
    tokens: Any,
    max_batch: int,
    tail_fraction: float,
) -> _LevelRuns:
    """Run the 250 ms generator for every level and replica (see :func:`calibrate_response`)."""
    from traces.schedule import rate_function
    from traces.surrogate import simulate_batching, workload_features

    n_rates = len(levels)
    shared = correlation > 0.0
    n_tot = n_warm + n_bins + 1  # one bin after the record: every recorded bin has a next
    total = n_tot * bin_s
    per_bin = int(round(bin_s / DT_S))
    jobs = [
        (j, sq)
        for j, level_seq in enumerate(np.random.SeedSequence(seed).spawn(n_rates))
        for sq in level_seq.spawn(n_replicas)
    ]
    shape = (n_rates, n_replicas)
    mods = np.ones(shape + (n_tot,))
    lams = np.zeros(shape + (n_tot,))
    counts = np.zeros(shape + (n_tot,))
    service = np.zeros(shape + (n_tot,))
    bin_p = np.zeros(shape + (n_tot,))
    bin_p2 = np.zeros(shape + (n_tot,))
    tail = _mod_law(cv).ppf if shared and tail_fraction > 0 else None
    chunk = 128  # traces per generate_many call: bounds the features held in memory
    for first in range(0, len(jobs), chunk):
        feats, rngs, where = [], [], []
        for i, (j, sq) in enumerate(jobs[first : first + chunk], start=first):
            r = i - j * n_replicas
            mod_rng, sched_rng, feat_rng, power_rng = (
                np.random.default_rng(c) for c in sq.spawn(4)
            )
            m = _modulation(n_tot, cv, mod_rng) if shared else np.ones(n_tot)
            if tail is not None:  # a fraction of bins from the law's upper 2 %
                sel = mod_rng.random(n_tot) < tail_fraction
                m[sel] = tail(mod_rng.uniform(*_TAIL_Q, size=int(sel.sum())))
            lam = levels[j] * (1.0 - correlation + correlation * m)
            sched = rate_function(
                pd.Series(lam, index=np.arange(n_tot) * bin_s), total, tokens,
                start="2025-01-01T00:00Z", rng=sched_rng,
            )  # fmt: skip
            timeline = simulate_batching(sched, cfg.latency, max_batch=max_batch, rng=feat_rng)
            feats.append(workload_features(timeline, duration_s=total))
            arrival_bin = np.minimum((timeline.arrival_s // bin_s).astype(int), n_tot - 1)
            mods[j, r], lams[j, r] = m, lam
            counts[j, r] = np.bincount(arrival_bin, minlength=n_tot)
            service[j, r] = np.bincount(
                arrival_bin, weights=timeline.end_s - timeline.start_s, minlength=n_tot
            )
            rngs.append(power_rng)
            where.append((j, r))
        powers = _generate_many(cfg, feats, rngs)
        for (j, r), p in zip(where, powers, strict=True):
            x = np.asarray(p, dtype=np.float64).reshape(n_tot, per_bin)
            bin_p[j, r] = x.mean(axis=1)
            bin_p2[j, r] = (x**2).mean(axis=1)
        del feats, powers
    return _LevelRuns(
        mods, lams, counts, service, bin_p, bin_p2, n_warm, n_bins, bin_s, correlation, cv,
        tail_fraction,
    )  # fmt: skip


def _fit_levels(
    run: _LevelRuns, *, n_mod_knots: int
) -> tuple[list[_LevelFit], np.ndarray, np.ndarray, float]:
    """Per-level fits of the calibration bins.

    Returns (fits, modulation grid, weights (J, R, N) of the recorded bins under the
    modulation law, mean service time [s]).
    """
    n_warm, n_bins, bin_s = run.n_warm, run.n_bins, run.bin_s
    shape = run.mod.shape[:2]
    counts, service, lams, mods = run.count, run.service_s, run.rate_rps, run.mod
    mean_s = float(service.sum() / counts.sum()) if counts.sum() > 0 else 0.0
    z = counts - lams * bin_s  # zero-mean given the rate path
    u = service - lams * bin_s * mean_s
    keep = slice(n_warm, n_warm + n_bins)
    controls = np.stack(
        [_shift(a, k, 0.0)[..., keep] for a in (z, u) for k in (-1, 0, 1)], axis=-1
    )  # (J, R, N, 6)
    edge = slice(n_warm - 1 if n_warm else 0, n_warm + n_bins + 1)
    mod_ext = mods[..., edge]
    if not n_warm:  # no bin before the record: the previous bin's modulation at its mean
        mod_ext = np.concatenate([np.ones(shape + (1,)), mod_ext], axis=-1)
    if run.correlation > 0.0:
        law = _mod_law(run.cv)
        lo_m, hi_m = law.ppf([0.0005, 0.9995])
        knots = np.r_[lo_m, law.ppf(np.arange(1, n_mod_knots + 1) / (n_mod_knots + 1)), hi_m]
        grid = np.r_[0.0, lo_m, law.ppf(np.linspace(0.01, 0.99, 25)), hi_m]
        nodes = law.ppf((np.arange(2000) + 0.5) / 2000)
        weights = _mod_weights(mods[..., keep], run.cv, run.tail_fraction)
    else:
        knots, grid, nodes = None, np.array([1.0]), None
        weights = np.ones(mods[..., keep].shape)
    fits = [
        _fit_level(
            run.bin_p_w[j][..., keep],
            mod_ext[j],
            controls[j],
            knots=knots,
            grid=grid,
            nodes=nodes,
            weights=weights[j],
        )  # fmt: skip
        for j in range(shape[0])
    ]
    return fits, grid, weights, mean_s


def calibrate_response(
    config: Any,
    *,
    tokens: str = "azure-conv",
    max_rate_rps: float = 4.0,
    n_rates: int = 16,
    n_replicas: int = 32,
    duration_s: float = 3600.0,
    warmup_s: float = 120.0,
    bin_s: float = 60.0,
    correlation: float = 0.0,
    cv: float = 0.5,
    n_mod_knots: int = 5,
    tail_fraction: float = 0.05,
    seed: int = 0,
    max_batch: int = 64,
    n_in_fixed: int = 512,
    n_out_fixed: int = 128,
) -> ResponseCurve:
    """Run the full 250 ms generator on a grid of offered loads and record the response.

    For each level ``r_j = max_rate_rps * j / (n_rates - 1)``, ``n_replicas``
    independent replicas are driven through the batching surrogate
    (:func:`traces.surrogate.simulate_batching`, :func:`traces.surrogate.workload_features`)
    and the configuration's ``generate_many`` by Poisson arrivals whose rate in each bin
    is ``r_j (1 - rho + rho m_b)``, with ``m_b`` a gamma modulation (mean 1, CV ``cv``,
    i.i.d. per bin and per replica) as shared traffic uses
    (:func:`traces.schedule.rate_function`; ``rho = 0`` gives stationary Poisson), except
    that a fraction ``tail_fraction`` of the bins draw ``m_b`` from the law's upper 2 %.
    The first ``warmup_s`` are discarded and one bin is simulated after the recorded
    ones.

    Per level, every recorded bin ``b`` of every replica gives one bin-mean power
    ``P_b``, fitted by least squares as

    .. math::

        P_b = s_j(m_b) + \\gamma_{j,-}(m_{b-1} - 1) + \\gamma_{j,+}(m_{b+1} - 1)
              + \\sum_{k=-1}^{1} \\big(a_{j,k} z_{b+k} + c_{j,k} u_{b+k}\\big) + e_b

    * ``s_j`` -- a natural cubic spline in the bin's own modulation (``n_mod_knots``
      interior knots at equal-probability quantiles of the gamma law, linear beyond
      the 0.05 % and 99.95 % quantiles), stored as a table on a grid of ``m`` from 0
      to the 99.95 % quantile (``mod_knots``, ``mod_mean_w``; above it
      :meth:`ResponseCurve.shared_response` keeps the bin's rate).  A constant for
      ``rho = 0``.
    * ``gamma`` -- the response to the previous and next bin's modulation (``lag_w``):
      requests that arrive late in a bin are served in the next, and the
      bidirectional state classifier sees both sides.  An hour's energy moves with
      its mean modulation through ``s_j`` *and* these terms.
    * ``z_b = n_b - lambda_b bin_s`` and ``u_b = S_b - lambda_b bin_s E[S]`` --
      control variates: ``n_b`` requests arrived in bin ``b`` and ``S_b`` the sum
      of their service times (``E[S]``: the mean service time of all calibration
      requests).  Their expectation given the modulation is zero, so they remove
      much of the arrival noise from the estimate without biasing it (they are not
      used by the fast path).

    ``bin_var_w2`` is the variance of ``P_b`` around the modulation terms (controls
    and ``e_b`` together: everything that is independent between replicas).  No queue
    state is carried: the surrogate's capacity (``max_batch`` slots over the mean
    service time) is 12-37 req/s per replica for the shipped configurations, far above
    the levels of the shipped scenarios, so a replica's power depends on the last few
    minutes of its rate, not on hours of history.  Near that capacity a backlog would
    carry over from bin to bin, which this fit does not model.

    The defaults (32 replicas, 5 knots, the neighbouring-bin terms, the controls and
    ``tail_fraction = 0.05``) were chosen on development days and seeds that the test
    and the benchmark do not use (``docs/pypsa.md``).

    Parameters
    ----------
    config : str or traces.model.FittedConfiguration
        Configuration id (loaded through :func:`traces.registry.load_configuration`) or
        a fitted configuration.
    tokens : {"azure-code", "azure-conv", "fixed"}, default "azure-conv"
    max_rate_rps : float, default 4.0
        Highest level [req/s per replica] (the deterministic level before the
        modulation).
    n_rates : int, default 16
        Levels J (>= 3), including 0 (idle).
    n_replicas : int, default 32
        Independent replicas per level (>= 1).  The estimate's noise falls as
        ``1/sqrt(n_replicas * duration_s)``; cost grows linearly.
    duration_s : float, default 3600.0
        Recorded trace length per replica [s] (a whole number, >= 4, of bins).
    warmup_s : float, default 120.0
        Discarded start [s] (a whole number of bins).
    bin_s : float, default 60.0
        Bin [s].
    correlation, cv : float
        Shared-traffic fraction ``rho`` and modulation CV of the scenario.
    n_mod_knots : int, default 5
        Interior knots (>= 1) of the spline in the bin's own modulation.
    tail_fraction : float, default 0.05
        Fraction in [0, 1) of the calibration bins whose modulation is drawn from the
        law's upper 2 % (quantiles 0.98 to 0.99995) instead of the whole law, so that
        the rare busy minutes that set hourly peaks are seen often enough to fit.  The
        fit is conditional on ``m``, so this does not bias it; the level mean
        ``mean_w``, ``beta_w``, ``var_w2`` and ``bin_var_w2`` are taken under the
        modulation law itself (quadrature on the fitted spline; importance weights).
    seed : int, default 0
    max_batch : int, default 64
    n_in_fixed, n_out_fixed : int
        Token counts for ``tokens="fixed"``.

    Returns
    -------
    ResponseCurve
        Levels (J,) with ``rate_rps[0] == 0``; modulation table (J, G).

    Raises
    ------
    AnnualError
        A grid, duration or replica count that is not usable (fewer than 10 bins per
        fitted coefficient).
    """

    if n_rates < 3 or not max_rate_rps > 0:
        raise AnnualError("calibrate_response: need n_rates >= 3 and max_rate_rps > 0")
    n_bins = duration_s / bin_s
    n_warm = warmup_s / bin_s
    if n_bins < 4 or abs(n_bins - round(n_bins)) > 1e-9 or abs(n_warm - round(n_warm)) > 1e-9:
        raise AnnualError(
            f"duration_s={duration_s} and warmup_s={warmup_s} must be whole numbers of "
            f"bins of {bin_s} s (duration at least 4 bins)"
        )
    if not 0.0 <= correlation <= 1.0 or not cv > 0 or not 0.0 <= tail_fraction < 1.0:
        raise AnnualError(
            "calibrate_response: correlation must lie in [0, 1], cv > 0 and tail_fraction in [0, 1)"
        )
    n_bins, n_warm = int(round(n_bins)), int(round(n_warm))
    shared = correlation > 0.0
    n_coef = (n_mod_knots + 2 + 2 if shared else 1) + 6
    if int(n_replicas) < 1 or int(n_mod_knots) < 1 or n_replicas * n_bins < 10 * n_coef:
        raise AnnualError(
            f"calibrate_response: n_replicas={n_replicas} x {n_bins} bins per level is too "
            f"few for {n_coef} coefficients (need >= 10 bins each, n_replicas >= 1 and "
            "n_mod_knots >= 1); raise n_replicas or duration_s"
        )
    cfg = _load_config(config)
    t0 = time.perf_counter()
    levels = max_rate_rps * np.arange(n_rates) / (n_rates - 1)
    run = _simulate_levels(
        cfg, levels, n_replicas=int(n_replicas), n_warm=n_warm, n_bins=n_bins, bin_s=bin_s,
        correlation=correlation, cv=cv, seed=seed,
        tokens=_tokens(tokens, n_in_fixed, n_out_fixed), max_batch=max_batch,
        tail_fraction=tail_fraction,
    )  # fmt: skip
    fits, grid, weights, mean_s = _fit_levels(run, n_mod_knots=n_mod_knots)
    keep = slice(n_warm, n_warm + n_bins)
    recorded = run.bin_p_w[..., keep]
    axes = (1, 2)  # replicas and bins, weighted to the modulation law
    mean_k = np.array([f.mean_w for f in fits])
    var_k = np.average(run.bin_p2_w2[..., keep], weights=weights, axis=axes) - (
        np.average(recorded, weights=weights, axis=axes) ** 2
    )
    elapsed = time.perf_counter() - t0
    logger.info(
        "%s: calibrated %d levels x %d replicas up to %.3g req/s (rho=%.2f) in %.1f s "
        "(idle %.0f W, top %.0f W)",
        getattr(cfg, "config_id", "?"), n_rates, n_replicas, max_rate_rps, correlation, elapsed,
        mean_k[0], mean_k[-1],
    )  # fmt: skip
    return ResponseCurve(
        config_id=str(getattr(cfg, "config_id", "custom")),
        tokens=tokens,
        tp=int(getattr(cfg, "tp", 1)),
        tdp_w=float(getattr(cfg, "tdp_w", float("nan"))),
        rate_rps=levels,
        mean_w=mean_k,
        var_w2=np.maximum(var_k, 0.0),
        bin_var_w2=np.array([f.bin_var_w2 for f in fits]),
        beta_w=np.array([f.beta_w for f in fits]),
        mod_knots=np.tile(grid, (n_rates, 1)),
        mod_mean_w=np.stack([f.table_w for f in fits]),
        correlation=float(correlation),
        cv=float(cv),
        bin_mean_range_w=(float(recorded.min()), float(recorded.max())),
        bin_s=float(bin_s),
        duration_s=float(duration_s),
        warmup_s=float(warmup_s),
        seed=int(seed),
        provenance={
            "calibration_s": elapsed,
            "generator": type(cfg).__name__,
            "max_batch": max_batch,
            "correlation": float(correlation),
            "cv": float(cv),
            "n_levels": int(n_rates),
            "n_replicas": int(n_replicas),
            "n_mod_knots": int(n_mod_knots),
            "tail_fraction": float(tail_fraction),
            "mean_service_s": mean_s,
            "estimator": "per level: natural cubic spline in m_b + previous/next-bin "
            "modulation + arrival-count and service-time control variates (least squares)",
            "source": "traces.schedule.rate_function (gamma-modulated Poisson) -> "
            "traces.surrogate.simulate_batching/workload_features -> "
            "FittedConfiguration.generate_many",
        },
        lag_w=np.stack([f.lag_w for f in fits]),
    )


def _generate_many(cfg: Any, feats: list[Any], rngs: list[np.random.Generator]) -> list[np.ndarray]:
    """Power of many equal-length traces in one batched call when the generator has one.

    Whole-sequence (exact) inference, as :func:`traces.facility.simulate_facility` runs
    horizons of a day or two, so calibration and the full path see the same classifier.
    """
    import torch

    with torch.inference_mode():
        if not hasattr(cfg, "generate_many"):
            return [cfg.generate_from_features(f, rng=g) for f, g in zip(feats, rngs, strict=True)]
        try:
            return list(cfg.generate_many(feats, rngs, window=None, batch_windows=len(feats)))
        except TypeError:  # a generate_many without window/batch_windows
            return list(cfg.generate_many(feats, rngs))


# --------------------------------------------------------------------------- fast core
def _fast_core(
    level_b: np.ndarray,
    mod_b: np.ndarray | None,
    replicas: Mapping[str, np.ndarray],
    servers_b: np.ndarray,
    curves: Mapping[str, ResponseCurve],
    *,
    it_base_kw_per_server: float,
    pue: float,
    noise_rng: np.random.Generator | None,
) -> tuple[np.ndarray, np.ndarray]:
    """PCC load per bin [MW] and its noise standard deviation [MW], shapes (B,).

    ``G_b = sum_c R_c g_c(L_b, m_{b-1}, m_b, m_{b+1}) + eps_b`` (``g_c = mu_c(L_b)``
    without modulation; the modulation outside the series at its mean, 1),
    ``eps_b ~ N(0, sum_c R_c v_c(L_b))``; PCC = PUE (G_b + N_b P_base).
    """
    gpu_w = np.zeros_like(level_b)
    var_w2 = np.zeros_like(level_b)
    for cid, r in replicas.items():
        if not np.any(r):
            continue
        curve = curves[cid]
        if mod_b is None:
            per_replica = curve.mean(level_b)
        else:  # response to the shared modulation (own and neighbouring bins), saturating
            per_replica = curve.shared_response(
                level_b, mod_b, _shift(mod_b, -1, 1.0), _shift(mod_b, 1, 1.0)
            )
        gpu_w += r * per_replica
        var_w2 += r * curve.bin_var(level_b)
    sd = np.sqrt(var_w2)
    if noise_rng is not None:
        gpu_w = gpu_w + sd * noise_rng.standard_normal(level_b.shape)
    it_w = gpu_w + servers_b * it_base_kw_per_server * 1e3
    return pue * it_w / 1e6, pue * sd / 1e6


def _curves_for(
    scenario: AnnualScenario,
    curves: Mapping[str, ResponseCurve] | None,
    *,
    max_rate: float,
) -> dict[str, ResponseCurve]:
    sc = scenario
    rho = sc.correlation if sc.traffic_mode == "shared" else 0.0
    out = dict(curves or {})
    for cid in sc.config_ids():
        if cid in out:
            c = out[cid]
            if (
                c.tokens != sc.tokens
                or abs(c.bin_s - sc.bin_s) > 1e-9
                or abs(c.correlation - rho) > 1e-9
                or (rho > 0 and abs(c.cv - sc.cv) > 1e-9)
            ):
                raise AnnualError(
                    f"curves[{cid!r}] was calibrated with tokens={c.tokens!r}, bin_s={c.bin_s}, "
                    f"correlation={c.correlation}, cv={c.cv}; the scenario uses "
                    f"tokens={sc.tokens!r}, bin_s={sc.bin_s}, correlation={rho}, cv={sc.cv}. "
                    "Recalibrate with those settings"
                )
            continue
        logger.info("calibrating %s up to %.3g req/s per replica", cid, max_rate)
        out[cid] = calibrate_response(
            cid, tokens=sc.tokens, max_rate_rps=max_rate, bin_s=sc.bin_s, correlation=rho,
            cv=sc.cv, seed=sc.seed, max_batch=sc.max_batch,
            n_in_fixed=sc.n_in_fixed, n_out_fixed=sc.n_out_fixed,
        )  # fmt: skip
    return out


def _block(values: np.ndarray, per: int, how: str) -> np.ndarray:
    """Mean or max over consecutive blocks of ``per`` samples (exact, aligned)."""
    if values.size % per:
        raise AnnualError(f"{values.size} samples are not a whole number of blocks of {per}")
    blocks = values.reshape(-1, per)
    return blocks.mean(axis=1) if how == "mean" else blocks.max(axis=1)


# --------------------------------------------------------------------------- annual shape
@dataclass(frozen=True)
class AnnualShape:
    """A facility's PCC load over the scenario, from the fast path.

    Attributes
    ----------
    p_mw : pandas.Series, shape (M,)
        PCC load at ``freq``: mean power per interval (energy-preserving) [MW], UTC
        index, name ``p_mw``, ``attrs["unit"] == "MW"``.  Ready for
        :func:`gridlink.grid.pypsa.add_facility_load`.
    peak_mw : pandas.Series, shape (M,)
        Highest bin-mean (``bin_s``, default 1-min) PCC load within each interval [MW].
    p_mw_bin : pandas.Series, shape (B,)
        PCC load per bin [MW].
    rate_rps : pandas.Series, shape (B,)
        Offered load per replica per bin, including the shared modulation [req/s].
    servers : pandas.Series, shape (B,)
        Servers in operation per bin.
    curves : dict[str, ResponseCurve]
        Response curves used.
    scenario : AnnualScenario
    timings_s : dict
        ``calibration`` (0 when curves were given) and ``build`` [s].
    """

    p_mw: pd.Series
    peak_mw: pd.Series
    p_mw_bin: pd.Series
    rate_rps: pd.Series
    servers: pd.Series
    curves: dict[str, ResponseCurve]
    scenario: AnnualScenario
    timings_s: dict[str, float]


def _modulation(n: int, cv: float, rng: np.random.Generator) -> np.ndarray:
    k = 1.0 / cv**2
    return rng.gamma(shape=k, scale=1.0 / k, size=n)


def _replicas_per_server(curves: Mapping[str, ResponseCurve], cid: str, gpus: int) -> int:
    tp = curves[cid].tp
    if gpus % tp:
        raise AnnualError(
            f"gpus_per_server={gpus} is not a multiple of TP={tp} of {cid!r}; use a multiple of {tp}"
        )
    return gpus // tp


def nameplate_mw(scenario: AnnualScenario, curves: Mapping[str, ResponseCurve]) -> float:
    """Largest TDP-based facility power over the fleet phases [MW].

    ``PUE * sum_c servers_c * (replicas_c * tdp_w_c + it_base)`` per phase (the
    flat "TDP" booking a planner would use), maximised over phases.
    """
    best = 0.0
    for p in scenario.fleet:
        it_w = 0.0
        for cid, n in p.servers.items():
            reps = _replicas_per_server(curves, cid, p.gpus_per_server)
            it_w += n * (reps * curves[cid].tdp_w + scenario.it_base_kw_per_server * 1e3)
        best = max(best, scenario.pue * it_w / 1e6)
    return best


def annual_load(
    scenario: AnnualScenario,
    curves: Mapping[str, ResponseCurve] | None = None,
    *,
    freq: str = "1h",
    noise: bool = True,
) -> AnnualShape:
    """Build the facility's PCC load over the whole scenario from response curves.

    Parameters
    ----------
    scenario : AnnualScenario
    curves : Mapping[str, ResponseCurve], optional
        Response curve per configuration id; missing ones are calibrated with
        :func:`calibrate_response` up to 1.05 x the highest offered load the scenario
        reaches (this is the slow part; store curves with ``ResponseCurve.save``).
    freq : str, default "1h"
        Output interval (a multiple of ``scenario.bin_s``).
    noise : bool, default True
        Draw the aggregate bin noise (independent replicas, variances add); False gives
        the expected load given the shared modulation.

    Returns
    -------
    AnnualShape

    Raises
    ------
    AnnualError
        Offered load above a curve's grid, GPUs per server not a multiple of TP,
        curves calibrated for another token mix or bin.
    """
    t0 = time.perf_counter()
    sc = scenario
    idx = sc.bin_index()
    mid = idx + pd.Timedelta(seconds=sc.bin_s / 2)
    rng = np.random.default_rng(np.random.SeedSequence(sc.seed, spawn_key=(7,)))
    level = sc.rate_per_replica(mid)
    mod = _modulation(len(idx), sc.cv, rng) if sc.traffic_mode == "shared" else None
    lam = level if mod is None else level * (1.0 - sc.correlation + sc.correlation * mod)
    t_cal = time.perf_counter()
    curves = _curves_for(sc, curves, max_rate=1.05 * float(level.max()))
    calibration_s = time.perf_counter() - t_cal
    phase = sc.phase_at(idx)
    replicas: dict[str, np.ndarray] = {}
    servers = np.zeros(len(idx))
    for k, p in enumerate(sc.fleet):
        on = phase == k
        for cid, n in p.servers.items():
            reps = _replicas_per_server(curves, cid, p.gpus_per_server)
            replicas.setdefault(cid, np.zeros(len(idx)))[on] += n * reps
            servers[on] += n
    pcc, _ = _fast_core(
        level, mod, replicas, servers, curves, it_base_kw_per_server=sc.it_base_kw_per_server,
        pue=sc.pue, noise_rng=rng if noise else None,
    )  # fmt: skip
    p_bin = series_with_unit(pd.Series(pcc, index=idx, name="p_mw"), "MW")
    step = pd.Timedelta(freq)
    per = step / pd.Timedelta(seconds=sc.bin_s)
    if (
        per < 1
        or abs(per - round(per)) > 1e-9
        or (len(idx) % round(per))
        or (sc.start.value % step.value)
    ):
        raise AnnualError(
            f"freq={freq!r} must be a whole multiple of bin_s={sc.bin_s} s that tiles the "
            "scenario and is aligned with its start (e.g. '15min', '1h')"
        )
    # exact energy-preserving means of aligned whole bins (gridlink.resample convention)
    out_idx = pd.date_range(sc.start, periods=len(idx) // round(per), freq=step)
    p_freq = series_with_unit(
        pd.Series(_block(pcc, round(per), "mean"), index=out_idx, name="p_mw"), "MW"
    )
    peak = series_with_unit(
        pd.Series(_block(pcc, round(per), "max"), index=out_idx, name="peak_mw"), "MW"
    )
    build_s = time.perf_counter() - t0 - calibration_s
    logger.info(
        "annual shape: %d bins, mean %.2f MW, peak %.2f MW; build %.2f s, calibration %.1f s",
        len(idx), float(p_bin.mean()), float(p_bin.max()), build_s, calibration_s,
    )  # fmt: skip
    rate = pd.Series(lam, index=idx, name="rate_rps")
    rate.attrs["unit"] = "1/s"
    return AnnualShape(
        p_mw=p_freq,
        peak_mw=peak,
        p_mw_bin=p_bin,
        rate_rps=rate,
        servers=pd.Series(servers, index=idx, name="servers"),
        curves=dict(curves),
        scenario=sc,
        timings_s={"calibration": calibration_s, "build": build_s},
    )


# --------------------------------------------------------------------------- full path
def day_spec(
    scenario: AnnualScenario,
    day: str | pd.Timestamp,
    *,
    hours: float = 24.0,
    n_servers: int | None = None,
    resolution: str | None = None,
) -> Any:
    """The :class:`traces.facility.FacilitySpec` that renders part of a scenario day.

    The day's deterministic offered load ``lambda(t)`` per bin becomes a ``profile``
    arrival scenario (bins of ``bin_s``); the shared modulation is the facility's own
    (:func:`traces.facility.shared_intensity`, gamma with CV ``cv`` per bin).

    Parameters
    ----------
    scenario : AnnualScenario
    day : str or pandas.Timestamp
        tz-aware start of the window (usually a UTC midnight) inside the scenario.
    hours : float, default 24
        Window length [h] (a whole number of bins).
    n_servers : int, optional
        Render a smaller hall with the phase's configuration mix (default: the
        phase's full fleet; a 10,000-server day at 250 ms is costly).
    resolution : str, optional
        Output resolution (default ``bin_s``).

    Raises
    ------
    AnnualError
        Window outside the scenario, or a fleet change inside the window.
    """
    from traces.facility import Assignment, FacilitySpec, WorkloadScenario

    sc = scenario
    start = _utc(day, name="day")
    end = start + pd.Timedelta(hours=hours)
    s_end = sc.start + pd.Timedelta(days=sc.days)
    if start < sc.start or end > s_end:
        raise AnnualError(
            f"day: window {start} to {end} is outside the scenario ({sc.start} to {s_end})"
        )
    n_bins = hours * 3600.0 / sc.bin_s
    if abs(n_bins - round(n_bins)) > 1e-9 or (start.value - sc.start.value) % int(sc.bin_s * 1e9):
        raise AnnualError(
            f"day/hours: the window must cover whole {sc.bin_s} s bins of the scenario"
        )
    idx = pd.date_range(start, periods=int(round(n_bins)), freq=pd.Timedelta(seconds=sc.bin_s))
    phases = np.unique(sc.phase_at(idx))
    if phases.size != 1:
        raise AnnualError(
            f"day: the fleet changes inside {start} to {end}; render a window within one phase"
        )
    phase = sc.fleet[int(phases[0])]
    lam = sc.rate_per_replica(idx + pd.Timedelta(seconds=sc.bin_s / 2))
    ids = [c for c, n in phase.servers.items() if n > 0]
    counts = np.array([phase.servers[c] for c in ids], dtype=float)
    total = int(counts.sum()) if n_servers is None else int(n_servers)
    per_rack = next(k for k in (8, 4, 2, 1) if total % k == 0)
    assignment: Any = ids[0] if len(ids) == 1 else Assignment(
        configs=tuple(ids), by="fraction", fractions=tuple(counts / counts.sum()))  # fmt: skip
    workload = WorkloadScenario(
        arrival="profile", rate_per_replica_rps=float(lam.mean()), cv=sc.cv,
        tokens=sc.tokens, n_in_fixed=sc.n_in_fixed, n_out_fixed=sc.n_out_fixed,
        profile=tuple(float(v) for v in lam), profile_interval_s=sc.bin_s,
        profile_label="gridlink.annual scenario day", intensity_bin_s=sc.bin_s,
    )  # fmt: skip
    day_seed = int(
        np.random.SeedSequence([sc.seed, int(start.value // 10**9)]).generate_state(1)[0]
    )
    return FacilitySpec(
        rows=1, racks_per_row=total // per_rack, servers_per_rack=per_rack,
        assignment=assignment, gpus_per_server=phase.gpus_per_server, scenario=workload,
        traffic_mode=sc.traffic_mode, correlation=sc.correlation,
        it_base_kw_per_server=sc.it_base_kw_per_server, pue=sc.pue, horizon_s=hours * 3600.0,
        seed=day_seed, resolution=resolution or f"{int(sc.bin_s)}s", start=start,
        max_batch=sc.max_batch,
    )  # fmt: skip


def render_day(
    scenario: AnnualScenario,
    day: str | pd.Timestamp,
    *,
    hours: float = 24.0,
    n_servers: int | None = None,
    resolution: str = "250ms",
    workers: int | None = None,
) -> Any:
    """Render a scenario window at 250 ms through the full path (the generator).

    :func:`traces.facility.simulate_facility` on :func:`day_spec`; returns its
    ``FacilityResult`` (``pcc_mw_250ms`` at 250 ms, ``pcc_mw`` at ``resolution``).
    Cost grows with servers x hours: a 10,000-server day is ~3.5e9 server-steps.
    """
    from traces.facility import simulate_facility

    spec = day_spec(scenario, day, hours=hours, n_servers=n_servers, resolution=resolution)
    return simulate_facility(spec, workers=workers, progress=False)


def fast_facility(
    spec: Any,
    curves: Mapping[str, ResponseCurve],
    *,
    noise_seed: int | None = 0,
) -> tuple[pd.Series, pd.Series]:
    """The fast path on a :class:`traces.facility.FacilitySpec` (``profile``/``poisson`` arrivals).

    Uses the spec's own rate profile and, for shared traffic, its own intensity path
    (:func:`traces.facility.shared_intensity`), so it can be compared with
    :func:`traces.facility.simulate_facility` on the same spec.

    Returns
    -------
    p_mw : pandas.Series, shape (B,)
        PCC load per intensity bin [MW] (noise drawn unless ``noise_seed`` is None).
    sd_mw : pandas.Series, shape (B,)
        Standard deviation of the aggregate bin noise [MW].
    """
    from traces.facility import shared_intensity, validate_configurations

    sc = spec.scenario
    if sc.arrival not in ("profile", "poisson"):
        raise AnnualError(f"fast_facility: arrival {sc.arrival!r} not supported (profile, poisson)")
    bin_s = sc.intensity_bin_s
    n_bins = int(round(spec.horizon_s / bin_s))
    idx = pd.date_range(spec.start, periods=n_bins, freq=pd.Timedelta(seconds=bin_s))
    mids = (np.arange(n_bins) + 0.5) * bin_s
    if sc.arrival == "profile":
        prof = np.asarray(sc.profile, dtype=float)
        k = np.minimum((mids // sc.profile_interval_s).astype(int), len(prof) - 1)
        lam = sc.rate_per_replica_rps * prof[k] / prof.mean()
    else:
        lam = np.full(n_bins, sc.rate_per_replica_rps)
    mod = None
    if spec.traffic_mode == "shared":
        edges, shared = shared_intensity(spec)
        if len(shared) != n_bins:
            raise AnnualError("fast_facility: the horizon must be a whole number of intensity bins")
        # the facility's own gamma draws: shared = level x m_b
        mod = np.divide(shared, lam, out=np.ones_like(lam), where=lam > 0)
    reps_per_server = validate_configurations(spec)
    counts = pd.Series(spec.server_configs()).value_counts()
    replicas = {c: np.full(n_bins, float(counts[c] * reps_per_server[c])) for c in counts.index}
    rng = None if noise_seed is None else np.random.default_rng(noise_seed)
    pcc, sd = _fast_core(
        lam, mod, replicas, np.full(n_bins, float(spec.n_servers)), curves,
        it_base_kw_per_server=spec.it_base_kw_per_server, pue=spec.pue, noise_rng=rng,
    )  # fmt: skip
    return (
        series_with_unit(pd.Series(pcc, index=idx, name="p_mw"), "MW"),
        series_with_unit(pd.Series(sd, index=idx, name="sd_mw"), "MW"),
    )


def compare_fast_full(
    scenario: AnnualScenario,
    day: str | pd.Timestamp,
    curves: Mapping[str, ResponseCurve],
    *,
    hours: float = 24.0,
    n_servers: int | None = None,
    noise_seed: int = 0,
    workers: int | None = None,
    warmup_hours: float = 1.0,
) -> pd.DataFrame:
    """Hourly energy and hourly peak: fast path versus the full 250 ms path.

    Both run on the same :func:`day_spec` (same rate profile, same shared intensity
    path).  The peak is the highest ``bin_s`` (1-min) mean PCC load in each hour.
    The full path starts with empty queues, whereas the year it is compared with is
    continuous, so both paths are run from ``warmup_hours`` before ``day`` (when the
    scenario has them) and those hours are dropped.

    Returns
    -------
    pandas.DataFrame, shape (hours, 8)
        Index: hour start (UTC).  Columns ``energy_full_mwh``, ``energy_fast_mwh``,
        ``energy_rel_err`` (fast / full - 1), ``peak_full_mw``, ``peak_fast_mw``,
        ``peak_rel_err``, ``full_s`` and ``fast_s`` (wall time of each path [s],
        repeated on every row).
    """
    from traces.facility import simulate_facility

    start = _utc(day, name="day")
    warm = int(round(warmup_hours))
    if abs(warmup_hours - warm) > 1e-9 or warm < 0:
        raise AnnualError(f"warmup_hours={warmup_hours} must be a whole number >= 0")
    warm = min(warm, int((start - scenario.start) / pd.Timedelta(hours=1)))
    spec = day_spec(
        scenario, start - pd.Timedelta(hours=warm), hours=hours + warm, n_servers=n_servers
    )
    t0 = time.perf_counter()
    full = simulate_facility(spec, workers=workers, progress=False)
    full_s = time.perf_counter() - t0
    per_bin = int(round(scenario.bin_s / DT_S))
    full_bin = _block(full.pcc_mw_250ms.to_numpy(dtype=np.float64), per_bin, "mean")
    t1 = time.perf_counter()
    fast, _ = fast_facility(spec, curves, noise_seed=noise_seed)
    fast_s = time.perf_counter() - t1
    fast_bin = fast.to_numpy()
    per_hour = int(round(3600.0 / scenario.bin_s))
    hours_idx = pd.date_range(spec.start, periods=len(full_bin) // per_hour, freq="1h")
    out = pd.DataFrame(
        {
            "energy_full_mwh": _block(full_bin, per_hour, "mean"),
            "energy_fast_mwh": _block(fast_bin, per_hour, "mean"),
            "peak_full_mw": _block(full_bin, per_hour, "max"),
            "peak_fast_mw": _block(fast_bin, per_hour, "max"),
        },
        index=hours_idx,
    )
    out["energy_rel_err"] = out["energy_fast_mwh"] / out["energy_full_mwh"] - 1.0
    out["peak_rel_err"] = out["peak_fast_mw"] / out["peak_full_mw"] - 1.0
    out["full_s"] = full_s
    out["fast_s"] = fast_s
    out = out.iloc[warm:]
    out.attrs["servers"] = spec.n_servers
    out.attrs["warmup_hours"] = warm
    return out[
        ["energy_full_mwh", "energy_fast_mwh", "energy_rel_err", "peak_full_mw", "peak_fast_mw",
         "peak_rel_err", "full_s", "fast_s"]
    ]  # fmt: skip


def with_fleet(scenario: AnnualScenario, fleet: Sequence[FleetPhase]) -> AnnualScenario:
    """A copy of ``scenario`` with another fleet (convenience for studies)."""
    return replace(scenario, fleet=tuple(fleet))
