"""Planner statistics of a facility load profile at the point of common coupling.

Every function takes a profile as a :class:`pandas.Series` of power on a regular,
tz-aware :class:`~pandas.DatetimeIndex` that declares its unit (``attrs["unit"]``
or a ``_mw``/``_kw``/``_w`` name suffix) and returns pint quantities in the
package registry (:data:`gridlink.units.ureg`).  A sample stamped ``t`` is the
mean power over ``[t, t + step)`` (interval-beginning labels), so energy is
``sum(p) * step``.  :func:`load_statistics` gathers everything into a tidy
table whose column names carry their unit, one row per profile.

The definitions (written out with a worked example in ``docs/statistics.md``)
follow the usual utility/IEEE vocabulary (load factor, coincidence factor,
demand at system peak) and what NERC's Large Loads Task Force asks of large
computational loads: not only peak MW but ramps, step changes and how long the
load stays high.

References
----------
.. [1] IEEE Std 100-2000, *The Authoritative Dictionary of IEEE Standards Terms*,
   entries "load factor" and "coincidence factor"; also T. Gönen, *Electric
   Power Distribution Engineering*, 3rd ed., CRC Press, 2014, ch. 2.
.. [2] NERC Large Loads Task Force, *Characteristics and Risks of Emerging
   Large Loads* (white paper, 2025): ramp rates, step changes and ride-through
   of data-centre loads.

Modules: :mod:`~gridlink.stats.levels` (energy, peak, mean, load factor, durations above
a threshold), :mod:`~gridlink.stats.ramps` (steps and ramp rates),
:mod:`~gridlink.stats.ramp_table` (the 1 s-1 h ramp table of an interconnection
study), :mod:`~gridlink.stats.duration` (load-duration curve, hours above levels),
:mod:`~gridlink.stats.spectrum` (Welch spectrum and band power, Nyquist-honest),
:mod:`~gridlink.stats.coincidence` (demand at system peak, coincidence factor),
:mod:`~gridlink.stats.summary` (:func:`load_statistics`) and
:mod:`~gridlink.stats.base` (:class:`StatsError`, the validated profile).  Everything
public is re-exported here: ``from gridlink.stats import X`` is the stable path.
"""

from __future__ import annotations

from gridlink.stats.base import StatsError, window_label
from gridlink.stats.coincidence import coincidence_factor, contribution_to_system_peak
from gridlink.stats.duration import hours_above_levels, load_duration_curve
from gridlink.stats.levels import (
    coefficient_of_variation,
    energy,
    hours_above,
    load_factor,
    longest_run_above,
    mean_power,
    peak,
    peak_to_average,
)
from gridlink.stats.ramp_table import (
    DEFAULT_RAMP_WINDOWS,
    RampWindow,
    ramp_changes,
    ramp_distribution,
    ramp_window,
)
from gridlink.stats.ramps import RampMethod, RampStatistics, max_step, ramp_statistics
from gridlink.stats.spectrum import DEFAULT_BANDS_HZ, Spectrum, load_spectrum
from gridlink.stats.summary import load_statistics

__all__ = [
    "StatsError",
    "RampMethod",
    "RampStatistics",
    "energy",
    "peak",
    "mean_power",
    "load_factor",
    "peak_to_average",
    "coefficient_of_variation",
    "max_step",
    "ramp_statistics",
    "hours_above",
    "longest_run_above",
    "contribution_to_system_peak",
    "coincidence_factor",
    "load_statistics",
    "window_label",
    "DEFAULT_RAMP_WINDOWS",
    "RampWindow",
    "ramp_changes",
    "ramp_window",
    "ramp_distribution",
    "load_duration_curve",
    "hours_above_levels",
    "DEFAULT_BANDS_HZ",
    "Spectrum",
    "load_spectrum",
]
