"""Shared test fixtures: the real measured data beside the project, and tolerances."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: ../shared/data beside the project root (CI has it there); override with GRIDLINK_SHARED_DATA.
SHARED_DATA = Path(os.environ.get("GRIDLINK_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
POWERTRACE_DIR = SHARED_DATA / "powertrace_sim"
#: The bundle waiting for the loader (agentic replay; its README explains why it is apart).
POWERTRACE_INCOMING_DIR = SHARED_DATA / "powertrace_sim_incoming"
AZURE_DIR = SHARED_DATA / "azure_llm"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(
            f"needs real data at {path} (../shared/data beside the project); not present here"
        )
    return path


@pytest.fixture(scope="session")
def powertrace_dir() -> Path:
    """Root of the measured powertrace_sim bundles (skips when absent)."""
    return _require(POWERTRACE_DIR)


@pytest.fixture(scope="session")
def powertrace_roots() -> list[Path]:
    """The measured data root as a list: powertrace_sim and powertrace_sim_incoming."""
    return [_require(POWERTRACE_DIR), _require(POWERTRACE_INCOMING_DIR)]


@pytest.fixture(scope="session")
def agentic_dir() -> Path:
    """The agentic replay whose first request precedes the power log by 42 ms."""
    return _require(
        POWERTRACE_INCOMING_DIR / "qwen3-8b_A100_tp1" / "a100_trace_replay_tp1_1784416175"
    )


@pytest.fixture(scope="session")
def burstgpt_dir(powertrace_dir: Path) -> Path:
    return powertrace_dir / "qwen3-8b_A100_tp1" / "a100_trace_replay_tp1_1784576269"


@pytest.fixture(scope="session")
def azure_dir() -> Path:
    """Root of the Azure LLM inference traces (skips when absent)."""
    return _require(AZURE_DIR)


@pytest.fixture(scope="session")
def a100_r4_dir(powertrace_dir: Path) -> Path:
    return powertrace_dir / "qwen3-8b_A100_tp1" / "a100_validate_tp1_r4p0_b1p0_s20260712_1784415439"


@pytest.fixture(scope="session")
def h100_r4_dir(powertrace_dir: Path) -> Path:
    return powertrace_dir / "qwen3-8b_H100_tp1" / "h100_validate_tp1_r4p0_b1p0_s20260712_1784422665"


@pytest.fixture(scope="session")
def config_id() -> str:
    """The shipped configuration the demo uses (fails when none is shipped)."""
    from gridlink.studies.demo import default_configuration

    return default_configuration()


@pytest.fixture(scope="session")
def cfg(config_id: str):
    """That configuration, loaded from the package."""
    from traces.model.registry import load_configuration

    return load_configuration(config_id)
