"""``gridlink generate``: simulate a facility from a planner config file (paper §3.4)."""

from __future__ import annotations

from pathlib import Path

import typer

from gridlink.cli.errors import name_flags


def register(app: typer.Typer) -> None:
    """Register the ``generate`` command on ``app``."""

    name_flags("generate", {"workers": "--workers", "scheduler": "--scheduler",
                            "method": "--method", "out_dir": "--out"})  # fmt: skip

    @app.command("generate")
    def generate(
        config: Path = typer.Option(..., "--config", "-c", help="Facility config (.toml/.yaml)."),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
        csv: bool = typer.Option(False, "--csv", help="Also write CSV copies."),
        workers: int | None = typer.Option(
            None, "--workers", help="Run racks on a dask LocalCluster with N workers."
        ),
        scheduler: str | None = typer.Option(
            None, "--scheduler", help="Address of an existing dask scheduler (tcp://host:port)."
        ),
        method: str | None = typer.Option(
            None,
            "--method",
            help="Override [run] method: model, tdp, mean, lut or work (work-to-power model).",
        ),
        keep_servers: bool = typer.Option(
            False, "--keep-servers", help="Also write per-server power (large)."
        ),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar."),
        overwrite: bool = typer.Option(
            False, "--overwrite", help="Replace an existing --out folder as a whole."
        ),
        allow_implausible: list[str] = typer.Option(
            None,
            "--allow-implausible",
            help="Accept a value outside its plausible range (repeatable): pue, "
            "it_base_kw_per_server (docs/hardening.md).",
        ),
    ) -> None:
        """Simulate a facility and write Parquet (CSV on request) plus summary.json."""
        from gridlink.config import load_facility_config
        from traces.facility import METHODS, simulate_facility
        from traces.outputs import check_output

        if workers is not None and scheduler is not None:
            raise typer.BadParameter("give --workers or --scheduler, not both")
        if workers is not None and workers < 1:
            raise typer.BadParameter(f"must be >= 1, got {workers}", param_hint="--workers")
        if method is not None and method not in METHODS:
            raise typer.BadParameter(f"must be one of {list(METHODS)}, got {method!r}",
                                     param_hint="--method")  # fmt: skip
        run = load_facility_config(config, allow_implausible=allow_implausible or ())
        check_output(out, overwrite=overwrite, folder=True, name="--out")
        m = method or run.method
        flex_summary: dict[str, float] | None = None
        if run.flexibility is not None:
            if workers is not None or scheduler is not None or keep_servers:
                typer.echo(
                    "config error: a [flexibility] table runs serially; drop --workers, "
                    "--scheduler and --keep-servers",
                    err=True,
                )
                raise typer.Exit(code=2)
            from traces.facility.flexibility import simulate_curtailment, simulate_flexible

            try:
                if run.flexibility.curtailment is not None:
                    cur = simulate_curtailment(run.spec, run.flexibility, method=m)
                    result = cur.curtailed.result
                    flex_summary = {**cur.curtailed.metrics(), **cur.summary}
                else:
                    flexible = simulate_flexible(run.spec, run.flexibility, method=m)
                    result = flexible.result
                    flex_summary = flexible.metrics()
            except ValueError as exc:
                typer.echo(f"config error: {config}: {exc}", err=True)
                raise typer.Exit(code=2) from exc
        else:
            result = simulate_facility(
                run.spec,
                method=m,
                workers=workers,
                scheduler=scheduler,
                progress=progress,
                keep_servers=keep_servers,
            )
        meta = {**run.meta, "config_file": str(config)}
        files = result.write(out, csv=csv, meta=meta, overwrite=overwrite)
        if flex_summary is not None:
            import json

            from traces.outputs import write_text

            path = write_text(Path(out) / "flexibility.json", json.dumps(flex_summary, indent=2))
            files["flexibility"] = path
            for key in ("peak 250 ms [MW]", "TTFT P99 [s]", "requests delayed",
                        "requests deferred", "deferred beyond max delay"):  # fmt: skip
                if key in flex_summary:
                    typer.echo(f"{key}: {flex_summary[key]:.6g}")
        typer.echo(f"PCC peak {result.pcc_mw.max():.4f} MW, mean {result.pcc_mw.mean():.4f} MW")
        for name, path in files.items():
            typer.echo(f"  {name:14s} {path}")
