"""Capacity-expansion stress test: how the facility's load shape moves a least-cost build.

A planner who books an AI facility at its nameplate (TDP) power, at a flat mean, or
with a generated profile gets different optimal capacities, system costs and prices.
:func:`run_expansion_study` adds each profile to the same PyPSA network (with
:func:`gridlink.grid.pypsa.add_facility_load`), solves a greenfield
capacity-expansion LP with HiGHS, and reports the results side by side.

The shipped :func:`example_network` is built in code (PyPSA's example networks are
downloaded from the internet and are not available offline): one bus with
extendable OCGT, CCGT, onshore wind, utility PV and a 4-hour battery, a background
demand, and a load-shedding generator priced at the value of lost load.  Its wind
and solar capacity factors and its demand are **synthetic and illustrative**
(physically shaped: solar from the sun's elevation with a seeded cloudiness
process, wind from a seeded AR(1) wind speed through a power curve, demand with
daily, weekly and seasonal shape); they are not a calibrated system.

Costs are approximate, rounded from public sources and meant for a stress test,
not an investment decision (USD, real):

========== ============ ============ ======== ============ ==================
technology overnight    fixed O&M    lifetime marginal     source
           [USD/kW]     [USD/kW/yr]  [yr]     [USD/MWh]
========== ============ ============ ======== ============ ==================
OCGT       1100         22           30       42 (9.9 MMBtu/MWh x 3.5 USD/MMBtu + 7 VOM)  NREL ATB 2024 (CT, moderate ~2030)
CCGT       1300         30           30       25 (6.4 MMBtu/MWh x 3.5 + 2.5 VOM)          NREL ATB 2024 (CC, moderate ~2030)
wind       1400         43           30       0            NREL ATB 2024 (land-based wind)
solar      1150         22           30       0            NREL ATB 2024 (utility PV, per kW_ac)
battery    1400 (4 h)   35           15       0            NREL ATB 2024 (4-h utility battery, ~350 USD/kWh)
========== ============ ============ ======== ============ ==================

Annualised with a 7 % real discount rate (capital recovery factor), then scaled to
the modelled horizon (``sum of snapshot weightings / 8760 h``) so that a week-long
run carries a week's share of the annual capital cost.  The gas price (3.5
USD/MMBtu) is of the order of recent Henry Hub averages (EIA); Lazard's LCOE+ 2024
ranges (gas peaking 110-228, combined cycle 45-108, wind 27-73, utility PV 29-92
USD/MWh) are a sanity check on the resulting levelised costs.  Gas plants emit
heat rate x 0.0531 t CO2/MMBtu (US EPA emission factor for natural gas) and pay a
carbon price of 50 USD/t by default (:data:`CO2_PRICE_USD_PER_T`).  Unserved energy is
priced at a value of lost load of 10,000 USD/MWh (a modelling choice, above ERCOT's
5,000 USD/MWh offer cap).

One cohesive module over ~600 lines, on purpose (about 650, a quarter of them this
docstring): the example system, the profiles it compares and the study share the cost
table above and are read together.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gridlink.grid.pypsa import (
    add_facility_load,
)
from gridlink.units import check_facility_mw, series_to_magnitude, series_with_unit
from traces.fields import allowed_keys, as_number, check_plausible

if TYPE_CHECKING:
    import pypsa

__all__ = [
    "EXAMPLE_BUS",
    "LOAD_SHEDDING_CARRIER",
    "TECHNOLOGIES",
    "DISCOUNT_RATE",
    "VOLL_USD_PER_MWH",
    "CO2_PRICE_USD_PER_T",
    "ExpansionError",
    "ExpansionResult",
    "annualised_cost",
    "example_network",
    "comparison_profiles",
    "run_expansion_study",
]

logger = logging.getLogger(__name__)

#: Bus of :func:`example_network`.
EXAMPLE_BUS = "grid"
#: Carrier of the load-shedding generators added by :func:`run_expansion_study`.
LOAD_SHEDDING_CARRIER = "load_shedding"
#: Real discount rate for annualising overnight costs [-].
DISCOUNT_RATE = 0.07
#: Value of lost load [USD/MWh].
VOLL_USD_PER_MWH = 10_000.0
#: Carbon price in the marginal cost of gas plants [USD/t CO2] (a moderate
#: policy-style value, well below the US EPA 2023 social cost of carbon of ~190).
CO2_PRICE_USD_PER_T = 50.0
HOURS_PER_YEAR = 8760.0

#: Technology data (see the module docstring for sources).  Overnight cost
#: [USD/kW] (battery: per kW of a 4-hour system), fixed O&M [USD/kW/yr], lifetime
#: [yr], marginal cost [USD/MWh], battery efficiencies [-] and duration [h].
TECHNOLOGIES: dict[str, dict[str, float]] = {
    "OCGT": {"overnight_usd_per_kw": 1100.0, "fom_usd_per_kw_yr": 22.0, "lifetime_yr": 30.0,
             "marginal_usd_per_mwh": 9.9 * 3.5 + 7.0, "co2_t_per_mwh": 9.9 * 0.0531},
    "CCGT": {"overnight_usd_per_kw": 1300.0, "fom_usd_per_kw_yr": 30.0, "lifetime_yr": 30.0,
             "marginal_usd_per_mwh": 6.4 * 3.5 + 2.5, "co2_t_per_mwh": 6.4 * 0.0531},
    "wind": {"overnight_usd_per_kw": 1400.0, "fom_usd_per_kw_yr": 43.0, "lifetime_yr": 30.0,
             "marginal_usd_per_mwh": 0.0, "co2_t_per_mwh": 0.0},
    "solar": {"overnight_usd_per_kw": 1150.0, "fom_usd_per_kw_yr": 22.0, "lifetime_yr": 30.0,
              "marginal_usd_per_mwh": 0.0, "co2_t_per_mwh": 0.0},
    "battery": {"overnight_usd_per_kw": 1400.0, "fom_usd_per_kw_yr": 35.0, "lifetime_yr": 15.0,
                "marginal_usd_per_mwh": 0.0, "co2_t_per_mwh": 0.0, "max_hours": 4.0,
                "efficiency_store": 0.92, "efficiency_dispatch": 0.92},
}  # fmt: skip


class ExpansionError(ValueError):
    """A study cannot be run or a solve did not reach an optimum (nothing is reported)."""


def annualised_cost(
    overnight_usd_per_kw: float,
    fom_usd_per_kw_yr: float,
    lifetime_yr: float,
    *,
    discount_rate: float = DISCOUNT_RATE,
) -> float:
    """Annualised capital plus fixed O&M cost [USD/MW/yr].

    ``1000 * (overnight * r / (1 - (1 + r) ** -lifetime) + fom)``: the capital
    recovery factor times the overnight cost, plus fixed O&M, per MW.

    Parameters
    ----------
    overnight_usd_per_kw : float
        Overnight capital cost [USD/kW].
    fom_usd_per_kw_yr : float
        Fixed operation and maintenance [USD/kW/yr].
    lifetime_yr : float
        Economic lifetime [yr], > 0.
    discount_rate : float, default :data:`DISCOUNT_RATE`
        Real discount rate [-], > 0.

    Returns
    -------
    float
        [USD/MW/yr].
    """
    if not (lifetime_yr > 0 and discount_rate > 0):
        raise ExpansionError(
            f"lifetime_yr={lifetime_yr} and discount_rate={discount_rate} must be positive"
        )
    crf = discount_rate / (1.0 - (1.0 + discount_rate) ** -lifetime_yr)
    return 1000.0 * (overnight_usd_per_kw * crf + fom_usd_per_kw_yr)


# --------------------------------------------------------------------------- example network
def _utc_snapshots(snapshots: pd.DatetimeIndex) -> tuple[pd.DatetimeIndex, float]:
    """Validate snapshots (regular; tz-aware or naive-as-UTC); return UTC index and step [h]."""
    if not isinstance(snapshots, pd.DatetimeIndex):
        raise ExpansionError(
            f"snapshots: expected a pandas DatetimeIndex, got {type(snapshots).__name__}; "
            "e.g. pd.date_range('2025-01-01', periods=168, freq='h', tz='UTC')"
        )
    if len(snapshots) < 2:
        raise ExpansionError("snapshots: need at least 2 snapshots to infer the time step")
    utc = snapshots.tz_localize("UTC") if snapshots.tz is None else snapshots.tz_convert("UTC")
    steps = np.diff(utc.asi8)
    if steps[0] <= 0 or not np.all(steps == steps[0]):
        raise ExpansionError(
            "snapshots: must be strictly increasing with one regular step (e.g. freq='h')"
        )
    return utc, float(steps[0]) / 3.6e12


def _ar1(rng: np.random.Generator, size: int, phi: float) -> np.ndarray:
    """Stationary AR(1) with unit variance: z_t = phi z_{t-1} + sqrt(1-phi^2) e_t."""
    e = rng.standard_normal(size)
    z = np.empty(size)
    z[0] = e[0]
    scale = np.sqrt(1.0 - phi * phi)
    for t in range(1, size):
        z[t] = phi * z[t - 1] + scale * e[t]
    return z


def _solar_cf(mid: pd.DatetimeIndex, latitude: float, longitude: float,
              rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """Illustrative PV capacity factor [-] at interval midpoints (UTC)."""
    doy = mid.dayofyear.to_numpy()
    hour_utc = (mid.hour + mid.minute / 60.0).to_numpy()
    decl = np.deg2rad(23.44) * np.sin(2 * np.pi * (284 + doy) / 365.0)
    hour_angle = np.deg2rad(15.0 * (hour_utc + longitude / 15.0 - 12.0))
    lat = np.deg2rad(latitude)
    sin_elev = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(hour_angle)
    # single-axis-tracker-like flattening of the clear-sky shape, with an 0.8 performance ratio
    clear = np.maximum(sin_elev, 0.0) ** 0.5 * 0.8
    # daily cloudiness: AR(1) across days, mapped to a clearness factor in (0.3, 1)
    days = (mid.normalize().asi8 // 86_400_000_000_000).astype(np.int64)
    day_ids, day_pos = np.unique(days, return_inverse=True)
    cloud = _ar1(rng, len(day_ids), 0.6)
    clearness = 0.3 + 0.7 / (1.0 + np.exp(-(1.2 + 1.2 * cloud)))
    return clear * clearness[day_pos]


def _wind_cf(mid: pd.DatetimeIndex, longitude: float, step_h: float,
             rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """Illustrative wind capacity factor [-]: AR(1) wind speed through a power curve."""
    doy = mid.dayofyear.to_numpy()
    local_h = ((mid.hour + mid.minute / 60.0).to_numpy() + longitude / 15.0) % 24.0
    seasonal = 8.8 + 1.2 * np.cos(2 * np.pi * (doy - 60) / 365.0)  # windier late winter/spring
    diurnal = 0.6 * np.cos(2 * np.pi * (local_h - 2.0) / 24.0)  # night-time low-level jet
    z = _ar1(rng, len(mid), 0.97**step_h)
    speed = (seasonal + diurnal) * np.exp(0.4 * z - 0.5 * 0.4**2)  # m/s at hub height
    cut_in, rated, cut_out = 3.0, 12.0, 25.0
    cf = (speed**3 - cut_in**3) / (rated**3 - cut_in**3)
    cf = np.where(speed < cut_in, 0.0, np.where(speed >= rated, 1.0, cf))
    return np.where(speed >= cut_out, 0.0, cf) * 0.95  # availability / wake losses


def _background_demand(mid: pd.DatetimeIndex, longitude: float, peak_mw: float,
                       rng: np.random.Generator, step_h: float) -> np.ndarray:  # fmt: skip
    """Illustrative background demand [MW]: daily, weekly and seasonal shape, AR weather."""
    local = mid + pd.to_timedelta(longitude / 15.0, unit="h")
    h = (local.hour + local.minute / 60.0).to_numpy()
    doy = local.dayofyear.to_numpy()
    daily = (0.78 + 0.10 * np.exp(-(((h - 8.5) / 2.5) ** 2))
             + 0.22 * np.exp(-(((h - 18.5) / 3.0) ** 2)) - 0.12 * np.exp(-(((h - 3.5) / 3.0) ** 2)))  # fmt: skip
    weekly = np.where(local.dayofweek.to_numpy() >= 5, 0.92, 1.0)
    seasonal = 1.0 + 0.12 * np.cos(2 * np.pi * (doy - 200) / 365.0) ** 2  # summer and winter peaks
    weather = 1.0 + 0.03 * _ar1(rng, len(mid), 0.9**step_h)
    shape = daily * weekly * seasonal * weather
    return peak_mw * shape / 1.25  # 1.25: the shape's nominal peak


def example_network(
    snapshots: pd.DatetimeIndex,
    *,
    seed: int = 0,
    background_peak_mw: float = 1000.0,
    latitude: float = 35.0,
    longitude: float = -100.0,
    discount_rate: float = DISCOUNT_RATE,
    co2_price_usd_per_t: float = CO2_PRICE_USD_PER_T,
) -> pypsa.Network:
    """A small greenfield capacity-expansion network built in code (offline).

    One bus (:data:`EXAMPLE_BUS`) with extendable OCGT, CCGT, wind and solar
    generators, an extendable 4-hour battery (``StorageUnit``, cyclic state of
    charge) and a background ``Load``.  Wind, solar and demand are synthetic and
    illustrative (see the module docstring); costs are from :data:`TECHNOLOGIES`.

    Parameters
    ----------
    snapshots : pandas.DatetimeIndex, shape (S,)
        Regular snapshots, tz-aware (converted to UTC) or naive (taken as UTC).  The
        network gets the naive UTC equivalents and snapshot weightings equal to the
        step in hours (so a 2-hourly network books 2 MWh per MW and snapshot).
    seed : int, default 0
        Seed of the weather processes (cloudiness, wind speed, demand noise).
    background_peak_mw : float, default 1000.0
        Nominal peak of the background demand [MW].
    latitude, longitude : float, default 35.0, -100.0
        Site for the solar geometry and local time [deg] (southern Great Plains).
    discount_rate : float, default :data:`DISCOUNT_RATE`
        Real discount rate for annualising [-].
    co2_price_usd_per_t : float, default :data:`CO2_PRICE_USD_PER_T`
        Carbon price added to the gas plants' marginal cost [USD/t CO2].

    Returns
    -------
    pypsa.Network
        Unsolved network.  ``capital_cost`` [USD/MW] is the annualised cost times
        ``horizon_h / 8760``; ``marginal_cost`` [USD/MWh]; ``p_max_pu`` of wind and
        solar are the capacity factors [-].

    Raises
    ------
    ExpansionError
        Snapshots not a regular DatetimeIndex, or a non-positive peak.
    """
    import pypsa

    utc, step_h = _utc_snapshots(snapshots)
    if not background_peak_mw > 0:
        raise ExpansionError(f"background_peak_mw={background_peak_mw} must be positive [MW]")
    rng = np.random.default_rng(seed)
    mid = utc + pd.to_timedelta(step_h / 2.0, unit="h")
    naive = utc.tz_localize(None)
    horizon_h = step_h * len(utc)
    scale = horizon_h / HOURS_PER_YEAR

    n = pypsa.Network()
    n.set_snapshots(naive)
    n.snapshot_weightings.loc[:, :] = step_h
    n.add("Carrier", ["AC", "wind", "solar", "battery", "demand"])
    for tech in ("OCGT", "CCGT"):  # t CO2 per MWh_el = heat rate x 0.0531 t/MMBtu (EPA)
        n.add("Carrier", tech, co2_emissions=TECHNOLOGIES[tech]["co2_t_per_mwh"])
    n.add("Bus", EXAMPLE_BUS, carrier="AC")

    solar = _solar_cf(mid, latitude, longitude, rng)
    wind = _wind_cf(mid, longitude, step_h, rng)
    demand = _background_demand(mid, longitude, background_peak_mw, rng, step_h)
    n.add("Load", "background", bus=EXAMPLE_BUS, carrier="demand",
          p_set=pd.Series(demand, index=naive))  # fmt: skip

    for tech in ("OCGT", "CCGT", "wind", "solar"):
        d = TECHNOLOGIES[tech]
        kwargs: dict[str, Any] = {}
        if tech in ("wind", "solar"):
            kwargs["p_max_pu"] = pd.Series(wind if tech == "wind" else solar, index=naive)
        n.add(
            "Generator",
            tech,
            bus=EXAMPLE_BUS,
            carrier=tech,
            p_nom_extendable=True,
            capital_cost=scale * annualised_cost(
                d["overnight_usd_per_kw"], d["fom_usd_per_kw_yr"], d["lifetime_yr"],
                discount_rate=discount_rate),
            marginal_cost=d["marginal_usd_per_mwh"] + co2_price_usd_per_t * d["co2_t_per_mwh"],
            **kwargs,
        )  # fmt: skip
    b = TECHNOLOGIES["battery"]
    n.add(
        "StorageUnit",
        "battery",
        bus=EXAMPLE_BUS,
        carrier="battery",
        p_nom_extendable=True,
        max_hours=b["max_hours"],
        efficiency_store=b["efficiency_store"],
        efficiency_dispatch=b["efficiency_dispatch"],
        cyclic_state_of_charge=True,
        capital_cost=scale * annualised_cost(
            b["overnight_usd_per_kw"], b["fom_usd_per_kw_yr"], b["lifetime_yr"],
            discount_rate=discount_rate),
        marginal_cost=b["marginal_usd_per_mwh"],
    )  # fmt: skip
    logger.info(
        "example network: %d snapshots of %.3g h; demand mean %.0f MW; CF wind %.2f solar %.2f",
        len(naive), step_h, demand.mean(), wind.mean(), solar.mean(),
    )  # fmt: skip
    return n


# --------------------------------------------------------------------------- profiles
def comparison_profiles(
    profile: pd.Series,
    *,
    tdp_mw: float | None = None,
    label: str = "model",
    allow_implausible: Sequence[str] = (),
) -> dict[str, pd.Series]:
    """The usual comparison set: nameplate (TDP), flat mean, and the profile itself.

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Facility PCC power with a declared power unit and a tz-aware index.
    tdp_mw : float, optional
        Nameplate (TDP-based) facility power [MW]; when given, a flat ``"tdp"``
        profile at this level is included.  It must be at least the profile's peak.
    label : str, default "model"
        Key of the profile itself.
    allow_implausible : sequence of str, default ()
        ``["facility_p_mw_per_nameplate"]`` accepts a peak below 5 % of ``tdp_mw``
        (:func:`gridlink.units.check_facility_mw`).

    Returns
    -------
    dict[str, pandas.Series]
        ``{"tdp": flat tdp_mw, "mean": flat mean, label: profile}`` in MW, same index.

    Raises
    ------
    ExpansionError
        ``tdp_mw`` not a positive number, below the profile's peak (a nameplate cannot
        be exceeded: kW labelled MW?) or more than 20x the peak; a peak above 10 GW.
    """
    p = series_to_magnitude(profile, "MW", name="profile")
    if p.isna().any():
        raise ExpansionError(
            f"profile: contains NaN (first at {p.index[np.flatnonzero(p.isna())[0]]}); "
            "supply a complete profile"
        )
    out: dict[str, pd.Series] = {}
    if tdp_mw is not None:
        tdp_mw = as_number(tdp_mw, "tdp_mw", error=ExpansionError, unit="MW", gt=0)
        if tdp_mw < float(p.max()):
            raise ExpansionError(
                f"tdp_mw={tdp_mw} is below the profile's peak {float(p.max()):.3f} MW; "
                "pass the facility's nameplate power (or is the profile in kW labelled MW?)"
            )
        out["tdp"] = series_with_unit(pd.Series(float(tdp_mw), index=p.index), "MW")
    check_facility_mw(p, "profile", nameplate_mw=tdp_mw, allow=allow_implausible,
                      error=ExpansionError)  # fmt: skip
    out["mean"] = series_with_unit(pd.Series(float(p.mean()), index=p.index), "MW")
    out[label] = p
    return out


# --------------------------------------------------------------------------- study
@dataclass(frozen=True)
class ExpansionResult:
    """Side-by-side results of one capacity-expansion study.

    Attributes
    ----------
    summary : pandas.DataFrame, shape (M, L)
        One column per case (profile label, plus ``"no facility"`` when the
        baseline was run), one row per metric; row labels carry the unit, e.g.
        ``"OCGT capacity [MW]"``, ``"battery energy [MWh]"``,
        ``"total system cost [USD]"``, ``"facility coincident peak [MW]"``,
        ``"unserved energy [MWh]"``, ``"price mean [USD/MWh]"``, ``"solve time [s]"``.
    capacity_mw : pandas.DataFrame, shape (C, L)
        Optimal power capacity per carrier [MW] (generators and storage units;
        load shedding excluded).
    storage_energy_mwh : pandas.DataFrame, shape (K, L)
        Optimal storage energy capacity per carrier [MWh].
    price : pandas.DataFrame, shape (S, L)
        Marginal price at the facility bus [USD/MWh] per snapshot (naive UTC index).
    facility_mw : pandas.DataFrame, shape (S, L)
        Facility ``p_set`` on the snapshots [MW] (zeros for the baseline).
    bus : str
        Facility bus.
    networks : dict[str, pypsa.Network]
        The solved networks (only when ``keep_networks=True``).
    """

    summary: pd.DataFrame
    capacity_mw: pd.DataFrame
    storage_energy_mwh: pd.DataFrame
    price: pd.DataFrame
    facility_mw: pd.DataFrame
    bus: str
    networks: dict[str, pypsa.Network] = field(default_factory=dict)


def _add_load_shedding(n: pypsa.Network, voll: float) -> None:
    """One load-shedding generator per bus with load, sized to shed all of it."""
    if LOAD_SHEDDING_CARRIER not in n.carriers.index:
        n.add("Carrier", LOAD_SHEDDING_CARRIER)
    load = n.get_switchable_as_dense("Load", "p_set")
    per_bus = load.T.groupby(n.loads["bus"]).sum().T
    existing = set(n.generators.loc[n.generators["carrier"] == LOAD_SHEDDING_CARRIER, "bus"])
    for bus in per_bus.columns:
        peak = float(per_bus[bus].max())
        if bus in existing or peak <= 0:
            continue
        n.add("Generator", f"load shedding {bus}", bus=bus, carrier=LOAD_SHEDDING_CARRIER,
              p_nom=peak, marginal_cost=voll)  # fmt: skip


def _hint(condition: str) -> str:
    if "infeasible" in condition:
        return (
            "the model has no feasible dispatch; load shedding is added at every loaded bus, "
            "so look at fixed limits (line capacities, p_min_pu, storage/cyclic constraints, "
            "global constraints)"
        )
    if "unbounded" in condition:
        return "a cost is negative or a capacity has no upper bound with negative cost"
    return "inspect the solver log (solver_options={'log_to_console': True}) and the network"


def _solve(n: pypsa.Network, label: str, solver: str, solver_options: Mapping[str, Any]) -> float:
    t0 = time.perf_counter()
    status, condition = n.optimize(
        solver_name=solver, include_objective_constant=False, **dict(solver_options)
    )
    elapsed = time.perf_counter() - t0
    if condition != "optimal":
        raise ExpansionError(
            f"case {label!r}: solver {solver!r} ended with status {status!r}, termination "
            f"condition {condition!r}; nothing is reported from this solve. Hint: {_hint(str(condition))}"
        )
    logger.info("case %r solved in %.2f s, objective %.4g", label, elapsed, n.objective)
    return elapsed


def _check_builds(
    n: pypsa.Network, label: str, capacity_mw: pd.Series, allow: Sequence[str]
) -> None:
    """Refuse builds beyond ``PLAUSIBLE["expansion_build_per_peak"]`` x the system peak."""
    peak = float(n.get_switchable_as_dense("Load", "p_set").sum(axis=1).max())
    if peak <= 0:
        return
    for carrier, mw in capacity_mw.items():
        check_plausible(
            float(mw) / peak,
            "expansion_build_per_peak",
            f"case {label!r}: {carrier} build {float(mw):.4g} MW / system peak {peak:.4g} MW",
            allow=allowed_keys(allow, error=ExpansionError),
            error=ExpansionError,
        )


def _metrics(n: pypsa.Network, bus: str, facility: pd.Series, elapsed: float
             ) -> tuple[dict[str, float], pd.Series, pd.Series, pd.Series]:  # fmt: skip
    w = n.snapshot_weightings["generators"]
    w_obj = n.snapshot_weightings["objective"]
    gens = n.generators
    shed = gens.index[gens["carrier"] == LOAD_SHEDDING_CARRIER]
    real = gens.drop(shed)
    cap = real["p_nom_opt"].groupby(real["carrier"]).sum()
    su = n.storage_units
    cap_su = su["p_nom_opt"].groupby(su["carrier"]).sum()
    energy_su = (su["p_nom_opt"] * su["max_hours"]).groupby(su["carrier"]).sum()
    if len(n.stores):
        energy_su = pd.concat(
            [energy_su, n.stores["e_nom_opt"].groupby(n.stores["carrier"]).sum()]
        ).groupby(level=0).sum()  # fmt: skip
    capacity = pd.concat([cap, cap_su]).groupby(level=0).sum()
    # costs: capital of every asset at its optimal size + weighted operating cost
    capex = float(n.statistics.capex().sum())
    opex = float(n.statistics.opex().sum())
    shed_energy = float((n.generators_t.p[shed].sum(axis=1) * w).sum()) if len(shed) else 0.0
    shed_cost = (
        float((n.generators_t.p[shed] * gens.loc[shed, "marginal_cost"]).sum(axis=1).mul(w_obj).sum())
        if len(shed) else 0.0
    )  # fmt: skip
    total_load = n.get_switchable_as_dense("Load", "p_set").sum(axis=1)
    peak_at = total_load.idxmax()
    price = n.buses_t.marginal_price[bus]
    fac_energy = float((facility * w).sum())
    metrics = {
        "total system cost [USD]": capex + opex,
        "capital cost [USD]": capex,
        "operating cost [USD]": opex,
        "load-shedding cost [USD]": shed_cost,
        "facility energy [MWh]": fac_energy,
        "facility peak [MW]": float(facility.max()),
        "system peak [MW]": float(total_load.max()),
        "facility coincident peak [MW]": float(facility.loc[peak_at]),
        "unserved energy [MWh]": shed_energy,
        "price mean [USD/MWh]": float((price * w).sum() / w.sum()),
        "price max [USD/MWh]": float(price.max()),
        "facility average price [USD/MWh]": (
            float((price * facility * w).sum() / fac_energy) if fac_energy > 0 else float("nan")
        ),
        "solve time [s]": elapsed,
    }
    return metrics, capacity, energy_su, price


def run_expansion_study(
    profiles: Mapping[str, pd.Series],
    *,
    network: pypsa.Network | None = None,
    bus: str | None = None,
    snapshots: pd.DatetimeIndex | None = None,
    seed: int = 0,
    solver: str = "highs",
    solver_options: Mapping[str, Any] | None = None,
    include_baseline: bool = True,
    voll_usd_per_mwh: float = VOLL_USD_PER_MWH,
    keep_networks: bool = False,
    allow_implausible: Sequence[str] = (),
) -> ExpansionResult:
    """Solve the same capacity expansion once per facility profile and compare.

    For each ``(label, profile)``: copy ``network``, add the facility with
    :func:`gridlink.grid.pypsa.add_facility_load` at ``bus``, add a load-shedding
    generator at every loaded bus (marginal cost ``voll_usd_per_mwh``, sized to the
    bus's peak load, so that unserved energy is reported instead of infeasibility),
    optimise with ``solver`` and collect capacities, costs, the facility's share
    of the system peak, unserved energy and prices.

    Parameters
    ----------
    profiles : Mapping[str, pandas.Series]
        Label -> facility PCC power (declared unit, tz-aware index), e.g. from
        :func:`comparison_profiles` (``"tdp"``, ``"mean"``, ``"model"``).  Each must
        cover every snapshot.
    network : pypsa.Network, optional
        Network to study (not modified; each case works on ``network.copy()``).
        Default: :func:`example_network` on ``snapshots``.
    bus : str, optional
        Facility bus.  Default :data:`EXAMPLE_BUS` with the example network;
        required with a user network.
    snapshots : pandas.DatetimeIndex, optional
        Example network only.  Default: hourly UTC snapshots over the whole hours
        that every profile covers.
    seed : int, default 0
        Example network only: weather seed.
    solver : str, default "highs"
        linopy solver name.
    solver_options : Mapping, optional
        Passed to ``n.optimize``; default for HiGHS ``{"log_to_console": False}``.
    include_baseline : bool, default True
        Also solve without the facility (column ``"no facility"``).
    voll_usd_per_mwh : float, default :data:`VOLL_USD_PER_MWH`
        Value of lost load [USD/MWh].
    keep_networks : bool, default False
        Keep the solved networks in :attr:`ExpansionResult.networks`.
    allow_implausible : sequence of str, default ()
        Override keys of :data:`traces.fields.PLAUSIBLE`: ``"facility_p_mw"`` (a
        facility peak above 10 GW), ``"expansion_build_per_peak"`` (a carrier built
        beyond 100x the system's peak load).

    Returns
    -------
    ExpansionResult

    Raises
    ------
    ExpansionError
        No profiles, a user network without ``bus``, profiles that share no whole
        hour, a solve that is not optimal (status, condition and a hint), or a build
        beyond the plausible multiple of the system's peak load (a facility profile
        in the wrong unit).
    gridlink.grid.pypsa.PyPSAAdapterError, gridlink.units.UnitError
        A profile that does not fit the network (see :func:`add_facility_load`).
    """
    if not profiles:
        raise ExpansionError("profiles: give at least one {label: profile}")
    for key, prof in profiles.items():  # implausible sizes are refused before any solve
        where = f"profiles[{key!r}]"
        check_facility_mw(series_to_magnitude(prof, "MW", name=where), where,
                          allow=allow_implausible, error=ExpansionError)  # fmt: skip
    if "no facility" in profiles:
        raise ExpansionError("profiles: the label 'no facility' is reserved for the baseline")
    if network is None:
        if bus is not None and bus != EXAMPLE_BUS:
            raise ExpansionError(f"bus={bus!r}: the example network has one bus, {EXAMPLE_BUS!r}")
        bus = EXAMPLE_BUS
        if snapshots is None:
            snapshots = _common_hours(profiles)
        network = example_network(snapshots, seed=seed)
    elif bus is None:
        raise ExpansionError("bus: required with a user network (the bus to connect the facility)")
    elif snapshots is not None:
        raise ExpansionError("snapshots: only for the example network; set them on your network")
    if solver_options is None:
        solver_options = {"log_to_console": False} if solver == "highs" else {}

    cases: list[tuple[str, pd.Series | None]] = [(k, v) for k, v in profiles.items()]
    if include_baseline:
        cases.insert(0, ("no facility", None))
    summary, caps, energies, prices, facility_cols = {}, {}, {}, {}, {}
    kept: dict[str, Any] = {}
    for label, profile in cases:
        n = network.copy()
        if profile is None:
            facility = pd.Series(0.0, index=n.snapshots)
        else:
            facility = add_facility_load(
                n, profile, bus=bus, allow_implausible=allow_implausible
            ).iloc[:, 0]
        _add_load_shedding(n, voll_usd_per_mwh)
        elapsed = _solve(n, label, solver, solver_options)
        metrics, cap, energy, price = _metrics(n, bus, facility, elapsed)
        _check_builds(n, label, cap, allow_implausible)
        summary[label], caps[label], energies[label] = metrics, cap, energy
        prices[label], facility_cols[label] = price, facility
        if keep_networks:
            kept[label] = n

    capacity = pd.DataFrame(caps).fillna(0.0)
    storage = pd.DataFrame(energies).fillna(0.0)
    rows = {f"{c} capacity [MW]": capacity.loc[c] for c in capacity.index}
    rows.update({f"{c} energy [MWh]": storage.loc[c] for c in storage.index})
    table = pd.concat([pd.DataFrame(rows).T, pd.DataFrame(summary)])
    price_df = pd.DataFrame(prices)
    price_df.attrs["unit"] = "USD/MWh"
    fac_df = pd.DataFrame(facility_cols)
    fac_df.attrs["unit"] = "MW"
    capacity.attrs["unit"] = "MW"
    storage.attrs["unit"] = "MWh"
    return ExpansionResult(
        summary=table,
        capacity_mw=capacity,
        storage_energy_mwh=storage,
        price=price_df,
        facility_mw=fac_df,
        bus=bus,
        networks=kept,
    )


def _common_hours(profiles: Mapping[str, pd.Series]) -> pd.DatetimeIndex:
    """Hourly UTC snapshots over the whole hours every profile covers."""
    start, end = None, None
    for label, p in profiles.items():
        idx = p.index
        if not isinstance(idx, pd.DatetimeIndex) or idx.tz is None or len(idx) < 2:
            raise ExpansionError(
                f"profiles[{label!r}]: needs a tz-aware DatetimeIndex with >= 2 samples to "
                "derive snapshots; or pass snapshots= explicitly"
            )
        step = idx[1] - idx[0]
        s, e = idx[0].tz_convert("UTC"), idx[-1].tz_convert("UTC") + step
        start = s if start is None else max(start, s)
        end = e if end is None else min(end, e)
    assert start is not None and end is not None
    first, last = start.ceil("h"), end.floor("h")
    hours = int((last - first) / pd.Timedelta(hours=1))
    if hours < 2:
        raise ExpansionError(
            f"profiles: they share fewer than 2 whole UTC hours ({start} to {end}); "
            "pass longer profiles or snapshots="
        )
    return pd.date_range(first, periods=hours, freq="h")
