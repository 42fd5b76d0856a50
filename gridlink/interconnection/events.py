"""Disturbance what-ifs of a large load: load loss, ride-through, worst-case loss.

Three questions an interconnection study now asks of an AI facility:

1. **Load loss.**  On July 10, 2024 a normally cleared 230 kV fault with repeated
   reclosing in Northern Virginia made about 60 data centres (about 1,500 MW)
   transfer to their UPS and backup supply within seconds; they returned minutes to
   hours later, and the grid saw the over-frequency and over-voltage of a sudden
   load drop (NERC, *Incident Review: Considering Simultaneous Voltage-Sensitive
   Load Reductions*, January 2025 [1]_; NERC LLTF white paper [2]_).
   :func:`apply_load_loss` drops a chosen share of the facility's servers at a
   chosen time for a chosen duration and brings them back at once or with a
   facility ramp limit [MW/min] and a per-rack stagger [s].
2. **Ride-through.**  ERCOT's rules for Large Electronic Loads (NPRR 1308 with
   NOGRR 282, new Nodal Operating Guide sections 2.6.4 frequency ride-through and
   2.14 voltage ride-through [3]_) require such loads to stay connected through
   defined voltage and frequency excursions; NERC's Level 3 alert of May 2026 asks
   for models of this behaviour (PERC1 as the minimum load model) [4]_.  Here a
   :class:`RideThroughEnvelope` is a table of threshold vs. duration (the form of
   PRC-024 and of ERCOT's tables) and a :class:`RackRideThrough` is a documented
   threshold model of each rack's UPS transfer; :func:`ride_through` decides per
   rack, for given sags at the PCC, whether it rides through or transfers, and
   whether the envelope required it to ride through.  **ERCOT's numeric LEL table
   is a user parameter**: its figures were not available to this project, so no
   ERCOT numbers are shipped.  :data:`PRC024_LOW_VOLTAGE` (NERC PRC-024-2's
   low-voltage no-trip boundary for *generators*) is shipped as a clearly labelled
   example of the format only.
3. **Worst-case simultaneous loss** (:func:`worst_case_loss`): the largest load the
   facility can drop at once (its 250 ms peak times the susceptible share) against a
   user limit, e.g. the 2,600 MW ERCOT has cited as the most load the ERCOT grid can
   lose under certain conditions without exceeding its post-contingency frequency
   limit (:data:`ERCOT_LOAD_LOSS_LIMIT_MW`, [5]_), or a feeder's own limit.

Conventions: per-rack loads are the rack's share of the PCC load on the generator's
250 ms grid, ``P_r(t) = PUE * rack_it_kw(t) / 1000`` [MW] (with
``overhead_follows=False``, only the rack's IT power ``rack_it_kw / 1000``: the
cooling and conversion overhead stays on the grid).  A rack on UPS draws nothing
from the grid.  The load series is quasi-static: a transfer at a time inside a
250 ms sample takes effect from that sample (the grid resolution of the load).

References
----------
.. [1] NERC, *Incident Review: Considering Simultaneous Voltage-Sensitive Load
   Reductions*, January 8, 2025 (the July 10, 2024 event, about 1,500 MW).
.. [2] NERC Large Loads Task Force, *Characteristics and Risks of Emerging Large
   Loads*, white paper, July 2025.
.. [3] ERCOT, NPRR 1308 and NOGRR 282, *Voltage and Frequency Ride-Through
   Requirements for Large Electronic Loads* (Large Load: >= 75 MW at one site; Large
   Electronic Load: >= 50 % power-electronic computational load), 2025.
.. [4] NERC, *Level 3 Alert -- Essential Actions to Industry: Computational Load
   Modeling, Studies, Instrumentation, Commissioning, Operations, Protection, and
   Control*, May 4, 2026.
.. [5] ERCOT studies cited at ERCOT's Technical Advisory Committee, October 22,
   2025 (RTO Insider, "ERCOT stakeholders talk large loads"): at most 2,600 MW of
   load loss without exceeding the post-contingency frequency limit.
.. [6] NERC Reliability Standard PRC-024-2, Attachment 2 (voltage no-trip boundary).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from gridlink.interconnection._profile import InterconnectionError

__all__ = [
    "ERCOT_LOAD_LOSS_LIMIT_MW",
    "PRC024_LOW_VOLTAGE",
    "RideThroughEnvelope",
    "RackRideThrough",
    "Sag",
    "LoadLossEvent",
    "EventResult",
    "RideThroughResult",
    "rack_pcc_mw",
    "apply_load_loss",
    "apply_transfers",
    "ride_through",
    "worst_case_loss",
]

logger = logging.getLogger(__name__)

#: ERCOT's cited planning figure for the largest load loss the grid can absorb [MW] [5].
ERCOT_LOAD_LOSS_LIMIT_MW: float = 2600.0


# --------------------------------------------------------------------------- envelope


@dataclass(frozen=True)
class RideThroughEnvelope:
    """A ride-through envelope: threshold vs. the time the load must stay connected.

    Row ``k`` reads: "while the quantity is beyond ``threshold[k]`` (below it for
    ``side="low"``, above it for ``side="high"``) -- and not beyond the next tighter
    threshold -- the load must stay connected for ``duration_s[k]`` seconds".  Beyond
    the tightest threshold the first row applies; inside the last threshold the load
    operates continuously (required time infinite).  For a rectangular excursion at
    level ``x`` lasting ``D`` seconds the load **must ride through** iff
    ``D <= required_s(x)`` (boundaries inclusive: ``x`` equal to a threshold belongs
    to the next, looser band; ``D`` equal to the required time must be ridden).

    Parameters
    ----------
    threshold : sequence of float, shape (K,)
        For ``side="low"`` strictly increasing (e.g. 0.45, 0.65, 0.75, 0.90 pu); for
        ``side="high"`` strictly decreasing (e.g. 1.20, 1.175, 1.15, 1.10 pu).
    duration_s : sequence of float, shape (K,)
        Required ride-through [s], non-decreasing row by row (a milder excursion is
        tolerated at least as long), each ``>= 0``.
    side : {"low", "high"}
        Under- or over-excursions.
    quantity : str
        ``"voltage_pu"`` or ``"frequency_hz"`` (labels and messages only).
    source : str
        Where the table comes from.

    Raises
    ------
    InterconnectionError
        Empty table, unequal lengths, non-finite values, a non-monotone
        ``threshold`` or ``duration_s`` (the message gives the row), negative times.
    """

    threshold: tuple[float, ...]
    duration_s: tuple[float, ...]
    side: Literal["low", "high"] = "low"
    quantity: str = "voltage_pu"
    source: str = "user"

    def __post_init__(self) -> None:
        thr = np.asarray(self.threshold, dtype=float)
        dur = np.asarray(self.duration_s, dtype=float)
        object.__setattr__(self, "threshold", tuple(float(x) for x in thr))
        object.__setattr__(self, "duration_s", tuple(float(x) for x in dur))
        if self.side not in ("low", "high"):
            raise InterconnectionError(
                f"envelope.side: expected 'low' or 'high', got {self.side!r}"
            )
        if thr.ndim != 1 or thr.size == 0 or thr.shape != dur.shape:
            raise InterconnectionError(
                f"envelope: threshold ({thr.size}) and duration_s ({dur.size}) must be "
                "non-empty lists of equal length"
            )
        if not (np.isfinite(thr).all() and np.isfinite(dur).all()):
            raise InterconnectionError("envelope: threshold and duration_s must be finite")
        if (dur < 0).any():
            k = int(np.flatnonzero(dur < 0)[0])
            raise InterconnectionError(f"envelope.duration_s[{k}]: {dur[k]} s is negative")
        d_thr = np.diff(thr)
        bad = np.flatnonzero(d_thr <= 0) if self.side == "low" else np.flatnonzero(d_thr >= 0)
        if bad.size:
            k = int(bad[0]) + 1
            order = "increasing" if self.side == "low" else "decreasing"
            raise InterconnectionError(
                f"envelope.threshold: not monotone at row {k} ({thr[k - 1]:g} -> {thr[k]:g}); "
                f"a {self.side}-side envelope lists thresholds strictly {order}, tightest first"
            )
        bad = np.flatnonzero(np.diff(dur) < 0)
        if bad.size:
            k = int(bad[0]) + 1
            raise InterconnectionError(
                f"envelope.duration_s: not monotone at row {k} ({dur[k - 1]:g} s -> {dur[k]:g} s); "
                "a milder excursion must be ridden through at least as long, so durations "
                "must not decrease row by row"
            )

    def _beyond(self, x: float, thr: float) -> bool:
        return x < thr if self.side == "low" else x > thr

    def required_s(self, x: float) -> float:
        """Required ride-through time [s] at level ``x`` (``inf``: continuous operation)."""
        for thr, dur in zip(self.threshold, self.duration_s, strict=True):
            if self._beyond(x, thr):
                return dur
        return math.inf

    def must_ride_through(self, x: float, duration_s: float) -> bool:
        """Whether a rectangular excursion at ``x`` for ``duration_s`` lies in the
        ride-through region (``duration_s <= required_s(x)``)."""
        return bool(duration_s <= self.required_s(x))

    def to_frame(self) -> pd.DataFrame:
        """The table with unit-carrying column names."""
        col = self.quantity
        return pd.DataFrame({f"{col}_threshold": self.threshold, "duration_s": self.duration_s})

    @classmethod
    def from_csv(cls, path: Any, *, side: Literal["low", "high"] = "low") -> RideThroughEnvelope:
        """Read an envelope CSV with columns ``voltage_pu`` (or ``frequency_hz``) and
        ``duration_s``, one row per band, tightest first.

        Raises
        ------
        InterconnectionError
            Missing file or columns, or as the constructor.
        """
        try:
            table = pd.read_csv(path)
        except (OSError, ValueError) as exc:
            raise InterconnectionError(f"envelope: cannot read {path}: {exc}") from exc
        for quantity in ("voltage_pu", "frequency_hz"):
            if quantity in table.columns:
                break
        else:
            raise InterconnectionError(
                f"envelope: {path} needs a 'voltage_pu' or 'frequency_hz' column and a "
                f"'duration_s' column; found {list(table.columns)}"
            )
        if "duration_s" not in table.columns:
            raise InterconnectionError(f"envelope: {path} has no 'duration_s' column")
        return cls(
            tuple(table[quantity]), tuple(table["duration_s"]), side=side, quantity=quantity,
            source=str(path),
        )  # fmt: skip


#: NERC PRC-024-2 Attachment 2 low-voltage no-trip boundary (a *generator* standard),
#: shipped as an EXAMPLE of the envelope format only -- not ERCOT's LEL requirement,
#: which is a user parameter: below 0.45 pu 0.15 s, below 0.65 pu 0.30 s, below
#: 0.75 pu 2 s, below 0.90 pu 3 s, continuous at or above 0.90 pu.
PRC024_LOW_VOLTAGE = RideThroughEnvelope(
    (0.45, 0.65, 0.75, 0.90),
    (0.15, 0.30, 2.00, 3.00),
    side="low",
    quantity="voltage_pu",
    source="example format: NERC PRC-024-2 Attachment 2 low-voltage no-trip boundary "
    "(generators); replace with the utility's / ERCOT's LEL table",
)


# --------------------------------------------------------------------------- rack model


@dataclass(frozen=True)
class Sag:
    """A rectangular voltage sag at the PCC.

    Parameters
    ----------
    start : str or pandas.Timestamp
        Start of the sag (tz-aware; UTC used).
    residual_pu : float
        Voltage during the sag [pu], ``>= 0``.
    duration_s : float
        Length of the sag [s], ``> 0``.
    """

    start: Any
    residual_pu: float
    duration_s: float

    def __post_init__(self) -> None:
        ts = _timestamp(self.start, "sag.start")
        object.__setattr__(self, "start", ts)
        if not (np.isfinite(self.residual_pu) and self.residual_pu >= 0):
            raise InterconnectionError(
                f"sag.residual_pu: expected >= 0 pu, got {self.residual_pu!r}"
            )
        if not (np.isfinite(self.duration_s) and self.duration_s > 0):
            raise InterconnectionError(f"sag.duration_s: expected > 0 s, got {self.duration_s!r}")

    @property
    def end(self) -> pd.Timestamp:
        """End of the sag (recovery)."""
        return self.start + pd.Timedelta(seconds=float(self.duration_s))


@dataclass(frozen=True)
class RackRideThrough:
    """Threshold model of each rack's transfer to UPS (all parameters exposed).

    A rack transfers to its UPS (draws nothing from the grid) when

    * a sag's residual voltage is **below** ``v_transfer_pu`` and the sag lasts
      **longer** than ``t_transfer_s`` -- it transfers ``t_transfer_s`` after the sag
      starts (the UPS's input-voltage window and its detection/transfer delay); or
    * ``dip_count`` sags below ``v_transfer_pu`` start within ``dip_window_s``
      seconds (a repeated-dip lockout like the one behind the 2024 Virginia event,
      where repeated reclosing produced several dips within about 80 s); it
      transfers at the start of the counting dip.  ``dip_count=None`` disables it.

    It returns to the grid ``return_delay_s`` after the sag that made it transfer
    ends, plus ``stagger_s`` times its position among the transferred racks
    (row-major), and the facility's total return is limited to
    ``return_ramp_mw_per_min`` when given.

    Each parameter is a scalar (all racks alike) or a sequence of one value per
    rack.  No default figures are taken from ERCOT or NERC: every value is a user
    parameter (the defaults are placeholders: transfer below 0.70 pu after 20 ms,
    return after 60 s).

    Raises
    ------
    InterconnectionError
        Non-finite or negative values, per-rack arrays of the wrong length (checked
        by :meth:`per_rack`).
    """

    v_transfer_pu: float | Sequence[float] = 0.70
    t_transfer_s: float | Sequence[float] = 0.020
    return_delay_s: float | Sequence[float] = 60.0
    stagger_s: float = 0.0
    return_ramp_mw_per_min: float | None = None
    dip_count: int | None = None
    dip_window_s: float = 60.0

    def __post_init__(self) -> None:
        for name in ("v_transfer_pu", "t_transfer_s", "return_delay_s"):
            arr = np.atleast_1d(np.asarray(getattr(self, name), dtype=float))
            if not np.isfinite(arr).all() or (arr < 0).any():
                raise InterconnectionError(f"ride_through.{name}: expected finite values >= 0")
        if not (np.isfinite(self.stagger_s) and self.stagger_s >= 0):
            raise InterconnectionError(
                f"ride_through.stagger_s: expected >= 0 s, got {self.stagger_s!r}"
            )
        _check_ramp(self.return_ramp_mw_per_min, "ride_through.return_ramp_mw_per_min")
        if self.dip_count is not None and (
            not isinstance(self.dip_count, int) or self.dip_count < 1
        ):
            raise InterconnectionError(
                f"ride_through.dip_count: expected an integer >= 1 or None, got {self.dip_count!r}"
            )
        if not (np.isfinite(self.dip_window_s) and self.dip_window_s > 0):
            raise InterconnectionError(
                f"ride_through.dip_window_s: expected > 0 s, got {self.dip_window_s!r}"
            )

    def per_rack(self, n_racks: int) -> pd.DataFrame:
        """The parameters as a table, one row per rack (shape (n_racks, 3)).

        Raises
        ------
        InterconnectionError
            A per-rack sequence whose length is not ``n_racks``.
        """
        cols = {}
        for name in ("v_transfer_pu", "t_transfer_s", "return_delay_s"):
            arr = np.atleast_1d(np.asarray(getattr(self, name), dtype=float))
            if arr.size == 1:
                arr = np.full(n_racks, float(arr[0]))
            elif arr.size != n_racks:
                raise InterconnectionError(
                    f"ride_through.{name}: {arr.size} values for {n_racks} racks; give one "
                    "value (all racks) or one per rack"
                )
            cols[name] = arr
        return pd.DataFrame(cols, index=pd.RangeIndex(n_racks, name="rack"))

    def compliant(self, envelope: RideThroughEnvelope, n_racks: int) -> np.ndarray:
        """Whether each rack's single-sag setting respects a low-voltage envelope.

        A rack is compliant iff it never transfers on a sag the envelope requires it
        to ride through: for every band of the envelope that holds voltages below
        ``v_transfer_pu``, ``t_transfer_s >= required duration`` of that band, and
        ``v_transfer_pu`` is not above the continuous-operation level.  (The
        repeated-dip lockout is not part of this check; it is reported per sag.)

        Returns
        -------
        numpy.ndarray of bool, shape (n_racks,)

        Raises
        ------
        InterconnectionError
            If the envelope is not a low-side voltage envelope.
        """
        if envelope.side != "low" or envelope.quantity != "voltage_pu":
            raise InterconnectionError(
                "envelope: the rack model checks a low-side voltage_pu envelope; got "
                f"side={envelope.side!r}, quantity={envelope.quantity!r}"
            )
        table = self.per_rack(n_racks)
        lower = (-math.inf, *envelope.threshold[:-1])
        ok = np.ones(n_racks, dtype=bool)
        for lo, dur in zip(lower, envelope.duration_s, strict=True):
            sees = table["v_transfer_pu"].to_numpy() > lo
            ok &= ~sees | (table["t_transfer_s"].to_numpy() >= dur)
        ok &= table["v_transfer_pu"].to_numpy() <= envelope.threshold[-1]
        return ok


def _check_ramp(value: float | None, name: str) -> None:
    if value is None:
        return
    if not (isinstance(value, int | float) and np.isfinite(value) and value > 0):
        raise InterconnectionError(
            f"{name}: expected a positive ramp limit [MW/min] or None, got {value!r}"
        )


def _fmt_time(ts: pd.Timestamp) -> str:
    text = ts.strftime("%Y-%m-%d %H:%M:%S.%f").rstrip("0").rstrip(".")
    return f"{text} UTC"


def _timestamp(value: Any, name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InterconnectionError(
            f"{name}: cannot read {value!r} as a time; use e.g. '2024-05-16T12:00:00Z'"
        ) from exc
    if ts.tzinfo is None:
        raise InterconnectionError(
            f"{name}: {value!r} has no time zone; give UTC explicitly, e.g. '...T12:00:00Z'"
        )
    return ts.tz_convert("UTC")


# --------------------------------------------------------------------------- load series


def rack_pcc_mw(result: Any, *, overhead_follows: bool = True) -> pd.DataFrame:
    """Each rack's share of the PCC load at 250 ms from a facility result.

    Parameters
    ----------
    result : traces.facility.FacilityResult
        A facility run (``rack_it_kw`` (T, n_racks) [kW], ``spec.pue``).
    overhead_follows : bool, default True
        True: ``P_r = PUE * rack_it_kw / 1000`` (the rack's cooling and conversion
        overhead goes with it, so the racks sum to the PCC load, Eq 11); False:
        ``rack_it_kw / 1000`` (IT only).

    Returns
    -------
    pandas.DataFrame, shape (T, n_racks)
        [MW] on the 250 ms UTC index; columns ``"r<row>k<rack>"``;
        ``attrs["unit"] == "MW"``.
    """
    racks = result.rack_it_kw
    factor = (result.spec.pue if overhead_follows else 1.0) / 1e3
    out = pd.DataFrame(
        racks.to_numpy(np.float64) * factor,
        index=racks.index,
        columns=[f"r{r}k{k}" for r, k in racks.columns],
    )
    out.attrs["unit"] = "MW"
    out.attrs["servers_per_rack"] = int(result.spec.servers_per_rack)
    out.attrs["pue"] = float(result.spec.pue)
    out.attrs["overhead_follows"] = bool(overhead_follows)
    return out


def _check_racks(rack_mw: Any) -> pd.DataFrame:
    if not isinstance(rack_mw, pd.DataFrame):
        raise InterconnectionError(
            f"rack_mw: expected a DataFrame (T, n_racks) in MW, got {type(rack_mw).__name__}; "
            "build it with rack_pcc_mw(facility_result)"
        )
    if str(rack_mw.attrs.get("unit", "")) != "MW":
        raise InterconnectionError("rack_mw: declare the unit with rack_mw.attrs['unit'] = 'MW'")
    if not isinstance(rack_mw.index, pd.DatetimeIndex) or rack_mw.index.tz is None:
        raise InterconnectionError("rack_mw: needs a tz-aware (UTC) DatetimeIndex")
    if rack_mw.shape[0] < 2 or rack_mw.shape[1] < 1:
        raise InterconnectionError(f"rack_mw: shape {rack_mw.shape}; need >= 2 steps and >= 1 rack")
    if not np.isfinite(rack_mw.to_numpy()).all():
        raise InterconnectionError("rack_mw: non-finite values; nothing is filled here")
    return rack_mw


@dataclass(frozen=True)
class EventResult:
    """A PCC load series with racks transferred to UPS and back.

    Attributes
    ----------
    p_mw : pandas.Series, shape (T,)
        PCC load with the event [MW] (``attrs["unit"] == "MW"``).
    p_base_mw : pandas.Series, shape (T,)
        The same load without the event [MW].
    lost_mw : pandas.Series, shape (T,)
        ``p_base_mw - p_mw`` [MW] (load on UPS and not yet returned).
    racks : pandas.DataFrame, shape (n_racks, 5)
        Per rack: ``fraction`` lost (0..1), ``drop_time`` and ``return_time`` (UTC,
        NaT if unaffected), ``drop_mw`` (the rack's lost load at its drop sample [MW]).
    step_mw : float
        Largest one-sample increase of the lost load [MW] (the event's step).
    return_step_mw : float
        Largest one-sample decrease of the lost load [MW] (the return's step).
    max_lost_mw : float
        Largest lost load [MW].
    energy_not_served_mwh : float
        ``sum(lost_mw) * dt`` [MWh] (carried by the UPS and backup supply).
    drop_time, restored_time : pandas.Timestamp
        First drop; first sample at which nothing is lost any more (NaT if the
        series ends first).
    description : str
    """

    p_mw: pd.Series
    p_base_mw: pd.Series
    lost_mw: pd.Series
    racks: pd.DataFrame
    step_mw: float
    return_step_mw: float
    max_lost_mw: float
    energy_not_served_mwh: float
    drop_time: pd.Timestamp
    restored_time: pd.Timestamp
    description: str = ""

    def summary(self) -> dict[str, Any]:
        """Plain numbers with units in the keys (for JSON)."""
        return {
            "description": self.description,
            "step_mw": self.step_mw,
            "return_step_mw": self.return_step_mw,
            "max_lost_mw": self.max_lost_mw,
            "energy_not_served_mwh": self.energy_not_served_mwh,
            "drop_time_utc": str(self.drop_time),
            "restored_time_utc": str(self.restored_time),
            "racks_affected": int((self.racks["fraction"] > 0).sum()),
        }


def apply_transfers(
    rack_mw: pd.DataFrame,
    fraction: np.ndarray,
    drop_time: Sequence[Any],
    return_time: Sequence[Any],
    *,
    return_ramp_mw_per_min: float | None = None,
    description: str = "",
) -> EventResult:
    """Remove each rack's load (a fraction of it) from its drop to its return time.

    The general form behind :func:`apply_load_loss` and :func:`ride_through`.  With
    ``U(t) = sum_r f_r P_r(t) [t >= drop_r]`` the load ever dropped and
    ``E(t) = sum_r f_r P_r(t) [t >= return_r]`` the load allowed back, the load
    restored is ``R(t) = E(t)`` (at once) or ``min(E(t), rho / 60 * (t - t0))`` with
    ``rho`` the facility's ramp limit [MW/min] and ``t0`` the first return time, and
    the PCC load is ``P(t) - U(t) + R(t)``.

    Parameters
    ----------
    rack_mw : pandas.DataFrame, shape (T, n_racks)
        Per-rack PCC load [MW] (:func:`rack_pcc_mw`).
    fraction : numpy.ndarray, shape (n_racks,)
        Share of each rack's load that transfers, in ``[0, 1]``.
    drop_time, return_time : sequence of timestamps, length n_racks
        UTC times (NaT for racks that stay).  A time inside a sample takes effect
        from that sample; ``return_time >= drop_time``.
    return_ramp_mw_per_min : float, optional
        Facility ramp limit of the return [MW/min]; None returns at once.
    description : str
        Label of the event.

    Returns
    -------
    EventResult

    Raises
    ------
    InterconnectionError
        Bad ``rack_mw``, fractions outside [0, 1], times outside the series or
        returns before drops, a non-positive ramp limit.
    """
    rack_mw = _check_racks(rack_mw)
    n_t, n_r = rack_mw.shape
    f = np.asarray(fraction, dtype=float)
    if f.shape != (n_r,) or not np.isfinite(f).all() or (f < 0).any() or (f > 1).any():
        raise InterconnectionError(f"fraction: expected {n_r} values in [0, 1]")
    _check_ramp(return_ramp_mw_per_min, "return_ramp_mw_per_min")
    index = rack_mw.index.tz_convert("UTC")
    step_ns = int((index[1] - index[0]).value)
    t0_ns = int(index[0].value)
    end_ns = int(index[-1].value) + step_ns

    def pos(value: Any, name: str) -> int:
        """Sample index from which a time takes effect (T if never)."""
        if value is None or pd.isna(value):
            return n_t
        ts = _timestamp(value, name)
        ns = int(ts.value)
        if not t0_ns <= ns <= end_ns:
            raise InterconnectionError(
                f"{name}: {ts} is outside the load series {index[0]} .. "
                f"{index[-1] + pd.Timedelta(step_ns, unit='ns')}; lengthen the series or move the event"
            )
        return min(n_t, (ns - t0_ns) // step_ns)

    if len(drop_time) != n_r or len(return_time) != n_r:
        raise InterconnectionError(f"drop_time, return_time: expected {n_r} entries each")
    k_drop = np.array([pos(t, f"drop_time[{i}]") for i, t in enumerate(drop_time)])
    k_ret = np.array([pos(t, f"return_time[{i}]") for i, t in enumerate(return_time)])
    if (k_ret < k_drop).any():
        i = int(np.flatnonzero(k_ret < k_drop)[0])
        raise InterconnectionError(f"return_time[{i}]: before drop_time[{i}]")
    p = rack_mw.to_numpy(np.float64)
    base = p.sum(axis=1)
    k = np.arange(n_t)[:, None]
    affected = f > 0
    dropped = (p * f) * (k >= k_drop) * affected
    allowed = (p * f) * (k >= k_ret) * affected
    u = dropped.sum(axis=1)
    e = allowed.sum(axis=1)
    if return_ramp_mw_per_min is None or not affected.any() or k_ret[affected].min() >= n_t:
        r = e
    else:
        k0 = int(k_ret[affected].min())
        cap = return_ramp_mw_per_min / 60.0 * (np.arange(n_t) - k0) * step_ns / 1e9
        r = np.minimum(e, np.maximum(cap, 0.0))
    lost = u - r
    dt_h = step_ns / 3.6e12
    d_lost = np.diff(np.concatenate(([0.0], lost)))
    first = int(k_drop[affected].min()) if affected.any() else n_t
    after = np.flatnonzero((np.arange(n_t) > first) & (lost <= 1e-12))
    restored = index[int(after[0])] if first < n_t and after.size else pd.NaT
    racks = pd.DataFrame(
        {
            "fraction": f,
            "drop_time": [
                index[i] if (i < n_t and a) else pd.NaT
                for i, a in zip(k_drop, affected, strict=True)
            ],
            "return_time": [
                index[i] if (i < n_t and a) else pd.NaT
                for i, a in zip(k_ret, affected, strict=True)
            ],
            "drop_mw": [
                float(p[i, j] * f[j]) if (i < n_t and affected[j]) else 0.0
                for j, i in enumerate(k_drop)
            ],
        },
        index=pd.Index(rack_mw.columns, name="rack"),
    )
    out = pd.Series(base - lost, index=index, name="p_mw")
    out.attrs["unit"] = "MW"
    base_s = pd.Series(base, index=index, name="p_mw")
    base_s.attrs["unit"] = "MW"
    lost_s = pd.Series(lost, index=index, name="lost_mw")
    lost_s.attrs["unit"] = "MW"
    return EventResult(
        p_mw=out,
        p_base_mw=base_s,
        lost_mw=lost_s,
        racks=racks,
        step_mw=float(max(d_lost.max(), 0.0)),
        return_step_mw=float(max(-d_lost.min(), 0.0)),
        max_lost_mw=float(lost.max()),
        energy_not_served_mwh=float(lost.sum() * dt_h),
        drop_time=index[first] if first < n_t else pd.NaT,
        restored_time=restored,
        description=description,
    )


@dataclass(frozen=True)
class LoadLossEvent:
    """A load-loss event: a share of the servers transfers to UPS and returns.

    Parameters
    ----------
    start : str or pandas.Timestamp
        When the servers drop (tz-aware).
    share : float
        Share of the facility's servers that drop, in ``[0, 1]`` (1 = all).  With
        ``S`` servers per rack, ``round(share * n_racks * S)`` servers drop: whole
        racks in row-major order (or a seeded random order), and the remaining
        servers as that fraction of the next rack's load.
    duration_s : float
        Time on UPS before the return starts [s], ``>= 0``.
    return_ramp_mw_per_min : float, optional
        Facility ramp limit of the return [MW/min]; None: at once.
    stagger_s : float
        Delay between consecutive racks' returns [s] (rack ``i`` of the dropped racks
        returns ``i * stagger_s`` after the first).
    order : {"row-major", "random"}
        Which racks drop first.
    seed : int or None
        Seed of the random order.

    Raises
    ------
    InterconnectionError
        ``share`` outside [0, 1], negative durations, a bad ramp or order.
    """

    start: Any
    share: float = 1.0
    duration_s: float = 60.0
    return_ramp_mw_per_min: float | None = None
    stagger_s: float = 0.0
    order: Literal["row-major", "random"] = "row-major"
    seed: int | None = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _timestamp(self.start, "event.start"))
        if not (isinstance(self.share, int | float) and 0.0 <= float(self.share) <= 1.0):
            raise InterconnectionError(
                f"event.share: {self.share!r} is outside [0, 1]; the share of servers that "
                "drop is a fraction (1 = all)"
            )
        for name in ("duration_s", "stagger_s"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and np.isfinite(v) and v >= 0):
                raise InterconnectionError(
                    f"event.{name}: expected a number of seconds >= 0, got {v!r}"
                )
        _check_ramp(self.return_ramp_mw_per_min, "event.return_ramp_mw_per_min")
        if self.order not in ("row-major", "random"):
            raise InterconnectionError(
                f"event.order: expected 'row-major' or 'random', got {self.order!r}"
            )

    def describe(self) -> str:
        """One line: what drops, when, for how long, how it returns."""
        ret = (
            "at once" if self.return_ramp_mw_per_min is None
            else f"ramp-limited to {self.return_ramp_mw_per_min:g} MW/min"
        )  # fmt: skip
        stag = f", {self.stagger_s:g} s stagger per rack" if self.stagger_s else ""
        return (
            f"{self.share:.0%} of servers to UPS at {_fmt_time(self.start)} for "
            f"{self.duration_s:g} s, "
            f"return {ret}{stag}"
        )


def apply_load_loss(rack_mw: pd.DataFrame, event: LoadLossEvent) -> EventResult:
    """Apply a load-loss event to a facility's per-rack load.

    Parameters
    ----------
    rack_mw : pandas.DataFrame, shape (T, n_racks)
        Per-rack PCC load [MW] on the 250 ms grid (:func:`rack_pcc_mw`);
        ``attrs["servers_per_rack"]`` (default 1) sets the server granularity.
    event : LoadLossEvent

    Returns
    -------
    EventResult
        The PCC series with the event, the step [MW] and the energy carried by the
        UPS [MWh].

    Raises
    ------
    InterconnectionError
        As :func:`apply_transfers`; an event outside the series.
    """
    rack_mw = _check_racks(rack_mw)
    n_r = rack_mw.shape[1]
    end = rack_mw.index[-1] + (rack_mw.index[1] - rack_mw.index[0])
    if not rack_mw.index[0] <= event.start < end:
        raise InterconnectionError(
            f"event.start: {event.start} is outside the load series {rack_mw.index[0]} .. {end}; "
            "move the event into the simulated horizon"
        )
    spr = int(rack_mw.attrs.get("servers_per_rack", 1))
    n_servers = round(event.share * n_r * spr)
    if not math.isclose(n_servers, event.share * n_r * spr):
        logger.info(
            "event.share %.4g of %d servers rounds to %d servers", event.share, n_r * spr, n_servers
        )
    full, part = divmod(n_servers, spr)
    if event.order == "random":
        order = np.random.default_rng(event.seed).permutation(n_r)
    else:
        order = np.arange(n_r)
    frac = np.zeros(n_r)
    frac[order[:full]] = 1.0
    if part:
        frac[order[full]] = part / spr
    drop = [pd.NaT] * n_r
    ret = [pd.NaT] * n_r
    back = event.start + pd.Timedelta(seconds=float(event.duration_s))
    for i, r in enumerate(order[: full + (1 if part else 0)]):
        drop[r] = event.start
        ret[r] = back + pd.Timedelta(seconds=float(i * event.stagger_s))
    ret = [t if (pd.isna(t) or t <= end) else pd.NaT for t in ret]
    return apply_transfers(
        rack_mw, frac, drop, ret, return_ramp_mw_per_min=event.return_ramp_mw_per_min,
        description=event.describe(),
    )  # fmt: skip


# --------------------------------------------------------------------------- ride-through


@dataclass(frozen=True)
class RideThroughResult:
    """Per-rack ride-through decisions for a sequence of sags, and the load.

    Attributes
    ----------
    racks : pandas.DataFrame, shape (n_racks, 10)
        Per rack: the parameters (``v_transfer_pu``, ``t_transfer_s``,
        ``return_delay_s``), ``compliant`` (setting vs envelope), ``rides_through``
        (bool), ``cause`` (``""``, ``"sag"`` or ``"dip count"``), ``sag`` (index of the
        sag that made it transfer, -1 if none), ``transfer_time`` / ``return_time``
        (UTC or NaT) and ``envelope_violation`` (it transferred on a sag that the
        envelope required it to ride through).
    sags : pandas.DataFrame, shape (n_sags, 5)
        ``start``, ``residual_pu``, ``duration_s``, ``required_s`` (envelope) and
        ``must_ride_through``.
    event : EventResult
        The PCC load with the transferred racks.
    envelope : RideThroughEnvelope
    """

    racks: pd.DataFrame
    sags: pd.DataFrame
    event: EventResult
    envelope: RideThroughEnvelope

    @property
    def n_transferred(self) -> int:
        """Racks that transferred to UPS."""
        return int((~self.racks["rides_through"]).sum())


def ride_through(
    rack_mw: pd.DataFrame,
    sags: Sag | Sequence[Sag],
    settings: RackRideThrough | None = None,
    envelope: RideThroughEnvelope = PRC024_LOW_VOLTAGE,
) -> RideThroughResult:
    """Decide per rack whether it rides through PCC sags, and build the load series.

    Parameters
    ----------
    rack_mw : pandas.DataFrame, shape (T, n_racks)
        Per-rack PCC load [MW] (:func:`rack_pcc_mw`).
    sags : Sag or sequence of Sag
        Rectangular sags at the PCC (e.g. from a dynamic study or a fault record),
        in time order.
    settings : RackRideThrough, optional
        The racks' transfer model (default :class:`RackRideThrough()`).
    envelope : RideThroughEnvelope, default :data:`PRC024_LOW_VOLTAGE`
        Low-side voltage envelope the decisions are checked against (the default is
        a format example, not ERCOT's LEL table).

    Returns
    -------
    RideThroughResult

    Raises
    ------
    InterconnectionError
        Bad inputs (as :class:`RackRideThrough`, :func:`apply_transfers`), sags not
        in time order, or an envelope that is not low-side voltage.
    """
    rack_mw = _check_racks(rack_mw)
    settings = RackRideThrough() if settings is None else settings
    sag_list = [sags] if isinstance(sags, Sag) else list(sags)
    if not sag_list:
        raise InterconnectionError("sags: give at least one Sag")
    starts = [s.start for s in sag_list]
    if any(b < a for a, b in zip(starts, starts[1:], strict=False)):
        raise InterconnectionError("sags: must be in time order of their start")
    n_r = rack_mw.shape[1]
    table = settings.per_rack(n_r)
    ok = settings.compliant(envelope, n_r)
    v_tr = table["v_transfer_pu"].to_numpy()
    t_tr = table["t_transfer_s"].to_numpy()
    must = [envelope.must_ride_through(s.residual_pu, s.duration_s) for s in sag_list]
    transfer: list[Any] = [pd.NaT] * n_r
    which = np.full(n_r, -1)
    cause = [""] * n_r
    for r in range(n_r):
        below: list[pd.Timestamp] = []
        for j, s in enumerate(sag_list):
            if not s.residual_pu < v_tr[r]:
                continue
            below.append(s.start)
            if s.duration_s > t_tr[r]:
                transfer[r] = s.start + pd.Timedelta(seconds=float(t_tr[r]))
                which[r], cause[r] = j, "sag"
                break
            if settings.dip_count is not None:
                recent = [
                    t for t in below if (s.start - t).total_seconds() <= settings.dip_window_s
                ]
                if len(recent) >= settings.dip_count:
                    transfer[r] = s.start
                    which[r], cause[r] = j, "dip count"
                    break
    moved = which >= 0
    ret: list[Any] = [pd.NaT] * n_r
    end = rack_mw.index[-1] + (rack_mw.index[1] - rack_mw.index[0])
    for i, r in enumerate(np.flatnonzero(moved)):
        back = sag_list[which[r]].end + pd.Timedelta(
            seconds=float(table["return_delay_s"].iloc[r] + i * settings.stagger_s)
        )
        ret[r] = back if back <= end else pd.NaT
    event = apply_transfers(
        rack_mw, moved.astype(float), transfer, ret,
        return_ramp_mw_per_min=settings.return_ramp_mw_per_min,
        description=f"ride-through of {len(sag_list)} sag(s): {int(moved.sum())} of {n_r} racks transfer to UPS",
    )  # fmt: skip
    viol = np.array([bool(moved[r] and must[which[r]]) for r in range(n_r)])
    racks = table.copy()
    racks.index = pd.Index(rack_mw.columns, name="rack")
    racks["compliant"] = ok
    racks["rides_through"] = ~moved
    racks["cause"] = cause
    racks["sag"] = which
    racks["transfer_time"] = pd.to_datetime(pd.Series(transfer, index=racks.index), utc=True)
    racks["return_time"] = pd.to_datetime(pd.Series(ret, index=racks.index), utc=True)
    racks["envelope_violation"] = viol
    sag_table = pd.DataFrame(
        {
            "start": pd.to_datetime(starts, utc=True),
            "residual_pu": [s.residual_pu for s in sag_list],
            "duration_s": [s.duration_s for s in sag_list],
            "required_s": [envelope.required_s(s.residual_pu) for s in sag_list],
            "must_ride_through": must,
        }
    )
    return RideThroughResult(racks=racks, sags=sag_table, event=event, envelope=envelope)


# --------------------------------------------------------------------------- worst case


def worst_case_loss(
    p_mw: pd.Series,
    limit_mw: float = ERCOT_LOAD_LOSS_LIMIT_MW,
    *,
    susceptible_share: float = 1.0,
    limit_source: str = "ERCOT's cited 2,600 MW largest load loss (user may replace)",
) -> dict[str, Any]:
    """The largest simultaneous loss the facility can produce, against a limit.

    ``loss = susceptible_share * max(p)`` at the series' own step (use the 250 ms
    series: a loss is instantaneous), compared with ``limit_mw``.

    Parameters
    ----------
    p_mw : pandas.Series, shape (T,)
        PCC load [MW] (``attrs["unit"] == "MW"`` or a ``_mw`` name).
    limit_mw : float, default :data:`ERCOT_LOAD_LOSS_LIMIT_MW`
        The limit [MW] (a grid's largest tolerable load loss, or a feeder's own).
    susceptible_share : float, default 1
        Share of the load that can drop at once, in ``[0, 1]`` (e.g. the share of
        racks whose ride-through settings are not compliant).
    limit_source : str
        Where the limit comes from (reported).

    Returns
    -------
    dict
        ``loss_mw``, ``limit_mw``, ``exceeds`` (bool), ``margin_mw`` (limit - loss),
        ``share_of_limit``, ``facilities_to_limit`` (how many such facilities losing
        load together reach the limit, ``ceil(limit / loss)``), ``susceptible_share``,
        ``limit_source``.

    Raises
    ------
    InterconnectionError
        A non-positive limit, a share outside [0, 1], a bad series.
    """
    from gridlink.interconnection._profile import as_profile

    prof = as_profile(p_mw, name="p_mw")
    if not (isinstance(limit_mw, int | float) and np.isfinite(limit_mw) and limit_mw > 0):
        raise InterconnectionError(f"limit_mw: expected a positive power [MW], got {limit_mw!r}")
    if not (isinstance(susceptible_share, int | float) and 0 <= susceptible_share <= 1):
        raise InterconnectionError(f"susceptible_share: {susceptible_share!r} is outside [0, 1]")
    loss = float(susceptible_share) * float(prof.p_mw.max())
    return {
        "loss_mw": loss,
        "limit_mw": float(limit_mw),
        "exceeds": bool(loss > limit_mw),
        "margin_mw": float(limit_mw) - loss,
        "share_of_limit": loss / float(limit_mw),
        "facilities_to_limit": int(math.ceil(limit_mw / loss)) if loss > 0 else None,
        "susceptible_share": float(susceptible_share),
        "limit_source": limit_source,
    }
