"""``gridlink demo``: the main job (240-server hall on the Azure trace -> PCC, Table 3, Fig 11-12)."""

from __future__ import annotations

from pathlib import Path

import typer

from gridlink.cli.errors import name_flags


def register(app: typer.Typer) -> None:
    """Register the ``demo`` command on ``app``."""

    name_flags(
        "demo",
        {"rate_per_replica_rps": "--rate", "resolution": "--resolution", "rows": "--rows",
         "racks_per_row": "--racks-per-row", "servers_per_rack": "--servers-per-rack",
         "gpus_per_server": "--gpus-per-server", "horizon_s": "--hours/--minutes",
         "azure_trace": "--trace", "workers": "--workers"},
    )  # fmt: skip

    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("gridlink-demo"), "--out", "-o", help="Output folder."),
        config_id: str | None = typer.Option(
            None, "--config-id", help="Shipped configuration (default: qwen3-8b_H100_tp1)."
        ),
        rows: int = typer.Option(10, "--rows", help="Rows in the hall."),
        racks_per_row: int = typer.Option(6, "--racks-per-row", help="Racks per row."),
        servers_per_rack: int = typer.Option(4, "--servers-per-rack", help="Servers per rack."),
        gpus_per_server: int | None = typer.Option(
            None,
            "--gpus-per-server",
            help="GPUs per server (default: the configuration's TP, one replica; 8 = 8-GPU hall).",
        ),
        hours: float | None = typer.Option(None, "--hours", help="Horizon [h] (default 1 h)."),
        minutes: float | None = typer.Option(None, "--minutes", help="Horizon [min]."),
        rate: float = typer.Option(4.0, "--rate", help="Requests per model replica [req/s]."),
        trace: str = typer.Option("code", "--trace", help="Azure trace: code or conv."),
        seed: int = typer.Option(0, "--seed", help="Master seed."),
        resolution: str = typer.Option("1min", "--resolution", help="PCC output interval."),
        row_limit_kw: float = typer.Option(600.0, "--row-limit-kw", help="Row limit [kW]."),
        oversub_seeds: int = typer.Option(5, "--oversub-seeds", help="Seeds for Fig 11."),
        oversub_minutes: float = typer.Option(
            5.0, "--oversub-minutes", help="Horizon of each oversubscription run [min]."
        ),
        correlation_seeds: int = typer.Option(
            2, "--correlation-seeds", help="Seeds per correlation of the sensitivity."
        ),
        workers: int | None = typer.Option(None, "--workers", help="dask workers (hall run)."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars."),
        grid_studies: bool = typer.Option(
            True,
            "--grid-studies/--no-grid-studies",
            help="Run the pandapower feeder study and the PyPSA capacity-expansion test.",
        ),
        overwrite: bool = typer.Option(
            False, "--overwrite", help="Replace an existing --out folder as a whole."
        ),
    ) -> None:
        """Run the main job and print where its tables, plots and summary.json are."""
        from gridlink.studies.demo import DemoOptions, format_report, run_demo
        from traces.outputs import check_output

        check_output(out, overwrite=overwrite, folder=True, name="--out")

        if hours is not None and minutes is not None:
            raise typer.BadParameter("give --hours or --minutes, not both")
        horizon_s = 3600.0
        if hours is not None:
            horizon_s = hours * 3600.0
        elif minutes is not None:
            horizon_s = minutes * 60.0
        opts = DemoOptions(
            out_dir=out,
            config_id=config_id,
            rows=rows,
            racks_per_row=racks_per_row,
            servers_per_rack=servers_per_rack,
            gpus_per_server=gpus_per_server,
            horizon_s=horizon_s,
            rate_per_replica_rps=rate,
            azure_trace=trace,
            seed=seed,
            resolution=resolution,
            row_limit_kw=row_limit_kw,
            oversub_seeds=oversub_seeds,
            oversub_horizon_s=oversub_minutes * 60.0,
            correlation_seeds=correlation_seeds,
            workers=workers,
            progress=progress,
            grid_studies=grid_studies,
            overwrite=overwrite,
        )
        report = run_demo(opts)
        typer.echo(format_report(report))
        typer.echo(f"\nsummary: {report.files['summary']}")
