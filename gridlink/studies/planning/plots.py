"""Figures of the planning views (paper §4.4-4.5, Figs 11-12): PCC load with its
load-duration curve and ramp distribution, rack heatmap on the nameplate scale, the
aggregation hierarchy, and the oversubscription answer; PNG files written atomically
(:func:`traces.outputs.atomic_path`).

References
----------
Wilkins, Kazhamiaka & Rajagopal, "From Servers to Sites" (2026), §4.4-4.5, Table 3,
Figs 11-12.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridlink.studies.planning.tables import OversubscriptionResult
from traces import DT_S
from traces.facility import FacilityResult, FacilitySpec
from traces.outputs import atomic_path

__all__ = [
    "plot_pcc",
    "plot_rack_heatmap",
    "plot_hierarchy",
    "plot_oversubscription",
]

logger = logging.getLogger(__name__)


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
    """PCC load [MW] over time (each method) with the facility arrival rate [req/s], the
    load-duration curve and the distribution of 1-min ramps.

    ``freq`` resamples (energy-preserving) the time panel for readability; default the spec
    resolution.  The load-duration curve is drawn from the 15-min energy means when the
    horizon holds at least 8 whole 15-min intervals (the interconnection view, paper Table 3), else
    from ``freq``; the ramps are changes of consecutive 1-min means [MW per min].
    """
    from traces.facility import resample_energy_mean

    res = {"model": results} if isinstance(results, FacilityResult) else dict(results)
    first = next(iter(res.values()))
    freq = freq or first.spec.resolution
    fig, axes = _fig(1, 3, figsize=(15, 4.5), gridspec_kw={"width_ratios": [2.2, 1, 1]})
    ax, ax_ldc, ax_ramp = axes
    horizon_s = len(first.pcc_mw_250ms) * DT_S
    ldc_freq = "15min" if horizon_s >= 8 * 900 and horizon_s % 900 == 0 else freq
    for name, r in res.items():
        p = r.pcc(freq)
        (line,) = ax.plot(
            p.index, p.to_numpy(), label=f"{name} (PCC)", lw=1.2 if name == "model" else 1.0
        )
        color = line.get_color()  # the same colour for the method in every panel
        d = np.sort(r.pcc(ldc_freq).to_numpy())[::-1]
        ax_ldc.plot(np.arange(1, d.size + 1) / d.size * 100, d, label=name, color=color)
        if horizon_s >= 120:
            m1 = resample_energy_mean(r.pcc_mw_250ms, "1min").to_numpy()
            ramps = np.abs(np.diff(m1))
            if ramps.size and np.ptp(ramps) > 0:
                ax_ramp.hist(ramps, bins=30, histtype="step", label=name, color=color)
            else:
                x = float(ramps.max()) if ramps.size else 0.0
                ax_ramp.axvline(x, label=f"{name} (flat)", color=color)
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
        f"{spec.n_servers} servers x {spec.gpus_per_server} GPUs, PUE {spec.pue}, "
        f"base {spec.it_base_kw_per_server} kW/server"
    )
    ax_ldc.set_xlabel("share of the horizon [%]")
    ax_ldc.set_ylabel(f"PCC load [MW] ({ldc_freq} mean)")
    ax_ldc.set_title("Load-duration curve")
    ax_ldc.legend(fontsize=8)
    ax_ramp.set_xlabel("|ramp| between 1-min means [MW per min]")
    ax_ramp.set_ylabel("count of minutes")
    ax_ramp.set_title("Ramp distribution (1 min)")
    if ax_ramp.get_legend_handles_labels()[0]:
        ax_ramp.legend(fontsize=8)
    return _save(fig, path)


def _rack_nameplate_kw(spec: FacilitySpec) -> np.ndarray:
    """Nameplate IT power of every rack [kW]: servers x (replicas x TDP + base)."""
    from traces.facility import validate_configurations
    from traces.model.registry import load_configuration

    reps = validate_configurations(spec)
    tdp_kw = {c: float(load_configuration(c).tdp_w) / 1e3 for c in reps}
    server_kw = [reps[c] * tdp_kw[c] + spec.it_base_kw_per_server for c in spec.server_configs()]
    return np.asarray(server_kw).reshape(spec.n_racks, spec.servers_per_rack).sum(axis=1)


def plot_rack_heatmap(result: FacilityResult, path: str | Path, *, freq: str = "1min") -> Path:
    """Per-rack IT power [kW] as a heatmap (rack x time, ``freq`` means).

    The colour scale is fixed from the racks' base IT power (GPUs drawing nothing) to their
    nameplate (TDP x replicas + base), so heatmaps of different runs compare; white lines
    separate the rows and the colour bar marks the nameplate.
    """
    racks = result.rack_it_kw
    spec = result.spec
    horizon = len(racks) * DT_S
    if pd.Timedelta(freq).total_seconds() > horizon:
        freq = spec.resolution
    from traces.facility import resample_energy_mean

    r = resample_energy_mean(racks, freq)
    from traces.facility import FacilityConfigError

    vmin = spec.servers_per_rack * spec.it_base_kw_per_server
    try:
        vmax = float(_rack_nameplate_kw(spec).max())
        top = "nameplate"
    except FacilityConfigError:  # configurations not in the registry: no nameplate known
        vmax = float(r.to_numpy().max())
        top = "observed max (nameplate unknown)"
    fig, ax = _fig(figsize=(10, 0.12 * r.shape[1] + 2.5))
    im = ax.imshow(
        r.to_numpy().T, aspect="auto", interpolation="nearest", cmap="viridis",
        vmin=vmin, vmax=vmax,
    )  # fmt: skip
    for row in range(1, spec.rows):
        ax.axhline(row * spec.racks_per_row - 0.5, color="white", lw=0.8)
    ax.set_yticks(
        [row * spec.racks_per_row + (spec.racks_per_row - 1) / 2 for row in range(spec.rows)]
    )
    ax.set_yticklabels([f"row {row}" for row in range(spec.rows)])
    ax.set_ylabel(f"racks ({spec.racks_per_row} per row)")
    n = len(r.index)
    ticks = np.linspace(0, n - 1, min(n, 6)).astype(int)
    ax.set_xticks(ticks)
    ax.set_xticklabels([r.index[i].strftime("%H:%M") for i in ticks])
    ax.set_xlabel(f"time [UTC], {freq} means")
    cb = fig.colorbar(im, ax=ax, label="rack IT power [kW]")
    cb.ax.axhline(vmax, color="red", lw=2)
    cb.ax.text(0.5, vmax, f" {top}", color="red", va="top", ha="center", fontsize=7,
               transform=cb.ax.get_yaxis_transform(), rotation=90)  # fmt: skip
    ax.set_title(
        f"Rack IT power (scale: base {vmin:.1f} kW .. {top} {vmax:.1f} kW per rack; "
        f"observed max {float(r.to_numpy().max()):.1f} kW)",
        fontsize=9,
    )
    return _save(fig, path)


def plot_hierarchy(
    result: FacilityResult, path: str | Path, *, window: str | None = "10min"
) -> Path:
    """Normalised power (p / mean) of one server, rack, row and the site.

    ``window``: a span centred on the site's 250 ms peak (the moment an interconnection
    study sizes for); None draws the whole horizon.
    """
    levels = result.levels_kw()
    site = result.site_it_kw
    t_len = len(site)
    if window is None:
        i0, i1 = 0, t_len
        where = "whole horizon"
    else:
        n = min(t_len, int(pd.Timedelta(window).total_seconds() / DT_S))
        k = int(np.argmax(site.to_numpy()))
        i0 = min(max(k - n // 2, 0), t_len - n)
        i1 = i0 + n
        where = f"{window} around the site peak"
    fig, ax = _fig(figsize=(10, 4))
    t = site.index[i0:i1]
    base = result.spec.it_base_kw_per_server
    for name, obj in levels.items():
        vals = obj.iloc[i0:i1, 0] if isinstance(obj, pd.DataFrame) else obj.iloc[i0:i1]
        v = vals.to_numpy()
        ax.plot(t, v / v.mean(), lw=0.8, label=f"{name} (mean {v.mean():.1f} kW)")
    ax.set_ylabel("power / mean [-]")
    ax.set_xlabel("time [UTC], 250 ms")
    ax.set_title(
        f"Aggregation smooths the load ({where}; IT power incl. {base} kW base per server)"
    )
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_oversubscription(
    over: OversubscriptionResult,
    path: str | Path,
    *,
    by_correlation: pd.DataFrame | None = None,
) -> Path:
    """Row P95 and peak power vs racks per method (worst seed) with the limit and both
    answers; optional panel of the answer vs traffic correlation."""
    ncols = 2 if by_correlation is not None else 1
    fig, axes = _fig(1, ncols, figsize=(6.5 * ncols, 4.4), squeeze=False)
    ax = axes[0, 0]
    cur = over.curves
    for m, g in cur.groupby("method", sort=False):
        p95 = g.groupby("n_racks")["p95_kw"].max()
        peak = g.groupby("n_racks")["peak_kw"].max()
        (line,) = ax.plot(
            p95.index, p95.to_numpy(), marker=".",
            label=f"{m}: P{over.quantile * 100:.0f} {over.answer.loc[m, 'racks_p95']} racks, "
            f"peak {over.answer.loc[m, 'racks_peak']}",
        )  # fmt: skip
        ax.plot(peak.index, peak.to_numpy(), ls=":", color=line.get_color())
    ax.axhline(over.limit_kw, color="k", ls="--", lw=1, label=f"limit {over.limit_kw:.0f} kW")
    ax.set_xlabel("racks in the row")
    ax.set_ylabel("row IT power [kW] (worst seed; solid P95, dotted peak)")
    ax.legend(fontsize=7)
    ax.set_title("Oversubscription: racks under the row limit (P95 and peak)")
    if by_correlation is not None:
        ax = axes[0, 1]
        ax.plot(by_correlation.index, by_correlation["racks_p95"], marker="o", label="P95")
        ax.plot(by_correlation.index, by_correlation["racks_peak"], marker="s", label="peak")
        ax.set_xlabel("traffic correlation (0 = independent, 1 = shared intensity)")
        ax.set_ylabel("racks under the limit")
        ax.legend(fontsize=8)
        ax.set_title("Correlated traffic needs more headroom")
    return _save(fig, path)
