"""Tests of traces.measured.ingest against the real powertrace_sim bundles and a legacy fixture.

Expected values come from shared/data/powertrace_sim/README.md (per-bundle table and quirks)
or are recomputed here independently from the raw files with the csv/json modules.
"""

from __future__ import annotations

import bisect
import csv
import json
import shutil
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from traces.measured.ingest import (
    BundleError,
    BundleGapError,
    MeasuredBundle,
    find_bundles,
    load_bundle,
    load_legacy_bundle,
    parse_config_id,
)

LEGACY_DIR = Path(__file__).parent / "fixtures" / "legacy"
PDT = timedelta(hours=-7)  # US Pacific daylight time of the 2026 bundles (README)

# From the README's per-bundle table and its gap notes: prompts, node idle / peak W,
# max num_requests_running, power timestamps (rows / tp), engine rows, and every gap with
# at least one missing 250 ms sample (>= 0.375 s) as (local start time, length s).
README = {
    ("qwen3-8b_H100_tp1", "h100_validate_tp1_r4p0_b1p0_s20260712_1784422665"): dict(
        prompts=200, idle=122.7, peak=464.7, running=13, samples=265, engine=260, gaps=[]
    ),
    ("qwen3-8b_A100_tp1", "a100_validate_tp1_r4p0_b1p0_s20260712_1784415439"): dict(
        prompts=200,
        idle=82.0,
        peak=509.2,
        running=20,
        samples=298,
        engine=293,
        gaps=[("15:57:42", 0.76)],
    ),
    ("qwen3-8b_A100_tp1", "a100_validate_tp1_r2p5_b1p0_s20260712_1784415659"): dict(
        prompts=200,
        idle=82.8,
        peak=520.9,
        running=13,
        samples=378,
        engine=368,
        gaps=[("16:01:24.68", 0.41)],
    ),
    ("qwen3-8b_A100_tp1", "a100_validate_tp1_r2p5_b4p0_s20260712_1784415439"): dict(
        prompts=200, idle=82.2, peak=512.4, running=14, samples=398, engine=385, gaps=[]
    ),
    ("gemma-4-26b-a4b_A100_tp2", "a100_validate_tp2_r4p0_b1p0_s20260712_1784415591"): dict(
        prompts=200, idle=172.1, peak=664.0, running=19, samples=270, engine=260, gaps=[]
    ),
    ("qwen3-30b-a3b_H100_tp2", "h100_validate_tp2_r2p0_b1p0_s20260720_1784672812"): dict(
        prompts=600, idle=236.4, peak=808.1, running=11, samples=1588, engine=1564, gaps=[]
    ),
    ("qwen3-14b_A100_tp1", "a100_validate_tp1_r2p5_b1p0_s20260720_1784576420"): dict(
        prompts=600,
        idle=87.9,
        peak=538.5,
        running=23,
        samples=1401,
        engine=1368,
        gaps=[("12:41:04.45", 1.07)],
    ),
    ("llama-3.1-70b_H100_tp4", "h100_validate_tp4_r4p0_b1p0_s0_1784435159"): dict(
        prompts=1680,
        idle=475.8,
        peak=2607.7,
        running=30,
        samples=2577,
        engine=2546,
        gaps=[
            ("21:27:01.760", 0.40),
            ("21:29:33.533", 0.52),
            ("21:30:59.788", 1.12),
            ("21:32:05.319", 0.48),
            ("21:32:07.650", 0.58),
            ("21:32:15.479", 1.06),
            ("21:36:08.121", 0.65),
        ],
    ),
    ("qwen3-8b_A100_tp1", "a100_trace_replay_tp1_1784576269"): dict(
        prompts=851,
        idle=84.9,
        peak=497.8,
        running=6,
        samples=3835,
        engine=3751,
        gaps=[("12:41:04.325", 1.205)],
    ),
}
BUNDLE_IDS = [f"{c}/{r}" for c, r in README]


@cache
def _load(path: str) -> MeasuredBundle:
    return load_bundle(path)


def _bundle_dir(powertrace_dir: Path, key: tuple[str, str]) -> Path:
    return powertrace_dir / key[0] / key[1]


