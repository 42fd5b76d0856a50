"""Deprecated path, kept for one release: use traces.workload.schedule."""

from traces.workload.schedule import (
    AZURE_TRACES,
    DEFAULT_START,
    RequestSchedule,
    RngLike,
    ScheduleError,
    TokenDistribution,
    gamma_renewal,
    load_azure_trace,
    poisson,
    rate_function,
    read_azure_csv,
    replay_azure,
)

__all__ = [
    "AZURE_TRACES",
    "DEFAULT_START",
    "RequestSchedule",
    "RngLike",
    "ScheduleError",
    "TokenDistribution",
    "gamma_renewal",
    "load_azure_trace",
    "poisson",
    "rate_function",
    "read_azure_csv",
    "replay_azure",
]
