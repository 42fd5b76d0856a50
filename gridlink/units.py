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

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

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
    "declared_unit",
    "check_dimension",
    "check_facility_mw",
    "check_units",
    "quantity",
]

#: The package-wide registry.  Never create another one: quantities from two
#: registries cannot be combined.
ureg: pint.UnitRegistry = pint.UnitRegistry()
ureg.formatter.default_format = "~P"
Q_ = ureg.Quantity


class UnitError(ValueError):
    """A value carried no unit, or a unit of the wrong dimension."""


#: Unit suffixes of Series names that declare a unit (pandapower style, ``p_mw``).
_NAME_SUFFIX_UNITS: dict[str, str] = {
    "mw": "MW",
    "kw": "kW",
    "w": "W",
    "gw": "GW",
    "mwh": "MWh",
}

_F = TypeVar("_F", bound=Callable[..., Any])


#: Plain-language names of the dimensions gridlink works with, for error messages.
_DIMENSION_WORDS: dict[Any, str] = {
    ureg.W.dimensionality: "power",
    ureg.J.dimensionality: "energy",
    ureg.s.dimensionality: "time",
    (ureg.W / ureg.s).dimensionality: "power per time (ramp rate)",
    ureg.dimensionless.dimensionality: "dimensionless",
}


def _describe_dimensionality(dimensionality: Any) -> str:
    word = _DIMENSION_WORDS.get(dimensionality)
    if word == "dimensionless":
        return word
    return f"{word} {dimensionality}" if word else str(dimensionality)


def _dimension_name(unit: str) -> str:
    return _describe_dimensionality(ureg.Unit(unit).dimensionality)


def _parse_unit(unit: str, *, name: str) -> pint.Unit:
    """Parse a unit string, turning pint's errors into :class:`UnitError`."""
    if not isinstance(unit, str):
        raise UnitError(f"{name}: the declared unit must be a string such as 'MW', got {unit!r}")
    try:
        return ureg.Unit(unit)
    except (pint.UndefinedUnitError, AttributeError, TypeError, ValueError) as exc:
        raise UnitError(
            f"{name}: unknown unit {unit!r}; use a unit pint understands, e.g. 'MW' or 'kW'"
        ) from exc


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
        raise UnitError(
            f"{name}: quantity comes from another pint registry; use gridlink.units.ureg"
        )
    try:
        converted = value.to(unit)
    except pint.DimensionalityError as exc:
        got = f"{value.units:~}" or "dimensionless"
        raise UnitError(
            f"{name}: expected dimension {_dimension_name(unit)} (e.g. {unit}), "
            f"got {got!r} with dimension {_describe_dimensionality(value.dimensionality)}"
        ) from exc
    mag = converted.magnitude
    if isinstance(mag, np.ndarray):
        return mag.astype(np.float64, copy=False)
    return float(mag)


def series_with_unit(series: pd.Series, unit: str) -> pd.Series:
    """Return a copy of ``series`` that declares its unit in ``attrs["unit"]``.

    This is how a pandas Series carries a unit across gridlink's public boundary
    (PyPSA does the same for its statistics).  The unit string is validated.

    Parameters
    ----------
    series : pandas.Series, shape (T,)
        Numeric values in ``unit``.
    unit : str
        Unit understood by pint, e.g. ``"MW"``.

    Returns
    -------
    pandas.Series, shape (T,)
        Float64 copy with ``attrs["unit"] == unit``; a unit suffix of the name follows
        the declaration (``p_mw`` declared ``"kW"`` becomes ``p_kw``).

    Raises
    ------
    UnitError
        If ``unit`` is not a unit pint knows.
    """
    _parse_unit(unit, name="unit")  # UnitError for an unknown unit
    out = series.astype(np.float64).copy()
    out.attrs["unit"] = unit
    out.name = _truthful_name(out.name, unit)
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
        Float64 values in ``unit``, same index; ``attrs["unit"] == unit``; a unit
        suffix of the name follows the conversion (``site_kw`` -> ``site_mw``).

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
    declared = declared_unit(series, name=name)
    factor = to_magnitude(Q_(1.0, declared), unit, name=name)
    out = series.astype(np.float64) * factor
    out.attrs = dict(series.attrs)
    out.attrs["unit"] = unit
    out.name = _truthful_name(out.name, unit)
    return out


