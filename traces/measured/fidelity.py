"""Fidelity metrics between a measured and a generated power trace.

The metrics are those of the paper's evaluation (Wilkins, Kazhamiaka and Rajagopal
2026, §4.1): the two-sample Kolmogorov-Smirnov statistic of the power marginals, the
R² between the measured and generated autocorrelation functions (lags 1-50, i.e. 12.5 s
at 250 ms), the NRMSE normalised by the measured range, the relative error in total
energy and the relative errors of the 95th / 99th power percentiles.

All functions take plain ``float64`` arrays on the generator's 250 ms grid (power in W);
the evaluation protocol that produces those arrays lives in :mod:`traces.measured.evaluate`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp
from statsmodels.tsa.stattools import acf

from traces import DT_S

logger = logging.getLogger(__name__)

__all__ = [
    "ACF_MAX_LAG",
    "METRIC_NAMES",
    "FidelityError",
    "acf_r2",
    "autocorrelation",
    "fidelity_metrics",
    "summarize_metrics",
]

#: Largest ACF lag compared [samples]; 50 x 0.25 s = 12.5 s (paper §4.1).
ACF_MAX_LAG: int = 50

#: Metric keys returned by :func:`fidelity_metrics`, in table order.
METRIC_NAMES: tuple[str, ...] = (
    "ks",
    "acf_r2",
    "nrmse",
    "delta_energy_pct",
    "abs_delta_energy_pct",
    "p95_error_pct",
    "p99_error_pct",
)


class FidelityError(ValueError):
    """Invalid input to a fidelity metric (shape, length, non-finite values)."""


def _as_trace(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise FidelityError(f"{name} must be a 1-D power array (T,), got shape {arr.shape}")
    if arr.size == 0:
        raise FidelityError(f"{name} is empty; pass at least one sample")
    if not np.all(np.isfinite(arr)):
        n_bad = int(np.sum(~np.isfinite(arr)))
        raise FidelityError(
            f"{name} has {n_bad} non-finite values (NaN/inf); fill or drop them first"
        )
    return arr


def autocorrelation(power_w: np.ndarray, *, max_lag: int = ACF_MAX_LAG) -> np.ndarray:
    """Sample autocorrelation at lags 1..``max_lag``.

    Parameters
    ----------
    power_w : numpy.ndarray, shape (T,)
        Power trace [W] on a regular grid.
    max_lag : int
        Largest lag [samples]; must be < T.

    Returns
    -------
    numpy.ndarray, shape (max_lag,)
        ``statsmodels.tsa.stattools.acf`` (biased estimator, mean removed) at lags
        1..max_lag [-]. NaN everywhere for a constant series (undefined ACF).

    Raises
    ------
    FidelityError
        If the trace is not 1-D / finite or has ``T <= max_lag`` samples.
    """
    x = _as_trace(power_w, "power_w")
    if max_lag < 1:
        raise FidelityError(f"max_lag must be >= 1, got {max_lag}")
    if x.size <= max_lag:
        raise FidelityError(
            f"trace has {x.size} samples; the ACF up to lag {max_lag} needs more than {max_lag}"
        )
    if np.ptp(x) == 0.0:
        return np.full(max_lag, np.nan)
    return np.asarray(acf(x, nlags=max_lag, fft=True), dtype=np.float64)[1:]


def acf_r2(
    measured_w: np.ndarray, generated_w: np.ndarray, *, max_lag: int = ACF_MAX_LAG
) -> tuple[float, str]:
    """R² of the generated ACF against the measured ACF over lags 1..``max_lag``.

    ``R² = 1 - sum_k (rho_m(k) - rho_g(k))² / sum_k (rho_m(k) - mean_k rho_m)²`` (paper §4.1:
    "ACF R²", lags up to 12.5 s). It can be negative when the generated ACF is further from
    the measured one than the measured ACF's own mean is.

    Parameters
    ----------
    measured_w, generated_w : numpy.ndarray, shape (T,) and (T',)
        Power traces [W]; lengths may differ but both must exceed ``max_lag``.
    max_lag : int
        Largest lag [samples] (default 50 = 12.5 s at 250 ms).

    Returns
    -------
    (float, str)
        R² [-] and a note: ``""`` when defined, otherwise the reason it is NaN
        (a constant trace has no ACF; a measured ACF with zero spread has no R²).
    """
    rho_m = autocorrelation(measured_w, max_lag=max_lag)
    rho_g = autocorrelation(generated_w, max_lag=max_lag)
    if np.isnan(rho_m).any():
        return math.nan, "measured trace is constant: ACF undefined"
    if np.isnan(rho_g).any():
        return math.nan, "generated trace is constant: ACF undefined"
    ss_tot = float(np.sum((rho_m - rho_m.mean()) ** 2))
    if ss_tot == 0.0:
        return math.nan, "measured ACF has zero variance over the lags: R2 undefined"
    ss_res = float(np.sum((rho_m - rho_g) ** 2))
    return 1.0 - ss_res / ss_tot, ""


def fidelity_metrics(
    measured_w: np.ndarray,
    generated_w: np.ndarray,
    *,
    dt_s: float = DT_S,
    max_lag: int = ACF_MAX_LAG,
) -> dict[str, Any]:
    """All fidelity metrics of a generated trace against the measured one (paper §4.1).

    Parameters
    ----------
    measured_w : numpy.ndarray, shape (T,)
        Measured power [W] on a regular grid of step ``dt_s``.
    generated_w : numpy.ndarray, shape (T,)
        Generated power [W] on the same grid (same length: NRMSE and energy compare
        sample by sample).
    dt_s : float
        Grid step [s]; energies are ``sum(P) * dt_s`` [J] (the ratio does not depend on it).
    max_lag : int
        Largest ACF lag [samples].

    Returns
    -------
    dict
        ``ks`` [-]: two-sample KS statistic of the marginals (``scipy.stats.ks_2samp``);
        ``acf_r2`` [-]: see :func:`acf_r2` (NaN for constant traces, reason in ``acf_note``);
        ``nrmse`` [-]: RMSE / (max - min of measured) (NaN if the measured range is 0);
        ``delta_energy_pct`` [%]: signed ``(E_gen - E_meas) / E_meas * 100``;
        ``abs_delta_energy_pct`` [%]: its absolute value;
        ``p95_error_pct``, ``p99_error_pct`` [%]: ``|P_q(gen) - P_q(meas)| / P_q(meas) * 100``
        with linear-interpolated percentiles (``numpy.percentile``);
        ``energy_measured_j``, ``energy_generated_j`` [J]; ``acf_note`` (str).

    Raises
    ------
    FidelityError
        If either trace is not 1-D and finite, the lengths differ, ``dt_s <= 0``, the
        measured energy is not positive, or the traces are not longer than ``max_lag``.
    """
    m = _as_trace(measured_w, "measured_w")
    g = _as_trace(generated_w, "generated_w")
    if m.shape != g.shape:
        raise FidelityError(
            f"measured_w has {m.size} samples but generated_w has {g.size}; generate on the "
            "measured trace's grid (same length) to compare them"
        )
    if not dt_s > 0:
        raise FidelityError(f"dt_s must be > 0 s, got {dt_s}")
    e_m = float(np.sum(m) * dt_s)
    e_g = float(np.sum(g) * dt_s)
    if e_m <= 0:
        raise FidelityError(f"measured energy is {e_m} J; relative energy error needs E_meas > 0")
    ks = float(ks_2samp(m, g).statistic)
    r2, note = acf_r2(m, g, max_lag=max_lag)
    rng_m = float(np.ptp(m))
    rmse = float(np.sqrt(np.mean((m - g) ** 2)))
    nrmse = rmse / rng_m if rng_m > 0 else math.nan
    de = (e_g - e_m) / e_m * 100.0
    q_m = np.percentile(m, [95.0, 99.0])
    q_g = np.percentile(g, [95.0, 99.0])
    p_err = np.abs(q_g - q_m) / q_m * 100.0
    return {
        "ks": ks,
        "acf_r2": r2,
        "nrmse": nrmse,
        "delta_energy_pct": de,
        "abs_delta_energy_pct": abs(de),
        "p95_error_pct": float(p_err[0]),
        "p99_error_pct": float(p_err[1]),
        "energy_measured_j": e_m,
        "energy_generated_j": e_g,
        "acf_note": note,
    }


def summarize_metrics(
    rows: pd.DataFrame | Iterable[Mapping[str, Any]],
    *,
    by: tuple[str, ...] = ("method",),
    metrics: tuple[str, ...] = METRIC_NAMES,
) -> pd.DataFrame:
    """Median of each metric per group (e.g. per method, over held-out traces and seeds).

    Parameters
    ----------
    rows : pandas.DataFrame or iterable of dict
        One row per (held-out trace, method, seed) with the metric columns.
    by : tuple of str
        Grouping columns.
    metrics : tuple of str
        Metric columns to summarise (medians skip NaN, e.g. ACF R² of constant baselines).

    Returns
    -------
    pandas.DataFrame
        Index ``by``; one ``<metric>`` column per metric holding the median, plus ``n``
        (rows per group).

    Raises
    ------
    FidelityError
        If a grouping or metric column is missing.
    """
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    missing = [c for c in (*by, *metrics) if c not in df.columns]
    if missing:
        raise FidelityError(
            f"summarize_metrics: missing columns {missing}; have {list(df.columns)}"
        )
    grouped = df.groupby(list(by), sort=False)
    out = grouped[list(metrics)].median()
    out["n"] = grouped.size()
    return out
