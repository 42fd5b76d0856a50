"""PyPSA adapter: loads equal the profile on the snapshots, energy under weightings, errors.

Expected values come from pandas (``resample().mean()``, explicit sums), never from the
adapter itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pypsa
import pytest

from gridlink.grid.pypsa import (
    FACILITY_CARRIER,
    PyPSAAdapterError,
    add_facility_load,
    export_load_csv,
    export_network_netcdf,
    profile_on_snapshots,
)
from gridlink.units import UnitError, series_with_unit


def _network(snapshots: pd.DatetimeIndex, buses: tuple[str, ...] = ("b",)) -> pypsa.Network:
    n = pypsa.Network()
    n.set_snapshots(snapshots)
    for b in buses:
        n.add("Bus", b)
    return n


def _profile(
    start: str, periods: int, freq: str, *, seed: int = 0, unit: str = "MW", tz: str | None = "UTC"
) -> pd.Series:
    rng = np.random.default_rng(seed)
    idx = pd.date_range(start, periods=periods, freq=freq, tz=tz)
    return series_with_unit(pd.Series(30.0 + 10.0 * rng.random(periods), index=idx), unit)


def test_hourly_network_gets_hourly_means_of_a_15min_profile() -> None:
    snaps = pd.date_range("2025-03-01", periods=24, freq="h")
    n = _network(snaps)
    prof = _profile("2025-03-01", 96, "15min")
    added = add_facility_load(n, prof, bus="b")
    expected = prof.resample("1h").mean().to_numpy()
    np.testing.assert_allclose(n.loads_t.p_set["ai_facility"].to_numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(added["ai_facility"].to_numpy(), expected, rtol=1e-12)
    assert n.loads.at["ai_facility", "bus"] == "b"
    assert n.loads.at["ai_facility", "carrier"] == FACILITY_CARRIER
    assert FACILITY_CARRIER in n.carriers.index


def test_profile_in_another_zone_is_converted_to_utc_snapshots() -> None:
    # 2025-03-01 01:00 in Berlin (UTC+1) is 00:00 UTC: the first snapshot.
    prof_utc = _profile("2025-03-01 00:00", 48, "1h", seed=3)
    prof_berlin = prof_utc.copy()
    prof_berlin.index = prof_utc.index.tz_convert("Europe/Berlin")
    n = _network(pd.date_range("2025-03-01 00:00", periods=48, freq="h"))
    add_facility_load(n, prof_berlin, bus="b")
    np.testing.assert_allclose(n.loads_t.p_set["ai_facility"].to_numpy(), prof_utc.to_numpy())


def test_kw_profile_is_converted_to_mw() -> None:
    n = _network(pd.date_range("2025-01-01", periods=4, freq="h"))
    prof = series_with_unit(
        pd.Series(
            [1000.0, 2500.0, 0.0, 40000.0],
            index=pd.date_range("2025-01-01", periods=4, freq="h", tz="UTC"),
        ),
        "kW",
    )
    add_facility_load(n, prof, bus="b")
    np.testing.assert_allclose(n.loads_t.p_set["ai_facility"].to_numpy(), [1.0, 2.5, 0.0, 40.0])


def test_two_hourly_weightings_preserve_energy() -> None:
    snaps = pd.date_range("2025-01-01", periods=12, freq="2h")
    n = _network(snaps)
    n.snapshot_weightings.loc[:, :] = 2.0
    prof = _profile("2025-01-01", 24 * 60, "1min", seed=5)
    add_facility_load(n, prof, bus="b")
    p_set = n.loads_t.p_set["ai_facility"]
    energy_network = float((p_set * n.snapshot_weightings["generators"]).sum())
    energy_profile = float(prof.sum() / 60.0)  # MW * (1/60 h)
    assert energy_network == pytest.approx(energy_profile, rel=1e-12)
    np.testing.assert_allclose(p_set.to_numpy(), prof.resample("2h").mean().to_numpy(), rtol=1e-12)


def test_segmented_irregular_snapshots_take_their_weighting_as_duration() -> None:
    # segments of 3 h, 1 h, 6 h, 2 h starting at 00:00 (PyPSA-Eur time segmentation style)
    starts = pd.DatetimeIndex(
        ["2025-01-01 00:00", "2025-01-01 03:00", "2025-01-01 04:00", "2025-01-01 10:00"]
    )
    hours = np.array([3.0, 1.0, 6.0, 2.0])
    n = _network(starts)
    n.snapshot_weightings.loc[:, :] = hours[:, None]
    prof = _profile("2025-01-01", 12 * 4, "15min", seed=7)
    add_facility_load(n, prof, bus="b")
    values = prof.to_numpy()
    edges = np.concatenate([[0], np.cumsum(hours * 4)]).astype(int)
    expected = [values[edges[i] : edges[i + 1]].mean() for i in range(4)]
    np.testing.assert_allclose(n.loads_t.p_set["ai_facility"].to_numpy(), expected, rtol=1e-12)
    energy = float((n.loads_t.p_set["ai_facility"] * hours).sum())
    assert energy == pytest.approx(values.sum() * 0.25, rel=1e-12)


def test_snapshots_finer_than_profile_hold_the_sample_and_offsets_split_samples() -> None:
    prof = series_with_unit(
        pd.Series(
            [10.0, 20.0, 40.0], index=pd.date_range("2025-01-01", periods=3, freq="h", tz="UTC")
        ),
        "MW",
    )
    fine = _network(pd.date_range("2025-01-01", periods=12, freq="15min"))
    fine.snapshot_weightings.loc[:, :] = 0.25
    add_facility_load(fine, prof, bus="b")
    np.testing.assert_allclose(
        fine.loads_t.p_set["ai_facility"].to_numpy(), np.repeat([10.0, 20.0, 40.0], 4)
    )
    # hourly snapshots offset by 30 min: each straddles two profile hours
    offset = _network(pd.date_range("2025-01-01 00:30", periods=2, freq="h"))
    add_facility_load(offset, prof, bus="b")
    np.testing.assert_allclose(offset.loads_t.p_set["ai_facility"].to_numpy(), [15.0, 30.0])


def test_gappy_weightings_are_refused_and_spacing_weightings_book_all_energy() -> None:
    # issue 13 (root cause 7): 2-hourly snapshots with PyPSA's default weighting 1 would
    # book only the first hour of every two; that is refused, naming the weighting
    n = _network(pd.date_range("2025-01-01", periods=3, freq="2h"))
    prof = series_with_unit(
        pd.Series(
            np.arange(6, dtype=float),
            index=pd.date_range("2025-01-01", periods=6, freq="h", tz="UTC"),
        ),
        "MW",
    )
    with pytest.raises(PyPSAAdapterError, match=r"snapshot_weightings.*1\.0 h.*2 h later"):
        add_facility_load(n, prof, bus="b")
    assert "ai_facility" not in n.loads.index
    n.snapshot_weightings.loc[:, :] = 2.0
    add_facility_load(n, prof, bus="b")
    # hand calculation: means of (0, 1), (2, 3), (4, 5)
    np.testing.assert_allclose(n.loads_t.p_set["ai_facility"].to_numpy(), [0.5, 2.5, 4.5])


def test_profile_that_ends_early_names_the_first_missing_snapshot() -> None:
    n = _network(pd.date_range("2025-01-01", periods=24, freq="h"))
    prof = _profile("2025-01-01", 20 * 4, "15min")  # ends at 20:00
    with pytest.raises(PyPSAAdapterError, match=r"snapshot 2025-01-01 20:00:00 .*not covered"):
        add_facility_load(n, prof, bus="b")
    assert "ai_facility" not in n.loads.index  # nothing added on failure


def test_profile_that_starts_late_names_the_first_snapshot() -> None:
    n = _network(pd.date_range("2025-01-01", periods=24, freq="h"))
    prof = _profile("2025-01-01 00:15", 96, "15min")
    with pytest.raises(PyPSAAdapterError, match=r"snapshot 2025-01-01 00:00:00 "):
        add_facility_load(n, prof, bus="b")


def test_nan_in_profile_names_its_snapshot() -> None:
    n = _network(pd.date_range("2025-01-01", periods=24, freq="h"))
    prof = _profile("2025-01-01", 96, "15min")
    prof.iloc[4 * 7 + 2] = np.nan  # inside 07:00-08:00
    with pytest.raises(PyPSAAdapterError, match=r"snapshot 2025-01-01 07:00:00 .*NaN"):
        add_facility_load(n, prof, bus="b")


def test_naive_profile_needs_a_declared_zone() -> None:
    n = _network(pd.date_range("2025-01-01", periods=4, freq="h"))
    prof = _profile("2025-01-01", 4, "h", tz=None)
    with pytest.raises(PyPSAAdapterError, match="profile_tz"):
        add_facility_load(n, prof, bus="b")
    add_facility_load(n, prof, bus="b", profile_tz="UTC")
    np.testing.assert_allclose(n.loads_t.p_set["ai_facility"].to_numpy(), prof.to_numpy())


def test_wrong_or_missing_unit_is_refused() -> None:
    n = _network(pd.date_range("2025-01-01", periods=4, freq="h"))
    with pytest.raises(UnitError, match="profile"):
        add_facility_load(n, _profile("2025-01-01", 4, "h", unit="W/m^2"), bus="b")
    bare = pd.Series(1.0, index=pd.date_range("2025-01-01", periods=4, freq="h", tz="UTC"))
    with pytest.raises(UnitError, match="declares no unit"):
        add_facility_load(n, bare, bus="b")


def test_naive_snapshots_in_a_declared_local_zone() -> None:
    # snapshots written in New York local time (UTC-5 in January)
    n = _network(pd.date_range("2025-01-01 00:00", periods=3, freq="h"))
    prof = series_with_unit(
        pd.Series(
            np.arange(12, dtype=float),
            index=pd.date_range("2025-01-01 00:00", periods=12, freq="h", tz="UTC"),
        ),
        "MW",
    )
    add_facility_load(n, prof, bus="b", snapshot_tz="America/New_York")
    np.testing.assert_allclose(n.loads_t.p_set["ai_facility"].to_numpy(), [5.0, 6.0, 7.0])


def test_several_facilities_at_several_buses() -> None:
    n = _network(pd.date_range("2025-01-01", periods=6, freq="h"), buses=("north", "south"))
    p1 = _profile("2025-01-01", 6, "h", seed=1)
    p2 = _profile("2025-01-01", 6, "h", seed=2, unit="kW")
    out = add_facility_load(n, {"north": p1, "south": p2})
    assert list(out.columns) == ["ai_facility north", "ai_facility south"]
    assert n.loads.loc["ai_facility south", "bus"] == "south"
    np.testing.assert_allclose(n.loads_t.p_set["ai_facility south"].to_numpy(), p2.to_numpy() / 1e3)
    add_facility_load(n, p1, bus="north", name="second site")
    assert (n.loads["carrier"] == FACILITY_CARRIER).sum() == 3


def test_bad_bus_duplicate_name_and_irregular_profile_raise() -> None:
    n = _network(pd.date_range("2025-01-01", periods=4, freq="h"))
    prof = _profile("2025-01-01", 4, "h")
    with pytest.raises(PyPSAAdapterError, match="bus='nope'"):
        add_facility_load(n, prof, bus="nope")
    add_facility_load(n, prof, bus="b")
    with pytest.raises(PyPSAAdapterError, match="already exists"):
        add_facility_load(n, prof, bus="b")
    irregular = prof.drop(prof.index[1])
    with pytest.raises(PyPSAAdapterError, match="not regular"):
        profile_on_snapshots(irregular, n)


def test_overlapping_representative_weightings_are_refused() -> None:
    n = _network(pd.date_range("2025-01-01", periods=4, freq="h"))
    n.snapshot_weightings.loc[:, :] = 30.0  # representative hours standing for a month
    with pytest.raises(PyPSAAdapterError, match="overlaps the next snapshot"):
        add_facility_load(n, _profile("2025-01-01", 200, "h"), bus="b")


def test_export_csv_and_netcdf_round_trip(tmp_path) -> None:
    snaps = pd.date_range("2025-01-01", periods=24, freq="h")
    n = _network(snaps)
    n.add("Load", "town", bus="b", p_set=5.0)
    prof = _profile("2025-01-01", 96, "15min", unit="kW", seed=11)
    add_facility_load(n, prof, bus="b")

    csv = export_load_csv(n, tmp_path / "loads-p_set.csv")
    back = pd.read_csv(csv, index_col="snapshot", parse_dates=True)
    assert list(back.columns) == ["ai_facility"]  # only facility loads by default
    np.testing.assert_allclose(
        back["ai_facility"].to_numpy(), prof.resample("1h").mean().to_numpy() / 1e3, rtol=1e-9
    )
    assert back.index.equals(snaps)

    csv2 = export_load_csv(prof, tmp_path / "profile.csv", name="site")
    back2 = pd.read_csv(csv2, index_col="snapshot", parse_dates=True)
    np.testing.assert_allclose(back2["site"].to_numpy(), prof.to_numpy() / 1e3)
    assert back2.index[0] == pd.Timestamp("2025-01-01 00:00")

    nc = export_network_netcdf(n, tmp_path / "net.nc")
    m = pypsa.Network(nc)
    np.testing.assert_allclose(
        m.loads_t.p_set["ai_facility"].to_numpy(), n.loads_t.p_set["ai_facility"].to_numpy()
    )
    assert m.loads.at["ai_facility", "carrier"] == FACILITY_CARRIER


def test_solved_network_serves_exactly_the_profile_energy() -> None:
    snaps = pd.date_range("2025-01-01", periods=12, freq="2h")
    n = _network(snaps)
    n.snapshot_weightings.loc[:, :] = 2.0
    n.add("Carrier", "gas")
    n.add(
        "Generator",
        "gas",
        bus="b",
        carrier="gas",
        p_nom_extendable=True,
        capital_cost=1.0,
        marginal_cost=10.0,
    )
    prof = _profile("2025-01-01", 24 * 4, "15min", seed=13)
    add_facility_load(n, prof, bus="b")
    status, condition = n.optimize(solver_name="highs", include_objective_constant=False)
    assert (status, condition) == ("ok", "optimal")
    served = float((n.generators_t.p["gas"] * n.snapshot_weightings["generators"]).sum())
    assert served == pytest.approx(prof.sum() * 0.25, rel=1e-6)


def test_regular_snapshots_agree_with_gridlink_resample_energy() -> None:
    # same step-function convention as gridlink.resample (interval-beginning labels)
    from gridlink.resample import resample_energy

    prof = _profile("2025-06-01", 6 * 3600 // 20, "20s", seed=17, unit="kW")
    n = _network(pd.date_range("2025-06-01", periods=6, freq="h"))
    add_facility_load(n, prof, bus="b")
    hourly = resample_energy(prof, "1h")
    np.testing.assert_allclose(
        n.loads_t.p_set["ai_facility"].to_numpy(), hourly.to_numpy() / 1e3, rtol=1e-12
    )
