"""The old gridlink import paths (issue 11) still give the very same objects for one release."""

import importlib

import pytest

#: old module -> where its names live now
MOVED = {
    "gridlink.feeder": "gridlink.grid.feeder",
    "gridlink.grid_pypsa": "gridlink.grid.pypsa",
    "gridlink.expansion": "gridlink.grid.expansion",
    "gridlink.demo": "gridlink.studies.demo",
    "gridlink.planning": "gridlink.studies.planning",
}


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_old_path_reexports_the_new_objects(old: str, new: str) -> None:
    old_mod, new_mod = importlib.import_module(old), importlib.import_module(new)
    assert old_mod.__doc__.startswith("Deprecated path, kept for one release: use " + new)
    assert old_mod.__all__, old
    for name in old_mod.__all__:
        assert getattr(old_mod, name) is getattr(new_mod, name), f"{old}.{name}"


@pytest.mark.parametrize(
    ("package", "names"),
    [
        ("gridlink.stats", ("load_statistics", "ramp_statistics", "StatsError", "RampStatistics")),
        ("gridlink.annual", ("AnnualScenario", "FleetPhase", "annual_load", "nameplate_mw")),
        ("gridlink.cli", ("app",)),
    ],
)
def test_split_packages_keep_their_names(package: str, names: tuple[str, ...]) -> None:
    mod = importlib.import_module(package)
    for name in names:
        assert name in mod.__all__ and hasattr(mod, name), f"{package}.{name}"
