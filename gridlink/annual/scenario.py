"""An annual scenario: the fleet phases and the offered load per replica over the year
(diurnal, weekly, growth, holidays; shared gamma modulation per bin), and
:class:`AnnualError`.  Assembly of the year: :mod:`gridlink.annual`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from traces.fields import allowed_keys, as_integer, as_number, check_plausible

if TYPE_CHECKING:  # typing only; imported where it runs
    from traces.workload.schedule import TokenDistribution

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
    allow_implausible : tuple of str
        Plausible-range keys (``"pue"``, ``"it_base_kw_per_server"``) accepted outside
        their range (:data:`traces.fields.PLAUSIBLE`).
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
    allow_implausible: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        allow = allowed_keys(self.allow_implausible, error=AnnualError)
        for key in ("rate_per_replica_rps", "growth_per_year", "holiday_factor", "correlation",
                    "cv", "bin_s", "it_base_kw_per_server", "pue"):  # fmt: skip
            object.__setattr__(self, key, as_number(getattr(self, key), key, error=AnnualError))
        for key in ("days", "n_in_fixed", "n_out_fixed", "seed", "max_batch"):
            object.__setattr__(self, key, as_integer(getattr(self, key), key, error=AnnualError))
        for key in ("pue", "it_base_kw_per_server"):
            check_plausible(getattr(self, key), key, key, allow=allow, error=AnnualError)
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
            if (pd.Timestamp(p.start).value - start.value) % bin_ns and p.start > start:
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
        starts = np.array([pd.Timestamp(p.start).value for p in self.fleet], dtype=np.int64)
        return np.searchsorted(starts, times.asi8, side="right") - 1


def _tokens(tokens: str, n_in: int, n_out: int) -> TokenDistribution:
    from traces.workload.schedule import TokenDistribution

    if tokens == "fixed":
        return TokenDistribution.constant(int(n_in), int(n_out))
    return TokenDistribution.from_azure("code" if tokens == "azure-code" else "conv")


def _modulation(n: int, cv: float, rng: np.random.Generator) -> np.ndarray:
    k = 1.0 / cv**2
    return rng.gamma(shape=k, scale=1.0 / k, size=n)


def with_fleet(scenario: AnnualScenario, fleet: Sequence[FleetPhase]) -> AnnualScenario:
    """A copy of ``scenario`` with another fleet (convenience for studies)."""
    return replace(scenario, fleet=tuple(fleet))
