"""The main job, ``gridlink demo``: from LLM traffic to an AI datacenter's load at the PCC.

With no arguments it simulates a 240-server hall (10 rows x 6 racks x 4 servers) running a
shipped measured configuration, driven by the real Azure LLM production trace (the 2023
code trace shipped in :mod:`traces.schedule`, replayed per replica from independent random
offsets and thinned to the per-replica rate), and writes into ``--out``:

* ``table3.csv`` - interconnection sizing table (paper Table 3 layout) for the model and
  the TDP, mean and LUT baselines on identical traffic;
* ``oversubscription.csv`` / ``oversubscription_by_correlation.csv`` - racks per row under
  a 600 kW row limit (P95 and peak, across 5 seeds; paper Fig 11);
* ``aggregation_cv.csv`` - coefficient of variation per level (paper Fig 12);
* ``pcc_mw.parquet`` - PCC load of every method at the output resolution [MW];
* ``pcc.png``, ``rack_heatmap.png``, ``hierarchy.png``, ``oversubscription.png``;
* ``summary.json`` - each method mapped to ``peak_mw``, ``mean_mw``, ``peak_to_average``,
  ``load_factor``, ``max_ramp_mw_per_15min`` (plus the oversubscription answer, the
  facility and the data attribution);
* ``ATTRIBUTION.txt`` - the CC BY 4.0 attribution of the Azure trace.

Two hook points are left for the grid studies: :func:`run_feeder_step` (pandapower
feeder study of the PCC load) and :func:`run_expansion_step` (PyPSA capacity-expansion
stress test).  They are called at the end of :func:`run_demo`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from traces.facility import (
    AZURE_ATTRIBUTION,
    METHODS,
    FacilityResult,
    FacilitySpec,
    WorkloadScenario,
    simulate_methods,
)

__all__ = [
    "DEFAULT_CONFIG_ID",
    "DemoOptions",
    "DemoReport",
    "default_configuration",
    "demo_spec",
    "run_demo",
    "format_report",
    "run_feeder_step",
    "run_expansion_step",
]

logger = logging.getLogger(__name__)

#: Preferred shipped configuration for the demo (measured on an H100, TP1).
DEFAULT_CONFIG_ID: str = "qwen3-8b_H100_tp1"


@dataclass(frozen=True)
class DemoOptions:
    """Size and settings of the demo (defaults: the full 240-server hall).

    Attributes
    ----------
    out_dir : Path
        Output folder.
    config_id : str or None
        Configuration; None picks :func:`default_configuration`.
    rows, racks_per_row, servers_per_rack, gpus_per_server : int
        Hall topology (10 x 6 x 4 servers).  ``gpus_per_server`` defaults to the
        configuration's TP (one replica per server) so the default job runs in minutes on
        a laptop CPU; ``gpus_per_server=8`` is the 8-GPU hall at 8/TP x the cost (the
        BiGRU's CPU inference dominates, see benchmarks/bench_facility.py).
    horizon_s : float
        Simulated duration [s] (default 1 h, the span of the shipped Azure trace).
    rate_per_replica_rps : float
        Mean requests per second per replica [req/s]; 4 req/s is the load of the measured
        H100 bundle the default configuration was fitted on.
    azure_trace : {"code", "conv"}
        Shipped Azure trace to replay.
    seed : int
        Master seed.
    resolution : str
        Output interval of the PCC series.
    row_limit_kw : float
        Row power limit of the oversubscription question [kW].
    oversub_seeds : int
        Seeds the oversubscription answer must hold for.
    oversub_horizon_s : float
        Horizon of each oversubscription run [s] (shorter than the hall run: many racks).
    correlations : tuple of float
        Traffic correlations of the oversubscription sensitivity (0 = independent).
    correlation_seeds : int
        Seeds per correlation > 0 of that sensitivity (its rho = 0 point is the main
        answer's model row, with ``oversub_seeds`` seeds).
    workers : int or None
        dask LocalCluster workers for the hall run (None: serial).
    progress : bool
        Progress bars.
    """

    out_dir: Path = Path("gridlink-demo")
    config_id: str | None = None
    rows: int = 10
    racks_per_row: int = 6
    servers_per_rack: int = 4
    gpus_per_server: int | None = None
    horizon_s: float = 3600.0
    rate_per_replica_rps: float = 4.0
    azure_trace: str = "code"
    seed: int = 0
    resolution: str = "1min"
    row_limit_kw: float = 600.0
    oversub_seeds: int = 5
    oversub_horizon_s: float = 300.0
    correlations: tuple[float, ...] = (0.0, 0.5, 1.0)
    correlation_seeds: int = 2
    workers: int | None = None
    progress: bool = True


@dataclass
class DemoReport:
    """What the demo produced.

    Attributes
    ----------
    table3 : pandas.DataFrame
        Interconnection sizing table (index method).
    oversubscription : pandas.DataFrame
        Racks per row under the limit, per method (``racks_p95``, ``racks_peak``).
    by_correlation : pandas.DataFrame
        Model answer vs traffic correlation.
    aggregation : pandas.DataFrame
        CV per level.
    files : dict
        Name -> path of every file written.
    summary : dict
        Contents of ``summary.json``.
    results : dict
        ``method -> FacilityResult`` of the hall run.
    """

    table3: pd.DataFrame
    oversubscription: pd.DataFrame
    by_correlation: pd.DataFrame
    aggregation: pd.DataFrame
    files: dict[str, Path]
    summary: dict[str, Any]
    results: dict[str, FacilityResult] = field(repr=False)


def default_configuration() -> str:
    """The demo's configuration: :data:`DEFAULT_CONFIG_ID` if shipped, else the first
    shipped configuration (registry order).

    Raises
    ------
    RuntimeError
        No configuration is shipped.
    """
    from traces.registry import available_ids

    ids = available_ids()
    if DEFAULT_CONFIG_ID in ids:
        return DEFAULT_CONFIG_ID
    if not ids:
        raise RuntimeError("no fitted configuration is shipped in traces/data/configurations")
    logger.info("demo: %s is not shipped; using %s", DEFAULT_CONFIG_ID, ids[0])
    return ids[0]


def demo_spec(options: DemoOptions) -> FacilitySpec:
    """The hall of the demo as a :class:`~traces.facility.FacilitySpec`."""
    cid = options.config_id or default_configuration()
    gpus = options.gpus_per_server
    if gpus is None:
        from traces.registry import load_configuration

        gpus = int(load_configuration(cid).tp)
    return FacilitySpec(
        rows=options.rows,
        racks_per_row=options.racks_per_row,
        servers_per_rack=options.servers_per_rack,
        assignment=cid,
        gpus_per_server=gpus,
        scenario=WorkloadScenario(
            arrival="azure",
            rate_per_replica_rps=options.rate_per_replica_rps,
            azure_trace=options.azure_trace,  # type: ignore[arg-type]
            tokens="azure-code" if options.azure_trace == "code" else "azure-conv",
        ),
        traffic_mode="independent",
        horizon_s=options.horizon_s,
        seed=options.seed,
        resolution=options.resolution,
        start="2024-05-16T00:00:00Z",
    )


# ---------------------------------------------------------------------------- hooks


def run_feeder_step(result: FacilityResult, out_dir: Path) -> dict[str, Any] | None:
    """HOOK (lead): pandapower feeder study of the PCC load (``gridlink.feeder``).

    Parameters
    ----------
    result : FacilityResult
        The model's hall run; ``result.pcc_mw`` is the PCC load [MW] at the output
        resolution (UTC index, name ``p_mw``).
    out_dir : Path
        Demo output folder; write any files there.

    Returns
    -------
    dict or None
        JSON-serialisable facts to merge into ``summary.json["feeder"]``; None = skipped.
    """
    return None


def run_expansion_step(result: FacilityResult, out_dir: Path) -> dict[str, Any] | None:
    """HOOK (lead): PyPSA capacity-expansion stress test (``gridlink.expansion``).

    Same contract as :func:`run_feeder_step`; merged into ``summary.json["expansion"]``.
    """
    return None


# ---------------------------------------------------------------------------- main job


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and obj != obj:  # NaN
        return None
    if hasattr(obj, "item"):
        return obj.item()
    return obj


def run_demo(options: DemoOptions | None = None) -> DemoReport:
    """Run the main job and write its outputs (see the module docstring).

    Parameters
    ----------
    options : DemoOptions, optional
        Size and settings; default the full 240-server hall for one hour.

    Returns
    -------
    DemoReport
    """
    from gridlink.planning import (
        aggregation_cv,
        interconnection_table,
        oversubscription,
        oversubscription_vs_correlation,
        plot_hierarchy,
        plot_oversubscription,
        plot_pcc,
        plot_rack_heatmap,
    )

    opts = options or DemoOptions()
    out = Path(opts.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec = demo_spec(opts)
    timings: dict[str, float] = {}
    files: dict[str, Path] = {}

    t0 = time.perf_counter()
    logger.info("demo: hall of %d servers on %s", spec.n_servers, spec.server_configs()[0])
    results = simulate_methods(
        spec, METHODS, workers=opts.workers, progress=opts.progress, keep_servers=True
    )
    timings["hall_s"] = time.perf_counter() - t0

    table3 = interconnection_table(results)
    files["table3"] = out / "table3.csv"
    table3.to_csv(files["table3"], float_format="%.6g")

    pcc = pd.DataFrame({m: r.pcc_mw for m, r in results.items()})
    pcc.columns = [f"{m}_p_mw" for m in pcc.columns]
    files["pcc"] = out / "pcc_mw.parquet"
    pcc.to_parquet(files["pcc"])

    t0 = time.perf_counter()
    over_spec = replace(spec, horizon_s=min(opts.oversub_horizon_s, spec.horizon_s))
    over = oversubscription(
        over_spec, row_limit_kw=opts.row_limit_kw, seeds=opts.oversub_seeds, methods=METHODS
    )
    by_corr = oversubscription_vs_correlation(
        over_spec,
        [c for c in opts.correlations if c > 0],
        row_limit_kw=opts.row_limit_kw,
        seeds=opts.correlation_seeds,
        method="model",
    )
    if 0.0 in opts.correlations:
        by_corr.loc[0.0] = over.answer.loc["model", ["racks_p95", "racks_peak"]].to_numpy()
        by_corr = by_corr.sort_index()
    timings["oversubscription_s"] = time.perf_counter() - t0
    files["oversubscription"] = out / "oversubscription.csv"
    over.answer.to_csv(files["oversubscription"])
    files["oversubscription_by_correlation"] = out / "oversubscription_by_correlation.csv"
    by_corr.to_csv(files["oversubscription_by_correlation"])

    agg = aggregation_cv(results["model"])
    files["aggregation_cv"] = out / "aggregation_cv.csv"
    agg.to_csv(files["aggregation_cv"], float_format="%.6g")

    files["pcc_png"] = plot_pcc(results, out / "pcc.png")
    files["rack_heatmap_png"] = plot_rack_heatmap(results["model"], out / "rack_heatmap.png")
    files["hierarchy_png"] = plot_hierarchy(results["model"], out / "hierarchy.png")
    files["oversubscription_png"] = plot_oversubscription(
        over, out / "oversubscription.png", by_correlation=by_corr
    )
    files["attribution"] = out / "ATTRIBUTION.txt"
    files["attribution"].write_text(
        "Traffic: " + AZURE_ATTRIBUTION + "\nThe 2023 "
        f"{opts.azure_trace} trace shipped with gridlink (traces/data/azure) is replayed per "
        "replica from independent random offsets and thinned to the per-replica rate.\n",
        encoding="utf-8",
    )

    summary: dict[str, Any] = {
        m: {
            "peak_mw": table3.loc[m, "peak_mw"],
            "mean_mw": table3.loc[m, "mean_mw"],
            "peak_to_average": table3.loc[m, "peak_to_average"],
            "load_factor": table3.loc[m, "load_factor"],
            "max_ramp_mw_per_15min": table3.loc[m, "max_ramp_mw_per_15min"],
            "max_ramp_mw_per_1min": table3.loc[m, "max_ramp_mw_per_1min"],
            "energy_mwh": results[m].energy_mwh(),
        }
        for m in METHODS
    }
    summary["oversubscription"] = {
        "row_limit_kw": opts.row_limit_kw,
        "quantile": over.quantile,
        "seeds": opts.oversub_seeds,
        "horizon_s": over_spec.horizon_s,
        "racks_p95": over.answer["racks_p95"].to_dict(),
        "racks_peak": over.answer["racks_peak"].to_dict(),
        "capped": over.capped,
        "model_by_correlation": {str(k): v for k, v in by_corr["racks_p95"].to_dict().items()},
    }
    summary["aggregation_cv"] = agg["cv_mean"].to_dict()
    summary["facility"] = spec.to_dict()
    summary["facility"]["n_servers"] = spec.n_servers
    summary["facility"]["replicas_per_server"] = results["model"].replicas_per_server
    summary["units"] = {"peak_mw": "MW", "mean_mw": "MW", "max_ramp_mw_per_15min": "MW per 15 min"}
    summary["attribution"] = AZURE_ATTRIBUTION
    summary["timings_s"] = timings
    summary["options"] = {k: v for k, v in asdict(opts).items() if k != "out_dir"}

    feeder = run_feeder_step(results["model"], out)
    if feeder is not None:
        summary["feeder"] = feeder
    expansion = run_expansion_step(results["model"], out)
    if expansion is not None:
        summary["expansion"] = expansion

    files["summary"] = out / "summary.json"
    summary["files"] = {k: str(v) for k, v in files.items()}
    files["summary"].write_text(json.dumps(_json_safe(summary), indent=2), encoding="utf-8")
    return DemoReport(
        table3=table3,
        oversubscription=over.answer,
        by_correlation=by_corr,
        aggregation=agg,
        files=files,
        summary=summary,
        results=results,
    )


def format_report(report: DemoReport) -> str:
    """Plain-text summary for the CLI (tables and where the files are)."""
    lines = ["Interconnection sizing (paper Table 3 layout), PCC load:"]
    lines.append(report.table3.to_string(float_format=lambda v: f"{v:.4g}"))
    ov = report.summary["oversubscription"]
    lines.append(
        f"\nOversubscription: racks per row under {ov['row_limit_kw']:.0f} kW "
        f"(P{ov['quantile'] * 100:.0f} and peak, all of {ov['seeds']} seeds):"
    )
    lines.append(report.oversubscription.to_string())
    lines.append("\nModel answer (P95) vs traffic correlation (0 = independent):")
    lines.append(report.by_correlation.to_string())
    lines.append("\nCoefficient of variation of GPU power per level (paper Fig 12):")
    lines.append(report.aggregation.to_string(float_format=lambda v: f"{v:.4g}"))
    lines.append("\nData: " + AZURE_ATTRIBUTION)
    lines.append("\nFiles:")
    for name, path in report.files.items():
        lines.append(f"  {name:32s} {path}")
    return "\n".join(lines)
