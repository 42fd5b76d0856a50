"""Deprecated path, kept for one release: use traces.model.registry."""

from traces.model.registry import (
    GPU_TDP_W,
    TRANSFER_PLAN,
    RegistryError,
    available_ids,
    build_transferred,
    list_configurations,
    load_configuration,
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
