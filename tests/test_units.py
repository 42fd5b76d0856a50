"""Tests for gridlink.units: the registry and the checks at public boundaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pint
import pytest

from gridlink.units import (
    Q_,
    UnitError,
    check_dimension,
    check_units,
    declared_unit,
    quantity,
    series_to_magnitude,
    series_with_unit,
    to_magnitude,
    ureg,
)


def test_to_magnitude_converts_kw_to_mw():
    # 1500 kW = 1.5 MW
    assert to_magnitude(Q_(1500.0, "kW"), "MW", name="p") == 1.5
    out = to_magnitude(Q_(np.array([250.0, 500.0]), "kW"), "MW", name="p")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [0.25, 0.5])


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (1.0, "bare float"),
        (np.array([1.0]), "bare ndarray"),
        (Q_(1.0, "dimensionless"), "got 'dimensionless'"),
        (Q_(1.0, "W/m^2"), r"\[mass\] / \[time\] \*\* 3"),
        (Q_(1.0, "MWh"), "energy"),
    ],
)
def test_to_magnitude_refuses(value, match):
    with pytest.raises(UnitError, match=rf"^p: .*{match}") as info:
        to_magnitude(value, "MW", name="p")
    assert "power" in str(info.value)  # names the expected dimension


def test_other_registry_refused():
    other = pint.UnitRegistry()
    with pytest.raises(UnitError, match="another pint registry"):
        to_magnitude(other.Quantity(1.0, "MW"), "MW", name="p")


def test_series_to_magnitude_attrs_and_suffix():
    idx = pd.date_range("2026-01-01", periods=2, freq="1h", tz="UTC")
    s = series_with_unit(pd.Series([1000.0, 2000.0], index=idx), "kW")
    out = series_to_magnitude(s, "MW", name="s")
    assert out.tolist() == [1.0, 2.0]
    assert out.attrs["unit"] == "MW"
    assert s.attrs["unit"] == "kW"  # input untouched
    by_name = pd.Series([3.0e6], name="site_W")
    assert series_to_magnitude(by_name, "MW", name="s").tolist() == [3.0]


def test_contradicting_name_and_attrs_unit_refused():
    # issue 13 (root cause 6): a Series named p_mw that says kW is refused, not resolved
    s = pd.Series([1.0], name="p_mw")
    s.attrs["unit"] = "kW"
    with pytest.raises(UnitError, match=r"s: .*'p_mw'.*contradict"):
        declared_unit(s, name="s")
    s.attrs["unit"] = "megawatt"  # the same unit spelled out agrees with the name
    assert declared_unit(s, name="s") == "megawatt"


@pytest.mark.parametrize(
    ("series", "match"),
    [
        (pd.Series([1.0]), "declares no unit"),
        (pd.Series([1.0], name="p_furlong"), "declares no unit"),
        (pd.Series([1.0], name="mw"), "declares no unit"),  # no suffix separator
        (Q_(np.array([1.0]), "MW"), "bare quantity"),
        ([1.0], "expected a pandas Series"),
    ],
)
def test_declared_unit_refuses(series, match):
    with pytest.raises(UnitError, match=f"^s: .*{match}"):
        declared_unit(series, name="s")


def test_unknown_unit_string_is_unit_error():
    s = pd.Series([1.0])
    s.attrs["unit"] = "megawombat"
    with pytest.raises(UnitError, match="unknown unit 'megawombat'"):
        series_to_magnitude(s, "MW", name="s")
    with pytest.raises(UnitError, match="unknown unit"):
        series_with_unit(pd.Series([1.0]), "megawombat")


def test_check_dimension():
    check_dimension("kW", "MW", name="p")  # same dimension: no error
    with pytest.raises(UnitError, match="p: expected dimension power .* got 'MWh'"):
        check_dimension("MWh", "MW", name="p")
    with pytest.raises(UnitError, match="dimension dimensionless"):
        check_dimension("", "MW", name="p")


def test_check_units_decorator():
    @check_units(p="MW", limit="MW")
    def f(p, limit=None):
        return to_magnitude(p, "MW", name="p") if not isinstance(p, pd.Series) else "series"

    assert f(Q_(2000.0, "kW")) == 2.0
    assert f(series_with_unit(pd.Series([1.0]), "kW")) == "series"
    assert f(Q_(1.0, "MW"), limit=None) == 1.0  # None passes through
    with pytest.raises(UnitError, match="^limit: .*power"):
        f(Q_(1.0, "MW"), limit=Q_(1.0, "m"))
    with pytest.raises(UnitError, match="^p: .*bare int"):
        f(3)
    with pytest.raises(UnitError, match="^p: .*got 'MWh'"):
        f(series_with_unit(pd.Series([1.0]), "MWh"))
    with pytest.raises(TypeError, match="no parameter"):
        check_units(q="MW")(lambda p: p)


def test_one_registry():
    assert quantity(1.0, "MW")._REGISTRY is ureg
    assert Q_(1.0, "MW") + Q_(500.0, "kW") == Q_(1.5, "MW")
