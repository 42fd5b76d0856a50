"""The protocol of power generators: anything that maps workload features to GPU power.

The fitted model (:class:`traces.model.configuration.FittedConfiguration`) and the
paper's baselines (:mod:`traces.model.baselines`, §4.2) satisfy it; the facility
(:mod:`traces.facility.run`) runs any of them per replica.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    from traces.workload.surrogate import WorkloadFeatures

__all__ = ["PowerGenerator"]


class PowerGenerator(Protocol):
    """Anything that maps workload features to GPU power (the model or a baseline)."""

    def generate_from_features(
        self, features: WorkloadFeatures, *, rng: np.random.Generator
    ) -> np.ndarray:  # pragma: no cover - protocol
        """Node GPU power [W], shape (T,), on the features' 250 ms grid."""
        ...
