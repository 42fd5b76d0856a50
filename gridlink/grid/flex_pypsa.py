"""PyPSA export of an AI facility with deferrable (latency-tolerant) demand.

A share of an inference facility's work (batch jobs, offline evaluation, embeddings,
latency-tolerant requests) can wait; the rest must be served as it arrives (paper
§5.2; Texas SB6 and PJM's non-firm large-load studies ask exactly this).  This module
exports that split to a :class:`pypsa.Network` the way PyPSA users model demand
shifting today, with the limits read from a small dataclass, :class:`DeferrableDemand`,
which the generator's curtailment study produces (``p_max_mw``, ``e_max_mwh``,
``max_delay_h``, ``share``; :func:`deferrable_demand_from_curtailment` reads them off a
:class:`traces.facility.flexibility.CurtailmentResult`):

* the **inflexible** part ``(1 - share) * P(t)`` is a ``Load`` with ``p_set`` on the
  facility's bus (:func:`gridlink.grid.pypsa.add_facility_load`, energy-preserving on
  the network's snapshots);
* the **deferrable** part is a demand-shifting store: the work arriving, ``share *
  P(t)``, is a ``Load`` on its own bus; a ``Link`` from the facility's bus serves it
  with at most ``p_max_mw``; a ``Store`` on that bus holds the **backlog** of deferred
  work.  The store's level is ``e = e_max_mwh - backlog``: the store discharges
  (backlog grows) when less is served than arrives and recharges when the backlog is
  caught up.  ``e_nom = e_max_mwh`` bounds the backlog; the store starts full (no
  backlog) and must end full (``e_min_pu = 1`` at the last snapshot), so every MWh
  deferred is served inside the horizon and the energy drawn from the grid equals the
  facility's energy exactly.
* **Maximum delay.**  With first-in first-out service, work arriving at ``tau`` is
  served by ``tau + D`` for every ``tau`` if and only if the backlog never exceeds the
  work that arrived in the last ``D`` hours, ``B(t) <= A(t) - A(t - D)`` (cumulative
  arrivals ``A``; the fluid form of a deadline).  The store's ``e_min_pu(t) = 1 -
  min(1, W(t) / e_max_mwh)`` enforces it at the end of each snapshot, with ``W(t)``
  computed from the arrivals **in hours** on the network's own snapshot periods (not in
  numbers of snapshots), so the limit means the same with 1-, 2-, 3-hourly or segmented
  snapshots.

Snapshot weightings
-------------------
Energy is ``sum(p * n.snapshot_weightings.generators)``; the store's level moves with
``n.snapshot_weightings.stores``.  Both must be the snapshot's duration in hours, so
the export refuses a network whose ``stores`` and ``generators`` weightings differ.
**Resample first, then export.**  ``e_min_pu`` is a bound on a state, not an average
power: averaging it when a network is resampled (as PyPSA-Eur's
``average_every_nhours`` does with every time series) changes its meaning (PyPSA-Eur
issue #1761: an 80 % minimum state of charge of the EV demand-side-management store
became 27 % at 3-hourly resolution).  Export onto the snapshots the model will be
solved on.

PyPSA's proposed ``Consumer`` component
---------------------------------------
PyPSA issue #1736 (open, 2026) proposes an active one-port ``Consumer`` for
price-responsive demand (today written as a ``Generator`` with negative dispatch, which
confuses users) and, as an extension for demand-side management, a ``max_hours``
attribute that gives it an internal store: nominal demand ``p_set``, served power in
``[p_min_pu, p_max_pu] * p_nom``, a deferral state ``e(t) = e(t-1) (1 - standing_loss) +
(p_set(t) - d(t)) w(t)`` bounded by ``p_nom * max_hours`` with optional asymmetric
deferral/advance limits.  That state is exactly our backlog: when the component lands,
this export maps to ``p_set = share * P(t)``, ``p_nom = p_max_mw``, ``max_hours =
e_max_mwh / p_max_mw`` and no advance; the maximum-delay window above is not part of the
proposal and would still need a time-varying bound.  Until then the Link + Store pair
is what PyPSA and PyPSA-Eur use (the BEV and heat demand-side-management stores).

References
----------
PyPSA issue #1736, "Active Load component" (github.com/PyPSA/PyPSA/issues/1736).
PyPSA-Eur issue #1761, "BEV DSM restriction value affected by temporal resolution".
Wilkins, Kazhamiaka & Rajagopal (2026), §5.2 (power modulation, deferral).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gridlink.grid.pypsa import (
    FACILITY_CARRIER,
    PyPSAAdapterError,
    add_facility_load,
    profile_on_snapshots,
    snapshot_periods_utc,
)
from gridlink.units import series_to_magnitude, series_with_unit
from traces.fields import as_number

if TYPE_CHECKING:
    import pypsa

    from traces.facility.flexibility import CurtailmentResult

__all__ = [
    "DEFERRAL_CARRIER",
    "DeferrableDemand",
    "FlexibleExport",
    "add_flexible_facility",
    "backlog_limit_mwh",
    "deferrable_demand_from_curtailment",
    "flexible_dispatch",
]

logger = logging.getLogger(__name__)

#: Carrier of the deferral bus, link and store this module adds.
DEFERRAL_CARRIER = f"{FACILITY_CARRIER} deferral"

_NS_PER_HOUR = 3_600_000_000_000


def _check(
    value: float, name: str, *, low: float, low_ok: bool, high: float | None = None
) -> float:
    """A ``DeferrableDemand`` number (:func:`traces.fields.as_number`: no strings or
    booleans, finite, within the bounds)."""
    return as_number(
        value, f"DeferrableDemand.{name}", error=PyPSAAdapterError,
        ge=low if low_ok else None, gt=None if low_ok else low, le=high,
    )  # fmt: skip


@dataclass(frozen=True)
class DeferrableDemand:
    """Limits of a facility's deferrable (latency-tolerant) demand.

    Produced by the generator's curtailment study (the share of traffic that tolerates
    delay, how fast its backlog can be served, how much may wait and for how long) or
    written by hand for a screening study.

    Parameters
    ----------
    share : float
        Fraction in (0, 1] of the facility's PCC power at every instant that is
        deferrable [-].  The rest is inflexible.
    p_max_mw : float
        Largest power the deferrable part may draw, its own arrivals plus the catch-up of
        its backlog [MW], > 0 (e.g. the spare capacity of the servers that run it, at
        the PCC).
    e_max_mwh : float
        Largest backlog of deferred work at any time, as PCC energy [MWh], > 0.
    max_delay_h : float
        Longest time any deferred work may wait before it is served (first in, first
        out) [h], > 0.
    backlog_cost_per_mwh_h : float, default 0
        Service cost of waiting work, per MWh of backlog per hour [currency/MWh/h],
        >= 0 (e.g. a value of delayed requests from the curtailment study).  Without
        it deferral is free and the solver may defer whenever it is indifferent.
        Written as the store's ``marginal_cost_storage = -backlog_cost_per_mwh_h`` (the
        store level is ``e_max_mwh - backlog``), which adds the constant
        ``-backlog_cost_per_mwh_h * e_max_mwh * sum(objective weightings)`` to
        ``n.objective``; :func:`flexible_dispatch` reports the cost itself.
    source : str
        Provenance (e.g. the curtailment run and its seed); carried into the export.

    Raises
    ------
    gridlink.grid.pypsa.PyPSAAdapterError
        A field out of range (the message names it).
    """

    share: float
    p_max_mw: float
    e_max_mwh: float
    max_delay_h: float
    backlog_cost_per_mwh_h: float = 0.0
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "share", _check(self.share, "share", low=0.0, low_ok=False, high=1.0)
        )
        object.__setattr__(
            self, "p_max_mw", _check(self.p_max_mw, "p_max_mw", low=0.0, low_ok=False)
        )
        object.__setattr__(
            self, "e_max_mwh", _check(self.e_max_mwh, "e_max_mwh", low=0.0, low_ok=False)
        )
        object.__setattr__(
            self, "max_delay_h", _check(self.max_delay_h, "max_delay_h", low=0.0, low_ok=False)
        )
        object.__setattr__(
            self,
            "backlog_cost_per_mwh_h",
            _check(self.backlog_cost_per_mwh_h, "backlog_cost_per_mwh_h", low=0.0, low_ok=True),
        )


def deferrable_demand_from_curtailment(
    result: CurtailmentResult, *, backlog_cost_per_mwh_h: float = 0.0
) -> DeferrableDemand:
    """The deferrable-demand limits a generator curtailment run measured.

    Parameters
    ----------
    result : traces.facility.flexibility.CurtailmentResult
        A curtailment run (:func:`traces.facility.flexibility.simulate_curtailment`).
    backlog_cost_per_mwh_h : float, default 0
        Service cost of waiting work [currency/MWh/h], >= 0 (see :class:`DeferrableDemand`).

    Returns
    -------
    DeferrableDemand
        Fields from :meth:`~traces.facility.flexibility.CurtailmentResult.deferrable_demand_fields`:
        the deferrable share of the PCC power above the idle floor, the largest power the
        deferred part drew (including the rebound), the energy shifted out of the window as
        the largest backlog, the window's maximum delay, and the run's seed and window as
        ``source``.

    Raises
    ------
    gridlink.grid.pypsa.PyPSAAdapterError
        The run deferred nothing (share or energy shifted 0): there is no deferrable demand
        to export (widen the window, lower its PCC limit or raise ``deferrable_share``).
    """
    fields = result.deferrable_demand_fields()
    if not (fields["share"] > 0 and fields["e_max_mwh"] > 0):
        raise PyPSAAdapterError(
            f"deferrable_demand_from_curtailment: the run deferred nothing (share "
            f"{fields['share']:.3g}, energy shifted {fields['e_max_mwh']:.3g} MWh; "
            f"{fields['source']}); widen the window, lower its pcc_limit_mw or raise "
            "deferrable_share"
        )
    return DeferrableDemand(backlog_cost_per_mwh_h=backlog_cost_per_mwh_h, **fields)


@dataclass(frozen=True)
class FlexibleExport:
    """What :func:`add_flexible_facility` added to the network.

    Attributes
    ----------
    inflexible_load, arrivals_load, bus, link, store : str
        Component names: the inflexible ``Load`` (on the facility's bus), the deferrable
        work arriving (``Load`` on ``bus``), the deferral ``Bus``, the serving ``Link``
        (facility bus -> deferral bus) and the backlog ``Store``.
    p_set_inflexible_mw, p_set_arrivals_mw : pandas.Series, shape (S,)
        The two loads' ``p_set`` [MW] on ``n.snapshots``.
    backlog_limit_mwh : pandas.Series, shape (S,)
        Largest backlog allowed at the end of each snapshot [MWh]: ``min(e_max_mwh,
        W(t))`` with ``W`` the work arrived in the last ``max_delay_h`` hours; 0 at the
        last snapshot.
    flex : DeferrableDemand
    """

    inflexible_load: str
    arrivals_load: str
    bus: str
    link: str
    store: str
    p_set_inflexible_mw: pd.Series
    p_set_arrivals_mw: pd.Series
    backlog_limit_mwh: pd.Series
    flex: DeferrableDemand


def backlog_limit_mwh(
    arrivals_mw: np.ndarray,
    starts_ns: np.ndarray,
    hours: np.ndarray,
    max_delay_h: float,
) -> np.ndarray:
    """Work arrived in the last ``max_delay_h`` hours before each snapshot's end [MWh].

    Parameters
    ----------
    arrivals_mw : numpy.ndarray, shape (S,)
        Mean arrival power over each snapshot period [MW].
    starts_ns : numpy.ndarray of int64, shape (S,)
        Period starts [ns since epoch, UTC].
    hours : numpy.ndarray, shape (S,)
        Period lengths [h] (the snapshot weightings).
    max_delay_h : float
        Window ``D`` [h].

    Returns
    -------
    numpy.ndarray, shape (S,)
        ``W_i = A(end_i) - A(end_i - D)`` with ``A`` the cumulative arrivals, linear inside
        each period (PyPSA holds a snapshot's value over its period), flat in gaps
        between periods and 0 before the first one (the window does not wrap).
    """
    ends = starts_ns + np.round(hours * _NS_PER_HOUR).astype(np.int64)
    cum = np.cumsum(arrivals_mw * hours)
    knots_t = np.empty(2 * len(starts_ns), dtype=np.float64)
    knots_a = np.empty_like(knots_t)
    knots_t[0::2] = starts_ns
    knots_t[1::2] = ends
    knots_a[0::2] = np.concatenate([[0.0], cum[:-1]])
    knots_a[1::2] = cum
    back = ends - max_delay_h * _NS_PER_HOUR
    return cum - np.interp(back.astype(np.float64), knots_t, knots_a, left=0.0)


def _ensure_carrier(n: pypsa.Network, carrier: str) -> None:
    if carrier not in n.carriers.index:
        n.add("Carrier", carrier)


def add_flexible_facility(
    n: pypsa.Network,
    profile: pd.Series,
    flex: DeferrableDemand,
    *,
    bus: str,
    name: str = "ai_facility",
    profile_tz: str | None = None,
    snapshot_tz: str = "UTC",
) -> FlexibleExport:
    """Add a facility with deferrable demand to ``n`` (Load + Link + Store, see module).

    Parameters
    ----------
    n : pypsa.Network
        Network with naive (UTC) ``DatetimeIndex`` snapshots whose ``generators`` and
        ``stores`` weightings are the snapshot durations [h].  Modified in place.
    profile : pandas.Series, shape (T,)
        The facility's PCC power on a regular tz-aware index with a declared unit (e.g.
        ``FacilityResult.pcc_mw`` or ``AnnualShape.p_mw``).
    flex : DeferrableDemand
        Share, served-power, backlog and delay limits.
    bus : str
        The facility's bus (must exist).
    name : str
        Prefix of the added components.
    profile_tz, snapshot_tz : str
        As :func:`gridlink.grid.pypsa.add_facility_load`.

    Returns
    -------
    FlexibleExport

    Raises
    ------
    gridlink.grid.pypsa.PyPSAAdapterError
        As ``add_facility_load`` (unknown bus, uncovered snapshot, NaN, naive index);
        ``stores`` and ``generators`` weightings that differ; a component name in use;
        ``p_max_mw`` below the mean deferrable power or below the last snapshot's
        arrivals (the backlog could not be cleared).
    gridlink.units.UnitError
        Profile without a power unit.
    """
    if bus not in n.buses.index:
        raise PyPSAAdapterError(
            f"bus={bus!r} is not a bus of the network; add it with n.add('Bus', {bus!r})"
        )
    starts, hours = snapshot_periods_utc(n, snapshot_tz=snapshot_tz)
    w_stores = n.snapshot_weightings["stores"].to_numpy(dtype=np.float64)
    if not np.allclose(w_stores, hours, rtol=1e-12, atol=0.0):
        i = int(np.flatnonzero(~np.isclose(w_stores, hours, rtol=1e-12, atol=0.0))[0])
        raise PyPSAAdapterError(
            f"n.snapshot_weightings: 'stores' ({w_stores[i]}) differs from 'generators' "
            f"({hours[i]}) at snapshot {n.snapshots[i]}; the backlog store moves with the "
            "'stores' weighting, so both must be the snapshot duration in hours"
        )
    p = series_to_magnitude(profile, "MW", name="profile")
    names = {
        "inflexible_load": f"{name} inflexible",
        "arrivals_load": f"{name} deferrable arrivals",
        "bus": f"{name} deferral",
        "link": f"{name} deferred service",
        "store": f"{name} backlog",
    }
    for kind, comp in (("Load", "inflexible_load"), ("Load", "arrivals_load"), ("Bus", "bus"),
                       ("Link", "link"), ("Store", "store")):  # fmt: skip
        if names[comp] in n.components[kind].static.index:
            raise PyPSAAdapterError(
                f"name={name!r}: a {kind} named {names[comp]!r} already exists; choose another name"
            )
    inflexible = series_with_unit((p * (1.0 - flex.share)).rename("p_mw"), "MW")
    deferrable = series_with_unit((p * flex.share).rename("p_mw"), "MW")
    # dry run of the resampling (raises before the network is touched)
    arrivals = profile_on_snapshots(
        deferrable, n, profile_tz=profile_tz, snapshot_tz=snapshot_tz
    ).to_numpy(dtype=np.float64)
    mean_arrival = float((arrivals * hours).sum() / hours.sum())
    if flex.p_max_mw < mean_arrival * (1 - 1e-12):
        raise PyPSAAdapterError(
            f"DeferrableDemand.p_max_mw={flex.p_max_mw} MW is below the mean deferrable power "
            f"{mean_arrival:.6g} MW; the deferred work could never be served. Raise p_max_mw "
            "or lower share"
        )
    if flex.p_max_mw < arrivals[-1] * (1 - 1e-12):
        raise PyPSAAdapterError(
            f"DeferrableDemand.p_max_mw={flex.p_max_mw} MW is below the deferrable power of the "
            f"last snapshot ({arrivals[-1]:.6g} MW), where the backlog must be cleared; raise "
            "p_max_mw or end the horizon outside a deferral window"
        )
    limit = np.minimum(
        flex.e_max_mwh, backlog_limit_mwh(arrivals, starts.asi8, hours, flex.max_delay_h)
    )
    limit[-1] = 0.0  # every deferred MWh is served inside the horizon
    e_min_pu = 1.0 - limit / flex.e_max_mwh

    _ensure_carrier(n, DEFERRAL_CARRIER)
    n.add("Bus", names["bus"], carrier=DEFERRAL_CARRIER)
    p_inflex = add_facility_load(
        n, inflexible, bus=bus, name=names["inflexible_load"], profile_tz=profile_tz,
        snapshot_tz=snapshot_tz,
    ).iloc[:, 0]  # fmt: skip
    p_arr = add_facility_load(
        n, deferrable, bus=names["bus"], name=names["arrivals_load"], profile_tz=profile_tz,
        snapshot_tz=snapshot_tz,
    ).iloc[:, 0]  # fmt: skip
    n.add(
        "Link",
        names["link"],
        bus0=bus,
        bus1=names["bus"],
        p_nom=flex.p_max_mw,
        efficiency=1.0,
        carrier=DEFERRAL_CARRIER,
    )
    n.add(
        "Store",
        names["store"],
        bus=names["bus"],
        e_nom=flex.e_max_mwh,
        e_initial=flex.e_max_mwh,
        e_cyclic=False,
        e_max_pu=1.0,
        e_min_pu=pd.Series(e_min_pu, index=n.snapshots),
        marginal_cost_storage=-flex.backlog_cost_per_mwh_h,
        carrier=DEFERRAL_CARRIER,
    )
    logger.info(
        "added flexible facility %r at %r: share %.3g, p_max %.3g MW, backlog <= %.3g MWh, "
        "delay <= %.3g h (%s)",
        name, bus, flex.share, flex.p_max_mw, flex.e_max_mwh, flex.max_delay_h,
        flex.source or "no source given",
    )  # fmt: skip
    lim = pd.Series(limit, index=n.snapshots, name="backlog_limit_mwh")
    lim.attrs["unit"] = "MWh"
    return FlexibleExport(
        **names,
        p_set_inflexible_mw=p_inflex,
        p_set_arrivals_mw=p_arr,
        backlog_limit_mwh=lim,
        flex=flex,
    )


def flexible_dispatch(n: pypsa.Network, export: FlexibleExport) -> pd.DataFrame:
    """The facility's dispatch after ``n.optimize()``.

    Returns
    -------
    pandas.DataFrame, shape (S, 7)
        Indexed by ``n.snapshots``: ``inflexible_mw``, ``arrivals_mw`` (deferrable work
        arriving), ``served_mw`` (Link flow), ``grid_mw`` (inflexible + served: what the
        facility draws at its bus), ``backlog_mwh`` (``e_max_mwh`` minus the store level,
        end of snapshot), ``backlog_limit_mwh`` and ``service_cost`` (``backlog_mwh x
        backlog_cost_per_mwh_h x`` the snapshot's objective weighting [currency]).

    Raises
    ------
    gridlink.grid.pypsa.PyPSAAdapterError
        The network has not been solved.
    """
    if n.links_t.p0.empty or export.link not in n.links_t.p0.columns:
        raise PyPSAAdapterError("flexible_dispatch: solve the network first (n.optimize())")
    served = n.links_t.p0[export.link]
    level = n.stores_t.e[export.store]
    out = pd.DataFrame(
        {
            "inflexible_mw": export.p_set_inflexible_mw,
            "arrivals_mw": export.p_set_arrivals_mw,
            "served_mw": served,
            "grid_mw": export.p_set_inflexible_mw + served,
            "backlog_mwh": export.flex.e_max_mwh - level,
            "backlog_limit_mwh": export.backlog_limit_mwh,
        },
        index=n.snapshots,
    )
    out["service_cost"] = (
        out["backlog_mwh"] * export.flex.backlog_cost_per_mwh_h * n.snapshot_weightings["objective"]
    )
    return out
