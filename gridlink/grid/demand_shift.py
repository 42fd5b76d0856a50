"""Deferrable facility demand in PyPSA: a minimal Link + Store demand shift (issue 15).

**Stand-in, to be swapped.**  The issue-15 PyPSA flexible-demand export (branch
``issue15``, ``flex_pypsa.add_flexible_facility`` with its ``DeferrableDemand``) is the
full version (snapshot-weighting checks, backlog cost, the comment on PyPSA's proposed
``Consumer`` component, #1736).  This module carries the same ``DeferrableDemand``
fields and the same network layout, so that
:mod:`gridlink.grid.flex_expansion` runs today and the lead can replace
:func:`add_demand_shift` by that export without touching the study:

* the inflexible part ``(1 - share) P(t)`` is a ``Load`` on the facility's bus;
* the deferrable work arriving, ``share P(t)``, is a ``Load`` on a deferral bus, served
  by a ``Link`` from the facility's bus (``p_nom = p_max_mw``);
* a ``Store`` on the deferral bus holds ``e_max_mwh - backlog``: it starts full (no
  backlog) and must end full (every deferred MWh served inside the horizon); the
  fluid first-in-first-out deadline ``backlog(t) <= work arrived in the last
  max_delay_h hours`` is its ``e_min_pu(t)``, computed in hours from the snapshot
  weightings.

:func:`deferrable_demand_from_curtailment` turns a generator curtailment run
(:class:`traces.facility.flexibility.CurtailmentResult`) into these limits.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gridlink.grid.pypsa import (
    PyPSAAdapterError,
    add_facility_load,
    profile_on_snapshots,
    snapshot_periods_utc,
)
from gridlink.units import series_to_magnitude, series_with_unit

if TYPE_CHECKING:
    import pypsa

    from traces.facility.flexibility import CurtailmentResult

__all__ = [
    "DEFERRAL_CARRIER",
    "DeferrableDemand",
    "DemandShiftExport",
    "add_demand_shift",
    "deferrable_demand_from_curtailment",
]

logger = logging.getLogger(__name__)

#: Carrier of the deferral bus, link and store.
DEFERRAL_CARRIER = "ai_facility deferral"
_NS_PER_HOUR = 3_600_000_000_000


def _positive(
    value: float, name: str, *, high: float | None = None, zero_ok: bool = False
) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise PyPSAAdapterError(f"DeferrableDemand.{name} must be a number, got {value!r}") from exc
    low_bad = v < 0 if zero_ok else v <= 0
    if not math.isfinite(v) or low_bad or (high is not None and v > high):
        bound = (">= 0" if zero_ok else "> 0") + (f" and <= {high}" if high is not None else "")
        raise PyPSAAdapterError(
            f"DeferrableDemand.{name} must be finite and {bound}, got {value!r}"
        )
    return v


@dataclass(frozen=True)
class DeferrableDemand:
    """Limits of a facility's deferrable demand (fields of the issue-15 PyPSA export).

    Parameters
    ----------
    share : float
        Deferrable fraction of the PCC power, in (0, 1].
    p_max_mw : float
        Largest power the deferrable part may draw (arrivals plus catch-up) [MW], > 0.
    e_max_mwh : float
        Largest backlog [MWh], > 0.
    max_delay_h : float
        Longest wait of deferred work (first in, first out) [h], > 0.
    backlog_cost_per_mwh_h : float
        Service cost of waiting work [USD/MWh/h], >= 0 (the store's
        ``marginal_cost_storage = -cost``).
    source : str
        Provenance.

    Raises
    ------
    gridlink.grid.pypsa.PyPSAAdapterError
        A field out of range (named).
    """

    share: float
    p_max_mw: float
    e_max_mwh: float
    max_delay_h: float
    backlog_cost_per_mwh_h: float = 0.0
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "share", _positive(self.share, "share", high=1.0))
        object.__setattr__(self, "p_max_mw", _positive(self.p_max_mw, "p_max_mw"))
        object.__setattr__(self, "e_max_mwh", _positive(self.e_max_mwh, "e_max_mwh"))
        object.__setattr__(self, "max_delay_h", _positive(self.max_delay_h, "max_delay_h"))
        object.__setattr__(
            self,
            "backlog_cost_per_mwh_h",
            _positive(self.backlog_cost_per_mwh_h, "backlog_cost_per_mwh_h", zero_ok=True),
        )


def deferrable_demand_from_curtailment(
    result: CurtailmentResult, *, backlog_cost_per_mwh_h: float = 0.0
) -> DeferrableDemand:
    """The deferrable-demand limits a generator curtailment run measured.

    Fields from :meth:`traces.facility.flexibility.CurtailmentResult.deferrable_demand_fields`
    (share of the PCC power above the idle floor, largest served power, energy shifted out
    of the window, the window's maximum delay).

    Raises
    ------
    gridlink.grid.pypsa.PyPSAAdapterError
        The run deferred nothing (share or energy shifted 0): there is no deferrable
        demand to export.
    """
    fields = result.deferrable_demand_fields()
    return DeferrableDemand(backlog_cost_per_mwh_h=backlog_cost_per_mwh_h, **fields)


@dataclass(frozen=True)
class DemandShiftExport:
    """Components :func:`add_demand_shift` added and the loads' ``p_set`` [MW]."""

    inflexible_load: str
    arrivals_load: str
    bus: str
    link: str
    store: str
    p_set_inflexible_mw: pd.Series
    p_set_arrivals_mw: pd.Series
    flex: DeferrableDemand

    def dispatch(self, n: pypsa.Network) -> pd.DataFrame:
        """After ``n.optimize()``: ``inflexible_mw``, ``arrivals_mw``, ``served_mw``,
        ``grid_mw`` (inflexible + served), ``backlog_mwh`` per snapshot.

        Raises
        ------
        gridlink.grid.pypsa.PyPSAAdapterError
            Network not solved.
        """
        if n.links_t.p0.empty or self.link not in n.links_t.p0.columns:
            raise PyPSAAdapterError("dispatch: solve the network first (n.optimize())")
        served = n.links_t.p0[self.link]
        return pd.DataFrame(
            {
                "inflexible_mw": self.p_set_inflexible_mw,
                "arrivals_mw": self.p_set_arrivals_mw,
                "served_mw": served,
                "grid_mw": self.p_set_inflexible_mw + served,
                "backlog_mwh": self.flex.e_max_mwh - n.stores_t.e[self.store],
            },
            index=n.snapshots,
        )


def add_demand_shift(
    n: pypsa.Network,
    profile: pd.Series,
    flex: DeferrableDemand,
    *,
    bus: str,
    name: str = "ai_facility",
) -> DemandShiftExport:
    """Add a facility with deferrable demand to ``n`` (inflexible Load + Link + backlog Store).

    Parameters
    ----------
    n : pypsa.Network
        Naive (UTC) snapshots; modified in place.
    profile : pandas.Series, shape (T,)
        Facility PCC power, declared unit, tz-aware index.
    flex : DeferrableDemand
    bus : str
        Facility bus.
    name : str
        Prefix of the components.

    Returns
    -------
    DemandShiftExport

    Raises
    ------
    gridlink.grid.pypsa.PyPSAAdapterError
        Unknown bus, uncovered snapshots (see ``add_facility_load``), or ``p_max_mw``
        below the mean or the last snapshot's deferrable power (the backlog could never
        be cleared).
    """
    if bus not in n.buses.index:
        raise PyPSAAdapterError(f"bus={bus!r} is not a bus of the network")
    starts, hours = snapshot_periods_utc(n)
    p = series_to_magnitude(profile, "MW", name="profile")
    inflexible = series_with_unit((p * (1.0 - flex.share)).rename("p_mw"), "MW")
    deferrable = series_with_unit((p * flex.share).rename("p_mw"), "MW")
    arrivals = profile_on_snapshots(deferrable, n).to_numpy(dtype=np.float64)
    mean = float((arrivals * hours).sum() / hours.sum())
    if flex.p_max_mw < max(mean, float(arrivals[-1])) * (1 - 1e-12):
        raise PyPSAAdapterError(
            f"DeferrableDemand.p_max_mw={flex.p_max_mw} MW is below the mean ({mean:.6g} MW) or "
            f"the last snapshot's ({arrivals[-1]:.6g} MW) deferrable power; raise p_max_mw"
        )
    # work arrived in the last max_delay_h hours before each snapshot's end [MWh]
    ends = starts.asi8 + np.round(hours * _NS_PER_HOUR).astype(np.int64)
    cum = np.cumsum(arrivals * hours)
    knots_t = np.ravel(np.column_stack([starts.asi8, ends])).astype(np.float64)
    knots_a = np.ravel(np.column_stack([np.concatenate([[0.0], cum[:-1]]), cum]))
    back = (ends - flex.max_delay_h * _NS_PER_HOUR).astype(np.float64)
    window = cum - np.interp(back, knots_t, knots_a, left=0.0)
    limit = np.minimum(flex.e_max_mwh, window)
    limit[-1] = 0.0
    names = {
        "inflexible_load": f"{name} inflexible",
        "arrivals_load": f"{name} deferrable arrivals",
        "bus": f"{name} deferral",
        "link": f"{name} deferred service",
        "store": f"{name} backlog",
    }
    if DEFERRAL_CARRIER not in n.carriers.index:
        n.add("Carrier", DEFERRAL_CARRIER)
    n.add("Bus", names["bus"], carrier=DEFERRAL_CARRIER)
    p_in = add_facility_load(n, inflexible, bus=bus, name=names["inflexible_load"]).iloc[:, 0]
    p_arr = add_facility_load(n, deferrable, bus=names["bus"], name=names["arrivals_load"]).iloc[
        :, 0
    ]
    n.add("Link", names["link"], bus0=bus, bus1=names["bus"], p_nom=flex.p_max_mw,
          efficiency=1.0, carrier=DEFERRAL_CARRIER)  # fmt: skip
    n.add(
        "Store",
        names["store"],
        bus=names["bus"],
        e_nom=flex.e_max_mwh,
        e_initial=flex.e_max_mwh,
        e_cyclic=False,
        e_min_pu=pd.Series(1.0 - limit / flex.e_max_mwh, index=n.snapshots),
        marginal_cost_storage=-flex.backlog_cost_per_mwh_h,
        carrier=DEFERRAL_CARRIER,
    )
    logger.info(
        "demand shift %r at %r: share %.3g, p_max %.3g MW, backlog <= %.3g MWh, delay <= %.3g h",
        name, bus, flex.share, flex.p_max_mw, flex.e_max_mwh, flex.max_delay_h,
    )  # fmt: skip
    return DemandShiftExport(**names, p_set_inflexible_mw=p_in, p_set_arrivals_mw=p_arr, flex=flex)