def _truthful_name(name: Any, unit: str) -> Any:
    """A Series name whose unit suffix follows ``unit`` (``site_kw`` -> ``site_mw``).

    Used where gridlink itself declares or converts a Series' unit, so that the name it
    carries on never contradicts ``attrs["unit"]`` (:func:`declared_unit` refuses that).
    """
    if isinstance(name, str) and "_" in name:
        stem, suffix = name.rsplit("_", 1)
        if suffix.lower() in _NAME_SUFFIX_UNITS and ureg.Unit(
            _NAME_SUFFIX_UNITS[suffix.lower()]
        ) != ureg.Unit(unit):
            return f"{stem}_{unit.lower()}" if unit.lower() in _NAME_SUFFIX_UNITS else stem
    return name


def quantity(magnitude: Any, unit: str) -> pint.Quantity:
    """Build a quantity in the package registry (``Q_(magnitude, unit)``)."""
    return Q_(magnitude, unit)


def declared_unit(series: pd.Series, *, name: str) -> str:
    """Return the unit a Series declares, from ``attrs["unit"]`` or its name suffix.

    Parameters
    ----------
    series : pandas.Series
        A Series with ``series.attrs["unit"]`` set, or named with a unit suffix
        (``*_mw``, ``*_kw``, ``*_w``, ``*_gw``, ``*_mwh``; case-insensitive).
        When both declare a unit they must agree.
    name : str
        Argument name, used in error messages.

    Returns
    -------
    str
        The declared unit string (validated by pint).

    Raises
    ------
    UnitError
        If ``series`` is not a Series, declares no unit, declares a unit pint
        does not know, or its name and ``attrs["unit"]`` contradict each other.
    """
    if isinstance(series, pint.Quantity):
        raise UnitError(
            f"{name}: expected a pandas Series with a declared unit, got a bare quantity; "
            "wrap it with gridlink.units.series_with_unit(pd.Series(q.magnitude, index), unit)"
        )
    if not isinstance(series, pd.Series):
        raise UnitError(f"{name}: expected a pandas Series, got {type(series).__name__}")
    declared = series.attrs.get("unit")
    named = None
    if isinstance(series.name, str) and "_" in series.name:
        named = _NAME_SUFFIX_UNITS.get(series.name.lower().rsplit("_", 1)[-1])
    if declared is not None and named is not None:
        if _parse_unit(declared, name=name) != ureg.Unit(named):
            raise UnitError(
                f"{name}: the Series is named {series.name!r} (unit {named}) but "
                f"attrs['unit'] = {declared!r}; the declarations contradict each other - "
                "rename the Series or fix attrs['unit']"
            )
    declared = named if declared is None else declared
    if declared is None:
        raise UnitError(
            f"{name}: the Series declares no unit; set series.attrs['unit'] (e.g. 'MW') "
            "with gridlink.units.series_with_unit, or name it with a unit suffix like 'p_mw'"
        )
    _parse_unit(declared, name=name)
    return str(declared)


