"""Ride-through envelopes: the voltage (or frequency) excursions a load must ride through.

ERCOT's rules for Large Electronic Loads (NPRR 1308 with NOGRR 282, new Nodal
Operating Guide sections 2.6.4 frequency ride-through and 2.14 voltage ride-through
[3]_) require such loads to stay connected through defined voltage and frequency
excursions; NERC's Level 3 alert of May 2026 asks for models of this behaviour [4]_.
A :class:`RideThroughEnvelope` is a table of threshold vs. duration (the form of
PRC-024 and of ERCOT's tables).  **ERCOT's numeric LEL table is a user parameter**:
its figures were not available to this project, so no ERCOT numbers are shipped.
:data:`PRC024_LOW_VOLTAGE` (NERC PRC-024-2's low-voltage no-trip boundary for
*generators*) is shipped as a clearly labelled example of the format only [6]_.
:mod:`~gridlink.studies.interconnection.ride_through` applies an envelope to racks.

References
----------
.. [3] ERCOT, NPRR 1308 and NOGRR 282, *Voltage and Frequency Ride-Through
   Requirements for Large Electronic Loads* (Large Load: >= 75 MW at one site; Large
   Electronic Load: >= 50 % power-electronic computational load), 2025.
.. [4] NERC, *Level 3 Alert -- Essential Actions to Industry: Computational Load
   Modeling, Studies, Instrumentation, Commissioning, Operations, Protection, and
   Control*, May 4, 2026.
.. [6] NERC Reliability Standard PRC-024-2, Attachment 2 (voltage no-trip boundary).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from gridlink.studies.interconnection.base import InterconnectionError

__all__ = ["RideThroughEnvelope", "PRC024_LOW_VOLTAGE"]


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