def _raw_node_power(power_csv: Path) -> dict[str, float]:
    """Node power per timestamp string, summed over GPU rows, read with the csv module."""
    totals: dict[str, float] = {}
    with power_csv.open(newline="") as handle:
        reader = csv.reader(handle, skipinitialspace=True)
        header = next(reader)
        col = header.index("power.draw [W]")
        for row in reader:
            totals[row[0]] = totals.get(row[0], 0.0) + float(row[col].removesuffix("W"))
    return totals


# --------------------------------------------------------------------------- real bundles


def test_find_bundles_lists_all_nine(powertrace_dir: Path) -> None:
    found = find_bundles(powertrace_dir)
    assert [(p.parent.name, p.name) for p in found] == sorted(README)


def test_parse_config_id() -> None:
    assert parse_config_id("llama-3.1-70b_H100_tp4") == ("llama-3.1-70b", "H100", 4)
    with pytest.raises(BundleError, match="<model>_<GPU>_tp<TP>"):
        parse_config_id("qwen3-8b-A100-tp1")


@pytest.mark.parametrize("key", list(README), ids=BUNDLE_IDS)
def test_bundle_matches_readme(powertrace_dir: Path, key: tuple[str, str]) -> None:
    expected = README[key]
    folder = _bundle_dir(powertrace_dir, key)
    bundle = _load(str(folder))
    model, gpu, tp = parse_config_id(key[0])
    assert (bundle.config_id, bundle.run_id, bundle.model, bundle.gpu, bundle.tp) == (
        key[0],
        key[1],
        model,
        gpu,
        tp,
    )

    # regular 250 ms UTC grid from the first sample
    index = bundle.power_w.index
    assert isinstance(index, pd.DatetimeIndex) and str(index.tz) == "UTC"
    assert (np.diff(index.asi8) == 250_000_000).all()
    assert bundle.power_w.dtype == np.float64 and np.isfinite(bundle.power_w).all()
    assert bundle.metadata["n_samples"] == expected["samples"]

    # peak: README value and an independent read of the raw CSV (the grid keeps samples)
    raw = _raw_node_power(folder / "power.csv")
    assert len(raw) == expected["samples"]
    assert max(raw.values()) == pytest.approx(expected["peak"], abs=0.05)
    assert bundle.power_w.max() == pytest.approx(max(raw.values()), abs=1e-6)
    first_local = datetime.strptime(next(iter(raw)), "%Y/%m/%d %H:%M:%S.%f")
    assert index[0] == pd.Timestamp(first_local - PDT, tz="UTC")

    # idle: median power before the first request (README idle within 0.6 W)
    first_request = bundle.requests["arrival_time"].iloc[0]
    idle = bundle.power_w[bundle.power_w.index < first_request].median()
    assert idle == pytest.approx(expected["idle"], abs=0.6)

    # measured A_t
    assert bundle.active_requests is not None
    assert bundle.active_requests.index.equals(index)
    assert bundle.active_requests.max() == expected["running"]
    assert bundle.engine is not None and len(bundle.engine) == expected["engine"]
    assert str(bundle.engine.index.tz) == "UTC"
    assert (bundle.engine.dtypes == np.float64).all()

    # requests
    req = bundle.requests
    assert len(req) == expected["prompts"]
    assert str(req["arrival_time"].dtype) == "datetime64[ns, UTC]"
    assert req["n_in"].dtype == np.int64 and req["n_out"].dtype == np.int64
    assert req["ttft_s"].dtype == np.float64
    raw_req = json.loads(next(folder.glob("requests*.json")).read_text())
    assert req["n_in"].tolist() == raw_req["input_lens"]  # dispatch order kept
    summary = (bundle.manifest.get("probe", {}).get("levels") or [{}])[0].get("summary")
    if summary:
        assert req["n_in"].sum() == summary["total_input_tokens"]
        assert req["n_out"].sum() == summary["total_output_tokens"]

    # gaps (README: start in local time, length) and interpolated grid points
    all_gaps = bundle.metadata["gaps"]
    assert bundle.metadata["n_interpolated"] == sum(g["n_interpolated"] for g in all_gaps)
    gaps = [g for g in all_gaps if g["n_missing"] >= 1]  # late samples (< 0.375 s) aside
    assert all(g["length_s"] < 0.375 for g in all_gaps if g["n_missing"] == 0)
    assert len(gaps) == len(expected["gaps"])
    for gap, (local_start, length_s) in zip(gaps, expected["gaps"], strict=True):
        start_local = pd.Timestamp(gap["start"]).tz_convert(None) + PDT
        assert start_local.strftime("%H:%M:%S.%f").startswith(local_start)
        assert gap["length_s"] == pytest.approx(length_s, abs=0.01)
        assert gap["n_missing"] <= 4
    assert {"power", "engine", "requests", "manifest"} <= set(bundle.metadata["sources"])
    assert bundle.metadata["n_requests_before_power"] == 0
    assert bundle.metadata["n_requests_after_power"] == 0
    json.dumps(bundle.metadata)  # provenance must be JSON-serialisable


