"""Coincidence of a facility with the system peak: demand at the system peak interval(s)
and the coincidence factor (IEEE Std 100-2000; Gönen 2014, ch. 2).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pint

from gridlink.resample import ResampleError, resample_energy
from gridlink.stats.base import Profile, StatsError, _positive, as_profile
from gridlink.units import Q_


def _align(prof: Profile, system: Profile) -> tuple[np.ndarray, np.ndarray]:
    """Bring facility and system to the coarser of the two steps on one index."""
    step = max(prof.step, system.step)
    fac = prof.series() if prof.step == step else _coarsen(prof, step, "profile")
    sysl = system.series() if system.step == step else _coarsen(system, step, "system_load")
    if not fac.index.equals(sysl.index):
        raise StatsError(
            f"system_load: covers {sysl.index[0]} .. {sysl.index[-1]} but profile covers "
            f"{fac.index[0]} .. {fac.index[-1]} (at the common step {step}); slice both "
            "to the same period (e.g. system_load[profile.index[0]:profile.index[-1]])"
        )
    return fac.to_numpy(), sysl.to_numpy()


def _coarsen(prof: Profile, step: pd.Timedelta, name: str) -> pd.Series:
    try:
        return resample_energy(prof.series(), step)
    except ResampleError as exc:
        raise StatsError(f"{name}: cannot be resampled to the common step {step}: {exc}") from exc


def _peak_positions(system_mw: np.ndarray, n_peaks: int) -> np.ndarray:
    if not isinstance(n_peaks, int | np.integer) or n_peaks < 1:
        raise StatsError(f"n_peaks: expected a positive integer, got {n_peaks!r}")
    if n_peaks > system_mw.size:
        raise StatsError(f"n_peaks: {n_peaks} exceeds the {system_mw.size} aligned intervals")
    # stable sort of -load: highest first, ties broken by the earliest time
    return np.argsort(-system_mw, kind="stable")[:n_peaks]


def contribution_to_system_peak(
    profile: pd.Series, system_load: pd.Series, *, n_peaks: int = 1
) -> pint.Quantity:
    """Facility demand at the system peak interval(s).

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Facility power with a declared unit (see :func:`energy`).
    system_load : pandas.Series, shape (S,)
        System load with a declared power unit over the same period.  The finer
        of the two is resampled (energy-preserving) to the coarser step; the two
        must then share one index.
    n_peaks : int, default 1
        Number of highest system-load intervals to average over (e.g. 5 for a
        PJM-style 5CP over a summer); ties go to the earliest interval.

    Returns
    -------
    pint.Quantity
        Mean facility power over the ``n_peaks`` system-peak intervals [MW], at
        the common (coarser) step.

    Raises
    ------
    gridlink.units.UnitError
        If either Series declares no unit or a non-power unit.
    StatsError
        If the two cannot be aligned to one index, or ``n_peaks`` is invalid.
    """
    fac, sysl = _align(
        as_profile(profile, name="profile"), as_profile(system_load, name="system_load")
    )
    pos = _peak_positions(sysl, n_peaks)
    return Q_(float(fac[pos].mean()), "MW")


def coincidence_factor(
    profile: pd.Series, system_load: pd.Series, *, n_peaks: int = 1
) -> pint.Quantity:
    """Coincidence factor of a facility with the system peak.

    ``CF = P_fac(at system peak) / max P_fac``, both at the common (coarser)
    step: the facility's contribution to the system peak
    (:func:`contribution_to_system_peak`) over its own non-coincident peak.

    Parameters
    ----------
    profile, system_load, n_peaks
        As :func:`contribution_to_system_peak`.

    Returns
    -------
    pint.Quantity
        Coincidence factor [dimensionless], in ``[0, 1]`` for a non-negative load.

    Raises
    ------
    gridlink.units.UnitError, StatsError
        As :func:`contribution_to_system_peak`; :class:`StatsError` also if the
        facility peak is not positive.

    References
    ----------
    IEEE Std 100-2000, "coincidence factor" (coincident maximum demand over the
    sum of individual maximum demands; here one facility); Gönen (2014), ch. 2.
    """
    fac, sysl = _align(
        as_profile(profile, name="profile"), as_profile(system_load, name="system_load")
    )
    pos = _peak_positions(sysl, n_peaks)
    pk = _positive(float(fac.max()), "peak", "profile")
    return Q_(float(fac[pos].mean()) / pk, "dimensionless")
