"""pandapower feeder adapter: a datacenter's PCC load on a distribution feeder over time.

A facility is attached to a bus of any pandapower network as one load (consumer
sign convention: positive ``p_mw`` draws active power from the grid, positive
``q_mvar`` absorbs reactive power, i.e. a lagging power factor).  Its profile is
played as a time series of AC power flows; the results (bus voltages, line and
transformer loading, convergence) come back on the profile's UTC timestamps,
together with the steps and durations in violation of planning limits and the
binding element.  On top sit :func:`compare_profiles` (several profiles of the same
facility, one table) and :func:`hosting_capacity` (the largest facility a bus takes
without violations, by bisection).

Two backends solve the same model:

``"pandapower"``
    pandapower's own time-series loop (``DFData`` + ``ConstControl`` +
    ``OutputWriter`` + ``run_timeseries``), the reference.  A step whose power
    flow fails is flagged from the OutputWriter's ``powerflow_failed`` column and its
    results are set to NaN (pandapower leaves the previous or zero values in the
    result arrays of a failed step).
``"fast"``
    The admittance matrix and injections are taken once from pandapower's internal
    model (``net._ppc["internal"]``) and each *distinct* facility injection is
    solved with lightsim2grid's Newton-Raphson solver (C++, KLU), warm-started from
    the nearest solved injection; branch currents and loadings use pandapower's
    formulas (``pandapower.timeseries.read_batch_results``), vectorised.  Valid when
    nothing but the facility changes between steps: no controllers in the network,
    no voltage-dependent loads, no distributed slack, no enforced reactive limits
    (checked; otherwise ``"auto"`` falls back to ``"pandapower"``).
``"auto"`` (default)
    ``"fast"`` when valid, else ``"pandapower"``.

Both backends converge to the same tolerance (``tolerance_mva = 1e-8`` per unit
mismatch); the voltages agree to about 1e-9 pu (see ``benchmarks/bench_feeder.py``).

The background loads and generators of the network stay at their static values
(``p_mw * scaling``) over the whole period; scale them with
``load_network(..., load_scaling=...)`` or ``net.load["scaling"]``.

References
----------
.. [1] L. Thurner et al., "pandapower - An Open-Source Python Tool for Convenient
   Modeling, Analysis, and Optimization of Electric Power Systems," IEEE Trans.
   Power Syst. 33(6), 6510-6521, 2018. doi:10.1109/TPWRS.2018.2829021
.. [2] B. Donnot, "LightSim2grid: a c++ backend for Grid2Op," 2020.
   https://github.com/Grid2Op/lightsim2grid
.. [3] K. Strunz et al., "Benchmark Systems for Network Integration of Renewable and
   Distributed Energy Resources," CIGRE TF C6.04.02, 2014 (the CIGRE MV network).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from gridlink.units import UnitError, series_to_magnitude

__all__ = [
    "NETWORKS",
    "FeederError",
    "Limits",
    "FeederResult",
    "HostingCapacityResult",
    "load_network",
    "read_profile",
    "read_profile_q",
    "prepare_profile",
    "reactive_power_mvar",
    "attach_facility",
    "run_feeder",
    "compare_profiles",
    "hosting_capacity",
    "plot_voltage",
]

logger = logging.getLogger(__name__)

Backend = Literal["auto", "fast", "pandapower"]

#: Short names accepted by :func:`load_network` -> ``pandapower.networks`` function.
NETWORKS: dict[str, str] = {
    "cigre_mv": "create_cigre_network_mv",
    "mv_oberrhein": "mv_oberrhein",
    "case33bw": "case33bw",
}

#: Newton-Raphson settings shared by both backends (pandapower's defaults).
TOLERANCE_MVA = 1e-8
MAX_ITERATION = 10

_SQRT3 = math.sqrt(3.0)


class FeederError(ValueError):
    """Bad input to the feeder adapter, or a network the adapter cannot study."""


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Limits:
    """Planning limits a feeder study checks at every step.

    Parameters
    ----------
    vm_min_pu, vm_max_pu : float
        Allowed steady-state bus voltage band [pu] (default 0.95-1.05, e.g. EN 50160
        planning practice for MV).
    line_loading_max_percent : float
        Largest line loading [%] of ``max_i_ka * df * parallel``.
    trafo_loading_max_percent : float
        Largest transformer loading [%] of the rating (pandapower's
        ``trafo_loading`` option, current-based by default).

    Raises
    ------
    FeederError
        If a limit is not finite or the voltage band is empty.
    """

    vm_min_pu: float = 0.95
    vm_max_pu: float = 1.05
    line_loading_max_percent: float = 100.0
    trafo_loading_max_percent: float = 100.0

    def __post_init__(self) -> None:
        for name in (
            "vm_min_pu",
            "vm_max_pu",
            "line_loading_max_percent",
            "trafo_loading_max_percent",
        ):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise FeederError(
                    f"Limits.{name}: expected a finite positive number, got {value!r}"
                )
        if self.vm_min_pu >= self.vm_max_pu:
            raise FeederError(
                f"Limits: vm_min_pu ({self.vm_min_pu}) must be below vm_max_pu ({self.vm_max_pu})"
            )


def load_network(name: str, *, load_scaling: float = 1.0) -> Any:
    """Load one of the networks pandapower ships, by short name (offline).

    Parameters
    ----------
    name : str
        One of :data:`NETWORKS`: ``"cigre_mv"`` (CIGRE MV benchmark, 20 kV, 15 buses,
        loads at their design peak), ``"mv_oberrhein"`` (20 kV, 179 buses, "load"
        scenario), ``"case33bw"`` (Baran & Wu 33-bus, 12.66 kV).
    load_scaling : float, default 1.0
        Multiplier written to ``net.load["scaling"]`` for every existing load
        (dimensionless, >= 0).  The CIGRE MV loads at 1.0 are its design peak and
        already violate 0.95 pu and 100 % transformer loading; studies of the
        facility alone usually scale the background, e.g. ``0.5``.

    Returns
    -------
    pandapower.pandapowerNet
        A fresh network object (each call builds a new one).

    Raises
    ------
    FeederError
        For an unknown name (the message lists the known ones) or a negative or
        non-finite ``load_scaling``.
    """
    import pandapower.networks as pn

    key = name.strip().lower() if isinstance(name, str) else name
    if key not in NETWORKS:
        raise FeederError(f"network: unknown name {name!r}; choose one of {sorted(NETWORKS)}")
    if (
        not isinstance(load_scaling, int | float)
        or not math.isfinite(load_scaling)
        or load_scaling < 0
    ):
        raise FeederError(f"load_scaling: expected a finite number >= 0, got {load_scaling!r}")
    net = getattr(pn, NETWORKS[key])()
    if len(net.load):
        net.load["scaling"] = net.load["scaling"].astype(np.float64) * float(load_scaling)
    net.name = key
    return net


def read_profile(path: str | Any) -> pd.Series:
    """Read a facility PCC profile file (the ``gridlink feeder`` input format).

    The format is :mod:`gridlink.profiles`'s: Parquet (or CSV) with a ``p_mw`` column
    [MW, consumer sign convention] on a tz-aware time index or ``time`` column; an
    optional ``q_mvar`` column [Mvar] is read by :func:`read_profile_q`.  This is what
    ``FacilityResult.pcc_mw.to_frame().to_parquet(path)`` writes.

    Returns
    -------
    pandas.Series, shape (T,)
        ``p_mw`` [MW] with ``attrs["unit"] == "MW"`` on a UTC DatetimeIndex.

    Raises
    ------
    FeederError
        If the file has no power column, no time (index or ``time`` column), or naive
        times.
    """
    from gridlink.profiles import ProfileFileError
    from gridlink.profiles import read_profile as _read

    try:
        return _read(path)
    except ProfileFileError as exc:
        raise FeederError(str(exc)) from exc


def read_profile_q(path: str | Any) -> pd.Series | None:
    """The optional ``q_mvar`` column [Mvar] of a profile file (see :func:`read_profile`), or None."""
    from gridlink.profiles import ProfileFileError, read_column, read_profile_frame

    try:
        frame = read_profile_frame(path)
    except ProfileFileError as exc:
        raise FeederError(str(exc)) from exc
    if "q_mvar" not in frame:
        return None
    return read_column(frame, "q_mvar", "Mvar")


def prepare_profile(
    profile: pd.Series, *, freq: str | pd.Timedelta | None = None, name: str = "profile"
) -> pd.Series:
    """Validate a facility profile and bring it to MW on a regular UTC index.

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Active power with a declared unit (``attrs["unit"]`` or a ``_mw``/``_kw``/
        ``_w`` name) on a tz-aware, strictly increasing, regular DatetimeIndex
        (interval-beginning labels: the value at ``t`` holds over ``[t, t + step)``).
    freq : str or pandas.Timedelta, optional
        Study step; when given, the profile is resampled energy-preservingly with
        :func:`gridlink.resample.resample_energy`.
    name : str
        Argument name used in error messages.

    Returns
    -------
    pandas.Series, shape (T',)
        Float64 active power [MW], name ``p_mw``, ``attrs["unit"] == "MW"``, UTC index.

    Raises
    ------
    gridlink.units.UnitError
        If the Series declares no unit or not a power (e.g. ``W/m^2``), or a bare
        number / quantity is given instead of a Series.
    FeederError
        If the index is not a tz-aware DatetimeIndex, values are missing or not
        finite, there are fewer than 1 step, or the step is irregular (resample
        first, or pass ``freq``).
    """
    from gridlink.resample import infer_step, resample_energy

    if not isinstance(profile, pd.Series):
        raise UnitError(
            f"{name}: expected a pandas Series of power with a declared unit and a UTC "
            f"DatetimeIndex, got a bare {type(profile).__name__}"
        )
    p = series_to_magnitude(profile, "MW", name=name)
    if not isinstance(p.index, pd.DatetimeIndex):
        raise FeederError(
            f"{name}: the index must be a pandas DatetimeIndex, got {type(p.index).__name__}"
        )
    if p.index.tz is None:
        raise FeederError(
            f"{name}: the DatetimeIndex is naive; localise it explicitly, e.g. "
            "profile.tz_localize('UTC') (or the zone its wall-clock times are in)"
        )
    if len(p) == 0:
        raise FeederError(f"{name}: the profile is empty")
    bad = ~np.isfinite(p.to_numpy())
    if bad.any():
        first = p.index[np.flatnonzero(bad)[0]]
        raise FeederError(
            f"{name}: {int(bad.sum())} missing or non-finite value(s), first at {first}; "
            "fill or drop them explicitly (nothing is filled here)"
        )
    if freq is not None:
        p = resample_energy(p, freq)
    p = p.tz_convert("UTC")
    if len(p) >= 2:
        infer_step(p.index)  # raises ResampleError for an irregular or unsorted index
    out = pd.Series(p.to_numpy(np.float64), index=p.index, name="p_mw")
    out.index.name = "time"
    out.attrs["unit"] = "MW"
    return out


def _step_hours(index: pd.DatetimeIndex, step: pd.Timedelta | None) -> float:
    from gridlink.resample import infer_step

    if len(index) >= 2:
        return infer_step(index) / pd.Timedelta(hours=1)
    if step is None:
        raise FeederError(
            "profile: a single-step profile has no inferable step; pass step=pd.Timedelta(...)"
        )
    return pd.Timedelta(step) / pd.Timedelta(hours=1)


def reactive_power_mvar(p_mw: np.ndarray, *, pf: float = 0.95, lagging: bool = True) -> np.ndarray:
    """Reactive power of a load at a constant power factor.

    ``q = p * tan(arccos(pf))`` with the sign of ``p``; ``lagging=True`` gives
    ``q > 0`` for ``p > 0`` (the load absorbs reactive power, consumer convention).

    Parameters
    ----------
    p_mw : numpy.ndarray, shape (T,)
        Active power [MW].
    pf : float, default 0.95
        Displacement power factor, ``0 < pf <= 1``.
    lagging : bool, default True
        Lagging (inductive) when True, leading (capacitive, ``q < 0``) when False.

    Returns
    -------
    numpy.ndarray, shape (T,)
        Reactive power [Mvar].

    Raises
    ------
    FeederError
        If ``pf`` is not in (0, 1].
    """
    if not isinstance(pf, int | float) or not (0.0 < pf <= 1.0):
        raise FeederError(f"pf: power factor must be in (0, 1], got {pf!r} (e.g. 0.95)")
    factor = math.tan(math.acos(float(pf)))
    q = np.asarray(p_mw, dtype=np.float64) * factor
    return q if lagging else -q


def attach_facility(net: Any, bus: int, *, name: str = "gridlink facility") -> int:
    """Create the facility load on ``bus`` (in place), with zero power.

    Consumer sign convention (pandapower ``create_load``): positive ``p_mw`` is
    active power drawn from the grid, positive ``q_mvar`` reactive power absorbed.

    Parameters
    ----------
    net : pandapower.pandapowerNet
        Network to modify.
    bus : int
        Index of an in-service bus in ``net.bus``.
    name : str
        Name of the new load.

    Returns
    -------
    int
        Index of the new row in ``net.load``.

    Raises
    ------
    FeederError
        If ``bus`` is not in ``net.bus`` or is out of service.
    """
    import pandapower as pp

    _check_bus(net, bus)
    return int(pp.create_load(net, bus=int(bus), p_mw=0.0, q_mvar=0.0, name=name, scaling=1.0))


def _check_bus(net: Any, bus: Any) -> None:
    if isinstance(bus, bool) or not isinstance(bus, int | np.integer):
        raise FeederError(f"bus: expected an integer index of net.bus, got {bus!r}")
    if int(bus) not in net.bus.index:
        raise FeederError(
            f"bus: {bus} is not in net.bus (indices {net.bus.index.min()}..{net.bus.index.max()})"
        )
    if not bool(net.bus.at[int(bus), "in_service"]):
        raise FeederError(f"bus: {bus} is out of service; choose an in-service bus")


# -------------------------------------------------------------------------- results


@dataclass(frozen=True)
class FeederResult:
    """Time-series results of one facility profile on one feeder.

    All tables are indexed by the profile's UTC timestamps (``time``); columns of
    the element tables are the pandapower indices (``net.bus.index`` etc.).
    Steps whose power flow did not converge hold NaN in every table and False in
    :attr:`converged`.

    Attributes
    ----------
    bus : int
        Bus the facility is attached to.
    load_index : int
        Index of the facility in ``net.load`` of the studied copy.
    backend : str
        Backend that ran: ``"fast"`` (lightsim2grid on pandapower's model) or
        ``"pandapower"`` (``run_timeseries``).
    limits : Limits
        Limits the violations refer to.
    step_h : float
        Duration of one step [h].
    steps : pandas.Series, shape (T,)
        The integer-step <-> timestamp mapping used by pandapower's time series:
        index is the step ``0..T-1``, values the UTC timestamps.
    p_mw, q_mvar : pandas.Series, shape (T,)
        The facility's active [MW] and reactive [Mvar] power (consumer convention).
    converged : pandas.Series of bool, shape (T,)
        Whether the power flow of each step converged.
    vm_pu : pandas.DataFrame, shape (T, n_bus)
        Bus voltage magnitudes [pu]; NaN for out-of-service buses.
    line_loading_percent : pandas.DataFrame, shape (T, n_line)
        Line loading [%] (``max(i_from, i_to) / (max_i_ka * df * parallel)``).
    trafo_loading_percent : pandas.DataFrame, shape (T, n_trafo)
        Two-winding transformer loading [%].
    n_power_flows : int
        Number of power flows actually solved (the fast backend solves each
        distinct facility injection once).
    elapsed_s : float
        Wall-clock time of the solve [s].
    """

    bus: int
    load_index: int
    backend: str
    limits: Limits
    step_h: float
    steps: pd.Series
    p_mw: pd.Series
    q_mvar: pd.Series
    converged: pd.Series
    vm_pu: pd.DataFrame
    line_loading_percent: pd.DataFrame
    trafo_loading_percent: pd.DataFrame
    n_power_flows: int
    elapsed_s: float
    network_name: str = ""
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # ---- per-step envelopes
    @property
    def time(self) -> pd.DatetimeIndex:
        """The UTC timestamps of the steps, shape (T,)."""
        return self.p_mw.index

    @property
    def n_not_converged(self) -> int:
        """Number of steps whose power flow did not converge."""
        return int((~self.converged).sum())

    @property
    def vm_min_pu(self) -> pd.Series:
        """Lowest bus voltage at each step [pu], shape (T,); NaN where not converged."""
        return _row_reduce(self.vm_pu, "min", "vm_min_pu")

    @property
    def vm_max_pu(self) -> pd.Series:
        """Highest bus voltage at each step [pu], shape (T,); NaN where not converged."""
        return _row_reduce(self.vm_pu, "max", "vm_max_pu")

    @property
    def line_loading_max_percent(self) -> pd.Series:
        """Highest line loading at each step [%], shape (T,)."""
        return _row_reduce(self.line_loading_percent, "max", "line_loading_max_percent")

    @property
    def trafo_loading_max_percent(self) -> pd.Series:
        """Highest transformer loading at each step [%], shape (T,)."""
        return _row_reduce(self.trafo_loading_percent, "max", "trafo_loading_max_percent")

    # ---- violations
    @property
    def violations(self) -> pd.DataFrame:
        """Boolean table of the steps in violation, shape (T, 6).

        Columns ``undervoltage``, ``overvoltage``, ``line_overload``,
        ``trafo_overload``, ``not_converged`` and ``any``.  A non-converged step
        counts as a violation (its state is unknown), never as a pass.
        """
        if "violations" not in self._cache:
            lim = self.limits
            with np.errstate(invalid="ignore"):
                table = pd.DataFrame(
                    {
                        "undervoltage": (self.vm_min_pu < lim.vm_min_pu).to_numpy(),
                        "overvoltage": (self.vm_max_pu > lim.vm_max_pu).to_numpy(),
                        "line_overload": (
                            self.line_loading_max_percent > lim.line_loading_max_percent
                        ).to_numpy(),
                        "trafo_overload": (
                            self.trafo_loading_max_percent > lim.trafo_loading_max_percent
                        ).to_numpy(),
                        "not_converged": ~self.converged.to_numpy(bool),
                    },
                    index=self.time,
                )
            table["any"] = table.any(axis=1)
            self._cache["violations"] = table
        return self._cache["violations"]

    def summary(self) -> pd.DataFrame:
        """One row per constraint: how often, how long and how badly it is violated.

        Returns
        -------
        pandas.DataFrame, shape (5, 7)
            Index ``undervoltage``, ``overvoltage``, ``line_overload``,
            ``trafo_overload``, ``not_converged``; columns ``limit`` (pu or %),
            ``worst`` (lowest voltage / highest voltage or loading over converged
            steps), ``element`` (``"bus 7"``, ``"line 1"``, ``"trafo 0"`` where
            ``worst`` occurs), ``worst_time`` (UTC), ``n_steps`` and ``duration_h``
            in violation [h], ``margin`` (relative headroom to the limit,
            negative when violated: ``(worst - limit) / limit`` for the lower
            voltage limit and ``(limit - worst) / limit`` otherwise).
        """
        lim = self.limits
        viol = self.violations
        rows = {
            "undervoltage": (*_extreme(self.vm_pu, "min", "bus"), lim.vm_min_pu),
            "overvoltage": (*_extreme(self.vm_pu, "max", "bus"), lim.vm_max_pu),
            "line_overload": (
                *_extreme(self.line_loading_percent, "max", "line"),
                lim.line_loading_max_percent,
            ),
            "trafo_overload": (
                *_extreme(self.trafo_loading_percent, "max", "trafo"),
                lim.trafo_loading_max_percent,
            ),
        }
        records = []
        for key, (worst, element, when, limit) in rows.items():
            if np.isnan(worst):
                margin = np.nan
            elif key == "undervoltage":
                margin = (worst - limit) / limit
            else:
                margin = (limit - worst) / limit
            n = int(viol[key].sum())
            records.append(
                {
                    "constraint": key,
                    "limit": limit,
                    "worst": worst,
                    "element": element,
                    "worst_time": when,
                    "n_steps": n,
                    "duration_h": n * self.step_h,
                    "margin": margin,
                }
            )
        n_nc = self.n_not_converged
        first_nc = self.time[~self.converged.to_numpy(bool)][0] if n_nc else pd.NaT
        records.append(
            {
                "constraint": "not_converged",
                "limit": np.nan,
                "worst": np.nan,
                "element": "power flow" if n_nc else "",
                "worst_time": first_nc,
                "n_steps": n_nc,
                "duration_h": n_nc * self.step_h,
                "margin": -np.inf if n_nc else np.nan,
            }
        )
        table = pd.DataFrame.from_records(records).set_index("constraint")
        table["worst_time"] = pd.to_datetime(table["worst_time"], utc=True)
        return table

    @property
    def passes(self) -> bool:
        """True when no step violates a limit and every power flow converged."""
        return not bool(self.violations["any"].any())

    @property
    def binding(self) -> pd.Series:
        """The binding constraint: the row of :meth:`summary` with the smallest margin.

        A Series with ``constraint`` (the summary's index label) added; its name is
        the constraint too.  Non-convergence binds first when any step diverged.
        """
        table = self.summary()
        key = table["margin"].astype(float).idxmin()
        row = table.loc[key].copy()
        row["constraint"] = key
        return row

    def to_frame(self) -> pd.DataFrame:
        """Per-step table for export, shape (T, 10).

        Columns: ``step``, ``p_mw``, ``q_mvar``, ``converged``, ``vm_min_pu``,
        ``vm_max_pu``, ``line_loading_max_percent``, ``trafo_loading_max_percent``,
        ``violation`` (any), ``facility_bus_vm_pu``; UTC index ``time``.
        """
        frame = pd.DataFrame(
            {
                "step": self.steps.index.to_numpy(),
                "p_mw": self.p_mw.to_numpy(),
                "q_mvar": self.q_mvar.to_numpy(),
                "converged": self.converged.to_numpy(bool),
                "vm_min_pu": self.vm_min_pu.to_numpy(),
                "vm_max_pu": self.vm_max_pu.to_numpy(),
                "line_loading_max_percent": self.line_loading_max_percent.to_numpy(),
                "trafo_loading_max_percent": self.trafo_loading_max_percent.to_numpy(),
                "violation": self.violations["any"].to_numpy(),
                "facility_bus_vm_pu": self.vm_pu[self.bus].to_numpy(),
            },
            index=self.time,
        )
        frame.index.name = "time"
        return frame


def _row_reduce(frame: pd.DataFrame, how: str, name: str) -> pd.Series:
    values = frame.to_numpy(np.float64)
    if values.shape[1] == 0:
        return pd.Series(np.full(len(frame), np.nan), index=frame.index, name=name)
    # rows that are all NaN (not converged) stay NaN without a RuntimeWarning
    out = np.full(len(frame), np.nan)
    ok = ~np.all(np.isnan(values), axis=1)
    if ok.any():
        reducer = np.nanmin if how == "min" else np.nanmax
        out[ok] = reducer(values[ok], axis=1)
    return pd.Series(out, index=frame.index, name=name)


def _extreme(frame: pd.DataFrame, how: str, kind: str) -> tuple[float, str, Any]:
    values = frame.to_numpy(np.float64)
    if values.size == 0 or np.all(np.isnan(values)):
        return np.nan, "", pd.NaT
    flat = np.nanargmin(values) if how == "min" else np.nanargmax(values)
    i, j = np.unravel_index(flat, values.shape)
    return float(values[i, j]), f"{kind} {frame.columns[j]}", frame.index[i]


# -------------------------------------------------------------------------- backends


def _fast_path_blockers(net: Any) -> list[str]:
    """Reasons why the fast backend would not reproduce pandapower (empty if none)."""
    reasons = []
    if "controller" in net and len(net.controller) and net.controller["in_service"].any():
        reasons.append(f"{int(net.controller['in_service'].sum())} controller(s) in net.controller")
    load = net.load[net.load["in_service"].astype(bool)]
    for col in ("const_z_p_percent", "const_i_p_percent", "const_z_q_percent", "const_i_q_percent",
                "const_z_percent", "const_i_percent"):  # fmt: skip
        if col in load and (load[col].fillna(0.0) != 0).any():
            reasons.append(f"voltage-dependent loads (net.load.{col} != 0)")
            break
    if "slack_weight" in net.gen and (net.gen["slack_weight"].fillna(0.0) != 0).any():
        reasons.append("distributed slack weights on net.gen")
    for table in ("trafo3w", "impedance", "xward", "ward", "svc", "tcsc", "ssc", "vsc", "dcline"):
        if table in net and len(net[table]) and net[table]["in_service"].any():
            reasons.append(f"net.{table} (not checked against the fast path)")
    return reasons


def _pp_runpp(net: Any, **kwargs: Any) -> None:
    import pandapower as pp

    pp.runpp(
        net,
        numba=False,
        tolerance_mva=TOLERANCE_MVA,
        max_iteration=MAX_ITERATION,
        **kwargs,
    )


class _FastModel:
    """pandapower's internal model of ``net`` with the facility load at zero.

    Built from one ordinary ``pandapower.runpp``; then :meth:`solve` runs one
    lightsim2grid Newton-Raphson per distinct facility injection ``(p, q)``.
    """

    def __init__(self, net: Any, bus: int) -> None:
        from pandapower.auxiliary import LoadflowNotConverged
        from pandapower.pypower.idx_brch import F_BUS, T_BUS
        from pandapower.pypower.idx_bus import BASE_KV
        from pandapower.results_bus import _get_bus_idx

        try:
            from lightsim2grid.algorithm import NRSing_KLU as _Solver
        except ImportError:  # pragma: no cover - KLU is part of the wheels
            from lightsim2grid.algorithm import NRSing_SparseLU as _Solver

        try:
            _pp_runpp(net)
        except LoadflowNotConverged as exc:
            raise FeederError(
                "net: the power flow of the network without the facility does not converge; "
                "check the network (pandapower.diagnostic(net))"
            ) from exc
        internal = net._ppc["internal"]
        self.net = net
        self.base_mva = float(internal["baseMVA"])
        self.ybus = internal["Ybus"].tocsc()
        self.ybus.sum_duplicates()
        self.sbus0 = np.asarray(internal["Sbus"], dtype=np.complex128).copy()
        self.v0 = np.asarray(internal["V"], dtype=np.complex128).copy()
        self.ref = np.asarray(internal["ref"], dtype=np.int64)
        self.pv = np.asarray(internal["pv"], dtype=np.int64)
        self.pq = np.asarray(internal["pq"], dtype=np.int64)
        self.slack_weights = np.zeros(len(self.v0))
        self.k = int(net._pd2ppc_lookups["bus"][int(bus)])
        if self.k >= len(self.v0) or self.k < 0:
            raise FeederError(f"bus: {bus} is not energised (not in pandapower's internal model)")
        if self.k in set(self.ref.tolist()) or self.k in set(self.pv.tolist()):
            raise FeederError(
                f"bus: {bus} is a slack or voltage-controlled (PV) bus; the facility's power "
                "would be absorbed by its generator. Choose a PQ bus."
            )
        self.solver = _Solver()
        # branch data (in-service branches of ppci) for the flows
        branch = internal["branch"]
        self.yf = internal["Yf"].tocsr()
        self.yt = internal["Yt"].tocsr()
        self.f_bus = np.real(branch[:, F_BUS]).astype(np.int64)
        self.t_bus = np.real(branch[:, T_BUS]).astype(np.int64)
        self.base_kv = np.real(internal["bus"][:, BASE_KV]).astype(np.float64)
        self.branch_is = np.asarray(internal["branch_is"], dtype=bool)
        self.n_branch_ppc = int(net._ppc["branch"].shape[0])
        self.n_bus_ppc = int(net._ppc["bus"].shape[0])
        self.bus_idx = np.asarray(_get_bus_idx(net), dtype=np.int64)
        self.lookups = net._pd2ppc_lookups["branch"]
        self.trafo_loading = net._options["trafo_loading"]

    def solve(self, p_mw: np.ndarray, q_mvar: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Solve each distinct ``(p, q)``; return V (T, n_ppci), converged (T,), n solved."""
        pq_pairs = np.column_stack([p_mw, q_mvar])
        uniq, inverse = np.unique(pq_pairs, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        n_u = len(uniq)
        v_u = np.full((n_u, len(self.v0)), np.nan + 0j, dtype=np.complex128)
        ok_u = np.zeros(n_u, dtype=bool)
        # np.unique sorts by p then q: neighbours are close, so warm starts help
        v_start = self.v0
        for i in range(n_u):
            sbus = self.sbus0.copy()
            sbus[self.k] -= complex(uniq[i, 0], uniq[i, 1]) / self.base_mva
            starts = (v_start,) if v_start is self.v0 else (v_start, self.v0)
            for v_init in starts:
                self.solver.solve(
                    self.ybus, v_init, sbus, self.ref, self.slack_weights, self.pv, self.pq,
                    MAX_ITERATION, TOLERANCE_MVA,
                )  # fmt: skip
                if self.solver.converged():
                    break
            if self.solver.converged():
                v = self.solver.get_Vm() * np.exp(1j * self.solver.get_Va())
                v_u[i] = v
                ok_u[i] = True
                v_start = v
        return v_u, ok_u, inverse

    def tables(self, v: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """vm (n, n_bus), line loading (n, n_line), trafo loading (n, n_trafo) from V (n, n_ppci)."""
        net = self.net
        n = v.shape[0]
        vm_ppci = np.abs(v)
        vm_ppc = np.full((n, self.n_bus_ppc), np.nan)
        vm_ppc[:, : vm_ppci.shape[1]] = vm_ppci
        vm_bus = vm_ppc[:, self.bus_idx]
        # branch currents as pandapower.pf.pfsoln_numba.calc_branch_flows_batch, vectorised
        i_abs = []
        for y, idx in ((self.yf, self.f_bus), (self.yt, self.t_bus)):
            s = v[:, idx] * np.conj((y @ v.T).T) * self.base_mva
            with np.errstate(invalid="ignore", divide="ignore"):
                i_ka = np.abs(s) / (np.abs(v[:, idx]) * self.base_kv[idx]) / _SQRT3
            full = np.full((n, self.n_branch_ppc), np.nan)
            full[:, self.branch_is] = i_ka
            i_abs.append(full)
        line_loading = np.full((n, len(net.line)), np.nan)
        if "line" in self.lookups and len(net.line):
            f, t = self.lookups["line"]
            i_max = (net.line["max_i_ka"] * net.line["df"] * net.line["parallel"]).to_numpy(
                np.float64
            )
            line_loading = np.maximum(i_abs[0][:, f:t], i_abs[1][:, f:t]) / i_max * 100.0
        trafo_loading = np.full((n, len(net.trafo)), np.nan)
        if "trafo" in self.lookups and len(net.trafo):
            f, t = self.lookups["trafo"]
            tr = net.trafo
            sn = tr["sn_mva"].to_numpy(np.float64)
            if self.trafo_loading == "current":
                hv = i_abs[0][:, f:t] * tr["vn_hv_kv"].to_numpy(np.float64) * _SQRT3 / sn * 100.0
                lv = i_abs[1][:, f:t] * tr["vn_lv_kv"].to_numpy(np.float64) * _SQRT3 / sn * 100.0
                ld = np.maximum(hv, lv)
            else:
                s_f = np.abs(v[:, self.f_bus] * np.conj((self.yf @ v.T).T)) * self.base_mva
                s_t = np.abs(v[:, self.t_bus] * np.conj((self.yt @ v.T).T)) * self.base_mva
                s_full = np.full((n, self.n_branch_ppc), np.nan)
                s_full[:, self.branch_is] = np.maximum(s_f, s_t)
                ld = s_full[:, f:t] / sn * 100.0
            trafo_loading = ld / tr["parallel"].to_numpy(np.float64) / tr["df"].to_numpy(np.float64)
        for arr in (vm_bus, line_loading, trafo_loading):
            arr[~ok] = np.nan
        # out-of-service lines/trafos carry no current: pandapower reports 0 %
        line_loading[:, ~net.line["in_service"].to_numpy(bool)] = 0.0
        trafo_loading[:, ~net.trafo["in_service"].to_numpy(bool)] = 0.0
        line_loading[~ok] = np.nan
        trafo_loading[~ok] = np.nan
        return vm_bus, line_loading, trafo_loading


def _run_fast(net: Any, bus: int, p: np.ndarray, q: np.ndarray) -> tuple:
    model = _FastModel(net, bus)
    v_u, ok_u, inverse = model.solve(p, q)
    vm_u, line_u, trafo_u = model.tables(v_u, ok_u)
    return vm_u[inverse], line_u[inverse], trafo_u[inverse], ok_u[inverse], len(ok_u)


def _run_pandapower(net: Any, load_idx: int, p: np.ndarray, q: np.ndarray) -> tuple:
    from pandapower.control import ConstControl
    from pandapower.timeseries import DFData, OutputWriter, run_timeseries

    n = len(p)
    steps = range(n)
    data = DFData(pd.DataFrame({"p_mw": p, "q_mvar": q}, index=pd.RangeIndex(n)))
    ConstControl(net, element="load", variable="p_mw", element_index=[load_idx],
                 data_source=data, profile_name=["p_mw"])  # fmt: skip
    ConstControl(net, element="load", variable="q_mvar", element_index=[load_idx],
                 data_source=data, profile_name=["q_mvar"])  # fmt: skip
    # an independent per-step convergence flag, written by the run function itself:
    # pandapower's result arrays keep stale (recycled) or zero values for a failed step
    import pandapower as pp

    net["gridlink_pf"] = pd.DataFrame({"converged": [0.0]})

    def run(net: Any, **kwargs: Any) -> None:
        net["gridlink_pf"].at[0, "converged"] = 0.0
        pp.runpp(net, **kwargs)
        net["gridlink_pf"].at[0, "converged"] = 1.0 if net.converged else 0.0

    writer = OutputWriter(net, time_steps=steps, output_path=None, log_variables=[])
    writer.log_variable("gridlink_pf", "converged")
    writer.log_variable("res_bus", "vm_pu")
    writer.log_variable("res_line", "loading_percent")
    if len(net.trafo):
        writer.log_variable("res_trafo", "loading_percent")
    run_timeseries(
        net,
        time_steps=steps,
        continue_on_divergence=True,
        verbose=False,
        numba=False,
        tolerance_mva=TOLERANCE_MVA,
        max_iteration=MAX_ITERATION,
        run=run,
    )
    out = writer.output
    flagged = out["gridlink_pf.converged"].to_numpy(np.float64)[:, 0] == 1.0
    failed = out["Parameters"]["powerflow_failed"].to_numpy(bool) | ~flagged
    ok = ~failed
    vm = out["res_bus.vm_pu"].reindex(columns=net.bus.index).to_numpy(np.float64).copy()
    line = (
        out["res_line.loading_percent"].reindex(columns=net.line.index).to_numpy(np.float64).copy()
    )
    if len(net.trafo):
        trafo = (
            out["res_trafo.loading_percent"]
            .reindex(columns=net.trafo.index)
            .to_numpy(np.float64)
            .copy()
        )
    else:
        trafo = np.full((n, 0), np.nan)
    for arr in (vm, line, trafo):
        arr[failed] = np.nan  # pandapower leaves stale or zero values for a failed step
    return vm, line, trafo, ok, n


def _choose_backend(net: Any, backend: str) -> str:
    if backend not in ("auto", "fast", "pandapower"):
        raise FeederError(f"backend: expected 'auto', 'fast' or 'pandapower', got {backend!r}")
    if backend == "pandapower":
        return backend
    blockers = _fast_path_blockers(net)
    if not blockers:
        return "fast"
    if backend == "fast":
        raise FeederError(
            "backend='fast' cannot reproduce pandapower on this network: "
            + "; ".join(blockers)
            + ". Use backend='pandapower' (or 'auto')."
        )
    logger.info("fast backend not applicable (%s); using pandapower", "; ".join(blockers))
    return "pandapower"


def _facility_q(p: pd.Series, pf: float, lagging: bool, q_mvar: pd.Series | None) -> np.ndarray:
    if q_mvar is None:
        return reactive_power_mvar(p.to_numpy(), pf=pf, lagging=lagging)
    if not isinstance(q_mvar, pd.Series):
        raise UnitError(f"q_mvar: expected a pandas Series in Mvar, got {type(q_mvar).__name__}")
    unit = q_mvar.attrs.get("unit")
    if unit is None and not (
        isinstance(q_mvar.name, str) and q_mvar.name.lower().endswith("_mvar")
    ):
        raise UnitError(
            "q_mvar: the Series declares no unit; set q_mvar.attrs['unit'] = 'Mvar' or name it '*_mvar'"
        )
    if unit is not None and str(unit).lower() != "mvar":
        raise UnitError(f"q_mvar: expected unit 'Mvar', got {unit!r}")
    if not q_mvar.index.equals(p.index):
        raise FeederError(
            "q_mvar: its index must equal the (resampled, UTC) profile index; "
            "build it on the same timestamps as the profile"
        )
    q = q_mvar.to_numpy(np.float64)
    if not np.isfinite(q).all():
        raise FeederError("q_mvar: missing or non-finite values; nothing is filled here")
    return q


def run_feeder(
    net: Any,
    bus: int,
    profile: pd.Series,
    *,
    pf: float = 0.95,
    lagging: bool = True,
    q_mvar: pd.Series | None = None,
    freq: str | pd.Timedelta | None = None,
    step: pd.Timedelta | None = None,
    limits: Limits | None = None,
    backend: Backend = "auto",
    name: str = "gridlink facility",
) -> FeederResult:
    """Play a facility's power profile at ``bus`` of ``net`` as a power-flow time series.

    The network is copied (``net`` is not modified); the facility becomes one load
    (consumer sign convention: ``p_mw > 0`` draws power, ``q_mvar > 0`` absorbs
    reactive power), driven step by step by the profile.  pandapower steps over
    integers ``0..T-1``; the mapping to timestamps is kept in
    :attr:`FeederResult.steps` and every result table is on the timestamps.

    Parameters
    ----------
    net : pandapower.pandapowerNet
        Any network whose base case converges (e.g. :func:`load_network`).
    bus : int
        Index in ``net.bus`` of the point of common coupling (a PQ bus).
    profile : pandas.Series, shape (T,)
        Facility active power at the PCC with a declared unit (see
        :func:`prepare_profile`), tz-aware regular index.
    pf : float, default 0.95
        Power factor used for reactive power when ``q_mvar`` is None.
    lagging : bool, default True
        Lagging (the facility absorbs reactive power) when True.
    q_mvar : pandas.Series, optional
        Reactive power [Mvar] on the same (resampled, UTC) index, instead of ``pf``.
    freq : str or pandas.Timedelta, optional
        Study step; resample the profile energy-preservingly first.
    step : pandas.Timedelta, optional
        Step duration for a single-step profile (otherwise inferred).
    limits : Limits, optional
        Planning limits (default :class:`Limits`: 0.95-1.05 pu, 100 % loading).
    backend : {"auto", "fast", "pandapower"}
        Solver, see the module docstring.
    name : str
        Name of the facility load.

    Returns
    -------
    FeederResult
        Voltages, loadings, convergence and violations on the profile's timestamps.

    Raises
    ------
    gridlink.units.UnitError
        If the profile has no unit or not a unit of power.
    FeederError
        For a naive or irregular index, non-finite values, a bad ``bus``, ``pf`` or
        ``backend``, or a base case that does not converge (fast backend).
    """
    limits = Limits() if limits is None else limits
    if not isinstance(limits, Limits):
        raise FeederError(f"limits: expected gridlink.feeder.Limits, got {type(limits).__name__}")
    p = prepare_profile(profile, freq=freq)
    step_h = _step_hours(p.index, step)
    q = _facility_q(p, pf, lagging, q_mvar)
    _check_bus(net, bus)
    work = copy.deepcopy(net)
    load_idx = attach_facility(work, int(bus), name=name)
    chosen = _choose_backend(work, backend)
    t0 = time.perf_counter()
    if chosen == "fast":
        vm, line, trafo, ok, n_pf = _run_fast(work, int(bus), p.to_numpy(), q)
    else:
        vm, line, trafo, ok, n_pf = _run_pandapower(work, load_idx, p.to_numpy(), q)
    elapsed = time.perf_counter() - t0
    idx = p.index
    result = FeederResult(
        bus=int(bus),
        load_index=load_idx,
        backend=chosen,
        limits=limits,
        step_h=step_h,
        steps=pd.Series(idx, index=pd.RangeIndex(len(idx), name="step"), name="time"),
        p_mw=p,
        q_mvar=pd.Series(q, index=idx, name="q_mvar"),
        converged=pd.Series(ok, index=idx, name="converged"),
        vm_pu=_frame(vm, idx, work.bus.index, "bus"),
        line_loading_percent=_frame(line, idx, work.line.index, "line"),
        trafo_loading_percent=_frame(trafo, idx, work.trafo.index, "trafo"),
        n_power_flows=int(n_pf),
        elapsed_s=elapsed,
        network_name=str(getattr(net, "name", "") or ""),
    )
    result.q_mvar.attrs["unit"] = "Mvar"
    if result.n_not_converged:
        logger.warning(
            "%d of %d power flows did not converge (facility at bus %d, peak %.3f MW); "
            "their results are NaN",
            result.n_not_converged, len(idx), bus, float(p.max()),
        )  # fmt: skip
    logger.info(
        "feeder: %d steps, %d power flows, backend %s, %.2f s", len(idx), n_pf, chosen, elapsed
    )
    return result


def _frame(values: np.ndarray, idx: pd.DatetimeIndex, columns: pd.Index, name: str) -> pd.DataFrame:
    frame = pd.DataFrame(values, index=idx, columns=pd.Index(columns, name=name))
    frame.index.name = "time"
    return frame


# ---------------------------------------------------------------- studies on top


def compare_profiles(
    net: Any,
    bus: int,
    profiles: Mapping[str, pd.Series],
    **kwargs: Any,
) -> pd.DataFrame:
    """The same facility under several profiles on the same feeder, one table.

    Parameters
    ----------
    net : pandapower.pandapowerNet
        Network (not modified).
    bus : int
        Facility bus.
    profiles : mapping of str to pandas.Series
        Label -> profile (each as in :func:`run_feeder`), e.g. ``{"tdp": ...,
        "mean": ..., "model": ...}``.
    **kwargs
        Passed to :func:`run_feeder` (``pf``, ``freq``, ``limits``, ``backend``...).

    Returns
    -------
    pandas.DataFrame, shape (n_profiles, 14)
        Index: the labels.  Columns ``energy_mwh`` [MWh], ``peak_mw`` [MW],
        ``vm_min_pu``, ``vm_max_pu`` [pu], ``line_loading_max_percent``,
        ``trafo_loading_max_percent`` [%], ``n_violation_steps``,
        ``violation_h`` [h], ``n_not_converged``, ``binding_constraint``,
        ``binding_element``, ``binding_time`` (UTC), ``binding_margin``
        (relative headroom, negative when violated), ``backend``.
    """
    if not isinstance(profiles, Mapping) or not profiles:
        raise FeederError("profiles: expected a non-empty mapping of label -> profile Series")
    rows = {}
    for label, profile in profiles.items():
        res = run_feeder(net, bus, profile, **kwargs)
        binding = res.binding
        conv = res.converged.to_numpy(bool)
        rows[label] = {
            "energy_mwh": float(res.p_mw.sum() * res.step_h),
            "peak_mw": float(res.p_mw.max()),
            "vm_min_pu": float(np.nanmin(res.vm_min_pu)) if conv.any() else np.nan,
            "vm_max_pu": float(np.nanmax(res.vm_max_pu)) if conv.any() else np.nan,
            "line_loading_max_percent": float(np.nanmax(res.line_loading_max_percent))
            if conv.any() and len(res.line_loading_percent.columns)
            else np.nan,
            "trafo_loading_max_percent": float(np.nanmax(res.trafo_loading_max_percent))
            if conv.any() and len(res.trafo_loading_percent.columns)
            else np.nan,
            "n_violation_steps": int(res.violations["any"].sum()),
            "violation_h": float(res.violations["any"].sum() * res.step_h),
            "n_not_converged": res.n_not_converged,
            "binding_constraint": str(binding["constraint"]),
            "binding_element": str(binding["element"]),
            "binding_time": binding["worst_time"],
            "binding_margin": float(binding["margin"]),
            "backend": res.backend,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "profile"
    table["binding_time"] = pd.to_datetime(table["binding_time"], utc=True)
    return table


@dataclass(frozen=True)
class HostingCapacityResult:
    """Largest facility a bus takes without violations over the studied period.

    Attributes
    ----------
    bus : int
        Facility bus.
    capacity : float
        Largest size that passes: peak [MW] (``unit == "MW"``) or number of servers
        (``unit == "servers"``).
    unit : str
        ``"MW"`` or ``"servers"``.
    capacity_peak_mw : float
        Peak of the facility profile at ``capacity`` [MW].
    first_failing : float
        Smallest size found to fail (same unit); ``capacity < first_failing``.
    binding_constraint, binding_element : str
        What fails first at ``first_failing``: constraint (``"undervoltage"``,
        ``"line_overload"``, ...) and element (``"bus 7"``, ``"line 1"``).
    binding_time : pandas.Timestamp
        When (UTC) the binding element is worst at ``first_failing``.
    at_capacity : FeederResult
        Full time-series result at ``capacity``.
    n_evaluations : int
        Number of yearly (or whatever the period is) time series run.
    backend : str
        Backend that ran.
    """

    bus: int
    capacity: float
    unit: str
    capacity_peak_mw: float
    first_failing: float
    binding_constraint: str
    binding_element: str
    binding_time: pd.Timestamp
    at_capacity: FeederResult
    n_evaluations: int
    backend: str


def hosting_capacity(
    net: Any,
    bus: int,
    shape: pd.Series,
    *,
    unit: Literal["MW", "servers"] = "MW",
    max_size: float | None = None,
    tol: float | None = None,
    **kwargs: Any,
) -> HostingCapacityResult:
    """Largest facility (scaling ``shape``) that ``bus`` takes without violations.

    The facility profile at size ``s`` is ``s * shape / max(shape)`` [MW] for
    ``unit="MW"`` (``s`` is the peak), or ``s * shape`` for ``unit="servers"``
    (``shape`` is one server's PCC power including its share of cooling, ``s`` a
    whole number of servers).  A size passes when every step converges and no
    limit is violated (:attr:`FeederResult.passes`).  The search doubles ``s`` until
    a size fails, then bisects, assuming violations are monotone in size (true
    for a load on a feeder without voltage control or generation that a load
    relieves; the fast backend makes each evaluation cheap enough to check this
    with :func:`run_feeder` at a few sizes below the capacity).

    Parameters
    ----------
    net : pandapower.pandapowerNet
        Network (not modified); its base case (no facility) must pass.
    bus : int
        Facility bus.
    shape : pandas.Series, shape (T,)
        Profile with a declared power unit (as in :func:`run_feeder`), with a
        positive peak.
    unit : {"MW", "servers"}
        Size unit, see above.
    max_size : float, optional
        Stop doubling at this size (default 10 GW of peak); if it still passes, it is
        returned with ``first_failing = inf``.
    tol : float, optional
        Bisection stops when ``first_failing - capacity <= tol``; default 1e-3 of
        the first failing size in MW mode (0.1 %), 1 server in servers mode.
    **kwargs
        Passed to :func:`run_feeder` (``pf``, ``freq``, ``limits``, ``backend``...).

    Returns
    -------
    HostingCapacityResult

    Raises
    ------
    FeederError
        If the network already violates a limit without the facility (the message
        names the constraint and element), ``shape`` has no positive peak, or
        ``unit`` is unknown.
    """
    if unit not in ("MW", "servers"):
        raise FeederError(f"unit: expected 'MW' or 'servers', got {unit!r}")
    base = prepare_profile(shape, freq=kwargs.pop("freq", None), name="shape")
    peak = float(base.max())
    if not peak > 0:
        raise FeederError(f"shape: its peak must be positive, got {peak} MW")
    unit_profile = base / peak if unit == "MW" else base
    one_mw = 1.0 if unit == "MW" else 1.0 / peak  # size giving ~1 MW of peak
    if max_size is None:
        max_size = 1.0e4 * one_mw
    kwargs.setdefault("step", pd.Timedelta(hours=1) if len(base) < 2 else None)
    n_eval = 0

    def evaluate(size: float) -> FeederResult:
        nonlocal n_eval
        n_eval += 1
        prof = pd.Series(unit_profile.to_numpy() * size, index=base.index, name="p_mw")
        prof.attrs["unit"] = "MW"
        return run_feeder(net, bus, prof, **kwargs)

    zero = evaluate(0.0)
    if not zero.passes:
        b = zero.binding
        raise FeederError(
            f"net: the network violates its limits without the facility ({b['constraint']} at "
            f"{b['element']}, worst {b['worst']:.4g} vs limit {b['limit']}); hosting capacity "
            "is 0. Scale the background load (load_network(..., load_scaling=...)) or relax limits."
        )
    snap: Callable[[float], float] = (
        (lambda s: float(math.floor(s))) if unit == "servers" else float
    )

    lo, lo_res = 0.0, zero
    hi = snap(max(one_mw, 1.0 if unit == "servers" else 0.0))
    hi_res = None
    while True:
        res = evaluate(hi)
        if not res.passes:
            hi_res = res
            break
        lo, lo_res = hi, res
        if hi >= max_size:
            logger.warning("hosting capacity at bus %d reaches max_size=%g %s", bus, max_size, unit)
            return HostingCapacityResult(
                bus=int(bus), capacity=lo, unit=unit, capacity_peak_mw=float(lo_res.p_mw.max()),
                first_failing=math.inf, binding_constraint="", binding_element="",
                binding_time=pd.NaT, at_capacity=lo_res, n_evaluations=n_eval,
                backend=lo_res.backend,
            )  # fmt: skip
        hi = snap(min(2.0 * hi, max_size))
    tol_abs = (1e-3 * hi if unit == "MW" else 1.0) if tol is None else float(tol)
    while hi - lo > tol_abs:
        mid = snap(0.5 * (lo + hi))
        if mid <= lo or mid >= hi:
            break
        res = evaluate(mid)
        if res.passes:
            lo, lo_res = mid, res
        else:
            hi, hi_res = mid, res
    assert hi_res is not None
    b = hi_res.binding
    return HostingCapacityResult(
        bus=int(bus),
        capacity=lo,
        unit=unit,
        capacity_peak_mw=float(lo_res.p_mw.max()),
        first_failing=hi,
        binding_constraint=str(b["constraint"]),
        binding_element=str(b["element"]),
        binding_time=b["worst_time"],
        at_capacity=lo_res,
        n_evaluations=n_eval,
        backend=lo_res.backend,
    )


def plot_voltage(result: FeederResult, path: str | Path, *, title: str = "") -> Path:
    """Plot bus voltages (all buses' min-max band and the facility bus) over the
    facility's power, as a PNG a planner reads.

    Parameters
    ----------
    result : FeederResult
        A time-series result of :func:`run_feeder`.
    path : str or Path
        PNG file to write.
    title : str, optional
        Figure title.

    Returns
    -------
    Path
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, (ax_v, ax_p) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, height_ratios=[2, 1])
    t = result.time
    ax_v.fill_between(t, result.vm_min_pu, result.vm_max_pu, alpha=0.3, label="all buses (min-max)")
    ax_v.plot(t, result.vm_pu[result.bus], lw=0.8, label=f"bus {result.bus} (PCC)")
    for lim in (result.limits.vm_min_pu, result.limits.vm_max_pu):
        ax_v.axhline(lim, color="red", ls="--", lw=0.8)
    ax_v.set_ylabel("voltage [pu]")
    ax_v.legend(loc="best", fontsize=8)
    ax_v.set_title(title)
    ax_p.plot(t, result.p_mw, lw=0.8, color="black")
    ax_p.set_ylabel("facility p [MW]")
    ax_p.set_xlabel("time (UTC)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
