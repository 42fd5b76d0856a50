"""Deprecated path, kept for one release: use traces.model.baselines."""

from traces import (
    DT_S,
)
from traces.model.baselines import (
    DECODE,
    IDLE,
    MIXED,
    NAMEPLATE_TDP_W,
    PHASES,
    PREFILL,
    ActiveLookupBaseline,
    BaselineError,
    MeanBaseline,
    PhaseLUTBaseline,
    TDPBaseline,
    TrainingTrace,
    baseline_stats,
    baselines_from_stats,
    bundle_phases,
    feature_phases,
    timeline_phase_counts,
)

__all__ = [
    "ActiveLookupBaseline",
    "BaselineError",
    "DECODE",
    "DT_S",
    "IDLE",
    "MIXED",
    "MeanBaseline",
    "NAMEPLATE_TDP_W",
    "PHASES",
    "PREFILL",
    "PhaseLUTBaseline",
    "TDPBaseline",
    "TrainingTrace",
    "baseline_stats",
    "baselines_from_stats",
    "bundle_phases",
    "feature_phases",
    "timeline_phase_counts",
]
