"""The main job, ``gridlink demo``: from LLM traffic to an AI datacenter's load at the PCC.

With no arguments it simulates a 240-server hall (10 rows x 6 racks x 4 servers) of
8-GPU servers as they are built (8 x H100, two TP4 replicas per server) running the
shipped measured ``llama-3.1-70b_H100_tp4`` configuration (:data:`DEFAULT_CONFIG_ID`: the
paper's case-study model class on a standard deployment, the largest measured bundle, all
four baselines, and concurrency levels where its classifier has data; the conversation
trace's long prompts lie beyond its fitted token range and are flagged), driven by the real
Azure LLM production trace (the 2023 conversation trace shipped in :mod:`traces.workload.azure`,
replayed per replica from independent random offsets and thinned to the per-replica rate),
and writes into ``--out``:

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

from gridlink.studies._json import json_safe
from traces.facility import (
    AZURE_ATTRIBUTION,
    PAPER_METHODS,
    FacilityResult,
    FacilitySpec,
    WorkloadScenario,
    simulate_methods,
)
from traces.outputs import staged_folder

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

#: Preferred shipped configuration for the demo: Llama 3.1 70B on H100 at TP4, two
#: replicas per 8-GPU server.  Why: the paper's case study runs a 70B model; it is the
#: largest measured bundle (1,680 requests, 2,594 samples) with every baseline measured;
#: replaying the Azure *conversation* trace at its training rate (2.5 req/s per replica)
#: keeps ~20 % of its busy steps on sparsely fitted concurrency levels, inside the
#: concurrency-level envelope (the code trace's short requests put > 80 % there and warn;
#: the conversation prompts exceed the fitted token range, which the run flags); and two replicas
#: per server keep the 240-server hall within 2 minutes on 2 cores (qwen3-8b_A100_tp1,
#: the configuration with the most data, would be 8 replicas per server and 4x the cost).
DEFAULT_CONFIG_ID: str = "llama-3.1-70b_H100_tp4"

#: GPUs per server of the demo hall (servers as they are built: 8 x H100, an HGX H100).
DEFAULT_GPUS_PER_SERVER: int = 8


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
        Hall topology (10 x 6 x 4 servers of :data:`DEFAULT_GPUS_PER_SERVER` = 8 GPUs,
        8 / TP replicas per server); ``gpus_per_server=None`` puts one replica per
        server (the configuration's TP), 8 / TP times cheaper.
    horizon_s : float
        Simulated duration [s] (default 1 h, the span of the shipped Azure trace).
    rate_per_replica_rps : float
        Mean requests per second per replica [req/s]; 2.5 req/s is the default
        configuration's training rate (2.59 req/s over its request window).
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
    grid_studies : bool
        Run the pandapower feeder study and the PyPSA capacity-expansion stress test.
    overwrite : bool
        Replace an existing non-empty ``out_dir`` as a whole (refused otherwise).
    """

    out_dir: Path = Path("gridlink-demo")
    config_id: str | None = None
    rows: int = 10
    racks_per_row: int = 6
    servers_per_rack: int = 4
    gpus_per_server: int | None = DEFAULT_GPUS_PER_SERVER
    horizon_s: float = 3600.0
    rate_per_replica_rps: float = 2.5
    azure_trace: str = "conv"
    seed: int = 0
    resolution: str = "1min"
    row_limit_kw: float = 600.0
    oversub_seeds: int = 5
    oversub_horizon_s: float = 300.0
    correlations: tuple[float, ...] = (0.0, 0.5, 1.0)
    correlation_seeds: int = 2
    workers: int | None = None
    progress: bool = True
    grid_studies: bool = True
    overwrite: bool = False


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
    from traces.model.registry import available_ids

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
        from traces.model.registry import load_configuration

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


#: Feeder of the demo's grid study (pandapower's CIGRE MV benchmark, offline).
FEEDER_NETWORK: str = "cigre_mv"
#: Facility bus on that feeder (a 20 kV bus right below the HV/MV transformers).
FEEDER_BUS: int = 1
#: The feeder's own loads at half their design peak: at full design peak CIGRE MV already
#: sits at 0.923 pu with its transformer at 101 % before any facility is added.
FEEDER_LOAD_SCALING: float = 0.5
#: Days of the annual fast path fed to the capacity-expansion study (hourly snapshots).
EXPANSION_DAYS: int = 7
#: Background demand of the example system as a multiple of the facility's nameplate, so
#: the facility is a large load on that system (about a fifth of its peak).
EXPANSION_BACKGROUND_FACTOR: float = 4.0


