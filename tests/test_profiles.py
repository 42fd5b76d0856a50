"""The one PCC-profile file reader shared by `gridlink feeder` and `gridlink expansion`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridlink.grid.feeder import FeederError, read_profile_q
from gridlink.grid.feeder import read_profile as feeder_read_profile
from gridlink.profiles import ProfileFileError, read_profile

IDX = pd.date_range("2025-01-01", periods=4, freq="15min", tz="Europe/Berlin")


def test_parquet_p_mw_with_q(tmp_path) -> None:
    path = tmp_path / "pcc.parquet"
    pd.DataFrame(
        {"p_mw": [1.0, 2.0, 3.0, 4.0], "q_mvar": [0.1, 0.2, 0.3, 0.4]}, index=IDX
    ).to_parquet(path)
    p = read_profile(path)
    assert p.name == "p_mw" and p.attrs["unit"] == "MW"
    assert str(p.index.tz) == "UTC" and p.index[0] == pd.Timestamp("2024-12-31 23:00", tz="UTC")
    np.testing.assert_array_equal(p.to_numpy(), [1.0, 2.0, 3.0, 4.0])
    q = read_profile_q(path)
    assert q is not None and q.attrs["unit"] == "Mvar"
    np.testing.assert_array_equal(q.to_numpy(), [0.1, 0.2, 0.3, 0.4])


def test_csv_kw_column_converted_to_mw(tmp_path) -> None:
    path = tmp_path / "pcc.csv"
    pd.DataFrame({"site_kw": [500.0, 1500.0, 0.0, 250.0]}, index=IDX.tz_convert("UTC")).to_csv(path)
    np.testing.assert_allclose(read_profile(path).to_numpy(), [0.5, 1.5, 0.0, 0.25])


def test_bad_files_raise_named_errors(tmp_path) -> None:
    naive = tmp_path / "naive.parquet"
    pd.DataFrame({"p_mw": [1.0] * 4}, index=IDX.tz_localize(None)).to_parquet(naive)
    with pytest.raises(ProfileFileError, match="naive"):
        read_profile(naive)
    with pytest.raises(FeederError, match="naive"):  # the feeder keeps its own error type
        feeder_read_profile(naive)
    unitless = tmp_path / "unitless.parquet"
    pd.DataFrame({"power": [1.0] * 4}, index=IDX).to_parquet(unitless)
    with pytest.raises(ProfileFileError, match="p_mw"):
        read_profile(unitless)
    with pytest.raises(ProfileFileError, match=".parquet or .csv"):
        read_profile(tmp_path / "pcc.xlsx")
