"""The interconnection section of ``gridlink demo`` (one call, a few printed lines)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gridlink.studies.interconnection.report import write_report
from gridlink.studies.interconnection.study import run_study
from gridlink.studies.interconnection.transfers import rack_pcc_mw

__all__ = ["demo_section"]


def demo_section(result: Any, out_dir: str | Path) -> tuple[dict[str, Any], list[str]]:
    """The interconnection section of ``gridlink demo`` (a short study of the hall).

    Runs :func:`~.study.run_study` on the hall's 250 ms PCC load with the defaults (all
    servers to UPS for 60 s at the highest load whose window fits, CIGRE MV bus 1 with loads x0.5, 250 ms event
    study, no whole-horizon feeder run -- the demo has its own), writes
    ``interconnection/`` (the report) under ``out_dir`` and returns the JSON facts and
    the lines the demo prints.

    Parameters
    ----------
    result : traces.facility.FacilityResult
        The hall's model run.
    out_dir : str or Path
        The demo's output folder.

    Returns
    -------
    (dict, list of str)
    """
    study = run_study(
        pcc_mw=result.pcc_mw_250ms, rack_mw=rack_pcc_mw(result),
        arrival_rate_rps=result.arrival_rate_rps, normal_freq=None, load_scaling=0.5,
    )  # fmt: skip
    target = Path(out_dir) / "interconnection"
    write_report(study, target, overwrite=True, title="gridlink demo hall")
    ll = study.event_studies["load_loss"].summary
    r = study.ramps
    lines = [
        "Interconnection study (NERC LLTF quantities; quasi-static feeder, not RMS/EMT):",
        f"  largest 250 ms step {study.largest_step_mw * 1e3:.2f} kW; max ramp up "
        + ", ".join(f"{w} {row['max_up_mw'] * 1e3:.1f} kW" for w, row in r.iterrows()),
        f"  all servers to UPS for 60 s near the peak: step {ll['event_step_mw']:.3f} MW, PCC voltage "
        f"{ll['voltage_step_pu']:+.5f} pu, {ll['energy_not_served_mwh'] * 1e3:.2f} kWh on UPS",
        f"  worst-case loss {study.worst_case['loss_mw']:.3f} MW vs "
        f"{study.worst_case['limit_mw']:.0f} MW limit: "
        + ("exceeds" if study.worst_case["exceeds"] else "within"),
        f"  report: {target / 'report.html'}",
    ]
    facts = {
        "facts": study.facts,
        "load_loss": ll,
        "worst_case": study.worst_case,
        "report": str(target / "report.html"),
    }
    return facts, lines
