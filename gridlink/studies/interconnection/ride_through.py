"""Ride-through of a facility's racks through voltage sags and frequency excursions at the PCC.

ERCOT's rules for Large Electronic Loads (NPRR 1308 with NOGRR 282 [3]_) require
such loads to stay connected through defined voltage and frequency excursions;
NERC's Level 3 alert of May 2026 asks for models of this behaviour (PERC1 as the
minimum load model) [4]_.  A :class:`RackRideThrough` is a documented threshold
model of each rack's UPS transfer; :func:`ride_through` decides per rack, for given
:class:`Sag` s at the PCC, whether it rides through or transfers, and whether the
envelope (:class:`~gridlink.studies.interconnection.envelope.RideThroughEnvelope`)
required it to ride through; the racks that transfer leave the load as
:func:`~gridlink.studies.interconnection.transfers.apply_transfers` describes.

References
----------
.. [3] ERCOT, NPRR 1308 and NOGRR 282, *Voltage and Frequency Ride-Through
   Requirements for Large Electronic Loads* (Large Load: >= 75 MW at one site; Large
   Electronic Load: >= 50 % power-electronic computational load), 2025.
.. [4] NERC, *Level 3 Alert -- Essential Actions to Industry: Computational Load
   Modeling, Studies, Instrumentation, Commissioning, Operations, Protection, and
   Control*, May 4, 2026.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gridlink.studies.interconnection.base import InterconnectionError, _check_ramp, _timestamp
from gridlink.studies.interconnection.envelope import PRC024_LOW_VOLTAGE, RideThroughEnvelope
from gridlink.studies.interconnection.transfers import EventResult, _check_racks, apply_transfers

__all__ = [
    "Sag",
    "RackRideThrough",
    "RideThroughResult",
    "ride_through",
    "FrequencyExcursion",
    "RackFrequencyRideThrough",
    "frequency_ride_through",
]

logger = logging.getLogger(__name__)


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
        return _per_rack_table(
            self, ("v_transfer_pu", "t_transfer_s", "return_delay_s"), n_racks, "ride_through"
        )

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
    envelope: RideThroughEnvelope | None

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
        Per-rack PCC load [MW] (:func:`~.transfers.rack_pcc_mw`).
    sags : Sag or sequence of Sag
        Rectangular sags at the PCC (e.g. from a dynamic study or a fault record),
        in time order.
    settings : RackRideThrough, optional
        The racks' transfer model (default :class:`RackRideThrough()`).
    envelope : RideThroughEnvelope, default :data:`~.envelope.PRC024_LOW_VOLTAGE`
        Low-side voltage envelope the decisions are checked against (the default is
        a format example, not ERCOT's LEL table).

    Returns
    -------
    RideThroughResult

    Raises
    ------
    InterconnectionError
        Bad inputs (as :class:`RackRideThrough`, :func:`~.transfers.apply_transfers`), sags not
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
    event, racks = _transfer(
        rack_mw, table, which, transfer, [sg.end for sg in sag_list], must, cause,
        stagger_s=settings.stagger_s, return_ramp_mw_per_min=settings.return_ramp_mw_per_min,
        description=f"ride-through of {len(sag_list)} sag(s)",
    )  # fmt: skip
    racks.insert(table.shape[1], "compliant", ok)
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


@dataclass(frozen=True)
class FrequencyExcursion:
    """A rectangular frequency excursion at the PCC.

    Parameters
    ----------
    start : str or pandas.Timestamp
        Start of the excursion (tz-aware; UTC used).
    frequency_hz : float
        Frequency during the excursion [Hz], ``> 0``.
    duration_s : float
        Length of the excursion [s], ``> 0``.
    """

    start: Any
    frequency_hz: float
    duration_s: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _timestamp(self.start, "excursion.start"))
        if not (np.isfinite(self.frequency_hz) and self.frequency_hz > 0):
            raise InterconnectionError(
                f"excursion.frequency_hz: expected > 0 Hz, got {self.frequency_hz!r}"
            )
        if not (np.isfinite(self.duration_s) and self.duration_s > 0):
            raise InterconnectionError(
                f"excursion.duration_s: expected > 0 s, got {self.duration_s!r}"
            )

    @property
    def end(self) -> pd.Timestamp:
        """End of the excursion (recovery)."""
        return self.start + pd.Timedelta(seconds=float(self.duration_s))


@dataclass(frozen=True)
class RackFrequencyRideThrough:
    """Threshold model of each rack's UPS transfer on a frequency excursion.

    A rack transfers to its UPS when the PCC frequency leaves its input window
    ``[f_min_hz, f_max_hz]`` (boundaries inside the window) for **longer** than
    ``t_transfer_s``; it transfers ``t_transfer_s`` after the excursion starts and returns
    ``return_delay_s`` after the excursion ends, plus ``stagger_s`` times its position
    among the transferred racks; the facility's return is limited to
    ``return_ramp_mw_per_min`` when given.  Each of the four per-rack parameters is a
    scalar or one value per rack.  The defaults are placeholders, not ERCOT or NERC
    figures: a +-5 % input window around 60 Hz (57-63 Hz), a 0.1 s detection delay and a
    60 s return.

    Raises
    ------
    InterconnectionError
        Non-finite or negative values, ``f_min_hz >= f_max_hz``, per-rack arrays of the
        wrong length (checked by :meth:`per_rack`).
    """

    f_min_hz: float | Sequence[float] = 57.0
    f_max_hz: float | Sequence[float] = 63.0
    t_transfer_s: float | Sequence[float] = 0.1
    return_delay_s: float | Sequence[float] = 60.0
    stagger_s: float = 0.0
    return_ramp_mw_per_min: float | None = None

    _PER_RACK = ("f_min_hz", "f_max_hz", "t_transfer_s", "return_delay_s")

    def __post_init__(self) -> None:
        for name in self._PER_RACK:
            arr = np.atleast_1d(np.asarray(getattr(self, name), dtype=float))
            if not np.isfinite(arr).all() or (arr < 0).any():
                raise InterconnectionError(
                    f"frequency_ride_through.{name}: expected finite values >= 0"
                )
        if not (np.isfinite(self.stagger_s) and self.stagger_s >= 0):
            raise InterconnectionError(
                f"frequency_ride_through.stagger_s: expected >= 0 s, got {self.stagger_s!r}"
            )
        _check_ramp(self.return_ramp_mw_per_min, "frequency_ride_through.return_ramp_mw_per_min")

    def per_rack(self, n_racks: int) -> pd.DataFrame:
        """The parameters as a table, one row per rack (shape (n_racks, 4)).

        Raises
        ------
        InterconnectionError
            A per-rack sequence whose length is not ``n_racks``, or a rack whose
            ``f_min_hz`` is not below its ``f_max_hz``.
        """
        table = _per_rack_table(self, self._PER_RACK, n_racks, "frequency_ride_through")
        bad = np.flatnonzero(table["f_min_hz"].to_numpy() >= table["f_max_hz"].to_numpy())
        if bad.size:
            raise InterconnectionError(
                f"frequency_ride_through: rack {int(bad[0])} has f_min_hz >= f_max_hz; the "
                "input window must have f_min_hz < f_max_hz"
            )
        return table


def frequency_ride_through(
    rack_mw: pd.DataFrame,
    excursions: FrequencyExcursion | Sequence[FrequencyExcursion],
    settings: RackFrequencyRideThrough | None = None,
    envelopes: Sequence[RideThroughEnvelope] = (),
    *,
    nominal_hz: float = 60.0,
) -> RideThroughResult:
    """Decide per rack whether it rides through PCC frequency excursions (ERCOT's
    frequency ride-through for Large Electronic Loads, Nodal Operating Guide 2.6.4 [3]_,
    as a user-supplied envelope), and build the load series.

    Parameters
    ----------
    rack_mw : pandas.DataFrame, shape (T, n_racks)
        Per-rack PCC load [MW].
    excursions : FrequencyExcursion or sequence of FrequencyExcursion
        In time order of their start.
    settings : RackFrequencyRideThrough, optional
        The racks' transfer model (default :class:`RackFrequencyRideThrough()`).
    envelopes : sequence of RideThroughEnvelope, optional
        ``frequency_hz`` envelopes, at most one ``side="low"`` (under-frequency) and one
        ``side="high"`` (over-frequency).  An excursion below ``nominal_hz`` is judged by
        the low envelope, one above it by the high envelope; with no envelope for its
        side it is not judged (``must_ride_through`` False, ``required_s`` NaN).
    nominal_hz : float, default 60.0
        Nominal frequency [Hz] (ERCOT: 60 Hz).

    Returns
    -------
    RideThroughResult
        As :func:`ride_through`; its ``sags`` table holds the excursions with the column
        ``frequency_hz`` in place of ``residual_pu``, and ``envelope`` is the first
        envelope given (or None).

    Raises
    ------
    InterconnectionError
        Bad inputs, excursions not in time order, an envelope that is not ``frequency_hz``
        or two envelopes for one side.
    """
    rack_mw = _check_racks(rack_mw)
    settings = RackFrequencyRideThrough() if settings is None else settings
    exc = [excursions] if isinstance(excursions, FrequencyExcursion) else list(excursions)
    if not exc:
        raise InterconnectionError("excursions: give at least one FrequencyExcursion")
    starts = [e.start for e in exc]
    if any(b < a for a, b in zip(starts, starts[1:], strict=False)):
        raise InterconnectionError("excursions: must be in time order of their start")
    by_side: dict[str, RideThroughEnvelope] = {}
    for env in envelopes:
        if env.quantity != "frequency_hz":
            raise InterconnectionError(
                f"envelopes: expected frequency_hz envelopes, got quantity={env.quantity!r}"
            )
        if env.side in by_side:
            raise InterconnectionError(f"envelopes: two {env.side}-side envelopes; give one")
        by_side[env.side] = env
    required, must = [], []
    for e in exc:
        side_env = by_side.get("low" if e.frequency_hz < nominal_hz else "high")
        if side_env is None or e.frequency_hz == nominal_hz:
            required.append(math.nan)
            must.append(False)
        else:
            required.append(side_env.required_s(e.frequency_hz))
            must.append(side_env.must_ride_through(e.frequency_hz, e.duration_s))
    n_r = rack_mw.shape[1]
    table = settings.per_rack(n_r)
    which = np.full(n_r, -1)
    transfer: list[Any] = [pd.NaT] * n_r
    for r in range(n_r):
        lo, hi, t_tr = (float(table[c].iloc[r]) for c in ("f_min_hz", "f_max_hz", "t_transfer_s"))
        for j, e in enumerate(exc):
            if (e.frequency_hz < lo or e.frequency_hz > hi) and e.duration_s > t_tr:
                transfer[r] = e.start + pd.Timedelta(seconds=t_tr)
                which[r] = j
                break
    event, racks = _transfer(
        rack_mw, table, which, transfer, [e.end for e in exc], must,
        ["frequency" if j >= 0 else "" for j in which],
        stagger_s=settings.stagger_s, return_ramp_mw_per_min=settings.return_ramp_mw_per_min,
        description=f"frequency ride-through of {len(exc)} excursion(s)",
    )  # fmt: skip
    sag_table = pd.DataFrame(
        {
            "start": pd.to_datetime(starts, utc=True),
            "frequency_hz": [e.frequency_hz for e in exc],
            "duration_s": [e.duration_s for e in exc],
            "required_s": required,
            "must_ride_through": must,
        }
    )
    first = next(iter(envelopes), None)
    return RideThroughResult(racks=racks, sags=sag_table, event=event, envelope=first)


def _per_rack_table(settings: Any, names: Sequence[str], n_racks: int, prefix: str) -> pd.DataFrame:
    """Broadcast each named setting (scalar or one value per rack) to a table (n_racks, K)."""
    cols = {}
    for name in names:
        arr = np.atleast_1d(np.asarray(getattr(settings, name), dtype=float))
        if arr.size == 1:
            arr = np.full(n_racks, float(arr[0]))
        elif arr.size != n_racks:
            raise InterconnectionError(
                f"{prefix}.{name}: {arr.size} values for {n_racks} racks; give one "
                "value (all racks) or one per rack"
            )
        cols[name] = arr
    return pd.DataFrame(cols, index=pd.RangeIndex(n_racks, name="rack"))


def _transfer(
    rack_mw: pd.DataFrame,
    table: pd.DataFrame,
    which: np.ndarray,
    transfer: list[Any],
    event_ends: Sequence[pd.Timestamp],
    must: Sequence[bool],
    cause: Sequence[str],
    *,
    stagger_s: float,
    return_ramp_mw_per_min: float | None,
    description: str,
) -> tuple[EventResult, pd.DataFrame]:
    """Return times, the load with the transferred racks, and the per-rack table.

    Rack ``r`` transferred on event ``which[r]`` (-1: rode through) at ``transfer[r]``; it
    returns ``return_delay_s`` after that event ends plus ``stagger_s`` times its position
    among the transferred racks (NaT when after the series' end).
    """
    n_r = rack_mw.shape[1]
    moved = which >= 0
    ret: list[Any] = [pd.NaT] * n_r
    end = rack_mw.index[-1] + (rack_mw.index[1] - rack_mw.index[0])
    for i, rk in enumerate(np.flatnonzero(moved).tolist()):
        back = event_ends[which[rk]] + pd.Timedelta(
            seconds=float(table["return_delay_s"].iloc[rk] + i * stagger_s)
        )
        ret[rk] = back if back <= end else pd.NaT
    event = apply_transfers(
        rack_mw, moved.astype(float), transfer, ret,
        return_ramp_mw_per_min=return_ramp_mw_per_min,
        description=f"{description}: {int(moved.sum())} of {n_r} racks transfer to UPS",
    )  # fmt: skip
    racks = table.copy()
    racks.index = pd.Index(rack_mw.columns, name="rack")
    racks["rides_through"] = ~moved
    racks["cause"] = list(cause)
    racks["sag"] = which
    racks["transfer_time"] = pd.to_datetime(pd.Series(transfer, index=racks.index), utc=True)
    racks["return_time"] = pd.to_datetime(pd.Series(ret, index=racks.index), utc=True)
    racks["envelope_violation"] = [bool(moved[r] and must[which[r]]) for r in range(n_r)]
    return event, racks
