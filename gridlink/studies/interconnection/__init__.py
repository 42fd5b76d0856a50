"""The large-load interconnection study (NERC LLTF / Level 3 alert, ERCOT LEL ride-through).

The statistics it reports are planner statistics in :mod:`gridlink.stats`
(:func:`~gridlink.stats.ramp_distribution`, :func:`~gridlink.stats.load_duration_curve`,
:func:`~gridlink.stats.hours_above_levels`, :func:`~gridlink.stats.load_spectrum`).
This package holds the disturbance what-ifs and the study around them:

* :mod:`.transfers` -- per-rack loads of a facility and racks to UPS and back;
* :mod:`.load_loss` -- a load-loss event and the worst-case simultaneous loss;
* :mod:`.envelope` -- ride-through envelopes (threshold vs. duration tables);
* :mod:`.ride_through` -- the racks' ride-through of PCC sags;
* :mod:`.event_study` -- the quasi-static event feeder study (pandapower);
* :mod:`.study` -- :func:`~.study.run_study`, everything on one facility load;
* :mod:`.figures`, :mod:`.report` -- the figures and the HTML report;
* :mod:`.demo` -- the section of ``gridlink demo``;
* :mod:`.base` -- :class:`InterconnectionError` and small readers.

Definitions and sources: ``docs/interconnection.md``.  The heavy modules (event
study, study, report) are imported on use.
"""

from __future__ import annotations

from gridlink.studies.interconnection.base import InterconnectionError
from gridlink.studies.interconnection.envelope import PRC024_LOW_VOLTAGE, RideThroughEnvelope
from gridlink.studies.interconnection.load_loss import (
    ERCOT_LOAD_LOSS_LIMIT_MW,
    LoadLossEvent,
    apply_load_loss,
    worst_case_loss,
)
from gridlink.studies.interconnection.ride_through import (
    FrequencyExcursion,
    RackFrequencyRideThrough,
    RackRideThrough,
    RideThroughResult,
    Sag,
    frequency_ride_through,
    ride_through,
)
from gridlink.studies.interconnection.transfers import EventResult, apply_transfers, rack_pcc_mw

__all__ = [
    "InterconnectionError",
    "ERCOT_LOAD_LOSS_LIMIT_MW",
    "PRC024_LOW_VOLTAGE",
    "EventResult",
    "LoadLossEvent",
    "RackRideThrough",
    "RideThroughEnvelope",
    "RideThroughResult",
    "Sag",
    "apply_load_loss",
    "apply_transfers",
    "rack_pcc_mw",
    "ride_through",
    "FrequencyExcursion",
    "RackFrequencyRideThrough",
    "frequency_ride_through",
    "worst_case_loss",
]
