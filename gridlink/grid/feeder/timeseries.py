"""A facility profile played on a feeder: reading and validating the PCC profile, its
reactive power, and :func:`run_feeder` (the power-flow time series).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gridlink.grid.feeder.backends import Backend, _choose_backend, _run_fast, _run_pandapower
from gridlink.grid.feeder.networks import FeederError, Limits, _check_bus, attach_facility
from gridlink.grid.feeder.result import FeederResult
from gridlink.units import UnitError, check_facility_mw, series_to_magnitude
from traces.fields import allowed_keys, as_number, check_plausible

if TYPE_CHECKING:  # typing only: pandapower is imported where it runs
    from pandapower.auxiliary import pandapowerNet

logger = logging.getLogger(__name__)


def read_profile(path: str | Path) -> pd.Series:
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


def read_profile_q(path: str | Path) -> pd.Series | None:
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


def reactive_power_mvar(
    p_mw: np.ndarray, *, pf: float = 0.95, lagging: bool = True, allow_implausible: Any = ()
) -> np.ndarray:
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
    allow_implausible : collection of str, default ()
        ``["power_factor"]`` accepts a power factor below 0.7 (the plausible range
        :data:`traces.fields.PLAUSIBLE`).

    Returns
    -------
    numpy.ndarray, shape (T,)
        Reactive power [Mvar].

    Raises
    ------
    FeederError
        If ``pf`` is not a number in (0, 1], or below 0.7 without the override.
    """
    pf = as_number(pf, "pf", error=FeederError, gt=0.0, le=1.0)
    check_plausible(
        pf, "power_factor", "pf", allow=allowed_keys(allow_implausible, error=FeederError),
        error=FeederError,
    )  # fmt: skip
    factor = math.tan(math.acos(pf))
    q = np.asarray(p_mw, dtype=np.float64) * factor
    return q if lagging else -q


def _facility_q(
    p: pd.Series, pf: float, lagging: bool, q_mvar: pd.Series | None, allow: Any = ()
) -> np.ndarray:
    if q_mvar is None:
        return reactive_power_mvar(p.to_numpy(), pf=pf, lagging=lagging, allow_implausible=allow)
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
    net: pandapowerNet,
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
    allow_implausible: Any = (),
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
    allow_implausible : collection of str, default ()
        Override keys of :data:`traces.fields.PLAUSIBLE`: ``"power_factor"`` (pf below
        0.7), ``"facility_p_mw"`` (a peak above 10 GW: kW or W labelled MW?).

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
        raise FeederError(
            f"limits: expected gridlink.grid.feeder.Limits, got {type(limits).__name__}"
        )
    p = prepare_profile(profile, freq=freq)
    check_facility_mw(p, "profile", allow=allow_implausible, error=FeederError)
    step_h = _step_hours(p.index, step)
    q = _facility_q(p, pf, lagging, q_mvar, allow_implausible)
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
