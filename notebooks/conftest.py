"""Notebooks that read the measured data skip with a reason when ../shared/data is absent
(the same rule as the tests; CI has the data, so there they run)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(
    os.environ.get("GRIDLINK_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
#: Notebooks that read ../shared/data/powertrace_sim.
NEEDS_DATA = {"01_measured_traces.ipynb", "02_generator_fidelity.ipynb"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if (SHARED_DATA / "powertrace_sim").exists():
        return
    reason = f"needs real data at {SHARED_DATA / 'powertrace_sim'} (../shared/data); not present"
    for item in items:
        if item.path.name in NEEDS_DATA:
            item.add_marker(pytest.mark.skip(reason=reason))
