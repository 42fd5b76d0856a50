"""One converter per kind of input field: numbers, integers, booleans, durations, ranges.

Every public boundary of ``traces`` and ``gridlink`` converts a user's value with these
helpers, so a field is validated the same way everywhere and the *converted* value is
what gets stored:

* :func:`as_number` -- a finite real number (``int``, ``float``, numpy scalar).  Booleans
  are refused (``pue = true`` is not PUE 1), and so are strings (``pue = "1.3"``: write
  the number without quotes).  Optional hard bounds.
* :func:`as_integer` -- an integer count; floats, strings and booleans are refused.
* :func:`as_boolean` -- ``True`` / ``False`` only (not ``1``, ``"yes"``).
* :func:`as_duration_s` -- a duration in seconds: a string with a unit (``"1h"``,
  ``"15min"``, ``"01:00:00"``), a :class:`datetime.timedelta`, or a bare number only
  when the field's name ends in ``_s``.  ``horizon = 120`` is refused: 120 what?
* :func:`check_plausible` -- the documented plausible range of a physical input
  (:data:`PLAUSIBLE`, listed in ``docs/hardening.md``).  A value outside it is refused
  with the range and the likely mistake ("kW labelled MW?") unless the caller passes the
  field's key in ``allow_implausible`` (the explicit override).

Each helper takes the exception class to raise (``error=``), so a facility field raises
:class:`traces.facility.FacilityConfigError`, a feeder field ``FeederError``, and so on;
the message always starts with the field's name.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "FieldError",
    "Plausible",
    "PLAUSIBLE",
    "as_number",
    "as_integer",
    "as_boolean",
    "as_duration_s",
    "check_plausible",
    "allowed_keys",
]

logger = logging.getLogger(__name__)


class FieldError(ValueError):
    """A field's value has the wrong type, lies outside its range or is implausible."""


@dataclass(frozen=True)
class Plausible:
    """Plausible range of one physical input.

    Attributes
    ----------
    lo, hi : float
        Inclusive bounds, in ``unit``.
    unit : str
        Unit of the bounds (``""`` for dimensionless).
    why : str
        Where the range comes from.
    mistake : str
        The likely mistake behind a value outside it (shown in the error).
    """

    lo: float
    hi: float
    unit: str
    why: str
    mistake: str


#: Plausible ranges of physical inputs, keyed by the name a user passes in
#: ``allow_implausible`` to accept a value outside the range on purpose.
PLAUSIBLE: dict[str, Plausible] = {
    "pue": Plausible(
        1.0,
        3.0,
        "",
        "surveyed data-centre PUE lies in 1.05-2.5 (Uptime Institute 2023: average 1.58)",
        "a percentage, or IT power / facility power instead of its inverse?",
    ),
    "it_base_kw_per_server": Plausible(
        0.0,
        20.0,
        "kW",
        "non-GPU IT power of one server (CPUs, memory, NICs, fans) is 0.3-5 kW; a DGX "
        "H100's whole nameplate is 10.2 kW",
        "W labelled kW?",
    ),
    "gpu_power_per_tdp": Plausible(
        0.0,
        1.5,
        "x TDP",
        "board power stays below its power limit (<= TDP) apart from short excursions",
        "the sum of several GPUs read as one, or mW / a wrong column?",
    ),
    "facility_p_mw": Plausible(
        0.0,
        10_000.0,
        "MW",
        "the largest announced AI campuses are a few GW at the PCC",
        "kW or W labelled MW?",
    ),
    "facility_p_mw_per_nameplate": Plausible(
        0.05,
        1.0,
        "x nameplate",
        "a facility's peak PCC load cannot exceed its nameplate (TDP-based) power, and a "
        "facility in service does not peak below 5 % of it",
        "the profile or the nameplate in kW (or W) labelled MW?",
    ),
    "power_factor": Plausible(
        0.7,
        1.0,
        "",
        "grid codes require 0.9-1.0 at the PCC of large loads; below 0.7 is a fault",
        "a percentage (95 instead of 0.95) or tan(phi)?",
    ),
    "expansion_build_per_peak": Plausible(
        0.0,
        100.0,
        "x system peak load",
        "a capacity-expansion build beyond 100x the system's peak load means the load "
        "was given in the wrong unit",
        "a facility profile in kW or W labelled MW?",
    ),
}

