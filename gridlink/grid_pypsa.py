"""Deprecated path, kept for one release: use gridlink.grid.pypsa."""

from gridlink.grid.pypsa import (
    FACILITY_CARRIER,
    PyPSAAdapterError,
    add_facility_load,
    export_load_csv,
    export_network_netcdf,
    profile_on_snapshots,
    snapshot_periods_utc,
)

__all__ = [
    "FACILITY_CARRIER",
    "PyPSAAdapterError",
    "snapshot_periods_utc",
    "profile_on_snapshots",
    "add_facility_load",
    "export_load_csv",
    "export_network_netcdf",
]
