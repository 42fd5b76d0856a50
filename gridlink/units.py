"""One pint unit registry for gridlink, and the checks used at every public boundary.

Public functions accept pint quantities (scalars, numpy arrays, or a pandas Series
whose unit is declared with :func:`series_with_unit` / ``Series.attrs["unit"]``) and
convert them to plain float arrays in the unit the hot path works in.  Wrong or
missing dimensions raise :class:`UnitError` naming the argument and the dimension
that was expected.  Inside hot paths, work on plain ``float64`` arrays: pint-pandas
is about 100x slower and conflicts with pandapower's pandas pin, so it is not used.

Examples
--------
>>> from gridlink.units import Q_, to_magnitude
>>> to_magnitude(Q_(1500.0, "kW"), "MW", name="p")
1.5
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pint

__all__ = [
    "ureg",
    "Q_",
    "UnitError",
    "to_magnitude",
    "series_to_magnitude",
    "series_with_unit",
    "quantity",
]

#: The package-wide registry.  Never create another one: quantities from two
#: registries cannot be combined.
ureg: pint.UnitRegistry = pint.UnitRegistry()
ureg.formatter.default_format = "~P"
Q_ = ureg.Quantity


class UnitError(ValueError):
    """A value carried no unit, or a unit of the wrong dimension."""


def _dimension_name(unit: str) -> str:
    return str(ureg.Unit(unit).dimensionality)


def to_magnitude(value: Any, unit: str, *, name: str) -> Any:
    """Convert a pint quantity to a plain magnitude in ``unit``.

    Parameters
    ----------
    value : pint.Quantity
        Scalar or array quantity.
    unit : str
        Target unit understood by pint, e.g. ``"MW"``, ``"MW/min"``, ``"h"``.
    name : str
        Argument name, used in error messages.

    Returns
    -------
    float or numpy.ndarray
        The magnitude in ``unit`` (arrays are returned as ``float64``).

    Raises
    ------
    UnitError
        If ``value`` is not a quantity (a bare number is refused: the unit must be
        stated) or its dimension differs from ``unit``'s.
    """
    if not isinstance(value, pint.Quantity):
        raise UnitError(
            f"{name}: expected a quantity with dimension {_dimension_name(unit)} "
            f"(e.g. gridlink.units.Q_(value, '{unit}')), got a bare {type(value).__name__}"
        )
    if value._REGISTRY is not ureg:
        raise UnitError(f"{name}: quantity comes from another pint registry; use gridlink.units.ureg")
    try:
        converted = value.to(unit)
    except pint.DimensionalityError as exc:
        raise UnitError(
            f"{name}: expected dimension {_dimension_name(unit)} ({unit}), "
            f"got {value.units:~} with dimension {value.dimensionality}"
        ) from exc
    mag = converted.magnitude
    if isinstance(mag, np.ndarray):
        return mag.astype(np.float64, copy=False)
    return float(mag)


def series_with_unit(series: pd.Series, unit: str) -> pd.Series:
    """Return a copy of ``series`` that declares its unit in ``attrs["unit"]``.

    This is how a pandas Series carries a unit across gridlink's public boundary
    (PyPSA does the same for its statistics).  The unit string is validated.
    """
    ureg.Unit(unit)  # raises for an unknown unit
    out = series.astype(np.float64).copy()
    out.attrs["unit"] = unit
    return out


def series_to_magnitude(series: Any, unit: str, *, name: str) -> pd.Series:
    """Convert a unit-declaring Series (or a quantity-valued Series) to ``unit``.

    Parameters
    ----------
    series : pandas.Series
        Either float values with ``series.attrs["unit"]`` set (see
        :func:`series_with_unit`), or a Series of a pint array's magnitudes
        created as ``pd.Series(Q_(array, unit).magnitude)`` *with* the attrs.
        A Series named ``*_mw``/``*_kw``/``*_w`` with no ``attrs["unit"]`` is
        accepted in that unit (units travel in names).
    unit : str
        Target unit.
    name : str
        Argument name for error messages.

    Returns
    -------
    pandas.Series
        Float64 values in ``unit``, same index; ``attrs["unit"] == unit``.

    Raises
    ------
    UnitError
        If no unit is declared, or its dimension differs from ``unit``'s.
    """
    if isinstance(series, pint.Quantity):
        raise UnitError(
            f"{name}: expected a pandas Series with a declared unit, got a bare quantity; "
            "wrap it with gridlink.units.series_with_unit(pd.Series(q.magnitude, index), unit)"
        )
    if not isinstance(series, pd.Series):
        raise UnitError(f"{name}: expected a pandas Series, got {type(series).__name__}")
    declared = series.attrs.get("unit")
    if declared is None and isinstance(series.name, str):
        suffix = series.name.lower().rsplit("_", 1)[-1]
        declared = {"mw": "MW", "kw": "kW", "w": "W", "gw": "GW", "mwh": "MWh"}.get(suffix)
    if declared is None:
        raise UnitError(
            f"{name}: the Series declares no unit; set series.attrs['unit'] (e.g. 'MW') "
            "with gridlink.units.series_with_unit, or name it with a unit suffix like 'p_mw'"
        )
    factor = to_magnitude(Q_(1.0, declared), unit, name=name)
    out = series.astype(np.float64) * factor
    out.attrs = dict(series.attrs)
    out.attrs["unit"] = unit
    return out


def quantity(magnitude: Any, unit: str) -> pint.Quantity:
    """Build a quantity in the package registry (``Q_(magnitude, unit)``)."""
    return Q_(magnitude, unit)
