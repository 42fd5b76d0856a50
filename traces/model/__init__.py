"""Model layer: the fitted configuration (:mod:`.configuration`), fitting (:mod:`.fit`),
the shipped registry (:mod:`.registry`), transfer to new hardware (:mod:`.transfer`) and
the baselines (:mod:`.baselines`).

Re-exports the names of the former module ``traces.model`` (the configuration).
"""

from traces import DT_S
from traces.model.configuration import (
    FEATURE_SETS,
    GPU_TDP_W,
    SCHEMA_VERSION,
    ArtifactError,
    FittedConfiguration,
    GeneratedTrace,
    ModelError,
    feature_matrix,
)

__all__ = [
    "DT_S",
    "ArtifactError",
    "ModelError",
    "FEATURE_SETS",
    "GPU_TDP_W",
    "FittedConfiguration",
    "GeneratedTrace",
    "feature_matrix",
    "SCHEMA_VERSION",
]
