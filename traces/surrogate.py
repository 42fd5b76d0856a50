"""Deprecated path, kept for one release: use traces.workload.surrogate."""

from traces import (
    DT_S,
)
from traces.workload.surrogate import (
    MAX_BATCH,
    BatchTimeline,
    LatencyModel,
    RngLike,
    SurrogateError,
    WorkloadFeatures,
    _fifo_starts,
    active_at,
    estimate_tbt,
    features_for_schedule,
    fit_latency_model,
    simulate_batching,
    validate_surrogate,
    workload_features,
)

__all__ = [
    "BatchTimeline",
    "DT_S",
    "LatencyModel",
    "MAX_BATCH",
    "RngLike",
    "SurrogateError",
    "WorkloadFeatures",
    "_fifo_starts",
    "active_at",
    "estimate_tbt",
    "features_for_schedule",
    "fit_latency_model",
    "simulate_batching",
    "validate_surrogate",
    "workload_features",
]
