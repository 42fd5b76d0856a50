"""The tidy summary table :func:`load_statistics`: every planner statistic of one or more
profiles, one row each, column names carrying their unit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import pint

from gridlink.stats.base import StatsError, _positive, as_profile, as_window, window_label
from gridlink.stats.coincidence import _align, _peak_positions
from gridlink.stats.levels import _above, _longest_run
from gridlink.stats.ramps import _ramp_changes
from gridlink.units import check_units, to_magnitude

logger = logging.getLogger(__name__)


def _row(
    profile: pd.Series,
    *,
    label: str,
    ramp_windows: Iterable[str | pd.Timedelta],
    threshold: pint.Quantity | None,
    system_load: pd.Series | None,
    units: dict[str, str],
) -> dict[str, float]:
    name = f"profile {label!r}"
    prof = as_profile(profile, name=name)
    p = prof.p_mw
    row: dict[str, float] = {}

    def put(col: str, value: float, unit: str) -> None:
        row[col] = value
        units[col] = unit

    pk = float(p.max())
    mean = float(p.mean())
    put("duration_h", p.size * prof.step_h, "h")
    put("step_s", prof.step.total_seconds(), "s")
    put("energy_mwh", float(p.sum()) * prof.step_h, "MWh")
    put("peak_mw", pk, "MW")
    put("mean_mw", mean, "MW")
    put("min_mw", float(p.min()), "MW")
    put("load_factor", mean / _positive(pk, "peak", name), "dimensionless")
    put("peak_to_average", pk / _positive(mean, "mean", name), "dimensionless")
    put("cv", float(p.std(ddof=0)) / mean, "dimensionless")
    put("max_step_mw", float(np.abs(np.diff(p)).max()), "MW")
    for window in ramp_windows:
        w = as_window(window, name="ramp_windows")
        lab = window_label(w)
        try:
            block = _ramp_changes(prof, w, "block")
            sliding = _ramp_changes(prof, w, "sliding")
        except StatsError as exc:
            raise StatsError(
                f"ramp_windows: {exc} (profile {label!r}); pass ramp_windows= suited to "
                f"its step {prof.step}"
            ) from exc
        unit = f"MW per {lab}"
        put(f"max_ramp_up_mw_per_{lab}", float(block.max()), unit)
        put(f"max_ramp_down_mw_per_{lab}", float(block.min()), unit)
        put(f"max_ramp_mw_per_{lab}", float(np.abs(block).max()), unit)
        p95, p99 = np.percentile(np.abs(block), [95.0, 99.0])
        put(f"p95_ramp_mw_per_{lab}", float(p95), unit)
        put(f"p99_ramp_mw_per_{lab}", float(p99), unit)
        put(f"max_sliding_ramp_up_mw_per_{lab}", float(sliding.max()), unit)
        put(f"max_sliding_ramp_down_mw_per_{lab}", float(sliding.min()), unit)
    if threshold is not None:
        above = _above(prof, threshold)
        put("threshold_mw", to_magnitude(threshold, "MW", name="threshold"), "MW")
        put("hours_above_threshold_h", float(np.count_nonzero(above)) * prof.step_h, "h")
        put("longest_run_above_threshold_h", _longest_run(above) * prof.step_h, "h")
    if system_load is not None:
        sysp = as_profile(system_load, name="system_load")
        fac, sysl = _align(prof, sysp)
        pos = _peak_positions(sysl, 1)
        put("contribution_to_system_peak_mw", float(fac[pos].mean()), "MW")
        put(
            "coincidence_factor",
            float(fac[pos].mean()) / _positive(float(fac.max()), "peak", name),
            "dimensionless",
        )
    return row


@check_units(threshold="MW", system_load="MW")
def load_statistics(
    profile: pd.Series | Mapping[str, pd.Series],
    *,
    ramp_windows: Iterable[str | pd.Timedelta] = ("1min", "15min"),
    threshold: pint.Quantity | None = None,
    system_load: pd.Series | None = None,
) -> pd.DataFrame:
    """Tidy table of planner statistics, one row per profile.

    Parameters
    ----------
    profile : pandas.Series or mapping of str to pandas.Series
        One power profile (row label: its name, or ``"profile"``) or several to
        compare, e.g. ``{"model": p_model, "tdp": p_tdp}`` (one row per key).
        Each with a declared power unit on a regular tz-aware index.
    ramp_windows : iterable of str or pandas.Timedelta, default ("1min", "15min")
        Ramp windows; each must be at least the profile step, a multiple of it,
        and the profile must cover at least 2 whole windows.
    threshold : pint.Quantity, optional
        Power threshold for the duration columns; omitted columns when None.
    system_load : pandas.Series, optional
        System load over the same period for the coincidence columns (see
        :func:`coincidence_factor`); omitted columns when None.

    Returns
    -------
    pandas.DataFrame, shape (n_profiles, n_columns)
        Index ``profile`` (names); float columns whose names end in their unit:

        - ``duration_h``, ``step_s``: span and step of the profile;
        - ``energy_mwh``; ``peak_mw``, ``mean_mw``, ``min_mw``;
        - ``load_factor`` (mean/peak), ``peak_to_average`` (peak/mean),
          ``cv`` (std/mean), dimensionless;
        - ``max_step_mw``: largest change between consecutive samples;
        - per window ``w`` (label ``1min``, ``15min``, ...), block ramps (change
          of the mean power between consecutive windows, MW per ``w``):
          ``max_ramp_up_mw_per_<w>``, ``max_ramp_down_mw_per_<w>`` (signed,
          negative = decrease), ``max_ramp_mw_per_<w>`` (absolute),
          ``p95_ramp_mw_per_<w>``, ``p99_ramp_mw_per_<w>`` (of absolute changes);
          sliding ramps ``p(t+w) - p(t)``: ``max_sliding_ramp_up_mw_per_<w>``,
          ``max_sliding_ramp_down_mw_per_<w>``;
        - with ``threshold``: ``threshold_mw``, ``hours_above_threshold_h``,
          ``longest_run_above_threshold_h``;
        - with ``system_load``: ``contribution_to_system_peak_mw``,
          ``coincidence_factor`` (single system peak interval).

        ``df.attrs["units"]`` maps each column to its unit (a pint unit string;
        ``"MW per <w>"`` for ramp columns).

    Raises
    ------
    gridlink.units.UnitError
        If a profile or ``system_load`` declares no/non-power unit, or
        ``threshold`` is not a power quantity.
    StatsError
        As the single statistics, naming the offending profile; also for an
        empty mapping.

    Examples
    --------
    >>> import pandas as pd
    >>> from gridlink.units import Q_, series_with_unit
    >>> idx = pd.date_range("2026-01-01", periods=4, freq="15min", tz="UTC")
    >>> p = series_with_unit(pd.Series([10.0, 20.0, 30.0, 20.0], index=idx), "MW")
    >>> df = load_statistics(p, ramp_windows=("15min",), threshold=Q_(15, "MW"))
    >>> df[["energy_mwh", "peak_mw", "load_factor", "hours_above_threshold_h"]].iloc[0].tolist()
    [20.0, 30.0, 0.6666666666666666, 0.75]
    """
    if isinstance(ramp_windows, str | pd.Timedelta):
        ramp_windows = (ramp_windows,)
    ramp_windows = tuple(ramp_windows)
    if isinstance(profile, Mapping):
        if not profile:
            raise StatsError("profile: the mapping of profiles is empty")
        items = [(str(k), v) for k, v in profile.items()]
    else:
        label = profile.name if isinstance(profile, pd.Series) and profile.name else "profile"
        items = [(str(label), profile)]
    units: dict[str, str] = {}
    rows = [
        _row(
            p,
            label=label,
            ramp_windows=ramp_windows,
            threshold=threshold,
            system_load=system_load,
            units=units,
        )
        for label, p in items
    ]
    df = pd.DataFrame(rows, index=pd.Index([k for k, _ in items], name="profile"))
    df.attrs["units"] = units
    logger.debug("load_statistics: %d profile(s), %d columns", len(df), df.shape[1])
    return df
