"""Expansion study with flexibility: TDP vs mean vs generated shape vs generated + flexibility.

Extends :func:`gridlink.grid.expansion.run_expansion_study` (same network, costs, load
shedding and HiGHS solve) by one case: the generated profile with part of it deferrable,
exported with :func:`gridlink.grid.flex_pypsa.add_flexible_facility` (inflexible
``Load`` + serving ``Link`` + backlog ``Store``, maximum delay in hours) with the limits a
generator curtailment run measured
(:func:`gridlink.grid.flex_pypsa.deferrable_demand_from_curtailment`) or written by hand.
The table adds, per case, the total and firm (gas + battery) capacity built, the capacity
and system cost each saves against the TDP booking, and for the flexible case the hours
the flexibility was called (snapshots with a backlog), the energy shifted and the service
cost of the backlog.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from gridlink.grid.expansion import (
    EXAMPLE_BUS,
    VOLL_USD_PER_MWH,
    ExpansionError,
    ExpansionResult,
    _add_load_shedding,
    _common_hours,
    _metrics,
    _solve,
    comparison_profiles,
    example_network,
    run_expansion_study,
)
from gridlink.grid.flex_pypsa import (
    DEFERRAL_CARRIER,
    DeferrableDemand,
    add_flexible_facility,
    flexible_dispatch,
)

if TYPE_CHECKING:
    import pypsa

__all__ = ["FIRM_CARRIERS", "FlexibilityStudy", "run_flexibility_expansion_study"]

logger = logging.getLogger(__name__)

#: Carriers counted as firm capacity (dispatchable gas and the battery's power).
FIRM_CARRIERS: tuple[str, ...] = ("OCGT", "CCGT", "battery")


@dataclass(frozen=True)
class FlexibilityStudy:
    """Results of :func:`run_flexibility_expansion_study`.

    Attributes
    ----------
    summary : pandas.DataFrame
        Rows = metrics (those of :class:`ExpansionResult` plus ``total capacity [MW]``,
        ``firm capacity [MW]``, ``capacity saved vs tdp [MW]``, ``firm capacity saved vs
        tdp [MW]``, ``backlog service cost [USD]``, ``cost saved vs tdp [USD]``,
        ``flexibility called [h]``, ``energy shifted [MWh]``); columns ``no facility``,
        ``tdp``, ``mean``, ``<label>``, ``<label> + flexibility``.  ``total system cost``
        is the grid's capital and operating cost only (the backlog store's term is taken
        out); the flexible case's service cost, ``sum(backlog x backlog_cost_per_mwh_h x
        weighting)``, is its own row, and ``cost saved vs tdp`` is net of it.
    expansion : ExpansionResult
        The first four cases.
    dispatch : pandas.DataFrame
        The flexible case's facility dispatch per snapshot (``inflexible_mw``,
        ``arrivals_mw``, ``served_mw``, ``grid_mw``, ``backlog_mwh``,
        ``backlog_limit_mwh``, ``service_cost``; see
        :func:`gridlink.grid.flex_pypsa.flexible_dispatch`).
    flex : DeferrableDemand
    """

    summary: pd.DataFrame
    expansion: ExpansionResult
    dispatch: pd.DataFrame
    flex: DeferrableDemand


def run_flexibility_expansion_study(
    profile: pd.Series,
    flex: DeferrableDemand,
    *,
    tdp_mw: float,
    label: str = "model",
    snapshots: pd.DatetimeIndex | None = None,
    seed: int = 0,
    solver: str = "highs",
    solver_options: Mapping[str, Any] | None = None,
    voll_usd_per_mwh: float = VOLL_USD_PER_MWH,
    backlog_tol_mwh: float = 1e-6,
) -> FlexibilityStudy:
    """Solve the example capacity expansion for TDP, mean, the profile and the profile
    with deferrable demand; compare the capacity and cost each saves.

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Generated facility PCC power (declared unit, tz-aware index).
    flex : DeferrableDemand
        Limits of the deferrable part (e.g.
        :func:`gridlink.grid.flex_pypsa.deferrable_demand_from_curtailment`).
    tdp_mw : float
        Nameplate facility power [MW] (>= the profile's peak).
    label : str
        Name of the generated case.
    snapshots, seed, solver, solver_options, voll_usd_per_mwh
        As :func:`gridlink.grid.expansion.run_expansion_study` (example network).
    backlog_tol_mwh : float
        A snapshot with a backlog above this counts as an hour the flexibility was called.

    Returns
    -------
    FlexibilityStudy

    Raises
    ------
    ExpansionError
        ``tdp_mw`` below the peak, no common hours, a solve that is not optimal.
    """
    profiles = comparison_profiles(profile, tdp_mw=tdp_mw, label=label)
    if snapshots is None:
        snapshots = _common_hours(profiles)
    if solver_options is None:
        solver_options = {"log_to_console": False} if solver == "highs" else {}
    base = run_expansion_study(
        profiles, snapshots=snapshots, seed=seed, solver=solver, solver_options=solver_options,
        voll_usd_per_mwh=voll_usd_per_mwh,
    )  # fmt: skip
    n: pypsa.Network = example_network(snapshots, seed=seed)
    export = add_flexible_facility(n, profiles[label], flex, bus=EXAMPLE_BUS)
    _add_load_shedding(n, voll_usd_per_mwh)
    flex_label = f"{label} + flexibility"
    elapsed = _solve(n, flex_label, solver, solver_options)
    dispatch = flexible_dispatch(n, export)
    facility = dispatch["grid_mw"]
    metrics, cap, energy, _ = _metrics(n, EXAMPLE_BUS, facility, elapsed)
    # The backlog store's marginal_cost_storage = -cost (level = e_max - backlog) puts a
    # constant minus the service cost into PyPSA's opex; take it out of the system cost
    # and report the service cost on its own.
    opex = n.statistics.opex()
    store_term = float(opex.get(("Store", DEFERRAL_CARRIER), 0.0))
    metrics["operating cost [USD]"] -= store_term
    metrics["total system cost [USD]"] -= store_term
    service_cost = float(dispatch["service_cost"].sum())
    # the system peak as served (the deferrable arrivals load is not what the grid sees)
    loads = n.get_switchable_as_dense("Load", "p_set").sum(axis=1)
    served = loads - dispatch["arrivals_mw"] + dispatch["served_mw"]
    metrics["system peak [MW]"] = float(served.max())
    metrics["facility coincident peak [MW]"] = float(facility.loc[served.idxmax()])
    w = n.snapshot_weightings["generators"]
    called = dispatch["backlog_mwh"] > backlog_tol_mwh
    capacity = base.capacity_mw.copy()
    capacity[flex_label] = cap
    capacity = capacity.fillna(0.0)
    storage = base.storage_energy_mwh.copy()
    storage[flex_label] = energy
    storage = storage.fillna(0.0)
    rows = {f"{c} capacity [MW]": capacity.loc[c] for c in capacity.index}
    rows.update({f"{c} energy [MWh]": storage.loc[c] for c in storage.index})
    table = base.summary.drop(index=[r for r in base.summary.index if r in rows], errors="ignore")
    table[flex_label] = pd.Series(metrics)
    table = pd.concat([pd.DataFrame(rows).T, table])
    firm = [c for c in capacity.index if c in FIRM_CARRIERS]
    table.loc["total capacity [MW]"] = capacity.sum(axis=0)
    table.loc["firm capacity [MW]"] = capacity.loc[firm].sum(axis=0)
    if "tdp" not in table.columns:
        raise ExpansionError("tdp_mw: the TDP case is missing from the study")
    table.loc["capacity saved vs tdp [MW]"] = (
        table.loc["total capacity [MW]", "tdp"] - table.loc["total capacity [MW]"]
    )
    table.loc["firm capacity saved vs tdp [MW]"] = (
        table.loc["firm capacity [MW]", "tdp"] - table.loc["firm capacity [MW]"]
    )
    table.loc["backlog service cost [USD]"] = 0.0
    table.loc["backlog service cost [USD]", flex_label] = service_cost
    table.loc["cost saved vs tdp [USD]"] = table.loc["total system cost [USD]", "tdp"] - (
        table.loc["total system cost [USD]"] + table.loc["backlog service cost [USD]"]
    )
    table.loc[
        [
            "capacity saved vs tdp [MW]",
            "firm capacity saved vs tdp [MW]",
            "cost saved vs tdp [USD]",
        ],
        "no facility",
    ] = float("nan")  # a saving against a booking the baseline does not have
    table.loc["flexibility called [h]"] = 0.0
    table.loc["flexibility called [h]", flex_label] = float(w[called].sum())
    table.loc["energy shifted [MWh]"] = 0.0
    shifted = (dispatch["arrivals_mw"] - dispatch["served_mw"]).clip(lower=0.0)
    table.loc["energy shifted [MWh]", flex_label] = float((shifted * w).sum())
    logger.info(
        "flexibility study: called %.0f h, cost saved vs tdp %.4g USD (flexible) vs %.4g (shape)",
        table.loc["flexibility called [h]", flex_label],
        table.loc["cost saved vs tdp [USD]", flex_label],
        table.loc["cost saved vs tdp [USD]", label],
    )
    return FlexibilityStudy(summary=table, expansion=base, dispatch=dispatch, flex=flex)
