"""Planning views of a simulated facility (paper §4.4-4.5): sizing, oversubscription, aggregation.

* :func:`interconnection_table` - the paper's Table 3 layout: peak and average PCC power,
  peak-to-average ratio, load factor and maximum ramps (MW per 15 min and per 1 min), one
  row per method (model, TDP, mean, LUT) on identical traffic.
* :func:`oversubscription` - for a row power limit (default 600 kW), the largest number of
  racks whose P95 (and peak) row power stays under the limit for every one of several
  seeds, per method (paper Fig 11); :func:`oversubscription_vs_correlation` shows how the
  answer falls as cross-server traffic correlation rises (independent -> shared intensity).
* :func:`aggregation_cv` - coefficient of variation of power at server, rack, row and site
  level (paper Fig 12): statistical multiplexing smooths the load as it aggregates.
* ``plot_*`` - PNG figures a planner reads.

References
----------
Wilkins, Kazhamiaka & Rajagopal, "From Servers to Sites" (2026), §4.4-4.5, Table 3,
Figs 11-12.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from traces import DT_S
from traces.facility import (
    PAPER_METHODS,
    FacilityResult,
    FacilitySpec,
    iter_racks,
)
from traces.outputs import atomic_path

__all__ = [
    "TABLE3_COLUMNS",
    "interconnection_table",
    "OversubscriptionResult",
    "oversubscription",
    "oversubscription_vs_correlation",
    "aggregation_cv",
    "plot_pcc",
    "plot_rack_heatmap",
    "plot_hierarchy",
    "plot_oversubscription",
]

logger = logging.getLogger(__name__)

#: Columns of the interconnection sizing table (paper Table 3 layout), units in names.
TABLE3_COLUMNS: tuple[str, ...] = (
    "peak_mw",
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

    Returns
    -------
    pandas.DataFrame, shape (n_methods, 6)
        Index ``method``; columns :data:`TABLE3_COLUMNS`: peak and mean PCC power [MW]
        (on the 250 ms grid), peak-to-average and load factor [-], maximum absolute change
        of the mean power between consecutive UTC-aligned 15-min / 1-min blocks
        [MW per window] (``gridlink.stats.load_statistics``).  ``attrs["units"]`` maps
        columns to units.
    """
    from gridlink.stats import load_statistics

    rows = {}
    for method, obj in results.items():
        p = _pcc(obj)
        horizon_s = len(p) * DT_S
        windows = [w for w in ramp_windows if horizon_s >= 2 * pd.Timedelta(w).total_seconds()]
        stats = load_statistics(p, ramp_windows=tuple(windows)).iloc[0]
        row = {c: float(stats[c]) for c in TABLE3_COLUMNS[:4]}
        for w in ramp_windows:
            col = f"max_ramp_mw_per_{w}"
            row[col] = float(stats[col]) if col in stats.index else float("nan")
        rows[method] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    df = df[[c for c in TABLE3_COLUMNS if c in df.columns]]
    df.index.name = "method"
    df.attrs["units"] = {
        "peak_mw": "MW",
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


# --------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------


def _fig(*args: Any, **kwargs: Any) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def _save(fig: Any, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    p = Path(path)
    fig.tight_layout()
    with atomic_path(p) as tmp:
        fig.savefig(tmp, dpi=120, format=p.suffix.lstrip(".") or "png")
    plt.close(fig)
    return p


def plot_pcc(
    results: FacilityResult | Mapping[str, FacilityResult],
    path: str | Path,
    *,
    freq: str | None = None,
) -> Path:
    """PCC load [MW] over time (each method) with the facility arrival rate [req/s].

    ``freq`` resamples (energy-preserving) for readability; default the spec resolution.
    """
    res = {"model": results} if isinstance(results, FacilityResult) else dict(results)
    first = next(iter(res.values()))
    freq = freq or first.spec.resolution
    fig, ax = _fig(figsize=(10, 4.5))
    for name, r in res.items():
        p = r.pcc(freq)
        ax.plot(p.index, p.to_numpy(), label=f"{name} (PCC)", lw=1.2 if name == "model" else 1.0)
    ax.set_ylabel(f"PCC load [MW] ({freq} mean)")
    ax.set_xlabel("time [UTC]")
    ax2 = ax.twinx()
    rate = first.arrival_rate_rps
    ax2.fill_between(
        rate.index, rate.to_numpy(), step="post", alpha=0.15, color="grey", label="arrivals"
    )
    ax2.set_ylabel("facility arrival rate [requests/s]")
    lines, labels = ax.get_legend_handles_labels()
    l2, lab2 = ax2.get_legend_handles_labels()
    ax.legend(lines + l2, labels + lab2, loc="upper left", fontsize=8)
    spec = first.spec
    ax.set_title(
        f"{spec.n_servers} servers, PUE {spec.pue}, base {spec.it_base_kw_per_server} kW/server"
    )
    return _save(fig, path)


def plot_rack_heatmap(result: FacilityResult, path: str | Path, *, freq: str = "1min") -> Path:
    """Per-rack IT power [kW] as a heatmap (rack x time, ``freq`` means)."""
    racks = result.rack_it_kw
    horizon = len(racks) * DT_S
    if pd.Timedelta(freq).total_seconds() > horizon:
        freq = result.spec.resolution
    from traces.facility import resample_energy_mean

    r = resample_energy_mean(racks, freq)
    fig, ax = _fig(figsize=(10, 0.12 * r.shape[1] + 2.5))
    im = ax.imshow(r.to_numpy().T, aspect="auto", interpolation="nearest", cmap="viridis")
    ax.set_ylabel("rack (row-major)")
    n = len(r.index)
    ticks = np.linspace(0, n - 1, min(n, 6)).astype(int)
    ax.set_xticks(ticks)
    ax.set_xticklabels([r.index[i].strftime("%H:%M") for i in ticks])
    ax.set_xlabel(f"time [UTC], {freq} means")
    fig.colorbar(im, ax=ax, label="rack IT power [kW]")
    return _save(fig, path)


def plot_hierarchy(result: FacilityResult, path: str | Path, *, window: str = "10min") -> Path:
    """Normalised power (p / mean) of one server, rack, row and the site over a window."""
    levels = result.levels_kw()
    n = min(len(result.site_it_kw), int(pd.Timedelta(window).total_seconds() / DT_S))
    fig, ax = _fig(figsize=(10, 4))
    t = result.site_it_kw.index[:n]
    base = result.spec.it_base_kw_per_server
    for name, obj in levels.items():
        vals = obj.iloc[:n, 0] if isinstance(obj, pd.DataFrame) else obj.iloc[:n]
        v = vals.to_numpy()
        ax.plot(t, v / v.mean(), lw=0.8, label=f"{name} (mean {v.mean():.1f} kW)")
    ax.set_ylabel("power / mean [-]")
    ax.set_xlabel("time [UTC], 250 ms")
    ax.set_title(f"Aggregation smooths the load (IT power incl. {base} kW base per server)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_oversubscription(
    over: OversubscriptionResult,
    path: str | Path,
    *,
    by_correlation: pd.DataFrame | None = None,
) -> Path:
    """Row P95 power vs racks per method (mean over seeds) with the limit; optional panel of
    the answer vs traffic correlation."""
    ncols = 2 if by_correlation is not None else 1
    fig, axes = _fig(1, ncols, figsize=(6 * ncols, 4.2), squeeze=False)
    ax = axes[0, 0]
    cur = over.curves
    for m, g in cur.groupby("method", sort=False):
        mean = g.groupby("n_racks")["p95_kw"].max()
        ax.plot(
            mean.index,
            mean.to_numpy(),
            marker=".",
            label=f"{m}: {over.answer.loc[m, 'racks_p95']} racks",
        )
    ax.axhline(over.limit_kw, color="k", ls="--", lw=1, label=f"limit {over.limit_kw:.0f} kW")
    ax.set_xlabel("racks in the row")
    ax.set_ylabel(f"row P{over.quantile * 100:.0f} IT power [kW] (worst seed)")
    ax.legend(fontsize=8)
    ax.set_title("Oversubscription: racks under the row limit")
    if by_correlation is not None:
        ax = axes[0, 1]
        ax.plot(by_correlation.index, by_correlation["racks_p95"], marker="o", label="P95")
        ax.plot(by_correlation.index, by_correlation["racks_peak"], marker="s", label="peak")
        ax.set_xlabel("traffic correlation (0 = independent, 1 = shared intensity)")
        ax.set_ylabel("racks under the limit")
        ax.legend(fontsize=8)
        ax.set_title("Correlated traffic needs more headroom")
    return _save(fig, path)