def run_feeder_step(
    results: dict[str, FacilityResult], out_dir: Path, *, n_servers: int
) -> dict[str, Any]:
    """pandapower feeder study of the hall's PCC load (:mod:`gridlink.grid.feeder`).

    Every method's PCC profile (model, TDP, mean, LUT) is run as a time series on
    :data:`FEEDER_NETWORK` at bus :data:`FEEDER_BUS` (power factor 0.95 lagging), and the
    hosting capacity of the bus is found in servers, for the model's per-server PCC shape
    and for the TDP nameplate, by bisection.

    Parameters
    ----------
    results : dict of str to FacilityResult
        The hall run per method; ``pcc_mw`` is the PCC load [MW] (UTC index).
    out_dir : Path
        Demo output folder: ``feeder_comparison.csv``, ``feeder_voltage.png``.
    n_servers : int
        Servers in the hall (for the per-server shape of the hosting capacity).

    Returns
    -------
    dict
        JSON-serialisable facts merged into ``summary.json["feeder"]``.
    """
    from gridlink.grid.feeder import (
        compare_profiles,
        hosting_capacity,
        load_network,
        plot_voltage,
        run_feeder,
    )

    net = load_network(FEEDER_NETWORK, load_scaling=FEEDER_LOAD_SCALING)
    table = compare_profiles(net, FEEDER_BUS, {m: r.pcc_mw for m, r in results.items()})
    table.to_csv(out_dir / "feeder_comparison.csv")
    model_run = run_feeder(net, FEEDER_BUS, results["model"].pcc_mw)
    plot_voltage(
        model_run,
        out_dir / "feeder_voltage.png",
        title=f"{FEEDER_NETWORK} (loads x{FEEDER_LOAD_SCALING}), hall at bus {FEEDER_BUS}",
    )
    hosting: dict[str, Any] = {}
    for method in ("model", "tdp"):
        shape = results[method].pcc_mw / n_servers
        shape.attrs["unit"] = "MW"
        hc = hosting_capacity(net, FEEDER_BUS, shape, unit="servers")
        hosting[method] = {
            "servers": hc.capacity,
            "peak_mw": hc.capacity_peak_mw,
            "binding_constraint": hc.binding_constraint,
            "binding_element": hc.binding_element,
        }
    return {
        "network": FEEDER_NETWORK,
        "bus": FEEDER_BUS,
        "load_scaling": FEEDER_LOAD_SCALING,
        "power_factor": 0.95,
        "comparison": table.drop(columns=["binding_time"], errors="ignore").to_dict(orient="index"),
        "hosting_capacity_servers": hosting,
    }


def run_expansion_step(
    spec: FacilitySpec, out_dir: Path, *, rate_per_replica_rps: float, seed: int
) -> dict[str, Any]:
    """PyPSA capacity-expansion stress test of the hall (:mod:`gridlink.grid.expansion`).

    The hall's load over :data:`EXPANSION_DAYS` days of hourly snapshots comes from the
    annual fast path (:func:`gridlink.annual.annual_load`, calibrated on the same shipped
    configuration with the real 250 ms generator; diurnal and weekly traffic around the
    demo's per-replica rate).  The shipped example system (extendable gas, wind, solar,
    battery; background demand :data:`EXPANSION_BACKGROUND_FACTOR` x the hall's nameplate)
    is optimised with HiGHS with the hall booked at TDP, at its flat mean and with its
    generated shape.

    Parameters
    ----------
    spec : FacilitySpec
        The demo hall (configuration, servers, GPUs per server, base IT power, PUE).
    out_dir : Path
        Demo output folder: ``expansion_summary.csv``, ``expansion_facility_p_set.csv``.
    rate_per_replica_rps : float
        Mean offered load per replica [req/s].
    seed : int
        Seed of the traffic and of the example system's weather.

    Returns
    -------
    dict
        JSON-serialisable facts merged into ``summary.json["expansion"]``.
    """
    from gridlink.annual import AnnualScenario, FleetPhase, annual_load, nameplate_mw
    from gridlink.grid.expansion import comparison_profiles, example_network, run_expansion_study

    day0 = pd.Timestamp(spec.start).tz_convert("UTC").floor("D")
    cid = spec.server_configs()[0]
    scenario = AnnualScenario(
        fleet=(FleetPhase(day0, {cid: spec.n_servers}, gpus_per_server=spec.gpus_per_server),),
        start=day0,
        days=EXPANSION_DAYS,
        rate_per_replica_rps=rate_per_replica_rps,
        tokens=spec.scenario.tokens if spec.scenario.tokens != "fixed" else "azure-conv",
        it_base_kw_per_server=spec.it_base_kw_per_server,
        pue=spec.pue,
        seed=seed,
    )
    shape = annual_load(scenario)
    tdp_mw = nameplate_mw(scenario, shape.curves)
    snapshots = pd.date_range(day0, periods=EXPANSION_DAYS * 24, freq="h")
    network = example_network(
        snapshots, seed=seed, background_peak_mw=EXPANSION_BACKGROUND_FACTOR * tdp_mw
    )
    result = run_expansion_study(
        comparison_profiles(shape.p_mw, tdp_mw=tdp_mw), network=network, bus=_example_bus()
    )
    result.summary.to_csv(out_dir / "expansion_summary.csv", float_format="%.6g")
    result.facility_mw.rename_axis("snapshot").to_csv(out_dir / "expansion_facility_p_set.csv")
    return {
        "hours": int(len(snapshots)),
        "background_peak_mw": EXPANSION_BACKGROUND_FACTOR * tdp_mw,
        "facility_nameplate_mw": tdp_mw,
        "summary": result.summary.to_dict(),
    }


