"""The house's layers hold: import-linter contracts, a clean type check, rooms of a size.

The contracts live in pyproject.toml ([tool.importlinter]) and are pictured in
docs/architecture.md: ``gridlink`` uses ``traces``, never the reverse; inside ``traces``
facility > measured > model > states | power > workload; no circles among siblings.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("traces", "gridlink")
#: A module longer than this must say in its docstring why it is one cohesive thing.
MAX_LINES = 600
COHESIVE = "One cohesive module over ~600 lines"


def _tool(name: str) -> str:
    exe = Path(sys.executable).parent / name
    if exe.exists():
        return str(exe)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: install the test extras (pip install -e '.[test]')")
    return found


def test_import_contracts_hold() -> None:
    run = subprocess.run(
        [_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 kept, 0 broken" in run.stdout


def test_type_check_is_clean() -> None:
    from mypy import api

    stdout, stderr, status = api.run(["--config-file", str(ROOT / "pyproject.toml")])
    assert status == 0, stdout + stderr


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_long_modules_say_why_they_are_one_room(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    n_lines = text.count("\n")
    if n_lines <= MAX_LINES:
        return
    doc = ast.get_docstring(ast.parse(text)) or ""
    assert COHESIVE in " ".join(doc.split()), (
        f"{path.relative_to(ROOT)} has {n_lines} lines: split it, or say in its module "
        f"docstring '{COHESIVE}: ...' and why"
    )


def test_the_workload_layer_knows_nothing_above_it() -> None:
    # Independent of import-linter: read the workload modules' imports ourselves.
    above = ("traces.states", "traces.power", "traces.model", "traces.measured", "traces.facility")
    old_flat = {
        "traces.ingest",
        "traces.classifier",
        "traces.sampler",
        "traces.registry",
        "traces.fit",
        "traces.baselines",
        "traces.fidelity",
        "traces.evaluate",
    }
    for path in (ROOT / "traces" / "workload").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(above) and name not in old_flat, (
                    f"{path.relative_to(ROOT)} imports {name}"
                )


@pytest.mark.parametrize("module", ["fields", "outputs"])
def test_field_and_output_helpers_import_nothing_of_traces(module: str) -> None:
    # The bottom of traces: the workload layer converts its inputs with traces.fields,
    # so these two may not import any traces module (or gridlink) themselves.
    path = ROOT / "traces" / f"{module}.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else ["<relative import>"]
        for name in names:
            assert name.split(".")[0] not in ("traces", "gridlink", "<relative import>"), (
                f"traces/{module}.py imports {name}"
            )
