"""The large-load interconnection study (NERC LLTF / Level 3 alert, ERCOT LEL ride-through).

Statistics (:mod:`.ramps`, :mod:`.duration`, :mod:`.spectrum`; numpy/scipy/pandas and
:mod:`gridlink.units` / :mod:`gridlink.resample` only), disturbance what-ifs
(:mod:`.events`), the quasi-static event feeder study (:mod:`.study`, pandapower) and
the report (:mod:`.report`).  Definitions and sources: ``docs/interconnection.md``.
The heavy modules (study, report) are imported on use.
"""

from __future__ import annotations

from gridlink.interconnection._profile import InterconnectionError
from gridlink.interconnection.duration import hours_above_levels, load_duration_curve
from gridlink.interconnection.events import (
    ERCOT_LOAD_LOSS_LIMIT_MW,
    PRC024_LOW_VOLTAGE,
    LoadLossEvent,
    RackRideThrough,
    RideThroughEnvelope,
    Sag,
    apply_load_loss,
    rack_pcc_mw,
    ride_through,
    worst_case_loss,
)
from gridlink.interconnection.ramps import DEFAULT_WINDOWS, ramp_distribution, ramp_window
from gridlink.interconnection.spectrum import load_spectrum

__all__ = [
    "InterconnectionError",
    "DEFAULT_WINDOWS",
    "ERCOT_LOAD_LOSS_LIMIT_MW",
    "PRC024_LOW_VOLTAGE",
    "LoadLossEvent",
    "RackRideThrough",
    "RideThroughEnvelope",
    "Sag",
    "apply_load_loss",
    "hours_above_levels",
    "load_duration_curve",
    "load_spectrum",
    "rack_pcc_mw",
    "ramp_distribution",
    "ramp_window",
    "ride_through",
    "worst_case_loss",
]
