"""Load loss of a large load: servers to UPS and back, and the worst-case simultaneous loss.

1. **Load loss.**  On July 10, 2024 a normally cleared 230 kV fault with repeated
   reclosing in Northern Virginia made about 60 data centres (about 1,500 MW)
   transfer to their UPS and backup supply within seconds; they returned minutes to
   hours later, and the grid saw the over-frequency and over-voltage of a sudden
   load drop (NERC, *Incident Review: Considering Simultaneous Voltage-Sensitive
   Load Reductions*, January 2025 [1]_; NERC LLTF white paper [2]_).
   :func:`apply_load_loss` drops a chosen share of the facility's servers at a
   chosen time for a chosen duration and brings them back at once or with a
   facility ramp limit [MW/min] and a per-rack stagger [s].
2. **Worst-case simultaneous loss** (:func:`worst_case_loss`): the largest load the
   facility can drop at once (its 250 ms peak times the susceptible share) against a
   user limit, e.g. the 2,600 MW ERCOT has cited as the most load the ERCOT grid can
   lose under certain conditions without exceeding its post-contingency frequency
   limit (:data:`ERCOT_LOAD_LOSS_LIMIT_MW`, [5]_), or a feeder's own limit.

Conventions of the rack loads: :mod:`~gridlink.studies.interconnection.transfers`.

References
----------
.. [1] NERC, *Incident Review: Considering Simultaneous Voltage-Sensitive Load
   Reductions*, January 8, 2025 (the July 10, 2024 event, about 1,500 MW).
.. [2] NERC Large Loads Task Force, *Characteristics and Risks of Emerging Large
   Loads*, white paper, July 2025.
.. [5] ERCOT studies cited to ERCOT's Technical Advisory Committee (RTO Insider,
   "ERCOT stakeholders talk large loads"): the ERCOT grid could lose at most about
   2,600 MW of load under certain operating conditions without exceeding the
   post-contingency frequency limit.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from gridlink.stats.base import as_profile
from gridlink.studies.interconnection.base import (
    InterconnectionError,
    _check_ramp,
    _fmt_time,
    _timestamp,
)
from gridlink.studies.interconnection.transfers import EventResult, _check_racks, apply_transfers

__all__ = ["ERCOT_LOAD_LOSS_LIMIT_MW", "LoadLossEvent", "apply_load_loss", "worst_case_loss"]

logger = logging.getLogger(__name__)

#: ERCOT's cited planning figure for the largest load loss the grid can absorb [MW] [5].
ERCOT_LOAD_LOSS_LIMIT_MW: float = 2600.0


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
        Per-rack PCC load [MW] on the 250 ms grid (:func:`~.transfers.rack_pcc_mw`);
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
        As :func:`~.transfers.apply_transfers`; an event outside the series.
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
