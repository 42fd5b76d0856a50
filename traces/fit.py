"""Deprecated path, kept for one release: use traces.model.fit."""

from traces.model.fit import (
    AR1_PHI_THRESHOLD,
    DATA_LICENSE_NOTE,
    FEATURE_SET_CHOICES,
    FEATURE_SETS,
    GPU_TDP_W,
    OVERLAP_GRID,
    STATE_RHO_GRID,
    WINDOW_EDGE_TOL_FIT,
    FitError,
    acf,
    choose_overlap,
    fit_all,
    fit_configuration,
    main,
    training_features,
    write_index,
)

__all__ = [
    "AR1_PHI_THRESHOLD",
    "DATA_LICENSE_NOTE",
    "FEATURE_SETS",
    "FEATURE_SET_CHOICES",
    "FitError",
    "GPU_TDP_W",
    "OVERLAP_GRID",
    "STATE_RHO_GRID",
    "WINDOW_EDGE_TOL_FIT",
    "acf",
    "choose_overlap",
    "fit_all",
    "fit_configuration",
    "main",
    "training_features",
    "write_index",
]
