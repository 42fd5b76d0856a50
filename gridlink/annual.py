"""Fast annual load shapes of an AI facility, calibrated on the 250 ms generator.

Rendering a year at 250 ms for every server of a 10,000-server site is far too slow
(about 10^12 server-steps).  This module builds the year from **response curves**:
for each fitted configuration, the full generator (``traces.surrogate`` batching
surrogate + ``FittedConfiguration.generate_many``) is run once per offered-load level
``L_j`` (req/s per replica, with the scenario's token mix and, for shared traffic, the
scenario's gamma modulation of the rate per bin) and the statistics of one replica's
bin-mean GPU power are recorded (:func:`calibrate_response`):

* ``mean_w`` -- mean power at the level, averaged over the modulation [W];
* ``mod_mean_w`` -- for shared traffic, the mean bin power of Q groups of bins sorted
  by that bin's shared modulation ``m_b`` (the response ``g(L, m)`` to the modulation,
  piecewise linear in ``m``), with ``beta_w`` its least-squares slope as a summary;
* ``bin_var_w2`` -- the remaining (independent) variance of the bin mean [W^2];
* ``var_w2`` -- variance of the 250 ms power [W^2] (reported, not used).

Calibrating at the *level* with the modulation running, rather than at each bin's
instantaneous rate, keeps the queues that carry over from one bin to the next in the
average: near a replica's capacity the power depends on the recent history of the
rate, not only on the current bin's.

The annual shape (:func:`annual_load`) is then assembled bin by bin (60 s bins, 525,600
per year) from the scenario's deterministic level ``L_b`` and, for shared traffic, one
common draw ``m_b`` per bin:

.. math::

    G_b = \\sum_c R_{c,b}\\, g_c(L_b, m_b) + \\varepsilon_b, \\qquad
    \\varepsilon_b \\sim N\\!\\big(0, \\textstyle\\sum_c R_{c,b}\\, v_c(L_b)\\big),

    P^{PCC}_b = \\mathrm{PUE}\\,\\big(G_b + N_b\\, P^{base}\\big)

with ``R_{c,b}`` replicas of configuration ``c`` (servers x GPUs per server / TP) and
``N_b`` servers in bin ``b`` (paper Eqs 10-11).  Independent replicas: variances add
(``epsilon_b``).  Shared-intensity traffic (paper §3.4, as in :mod:`traces.facility`):
the common modulation moves every replica together through ``g``, so that part
scales with ``R`` and does not average out.

Assumptions, stated: curves are interpolated linearly between levels and never
extrapolated (a level above the grid raises); the response to ``m_b`` is piecewise
linear (extended linearly beyond the outer groups), saturating at the lowest and
highest bin-mean power seen in calibration (a replica cannot be busier than its
busiest calibrated bin), and the independent part Gaussian, which under-states the upper tail near a replica's
capacity (see the measured peak errors in ``benchmarks/bench_annual.py``).  The fast
and full paths are compared by :func:`compare_fast_full` (hourly energy and hourly
peak of 1-min means) in ``tests/test_annual.py`` and the benchmark.  Hourly values are
exact means of whole aligned bins (the energy-preserving convention of
:mod:`gridlink.resample`).

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
        Mean replica power at the level, averaged over the modulation [W].
    var_w2 : numpy.ndarray, shape (J,)
        Variance of the 250 ms replica power [W^2].
    bin_var_w2 : numpy.ndarray, shape (J,)
        Variance of the replica's bin-mean power left after the shared modulation's
        effect [W^2] (the independent part; variances of replicas add).
    beta_w : numpy.ndarray, shape (J,)
        Least-squares slope of the bin-mean power on the shared modulation ``m_b``
        (mean 1) [W per unit m]; 0 for independent traffic (a summary).
    mod_knots, mod_mean_w : numpy.ndarray, shape (J, Q)
        Response to the modulation per level: mean modulation and mean bin power [W]
        of Q equal-count groups of calibration bins sorted by ``m_b``; piecewise
        linear in ``m`` between them and extended linearly beyond (used by the fast
        path; a single group holding the level mean for independent traffic).
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

    def shared_response(self, rate: np.ndarray, mod: np.ndarray) -> np.ndarray:
        """Mean replica bin power [W] at level ``rate`` [req/s] and modulation ``mod``.

        Piecewise linear in ``mod`` within each level (linear beyond the outer
        groups), linear in ``rate`` between levels, saturating at
        :attr:`bin_mean_range_w`.
        """
        rate = np.asarray(rate, dtype=float)
        mod = np.asarray(mod, dtype=float)
        self._check(rate)
        levels = self.rate_rps
        j = np.clip(np.searchsorted(levels, rate, side="right") - 1, 0, len(levels) - 2)
        w = (rate - levels[j]) / (levels[j + 1] - levels[j])
        out = np.empty_like(rate)
        for k in np.unique(j):
            sel = j == k
            lo = _interp_extrap(mod[sel], self.mod_knots[k], self.mod_mean_w[k])
            hi = _interp_extrap(mod[sel], self.mod_knots[k + 1], self.mod_mean_w[k + 1])
            out[sel] = (1.0 - w[sel]) * lo + w[sel] * hi
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
                  "mod_mean_w"):  # fmt: skip
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


def calibrate_response(
    config: Any,
    *,
    tokens: str = "azure-conv",
    max_rate_rps: float = 4.0,
    n_rates: int = 16,
    duration_s: float = 3600.0,
    warmup_s: float = 120.0,
    bin_s: float = 60.0,
    correlation: float = 0.0,
    cv: float = 0.5,
    n_mod_groups: int = 4,
    seed: int = 0,
    max_batch: int = 64,
    n_in_fixed: int = 512,
    n_out_fixed: int = 128,
) -> ResponseCurve:
    """Run the full 250 ms generator on a grid of offered loads and record the response.

    For each level ``r_j = max_rate_rps * j / (n_rates - 1)`` one replica is driven
    through the batching surrogate (:func:`traces.surrogate.features_for_schedule`)
    and the configuration's ``generate_many`` / ``generate_from_features`` by Poisson
    arrivals whose rate in each bin is ``r_j (1 - rho + rho m_b)``, with ``m_b`` the
    same gamma modulation (mean 1, CV ``cv``) that shared traffic uses
    (:func:`traces.schedule.rate_function`; ``rho = 0`` gives stationary Poisson).  The
    first ``warmup_s`` are discarded.  Every recorded bin gives a pair (bin rate, bin
    mean power); the response is the conditional mean ``E[P_bin | rate_bin]``
    estimated by averaging pairs in rate segments (levels for ``rho = 0``; equal-count
    segments of the pooled rates otherwise), so queues that carry over between bins
    under that modulation are accounted for on average.

    Parameters
    ----------
    config : str or traces.model.FittedConfiguration
        Configuration id (loaded through :func:`traces.registry.load_configuration`) or
        a fitted configuration.
    tokens : {"azure-code", "azure-conv", "fixed"}, default "azure-conv"
    max_rate_rps : float, default 4.0
        Highest level [req/s per replica].  With ``rho = 0`` the curve ends there; with
        modulation it ends at the highest bin rate seen.
    n_rates : int, default 16
        Levels J (>= 3), including 0 (idle).
    duration_s : float, default 3600.0
        Recorded trace length per level [s] (a whole number, >= 4, of bins).  Near a
        replica's capacity the mean power at a level grows with how long the level is
        held (queues build over hours); one hour matches the slow diurnal change of
        the level best in the validation (see ``benchmarks/bench_annual.py``).
    warmup_s : float, default 120.0
        Discarded start [s] (a whole number of bins).
    bin_s : float, default 60.0
        Bin [s].
    correlation, cv : float
        Shared-traffic fraction ``rho`` and modulation CV of the scenario.
    n_mod_groups : int, default 4
        Groups Q of bins (by modulation) per level for the response to ``m_b``.
    seed : int, default 0
    max_batch : int, default 64
    n_in_fixed, n_out_fixed : int
        Token counts for ``tokens="fixed"``.

    Returns
    -------
    ResponseCurve
        Knots (K,) with ``rate_rps[0] == 0``.

    Raises
    ------
    AnnualError
        A grid or duration that is not usable.
    """
    import torch

    from traces.schedule import rate_function
    from traces.surrogate import features_for_schedule

    cfg = _load_config(config)
    if n_rates < 3 or not max_rate_rps > 0:
        raise AnnualError("calibrate_response: need n_rates >= 3 and max_rate_rps > 0")
    n_bins = duration_s / bin_s
    n_warm = warmup_s / bin_s
    if n_bins < 4 or abs(n_bins - round(n_bins)) > 1e-9 or abs(n_warm - round(n_warm)) > 1e-9:
        raise AnnualError(
            f"duration_s={duration_s} and warmup_s={warmup_s} must be whole numbers of "
            f"bins of {bin_s} s (duration at least 4 bins)"
        )
    if not 0.0 <= correlation <= 1.0 or not cv > 0:
        raise AnnualError("calibrate_response: correlation must lie in [0, 1] and cv > 0")
    t0 = time.perf_counter()
    levels = max_rate_rps * np.arange(n_rates) / (n_rates - 1)
    total = duration_s + warmup_s
    n_tot = int(round(total / bin_s))
    tok = _tokens(tokens, n_in_fixed, n_out_fixed)
    seqs = np.random.SeedSequence(seed).spawn(len(levels))
    feats, rngs, mods = [], [], []
    for r, sq in zip(levels, seqs, strict=True):
        mod_rng, sched_rng, feat_rng, power_rng = (np.random.default_rng(c) for c in sq.spawn(4))
        m = _modulation(n_tot, cv, mod_rng)
        lam = r * (1.0 - correlation + correlation * m)
        sched = rate_function(
            pd.Series(lam, index=np.arange(n_tot) * bin_s), total, tok,
            start="2025-01-01T00:00Z", rng=sched_rng,
        )  # fmt: skip
        feats.append(
            features_for_schedule(sched, cfg.latency, max_batch=max_batch, rng=feat_rng,
                                  duration_s=total)
        )  # fmt: skip
        rngs.append(power_rng)
        mods.append(m[int(round(n_warm)) :])
    with torch.inference_mode():
        if hasattr(cfg, "generate_many"):
            powers = list(cfg.generate_many(feats, rngs))
        else:
            powers = [
                cfg.generate_from_features(f, rng=g) for f, g in zip(feats, rngs, strict=True)
            ]
    skip = int(round(warmup_s / DT_S))
    per_bin = int(round(bin_s / DT_S))
    mean_k, beta_k, bin_var_k, var_k = (np.zeros(n_rates) for _ in range(4))
    n_groups = n_mod_groups if correlation > 0.0 else 1
    mod_knots, mod_mean = np.ones((n_rates, n_groups)), np.zeros((n_rates, n_groups))
    lo_w, hi_w = np.inf, -np.inf
    for j, p in enumerate(powers):
        x = np.asarray(p, dtype=np.float64)[skip : skip + int(round(duration_s / DT_S))]
        blocks = x.reshape(-1, per_bin)
        bin_mean = blocks.mean(axis=1)
        lo_w, hi_w = min(lo_w, float(bin_mean.min())), max(hi_w, float(bin_mean.max()))
        m = mods[j]
        mean_k[j] = bin_mean.mean()
        if correlation > 0.0 and levels[j] > 0 and m.var() > 0:
            # linear response of the bin mean to the shared modulation (least squares)
            beta_k[j] = float(np.cov(bin_mean, m, ddof=1)[0, 1] / m.var(ddof=1))
        groups = np.array_split(np.argsort(m, kind="stable"), n_groups)
        mod_knots[j] = [m[g].mean() for g in groups] if n_groups > 1 else [1.0]
        mod_mean[j] = [bin_mean[g].mean() for g in groups]
        fitted = _interp_extrap(m, mod_knots[j], mod_mean[j])
        resid = bin_mean - fitted
        bin_var_k[j] = float(resid.var(ddof=n_groups if n_groups < resid.size else 1))
        var_k[j] = float(x.var())
    knots = levels
    elapsed = time.perf_counter() - t0
    logger.info(
        "%s: calibrated %d levels up to %.3g req/s (rho=%.2f) in %.1f s (idle %.0f W, top %.0f W)",
        getattr(cfg, "config_id", "?"), n_rates, max_rate_rps, correlation, elapsed,
        mean_k[0], mean_k[-1],
    )  # fmt: skip
    return ResponseCurve(
        config_id=str(getattr(cfg, "config_id", "custom")),
        tokens=tokens,
        tp=int(getattr(cfg, "tp", 1)),
        tdp_w=float(getattr(cfg, "tdp_w", float("nan"))),
        rate_rps=knots,
        mean_w=mean_k,
        var_w2=var_k,
        bin_var_w2=bin_var_k,
        beta_w=beta_k,
        mod_knots=mod_knots,
        mod_mean_w=mod_mean,
        correlation=float(correlation),
        cv=float(cv),
        bin_mean_range_w=(lo_w, hi_w),
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
            "source": "traces.schedule.rate_function (gamma-modulated Poisson) -> "
            "traces.surrogate.features_for_schedule -> FittedConfiguration.generate_many",
        },
    )


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

    ``G_b = sum_c R_c g_c(L_b, m_b) + eps_b`` (``g_c = mu_c(L_b)`` without modulation),
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
        else:  # response to the shared modulation, saturating at the calibrated range
            per_replica = curve.shared_response(level_b, mod_b)
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
        :func:`gridlink.grid_pypsa.add_facility_load`.
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
        :func:`calibrate_response` up to 1.1 x the highest offered load the scenario
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
