"""Deprecated path, kept for one release: use traces.model.fit and traces.measured.training."""

from traces.measured.training import (
    FEATURE_SET_CHOICES,
    fit_all,
    main,
    write_index,
)
from traces.model.fit import (
    AR1_PHI_THRESHOLD,
    DATA_LICENSE_NOTE,
    FEATURE_SETS,
    GPU_TDP_W,
    OVERLAP_GRID,
    STATE_RHO_GRID,
    WINDOW_EDGE_TOL_FIT,
    FitError,
    acf,
    choose_overlap,
    fit_configuration,
    training_features,
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


if __name__ == "__main__":  # pragma: no cover - `python -m traces.fit`, the old path
    main()
