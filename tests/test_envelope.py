"""Out-of-envelope warnings (traces.model.envelope) on real bundles and in the facility result."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from traces.facility import FacilitySpec, WorkloadScenario, simulate_facility
from traces.measured.ingest import load_bundle
from traces.model.envelope import check_envelope, merge_flags, training_envelope, warn_envelope
from traces.workload.schedule import RequestSchedule


def test_envelope_of_sharegpt_flags_the_agentic_replay(
    a100_r4_dir: Path, agentic_dir: Path, caplog
) -> None:
    train = load_bundle(a100_r4_dir)
    raw = json.loads((a100_r4_dir / "requests.no_itls.json").read_text())
    env = training_envelope([train])
    assert env["prompt_tokens"] == [min(raw["input_lens"]), max(raw["input_lens"])]
    ctx = [i + o for i, o in zip(raw["input_lens"], raw["output_lens"], strict=True)]
    assert env["context_tokens"] == [min(ctx), max(ctx)]
    assert env["concurrency"] == [0.0, 20.0]  # README: max num_requests_running 20
    agentic = RequestSchedule.from_bundle(load_bundle(agentic_dir))
    flags = check_envelope(env, agentic, config_id="qwen3-8b_A100_tp1")
    assert set(flags) == {"prompt_tokens", "context_tokens"}
    assert flags["prompt_tokens"]["value"] == 31_500  # README: inputs up to 31,500
    inside = RequestSchedule.from_bundle(train)
    assert check_envelope(env, inside) == {}
    with caplog.at_level(logging.WARNING, logger="traces.model.envelope"):
        warn_envelope(merge_flags({}, flags))
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "prompt_tokens up to 31500 tokens" in text
    assert f"fitted range {min(raw['input_lens'])}-{max(raw['input_lens'])} tokens" in text


def test_facility_result_carries_the_flag(caplog) -> None:
    def spec(n_in: int) -> FacilitySpec:
        return FacilitySpec(
            rows=1,
            racks_per_row=1,
            servers_per_rack=2,
            assignment="qwen3-8b_A100_tp1",
            gpus_per_server=1,
            scenario=WorkloadScenario(
                arrival="poisson", rate_per_replica_rps=0.5, tokens="fixed", n_in_fixed=n_in
            ),
            horizon_s=60.0,
            resolution="1min",
            seed=3,
        )

    ok = simulate_facility(spec(512), method="tdp", progress=False)
    assert not ok.out_of_envelope
    with caplog.at_level(logging.WARNING, logger="traces.model.envelope"):
        far = simulate_facility(spec(20_000), method="tdp", progress=False)
    assert far.out_of_envelope
    flag = far.metadata["out_of_envelope"]["qwen3-8b_A100_tp1:prompt_tokens"]
    assert flag["value"] == 20_000 and flag["fitted_range"][1] < 20_000
    assert any("prompt_tokens" in r.getMessage() for r in caplog.records)
    # the flag survives resampling
    assert far.resample("1min").out_of_envelope
    with pytest.raises(KeyError):
        far.metadata["out_of_envelope"]["qwen3-8b_A100_tp1:concurrency"]
