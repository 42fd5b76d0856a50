"""The event feeder study: pandapower runs over a window around a load-loss or sag event.

:func:`run_event_study` runs the feeder at 250 ms or 1 s over a window around each
event, with and without the event: voltages before, during and after the loss (the
over-voltage when load drops), transformer loading, and convergence reported step
by step.  :func:`~gridlink.studies.interconnection.study.run_study` calls it.

**Quasi-static, not dynamic.**  Every feeder step is an independent AC power flow
(pandapower, Newton-Raphson) with the facility as a constant-PQ load: there are no
machine, converter or controller dynamics, no frequency, and no transient between
steps.  This is what pandapower offers; it shows the steady-state voltage and
loading after the load has changed, not the electromechanical (RMS) or
electromagnetic (EMT) transient.  A dynamic study (e.g. PSS/E or PowerFactory with
NERC's PERC1 load model [1]_) needs the facility's ``P(t)``, ``Q(t)`` at the event
and the per-rack ride-through parameters, which this module exports as CSV with
units (:func:`~.study.export_dynamic_inputs`).

**Reactive power convention** (:class:`ReactivePower`): consumer (load) sign
convention as pandapower's ``load`` table -- ``p_mw > 0`` is drawn from the grid,
``q_mvar > 0`` is absorbed (a lagging, inductive power factor).  Default a constant
power factor 0.95 lagging, ``q = p * tan(arccos pf)`` (as ``gridlink feeder``); a
user may instead give Q per load level (a table of ``p_mw -> q_mvar``, linearly
interpolated; loads outside the table are refused, not extrapolated).  A rack on
UPS draws neither P nor Q.

References
----------
.. [1] NERC, *Level 3 Alert -- Essential Actions to Industry: Computational Load
   Modeling, Studies, Instrumentation, Commissioning, Operations, Protection, and
   Control*, May 4, 2026 (PERC1 as the minimum computational-load model).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from gridlink.stats import window_label
from gridlink.studies.interconnection.base import InterconnectionError
from gridlink.studies.interconnection.transfers import EventResult

__all__ = ["QUASI_STATIC_NOTE", "FeederBackend", "ReactivePower", "EventStudy", "run_event_study"]

logger = logging.getLogger(__name__)

FeederBackend = Literal["auto", "fast", "pandapower"]

#: What the event feeder study is and is not (printed in every output).
QUASI_STATIC_NOTE: str = (
    "Quasi-static study: each step is an independent steady-state AC power flow "
    "(pandapower) with the facility as a constant-PQ load. It is not a dynamic (RMS) or "
    "electromagnetic-transient (EMT) simulation: no frequency, machine, converter or "
    "protection dynamics between steps. Use the exported P(t), Q(t) and per-rack "
    "ride-through parameters as inputs to a dynamic study."
)


@dataclass(frozen=True)
class ReactivePower:
    """The facility's reactive power (consumer convention, see the module docstring).

    Parameters
    ----------
    pf : float, default 0.95
        Constant displacement power factor, ``0 < pf <= 1``.
    lagging : bool, default True
        Lagging (absorbs Q, ``q > 0``) when True.
    q_table : sequence of (p_mw, q_mvar), optional
        Q per load level instead of ``pf``: at least two points with strictly
        increasing ``p_mw``; ``q`` is linearly interpolated in ``p``.

    Raises
    ------
    InterconnectionError
        ``pf`` outside (0, 1]; a table with fewer than 2 points, non-increasing
        ``p_mw`` or non-finite values.
    """

    pf: float = 0.95
    lagging: bool = True
    q_table: tuple[tuple[float, float], ...] | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.pf, int | float) and 0 < self.pf <= 1):
            raise InterconnectionError(
                f"reactive.pf: power factor must be in (0, 1], got {self.pf!r}"
            )
        if self.q_table is not None:
            table = np.asarray(self.q_table, dtype=float)
            if table.ndim != 2 or table.shape[1] != 2 or table.shape[0] < 2:
                raise InterconnectionError(
                    "reactive.q_table: expected at least two (p_mw, q_mvar) pairs"
                )
            if not np.isfinite(table).all() or (np.diff(table[:, 0]) <= 0).any():
                raise InterconnectionError(
                    "reactive.q_table: p_mw must be finite and strictly increasing"
                )
            object.__setattr__(self, "q_table", tuple(map(tuple, table.tolist())))

    def describe(self) -> str:
        """The convention in one line."""
        if self.q_table is not None:
            return (
                f"Q per load level from a {len(self.q_table)}-point p_mw -> q_mvar table "
                "(linear interpolation; consumer convention, q > 0 absorbed)"
            )
        kind = "lagging (absorbs Q)" if self.lagging else "leading (injects Q)"
        return f"constant power factor {self.pf:g} {kind}; consumer convention, q > 0 absorbed"

    def q_mvar(self, p_mw: pd.Series) -> pd.Series:
        """Reactive power [Mvar] on the index of ``p_mw`` [MW].

        Raises
        ------
        InterconnectionError
            A load outside the ``q_table``'s range of ``p_mw`` (nothing is extrapolated).
        """
        p = p_mw.to_numpy(np.float64)
        if self.q_table is None:
            q = p * math.tan(math.acos(float(self.pf)))
            q = q if self.lagging else -q
        else:
            table = np.asarray(self.q_table)
            lo, hi = table[0, 0], table[-1, 0]
            if p.min() < lo - 1e-12 or p.max() > hi + 1e-12:
                raise InterconnectionError(
                    f"reactive.q_table: covers {lo:g}..{hi:g} MW but the load spans "
                    f"{p.min():.4g}..{p.max():.4g} MW; extend the table (include 0 MW for "
                    "racks on UPS)"
                )
            q = np.interp(p, table[:, 0], table[:, 1])
        out = pd.Series(q, index=p_mw.index, name="q_mvar")
        out.attrs["unit"] = "Mvar"
        return out


@dataclass(frozen=True)
class EventStudy:
    """An event run through the feeder over a window, with its no-event baseline.

    Attributes
    ----------
    name : str
        ``"load_loss"`` or ``"ride_through"``.
    event : EventResult
        The load series (at the generator's step) with and without the event.
    with_event, baseline : gridlink.grid.feeder.FeederResult
        The feeder time series at ``step`` with and without the event.
    step : pandas.Timedelta
        Study step (250 ms or 1 s).
    phases : pandas.DataFrame, shape (3, 11)
        Index ``before``, ``during``, ``after``; columns ``start``, ``n_steps``,
        ``n_not_converged``, ``p_mw_mean`` [MW], ``pcc_vm_min_pu``,
        ``pcc_vm_mean_pu``, ``pcc_vm_max_pu`` [pu], ``network_vm_min_pu``,
        ``network_vm_max_pu`` [pu], ``trafo_loading_max_percent`` [%],
        ``line_loading_max_percent`` [%] (over converged steps; NaN when none).
    summary : dict
        ``voltage_step_pu`` (PCC voltage at the first step of the loss minus the last
        step before it), ``voltage_rise_vs_baseline_pu`` (largest PCC voltage
        difference, event minus baseline, during the loss), ``overvoltage_steps``
        (steps above the upper limit with the event), ``n_not_converged``,
        ``converged_all`` (bool), the limits, and the quasi-static note.
    """

    name: str
    event: EventResult
    with_event: Any
    baseline: Any
    step: pd.Timedelta
    phases: pd.DataFrame
    summary: dict[str, Any]


def _phase_rows(res: Any, bus: int, bounds: list[tuple[str, Any, Any]]) -> pd.DataFrame:
    t = res.time
    rows = []
    vm_pcc = res.vm_pu[bus]
    for name, lo, hi in bounds:
        mask = np.ones(len(t), dtype=bool)
        if lo is not None and not pd.isna(lo):
            mask &= t >= lo
        if hi is not None and not pd.isna(hi):
            mask &= t < hi
        if lo is not None and pd.isna(lo):
            mask[:] = False
        ok = mask & res.converged.to_numpy(bool)

        def agg(series: pd.Series, how: str, ok: np.ndarray = ok) -> float:
            vals = series.to_numpy()[ok]
            return float(getattr(np, how)(vals)) if vals.size else np.nan

        rows.append(
            {
                "phase": name,
                "start": t[mask][0] if mask.any() else pd.NaT,
                "n_steps": int(mask.sum()),
                "n_not_converged": int((mask & ~res.converged.to_numpy(bool)).sum()),
                "p_mw_mean": agg(res.p_mw, "mean"),
                "pcc_vm_min_pu": agg(vm_pcc, "min"),
                "pcc_vm_mean_pu": agg(vm_pcc, "mean"),
                "pcc_vm_max_pu": agg(vm_pcc, "max"),
                "network_vm_min_pu": agg(res.vm_min_pu, "min"),
                "network_vm_max_pu": agg(res.vm_max_pu, "max"),
                "trafo_loading_max_percent": agg(res.trafo_loading_max_percent, "max"),
                "line_loading_max_percent": agg(res.line_loading_max_percent, "max"),
            }
        )
    return pd.DataFrame(rows).set_index("phase")


def _to_step(p: pd.Series, step: pd.Timedelta) -> pd.Series:
    from gridlink.resample import infer_step, resample_energy

    own = infer_step(p.index)
    if own == step:
        return p
    if step < own:
        raise InterconnectionError(
            f"step: {window_label(step)} is finer than the load series' "
            f"{window_label(own)}; use step >= the data's resolution"
        )
    return resample_energy(p, step)


def run_event_study(
    net: Any,
    bus: int,
    event: EventResult,
    *,
    name: str = "load_loss",
    step: str | pd.Timedelta = "250ms",
    reactive: ReactivePower | None = None,
    limits: Any = None,
    backend: FeederBackend = "auto",
) -> EventStudy:
    """Run an event's load series through a feeder, with its no-event baseline.

    Parameters
    ----------
    net : pandapower.pandapowerNet
        The feeder (not modified), e.g. :func:`gridlink.grid.feeder.load_network`.
    bus : int
        PCC bus index.
    event : EventResult
        From :func:`~gridlink.studies.interconnection.load_loss.apply_load_loss` or
        :func:`~gridlink.studies.interconnection.ride_through.ride_through`, over the study
        window (a few minutes, not a year).
    name : str
        Label.
    step : {"250ms", "1s"} or pandas.Timedelta
        Study step; the series is averaged (energy-preserving) to it.
    reactive : ReactivePower, optional
        Default constant 0.95 lagging.
    limits : gridlink.grid.feeder.Limits, optional
        Planning limits (default 0.95-1.05 pu, 100 %).
    backend : {"auto", "fast", "pandapower"}
        As :func:`gridlink.grid.feeder.run_feeder`.

    Returns
    -------
    EventStudy

    Raises
    ------
    InterconnectionError
        A step finer than the data, a window that does not hold whole steps.
    gridlink.grid.feeder.FeederError
        As :func:`gridlink.grid.feeder.run_feeder`.
    """
    from gridlink.grid.feeder import Limits, run_feeder
    from gridlink.resample import ResampleError

    reactive = reactive or ReactivePower()
    limits = limits or Limits()
    st = pd.Timedelta(step)
    try:
        p_evt = _to_step(event.p_mw, st)
        p_base = _to_step(event.p_base_mw, st)
    except ResampleError as exc:
        raise InterconnectionError(
            f"step: the event window does not hold whole {step} steps: {exc}"
        ) from exc
    res_e = run_feeder(
        net, bus, p_evt, q_mvar=reactive.q_mvar(p_evt), limits=limits, backend=backend
    )
    res_b = run_feeder(
        net, bus, p_base, q_mvar=reactive.q_mvar(p_base), limits=limits, backend=backend
    )
    drop = event.drop_time
    back = event.restored_time
    bounds = [("before", None, drop), ("during", drop, back), ("after", back, None)]
    phases = _phase_rows(res_e, bus, bounds)
    vm_e = res_e.vm_pu[bus]
    vm_b = res_b.vm_pu[bus]
    t = res_e.time
    during = (t >= drop) & ((t < back) if not pd.isna(back) else True)
    before = t < drop
    step_pu = np.nan
    if before.any() and during.any():
        step_pu = float(vm_e[during].iloc[0] - vm_e[before].iloc[-1])
    diff = (vm_e - vm_b)[during]
    n_nc = int(res_e.n_not_converged + res_b.n_not_converged)
    summary = {
        "name": name,
        "description": event.description,
        "drop_time_utc": str(event.drop_time),
        "restored_time_utc": str(event.restored_time),
        "step_s": st.total_seconds(),
        "window_start_utc": str(t[0]),
        "window_end_utc": str(t[-1] + st),
        "event_step_mw": event.step_mw,
        "return_step_mw": event.return_step_mw,
        "max_lost_mw": event.max_lost_mw,
        "energy_not_served_mwh": event.energy_not_served_mwh,
        "voltage_step_pu": step_pu,
        "voltage_rise_vs_baseline_pu": float(diff.max()) if diff.notna().any() else np.nan,
        "pcc_vm_before_pu": phases.loc["before", "pcc_vm_mean_pu"],
        "pcc_vm_during_max_pu": phases.loc["during", "pcc_vm_max_pu"],
        "pcc_vm_after_pu": phases.loc["after", "pcc_vm_mean_pu"],
        "network_vm_max_pu": float(res_e.vm_max_pu.max()),
        "vm_max_limit_pu": limits.vm_max_pu,
        "vm_min_limit_pu": limits.vm_min_pu,
        "overvoltage_steps": int(res_e.violations["overvoltage"].sum()),
        "undervoltage_steps": int(res_e.violations["undervoltage"].sum()),
        "trafo_loading_max_percent": float(res_e.trafo_loading_max_percent.max()),
        "n_not_converged": n_nc,
        "converged_all": n_nc == 0,
        "convergence": (
            "all power flows converged"
            if n_nc == 0
            else f"{n_nc} power flow(s) did not converge; their results are unknown (NaN), "
            "counted as violations, and excluded from the phase figures"
        ),
        "backend": res_e.backend,
        "reactive_power": reactive.describe(),
        "note": QUASI_STATIC_NOTE,
    }
    if n_nc:
        logger.warning("event study %s: %d power flows did not converge", name, n_nc)
    return EventStudy(
        name=name, event=event, with_event=res_e, baseline=res_b, step=st, phases=phases,
        summary=summary,
    )  # fmt: skip
