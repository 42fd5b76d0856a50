"""Plain JSON values from the studies' summaries (shared by the demo and the reports)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["json_safe"]


def json_safe(obj: Any) -> Any:
    """``obj`` with every value :func:`json.dumps` can write as standard JSON.

    Dict keys become strings, tuples lists, paths and pandas times/durations strings
    (NaT ``None``), numpy scalars Python numbers, NaN ``None`` and +-inf the strings
    ``"inf"``/``"-inf"`` (standard JSON has neither); anything else passes unchanged.
    """
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, pd.Timestamp | pd.Timedelta):
        return None if pd.isna(obj) else str(obj)
    if obj is pd.NaT:
        return None
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj
