"""Plots of a feeder result a planner reads (PNG)."""

from __future__ import annotations

from pathlib import Path

from gridlink.grid.feeder.result import FeederResult
from traces.outputs import atomic_path


def plot_voltage(result: FeederResult, path: str | Path, *, title: str = "") -> Path:
    """Plot bus voltages (all buses' min-max band and the facility bus) over the
    facility's power, as a PNG a planner reads.

    Parameters
    ----------
    result : FeederResult
        A time-series result of :func:`run_feeder`.
    path : str or Path
        PNG file to write.
    title : str, optional
        Figure title.

    Returns
    -------
    Path
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, (ax_v, ax_p) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, height_ratios=[2, 1])
    t = result.time
    ax_v.fill_between(t, result.vm_min_pu, result.vm_max_pu, alpha=0.3, label="all buses (min-max)")
    ax_v.plot(t, result.vm_pu[result.bus], lw=0.8, label=f"bus {result.bus} (PCC)")
    for lim in (result.limits.vm_min_pu, result.limits.vm_max_pu):
        ax_v.axhline(lim, color="red", ls="--", lw=0.8)
    ax_v.set_ylabel("voltage [pu]")
    ax_v.legend(loc="best", fontsize=8)
    ax_v.set_title(title)
    ax_p.plot(t, result.p_mw, lw=0.8, color="black")
    ax_p.set_ylabel("facility p [MW]")
    ax_p.set_xlabel("time (UTC)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)
    return path
