"""What the interconnection study's modules share: :class:`InterconnectionError` and the
readers of times and ramp limits.

The profile validation (plain MW on a regular UTC grid) is
:func:`gridlink.stats.base.as_profile`, shared with every planner statistic.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["InterconnectionError"]


class InterconnectionError(ValueError):
    """An input to the interconnection study is invalid; the message names the field."""


def _check_ramp(value: float | None, name: str) -> None:
    if value is None:
        return
    if not (isinstance(value, int | float) and np.isfinite(value) and value > 0):
        raise InterconnectionError(
            f"{name}: expected a positive ramp limit [MW/min] or None, got {value!r}"
        )


def _fmt_time(ts: pd.Timestamp) -> str:
    text = ts.strftime("%Y-%m-%d %H:%M:%S.%f").rstrip("0").rstrip(".")
    return f"{text} UTC"


def _timestamp(value: Any, name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InterconnectionError(
            f"{name}: cannot read {value!r} as a time; use e.g. '2024-05-16T12:00:00Z'"
        ) from exc
    if ts.tzinfo is None:
        raise InterconnectionError(
            f"{name}: {value!r} has no time zone; give UTC explicitly, e.g. '...T12:00:00Z'"
        )
    return ts.tz_convert("UTC")
