"""Per-rack loads of a facility and the transfer of racks to UPS (the event load series).

:func:`rack_pcc_mw` splits a facility run's PCC load into its racks;
:func:`apply_transfers` removes each rack's load from its drop to its return time
(optionally with a facility ramp limit on the return), the general form behind
:func:`~gridlink.studies.interconnection.load_loss.apply_load_loss` and
:func:`~gridlink.studies.interconnection.ride_through.ride_through`.

Conventions: per-rack loads are the rack's share of the PCC load on the generator's
250 ms grid, ``P_r(t) = PUE * rack_it_kw(t) / 1000`` [MW] (with
``overhead_follows=False``, only the rack's IT power ``rack_it_kw / 1000``: the
cooling and conversion overhead stays on the grid).  A rack on UPS draws nothing
from the grid.  The load series is quasi-static: a transfer at a time inside a
250 ms sample takes effect from that sample (the grid resolution of the load).

References
----------
.. [1] NERC, *Incident Review: Considering Simultaneous Voltage-Sensitive Load
   Reductions*, January 8, 2025 (the July 10, 2024 event, about 1,500 MW).
.. [2] NERC Large Loads Task Force, *Characteristics and Risks of Emerging Large
   Loads*, white paper, July 2025.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gridlink.studies.interconnection.base import InterconnectionError, _check_ramp, _timestamp

__all__ = ["EventResult", "rack_pcc_mw", "apply_transfers"]

logger = logging.getLogger(__name__)


def rack_pcc_mw(result: Any, *, overhead_follows: bool = True) -> pd.DataFrame:
    """Each rack's share of the PCC load at 250 ms from a facility result.

    Parameters
    ----------
    result : traces.facility.FacilityResult
        A facility run (``rack_it_kw`` (T, n_racks) [kW], ``spec.pue``).
    overhead_follows : bool, default True
        True: ``P_r = PUE * rack_it_kw / 1000`` (the rack's cooling and conversion
        overhead goes with it, so the racks sum to the PCC load, Eq 11); False:
        ``rack_it_kw / 1000`` (IT only).

    Returns
    -------
    pandas.DataFrame, shape (T, n_racks)
        [MW] on the 250 ms UTC index; columns ``"r<row>k<rack>"``;
        ``attrs["unit"] == "MW"``.
    """
    racks = result.rack_it_kw
    factor = (result.spec.pue if overhead_follows else 1.0) / 1e3
    out = pd.DataFrame(
        racks.to_numpy(np.float64) * factor,
        index=racks.index,
        columns=[f"r{r}k{k}" for r, k in racks.columns],
    )
    out.attrs["unit"] = "MW"
    out.attrs["servers_per_rack"] = int(result.spec.servers_per_rack)
    out.attrs["pue"] = float(result.spec.pue)
    out.attrs["overhead_follows"] = bool(overhead_follows)
    return out


def _check_racks(rack_mw: Any) -> pd.DataFrame:
    if not isinstance(rack_mw, pd.DataFrame):
        raise InterconnectionError(
            f"rack_mw: expected a DataFrame (T, n_racks) in MW, got {type(rack_mw).__name__}; "
            "build it with rack_pcc_mw(facility_result)"
        )
    if str(rack_mw.attrs.get("unit", "")) != "MW":
        raise InterconnectionError("rack_mw: declare the unit with rack_mw.attrs['unit'] = 'MW'")
    if not isinstance(rack_mw.index, pd.DatetimeIndex) or rack_mw.index.tz is None:
        raise InterconnectionError("rack_mw: needs a tz-aware (UTC) DatetimeIndex")
    if rack_mw.shape[0] < 2 or rack_mw.shape[1] < 1:
        raise InterconnectionError(f"rack_mw: shape {rack_mw.shape}; need >= 2 steps and >= 1 rack")
    if not np.isfinite(rack_mw.to_numpy()).all():
        raise InterconnectionError("rack_mw: non-finite values; nothing is filled here")
    return rack_mw


@dataclass(frozen=True)
class EventResult:
    """A PCC load series with racks transferred to UPS and back.

    Attributes
    ----------
    p_mw : pandas.Series, shape (T,)
        PCC load with the event [MW] (``attrs["unit"] == "MW"``).
    p_base_mw : pandas.Series, shape (T,)
        The same load without the event [MW].
    lost_mw : pandas.Series, shape (T,)
        ``p_base_mw - p_mw`` [MW] (load on UPS and not yet returned).
    racks : pandas.DataFrame, shape (n_racks, 5)
        Per rack: ``fraction`` lost (0..1), ``drop_time`` and ``return_time`` (UTC,
        NaT if unaffected), ``drop_mw`` (the rack's lost load at its drop sample [MW]).
    step_mw : float
        Largest one-sample increase of the lost load [MW] (the event's step).
    return_step_mw : float
        Largest one-sample decrease of the lost load [MW] (the return's step).
    max_lost_mw : float
        Largest lost load [MW].
    energy_not_served_mwh : float
        ``sum(lost_mw) * dt`` [MWh] (carried by the UPS and backup supply).
    drop_time, restored_time : pandas.Timestamp
        First drop; first sample at which nothing is lost any more (NaT if the
        series ends first).
    description : str
    """

    p_mw: pd.Series
    p_base_mw: pd.Series
    lost_mw: pd.Series
    racks: pd.DataFrame
    step_mw: float
    return_step_mw: float
    max_lost_mw: float
    energy_not_served_mwh: float
    drop_time: pd.Timestamp
    restored_time: pd.Timestamp
    description: str = ""

    def summary(self) -> dict[str, Any]:
        """Plain numbers with units in the keys (for JSON)."""
        return {
            "description": self.description,
            "step_mw": self.step_mw,
            "return_step_mw": self.return_step_mw,
            "max_lost_mw": self.max_lost_mw,
            "energy_not_served_mwh": self.energy_not_served_mwh,
            "drop_time_utc": str(self.drop_time),
            "restored_time_utc": str(self.restored_time),
            "racks_affected": int((self.racks["fraction"] > 0).sum()),
        }


def apply_transfers(
    rack_mw: pd.DataFrame,
    fraction: np.ndarray,
    drop_time: Sequence[Any],
    return_time: Sequence[Any],
    *,
    return_ramp_mw_per_min: float | None = None,
    description: str = "",
) -> EventResult:
    """Remove each rack's load (a fraction of it) from its drop to its return time.

    The general form behind :func:`~.load_loss.apply_load_loss` and
    :func:`~.ride_through.ride_through`.  With
    ``U(t) = sum_r f_r P_r(t) [t >= drop_r]`` the load ever dropped and
    ``E(t) = sum_r f_r P_r(t) [t >= return_r]`` the load allowed back, the load
    restored is ``R(t) = E(t)`` (at once) or ``min(E(t), rho / 60 * (t - t0))`` with
    ``rho`` the facility's ramp limit [MW/min] and ``t0`` the first return time, and
    the PCC load is ``P(t) - U(t) + R(t)``.

    Parameters
    ----------
    rack_mw : pandas.DataFrame, shape (T, n_racks)
        Per-rack PCC load [MW] (:func:`rack_pcc_mw`).
    fraction : numpy.ndarray, shape (n_racks,)
        Share of each rack's load that transfers, in ``[0, 1]``.
    drop_time, return_time : sequence of timestamps, length n_racks
        UTC times (NaT for racks that stay).  A time inside a sample takes effect
        from that sample; ``return_time >= drop_time``.
    return_ramp_mw_per_min : float, optional
        Facility ramp limit of the return [MW/min]; None returns at once.
    description : str
        Label of the event.

    Returns
    -------
    EventResult

    Raises
    ------
    InterconnectionError
        Bad ``rack_mw``, fractions outside [0, 1], times outside the series or
        returns before drops, a non-positive ramp limit.
    """
    rack_mw = _check_racks(rack_mw)
    n_t, n_r = rack_mw.shape
    f = np.asarray(fraction, dtype=float)
    if f.shape != (n_r,) or not np.isfinite(f).all() or (f < 0).any() or (f > 1).any():
        raise InterconnectionError(f"fraction: expected {n_r} values in [0, 1]")
    _check_ramp(return_ramp_mw_per_min, "return_ramp_mw_per_min")
    index = rack_mw.index.tz_convert("UTC")
    step_ns = int((index[1] - index[0]).value)
    t0_ns = int(index[0].value)
    end_ns = int(index[-1].value) + step_ns

    def pos(value: Any, name: str) -> int:
        """Sample index from which a time takes effect (T if never)."""
        if value is None or pd.isna(value):
            return n_t
        ts = _timestamp(value, name)
        ns = int(ts.value)
        if not t0_ns <= ns <= end_ns:
            raise InterconnectionError(
                f"{name}: {ts} is outside the load series {index[0]} .. "
                f"{index[-1] + pd.Timedelta(step_ns, unit='ns')}; lengthen the series or move the event"
            )
        return min(n_t, (ns - t0_ns) // step_ns)

    if len(drop_time) != n_r or len(return_time) != n_r:
        raise InterconnectionError(f"drop_time, return_time: expected {n_r} entries each")
    k_drop = np.array([pos(t, f"drop_time[{i}]") for i, t in enumerate(drop_time)])
    k_ret = np.array([pos(t, f"return_time[{i}]") for i, t in enumerate(return_time)])
    if (k_ret < k_drop).any():
        i = int(np.flatnonzero(k_ret < k_drop)[0])
        raise InterconnectionError(f"return_time[{i}]: before drop_time[{i}]")
    p = rack_mw.to_numpy(np.float64)
    base = p.sum(axis=1)
    k = np.arange(n_t)[:, None]
    affected = f > 0
    dropped = (p * f) * (k >= k_drop) * affected
    allowed = (p * f) * (k >= k_ret) * affected
    u = dropped.sum(axis=1)
    e = allowed.sum(axis=1)
    if return_ramp_mw_per_min is None or not affected.any() or k_ret[affected].min() >= n_t:
        r = e
    else:
        k0 = int(k_ret[affected].min())
        cap = return_ramp_mw_per_min / 60.0 * (np.arange(n_t) - k0) * step_ns / 1e9
        r = np.minimum(e, np.maximum(cap, 0.0))
    lost = u - r
    dt_h = step_ns / 3.6e12
    d_lost = np.diff(np.concatenate(([0.0], lost)))
    first = int(k_drop[affected].min()) if affected.any() else n_t
    after = np.flatnonzero((np.arange(n_t) > first) & (lost <= 1e-12))
    restored = index[int(after[0])] if first < n_t and after.size else pd.NaT
    racks = pd.DataFrame(
        {
            "fraction": f,
            "drop_time": [
                index[i] if (i < n_t and a) else pd.NaT
                for i, a in zip(k_drop, affected, strict=True)
            ],
            "return_time": [
                index[i] if (i < n_t and a) else pd.NaT
                for i, a in zip(k_ret, affected, strict=True)
            ],
            "drop_mw": [
                float(p[i, j] * f[j]) if (i < n_t and affected[j]) else 0.0
                for j, i in enumerate(k_drop)
            ],
        },
        index=pd.Index(rack_mw.columns, name="rack"),
    )
    out = pd.Series(base - lost, index=index, name="p_mw")
    out.attrs["unit"] = "MW"
    base_s = pd.Series(base, index=index, name="p_mw")
    base_s.attrs["unit"] = "MW"
    lost_s = pd.Series(lost, index=index, name="lost_mw")
    lost_s.attrs["unit"] = "MW"
    return EventResult(
        p_mw=out,
        p_base_mw=base_s,
        lost_mw=lost_s,
        racks=racks,
        step_mw=float(max(d_lost.max(), 0.0)),
        return_step_mw=float(max(-d_lost.min(), 0.0)),
        max_lost_mw=float(lost.max()),
        energy_not_served_mwh=float(lost.sum() * dt_h),
        drop_time=index[first] if first < n_t else pd.NaT,
        restored_time=restored,
        description=description,
    )
