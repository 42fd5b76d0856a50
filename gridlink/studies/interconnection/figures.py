"""The figures of the interconnection report (matplotlib, Agg backend, PNG files).

One function a figure, each taking the study and a path and returning the path
written: the day's profile with the arrival rate (:func:`profile_fig`), the ramp
distribution per window (:func:`ramps_fig`), the load-duration curve
(:func:`ldc_fig`), the spectrum (:func:`spectrum_fig`) and an event's PCC series with
the bus voltages (:func:`event_fig`).  :func:`~.report.write_report` places them on
the page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridlink.studies.interconnection.study import InterconnectionStudy

__all__ = ["profile_fig", "ramps_fig", "ldc_fig", "spectrum_fig", "event_fig"]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 10, "axes.grid": True, "grid.alpha": 0.3})
    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def profile_fig(study: InterconnectionStudy, path: Path, title: str) -> Path:
    from gridlink.resample import resample_energy

    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 4.2))
    freq = study.facts["profile_freq"]
    fine = resample_energy(study.pcc_mw, "1min") if freq != "1min" else None
    if fine is not None:
        ax.plot(
            fine.index, fine.to_numpy(), lw=0.6, color="tab:blue", alpha=0.45, label="1-min mean"
        )
    prof = study.profile_mw
    step = prof.index[1] - prof.index[0] if len(prof) > 1 else pd.Timedelta(freq)
    xs = prof.index.append(pd.DatetimeIndex([prof.index[-1] + step]))
    ys = np.append(prof.to_numpy(), prof.to_numpy()[-1])
    ax.step(xs, ys, where="post", lw=1.8, color="tab:blue", label=f"{freq} mean")
    ax.axhline(
        study.facts["peak_mw"],
        color="tab:red",
        ls=":",
        lw=1,
        label=f"250 ms peak {study.facts['peak_mw']:.3f} MW",
    )
    ax.set_ylabel("PCC load [MW]")
    from matplotlib.dates import DateFormatter

    t0, t1 = study.pcc_mw.index[0], study.pcc_mw.index[-1]
    if t1 - t0 <= pd.Timedelta("1D"):
        ax.xaxis.set_major_formatter(DateFormatter("%H:%M", tz="UTC"))
        ax.set_xlabel(f"time [UTC] from {t0:%Y-%m-%d %H:%M}")
    else:
        ax.set_xlabel("time [UTC]")
    handles, labels = ax.get_legend_handles_labels()
    if study.arrival_rate_rps is not None and len(study.arrival_rate_rps):
        rate = study.arrival_rate_rps
        ax2 = ax.twinx()
        ax2.grid(False)
        ax2.fill_between(
            rate.index, rate.to_numpy(), step="post", color="grey", alpha=0.18, label="arrival rate"
        )
        ax2.set_ylabel("facility arrivals [requests/s]")
        ax2.set_ylim(0, float(rate.max()) * 1.6 if rate.max() > 0 else 1)
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    lo, hi = float(study.pcc_mw.min()), float(study.pcc_mw.max())
    pad = 0.15 * (hi - lo) if hi > lo else 0.05 * hi + 1e-6
    ax.set_ylim(lo - pad, hi + pad)
    ax.legend(handles, labels, loc="lower right", fontsize=8, ncol=2)
    ax.set_title(f"{title}: PCC load and traffic")
    return _save(fig, path)


def ramps_fig(study: InterconnectionStudy, path: Path) -> Path:
    plt = _plt()
    r = study.ramps
    fig, ax = plt.subplots(figsize=(10, 4.2))
    keys = [
        ("max_up_share_of_peak", "max up", "tab:red"),
        ("max_down_share_of_peak", "max down (abs)", "tab:blue"),
        ("p99_share_of_peak", "P99 |dP|", "tab:orange"),
        ("p999_share_of_peak", "P99.9 |dP|", "tab:purple"),
    ]
    x = np.arange(len(r))
    width = 0.2
    for i, (col, label, color) in enumerate(keys):
        vals = np.abs(r[col].to_numpy()) * 100.0
        bars = ax.bar(
            x + (i - 1.5) * width, np.where(vals > 0, vals, np.nan), width, label=label, color=color
        )
        mw = np.abs(r[col.replace("share_of_peak", "mw")].to_numpy())
        for b, v, m in zip(bars, vals, mw, strict=True):
            if v > 0:
                ax.annotate(
                    _fmt_mw(m),
                    (b.get_x() + b.get_width() / 2, v),
                    ha="center",
                    va="bottom",
                    fontsize=6,
                    rotation=90,
                    xytext=(0, 2),
                    textcoords="offset points",
                )
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g} %"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(x)
    ax.set_xticklabels([f"{w}" for w in r.index])
    ax.set_xlabel("ramp window (sliding, from the 250 ms series)")
    ax.set_ylabel("change over the window\n[% of the 250 ms peak, log scale]")
    ax.set_title(
        f"Ramp distribution per window (labels: MW per window; peak {study.facts['peak_mw']:.3f} MW)"
    )
    ymax = np.nanmax(np.abs(r[[k for k, _, _ in keys]].to_numpy())) * 100.0
    vals_all = np.abs(r[[k for k, _, _ in keys]].to_numpy()) * 100.0
    ymin = np.nanmin(np.where(vals_all > 0, vals_all, np.nan))
    ax.set_ylim(bottom=ymin / 3, top=ymax * 6)
    ax.legend(fontsize=8, ncol=4, loc="upper left")
    return _save(fig, path)


def _fmt_mw(mw: float) -> str:
    if mw >= 1:
        return f"{mw:.2f} MW"
    if mw >= 1e-3:
        return f"{mw * 1e3:.1f} kW"
    return f"{mw * 1e6:.0f} W"


def _fmt_h(hours: float) -> str:
    if hours >= 1 or hours == 0:
        return f"{hours:.2f} h"
    if hours * 60 >= 1:
        return f"{hours * 60:.1f} min"
    return f"{hours * 3600:.1f} s"


def ldc_fig(study: InterconnectionStudy, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 4.2))
    ldc = study.ldc
    peak = study.facts["peak_mw"]
    ax.plot(ldc["hours_at_or_above_h"], ldc["p_mw"], lw=1.6, color="tab:blue")
    for _, row in study.hours_above.iterrows():
        if row["share_of_peak"] >= 0.9:
            ax.axhline(row["level_mw"], color="grey", lw=0.6, ls=":")
            ax.annotate(
                f"{row['share_of_peak']:.0%} of peak: {_fmt_h(row['hours_above_h'])} above",
                (ldc["hours_at_or_above_h"].max(), row["level_mw"]),
                ha="right",
                va="bottom",
                fontsize=7,
                color="dimgrey",
            )
    ax.set_xlabel("hours at or above the load [h]")
    ax.set_ylabel("PCC load [MW]")
    ax.set_xlim(0, ldc["hours_at_or_above_h"].max())
    ax2 = ax.secondary_yaxis(
        "right", functions=(lambda v: v / peak * 100, lambda s: s * peak / 100)
    )
    ax2.set_ylabel("% of peak")
    ax.set_title(f"Load-duration curve (from the {study.facts['step_s']:g} s series)")
    return _save(fig, path)


def spectrum_fig(study: InterconnectionStudy, path: Path) -> Path:
    plt = _plt()
    sp = study.spectrum
    psd = sp.psd[sp.psd["frequency_hz"] > 0]
    fig, ax = plt.subplots(figsize=(10, 4.2))
    ax.loglog(psd["frequency_hz"], psd["psd_mw2_per_hz"], lw=0.8, color="black")
    colors = ["tab:orange", "tab:green", "tab:purple", "tab:cyan"]
    for (_, row), c in zip(sp.bands.iterrows(), colors, strict=False):
        label = f"{row['f_lo_hz']:g}-{row['f_hi_hz']:g} Hz: " + (
            f"RMS {_fmt_mw(row['rms_mw'])}, {row['share_of_variance']:.1%} of variance"
            if row["resolved"] else "not resolvable"
        )  # fmt: skip
        ax.axvspan(
            row["f_lo_hz"], min(row["f_hi_hz"], sp.nyquist_hz), color=c, alpha=0.15, label=label
        )
    ax.axvline(sp.nyquist_hz, color="red", ls="--", lw=1, label=f"Nyquist {sp.nyquist_hz:g} Hz")
    ax.set_xlabel("frequency [Hz]")
    ax.set_ylabel("PSD of PCC load [MW²/Hz]")
    ax.set_title(f"Oscillation content (Welch, {sp.segment_s:g} s segments, step {sp.step_s:g} s)")
    ax.legend(fontsize=8, loc="lower left")
    return _save(fig, path)


def event_fig(st: Any, path: Path, sags: Any = None) -> Path:
    plt = _plt()
    res, base = st.with_event, st.baseline
    t_drop = st.event.drop_time
    rel = (res.time - t_drop).total_seconds()
    fig, (ax_p, ax_v, ax_t) = plt.subplots(
        3, 1, figsize=(10, 7.5), sharex=True, height_ratios=[1, 1.4, 0.9]
    )
    ax_p.step(rel, base.p_mw.to_numpy(), where="post", lw=0.9, color="grey", label="without event")
    ax_p.step(rel, res.p_mw.to_numpy(), where="post", lw=1.4, color="tab:blue", label="with event")
    ax_p.set_ylabel("PCC load [MW]")
    ax_p.legend(fontsize=8, loc="center right")
    ax_p.set_title(
        f"{st.event.description}  ({st.step.total_seconds():g} s steps, quasi-static)", fontsize=9
    )
    vm = res.vm_pu[res.bus]
    ax_v.plot(rel, base.vm_pu[res.bus].to_numpy(), lw=0.9, color="grey", label="without event")
    ax_v.plot(rel, vm.to_numpy(), lw=1.4, color="tab:blue", label="with event")
    lim = res.limits
    lo = min(float(np.nanmin(vm)), float(np.nanmin(base.vm_pu[res.bus])))
    hi = float(np.nanmax(vm))
    pad = max(2e-5, 0.3 * (hi - lo))
    ax_v.set_ylim(lo - pad, hi + pad)
    ax_v.text(
        0.01, 0.97,
        f"highest bus of the feeder with the event: {float(np.nanmax(res.vm_max_pu)):.4f} pu; "
        f"lowest: {float(np.nanmin(res.vm_min_pu)):.4f} pu (limits {lim.vm_min_pu}-{lim.vm_max_pu} pu)",
        transform=ax_v.transAxes, fontsize=8, va="top",
    )  # fmt: skip
    for sag in sags or ():
        x0 = (sag.start - t_drop).total_seconds()
        ax_v.axvspan(x0, x0 + max(sag.duration_s, 0.25), color="tab:red", alpha=0.25)
        ax_v.annotate(
            f"input sag {sag.residual_pu:g} pu for {sag.duration_s:g} s (not simulated)",
            (x0, lo - 0.6 * pad), fontsize=7, color="tab:red", xytext=(4, 0),
            textcoords="offset points",
        )  # fmt: skip
    ax_v.set_ylabel(f"PCC voltage, bus {res.bus} [pu]")
    ax_v.ticklabel_format(axis="y", useOffset=False)
    ax_v.legend(fontsize=7, loc="best")
    dv = st.summary["voltage_step_pu"]
    if np.isfinite(dv):
        ax_v.annotate(
            f"step at the drop: {dv:+.5f} pu",
            (0, float(vm[res.time >= t_drop].iloc[0])),
            xytext=(10, 5),
            textcoords="offset points",
            fontsize=8,
        )
    nc = ~res.converged.to_numpy(bool)
    if nc.any():
        for x in rel[nc]:
            ax_v.axvline(x, color="black", lw=0.3, alpha=0.5)
        ax_v.text(
            0.01,
            0.02,
            f"{int(nc.sum())} steps did not converge (black lines)",
            transform=ax_v.transAxes,
            fontsize=8,
        )
    ax_t.plot(
        rel, base.trafo_loading_max_percent.to_numpy(), lw=0.9, color="grey", label="without event"
    )
    ax_t.plot(
        rel, res.trafo_loading_max_percent.to_numpy(), lw=1.4, color="tab:green", label="with event"
    )
    ax_t.set_ylabel("max transformer\nloading [%]")
    ax_t.set_xlabel(f"time since the drop [s] (drop at {t_drop:%Y-%m-%d %H:%M:%S} UTC)")
    ax_t.legend(fontsize=8, loc="best")
    for ax in (ax_p, ax_v, ax_t):
        ax.axvline(0, color="black", lw=0.6, ls=":")
    return _save(fig, path)