def check_facility_mw(
    p_mw: Any,
    name: str,
    *,
    nameplate_mw: float | None = None,
    allow: Any = (),
    error: type[Exception] = UnitError,
) -> float:
    """Refuse a facility PCC profile whose size is implausible (a unit mistake).

    Parameters
    ----------
    p_mw : pandas.Series or numpy.ndarray
        PCC power already converted to MW.
    name : str
        Argument or flag name for the message.
    nameplate_mw : float, optional
        The facility's nameplate (TDP-based) power [MW]; the peak must lie within
        ``PLAUSIBLE["facility_p_mw_per_nameplate"]`` of it.
    allow : collection of str
        Override keys (``"facility_p_mw"``, ``"facility_p_mw_per_nameplate"``).
    error : type of Exception
        Exception class raised.

    Returns
    -------
    float
        The peak [MW].

    Raises
    ------
    error
        Peak above 10 GW (:data:`traces.fields.PLAUSIBLE` ``["facility_p_mw"]``: kW or W
        labelled MW), or outside the plausible fraction of ``nameplate_mw``.
    """
    from traces.fields import allowed_keys, as_number, check_plausible

    keys = allowed_keys(allow, error=error)
    values = np.asarray(p_mw, dtype=np.float64)
    peak = float(np.nanmax(values)) if values.size and np.isfinite(values).any() else 0.0
    check_plausible(peak, "facility_p_mw", f"{name}: peak", allow=keys, error=error)
    if nameplate_mw is not None:
        plate = as_number(nameplate_mw, "nameplate_mw", error=error, unit="MW", gt=0)
        check_plausible(
            peak / plate,
            "facility_p_mw_per_nameplate",
            f"{name}: peak {peak:g} MW / nameplate {plate:g} MW",
            allow=keys,
            error=error,
        )
    return peak


def check_dimension(unit: str, expected: str, *, name: str) -> None:
    """Raise :class:`UnitError` unless ``unit`` has the dimension of ``expected``.

    Parameters
    ----------
    unit : str
        The unit to check, e.g. ``"kW"``.
    expected : str
        A unit of the expected dimension, e.g. ``"MW"`` for power.
    name : str
        Argument name, used in error messages.

    Raises
    ------
    UnitError
        If ``unit`` is unknown or its dimension differs from ``expected``'s (a
        dimensionless unit is refused wherever a dimension is expected).
    """
    got = _parse_unit(unit, name=name)
    want = _parse_unit(expected, name=name)
    if got.dimensionality != want.dimensionality:
        raise UnitError(
            f"{name}: expected dimension {_describe_dimensionality(want.dimensionality)} "
            f"(e.g. {expected}), got {unit!r} with dimension "
            f"{_describe_dimensionality(got.dimensionality)}"
        )


def check_units(**expected: str) -> Callable[[_F], _F]:
    """Decorator: check that named arguments carry the expected dimension.

    In the spirit of MetPy's ``check_units``.  Each keyword maps an argument name
    to a unit of the expected dimension (``profile="MW"``).  At call time an
    argument that is a pandas Series must declare a unit of that dimension
    (:func:`declared_unit`); any other non-``None`` value must be a pint
    quantity of that dimension.  ``None`` is let through (optional arguments).
    Values are *not* converted: the function converts with
    :func:`to_magnitude` / :func:`series_to_magnitude`.

    Parameters
    ----------
    **expected : str
        ``argument_name="unit"`` pairs, e.g. ``threshold="MW"``.

    Returns
    -------
    callable
        The decorator.

    Raises
    ------
    TypeError
        At decoration time, if an argument named in ``expected`` is not a
        parameter of the decorated function.
    UnitError
        At call time, for a bare number, a Series with no unit, or a wrong
        dimension; the message names the argument and the expected dimension.

    Examples
    --------
    >>> @check_units(p="MW")
    ... def double(p):
    ...     return 2 * to_magnitude(p, "MW", name="p")
    >>> double(Q_(500.0, "kW"))
    1.0
    """
    for unit in expected.values():
        ureg.Unit(unit)

    def decorator(func: _F) -> _F:
        signature = inspect.signature(func)
        unknown = set(expected) - set(signature.parameters)
        if unknown:
            raise TypeError(f"check_units: {func.__name__} has no parameter(s) {sorted(unknown)}")

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            for arg_name, unit in expected.items():
                if arg_name not in bound.arguments:
                    continue
                value = bound.arguments[arg_name]
                if value is None:
                    continue
                if isinstance(value, pd.Series):
                    check_dimension(declared_unit(value, name=arg_name), unit, name=arg_name)
                else:
                    to_magnitude(value, unit, name=arg_name)
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator
