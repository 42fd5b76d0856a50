"""Measured power/request bundles -> :class:`MeasuredBundle` on the 250 ms UTC grid.

Two input formats are read:

* the **powertrace_sim bundle** (Wilkins, Kazhamiaka and Rajagopal 2026, public repository
  grantwilkins/powertrace-sim, ``data/runs/``): a folder ``<model>_<GPU>_tp<TP>/<run_id>/``
  holding ``power.csv`` (nvidia-smi ``--query-gpu`` log, one row per GPU per sample,
  timestamps in the server's LOCAL wall time), ``engine.csv`` (vLLM ``/metrics`` scrape,
  Unix epoch seconds), ``requests*.json`` (vLLM ``benchmark_serving.py --save-detailed``
  lists, request times in Unix epoch seconds) and ``manifest*.json`` (run metadata; its
  ``clock.local_utc_offset_s`` converts the power clock: ``epoch = naive_local_as_utc_epoch
  - local_utc_offset_s``).  Read with :func:`load_bundle`; list with :func:`find_bundles`.
* the **legacy format** of the paper's corpus: an nvidia-smi CSV with spaced headers
  (``timestamp, index, power.draw [W]``) and unit-suffixed values (``" 123.45 W"``), plus a
  vLLM ``--save-result`` JSON.  Read with :func:`load_legacy_bundle`.

Alignment choices (documented here once)
-----------------------------------------
* **Node power.**  For TP > 1 the rows of one timestamp (one per GPU) are summed.  The number
  of rows per timestamp must equal the TP degree, otherwise :class:`BundleError` names the
  file and the line.  (The authors' reference code instead sums the first TP devices by
  index; for the bundles here both agree.)
* **Regular grid.**  Samples from nvidia-smi jitter and can arrive late or go missing.  The
  power is put on a regular grid ``t_k = t_0 + k * 0.25 s`` (``t_0`` = first sample,
  ``k = 0 .. floor((t_last - t_0) / 0.25)``).  A grid point with no measured sample within
  half a step (0.125 s) counts as *interpolated* (``metadata["n_interpolated"]``) and gets
  the linear interpolation between the samples around it (:func:`numpy.interp`).  A grid
  point with a sample within half a step takes that nearest sample's value by default
  (``method="nearest"``): the sample clock drifts by up to half a step against the grid
  (after a late sample, the whole rest of the log is shifted), and interpolating between
  two neighbours there averages them, which cuts the 250 ms peaks (A100 Qwen3-8B r4: peak
  509.2 W measured, 458 W after linear interpolation).  ``method="linear"`` interpolates
  everywhere.  Measured samples that no grid point takes (two samples closer than a step)
  are counted in ``metadata["n_samples_unused"]``; the largest time shift of a kept sample
  is ``metadata["max_abs_shift_s"]`` (<= 0.125 s).
* **Gaps.**  Two consecutive samples at least 1.5 steps apart (at least one nominal sample
  missing), or any shorter interval that holds an interpolated grid point (a late sample,
  e.g. 0.36 s, when the sample clock is half a step off the grid), form a gap.  Each is
  recorded in ``metadata["gaps"]`` with its start (UTC, last sample before it), length [s],
  the nominal number of missing samples ``n_missing = round(length / 0.25) - 1`` (0 for a
  late sample) and the number of interpolated grid points inside it, so that
  ``metadata["n_interpolated"]`` is the sum over the gaps.  Gaps of up to ``max_gap_samples`` (default 4, as in
  the authors' alignment) missing samples are interpolated; a longer gap raises
  :class:`BundleGapError` naming the file, the time and the length.  Nothing is split or
  dropped silently: a caller that wants to use a bundle with a long gap must cut the file.
* **Measured A_t.**  ``active_requests`` is ``engine.csv:num_requests_running`` at each grid
  time, taken from the last engine sample at or before it.  Grid points before the first
  engine sample get that first sample's value if it lies within one step after them, and
  NaN otherwise (counted in ``metadata["n_active_nan"]``).  Grid points more than one step
  after the last engine sample hold its value (counted in
  ``metadata["n_active_after_engine_end"]``).
* **Requests** stay in dispatch order (the order stored), with ``arrival_time`` the client
  send time in UTC.  When a full ``requests.json`` with ``itls`` is present it is preferred
  to ``requests.no_itls.json`` and its per-request inter-token latencies [s] are kept in an
  ``itl_s`` column (a trace-replay file's flat ``itls`` list, one number per request, is
  kept as a one-element list per request and flagged in ``metadata["itls_flat"]``).

* **Requests sent just before the power log.**  A request whose send time lies less than one
  grid step (0.25 s) before the first power sample is moved to the first power sample and a
  note is logged (``metadata["n_requests_aligned"]``, ``metadata["max_request_shift_s"]``):
  the power and request clocks are read by different processes, and the agentic replay in
  ``powertrace_sim_incoming`` sends its first request 42 ms before nvidia-smi's first
  sample (``manifest.clock.first_sample_skew_s``), which is clock skew, not a missing power
  window.  A request earlier than that is left as sent and a warning names the count (the
  schedule then refuses the bundle: re-base it explicitly).
* **No engine log.**  ``engine.csv`` is optional: a bundle of power log + request log +
  manifest (what most operators have) loads with ``engine = None`` and
  ``active_requests = None`` (measured A_t absent; ``metadata["has_engine"]`` False).
* **Cached and prefix tokens.**  When the request log carries ``cached_prompt_tokens``
  (prompt tokens served from vLLM's prefix cache, not prefilled) or ``prefix_tokens``
  (tokens shared with the session's previous turn, cached or not), they are kept as
  ``n_cached`` / ``n_prefix`` (int64) columns; each must satisfy ``0 <= value <= n_in``.

``metadata`` is JSON-serialisable (times as ISO-8601 strings) so that fitted models can store
it as provenance.

References
----------
G. Wilkins, F. Kazhamiaka, R. Rajagopal, "From Servers to Sites: Compositional Power Trace
Generation of LLM Inference for Infrastructure Planning", 2026 (Section 3, data alignment).

One cohesive module over ~600 lines: reading one measured-bundle format (powertrace_sim
and the legacy CSVs) into a :class:`MeasuredBundle`, with every validation of it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from traces import DT_S
from traces.fields import allowed_keys, check_plausible

__all__ = [
    "BundleError",
    "BundleGapError",
    "MeasuredBundle",
    "data_roots",
    "find_bundles",
    "load_bundle",
    "load_legacy_bundle",
    "parse_config_id",
]

logger = logging.getLogger(__name__)

#: Longest gap (in missing nvidia-smi samples) that is bridged by linear interpolation.
MAX_GAP_SAMPLES: int = 4

_CONFIG_RE = re.compile(r"^(?P<model>.+)_(?P<gpu>[A-Za-z0-9]+)_tp(?P<tp>\d+)$")
_NVSMI_TIME_FORMAT = "%Y/%m/%d %H:%M:%S.%f"
_POWER_COLUMN = "power.draw [W]"
_REQUEST_KEYS = ("input_lens", "output_lens", "ttfts")


class BundleError(ValueError):
    """A measured bundle is missing, malformed or inconsistent (message names file/column/row)."""


class BundleGapError(BundleError):
    """The power log has a gap longer than the interpolation limit."""


@dataclass(frozen=True)
class MeasuredBundle:
    """One measured serving run on the 250 ms UTC grid (see ``docs/architecture.md``).

    Attributes
    ----------
    config_id : str
        ``<model>_<GPU>_tp<TP>``, e.g. ``qwen3-8b_A100_tp1``.
    run_id : str
        Run folder name (legacy: the power CSV's stem unless given).
    model, gpu : str
        Model and GPU parsed from ``config_id``.
    tp : int
        Tensor-parallel degree (number of GPUs summed in ``power_w``).
    power_w : pandas.Series
        Node power summed over the TP GPUs [W], float64, shape (T,), regular 250 ms
        tz-aware UTC DatetimeIndex starting at the first power sample.
    requests : pandas.DataFrame
        One row per request in dispatch order: ``arrival_time`` (datetime64[ns, UTC]),
        ``n_in``, ``n_out`` (int64 tokens), ``ttft_s`` (float64 [s]); optional ``itl_s``
        (object: list of inter-token latencies [s]), ``n_cached`` (prompt tokens served
        from the prefix cache) and ``n_prefix`` (prompt tokens shared with an earlier
        turn), int64, when the request log carries them.
    active_requests : pandas.Series or None
        Measured ``num_requests_running`` on ``power_w.index`` (float64, NaN before the
        engine log starts); None for legacy bundles and bundles without engine.csv.
    engine : pandas.DataFrame or None
        The engine log as stored (all columns float64) with a UTC DatetimeIndex; None for
        legacy bundles and bundles without engine.csv.
    manifest : dict
        The manifest as loaded; ``{}`` for legacy bundles.
    metadata : dict
        JSON-serialisable: ``n_interpolated``, ``gaps``, ``sources`` (path + sha256), counts,
        and a manifest subset.
    """

    config_id: str
    run_id: str
    model: str
    gpu: str
    tp: int
    power_w: pd.Series
    requests: pd.DataFrame
    active_requests: pd.Series | None
    engine: pd.DataFrame | None
    manifest: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers


def parse_config_id(config_id: str) -> tuple[str, str, int]:
    """Split ``<model>_<GPU>_tp<TP>`` into ``(model, gpu, tp)``.

    Parameters
    ----------
    config_id : str
        E.g. ``"llama-3.1-70b_H100_tp4"``.

    Returns
    -------
    tuple of (str, str, int)
        ``("llama-3.1-70b", "H100", 4)``.

    Raises
    ------
    BundleError
        If the name does not have the form ``<model>_<GPU>_tp<TP>`` with TP >= 1.
    """
    match = _CONFIG_RE.match(config_id)
    if match is None or int(match["tp"]) < 1:
        raise BundleError(
            f"configuration name {config_id!r} is not of the form <model>_<GPU>_tp<TP> "
            "(e.g. qwen3-8b_A100_tp1); rename the folder or pass config_id explicitly"
        )
    return match["model"], match["gpu"], int(match["tp"])


def _check_method(method: str) -> None:
    if method not in ("nearest", "linear"):
        raise ValueError(f"method must be 'nearest' or 'linear', got {method!r}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _source(path: Path) -> dict[str, str]:
    return {"path": str(path), "sha256": _sha256(path)}


def _require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise BundleError(f"missing {what}: {path} does not exist; check the bundle folder")
    return path


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise BundleError(f"{path}: expected a JSON object at the top level")
    return data


def _require_columns(df: pd.DataFrame, columns: Sequence[str], path: Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise BundleError(
            f"{path}: missing column(s) {missing}; found {list(df.columns)}. "
            "The file must be the unmodified log of the measurement"
        )


def _numeric_column(df: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    """Column as float64; raise naming the first non-numeric cell (CSV line = row + 2)."""
    raw = df[column]
    if raw.dtype == object:
        cleaned = raw.astype(str).str.strip()
        if column == _POWER_COLUMN:
            cleaned = cleaned.str.removesuffix("W").str.strip()
        values = pd.to_numeric(cleaned, errors="coerce")
    else:
        values = pd.to_numeric(raw, errors="coerce")
    bad = np.flatnonzero(~np.isfinite(values.to_numpy(dtype=np.float64)))
    if bad.size:
        row = int(bad[0])
        raise BundleError(
            f"{path}: column {column!r} has {bad.size} non-numeric or missing value(s), "
            f"first at line {row + 2} (value {raw.iloc[row]!r}); nvidia-smi writes '[N/A]' "
            "when a reading failed - remove or repair those rows explicitly"
        )
    return values.to_numpy(dtype=np.float64)


def _parse_local_times(raw: pd.Series, path: Path, local_utc_offset_s: float) -> np.ndarray:
    """nvidia-smi local wall-time strings -> Unix epoch [ns] (int64)."""
    text = raw.astype(str).str.strip()
    parsed = pd.to_datetime(text, format=_NVSMI_TIME_FORMAT, errors="coerce")
    if parsed.isna().any():
        # legacy logs may carry ISO-8601 stamps; try that before failing
        iso = pd.to_datetime(text, format="ISO8601", errors="coerce")
        if iso.notna().all() and iso.dt.tz is None:
            parsed = iso
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        row = int(bad[0])
        raise BundleError(
            f"{path}: column 'timestamp' line {row + 2} ({raw.iloc[row]!r}) is not a time of the "
            f"form YYYY/MM/DD HH:MM:SS.mmm (nvidia-smi --query-gpu format)"
        )
    offset_ns = round(float(local_utc_offset_s) * 1e9)
    return parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64) - offset_ns


def _node_power(
    times_ns: np.ndarray,
    power_w: np.ndarray,
    tp: int,
    path: Path,
    gpu_index: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sum per-GPU rows sharing a timestamp; check rows-per-timestamp == tp and monotonicity."""
    steps = np.diff(times_ns)
    back = np.flatnonzero(steps < 0)
    if back.size:
        row = int(back[0]) + 1
        raise BundleError(
            f"{path}: column 'timestamp' goes backwards at line {row + 2} "
            f"({pd.Timestamp(times_ns[row], tz='UTC')} after "
            f"{pd.Timestamp(times_ns[row - 1], tz='UTC')}); timestamps must be non-decreasing"
        )
    starts = np.concatenate(([0], np.flatnonzero(steps > 0) + 1))
    counts = np.diff(np.concatenate((starts, [times_ns.size])))
    wrong = np.flatnonzero(counts != tp)
    if wrong.size:
        g = int(wrong[0])
        raise BundleError(
            f"{path}: {counts[g]} GPU row(s) at the timestamp of line {starts[g] + 2} "
            f"({pd.Timestamp(times_ns[starts[g]], tz='UTC')} UTC) but tp={tp}; every sample must "
            f"have one row per tensor-parallel GPU ({wrong.size} timestamp(s) affected). "
            "Check the manifest 'tp' / the tp argument, or repair the log"
        )
    if gpu_index is not None and tp > 1:
        group = np.repeat(np.arange(starts.size), counts)
        order = np.lexsort((gpu_index, group))
        repeated = np.flatnonzero((np.diff(group[order]) == 0) & (np.diff(gpu_index[order]) == 0))
        if repeated.size:
            row = int(order[repeated[0] + 1])
            raise BundleError(
                f"{path}: GPU index {int(gpu_index[row])} appears twice at the timestamp of line "
                f"{row + 2}; every sample must have one row per tensor-parallel GPU"
            )
    return times_ns[starts], np.add.reduceat(power_w, starts)


def _regular_grid(
    sample_ns: np.ndarray,
    sample_power_w: np.ndarray,
    path: Path,
    *,
    dt_s: float,
    max_gap_samples: int,
    method: str,
) -> tuple[pd.Series, dict[str, Any]]:
    """Interpolate samples onto t0 + k*dt; record and check gaps."""
    if sample_ns.size < 2:
        raise BundleError(f"{path}: needs at least 2 power samples, found {sample_ns.size}")
    t0 = int(sample_ns[0])
    rel_s = (sample_ns - t0) / 1e9
    n_grid = int(math.floor(rel_s[-1] / dt_s + 1e-9)) + 1
    grid_s = np.arange(n_grid, dtype=np.float64) * dt_s
    power = np.interp(grid_s, rel_s, sample_power_w)

    right = np.clip(np.searchsorted(rel_s, grid_s), 0, rel_s.size - 1)
    left = np.clip(right - 1, 0, rel_s.size - 1)
    right_is_nearer = np.abs(rel_s[right] - grid_s) < np.abs(grid_s - rel_s[left])
    nearest_pos = np.where(right_is_nearer, right, left)
    distance = np.abs(rel_s[nearest_pos] - grid_s)
    interpolated = distance > dt_s / 2 + 1e-9
    if method == "nearest":
        power = np.where(interpolated, power, sample_power_w[nearest_pos])
    elif method != "linear":
        raise ValueError(f"method must be 'nearest' or 'linear', got {method!r}")
    n_unused = int(sample_ns.size - np.unique(nearest_pos[~interpolated]).size)

    gaps: list[dict[str, Any]] = []
    spacing = np.diff(rel_s)
    # interval of each interpolated grid point: samples i, i+1 with rel_s[i] < t < rel_s[i+1]
    holes = np.unique(left[interpolated])
    for i in np.union1d(np.flatnonzero(spacing >= 1.5 * dt_s - 1e-9), holes):
        length = float(spacing[i])
        inside = (grid_s > rel_s[i]) & (grid_s < rel_s[i + 1])
        gap = {
            "start": pd.Timestamp(int(sample_ns[i]), tz="UTC").isoformat(),
            "length_s": round(length, 6),
            "n_missing": round(length / dt_s) - 1,
            "n_interpolated": int(np.count_nonzero(interpolated & inside)),
        }
        if gap["n_missing"] > max_gap_samples:
            raise BundleGapError(
                f"{path}: power log gap of {length:.3f} s ({gap['n_missing']} missing samples) "
                f"after {gap['start']} exceeds the interpolation limit of {max_gap_samples} "
                "samples; cut the log at the gap or raise max_gap_samples knowingly"
            )
        gaps.append(gap)

    index = pd.DatetimeIndex(
        pd.Timestamp(t0, tz="UTC") + pd.to_timedelta(np.arange(n_grid) * round(dt_s * 1e9), "ns"),
        name="time",
    )
    series = pd.Series(power, index=index, name="power_w", dtype=np.float64)
    series.attrs["unit"] = "W"
    info = {
        "dt_s": dt_s,
        "n_samples": int(sample_ns.size),
        "n_grid": n_grid,
        "n_interpolated": int(np.count_nonzero(interpolated)),
        "n_samples_unused": n_unused if method == "nearest" else 0,
        "grid_method": method,
        "max_abs_shift_s": round(float(distance[~interpolated].max(initial=0.0)), 6),
        "gaps": gaps,
        "max_gap_samples": max_gap_samples,
        "power_start": index[0].isoformat(),
        "power_end": index[-1].isoformat(),
    }
    if gaps:
        logger.info(
            "%s: %d gap(s) in the power log, %d grid point(s) interpolated",
            path,
            len(gaps),
            info["n_interpolated"],
        )
    return series, info


def _check_power_readings(
    power_w: np.ndarray, path: Path, gpu: str | None, allow: Collection[str]
) -> None:
    """Refuse impossible board power: negative readings, or far above the GPU's TDP."""
    negative = np.flatnonzero(power_w < 0)
    if negative.size:
        row = int(negative[0])
        raise BundleError(
            f"{path}: column {_POWER_COLUMN!r} has {negative.size} negative reading(s) of "
            f"{power_w.size}, first at line {row + 2} ({power_w[row]:g} W); board power "
            "cannot be negative - the log is corrupt or not an nvidia-smi power log"
        )
    from traces.model import GPU_TDP_W

    if gpu is not None and gpu.upper() in GPU_TDP_W and power_w.size:
        tdp = GPU_TDP_W[gpu.upper()]
        row = int(np.argmax(power_w))
        check_plausible(
            float(power_w[row]) / tdp,
            "gpu_power_per_tdp",
            f"{path}: column {_POWER_COLUMN!r} line {row + 2} ({power_w[row]:g} W on a "
            f"{gpu} of TDP {tdp:g} W): per-GPU power / TDP",
            allow=allow,
            error=BundleError,
        )


def _read_power_csv(
    path: Path,
    tp: int,
    local_utc_offset_s: float,
    *,
    gpu_indices: Sequence[int] | None = None,
    gpu: str | None = None,
    allow_implausible: Collection[str] = (),
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Read an nvidia-smi CSV -> (sample epoch ns, node power W) per distinct timestamp."""
    _require_file(path, "power log")
    try:
        df = pd.read_csv(path, skipinitialspace=True, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise BundleError(f"{path}: cannot be read as CSV ({exc})") from exc
    df.columns = [str(c).strip() for c in df.columns]
    _require_columns(df, ["timestamp", _POWER_COLUMN], path)
    info: dict[str, Any] = {"n_power_rows": len(df)}
    if gpu_indices is not None:
        _require_columns(df, ["index"], path)
        index = _numeric_column(df, "index", path).astype(np.int64)
        keep = np.isin(index, np.asarray(gpu_indices, dtype=np.int64))
        info["n_rows_other_gpus"] = int(np.count_nonzero(~keep))
        if info["n_rows_other_gpus"]:
            logger.info(
                "%s: using GPU indices %s, leaving out %d row(s) of other GPUs",
                path,
                list(gpu_indices),
                info["n_rows_other_gpus"],
            )
        df = df.loc[keep].reset_index(drop=True)
    if df.empty:
        raise BundleError(f"{path}: no power rows")
    power = _numeric_column(df, _POWER_COLUMN, path)
    _check_power_readings(power, path, gpu, allow_implausible)
    times_ns = _parse_local_times(df["timestamp"], path, local_utc_offset_s)
    gpu_index = _numeric_column(df, "index", path) if "index" in df.columns else None
    sample_ns, node_power = _node_power(times_ns, power, tp, path, gpu_index)
    return sample_ns, node_power, info


def _token_array(values: Sequence[Any], key: str, path: Path) -> np.ndarray:
    arr = np.asarray(values, dtype=object)
    for i, v in enumerate(arr):
        if isinstance(v, bool) or not isinstance(v, int | float) or not float(v).is_integer():
            raise BundleError(
                f"{path}: {key!r}[{i}] = {v!r} is not an integer token count; token counts "
                "must be whole numbers >= 0"
            )
        if v < 0:
            raise BundleError(
                f"{path}: {key!r}[{i}] = {v!r} is negative; token counts must be >= 0"
            )
    return arr.astype(np.int64)


def _float_array(values: Sequence[Any], key: str, path: Path) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise BundleError(f"{path}: {key!r} must be a list of numbers ({exc})") from exc
    bad = np.flatnonzero(~np.isfinite(arr))
    if arr.ndim != 1 or bad.size:
        where = f" ({key!r}[{int(bad[0])}] = {arr[bad[0]]})" if bad.size else ""
        raise BundleError(f"{path}: {key!r} must be a flat list of finite numbers{where}")
    return arr


def _requests_frame(
    data: dict[str, Any], path: Path, timestamps_epoch_s: Sequence[float] | None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Build the request table from vLLM benchmark lists (dispatch order kept)."""
    missing = [k for k in _REQUEST_KEYS if k not in data]
    if missing:
        raise BundleError(
            f"{path}: missing key(s) {missing}; expected the vLLM benchmark_serving.py "
            "--save-result/--save-detailed lists input_lens, output_lens, ttfts"
        )
    if timestamps_epoch_s is None:
        if "request_timestamps" not in data:
            raise BundleError(f"{path}: missing key 'request_timestamps' (Unix epoch seconds)")
        timestamps_epoch_s = data["request_timestamps"]
    lengths = {k: len(data[k]) for k in _REQUEST_KEYS}
    lengths["request_timestamps"] = len(timestamps_epoch_s)
    if "itls" in data:
        lengths["itls"] = len(data["itls"])
    if len(set(lengths.values())) != 1:
        raise BundleError(
            f"{path}: per-request lists have different lengths {lengths}; every list must hold "
            "one entry per request"
        )
    arrival_s = _float_array(timestamps_epoch_s, "request_timestamps", path)
    back = np.flatnonzero(np.diff(arrival_s) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise BundleError(
            f"{path}: 'request_timestamps'[{i}] = {arrival_s[i]!r} is earlier than entry "
            f"{i - 1} ({arrival_s[i - 1]!r}); send times must be non-decreasing in dispatch order"
        )
    ttft_s = _float_array(data["ttfts"], "ttfts", path)
    if np.any(ttft_s < 0):
        i = int(np.flatnonzero(ttft_s < 0)[0])
        raise BundleError(f"{path}: 'ttfts'[{i}] = {ttft_s[i]} is negative")
    frame = pd.DataFrame(
        {
            "arrival_time": pd.to_datetime(
                np.round(arrival_s * 1e6).astype(np.int64), unit="us", utc=True
            ).as_unit("ns"),
            "n_in": _token_array(data["input_lens"], "input_lens", path),
            "n_out": _token_array(data["output_lens"], "output_lens", path),
            "ttft_s": ttft_s,
        }
    )
    info: dict[str, Any] = {"n_requests": len(frame)}
    if "itls" in data:
        itls = data["itls"]
        flat = all(isinstance(v, int | float) and not isinstance(v, bool) for v in itls)
        if flat:
            lists = [[float(v)] for v in itls]
        else:
            lists = []
            for i, v in enumerate(itls):
                if not isinstance(v, list):
                    raise BundleError(f"{path}: 'itls'[{i}] must be a list of seconds")
                lists.append([float(x) for x in v])
        frame["itl_s"] = pd.Series(lists, dtype=object)
        info["itls_flat"] = flat
    for key, column in (("cached_prompt_tokens", "n_cached"), ("prefix_tokens", "n_prefix")):
        if key not in data:
            continue
        if len(data[key]) != len(frame):
            raise BundleError(
                f"{path}: {key!r} has {len(data[key])} entries for {len(frame)} requests; "
                "every list must hold one entry per request"
            )
        values = _token_array(data[key], key, path)
        over = np.flatnonzero(values > frame["n_in"].to_numpy())
        if over.size:
            i = int(over[0])
            raise BundleError(
                f"{path}: {key!r}[{i}] = {values[i]} exceeds input_lens[{i}] = "
                f"{int(frame['n_in'].iloc[i])}; cached/prefix tokens are part of the prompt"
            )
        frame[column] = values
        info[f"total_{column}"] = int(values.sum())
    return frame, info


def _align_early_requests(
    requests: pd.DataFrame, power_w: pd.Series, path: Path, dt_s: float
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Move requests sent less than one step before the first power sample onto it (logged)."""
    t0 = power_w.index[0]
    arrival = pd.DatetimeIndex(requests["arrival_time"])
    early = (arrival < t0) & (arrival >= t0 - pd.Timedelta(seconds=dt_s))
    info: dict[str, Any] = {"n_requests_aligned": int(early.sum()), "max_request_shift_s": 0.0}
    if early.any():
        shift = float((t0 - arrival[early]).total_seconds().max())
        info["max_request_shift_s"] = round(shift, 6)
        requests = requests.copy()
        requests.loc[early, "arrival_time"] = t0
        logger.info(
            "%s: %d request(s) sent up to %.3f s (< one %.2f s step) before the first power "
            "sample %s; aligned to it (clock skew between the power and request loggers)",
            path,
            info["n_requests_aligned"],
            shift,
            dt_s,
            t0,
        )
    return requests, info


def _requests_outside(requests: pd.DataFrame, power_w: pd.Series, path: Path) -> dict[str, int]:
    """Count (and log) requests sent before the first / after the last power sample."""
    arrival = requests["arrival_time"]
    info = {
        "n_requests_before_power": int((arrival < power_w.index[0]).sum()),
        "n_requests_after_power": int((arrival > power_w.index[-1]).sum()),
    }
    if info["n_requests_before_power"] or info["n_requests_after_power"]:
        logger.warning(
            "%s: %d request(s) sent before and %d after the power log (%s .. %s); check the "
            "clock offset",
            path,
            info["n_requests_before_power"],
            info["n_requests_after_power"],
            power_w.index[0],
            power_w.index[-1],
        )
    return info


# --------------------------------------------------------------------------- public API


#: Files (glob patterns) every bundle folder holds (``engine.csv`` is optional, see the
#: module notes: a bundle without it loads with measured A_t absent).
_BUNDLE_FILES: tuple[str, ...] = ("power.csv", "requests*.json", "manifest*.json")


def data_roots(root: Path | str | Sequence[Path | str]) -> list[Path]:
    """A data root as a list of folders (one path, or a list/tuple of paths).

    Raises
    ------
    BundleError
        If the list is empty or an entry is not a folder.
    """
    roots = [Path(root)] if isinstance(root, str | Path) else [Path(r) for r in root]
    if not roots:
        raise BundleError("bundle root: empty list; give at least one folder")
    for r in roots:
        if not r.is_dir():
            raise BundleError(f"bundle root {r} is not a folder")
    return roots


def find_bundles(root: Path | str | Sequence[Path | str]) -> list[Path]:
    """Every bundle folder under ``root`` (power.csv + requests*.json + manifest*.json).

    ``engine.csv`` is not required (see the module notes: a bundle without it loads with
    measured A_t absent).

    Parameters
    ----------
    root : path-like or sequence of path-like
        Folder(s) to search recursively (e.g. ``../shared/data/powertrace_sim`` and
        ``../shared/data/powertrace_sim_incoming``).

    Returns
    -------
    list of pathlib.Path
        Bundle folders, sorted by configuration folder and run name (the order does not
        depend on which root a bundle sits in).
        A folder holding some but not all of the bundle files is skipped with a warning
        naming it and the missing files.

    Raises
    ------
    BundleError
        If ``root`` (or one of the roots) is not a folder.
    """
    found = []
    for r in data_roots(root):
        candidates = {p.parent for name in _BUNDLE_FILES for p in r.rglob(name)}
        for folder in sorted(candidates):
            missing = [name for name in _BUNDLE_FILES if not any(folder.glob(name))]
            if missing:
                logger.warning(
                    "skipping bundle folder %s: no %s (a bundle needs %s; engine.csv is optional)",
                    folder,
                    " / ".join(missing),
                    ", ".join(_BUNDLE_FILES),
                )
                continue
            found.append(folder)
    return sorted(found, key=lambda f: (f.parent.name, f.name, str(f)))


def _pick(folder: Path, preferred: Sequence[str], pattern: str, what: str) -> Path:
    for name in preferred:
        if (folder / name).is_file():
            return folder / name
    others = sorted(folder.glob(pattern))
    if not others:
        raise BundleError(
            f"missing {what}: no {pattern} in {folder}; a bundle needs power.csv, engine.csv, "
            "requests*.json and manifest*.json"
        )
    return others[0]


def _read_engine(path: Path) -> pd.DataFrame:
    _require_file(path, "engine log")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise BundleError(f"{path}: cannot be read as CSV ({exc})") from exc
    _require_columns(df, ["timestamp", "num_requests_running"], path)
    if df.empty:
        raise BundleError(f"{path}: no engine rows")
    for column in df.columns:
        df[column] = _numeric_column(df, column, path)
    ts = df["timestamp"].to_numpy()
    back = np.flatnonzero(np.diff(ts) <= 0)
    if back.size:
        row = int(back[0]) + 1
        raise BundleError(
            f"{path}: column 'timestamp' is not strictly increasing at line {row + 2} "
            f"({float(ts[row])!r} after {float(ts[row - 1])!r})"
        )
    df.index = pd.DatetimeIndex(
        pd.to_datetime(np.round(ts * 1e6).astype(np.int64), unit="us", utc=True).as_unit("ns"),
        name="time",
    )
    return df


def _active_on_grid(
    grid: pd.DatetimeIndex, engine: pd.DataFrame, dt_s: float
) -> tuple[pd.Series, dict[str, int]]:
    grid_ns = grid.asi8
    eng_ns = engine.index.asi8
    dt_ns = round(dt_s * 1e9)
    pos = np.searchsorted(eng_ns, grid_ns, side="right") - 1
    early = pos < 0
    pos = np.where(early & (eng_ns[0] <= grid_ns + dt_ns), 0, pos)
    values = engine["num_requests_running"].to_numpy()
    active = np.where(pos >= 0, values[np.clip(pos, 0, None)], np.nan)
    info = {
        "n_active_nan": int(np.count_nonzero(np.isnan(active))),
        "n_active_after_engine_end": int(np.count_nonzero(grid_ns > eng_ns[-1] + dt_ns)),
    }
    series = pd.Series(active, index=grid, name="active_requests", dtype=np.float64)
    return series, info


def _manifest_subset(manifest: dict[str, Any]) -> dict[str, Any]:
    probe = manifest.get("probe", {}) or {}
    levels = probe.get("levels") or [{}]
    level = levels[0] if isinstance(levels[0], dict) else {}
    params = level.get("params", {}) or {}
    summary = level.get("summary", {}) or {}
    return {
        "run_id": manifest.get("run_id"),
        "model": manifest.get("model"),
        "hardware": manifest.get("hardware"),
        "tp": manifest.get("tp"),
        "probe_type": probe.get("type"),
        "request_rate": params.get("request_rate"),
        "burstiness": params.get("burstiness"),
        "num_prompts": level.get("num_prompts", params.get("num_prompts")),
        "total_input_tokens": summary.get("total_input_tokens"),
        "total_output_tokens": summary.get("total_output_tokens"),
        "local_utc_offset_s": (manifest.get("clock") or {}).get("local_utc_offset_s"),
        "vllm": (manifest.get("versions") or {}).get("vllm"),
    }


def load_bundle(
    path: Path | str,
    *,
    max_gap_samples: int = MAX_GAP_SAMPLES,
    method: str = "nearest",
    dt_s: float = DT_S,
    allow_truncated: bool = False,
    allow_implausible: Sequence[str] = (),
) -> MeasuredBundle:
    """Load one powertrace_sim bundle folder onto the regular 250 ms UTC grid.

    Parameters
    ----------
    path : path-like
        Run folder ``.../<model>_<GPU>_tp<TP>/<run_id>/`` holding ``power.csv``,
        ``requests.json`` or ``requests.no_itls.json``, ``manifest.json`` or
        ``manifest.no_sessions.json`` and optionally ``engine.csv`` (without it
        ``engine`` and ``active_requests`` are None).
    max_gap_samples : int, default 4
        Longest power-log gap, in missing samples, bridged by linear interpolation.
    method : {"nearest", "linear"}, default "nearest"
        How grid points with a measured sample within half a step get their value: that
        sample (``"nearest"``, keeps measured values and peaks) or linear interpolation
        between the neighbouring samples (``"linear"``, smooths by up to half a step).
    dt_s : float, default ``traces.DT_S`` (0.25)
        Grid step [s].
    allow_truncated : bool, default False
        Accept a power log with fewer samples than the manifest records (the counts are
        kept in ``metadata["n_samples_missing"]``); by default it is refused.
    allow_implausible : sequence of str, default ()
        ``["gpu_power_per_tdp"]`` accepts per-GPU readings above 1.5 x the GPU's TDP
        (:data:`traces.fields.PLAUSIBLE`).

    Returns
    -------
    MeasuredBundle
        ``power_w`` (T,) [W] summed over the TP GPUs, ``active_requests`` (T,) measured
        ``num_requests_running`` (None without engine.csv), ``requests`` in dispatch order
        (requests < one step before the first power sample aligned to it, see the module
        notes; ``n_cached`` / ``n_prefix`` when logged), ``engine`` log (UTC index, or None),
        ``manifest`` and ``metadata`` (``n_interpolated``, ``gaps``, ``sources`` with sha256,
        ``n_active_nan``, manifest subset).

    Raises
    ------
    BundleError
        Missing file or column, non-numeric power, backwards timestamps, rows per timestamp
        != manifest ``tp``, folder name / manifest mismatch, bad request lists, negative
        board power, per-GPU power above 1.5 x TDP, a power log cut short (fewer samples
        than the manifest records).
    BundleGapError
        A power-log gap of more than ``max_gap_samples`` missing samples.

    Notes
    -----
    Source: the bundles of grantwilkins/powertrace-sim ``data/runs/`` (see
    ``shared/data/powertrace_sim/README.md``); alignment as in the authors'
    ``alignment.py`` (power samples define the grid, gaps of <= 4 samples interpolated).
    """
    _check_method(method)
    folder = Path(path)
    if not folder.is_dir():
        raise BundleError(f"bundle folder {folder} does not exist or is not a folder")
    config_id = folder.parent.name
    model, gpu, tp = parse_config_id(config_id)
    power_path = _require_file(folder / "power.csv", "power log")
    engine_path = folder / "engine.csv"
    has_engine = engine_path.is_file()
    requests_path = _pick(
        folder, ["requests.json", "requests.no_itls.json"], "requests*.json", "requests"
    )
    manifest_path = _pick(
        folder, ["manifest.json", "manifest.no_sessions.json"], "manifest*.json", "manifest"
    )
    manifest = _read_json(manifest_path)

    manifest_tp = manifest.get("tp")
    if manifest_tp is None or int(manifest_tp) != tp:
        raise BundleError(
            f"{manifest_path}: 'tp' = {manifest_tp!r} but the folder name {config_id!r} says "
            f"tp{tp}; fix the manifest or the folder name"
        )
    hardware = str(manifest.get("hardware", ""))
    if hardware.upper() != gpu.upper():
        raise BundleError(
            f"{manifest_path}: 'hardware' = {hardware!r} but the folder name {config_id!r} "
            f"says GPU {gpu!r}; fix the manifest or the folder name"
        )
    clock = manifest.get("clock") or {}
    if "local_utc_offset_s" not in clock:
        raise BundleError(
            f"{manifest_path}: missing 'clock.local_utc_offset_s' needed to convert the local "
            "power.csv timestamps to UTC"
        )
    offset_s = float(clock["local_utc_offset_s"])

    allow = allowed_keys(allow_implausible, error=BundleError)
    sample_ns, node_power_w, power_info = _read_power_csv(
        power_path, tp, offset_s, gpu=gpu, allow_implausible=allow
    )
    power_w, grid_info = _regular_grid(
        sample_ns,
        node_power_w,
        power_path,
        dt_s=dt_s,
        max_gap_samples=max_gap_samples,
        method=method,
    )
    engine: pd.DataFrame | None = None
    active: pd.Series | None = None
    active_info: dict[str, Any] = {}
    if has_engine:
        engine = _read_engine(engine_path)
        active, active_info = _active_on_grid(power_w.index, engine, dt_s)
    else:
        logger.info("%s: no engine.csv; measured A_t (num_requests_running) absent", folder)
    requests, request_info = _requests_frame(_read_json(requests_path), requests_path, None)
    requests, align_info = _align_early_requests(requests, power_w, requests_path, dt_s)

    recorded = ((manifest.get("instrumentation") or {}).get("power") or {}).get("samples")
    # samples missing beyond the bridged gaps: the log was cut (at its end or start)
    n_missing = 0
    expected_samples = 0 if recorded is None else int(recorded)
    if recorded is not None:
        n_missing = expected_samples - grid_info["n_samples"]
        n_missing -= sum(int(g["n_missing"]) for g in grid_info["gaps"])
    if n_missing > 0 and not allow_truncated:
        raise BundleError(
            f"{power_path}: {grid_info['n_samples']} power samples but the manifest records "
            f"{expected_samples}: {n_missing} sample(s) "
            f"({100 * n_missing / expected_samples:.1f} %) missing beyond the bridged "
            "gaps, the log is cut short and fit / evaluation would run on part of the run. "
            "Restore the whole file, or pass allow_truncated=True knowingly"
        )
    if recorded is not None and expected_samples != grid_info["n_samples"]:
        logger.warning(
            "%s: %d power samples but the manifest says %s (file trimmed or incomplete?)",
            power_path,
            grid_info["n_samples"],
            expected_samples,
        )
    metadata: dict[str, Any] = {
        **grid_info,
        **power_info,
        **active_info,
        **request_info,
        **align_info,
        **_requests_outside(requests, power_w, requests_path),
        "manifest_power_samples": recorded,
        "n_samples_missing": max(n_missing, 0),
        "has_engine": has_engine,
        "n_engine_rows": len(engine) if engine is not None else 0,
        "format": "powertrace_sim",
        "sources": {
            "power": _source(power_path),
            **({"engine": _source(engine_path)} if has_engine else {}),
            "requests": _source(requests_path),
            "manifest": _source(manifest_path),
        },
        "manifest_subset": _manifest_subset(manifest),
    }
    return MeasuredBundle(
        config_id=config_id,
        run_id=folder.name,
        model=model,
        gpu=gpu,
        tp=tp,
        power_w=power_w,
        requests=requests,
        active_requests=active,
        engine=engine,
        manifest=manifest,
        metadata=metadata,
    )


def load_legacy_bundle(
    power_csv: Path | str,
    benchmark_json: Path | str,
    *,
    tp: int,
    config_id: str,
    local_utc_offset_s: float = 0.0,
    run_id: str | None = None,
    request_timestamps: Sequence[float] | None = None,
    start_epoch: float | None = None,
    send_offsets_s: Sequence[float] | None = None,
    gpu_indices: Sequence[int] | None = None,
    max_gap_samples: int = MAX_GAP_SAMPLES,
    method: str = "nearest",
    dt_s: float = DT_S,
) -> MeasuredBundle:
    """Load a bundle of the paper's legacy format (nvidia-smi CSV + vLLM benchmark JSON).

    Parameters
    ----------
    power_csv : path-like
        ``nvidia-smi --query-gpu=timestamp,index,power.draw --format=csv -lms 250`` log:
        spaced header (``timestamp, index, power.draw [W]``), values like ``" 123.45 W"``,
        timestamps ``YYYY/MM/DD HH:MM:SS.mmm`` in the server's local time (or ISO-8601).
    benchmark_json : path-like
        vLLM ``benchmark_serving.py --save-result`` JSON with per-request lists
        ``input_lens``, ``output_lens``, ``ttfts`` [s] and optionally ``itls`` (list of
        lists [s]) and ``request_timestamps`` (Unix epoch [s], UTC).
    tp : int
        Tensor-parallel degree: GPU rows summed per timestamp.
    config_id : str
        ``<model>_<GPU>_tp<TP>``; its TP must equal ``tp``.
    local_utc_offset_s : float, default 0.0
        Offset of the power log's local clock from UTC [s] (US Pacific daylight time:
        -25200); ``epoch = naive_local_as_utc - local_utc_offset_s``.
    run_id : str, optional
        Defaults to the power CSV's stem.
    request_timestamps : sequence of float, optional
        Send times (Unix epoch [s]) when the JSON has none.
    start_epoch, send_offsets_s : float, sequence of float, optional
        Alternative to ``request_timestamps``: send time = ``start_epoch + send_offsets_s[i]``.
        Either may also be given as JSON keys ``start_epoch`` / ``send_offsets_s``.
    gpu_indices : sequence of int, optional
        Use only these GPU ``index`` values (e.g. ``range(tp)`` when the log holds all GPUs
        of the node); rows of other GPUs are counted in ``metadata["n_rows_other_gpus"]``.
    max_gap_samples : int, default 4
        Longest power-log gap, in missing samples, bridged by interpolation.
    method : {"nearest", "linear"}, default "nearest"
        See :func:`load_bundle`.
    dt_s : float, default 0.25
        Grid step [s].

    Returns
    -------
    MeasuredBundle
        With ``active_requests=None``, ``engine=None`` and ``manifest={}``.

    Raises
    ------
    BundleError
        Missing files, columns or keys; non-numeric power; backwards timestamps; rows per
        timestamp != ``tp``; request lists of different lengths; no request times.
    BundleGapError
        A power-log gap of more than ``max_gap_samples`` missing samples.

    Notes
    -----
    Request send times are required, in this order of precedence: the ``request_timestamps``
    argument, a ``request_timestamps`` key in the JSON, or ``start_epoch`` +
    ``send_offsets_s`` (arguments or JSON keys).
    """
    _check_method(method)
    power_path = Path(power_csv)
    json_path = _require_file(Path(benchmark_json), "benchmark JSON")
    model, gpu, id_tp = parse_config_id(config_id)
    if id_tp != tp:
        raise BundleError(f"config_id {config_id!r} says tp{id_tp} but tp={tp} was given")
    data = _read_json(json_path)

    if request_timestamps is None and "request_timestamps" not in data:
        start = start_epoch if start_epoch is not None else data.get("start_epoch")
        offsets = send_offsets_s if send_offsets_s is not None else data.get("send_offsets_s")
        if start is None or offsets is None:
            raise BundleError(
                f"{json_path}: no request send times; give request_timestamps (Unix epoch s), "
                "or start_epoch + send_offsets_s, as arguments or JSON keys"
            )
        request_timestamps = list(float(start) + _float_array(offsets, "send_offsets_s", json_path))

    sample_ns, node_power_w, power_info = _read_power_csv(
        power_path, tp, local_utc_offset_s, gpu_indices=gpu_indices
    )
    power_w, grid_info = _regular_grid(
        sample_ns,
        node_power_w,
        power_path,
        dt_s=dt_s,
        max_gap_samples=max_gap_samples,
        method=method,
    )
    requests, request_info = _requests_frame(data, json_path, request_timestamps)
    requests, align_info = _align_early_requests(requests, power_w, json_path, dt_s)
    metadata: dict[str, Any] = {
        **grid_info,
        **power_info,
        **request_info,
        **align_info,
        **_requests_outside(requests, power_w, json_path),
        "format": "legacy",
        "local_utc_offset_s": float(local_utc_offset_s),
        "sources": {"power": _source(power_path), "requests": _source(json_path)},
    }
    return MeasuredBundle(
        config_id=config_id,
        run_id=run_id if run_id is not None else power_path.stem,
        model=model,
        gpu=gpu,
        tp=tp,
        power_w=power_w,
        requests=requests,
        active_requests=None,
        engine=None,
        manifest={},
        metadata=metadata,
    )
