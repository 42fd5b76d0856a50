"""PyPSA adapter: add an AI facility's PCC load to any :class:`pypsa.Network`.

A facility profile leaves gridlink as a ``pandas.Series`` with a tz-aware UTC
``DatetimeIndex`` and a declared unit (see :mod:`gridlink.units`).  PyPSA works on
*naive* snapshots (``Network.set_snapshots`` rejects tz-aware ones), and each
snapshot stands for ``n.snapshot_weightings["generators"]`` hours: the energy PyPSA
books for a load is ``sum(p_set * weighting)`` (that is what
``n.statistics.energy_balance`` and the optimisation use).  This module makes the
conversion between the two explicit:

1. **Units.**  The profile is converted to MW with
   :func:`gridlink.units.series_to_magnitude` (kW and W are converted; a unit of the
   wrong dimension, e.g. W/m^2, raises :class:`gridlink.units.UnitError`).
2. **Time zones.**  A naive profile index is refused unless its zone is declared
   with ``profile_tz=``.  The network's naive snapshots are taken as UTC (PyPSA and
   PyPSA-Eur convention) unless ``snapshot_tz=`` says otherwise; they are localised
   in that zone and converted to UTC before lookup.  The network itself is never
   changed to tz-aware snapshots.
3. **Energy-preserving resampling.**  Snapshot ``i`` stands for the period
   ``[s_i, s_i + w_i)`` with ``w_i`` its generator weighting in hours.  Its
   ``p_set`` is the profile's mean power over that period, computed exactly from
   the cumulative energy of the profile (each profile sample holds its value over
   its own sampling interval, the convention of
   :func:`gridlink.resample.resample_energy`, of which this is the generalisation
   to irregular periods such as time-segmented snapshots).
   Hence ``sum_i p_set_i * w_i`` equals the profile's energy over the covered
   periods, for hourly, 2-hourly, irregular (segmented) snapshots and for
   snapshots finer than the profile alike.
4. **Coverage.**  A period that the profile does not cover completely, or that
   touches a NaN sample, raises :class:`PyPSAAdapterError` naming the first such
   snapshot: nothing is filled, clipped or extrapolated (the failure PyPSA-Eur
   issue #2187 describes, demand silently lost to NaN, cannot happen here).

The consumer sign convention is PyPSA's: a positive ``p_set`` withdraws power from
the bus.

Examples
--------
>>> import pandas as pd, pypsa
>>> from gridlink.grid.pypsa import add_facility_load
>>> from gridlink.units import series_with_unit
>>> n = pypsa.Network()
>>> n.set_snapshots(pd.date_range("2025-01-01", periods=3, freq="h"))
>>> _ = n.add("Bus", "b")
>>> idx = pd.date_range("2025-01-01", periods=12, freq="15min", tz="UTC")
>>> profile = series_with_unit(pd.Series(40.0, index=idx), "MW")
>>> add_facility_load(n, profile, bus="b").iloc[:, 0].tolist()
[40.0, 40.0, 40.0]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gridlink.units import check_facility_mw, series_to_magnitude
from traces.outputs import atomic_path

if TYPE_CHECKING:  # pypsa is heavy; imported by callers that pass a Network
    import pypsa

__all__ = [
    "FACILITY_CARRIER",
    "PyPSAAdapterError",
    "add_facility_load",
    "profile_on_snapshots",
    "snapshot_periods_utc",
    "export_load_csv",
    "export_network_netcdf",
]

logger = logging.getLogger(__name__)

#: Carrier given to every load this module adds (and created on the network if
#: absent), so that :func:`export_load_csv` and statistics can find them.
FACILITY_CARRIER = "ai_facility"

_NS_PER_HOUR = 3_600_000_000_000


class PyPSAAdapterError(ValueError):
    """A profile or network cannot be combined without guessing (misaligned, NaN, tz)."""


# --------------------------------------------------------------------------- helpers
def _profile_utc_mw(profile: pd.Series, *, name: str, profile_tz: str | None) -> pd.Series:
    """Return the profile in MW on a tz-aware UTC index (checks unit, index, tz)."""
    p = series_to_magnitude(profile, "MW", name=name)
    if not isinstance(p.index, pd.DatetimeIndex):
        raise PyPSAAdapterError(
            f"{name}: the index must be a pandas DatetimeIndex, got {type(p.index).__name__}"
        )
    if p.index.tz is None:
        if profile_tz is None:
            raise PyPSAAdapterError(
                f"{name}: the index is time-zone naive and no zone was declared; pass "
                "profile_tz='UTC' (or the zone the timestamps are in), or localise it with "
                "series.tz_localize(...)"
            )
        try:
            p.index = p.index.tz_localize(profile_tz, ambiguous="raise", nonexistent="raise")
        except Exception as exc:  # pandas raises several types for DST problems
            raise PyPSAAdapterError(
                f"{name}: cannot localise the naive index to profile_tz={profile_tz!r}: {exc}"
            ) from exc
    elif profile_tz is not None and str(p.index.tz) != str(profile_tz):
        raise PyPSAAdapterError(
            f"{name}: the index is already tz-aware ({p.index.tz}) but profile_tz={profile_tz!r} "
            "was also given; drop profile_tz"
        )
    p.index = p.index.tz_convert("UTC")
    if len(p) == 0:
        raise PyPSAAdapterError(f"{name}: the profile is empty")
    if not p.index.is_monotonic_increasing or p.index.has_duplicates:
        raise PyPSAAdapterError(
            f"{name}: the index must be strictly increasing (sort it and drop duplicates)"
        )
    return p


def _sample_interval_ns(index: pd.DatetimeIndex, *, name: str) -> int:
    """Length of one profile sample [ns]; the index must be regular."""
    if len(index) >= 2:
        steps = np.diff(index.asi8)
        if not np.all(steps == steps[0]):
            raise PyPSAAdapterError(
                f"{name}: the index is not regular (steps from {steps.min()} ns to "
                f"{steps.max()} ns); bring it to one step with "
                "gridlink.resample.resample_energy(series, freq) first"
            )
        return int(steps[0])
    if index.freq is not None:
        return int(pd.Timedelta(index.freq).value)
    raise PyPSAAdapterError(
        f"{name}: a single sample has no sampling interval; give the index a freq "
        "(e.g. pd.date_range(..., freq='1h'))"
    )


def snapshot_periods_utc(
    n: pypsa.Network, *, snapshot_tz: str = "UTC"
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """The UTC period each snapshot of ``n`` stands for.

    Parameters
    ----------
    n : pypsa.Network
        Network with a naive ``DatetimeIndex`` of snapshots (single period; networks
        with investment periods are refused).
    snapshot_tz : str, default "UTC"
        Zone the naive snapshots are written in.  PyPSA and PyPSA-Eur use UTC.

    Returns
    -------
    starts : pandas.DatetimeIndex, shape (S,)
        Period starts, tz-aware UTC, in snapshot order.
    hours : numpy.ndarray, shape (S,)
        Period lengths [h] = ``n.snapshot_weightings["generators"]``.

    Raises
    ------
    PyPSAAdapterError
        Snapshots not datetimes, tz-aware, multi-period, not increasing, a
        non-positive weighting, overlapping periods (weighting longer than the gap
        to the next snapshot, e.g. representative days), holes (weighting shorter
        than the gap: 2-hourly snapshots with PyPSA's default weighting 1 would book
        half the energy), ``objective`` weightings that differ from ``generators``,
        or a snapshot that does not exist / is ambiguous in ``snapshot_tz``.
    """
    snaps = n.snapshots
    if isinstance(snaps, pd.MultiIndex):
        raise PyPSAAdapterError(
            "n.snapshots: networks with investment periods are not supported; add the "
            "facility to a single-period network"
        )
    if not isinstance(snaps, pd.DatetimeIndex):
        raise PyPSAAdapterError(
            "n.snapshots: expected a DatetimeIndex, got "
            f"{type(snaps).__name__} {list(snaps[:3])}; call n.set_snapshots(pd.date_range(...))"
        )
    if snaps.tz is not None:
        raise PyPSAAdapterError(
            "n.snapshots: tz-aware snapshots found; PyPSA expects naive (UTC) snapshots"
        )
    if len(snaps) == 0:
        raise PyPSAAdapterError("n.snapshots: the network has no snapshots")
    if not snaps.is_monotonic_increasing or snaps.has_duplicates:
        raise PyPSAAdapterError("n.snapshots: snapshots must be strictly increasing")
    try:
        starts = snaps.tz_localize(snapshot_tz, ambiguous="raise", nonexistent="raise")
    except Exception as exc:
        raise PyPSAAdapterError(
            f"snapshot_tz={snapshot_tz!r}: cannot read the naive snapshots in this zone: {exc}"
        ) from exc
    starts = starts.tz_convert("UTC")
    hours = n.snapshot_weightings["generators"].to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~(hours > 0))
    if bad.size:
        raise PyPSAAdapterError(
            f"n.snapshot_weightings['generators']: weighting {hours[bad[0]]} at snapshot "
            f"{snaps[bad[0]]} is not positive; each snapshot must stand for a positive duration [h]"
        )
    objective = n.snapshot_weightings["objective"].to_numpy(dtype=np.float64)
    differ = np.flatnonzero(~np.isclose(objective, hours, rtol=1e-9, atol=0.0))
    if differ.size:
        i = int(differ[0])
        raise PyPSAAdapterError(
            f"n.snapshot_weightings: 'objective' ({objective[i]} h) and 'generators' "
            f"({hours[i]} h) differ at snapshot {snaps[i]} ({differ.size} snapshot(s)); the "
            "facility's energy would be costed over another duration than it is booked. "
            "Set both columns to the snapshot's duration [h]"
        )
    ends = starts.asi8 + np.round(hours * _NS_PER_HOUR).astype(np.int64)
    holes = np.flatnonzero(ends[:-1] < starts.asi8[1:])
    if holes.size:
        i = int(holes[0])
        gap_h = (starts.asi8[i + 1] - starts.asi8[i]) / _NS_PER_HOUR
        raise PyPSAAdapterError(
            f"n.snapshot_weightings['generators']: snapshot {snaps[i]} stands for {hours[i]} h "
            f"but the next snapshot is {gap_h:g} h later ({holes.size} snapshot(s) leave such "
            "holes); the facility's energy in the holes would not be booked. Set the "
            f"weightings to the snapshot spacing, e.g. n.snapshot_weightings.loc[:, :] = {gap_h:g}"
        )
    overlap = np.flatnonzero(ends[:-1] > starts.asi8[1:])
    if overlap.size:
        i = int(overlap[0])
        raise PyPSAAdapterError(
            f"n.snapshot_weightings['generators']: snapshot {snaps[i]} stands for "
            f"{hours[i]} h, which overlaps the next snapshot {snaps[i + 1]}; representative-"
            "period weightings are not a duration, so aggregate the profile yourself and pass "
            "it on the snapshots (p_set) directly"
        )
    return starts, hours


def profile_on_snapshots(
    profile: pd.Series,
    n: pypsa.Network,
    *,
    profile_tz: str | None = None,
    snapshot_tz: str = "UTC",
    name: str = "profile",
) -> pd.Series:
    """Mean power of ``profile`` over the period each snapshot of ``n`` stands for.

    Parameters
    ----------
    profile : pandas.Series, shape (T,)
        Facility power on a regular ``DatetimeIndex`` with a declared unit
        (``attrs["unit"]`` or a ``_mw``/``_kw``/``_w`` name).  Each sample is the
        mean power over ``[t_k, t_k + dt)``.
    n : pypsa.Network
        Target network (not modified).
    profile_tz : str, optional
        Zone of a naive profile index; required if and only if the index is naive.
    snapshot_tz : str, default "UTC"
        Zone the network's naive snapshots are written in.
    name : str
        Argument name used in error messages.

    Returns
    -------
    pandas.Series, shape (S,)
        ``p_set`` [MW] indexed by ``n.snapshots`` (naive, as the network has them),
        ``attrs["unit"] == "MW"``.  ``(p_set * n.snapshot_weightings.generators).sum()``
        equals the profile's energy [MWh] over the snapshot periods.

    Raises
    ------
    gridlink.units.UnitError
        No unit declared, or not a power.
    PyPSAAdapterError
        Naive index without ``profile_tz``; irregular profile index; a snapshot
        period not fully covered by the profile or touching a NaN sample (the
        message names the first such snapshot); see also :func:`snapshot_periods_utc`.
    """
    p = _profile_utc_mw(profile, name=name, profile_tz=profile_tz)
    dt_ns = _sample_interval_ns(p.index, name=name)
    starts, hours = snapshot_periods_utc(n, snapshot_tz=snapshot_tz)

    t0 = int(p.index.asi8[0])
    n_samples = len(p)
    a = (starts.asi8 - t0) / dt_ns  # period start, in samples
    b = a + hours * (_NS_PER_HOUR / dt_ns)  # period end, in samples

    values = p.to_numpy(dtype=np.float64)
    is_nan = np.isnan(values)
    outside = (a < 0) | (b > n_samples * (1 + 1e-12))
    # samples overlapping [a, b): floor(a) .. ceil(b) - 1
    k_lo = np.clip(np.floor(a), 0, n_samples).astype(np.int64)
    k_hi = np.clip(np.ceil(b - 1e-9), 0, n_samples).astype(np.int64)
    nan_count = np.concatenate([[0], np.cumsum(is_nan)])
    touches_nan = (nan_count[k_hi] - nan_count[k_lo]) > 0
    missing = outside | touches_nan
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        covered = f"{p.index[0]} to {p.index[-1] + pd.Timedelta(dt_ns, 'ns')}"
        reason = (
            f"not covered by the profile, which spans {covered}"
            if outside[i]
            else "covering NaN samples"
        )
        raise PyPSAAdapterError(
            f"{name}: snapshot {n.snapshots[i]} (UTC {starts[i]}, {hours[i]} h) is {reason}; "
            f"{int(missing.sum())} of {len(missing)} snapshots affected. Supply a profile "
            "that covers every snapshot without NaN (nothing is filled or extrapolated)"
        )

    # exact cumulative energy in MW * samples at sample boundaries, then linear inside
    safe = np.where(is_nan, 0.0, values)
    cum = np.concatenate([[0.0], np.cumsum(safe)])
    padded = np.concatenate([safe, [0.0]])

    def energy_at(x: np.ndarray) -> np.ndarray:
        x = np.clip(x, 0.0, float(n_samples))
        k = np.floor(x).astype(np.int64)
        return cum[k] + padded[k] * (x - k)

    energy_samples = energy_at(b) - energy_at(a)  # MW * samples
    p_set = energy_samples * (dt_ns / _NS_PER_HOUR) / hours  # MW
    out = pd.Series(p_set, index=n.snapshots, name=name)
    out.attrs["unit"] = "MW"
    return out


def _check_bus(n: pypsa.Network, bus: str) -> None:
    if bus not in n.buses.index:
        raise PyPSAAdapterError(
            f"bus={bus!r} is not a bus of the network (buses: {list(n.buses.index[:10])}"
            f"{' ...' if len(n.buses) > 10 else ''}); add it with n.add('Bus', {bus!r})"
        )


# --------------------------------------------------------------------------- public API
def add_facility_load(
    n: pypsa.Network,
    profile: pd.Series | Mapping[str, pd.Series],
    *,
    bus: str | None = None,
    name: str = "ai_facility",
    profile_tz: str | None = None,
    snapshot_tz: str = "UTC",
    carrier: str = FACILITY_CARRIER,
    allow_implausible: Sequence[str] = (),
) -> pd.DataFrame:
    """Add an AI facility (or several) to ``n`` as ``Load`` components with ``p_set``.

    Parameters
    ----------
    n : pypsa.Network
        Network with naive ``DatetimeIndex`` snapshots (taken as UTC unless
        ``snapshot_tz`` says otherwise).  Modified in place: one ``Load`` per
        facility, and the carrier ``carrier`` if the network lacks it.
    profile : pandas.Series or Mapping[str, pandas.Series]
        PCC power of the facility, shape (T,), on a regular ``DatetimeIndex`` with a
        declared unit (MW, kW, W, ...; e.g. ``FacilityResult.pcc_mw``).  A mapping
        ``{bus: profile}`` adds one facility per bus (then ``bus`` must be None).
    bus : str, optional
        Bus to connect a single profile to.  Required for a Series.
    name : str, default "ai_facility"
        Load name.  With a mapping, each load is named ``f"{name} {bus}"``.
    profile_tz : str, optional
        Zone of a naive profile index (a naive index without it raises).
    snapshot_tz : str, default "UTC"
        Zone the network's naive snapshots are written in.
    carrier : str, default :data:`FACILITY_CARRIER`
        Carrier of the added loads.
    allow_implausible : sequence of str, default ()
        ``["facility_p_mw"]`` accepts a facility peak above 10 GW (the plausible range
        :data:`traces.fields.PLAUSIBLE`; above it the profile is most likely kW or W
        labelled MW, and is refused).

    Returns
    -------
    pandas.DataFrame, shape (S, F)
        The ``p_set`` [MW] written to ``n.loads_t.p_set`` for the F added loads,
        indexed by ``n.snapshots``.

    Raises
    ------
    gridlink.units.UnitError
        A profile without a unit or with a unit that is not a power.
    PyPSAAdapterError
        Unknown bus, a load of that name already exists, or any condition of
        :func:`profile_on_snapshots` (misaligned, NaN, naive index without zone).

    Notes
    -----
    The conversion is stated in the module docstring: MW, UTC, mean power over
    each snapshot's period ``[s_i, s_i + w_i)`` with ``w_i`` the generator weighting
    in hours, so that ``sum(p_set * w)`` is the profile energy over those periods.
    All profiles are checked before the network is touched.
    """
    if isinstance(profile, Mapping):
        if bus is not None:
            raise PyPSAAdapterError(
                "bus: give either bus= with a single Series, or a {bus: profile} mapping, not both"
            )
        if not profile:
            raise PyPSAAdapterError("profile: the mapping {bus: profile} is empty")
        items = [(str(b), f"{name} {b}", prof) for b, prof in profile.items()]
    else:
        if bus is None:
            raise PyPSAAdapterError(
                "bus: required with a single profile (or pass a {bus: profile} mapping)"
            )
        items = [(bus, name, profile)]

    columns: dict[str, pd.Series] = {}
    for b, load_name, prof in items:
        _check_bus(n, b)
        if load_name in n.loads.index or load_name in columns:
            raise PyPSAAdapterError(
                f"name: a load named {load_name!r} already exists; choose another name= "
                f"or remove it with n.remove('Load', {load_name!r})"
            )
        columns[load_name] = profile_on_snapshots(
            prof,
            n,
            profile_tz=profile_tz,
            snapshot_tz=snapshot_tz,
            name=f"profile[{b!r}]" if len(items) > 1 else "profile",
        )
        check_facility_mw(
            columns[load_name],
            f"profile[{b!r}]" if len(items) > 1 else "profile",
            allow=allow_implausible,
            error=PyPSAAdapterError,
        )

    if carrier not in n.carriers.index:
        n.add("Carrier", carrier)
    for (b, load_name, _), p_set in zip(items, columns.values(), strict=True):
        n.add("Load", load_name, bus=b, carrier=carrier, p_set=p_set.rename(None))
        weights = n.snapshot_weightings["generators"]
        logger.info(
            "added load %r at bus %r: mean %.3f MW, peak %.3f MW, energy %.3f MWh over %d snapshots",
            load_name,
            b,
            float(p_set.mean()),
            float(p_set.max()),
            float((p_set * weights).sum()),
            len(p_set),
        )
    out = pd.DataFrame(columns)
    out.attrs["unit"] = "MW"
    return out


def export_load_csv(
    profile_or_n: pd.Series | pypsa.Network,
    path: str | Path,
    *,
    loads: Sequence[str] | None = None,
    name: str = "ai_facility",
    profile_tz: str | None = None,
) -> Path:
    """Write facility load as a CSV that PyPSA pipelines read (``snapshot`` index, MW).

    The layout is that of PyPSA's CSV folder format (``loads-p_set.csv``) and of
    PyPSA-Eur's load inputs: first column ``snapshot`` with naive UTC timestamps
    (ISO 8601), one column per load with power in MW.

    Parameters
    ----------
    profile_or_n : pandas.Series or pypsa.Network
        A profile with a declared power unit (converted to MW, index converted to
        naive UTC; no resampling), or a network whose facility loads are written
        from ``n.loads_t.p_set`` (already MW, on its snapshots).
    path : str or pathlib.Path
        Output file; parent folders are created.
    loads : sequence of str, optional
        Network only: load names to write.  Default: every load with carrier
        :data:`FACILITY_CARRIER`.
    name : str, default "ai_facility"
        Series only: column name.
    profile_tz : str, optional
        Series only: zone of a naive index (a naive index without it raises).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    PyPSAAdapterError
        A network without facility loads, or an unknown load name.
    gridlink.units.UnitError
        A Series without a power unit.
    """
    path = Path(path)
    if isinstance(profile_or_n, pd.Series):
        p = _profile_utc_mw(profile_or_n, name="profile", profile_tz=profile_tz)
        frame = pd.DataFrame({name: p.to_numpy()}, index=p.index.tz_localize(None))
    else:
        n = profile_or_n
        if loads is None:
            selected = n.loads.index[n.loads["carrier"] == FACILITY_CARRIER]
            if len(selected) == 0:
                raise PyPSAAdapterError(
                    f"profile_or_n: the network has no load with carrier {FACILITY_CARRIER!r}; "
                    "add one with add_facility_load or name them with loads=[...]"
                )
        else:
            selected = pd.Index(list(loads))
            unknown = selected.difference(n.loads.index)
            if len(unknown):
                raise PyPSAAdapterError(f"loads: not loads of the network: {list(unknown)}")
        frame = n.get_switchable_as_dense("Load", "p_set")[selected]
    frame.index.name = "snapshot"
    frame.columns.name = None
    with atomic_path(path) as tmp:  # a reader sees the old file or the whole new one
        frame.to_csv(tmp, date_format="%Y-%m-%dT%H:%M:%S")
    logger.info("wrote %d snapshots x %d loads [MW] to %s", len(frame), frame.shape[1], path)
    return path


def export_network_netcdf(n: pypsa.Network, path: str | Path) -> Path:
    """Write the whole network with ``n.export_to_netcdf`` (needs the ``netCDF4`` package).

    Parameters
    ----------
    n : pypsa.Network
        Network, e.g. after :func:`add_facility_load` (and optionally solved).
    path : str or pathlib.Path
        Output ``.nc`` file; parent folders are created.

    Returns
    -------
    pathlib.Path
        The written file; read back with ``pypsa.Network(path)``.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        n.export_to_netcdf(tmp)
    logger.info("wrote network to %s", path)
    return path
