""":class:`FeederResult`: one facility profile's voltages, loadings, convergence and
violations on the profile's UTC timestamps, with the summary and binding constraint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gridlink.grid.feeder.networks import Limits


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
