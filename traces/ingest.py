"""Deprecated path, kept for one release: use traces.measured.ingest."""

from traces import (
    DT_S,
)
from traces.measured.ingest import (
    MAX_GAP_SAMPLES,
    BundleError,
    BundleGapError,
    MeasuredBundle,
    find_bundles,
    load_bundle,
    load_legacy_bundle,
    parse_config_id,
)

__all__ = [
    "BundleError",
    "BundleGapError",
    "DT_S",
    "MAX_GAP_SAMPLES",
    "MeasuredBundle",
    "find_bundles",
    "load_bundle",
    "load_legacy_bundle",
    "parse_config_id",
]
