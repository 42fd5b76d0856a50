"""Deprecated path, kept for one release: use traces.power.sampler."""

from traces.power.sampler import (
    SamplerError,
    clip_power,
    estimate_ar1,
    run_starts,
    sample_power_ar1,
    sample_power_iid,
    sample_states,
)

__all__ = [
    "SamplerError",
    "clip_power",
    "estimate_ar1",
    "run_starts",
    "sample_power_ar1",
    "sample_power_iid",
    "sample_states",
]