def test_first_request_offsets(h100_r4_dir: Path, a100_r4_dir: Path) -> None:
    for folder, offset_s in ((h100_r4_dir, 14.1), (a100_r4_dir, 19.0)):
        bundle = _load(str(folder))
        delta = bundle.requests["arrival_time"].iloc[0] - bundle.power_w.index[0]
        assert delta.total_seconds() == pytest.approx(offset_s, abs=0.05)


def test_burstgpt_power_clock(powertrace_dir: Path) -> None:
    # README: first power sample 12:37:52.761 local = 1784576272.761 epoch
    bundle = _load(str(powertrace_dir / "qwen3-8b_A100_tp1" / "a100_trace_replay_tp1_1784576269"))
    assert bundle.power_w.index[0] == pd.Timestamp(1784576272761, unit="ms", tz="UTC")
    assert bundle.metadata["n_interpolated"] >= 4  # the 1.205 s gap


def test_active_requests_follow_engine_log(h100_r4_dir: Path) -> None:
    bundle = _load(str(h100_r4_dir))
    times, running = [], []
    with (h100_r4_dir / "engine.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            times.append(float(row["timestamp"]))
            running.append(float(row["num_requests_running"]))
    expected = []
    for t in bundle.power_w.index.asi8 / 1e9:
        i = bisect.bisect_right(times, t + 1e-6) - 1
        expected.append(running[i] if i >= 0 else (running[0] if times[0] <= t + 0.25 else np.nan))
    np.testing.assert_array_equal(bundle.active_requests.to_numpy(), np.array(expected))


# --------------------------------------------------------------------------- corrupted copies


def _copy_bundle(src: Path, dst_root: Path, config_id: str | None = None) -> Path:
    dst = dst_root / (config_id or src.parent.name) / src.name
    dst.mkdir(parents=True)
    for f in src.iterdir():
        shutil.copyfile(f, dst / f.name)
    return dst


def _edit_lines(path: Path, edit) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(edit(lines)))


def _edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_missing_file(h100_r4_dir: Path, tmp_path: Path) -> None:
    folder = _copy_bundle(h100_r4_dir, tmp_path)
    (folder / "power.csv").unlink()  # engine.csv is optional (test_ingest_real_logs.py)
    with pytest.raises(BundleError, match="power.csv"):
        load_bundle(folder)
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nope")


def test_missing_power_column(h100_r4_dir: Path, tmp_path: Path) -> None:
    folder = _copy_bundle(h100_r4_dir, tmp_path)
    _edit_lines(folder / "power.csv", lambda ls: [ls[0].replace("power.draw [W]", "pw")] + ls[1:])
    with pytest.raises(BundleError, match=r"power\.csv.*power\.draw \[W\]"):
        load_bundle(folder)


def test_missing_engine_column(h100_r4_dir: Path, tmp_path: Path) -> None:
    folder = _copy_bundle(h100_r4_dir, tmp_path)
    _edit_lines(
        folder / "engine.csv", lambda ls: [ls[0].replace("num_requests_running", "x")] + ls[1:]
    )
    with pytest.raises(BundleError, match=r"engine\.csv.*num_requests_running"):
        load_bundle(folder)


