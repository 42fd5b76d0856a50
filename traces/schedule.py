"""Deprecated path, kept for one release: use traces.workload.schedule and traces.workload.arrivals."""

from traces.workload.arrivals import (
    gamma_renewal,
    poisson,
    rate_function,
    replay_azure,
)
from traces.workload.azure import (
    AZURE_TRACES,
    load_azure_trace,
    read_azure_csv,
)
from traces.workload.base import (
    DEFAULT_START,
    RngLike,
    ScheduleError,
)
from traces.workload.schedule import (
    RequestSchedule,
    TokenDistribution,
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
