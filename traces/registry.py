"""Deprecated path, kept for one release: use traces.model.registry and traces.model.transfer."""

from traces.model.configuration import (
    GPU_TDP_W,
)
from traces.model.registry import (
    RegistryError,
    available_ids,
    list_configurations,
    load_configuration,
)
from traces.model.transfer import (
    TRANSFER_PLAN,
    build_transferred,
    quantile_state_map,
    transfer_configuration,
)

__all__ = [
    "GPU_TDP_W",
    "RegistryError",
    "TRANSFER_PLAN",
    "available_ids",
    "build_transferred",
    "list_configurations",
    "load_configuration",
    "quantile_state_map",
    "transfer_configuration",
]
