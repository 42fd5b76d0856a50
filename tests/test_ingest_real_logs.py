"""Ingestion of bundles as real logs are (issue 16): early requests, no engine log, cached tokens.

Expected values come from ../shared/data/powertrace_sim_incoming/README.md or are recomputed
here from the raw files with the json/csv modules.
"""

from __future__ import annotations

import json
import logging
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from traces.measured.ingest import BundleError, find_bundles, load_bundle
from traces.workload.schedule import RequestSchedule, ScheduleError

PDT = timedelta(hours=-7)


def _raw_requests(folder: Path) -> dict:
    return json.loads((folder / "requests.no_itls.json").read_text())


def _first_power_epoch(folder: Path) -> float:
    with (folder / "power.csv").open() as handle:
        handle.readline()
        stamp = handle.readline().split(",")[0].strip()
    local = datetime.strptime(stamp, "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=UTC)
    return (local - PDT).timestamp()


def test_agentic_bundle_loads_with_early_request_aligned(agentic_dir: Path, caplog) -> None:
    raw = _raw_requests(agentic_dir)
    t0 = _first_power_epoch(agentic_dir)
    early = t0 - raw["request_timestamps"][0]
    assert 0 < early < 0.25  # README: first request 0.04 s before the first power sample
    with caplog.at_level(logging.INFO, logger="traces.measured.ingest"):
        b = load_bundle(agentic_dir)
    assert any("aligned to it" in r.getMessage() for r in caplog.records)
    assert b.metadata["n_requests_aligned"] == 1
    assert b.metadata["max_request_shift_s"] == pytest.approx(early, abs=2e-6)
    assert b.metadata["n_requests_before_power"] == 0
    assert b.requests["arrival_time"].iloc[0] == b.power_w.index[0]
    # the other 135 send times are untouched (microsecond rounding of the loader)
    later = np.asarray(raw["request_timestamps"][1:])
    got = b.requests["arrival_time"].iloc[1:].astype("int64").to_numpy() / 1e9
    assert np.max(np.abs(got - later)) < 1e-6
    # README: 136 requests, 1,658,870 input tokens, prefix tokens sum 1,501,822, no cache hits
    assert len(b.requests) == 136
    assert int(b.requests["n_in"].sum()) == 1_658_870
    assert int(b.requests["n_prefix"].sum()) == 1_501_822
    assert b.requests["n_cached"].to_list() == [0] * 136
    assert (b.requests["n_prefix"] <= b.requests["n_in"]).all()
    assert len(b.power_w) >= 1263 - 5
    # the schedule, which refuses requests before the power log, now accepts it
    sched = RequestSchedule.from_bundle(b)
    assert sched.arrival_s[0] == 0.0
    assert len(sched) == 136


def test_request_more_than_a_step_early_is_not_moved(burstgpt_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "qwen3-8b_A100_tp1" / burstgpt_dir.name
    shutil.copytree(burstgpt_dir, folder)
    raw = _raw_requests(folder)
    t0 = _first_power_epoch(folder)
    raw["request_timestamps"][0] = t0 - 0.5
    (folder / "requests.no_itls.json").write_text(json.dumps(raw))
    b = load_bundle(folder)
    assert b.metadata["n_requests_aligned"] == 0
    assert b.metadata["n_requests_before_power"] == 1
    with pytest.raises(ScheduleError, match="before the first power sample"):
        RequestSchedule.from_bundle(b)


def test_bundle_without_engine_log_loads(a100_r4_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "qwen3-8b_A100_tp1" / a100_r4_dir.name
    folder.mkdir(parents=True)
    for f in a100_r4_dir.iterdir():
        if f.name != "engine.csv":
            shutil.copy(f, folder / f.name)
    assert find_bundles(tmp_path) == [folder]
    b = load_bundle(folder)
    full = load_bundle(a100_r4_dir)
    assert b.engine is None and b.active_requests is None
    assert b.metadata["has_engine"] is False and "engine" not in b.metadata["sources"]
    pd.testing.assert_series_equal(b.power_w, full.power_w)
    pd.testing.assert_frame_equal(b.requests, full.requests)
    assert len(RequestSchedule.from_bundle(b)) == 200


def test_cached_tokens_beyond_the_prompt_are_refused(agentic_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "qwen3-8b_A100_tp1" / agentic_dir.name
    shutil.copytree(agentic_dir, folder)
    raw = _raw_requests(folder)
    raw["cached_prompt_tokens"][3] = raw["input_lens"][3] + 1
    (folder / "requests.no_itls.json").write_text(json.dumps(raw))
    with pytest.raises(BundleError, match=r"cached_prompt_tokens'\[3\].*exceeds input_lens"):
        load_bundle(folder)


def test_data_root_is_a_list(powertrace_roots: list[Path]) -> None:
    found = find_bundles(powertrace_roots)
    # nine bundles in powertrace_sim (its README) + the agentic replay
    assert len(found) == 10
    assert sum(p.parent.name == "qwen3-8b_A100_tp1" for p in found) == 5
    assert find_bundles(powertrace_roots[0]) == [
        p for p in found if powertrace_roots[0] in p.parents
    ]
    with pytest.raises(BundleError, match="empty list"):
        find_bundles([])


def test_cli_evaluate_runs_on_the_agentic_bundle(agentic_dir: Path) -> None:
    """`gridlink evaluate` used to stop with a traceback on a request before the power log."""
    from typer.testing import CliRunner

    from gridlink.cli import app

    res = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--config-id",
            "qwen3-8b_A100_tp1",
            "--bundle",
            str(agentic_dir),
            "--seeds",
            "1",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {"model", "tdp", "mean", "lut", "lookup"} <= set(out)
    # TDP baseline: 400 W nameplate x TP 1, constant; energy error by hand from the power log
    power = load_bundle(agentic_dir).power_w.to_numpy()
    expected = (400.0 * power.size - power.sum()) / power.sum() * 100
    assert out["tdp"]["delta_energy_pct"] == pytest.approx(expected, rel=1e-9)