_BAD_TYPE_HINT = {
    bool: "a boolean is not a number here; write the number",
    str: "write the number without quotes",
}


def _type_hint(value: Any) -> str:
    for kind, hint in _BAD_TYPE_HINT.items():
        if isinstance(value, kind):
            return hint
    return "give a number"


def as_number(
    value: Any,
    name: str,
    *,
    error: type[Exception] = FieldError,
    unit: str = "",
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> float:
    """Convert a real number field to ``float``, refusing booleans, strings and non-finite.

    Parameters
    ----------
    value : Any
        The user's value (``int``, ``float`` or a numpy real scalar / 0-d array).
    name : str
        Field name for the message (e.g. ``"pue"``, ``"--rate"``).
    error : type of Exception
        Exception class raised (its constructor takes one message).
    unit : str
        Unit shown in the message (``"kW"``), empty for dimensionless fields.
    ge, gt, le, lt : float, optional
        Hard bounds (>=, >, <=, <).

    Returns
    -------
    float
        The converted value.

    Raises
    ------
    error
        Wrong type, NaN / infinite, or outside a bound; the message starts with ``name``.
    """
    u = f" [{unit}]" if unit else ""
    if isinstance(value, bool | np.bool_) or isinstance(value, str | bytes):
        raise error(f"{name} must be a number{u}, got {value!r}; {_type_hint(value)}")
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if not isinstance(value, int | float | np.integer | np.floating):
        raise error(f"{name} must be a number{u}, got {type(value).__name__} {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise error(f"{name} must be a finite number{u}, got {value!r}")
    for bound, ok, word in (
        (ge, lambda b: out >= b, ">="),
        (gt, lambda b: out > b, ">"),
        (le, lambda b: out <= b, "<="),
        (lt, lambda b: out < b, "<"),
    ):
        if bound is not None and not ok(bound):
            raise error(f"{name} must be {word} {bound:g}{u}, got {out:g}")
    return out


def as_integer(
    value: Any,
    name: str,
    *,
    error: type[Exception] = FieldError,
    ge: int | None = None,
    le: int | None = None,
) -> int:
    """Convert an integer field (a count) to ``int``; floats, strings and booleans refused.

    Raises
    ------
    error
        Not an integer, or outside ``[ge, le]``; the message starts with ``name``.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        hint = _type_hint(value) if isinstance(value, bool | str) else "give a whole number"
        raise error(f"{name} must be an integer, got {value!r}; {hint}")
    out = int(value)
    if ge is not None and out < ge:
        raise error(f"{name} must be >= {ge}, got {out}")
    if le is not None and out > le:
        raise error(f"{name} must be <= {le}, got {out}")
    return out


def as_boolean(value: Any, name: str, *, error: type[Exception] = FieldError) -> bool:
    """Accept only ``True`` / ``False`` (numpy booleans too); ``1``, ``"yes"`` are refused.

    Raises
    ------
    error
        Any other value; the message starts with ``name``.
    """
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise error(f"{name} must be true or false, got {value!r}")


_HAS_UNIT = re.compile(r"[A-Za-z]|^\s*-?\d+:\d\d(:\d\d(\.\d*)?)?\s*$")


def as_duration_s(
    value: Any,
    name: str,
    *,
    error: type[Exception] = FieldError,
    ge: float | None = None,
    gt: float | None = None,
) -> float:
    """Convert a duration field to seconds.

    A string needs a unit (``"90s"``, ``"15min"``, ``"1h"``, ``"2 days"``) or the
    clock form ``"HH:MM:SS"``; a :class:`datetime.timedelta` / :class:`pandas.Timedelta`
    is taken as it is; a bare number is accepted only when ``name`` ends in ``_s`` (the
    unit is in the name).  Everything else is ambiguous and refused.

    Returns
    -------
    float
        Seconds.

    Raises
    ------
    error
        Ambiguous (a bare number for a name without ``_s``; YAML reads ``1:00:00``
        unquoted as the integer 3600), unparseable, or outside the bounds.
    """
    if isinstance(value, _dt.timedelta):  # pandas.Timedelta is a subclass
        seconds = value.total_seconds()
    elif isinstance(value, str):
        import pandas as pd

        if not _HAS_UNIT.search(value):
            raise error(
                f"{name} = {value!r} has no unit; write e.g. '{value.strip()}s', '1h' or '15min'"
            )
        try:
            seconds = pd.Timedelta(value).total_seconds()
        except ValueError as exc:
            raise error(
                f"{name} = {value!r} is not a duration such as '90s', '15min', '1h' or '24h'"
            ) from exc
    elif name.rsplit(".", 1)[-1].endswith("_s"):
        return as_number(value, name, error=error, unit="s", ge=ge, gt=gt)
    else:
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise error(f"{name} must be a duration such as '1h' or '15min', got {value!r}")
        raise error(
            f"{name} = {value!r} is a bare number with no unit; write a string with a unit "
            f"('{value}s', '1h', '15min') or give the field in seconds as {name}_s "
            "(unquoted YAML 1:00:00 is read as the integer 3600: quote it)"
        )
    return as_number(seconds, name, error=error, unit="s", ge=ge, gt=gt)


def allowed_keys(allow_implausible: Any, *, error: type[Exception] = FieldError) -> frozenset[str]:
    """Validate an ``allow_implausible`` override: a collection of keys of :data:`PLAUSIBLE`.

    Raises
    ------
    error
        Not a collection of strings, or an unknown key (the message lists the keys).
    """
    if allow_implausible is None:
        return frozenset()
    if isinstance(allow_implausible, str) or not isinstance(allow_implausible, Collection):
        raise error(
            f"allow_implausible must be a list of field keys, e.g. ['pue'], got "
            f"{allow_implausible!r}; keys: {sorted(PLAUSIBLE)}"
        )
    keys = frozenset(str(k) for k in allow_implausible)
    unknown = sorted(keys - set(PLAUSIBLE))
    if unknown:
        raise error(
            f"allow_implausible: unknown key(s) {unknown}; the plausible-range keys are "
            f"{sorted(PLAUSIBLE)}"
        )
    return keys


def check_plausible(
    value: float,
    key: str,
    name: str,
    *,
    allow: Collection[str] = (),
    error: type[Exception] = FieldError,
) -> float:
    """Refuse a value outside the plausible range :data:`PLAUSIBLE` ``[key]``.

    Parameters
    ----------
    value : float
        Converted value (see :func:`as_number`), in the range's unit.
    key : str
        Key of :data:`PLAUSIBLE`.
    name : str
        Field or flag name for the message.
    allow : collection of str
        Keys the caller accepts outside their range (the explicit override); an
        accepted implausible value is logged as a warning.
    error : type of Exception
        Exception class raised.

    Returns
    -------
    float
        ``value``.

    Raises
    ------
    error
        ``value`` outside ``[lo, hi]`` and ``key`` not in ``allow``.
    """
    rng = PLAUSIBLE[key]
    if rng.lo <= value <= rng.hi:
        return value
    u = f" {rng.unit}" if rng.unit else ""
    if key in allow:
        logger.warning(
            "%s = %g lies outside the plausible range [%g, %g]%s; accepted (allow_implausible)",
            name,
            value,
            rng.lo,
            rng.hi,
            u,
        )
        return value
    raise error(
        f"{name} = {value:g}{u} is outside the plausible range [{rng.lo:g}, {rng.hi:g}]{u} "
        f"({rng.why}); {rng.mistake} If the value is meant, pass "
        f"allow_implausible=['{key}'] (CLI: --allow-implausible {key})"
    )