def _example_bus() -> str:
    from gridlink.grid.expansion import EXAMPLE_BUS

    return EXAMPLE_BUS


# ---------------------------------------------------------------------------- main job


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
    opts = options or DemoOptions()
    final = Path(opts.out_dir)
    with staged_folder(final, overwrite=opts.overwrite, name="out_dir") as out:
        report = _run_demo_into(opts, out)
    report.files = {k: final / Path(v).relative_to(out) for k, v in report.files.items()}
    return report


def _run_demo_into(opts: DemoOptions, out: Path) -> DemoReport:
    """The demo's work, writing into ``out`` (the staged output folder)."""
    from gridlink.studies.planning import (
        aggregation_cv,
        interconnection_table,
        oversubscription,
        oversubscription_vs_correlation,
        plot_hierarchy,
        plot_oversubscription,
        plot_pcc,
        plot_rack_heatmap,
    )

    final = Path(opts.out_dir)
    spec = demo_spec(opts)
    timings: dict[str, float] = {}
    files: dict[str, Path] = {}

    t0 = time.perf_counter()
    logger.info("demo: hall of %d servers on %s", spec.n_servers, spec.server_configs()[0])
    results = simulate_methods(
        spec, PAPER_METHODS, workers=opts.workers, progress=opts.progress, keep_servers=True
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
        over_spec, row_limit_kw=opts.row_limit_kw, seeds=opts.oversub_seeds, methods=PAPER_METHODS
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
        for m in PAPER_METHODS
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
    summary["options"] = {
        k: v for k, v in asdict(opts).items() if k not in ("out_dir", "overwrite")
    }

    if opts.grid_studies:
        t0 = time.perf_counter()
        summary["feeder"] = run_feeder_step(results, out, n_servers=spec.n_servers)
        files["feeder_comparison"] = out / "feeder_comparison.csv"
        files["feeder_voltage_png"] = out / "feeder_voltage.png"
        timings["feeder_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        summary["expansion"] = run_expansion_step(
            spec, out, rate_per_replica_rps=opts.rate_per_replica_rps, seed=opts.seed
        )
        files["expansion_summary"] = out / "expansion_summary.csv"
        files["expansion_facility_p_set"] = out / "expansion_facility_p_set.csv"
        timings["expansion_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        from gridlink.studies.interconnection.demo import demo_section

        facts, lines = demo_section(results["model"], out)
        # the report is written into the staged folder; name where it will be
        staged, shown = str(out / "interconnection"), str(final / "interconnection")
        facts["report"] = str(facts["report"]).replace(staged, shown)
        lines = [line.replace(staged, shown) for line in lines]
        summary["interconnection"] = {**facts, "lines": lines}
        files["interconnection_report"] = out / "interconnection" / "report.html"
        timings["interconnection_s"] = time.perf_counter() - t0

    files["summary"] = out / "summary.json"
    summary["files"] = {k: str(final / v.relative_to(out)) for k, v in files.items()}
    files["summary"].write_text(json.dumps(json_safe(summary), indent=2), encoding="utf-8")
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
    feeder = report.summary.get("feeder")
    if feeder is not None:
        lines.append(
            f"\nFeeder study ({feeder['network']}, loads x{feeder['load_scaling']}, hall at bus "
            f"{feeder['bus']}, pf {feeder['power_factor']} lagging):"
        )
        cols = ["peak_mw", "vm_min_pu", "trafo_loading_max_percent", "n_violation_steps"]
        table = pd.DataFrame(feeder["comparison"]).T
        lines.append(table[[c for c in cols if c in table.columns]].to_string())
        for method, hc in feeder["hosting_capacity_servers"].items():
            lines.append(
                f"  hosting capacity with the {method} shape: {hc['servers']:.0f} servers "
                f"({hc['peak_mw']:.2f} MW peak; binding: {hc['binding_constraint']} at "
                f"{hc['binding_element']})"
            )
    expansion = report.summary.get("expansion")
    if expansion is not None:
        lines.append(
            f"\nCapacity expansion ({expansion['hours']} h, example system with "
            f"{expansion['background_peak_mw']:.2f} MW background peak; hall nameplate "
            f"{expansion['facility_nameplate_mw']:.3f} MW):"
        )
        lines.append(
            pd.DataFrame(expansion["summary"]).to_string(float_format=lambda v: f"{v:.4g}")
        )
    if "interconnection" in report.summary:
        lines.append("\n" + "\n".join(report.summary["interconnection"]["lines"]))
    lines.append("\nData: " + AZURE_ATTRIBUTION)
    lines.append("\nFiles:")
    for name, path in report.files.items():
        lines.append(f"  {name:32s} {path}")
    return "\n".join(lines)
