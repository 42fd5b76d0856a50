"""The Azure LLM inference traces: read the original CSV format and the shipped copies.

Azure data: Microsoft Azure Public Dataset (Azure LLM inference trace), CC BY 4.0,
https://github.com/Azure/AzurePublicDataset.  2023 traces: Patel et al., "Splitwise:
Efficient generative LLM inference using phase splitting", ISCA 2024.  The shipped
derived copy and its attribution are in ``traces/data/azure/README.md``.  Replaying a
trace as a schedule is :func:`traces.workload.arrivals.replay_azure`.
"""

import gzip
import io
import json
import logging
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from traces.workload.base import ScheduleError

logger = logging.getLogger(__name__)

__all__ = ["AZURE_TRACES", "read_azure_csv", "load_azure_trace"]

#: Names of the Azure 2023 traces shipped in ``traces/data/azure`` (see its README).
AZURE_TRACES: tuple[str, ...] = ("code", "conv")


# --------------------------------------------------------------------------- Azure


def read_azure_csv(path: str | Path) -> pd.DataFrame:
    """Read an Azure LLM inference trace CSV in its original format.

    Columns ``TIMESTAMP, ContextTokens, GeneratedTokens`` (Azure Public Dataset,
    CC BY 4.0).  The 2023 traces have naive timestamps with 7 fractional digits and no
    documented time zone: they are **treated as UTC** (an assumption, logged).  The 2024
    traces carry ``+00:00`` with 6 or 0 fractional digits (mixed formats): both parse.

    Parameters
    ----------
    path : str or Path
        CSV file (optionally ``.gz``).

    Returns
    -------
    pandas.DataFrame
        Columns ``arrival_time`` (datetime64[ns, UTC]), ``n_in`` (ContextTokens,
        int64 [tokens]), ``n_out`` (GeneratedTokens, int64 [tokens]), in file order.

    Raises
    ------
    ScheduleError
        Missing columns or unparseable timestamps.
    """
    raw = pd.read_csv(path, dtype={"TIMESTAMP": str})
    missing = {"TIMESTAMP", "ContextTokens", "GeneratedTokens"} - set(raw.columns)
    if missing:
        raise ScheduleError(f"{path}: not an Azure LLM trace, missing column(s) {sorted(missing)}")
    stamps = raw["TIMESTAMP"]
    has_zone = stamps.str.contains(r"(?:[+-]\d\d:\d\d|Z)$", regex=True)
    if not has_zone.all():
        logger.info(
            "%s: %d timestamp(s) have no time zone (Azure 2023 format); treated as UTC",
            path,
            int((~has_zone).sum()),
        )
    try:
        times = pd.to_datetime(stamps, format="ISO8601", utc=True)
    except (ValueError, TypeError) as exc:
        raise ScheduleError(f"{path}: cannot parse TIMESTAMP ({exc})") from exc
    return pd.DataFrame(
        {
            "arrival_time": times,
            "n_in": raw["ContextTokens"].to_numpy(dtype=np.int64),
            "n_out": raw["GeneratedTokens"].to_numpy(dtype=np.int64),
        }
    )


def load_azure_trace(name: str) -> pd.DataFrame:
    """Load a shipped 2023 Azure LLM inference trace (``"code"`` or ``"conv"``).

    Reads ``traces/data/azure/azure2023_<name>.csv.gz`` through ``importlib.resources``
    (no external data needed).  The copy keeps every row; arrival times are stored as
    integer microsecond offsets from the first request (the originals have 1 µs
    resolution, so the copy is exact; see the README there).

    Parameters
    ----------
    name : {"code", "conv"}

    Returns
    -------
    pandas.DataFrame
        Same columns as :func:`read_azure_csv`: ``arrival_time`` (UTC, 2023 stamps
        treated as UTC), ``n_in``, ``n_out`` [tokens].

    Raises
    ------
    ScheduleError
        Unknown name.

    Notes
    -----
    Data: Microsoft Azure Public Dataset (Azure LLM inference trace), CC BY 4.0.
    Patel et al., "Splitwise: Efficient generative LLM inference using phase
    splitting", ISCA 2024.
    """
    if name not in AZURE_TRACES:
        raise ScheduleError(f"name: expected one of {AZURE_TRACES}, got {name!r}")
    base = resources.files("traces") / "data" / "azure"
    meta = json.loads((base / "azure2023.json").read_text(encoding="utf-8"))[name]
    with gzip.open(io.BytesIO((base / meta["file"]).read_bytes()), "rt") as fh:
        raw = pd.read_csv(fh, dtype=np.int64)
    t0 = pd.Timestamp(meta["first_arrival_utc"])
    times = t0 + pd.to_timedelta(raw["arrival_us"].to_numpy(), unit="us")
    return pd.DataFrame(
        {
            "arrival_time": pd.DatetimeIndex(times).as_unit("ns"),
            "n_in": raw["ContextTokens"].to_numpy(),
            "n_out": raw["GeneratedTokens"].to_numpy(),
        }
    )


def _azure_frame(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        missing = {"arrival_time", "n_in", "n_out"} - set(source.columns)
        if missing:
            raise ScheduleError(
                f"source: frame lacks column(s) {sorted(missing)}; use read_azure_csv() first"
            )
        return source
    if isinstance(source, str) and source in AZURE_TRACES:
        return load_azure_trace(source)
    path = Path(source)
    if not path.exists():
        raise ScheduleError(
            f"source: {source!r} is neither a shipped trace {AZURE_TRACES} nor an existing file"
        )
    return read_azure_csv(path)
