"""Deprecated path, kept for one release: use traces.measured.evaluate."""

from traces import (
    DT_S,
)
from traces.measured.evaluate import (
    BASELINE_METHODS,
    DEFAULT_SEEDS,
    METHODS,
    METRIC_NAMES,
    EvaluationError,
    Split,
    cached_evaluation,
    default_model_factory,
    evaluate_configuration,
    evaluate_fitted,
    evaluate_split,
    fit_baselines,
    heldout_features,
    make_splits,
    slice_bundle,
    summary_table,
    transfer_experiment,
)

__all__ = [
    "BASELINE_METHODS",
    "DEFAULT_SEEDS",
    "DT_S",
    "EvaluationError",
    "METHODS",
    "METRIC_NAMES",
    "Split",
    "cached_evaluation",
    "default_model_factory",
    "evaluate_configuration",
    "evaluate_fitted",
    "evaluate_split",
    "fit_baselines",
    "heldout_features",
    "make_splits",
    "slice_bundle",
    "summary_table",
    "transfer_experiment",
]
