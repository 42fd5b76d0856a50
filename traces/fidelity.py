"""Deprecated path, kept for one release: use traces.measured.fidelity."""

from traces import (
    DT_S,
)
from traces.measured.fidelity import (
    ACF_MAX_LAG,
    METRIC_NAMES,
    FidelityError,
    acf_r2,
    autocorrelation,
    fidelity_metrics,
    summarize_metrics,
)

__all__ = [
    "ACF_MAX_LAG",
    "DT_S",
    "FidelityError",
    "METRIC_NAMES",
    "acf_r2",
    "autocorrelation",
    "fidelity_metrics",
    "summarize_metrics",
]
