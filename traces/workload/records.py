"""What the workload layer reads from a measured run: the :class:`RequestLog` protocol.

The layers below :mod:`traces.measured` never import the bundle format; anything with
these attributes works (:class:`traces.measured.ingest.MeasuredBundle` is the one the
library builds, from the powertrace_sim bundles or the legacy CSVs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import pandas as pd

__all__ = ["RequestLog"]


class RequestLog(Protocol):
    """A measured serving run: its request table, power log and engine log.

    Attributes
    ----------
    config_id, run_id : str
        Configuration (``<model>_<gpu>_tp<TP>``) and run names, used in messages.
    power_w : pandas.Series, shape (T,)
        Node GPU power [W] on a regular 250 ms tz-aware UTC DatetimeIndex.
    requests : pandas.DataFrame
        One row per request: ``arrival_time`` (datetime64[ns, UTC]), ``n_in``, ``n_out``
        [tokens], ``ttft_s`` [s], optionally ``itl_s`` (list of inter-token latencies [s]).
    active_requests : pandas.Series or None
        Measured in-flight requests A_t on the power grid, if logged.
    engine : pandas.DataFrame or None
        vLLM engine counters (``num_requests_running``, ``generation_tokens_total``, ...).
    metadata : Mapping
        Ingestion notes (e.g. ``itls_flat``).
    """

    @property
    def config_id(self) -> str: ...

    @property
    def run_id(self) -> str: ...

    @property
    def power_w(self) -> pd.Series: ...

    @property
    def requests(self) -> pd.DataFrame: ...

    @property
    def active_requests(self) -> pd.Series | None: ...

    @property
    def engine(self) -> pd.DataFrame | None: ...

    @property
    def metadata(self) -> Mapping[str, Any]: ...
