"""Studies on top of :func:`run_feeder`: several profiles of one facility in one table
(:func:`compare_profiles`) and the hosting capacity of a bus by bisection
(:func:`hosting_capacity`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from gridlink.grid.feeder.networks import FeederError
from gridlink.grid.feeder.result import FeederResult
from gridlink.grid.feeder.timeseries import prepare_profile, run_feeder

if TYPE_CHECKING:  # typing only: pandapower is imported where it runs
    from pandapower.auxiliary import pandapowerNet

logger = logging.getLogger(__name__)


def compare_profiles(
    net: pandapowerNet,
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
    net: pandapowerNet,
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
