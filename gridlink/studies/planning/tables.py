"""Planning tables of a simulated facility (paper §4.4-4.5): sizing, oversubscription,
aggregation.

* :func:`interconnection_table` - the paper's Table 3 layout: peak and average PCC power,
  peak-to-average ratio, load factor and maximum ramps (MW per 15 min and per 1 min), one
  row per method (model, TDP, mean, LUT) on identical traffic.
* :func:`oversubscription` - for a row power limit (default 600 kW), the largest number of
  racks whose P95 (and peak) row power stays under the limit for every one of several
  seeds, per method (paper Fig 11); :func:`oversubscription_vs_correlation` shows how the
  answer falls as cross-server traffic correlation rises (independent -> shared intensity).
* :func:`aggregation_cv` - coefficient of variation of power at server, rack, row and site
  level (paper Fig 12): statistical multiplexing smooths the load as it aggregates.

The figures of these views are in :mod:`gridlink.studies.planning.plots`.

References
----------
Wilkins, Kazhamiaka & Rajagopal, "From Servers to Sites" (2026), §4.4-4.5, Table 3,
Figs 11-12.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from traces import DT_S
from traces.facility import (
    PAPER_METHODS,
    FacilityResult,
    FacilitySpec,
    iter_racks,
)

__all__ = [
    "TABLE3_COLUMNS",
    "interconnection_table",
    "OversubscriptionResult",
    "oversubscription",
    "oversubscription_vs_correlation",
    "aggregation_cv",
]

logger = logging.getLogger(__name__)

#: Columns of the interconnection sizing table (paper Table 3 layout), units in names.
TABLE3_COLUMNS: tuple[str, ...] = (
    "peak_mw",
    "peak_mw_250ms",
    "mean_mw",
    "peak_to_average",
    "load_factor",
    "max_ramp_mw_per_15min",
    "max_ramp_mw_per_1min",
)


def _pcc(obj: FacilityResult | pd.Series) -> pd.Series:
    if isinstance(obj, FacilityResult):
        return obj.pcc_mw_250ms
    if isinstance(obj, pd.Series):
        return obj
    raise TypeError(f"expected a FacilityResult or a PCC Series [MW], got {type(obj).__name__}")


def interconnection_table(
    results: Mapping[str, FacilityResult | pd.Series],
    *,
    ramp_windows: Sequence[str] = ("15min", "1min"),
    resolution: str = "15min",
) -> pd.DataFrame:
    """Interconnection sizing table (paper Table 3 layout), one row per method.

    Parameters
    ----------
    results : mapping of str to FacilityResult or pandas.Series
        ``method -> result`` (or its PCC series [MW] on a UTC index), e.g. from
        :func:`traces.facility.simulate_methods`.
    ramp_windows : sequence of str
        Ramp windows; a window the horizon cannot cover twice gives NaN (never a
        number computed from a partial window).
    resolution : str, default "15min"
        Interval of the headline statistics (peak, mean, peak-to-average, load factor):
        energy means over UTC-aligned intervals, the metering interval of the paper's
        Table 3 and of utility interconnection studies.  A horizon that is not a whole
        number of intervals uses the 250 ms series (``attrs["resolution"]`` says which).

    Returns
    -------
    pandas.DataFrame, shape (n_methods, 7)
        Index ``method``; columns :data:`TABLE3_COLUMNS`: peak PCC power at
        ``resolution`` [MW], the 250 ms peak beside it (``peak_mw_250ms``, what a
        protection or a power-quality study sees), mean [MW], peak-to-average and load
        factor at ``resolution`` [-], maximum absolute change of the mean power between
        consecutive UTC-aligned 15-min / 1-min blocks [MW per window]
        (``gridlink.stats.load_statistics``).  ``attrs["units"]`` maps columns to units.
    """
    from gridlink.stats import load_statistics
    from traces.facility import resample_energy_mean

    rows = {}
    used = set()
    for method, obj in results.items():
        p = _pcc(obj)
        horizon_s = len(p) * DT_S
        windows = [w for w in ramp_windows if horizon_s >= 2 * pd.Timedelta(w).total_seconds()]
        stats = load_statistics(p, ramp_windows=tuple(windows)).iloc[0]
        res_s = pd.Timedelta(resolution).total_seconds()
        coarse = p
        if (
            res_s > DT_S
            and horizon_s >= res_s
            and abs(horizon_s / res_s - round(horizon_s / res_s)) < 1e-9
        ):
            try:
                coarse = resample_energy_mean(p, resolution)
                used.add(resolution)
            except ValueError:  # not aligned to the interval grid
                used.add("250ms")
        else:
            used.add("250ms")
        if coarse is p:
            head = stats
        elif len(coarse) >= 2:
            head = load_statistics(coarse, ramp_windows=()).iloc[0]
        else:  # one interval: its mean is the peak (load_statistics needs two samples)
            v = float(coarse.iloc[0])
            head = pd.Series(
                {"peak_mw": v, "mean_mw": v, "peak_to_average": 1.0, "load_factor": 1.0}
            )
        row = {c: float(head[c]) for c in ("peak_mw", "mean_mw", "peak_to_average", "load_factor")}
        row["peak_mw_250ms"] = float(stats["peak_mw"])
        for w in ramp_windows:
            col = f"max_ramp_mw_per_{w}"
            row[col] = float(stats[col]) if col in stats.index else float("nan")
        rows[method] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    df = df[[c for c in TABLE3_COLUMNS if c in df.columns]]
    df.index.name = "method"
    df.attrs["resolution"] = used.pop() if len(used) == 1 else "mixed"
    df.attrs["units"] = {
        "peak_mw": "MW",
        "peak_mw_250ms": "MW",
        "mean_mw": "MW",
        "peak_to_average": "dimensionless",
        "load_factor": "dimensionless",
        "max_ramp_mw_per_15min": "MW per 15 min",
        "max_ramp_mw_per_1min": "MW per 1 min",
    }
    return df


# --------------------------------------------------------------------------------------
# Oversubscription (Fig 11)
# --------------------------------------------------------------------------------------


@dataclass
class OversubscriptionResult:
    """Answer to "how many racks fit under a row power limit?" (paper Fig 11).

    Attributes
    ----------
    limit_kw : float
        Row power limit [kW] (IT power of the row, no PUE).
    quantile : float
        Quantile of row power compared with the limit (0.95).
    answer : pandas.DataFrame
        Index ``method``; columns ``racks_p95`` and ``racks_peak``: the largest number of
        racks whose row-power quantile / peak stays under the limit for *every* seed, and
        ``racks_nameplate_servers`` for reference.
    curves : pandas.DataFrame
        Long table: ``method``, ``seed``, ``n_racks``, ``p95_kw``, ``peak_kw``, ``mean_kw``
        (row IT power [kW] with the first ``n_racks`` racks).
    per_seed : pandas.DataFrame
        Index (method, seed); columns ``racks_p95``, ``racks_peak``.
    capped : bool
        True when some method never exceeded the limit before ``max_racks`` (its answer is
        then a lower bound, flagged in the log).
    """

    limit_kw: float
    quantile: float
    answer: pd.DataFrame
    curves: pd.DataFrame
    per_seed: pd.DataFrame
    capped: bool


def oversubscription(
    spec: FacilitySpec,
    *,
    row_limit_kw: float = 600.0,
    seeds: Sequence[int] | int = 5,
    methods: Sequence[str] = PAPER_METHODS,
    quantile: float = 0.95,
    max_racks: int | None = None,
    progress: bool = False,
) -> OversubscriptionResult:
    """Largest number of racks per row under a power limit, per method (paper Fig 11).

    A single row is grown rack by rack (racks as in ``spec``: servers per rack,
    assignment, traffic, horizon); row IT power is the sum of its racks (GPU + base,
    no PUE) on the 250 ms grid.  Because rack power is non-negative, the row's quantile
    and peak grow with every added rack, so the first rack count that exceeds the limit
    ends the search exactly.  All methods see identical traffic.

    Parameters
    ----------
    spec : FacilitySpec
        Template: ``rows``/``racks_per_row`` are replaced by one row of ``max_racks``;
        ``seed`` is replaced by each of ``seeds``.
    row_limit_kw : float
        Row power limit [kW].
    seeds : int or sequence of int
        Seeds (an int n means ``spec.seed, ..., spec.seed + n - 1``); the answer must hold
        for every seed.
    methods : sequence of str
        Subset of ``("model", "tdp", "mean", "lut")``.
    quantile : float
        Row-power quantile compared with the limit (paper: P95).
    max_racks : int, optional
        Upper bound on the search; default ``floor(limit / (servers_per_rack x
        it_base_kw_per_server)) + 1`` (GPU power >= 0, so no more racks can fit) or 200
        when base power is 0.
    progress : bool
        tqdm progress bar.

    Returns
    -------
    OversubscriptionResult
    """
    if row_limit_kw <= 0:
        raise ValueError(f"row_limit_kw must be > 0 [kW], got {row_limit_kw}")
    if not 0 < quantile <= 1:
        raise ValueError(f"quantile must lie in (0, 1], got {quantile}")
    seed_list = list(range(spec.seed, spec.seed + seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list:
        raise ValueError("seeds: give at least one seed")
    if spec.assignment.by in ("row", "rack"):  # type: ignore[union-attr]
        raise ValueError(
            "oversubscription grows one row rack by rack; give an assignment that does not "
            "depend on the position (one config id, or by='fraction')"
        )
    base_rack_kw = spec.servers_per_rack * spec.it_base_kw_per_server
    if max_racks is None:
        max_racks = int(row_limit_kw // base_rack_kw) + 1 if base_rack_kw > 0 else 200
    methods = tuple(methods)
    curves = []
    per_seed = []
    capped = False
    for seed in seed_list:
        row_spec = replace(spec, rows=1, racks_per_row=max_racks, seed=seed)
        row_kw = {m: np.zeros(row_spec.n_steps) for m in methods}
        done_p95: dict[str, int | None] = dict.fromkeys(methods)
        done_peak: dict[str, int | None] = dict.fromkeys(methods)
        n = 0
        for chunk in iter_racks(row_spec, methods=methods, progress=progress):
            n += 1
            for m in methods:
                if done_peak[m] is not None and done_p95[m] is not None:
                    continue
                row_kw[m] += chunk.methods[m] / 1e3 + base_rack_kw
                q = float(np.quantile(row_kw[m], quantile))
                pk = float(row_kw[m].max())
                curves.append(
                    {
                        "method": m,
                        "seed": seed,
                        "n_racks": n,
                        "p95_kw": q,
                        "peak_kw": pk,
                        "mean_kw": float(row_kw[m].mean()),
                    }
                )
                if done_p95[m] is None and q > row_limit_kw:
                    done_p95[m] = n - 1
                if done_peak[m] is None and pk > row_limit_kw:
                    done_peak[m] = n - 1
            if all(done_p95[m] is not None and done_peak[m] is not None for m in methods):
                break
        for m in methods:
            if done_p95[m] is None or done_peak[m] is None:
                capped = True
                logger.warning(
                    "oversubscription: method %s seed %d stays under %.0f kW with %d racks "
                    "(max_racks); its answer is a lower bound",
                    m,
                    seed,
                    row_limit_kw,
                    n,
                )
            per_seed.append(
                {
                    "method": m,
                    "seed": seed,
                    "racks_p95": done_p95[m] if done_p95[m] is not None else n,
                    "racks_peak": done_peak[m] if done_peak[m] is not None else n,
                }
            )
    per = pd.DataFrame(per_seed).set_index(["method", "seed"])
    answer = per.groupby(level="method", sort=False).min()
    answer = answer.loc[list(methods)]
    cur = pd.DataFrame(curves)
    cur.attrs["units"] = {"p95_kw": "kW", "peak_kw": "kW", "mean_kw": "kW"}
    return OversubscriptionResult(
        limit_kw=float(row_limit_kw),
        quantile=float(quantile),
        answer=answer,
        curves=cur,
        per_seed=per,
        capped=capped,
    )


def oversubscription_vs_correlation(
    spec: FacilitySpec,
    correlations: Sequence[float] = (0.0, 0.5, 1.0),
    *,
    row_limit_kw: float = 600.0,
    seeds: Sequence[int] | int = 5,
    method: str = "model",
    quantile: float = 0.95,
    max_racks: int | None = None,
) -> pd.DataFrame:
    """How the oversubscription answer falls as traffic correlation rises (paper §3.4, Fig 11).

    ``correlation = 0`` is independent streams; ``rho > 0`` is ``traffic_mode="shared"``
    with a fraction ``rho`` of each replica's rate thinned from one common intensity.

    Returns
    -------
    pandas.DataFrame
        Index ``correlation``; columns ``racks_p95``, ``racks_peak`` for ``method``.
    """
    rows = {}
    for rho in correlations:
        s = (
            replace(spec, traffic_mode="independent")
            if rho == 0
            else replace(spec, traffic_mode="shared", correlation=float(rho))
        )
        res = oversubscription(
            s,
            row_limit_kw=row_limit_kw,
            seeds=seeds,
            methods=(method,),
            quantile=quantile,
            max_racks=max_racks,
        )
        rows[float(rho)] = res.answer.loc[method].to_dict()
    df = pd.DataFrame.from_dict(rows, orient="index", columns=["racks_p95", "racks_peak"])
    df.index.name = "correlation"
    return df


# --------------------------------------------------------------------------------------
# Aggregation (Fig 12)
# --------------------------------------------------------------------------------------


def _cv_columns(values: np.ndarray) -> np.ndarray:
    mean = values.mean(axis=0)
    return values.std(axis=0) / mean


def aggregation_cv(result: FacilityResult, *, power: str = "gpu") -> pd.DataFrame:
    """Coefficient of variation of power at each level of the hierarchy (paper Fig 12).

    Parameters
    ----------
    result : FacilityResult
        Needs per-server series (``simulate_facility(..., keep_servers=True)``) for the
        server level; without them the table starts at racks.
    power : {"gpu", "it"}
        ``"gpu"``: GPU power only (base IT subtracted; shows the GPU variability itself).
        ``"it"``: IT power including the constant base.

    Returns
    -------
    pandas.DataFrame
        Index ``level`` (server, rack, row, site); columns ``n_units``, ``cv_mean``,
        ``cv_min``, ``cv_max`` (std/mean over time of each unit's 250 ms power, [-]), and
        ``mean_kw`` (mean power per unit [kW]).
    """
    if power not in ("gpu", "it"):
        raise ValueError(f"power must be 'gpu' or 'it', got {power!r}")
    spec = result.spec
    base = spec.it_base_kw_per_server if power == "gpu" else 0.0
    levels: list[tuple[str, np.ndarray]] = []
    if result.server_it_kw is not None:
        levels.append(("server", result.server_it_kw.to_numpy() - base))
    levels.append(("rack", result.rack_it_kw.to_numpy() - base * spec.servers_per_rack))
    per_row = spec.racks_per_row * spec.servers_per_rack
    levels.append(("row", result.row_it_kw.to_numpy() - base * per_row))
    levels.append(("site", result.site_it_kw.to_numpy()[:, None] - base * spec.n_servers))
    rows = {}
    for name, vals in levels:
        cv = _cv_columns(vals)
        rows[name] = {
            "n_units": vals.shape[1],
            "cv_mean": float(cv.mean()),
            "cv_min": float(cv.min()),
            "cv_max": float(cv.max()),
            "mean_kw": float(vals.mean()),
        }
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "level"
    df.attrs["units"] = {"cv_mean": "dimensionless", "mean_kw": "kW"}
    return df
