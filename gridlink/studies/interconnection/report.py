"""The interconnection report: one HTML page with figures, plus CSV/JSON of every number.

:func:`write_report` writes into a folder (atomically: everything goes into a
temporary sibling folder that is renamed into place at the end, so a failed run
never leaves a half-written report):

``report.html``
    One page a utility engineer reads: the facility's headline numbers and the
    study's caveats (quasi-static, Nyquist, example envelope), then the figures --
    the day's 15-min profile with the arrival rate, the ramp distribution per window,
    the load-duration curve, the spectrum, each event's PCC series and bus voltages,
    and the normal feeder run -- each with its table.
``statistics.json``
    Every number of the page, with a ``units`` map per table.
CSV
    ``ramps.csv``, ``hours_above.csv``, ``ldc.csv``, ``spectrum_bands.csv``,
    ``spectrum_psd.csv``, ``profile_<freq>.csv``, ``event_<name>_phases.csv``,
    ``event_<name>_pq.csv`` (P(t), Q(t) for dynamic studies), ``rack_ride_through.csv``,
    ``envelope.csv``, ``feeder_normal_summary.csv``; column names carry their unit.
PNG
    ``profile.png``, ``ramps.png``, ``ldc.png``, ``spectrum.png``,
    ``event_<name>.png``, ``feeder_normal.png``.
"""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridlink.studies._json import json_safe
from gridlink.studies.interconnection.figures import (
    event_fig,
    ldc_fig,
    profile_fig,
    ramps_fig,
    spectrum_fig,
)
from gridlink.studies.interconnection.ride_through import Sag
from gridlink.studies.interconnection.study import InterconnectionStudy, export_dynamic_inputs
from traces.outputs import check_output, staged_folder

__all__ = ["write_report", "check_out_dir"]

logger = logging.getLogger(__name__)


def check_out_dir(out: str | Path, *, overwrite: bool) -> Path:
    """Refuse an existing output folder unless ``overwrite`` (before any work).

    :func:`traces.outputs.check_output` for the report folder (``--out``): an existing
    empty folder counts as free.

    Raises
    ------
    traces.outputs.OutputError
        ``out`` holds results (and ``overwrite`` is False), is a file, or its folder is
        not writable.
    """
    return check_output(out, overwrite=overwrite, folder=True, name="--out")


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [json_safe(r) for r in df.reset_index().to_dict(orient="records")]


# --------------------------------------------------------------------------- HTML


