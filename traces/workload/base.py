"""Shared pieces of the workload layer: :class:`ScheduleError`, seeds and input checks.

Used by :mod:`traces.workload.schedule`, :mod:`traces.workload.arrivals` and
:mod:`traces.workload.azure`.
"""

import logging
from typing import Any

import numpy as np
import pandas as pd

from traces.fields import as_number

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_START", "RngLike", "ScheduleError"]


#: Start used when a generator is given no ``start``: 2024-05-16 00:00 UTC, the day of
#: the Azure 2024 code trace used in the paper's facility study.
DEFAULT_START: pd.Timestamp = pd.Timestamp("2024-05-16T00:00:00Z")


RngLike = np.random.Generator | int | None


class ScheduleError(ValueError):
    """A request schedule, token table, rate or trace is malformed."""


# --------------------------------------------------------------------------- helpers


def _as_utc(value: Any, *, name: str) -> pd.Timestamp:
    """Return ``value`` as a tz-aware UTC Timestamp; naive values are refused."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ScheduleError(f"{name}: cannot read {value!r} as a timestamp ({exc})") from exc
    if ts is pd.NaT:
        raise ScheduleError(f"{name}: got NaT; give a tz-aware UTC timestamp")
    if ts.tzinfo is None:
        raise ScheduleError(
            f"{name}: timestamp {ts} has no time zone; give a tz-aware one, e.g. "
            f"pd.Timestamp('{ts.isoformat()}', tz='UTC')"
        )
    return ts.tz_convert("UTC")


def _as_int_tokens(values: Any, *, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D int64 array; non-integral or non-finite values raise."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ScheduleError(f"{name}: expected a 1-D array of token counts, got shape {arr.shape}")
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ScheduleError(f"{name}: expected integer token counts, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ScheduleError(
                f"{name}: {int(bad.sum())} value(s) are not whole token counts "
                f"(first at index {i}: {arr[i]!r}); token counts must be integers"
            )
    return arr.astype(np.int64)


def _rng(rng: RngLike) -> np.random.Generator:
    return np.random.default_rng(rng)


def _check_positive(value: float, *, name: str, allow_zero: bool = False) -> float:
    v = as_number(value, name, error=ScheduleError)
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        need = ">= 0" if allow_zero else "> 0"
        raise ScheduleError(f"{name}: must be finite and {need}, got {value!r}")
    return v
