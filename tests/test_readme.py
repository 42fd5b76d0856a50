"""The README's Python tour runs as written (so the front page cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _tour() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## A tour in Python", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert match, "README: no python block under 'A tour in Python'"
    return match.group(1)


def test_readme_tour_runs(capsys) -> None:
    namespace: dict[str, object] = {}
    exec(compile(_tour(), str(README), "exec"), namespace)  # noqa: S102 - our own README
    out = capsys.readouterr().out
    # what the tour promises, checked independently of the printed text
    trace = namespace["trace"]
    assert trace.power_w.index.tz is not None
    assert (trace.power_w.index[1] - trace.power_w.index[0]).total_seconds() == 0.25
    year = namespace["year"]
    assert len(year) == 8760
    p_set = namespace["p_set"]
    # energy preserved: hourly p_set x 1 h equals the profile's energy
    assert p_set.sum().iloc[0] == pytest.approx(float(year.sum()), rel=1e-9)
    assert "GWh" in out
