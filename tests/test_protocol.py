"""Tests of the evaluation protocol (traces.measured.protocol) on the real bundles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from traces.measured.evaluate import Split
from traces.measured.ingest import find_bundles, load_bundle
from traces.measured.protocol import evaluate_protocol, make_folds, select_for_split


class HeldOutGuard:
    """Stands in for the test trace: any attribute access fails the test."""

    def __getattr__(self, name: str):
        raise AssertionError(f"the selection step read the test trace (attribute {name!r})")


def test_blocked_folds_cover_a_single_trace_once(h100_r4_dir: Path) -> None:
    b = load_bundle(h100_r4_dir)
    folds = make_folds([b])
    assert len(folds) == 4
    covered = np.concatenate([np.arange(f.start, f.stop) for f in folds])
    np.testing.assert_array_equal(covered, np.arange(len(b.power_w)))
    for f in folds:
        held = b.power_w.index[f.start : f.stop]
        for t in f.train:
            assert not t.power_w.index.isin(held).any()
            assert len(t.power_w) >= 60


def test_selection_never_reads_the_test_trace(powertrace_roots: list[Path]) -> None:
    paths = [p for p in find_bundles(powertrace_roots) if p.parent.name == "qwen3-8b_A100_tp1"]
    bundles = [load_bundle(p) for p in paths]
    assert len(bundles) == 5
    test = next(b for b in bundles if b.run_id == "a100_trace_replay_tp1_1784416175")
    train = [b for b in bundles if b is not test]
    guard = HeldOutGuard()
    with pytest.raises(AssertionError, match="read the test trace"):
        _ = guard.power_w  # the guard works
    split = Split("loto:agentic", train, guard, 0, len(test.power_w))
    choice = select_for_split(split, candidates=("work", "lookup", "lut"))
    assert choice["method"] in ("work", "lookup", "lut")
    assert set(choice["scores"]) == {"work", "lookup", "lut"}
    assert len(choice["folds"]) == 4  # leave-one-out over the four training traces
    assert all(test.run_id not in name for name in choice["folds"])


def test_protocol_rows_are_seeded(h100_r4_dir: Path) -> None:
    b = load_bundle(h100_r4_dir)
    kw = dict(methods=("work", "lookup", "tdp"), fit_seeds=(0, 1), select=False)
    rows1, _ = evaluate_protocol([b], **kw)
    rows2, _ = evaluate_protocol([b], **kw)
    cols = ["split", "method", "fit_seed", "resolution_s", "ks", "delta_energy_pct"]
    assert rows1[cols].equals(rows2[cols])
    assert set(rows1["resolution_s"]) == {0.25, 1.0}
    assert len(rows1) == 4 * 3 * 2 * 2  # folds x methods x seeds x resolutions
