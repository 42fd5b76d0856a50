"""Case study: a 24-hour weekday of a 240-server hall under the Azure code diurnal shape.

Thin script: reads ``azure_diurnal_day.toml`` (topology, configuration, the 96-value
DIGITIZED ESTIMATE rate profile of 2024-05-16 with its attribution, Azure token lengths)
and calls the library: :func:`traces.facility.simulate_methods`,
:func:`gridlink.studies.planning.interconnection_table`, :func:`gridlink.studies.planning.plot_pcc`.

    python case_studies/azure_diurnal_day.py --out out/diurnal            # full day
    python case_studies/azure_diurnal_day.py --hours 1 --rows 1 --out /tmp/d  # quick look

Data: Microsoft Azure Public Dataset (Azure LLM inference trace), CC BY 4.0. The profile
is a DIGITIZED ESTIMATE read off a figure (see the config file), not trace data.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import pandas as pd

from gridlink.config import load_facility_config
from gridlink.studies.planning import interconnection_table, plot_pcc
from traces.facility import AZURE_ATTRIBUTION, simulate_methods

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=HERE / "azure_diurnal_day.toml")
    ap.add_argument("--out", type=Path, default=Path("out/azure_diurnal_day"))
    ap.add_argument("--hours", type=float, default=None, help="shorter horizon [h]")
    ap.add_argument("--start-hour", type=float, default=0.0, help="start hour of day [UTC]")
    ap.add_argument("--rows", type=int, default=None, help="fewer rows (smaller hall)")
    ap.add_argument("--methods", default="model,tdp", help="comma-separated methods")
    ap.add_argument("--workers", type=int, default=None, help="dask workers")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--overwrite", action="store_true", help="replace the results of a run")
    args = ap.parse_args(argv)

    run = load_facility_config(args.config)
    spec = run.spec
    if args.start_hour:
        # shift the clock and the profile together (the profile starts at spec.start)
        k = int(round(args.start_hour * 3600 / spec.scenario.profile_interval_s))
        prof = spec.scenario.profile[k:] + spec.scenario.profile[:k]
        spec = replace(
            spec,
            start=spec.start + pd.Timedelta(hours=args.start_hour),
            scenario=replace(spec.scenario, profile=prof),
        )
    if args.hours is not None:
        spec = replace(spec, horizon_s=args.hours * 3600.0)
    if args.rows is not None:
        spec = replace(spec, rows=args.rows)
    methods = tuple(m.strip() for m in args.methods.split(","))
    results = simulate_methods(spec, methods, workers=args.workers, progress=not args.no_progress)
    args.out.mkdir(parents=True, exist_ok=True)
    table = interconnection_table(results)
    table.to_csv(args.out / "table3.csv", float_format="%.6g")
    for m, r in results.items():
        r.write(args.out / m, meta=run.meta, overwrite=args.overwrite)
    plot_pcc(results, args.out / "pcc.png", freq=spec.resolution)
    summary = {
        "title": run.meta.get("title"),
        "profile_label": spec.scenario.profile_label,
        "attribution": AZURE_ATTRIBUTION,
        "n_servers": spec.n_servers,
        "horizon_h": spec.horizon_s / 3600,
        "table3": table.to_dict(orient="index"),
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(table.to_string(float_format=lambda v: f"{v:.4g}"))
    print(f"\nprofile: {spec.scenario.profile_label}")
    print(f"data: {AZURE_ATTRIBUTION}")
    print(f"outputs in {args.out}")
    return summary


if __name__ == "__main__":
    main()