def test_non_numeric_power(h100_r4_dir: Path, tmp_path: Path) -> None:
    folder = _copy_bundle(h100_r4_dir, tmp_path)

    def na(lines: list[str]) -> list[str]:
        cells = lines[9].split(",")
        cells[3] = "[N/A]"
        lines[9] = ",".join(cells)
        return lines

    _edit_lines(folder / "power.csv", na)
    with pytest.raises(BundleError, match=r"power\.draw \[W\].*line 10.*\[N/A\]"):
        load_bundle(folder)


def test_backwards_timestamp(h100_r4_dir: Path, tmp_path: Path) -> None:
    folder = _copy_bundle(h100_r4_dir, tmp_path)
    _edit_lines(folder / "power.csv", lambda ls: ls[:20] + [ls[21], ls[20]] + ls[22:])
    with pytest.raises(BundleError, match=r"power\.csv.*backwards at line 22"):
        load_bundle(folder)


def test_engine_timestamps_must_increase(h100_r4_dir: Path, tmp_path: Path) -> None:
    folder = _copy_bundle(h100_r4_dir, tmp_path)
    _edit_lines(folder / "engine.csv", lambda ls: ls[:30] + [ls[31], ls[30]] + ls[32:])
    with pytest.raises(BundleError, match=r"engine\.csv.*line 32"):
        load_bundle(folder)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("input_lens", -5, r"'input_lens'\[3\].*negative"),
        ("output_lens", 3.5, r"'output_lens'\[3\].*integer"),
        ("input_lens", "12", r"'input_lens'\[3\].*integer"),
    ],
)
def test_bad_token_counts(
    h100_r4_dir: Path, tmp_path: Path, key: str, value: object, message: str
) -> None:
    folder = _copy_bundle(h100_r4_dir, tmp_path)
    _edit_json(folder / "requests.no_itls.json", lambda d: d[key].__setitem__(3, value))
    with pytest.raises(BundleError, match=message):
        load_bundle(folder)


def test_request_lists_disagree(h100_r4_dir: Path, tmp_path: Path) -> None:
    folder = _copy_bundle(h100_r4_dir, tmp_path)
    _edit_json(folder / "requests.no_itls.json", lambda d: d["ttfts"].pop())
    with pytest.raises(BundleError, match=r"requests\.no_itls\.json.*different lengths"):
        load_bundle(folder)


def test_manifest_tp_disagrees_with_folder(h100_r4_dir: Path, tmp_path: Path) -> None:
    folder = _copy_bundle(h100_r4_dir, tmp_path)
    _edit_json(folder / "manifest.json", lambda d: d.__setitem__("tp", 2))
    with pytest.raises(BundleError, match=r"manifest\.json.*'tp' = 2"):
        load_bundle(folder)


def test_gpu_rows_disagree_with_tp(h100_r4_dir: Path, tmp_path: Path) -> None:
    # a TP1 log presented as TP2: one GPU row per timestamp instead of two
    folder = _copy_bundle(h100_r4_dir, tmp_path, config_id="qwen3-8b_H100_tp2")
    _edit_json(folder / "manifest.json", lambda d: d.__setitem__("tp", 2))
    with pytest.raises(BundleError, match=r"power\.csv: 1 GPU row\(s\).*line 2.*tp=2"):
        load_bundle(folder)


def test_tp2_log_with_a_missing_gpu_row(powertrace_dir: Path, tmp_path: Path) -> None:
    src = (
        powertrace_dir
        / "gemma-4-26b-a4b_A100_tp2"
        / "a100_validate_tp2_r4p0_b1p0_s20260712_1784415591"
    )
    folder = _copy_bundle(src, tmp_path)
    _edit_lines(folder / "power.csv", lambda ls: ls[:41] + ls[42:])  # drop line 42 (GPU 0)
    with pytest.raises(BundleError, match=r"1 GPU row\(s\).*line 42.*tp=2"):
        load_bundle(folder)


def test_hardware_disagrees_with_folder(h100_r4_dir: Path, tmp_path: Path) -> None:
    folder = _copy_bundle(h100_r4_dir, tmp_path, config_id="qwen3-8b_A100_tp1")
    with pytest.raises(BundleError, match="'hardware' = 'H100'"):
        load_bundle(folder)


