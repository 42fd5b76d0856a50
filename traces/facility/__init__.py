"""Facility simulation: servers -> racks -> the facility's point of common coupling (PCC).

:mod:`.spec` (FacilitySpec, WorkloadScenario, Assignment and their validation),
:mod:`.traffic` (per-replica request schedules, shared intensity, Azure offsets, diurnal
shape), :mod:`.run` (rack groups, chunks, warm-up/cool-down margins, bounded-memory
inference, dask) and
:mod:`.result` (FacilityResult, assembly, energy-conserving resampling);
:mod:`.flex_spec` and :mod:`.flexibility` (GPU power caps and curtailment windows with
their service cost, issue 15).

Re-exports every name of the former module ``traces.facility``.
"""

from traces import (
    DT_S,
)
from traces.facility.flex_spec import (
    CurtailmentWindow,
    FlexibilityError,
    FlexibilitySpec,
)
from traces.facility.result import (
    FacilityResult,
    RackChunk,
    assemble,
    resample_energy_mean,
)
from traces.facility.run import (
    BATCH_WINDOWS,
    CHUNK_STEPS,
    EDGE_MARGIN_S,
    _make_client,
    iter_racks,
    rack_groups,
    simulate_facility,
    simulate_methods,
    simulate_rack,
    simulate_racks,
    validate_configurations,
)
from traces.facility.spec import (
    METHODS,
    PAPER_METHODS,
    Assignment,
    FacilityConfigError,
    FacilitySpec,
    WorkloadScenario,
)
from traces.facility.traffic import (
    AZURE_ATTRIBUTION,
    replica_schedule,
    server_seed,
    shared_intensity,
)
from traces.power.generator import (
    PowerGenerator,
)

__all__ = [
    "AZURE_ATTRIBUTION",
    "Assignment",
    "BATCH_WINDOWS",
    "CHUNK_STEPS",
    "CurtailmentWindow",
    "DT_S",
    "EDGE_MARGIN_S",
    "FacilityConfigError",
    "FacilityResult",
    "FacilitySpec",
    "FlexibilityError",
    "FlexibilitySpec",
    "METHODS",
    "PAPER_METHODS",
    "PowerGenerator",
    "RackChunk",
    "WorkloadScenario",
    "_make_client",
    "assemble",
    "iter_racks",
    "rack_groups",
    "replica_schedule",
    "resample_energy_mean",
    "server_seed",
    "shared_intensity",
    "simulate_facility",
    "simulate_methods",
    "simulate_rack",
    "simulate_racks",
    "validate_configurations",
]
