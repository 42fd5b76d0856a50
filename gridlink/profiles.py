"""Reading a facility PCC profile from a file (the CLI input format).

One format serves every command that takes ``--profile`` (``gridlink feeder``,
``gridlink expansion``): a Parquet or CSV table whose time is a tz-aware
``DatetimeIndex`` (Parquet; the CSV's first column) or a tz-aware ``time`` column, and a
power column named with its unit — ``p_mw``, or a single column such as ``site_kw``.
Times label the start of each interval (the value holds over ``[t, t + step)``).
``FacilityResult.pcc_mw.to_frame().to_parquet(path)`` writes it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from gridlink.units import series_to_magnitude

__all__ = ["ProfileFileError", "read_profile_frame", "read_profile", "read_column"]

_UNIT_SUFFIXES = {"mw": "MW", "kw": "kW", "w": "W", "gw": "GW"}


class ProfileFileError(ValueError):
    """A profile file that does not follow the format (names the file and the fix)."""


def read_profile_frame(path: str | Path) -> pd.DataFrame:
    """Read a profile file into a DataFrame on a UTC ``DatetimeIndex`` named ``time``.

    Raises
    ------
    ProfileFileError
        Unknown file type, no time (index or ``time`` column), naive times, a CSV row
        whose time cannot be parsed (its line is named) or that lacks the UTC offset the
        other rows carry.  CSV times are ISO 8601; mixed offsets (local time across a
        DST change, as pandas writes it) are converted row by row.
    """
    path = Path(path)
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif path.suffix == ".csv":
        frame = pd.read_csv(path, index_col=0)
        frame.index = _parse_csv_times(frame.index, path)
    else:
        raise ProfileFileError(f"profile file {path}: expected a .parquet or .csv file")
    if not isinstance(frame.index, pd.DatetimeIndex):
        if "time" not in frame.columns:
            raise ProfileFileError(
                f"profile file {path}: needs a tz-aware DatetimeIndex or a 'time' column"
            )
        frame = frame.set_index(pd.DatetimeIndex(frame["time"])).drop(columns="time")
    if frame.index.tz is None:
        raise ProfileFileError(
            f"profile file {path}: the times are naive; write them tz-aware (UTC), e.g. "
            "df.index = df.index.tz_localize('UTC')"
        )
    frame.index = frame.index.tz_convert("UTC")
    frame.index.name = "time"
    return frame


_OFFSET = re.compile(r"\d\d:\d\d(?::\d\d(?:\.\d+)?)?\s*(?:Z|[+-]\d\d(?::?\d\d)?)$")


def _parse_csv_times(raw: pd.Index, path: Path) -> pd.Index:
    """The CSV's first column as UTC times: ISO 8601 with offsets, mixed offsets allowed.

    Local times written by pandas across a DST change carry two UTC offsets
    (``+01:00`` / ``+02:00``); each row is converted with its own offset.  Rows without
    an offset are naive (refused unless every row is, then the caller's naive-time
    message applies); a row that is no time names its line.
    """
    text = pd.Series(raw.astype(str), index=range(len(raw))).str.strip()
    aware = text.str.contains(_OFFSET)
    if not aware.any():
        try:
            return pd.DatetimeIndex(pd.to_datetime(text, format="ISO8601"), name=raw.name)
        except (ValueError, TypeError):
            return raw  # not times: the caller looks for a 'time' column
    if not aware.all():
        row = int(np.flatnonzero(~aware.to_numpy())[0])
        raise ProfileFileError(
            f"profile file {path}: line {row + 2} ({text.iloc[row]!r}) has no UTC offset while "
            "other rows have one; write every time with its offset (ISO 8601, e.g. "
            "'2025-03-30T01:00:00+01:00') or all in UTC"
        )
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        row = int(bad[0])
        raise ProfileFileError(
            f"profile file {path}: line {row + 2} ({text.iloc[row]!r}) is not an ISO 8601 time "
            f"({bad.size} such row(s)); write times like '2025-03-30T01:00:00+01:00'"
        )
    return pd.DatetimeIndex(parsed, name=raw.name)


def read_column(frame: pd.DataFrame, column: str, unit: str) -> pd.Series:
    """Column ``column`` of a profile frame as float64 with ``attrs["unit"] = unit``.

    The unit is a label here (``"Mvar"`` for reactive power is not a pint unit); power
    columns are converted with :func:`gridlink.units.series_to_magnitude` afterwards.
    """
    out = pd.Series(frame[column].to_numpy(np.float64), index=frame.index, name=column)
    out.attrs["unit"] = unit
    return out


def read_profile(path: str | Path) -> pd.Series:
    """Read a facility PCC profile (see the module docstring) as active power in MW.

    Parameters
    ----------
    path : str or os.PathLike
        ``.parquet`` or ``.csv`` file.

    Returns
    -------
    pandas.Series, shape (T,)
        ``p_mw`` [MW] (consumer sign convention) with ``attrs["unit"] == "MW"`` on a UTC
        DatetimeIndex.

    Raises
    ------
    ProfileFileError
        As :func:`read_profile_frame`, or no power column: neither ``p_mw`` nor a single
        column whose name ends in a unit (``_mw``, ``_kw``, ``_w``, ``_gw``).
    """
    frame = read_profile_frame(path)
    unit: str | None
    if "p_mw" in frame.columns:
        column, unit = "p_mw", "MW"
    else:
        power = [c for c in frame.columns if c != "q_mvar"]
        unit = _UNIT_SUFFIXES.get(str(power[0]).lower().rsplit("_", 1)[-1]) if power else None
        if len(power) != 1 or unit is None:
            raise ProfileFileError(
                f"profile file {path}: needs a 'p_mw' column [MW] (or one power column named "
                f"with its unit, e.g. 'site_kw'); found columns {list(frame.columns)}"
            )
        column = str(power[0])
    p = series_to_magnitude(read_column(frame, column, unit), "MW", name=f"{path}:{column}")
    return p.rename("p_mw")