def test_long_gap_raises(h100_r4_dir: Path, tmp_path: Path) -> None:
    folder = _copy_bundle(h100_r4_dir, tmp_path)
    _edit_lines(folder / "power.csv", lambda ls: ls[:50] + ls[56:])  # 6 samples missing
    with pytest.raises(BundleGapError, match=r"power\.csv.*gap of 1\.7\d\d s.*6 missing"):
        load_bundle(folder)
    assert load_bundle(folder, max_gap_samples=6).metadata["gaps"][0]["n_missing"] == 6


def test_full_requests_json_keeps_itls(h100_r4_dir: Path, tmp_path: Path) -> None:
    folder = _copy_bundle(h100_r4_dir, tmp_path)
    data = json.loads((folder / "requests.no_itls.json").read_text())
    data["itls"] = [[0.0076] * (n - 1) for n in data["output_lens"]]
    (folder / "requests.json").write_text(json.dumps(data))
    bundle = load_bundle(folder)
    assert bundle.metadata["sources"]["requests"]["path"].endswith("requests.json")
    assert [len(v) for v in bundle.requests["itl_s"]] == [n - 1 for n in data["output_lens"]]


# --------------------------------------------------------------------------- legacy format


def _legacy(**kwargs) -> MeasuredBundle:
    args = dict(tp=2, config_id="llama-3.1-8b_A100_tp2", local_utc_offset_s=-28800.0)
    args.update(kwargs)
    return load_legacy_bundle(
        LEGACY_DIR / "power.csv", LEGACY_DIR / "benchmark_result.json", **args
    )


def test_legacy_power_grid() -> None:
    bundle = _legacy()
    raw = _raw_node_power(LEGACY_DIR / "power.csv")
    stamps = [datetime.strptime(s, "%Y/%m/%d %H:%M:%S.%f") for s in raw]
    t_s = np.array([(s - stamps[0]).total_seconds() for s in stamps])
    watts = np.array(list(raw.values()))

    index = bundle.power_w.index
    assert index[0] == pd.Timestamp(datetime(2025, 3, 1, 18, 0, tzinfo=UTC))
    assert len(index) == 30 and (np.diff(index.asi8) == 250_000_000).all()
    # samples 10 and 11 (2.50 s, 2.75 s) are missing: interpolated between 2.25 s and 3.00 s
    assert bundle.metadata["n_interpolated"] == 2
    (gap,) = bundle.metadata["gaps"]
    assert gap["n_missing"] == 2 and gap["length_s"] == pytest.approx(0.75)
    assert gap["start"] == "2025-03-01T18:00:02.250000+00:00"
    grid_s = np.arange(30) * 0.25
    power = bundle.power_w.to_numpy()
    for k in (10, 11):
        assert power[k] == pytest.approx(np.interp(grid_s[k], t_s, watts))
    # every other grid point carries the (jittered) sample of its own slot
    measured = [k for k in range(30) if k not in (10, 11)]
    np.testing.assert_allclose(power[measured], watts)
    assert bundle.active_requests is None and bundle.engine is None and bundle.manifest == {}


def test_legacy_requests() -> None:
    bundle = _legacy()
    data = json.loads((LEGACY_DIR / "benchmark_result.json").read_text())
    req = bundle.requests
    expected_times = [
        pd.Timestamp(1740852002.0 + o, unit="s", tz="UTC") for o in data["send_offsets_s"]
    ]
    assert (abs(req["arrival_time"] - pd.Series(expected_times)) < pd.Timedelta("1us")).all()
    assert req["n_in"].tolist() == data["input_lens"]
    assert req["n_out"].sum() == data["total_output_tokens"]
    assert req["itl_s"].tolist() == data["itls"]
    assert bundle.run_id == "power" and bundle.gpu == "A100" and bundle.tp == 2

    explicit = _legacy(request_timestamps=[1740852010.0 + i for i in range(5)])
    assert explicit.requests["arrival_time"].iloc[4] == pd.Timestamp(1740852014, unit="s", tz="UTC")