def _table(df: pd.DataFrame, *, floatfmt: str = "{:.4g}") -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float | np.floating):
            return "" if not np.isfinite(v) else floatfmt.format(v)
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [df.index.name or "", *df.columns])
    rows = "".join(
        "<tr><th>"
        + html.escape(str(i))
        + "</th>"
        + "".join(f"<td>{fmt(v)}</td>" for v in row)
        + "</tr>"
        for i, row in zip(df.index, df.to_numpy(), strict=True)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


_CSS = """
body{font-family:system-ui,Arial,sans-serif;max-width:1100px;margin:1.5em auto;color:#222;line-height:1.4}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.6em}
table{border-collapse:collapse;font-size:0.85em;margin:0.6em 0}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}th{background:#f4f4f4}
.note{background:#fff7e0;border-left:4px solid #e0a000;padding:0.4em 0.8em;font-size:0.9em}
img{max-width:100%;border:1px solid #eee}
"""


def _html(
    study: InterconnectionStudy, title: str, figures: dict[str, str], files: dict[str, Path]
) -> str:
    f = study.facts
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
    ]
    parts.append(f"<h1>Large-load interconnection study: {html.escape(title)}</h1>")
    facts = pd.DataFrame(
        {
            "value": [
                f["start_utc"], f"{f['horizon_h']:g} h", f"{f['step_s']:g} s", f"{f['peak_mw']:.4f} MW",
                f"{f['mean_mw']:.4f} MW", f"{f['load_factor']:.3f}", f"{f['energy_mwh']:.3f} MWh",
                f"{f['largest_step_mw'] * 1e3:.2f} kW ({f['largest_step_share_of_peak']:.2%} of peak)",
                f"{f['network']}, bus {f['bus']} (background loads x{f['load_scaling']:g})",
            ]
        },
        index=pd.Index(
            ["start", "horizon", "data step", "peak (250 ms)", "mean", "load factor", "energy",
             "largest single step", "feeder"], name="facility"),
    )  # fmt: skip
    parts.append(_table(facts))
    parts.append(
        "<div class='note'><b>Read this first.</b><ul>"
        + "".join(f"<li>{html.escape(n)}</li>" for n in study.notes)
        + "</ul></div>"
    )

    def fig(key: str, caption: str) -> None:
        if key in figures:
            parts.append(
                f"<p><img src='{figures[key]}' alt='{html.escape(caption)}'><br><small>{html.escape(caption)}</small></p>"
            )

    parts.append("<h2>1. Load profile</h2>")
    freq = study.facts["profile_freq"]
    means = "15-min and 1-min means" if freq == "15min" else f"{freq} means"
    fig("profile", f"PCC load ({means}) and the facility's request arrival rate.")
    parts.append(
        "<h2>2. Ramps and steps</h2><p>Sliding ramps dP(t) = p(t+w) - p(t) over every window w, from the 250 ms series; counts are of sliding ramps beyond the threshold (one sudden step is counted once per sample of the window that contains it).</p>"
    )
    fig(
        "ramps",
        "Largest up/down ramp and the 99th / 99.9th percentile of |dP| per window, as % of the 250 ms peak.",
    )
    if len(study.ramps):
        cols = [
            "max_up_mw",
            "max_down_mw",
            "p99_mw",
            "p999_mw",
            "max_up_share_of_peak",
            "n_up_above_threshold",
            "n_down_above_threshold",
        ]
        parts.append(_table(study.ramps[cols]))
    for lab, why in study.windows_not_measured.items():
        parts.append(f"<p>Window {html.escape(lab)}: {html.escape(why)}.</p>")
    parts.append("<h2>3. Load-duration curve</h2>")
    fig("ldc", "Hours per period at or above each load level.")
    ha = study.hours_above.copy()
    ha.index = pd.Index([f"{v:.6g}" for v in ha.pop("level_mw")], name="level_mw")
    parts.append(_table(ha))
    parts.append("<h2>4. Oscillation content</h2>")
    fig("spectrum", "Welch power spectral density of the PCC load; shaded: the study bands.")
    parts.append(_table(study.spectrum.bands.set_index("f_lo_hz")))
    parts.append(f"<p>{html.escape(study.spectrum.statement())}</p>")
    parts.append("<h2>5. Disturbance what-ifs</h2>")
    w = study.worst_case
    parts.append(
        f"<p><b>Worst-case simultaneous loss</b>: {w['loss_mw']:.4f} MW (all load at the 250 ms peak) against "
        f"{w['limit_mw']:.0f} MW ({html.escape(w['limit_source'])}): "
        f"{'EXCEEDS' if w['exceeds'] else 'within the limit'}; {w['share_of_limit'] * 100:.3g} % of it, "
        f"{w['facilities_to_limit']} such facilities losing load together reach it. "
        f"Share of load on racks whose setting does not respect the envelope: {w['non_compliant_rack_share']:.0%}.</p>"
    )
    for name, st in study.event_studies.items():
        parts.append(
            f"<h3>Event study: {html.escape(name.replace('_', ' '))}</h3><p>{html.escape(st.event.description)}</p>"
        )
        fig(
            f"event_{name}",
            "PCC load with and without the event; PCC and highest feeder voltage; transformer loading.",
        )
        s = st.summary
        keys = [
            "event_step_mw",
            "return_step_mw",
            "energy_not_served_mwh",
            "voltage_step_pu",
            "voltage_rise_vs_baseline_pu",
            "pcc_vm_before_pu",
            "pcc_vm_during_max_pu",
            "pcc_vm_after_pu",
            "network_vm_max_pu",
            "overvoltage_steps",
            "trafo_loading_max_percent",
            "n_not_converged",
        ]
        parts.append(
            _table(
                pd.DataFrame(
                    {"value": [s[k] for k in keys]}, index=pd.Index(keys, name="quantity")
                ),
                floatfmt="{:.6g}",
            )
        )
        parts.append(_table(st.phases.drop(columns=["start"]), floatfmt="{:.6g}"))
        parts.append(
            f"<p>{html.escape(s['convergence'])}. Reactive power: {html.escape(s['reactive_power'])}.</p>"
        )
    rt = study.ride_through
    parts.append("<h3>Ride-through</h3>")
    parts.append(
        f"<p>Envelope ({html.escape(study.envelope.source)}):</p>"
        + _table(study.envelope.to_frame().set_index(study.envelope.to_frame().columns[0]))
    )
    rs = study.rack_settings
    parts.append(
        f"<p>{int(rs['compliant_with_envelope'].sum())} of {len(rs)} racks have a UPS transfer setting that respects the envelope "
        f"(per-rack parameters in <a href='rack_ride_through.csv'>rack_ride_through.csv</a>).</p>"
    )
    if rt is not None:
        parts.append(_table(rt.sags.set_index("start")))
        parts.append(
            f"<p>{rt.n_transferred} of {len(rt.racks)} racks transfer to UPS; {int(rt.racks['envelope_violation'].sum())} of them on a sag the envelope requires them to ride through.</p>"
        )
    if study.normal is not None:
        parts.append("<h2>6. Normal operation on the feeder</h2>")
        fig("feeder_normal", "Bus voltages over the horizon with the facility's load.")
        parts.append(_table(study.normal.summary().drop(columns=["worst_time"]), floatfmt="{:.5g}"))
    if study.coincidence is not None:
        c = study.coincidence
        parts.append(
            f"<p>Coincidence factor with the system load: {c['coincidence_factor']:.3f}; contribution to the system peak {c['contribution_to_system_peak_mw']:.4f} MW ({html.escape(c['definition'])}).</p>"
        )
    parts.append(
        "<h2>Files</h2><ul>"
        + "".join(f"<li><a href='{p.name}'>{p.name}</a></li>" for p in files.values())
        + "</ul>"
    )
    parts.append(
        "<p><small>Definitions and sources: docs/interconnection.md (NERC LLTF white paper 2025; NERC Level 3 alert, May 2026; ERCOT NPRR 1308 / NOGRR 282).</small></p></body></html>"
    )
    return "\n".join(parts)