def test_legacy_needs_request_times(tmp_path: Path) -> None:
    data = json.loads((LEGACY_DIR / "benchmark_result.json").read_text())
    del data["start_epoch"]
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps(data))
    with pytest.raises(BundleError, match=r"bench\.json: no request send times"):
        load_legacy_bundle(LEGACY_DIR / "power.csv", bench, tp=2, config_id="x_A100_tp2")


def test_legacy_tp_checks() -> None:
    with pytest.raises(BundleError, match=r"2 GPU row\(s\).*tp=1"):
        _legacy(tp=1, config_id="llama-3.1-8b_A100_tp1")
    with pytest.raises(BundleError, match="tp2 but tp=1"):
        _legacy(tp=1)
    only_gpu0 = _legacy(tp=1, config_id="llama-3.1-8b_A100_tp1", gpu_indices=[0])
    assert only_gpu0.metadata["n_rows_other_gpus"] == 28
    assert only_gpu0.power_w.iloc[0] == pytest.approx(60.0)  # first GPU-0 row of the file


def test_legacy_non_numeric_power(tmp_path: Path) -> None:
    power = tmp_path / "power.csv"
    lines = (LEGACY_DIR / "power.csv").read_text().splitlines(keepends=True)
    lines[5] = lines[5].rsplit(",", 1)[0] + ", [N/A]\n"
    power.write_text("".join(lines))
    with pytest.raises(BundleError, match=r"line 6.*\[N/A\]"):
        load_legacy_bundle(
            power, LEGACY_DIR / "benchmark_result.json", tp=2, config_id="x_A100_tp2"
        )


def test_linear_method_is_plain_interpolation(a100_r4_dir: Path) -> None:
    raw = _raw_node_power(a100_r4_dir / "power.csv")
    stamps = [datetime.strptime(k, "%Y/%m/%d %H:%M:%S.%f") for k in raw]
    t_s = np.array([(t - stamps[0]).total_seconds() for t in stamps])
    linear = load_bundle(a100_r4_dir, method="linear").power_w
    expected = np.interp(np.arange(len(linear)) * 0.25, t_s, np.array(list(raw.values())))
    np.testing.assert_allclose(linear.to_numpy(), expected, rtol=0, atol=1e-9)
    # interpolating between samples that sit off the grid cuts the measured peak
    assert linear.max() < max(raw.values()) - 10.0
    with pytest.raises(ValueError, match="method must be"):
        load_bundle(a100_r4_dir, method="cubic")


def test_duplicate_gpu_row(powertrace_dir: Path, tmp_path: Path) -> None:
    src = (
        powertrace_dir
        / "gemma-4-26b-a4b_A100_tp2"
        / "a100_validate_tp2_r4p0_b1p0_s20260712_1784415591"
    )
    folder = _copy_bundle(src, tmp_path)

    def gpu0_twice(lines: list[str]) -> list[str]:
        cells = lines[41].split(",")  # line 42 (GPU 0) -> claim GPU 1 as well as line 43
        cells[1] = "1"
        lines[41] = ",".join(cells)
        return lines

    _edit_lines(folder / "power.csv", gpu0_twice)
    with pytest.raises(BundleError, match=r"GPU index 1 appears twice.*line 4[23]"):
        load_bundle(folder)


def test_request_timestamps_backwards(h100_r4_dir: Path, tmp_path: Path) -> None:
    folder = _copy_bundle(h100_r4_dir, tmp_path)

    def swap(d: dict) -> None:
        ts = d["request_timestamps"]
        ts[5], ts[6] = ts[6], ts[5]

    _edit_json(folder / "requests.no_itls.json", swap)
    with pytest.raises(BundleError, match=r"'request_timestamps'\[6\].*non-decreasing"):
        load_bundle(folder)


def test_missing_clock_offset(h100_r4_dir: Path, tmp_path: Path) -> None:
    folder = _copy_bundle(h100_r4_dir, tmp_path)
    _edit_json(folder / "manifest.json", lambda d: d["clock"].pop("local_utc_offset_s"))
    with pytest.raises(BundleError, match="local_utc_offset_s"):
        load_bundle(folder)