# --------------------------------------------------------------------------- writer


def _write_all(study: InterconnectionStudy, out: Path, title: str) -> dict[str, Path]:
    files: dict[str, Path] = {}
    units: dict[str, dict[str, str]] = {}

    def csv(name: str, df: pd.DataFrame, unit_map: dict[str, str] | None = None, **kw: Any) -> None:
        files[name] = out / f"{name}.csv"
        df.to_csv(files[name], **kw)
        if unit_map:
            units[f"{name}.csv"] = unit_map

    if len(study.ramps):
        csv("ramps", study.ramps, study.ramps.attrs.get("units"))
    csv("hours_above", study.hours_above, study.hours_above.attrs.get("units"), index=False)
    csv("ldc", study.ldc, study.ldc.attrs.get("units"), index=False)
    csv(
        "spectrum_bands", study.spectrum.bands, study.spectrum.bands.attrs.get("units"), index=False
    )
    csv(
        "spectrum_psd",
        study.spectrum.psd,
        study.spectrum.psd.attrs.get("units"),
        index=False,
        float_format="%.6g",
    )
    freq = study.facts["profile_freq"]
    prof = pd.DataFrame(
        {"p_mw": study.profile_mw.to_numpy()},
        index=pd.Index(study.profile_mw.index, name="time_utc"),
    )
    csv(f"profile_{freq}", prof, {"p_mw": "MW"})
    for name, st in study.event_studies.items():
        csv(
            f"event_{name}_phases",
            st.phases,
            {
                "p_mw_mean": "MW",
                "pcc_vm_min_pu": "pu",
                "pcc_vm_mean_pu": "pu",
                "pcc_vm_max_pu": "pu",
                "network_vm_min_pu": "pu",
                "network_vm_max_pu": "pu",
                "trafo_loading_max_percent": "%",
                "line_loading_max_percent": "%",
            },
        )
    files.update(export_dynamic_inputs(study, out))
    for name in study.event_studies:
        units[f"event_{name}_pq.csv"] = {
            "p_mw": "MW",
            "q_mvar": "Mvar",
            "p_base_mw": "MW",
            "pcc_vm_pu": "pu",
        }
    units["rack_ride_through.csv"] = {
        "v_transfer_pu": "pu",
        "t_transfer_s": "s",
        "return_delay_s": "s",
        "stagger_s": "s",
        "return_ramp_mw_per_min": "MW/min",
        "peak_mw": "MW",
    }
    units["envelope.csv"] = {
        "duration_s": "s",
        f"{study.envelope.quantity}_threshold": study.envelope.quantity.split("_")[-1],
    }
    if study.normal is not None:
        csv("feeder_normal_summary", study.normal.summary())

    figures: dict[str, str] = {}
    figures["profile"] = profile_fig(study, out / "profile.png", title).name
    if len(study.ramps):
        figures["ramps"] = ramps_fig(study, out / "ramps.png").name
    figures["ldc"] = ldc_fig(study, out / "ldc.png").name
    figures["spectrum"] = spectrum_fig(study, out / "spectrum.png").name
    for name, st in study.event_studies.items():
        sags = None
        if name == "ride_through" and study.ride_through is not None:
            t = study.ride_through.sags
            sags = [
                Sag(a, b, c)
                for a, b, c in zip(t["start"], t["residual_pu"], t["duration_s"], strict=True)
            ]
        figures[f"event_{name}"] = event_fig(st, out / f"event_{name}.png", sags).name
    if study.normal is not None:
        from gridlink.grid.feeder import plot_voltage

        figures["feeder_normal"] = plot_voltage(
            study.normal,
            out / "feeder_normal.png",
            title=f"{study.facts['network']}, facility at bus {study.facts['bus']}",
        ).name
    for key, name in figures.items():
        files[f"{key}_png"] = out / name

    stats = {
        "title": title,
        "facts": study.facts,
        "notes": study.notes,
        "ramps": _records(study.ramps) if len(study.ramps) else [],
        "ramp_windows_not_measured": study.windows_not_measured,
        "hours_above": _records(study.hours_above),
        "spectrum": {
            "nyquist_hz": study.spectrum.nyquist_hz,
            "resolution_hz": study.spectrum.resolution_hz,
            "segment_s": study.spectrum.segment_s,
            "variance_mw2": study.spectrum.variance_mw2,
            "bands": _records(study.spectrum.bands),
            "statement": study.spectrum.statement(),
        },
        "worst_case_loss": study.worst_case,
        "events": {
            n: {"summary": st.summary, "phases": _records(st.phases)}
            for n, st in study.event_studies.items()
        },
        "envelope": {
            "source": study.envelope.source,
            "side": study.envelope.side,
            "quantity": study.envelope.quantity,
            "threshold": list(study.envelope.threshold),
            "duration_s": list(study.envelope.duration_s),
        },
        "racks": {
            "n": int(len(study.rack_settings)),
            "compliant_with_envelope": int(study.rack_settings["compliant_with_envelope"].sum()),
        },
        "ride_through": None
        if study.ride_through is None
        else {
            "sags": _records(study.ride_through.sags),
            "n_transferred": study.ride_through.n_transferred,
            "n_envelope_violations": int(study.ride_through.racks["envelope_violation"].sum()),
        },
        "normal_feeder": None if study.normal is None else _records(study.normal.summary()),
        "coincidence": study.coincidence,
        "timings_s": study.timings_s,
        "units": {
            "facts": {
                "horizon_h": "h",
                "step_s": "s",
                "peak_mw": "MW",
                "mean_mw": "MW",
                "min_mw": "MW",
                "energy_mwh": "MWh",
                "largest_step_mw": "MW",
                "step_threshold_mw": "MW",
                "event_step_s": "s",
                "nyquist_hz": "Hz",
                "profile_peak_mw": "MW",
            },
            "events.summary": {
                "event_step_mw": "MW",
                "return_step_mw": "MW",
                "max_lost_mw": "MW",
                "energy_not_served_mwh": "MWh",
                "voltage_step_pu": "pu",
                "voltage_rise_vs_baseline_pu": "pu",
                "trafo_loading_max_percent": "%",
                "step_s": "s",
            },
            "worst_case_loss": {"loss_mw": "MW", "limit_mw": "MW", "margin_mw": "MW"},
            **units,
        },
    }
    files["statistics"] = out / "statistics.json"
    files["statistics"].write_text(json.dumps(json_safe(stats), indent=2), encoding="utf-8")
    files["report"] = out / "report.html"
    files["report"].write_text(_html(study, title, figures, files), encoding="utf-8")
    return files


def write_report(
    study: InterconnectionStudy,
    out: str | Path,
    *,
    overwrite: bool = False,
    title: str = "facility",
) -> dict[str, Path]:
    """Write the report folder atomically (:func:`traces.outputs.staged_folder`).

    Parameters
    ----------
    study : InterconnectionStudy
        From :func:`gridlink.studies.interconnection.study.run_study`.
    out : str or Path
        Target folder (must not exist unless ``overwrite``).
    overwrite : bool
        Replace an existing folder (only after the new report is complete).
    title : str
        Title of the page.

    Returns
    -------
    dict of str to Path
        Every file written, at its final location.

    Raises
    ------
    traces.outputs.OutputError
        ``out`` holds results and ``overwrite`` is False (checked before anything is
        written; the previous report survives a failed run).
    """
    final = Path(out)
    with staged_folder(final, overwrite=overwrite, name="--out") as tmp:
        files = _write_all(study, tmp, title)
    logger.info("interconnection report written to %s", final)
    return {k: final / p.relative_to(tmp) for k, p in files.items()}
