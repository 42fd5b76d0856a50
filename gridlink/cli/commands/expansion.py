"""``gridlink expansion``: capacity-expansion stress test of a facility's load shape."""

from __future__ import annotations

from pathlib import Path

import typer

from gridlink.cli.errors import name_flags


def register(app: typer.Typer) -> None:
    """Register the ``expansion`` command on ``app``."""

    name_flags(
        "expansion",
        {"tdp_mw": "--tdp-mw", "rate_per_replica_rps": "--rate", "profile": "--profile"},
    )  # fmt: skip

    @app.command("expansion")
    def expansion(
        profile: Path | None = typer.Option(
            None,
            "--profile",
            exists=True,
            dir_okay=False,
            help="Facility PCC load (.parquet or .csv): UTC timestamps and a power column "
            "named with its unit (p_mw, p_kw).",
        ),
        config: str | None = typer.Option(
            None,
            "--config",
            help="Shipped configuration id: build the facility profile with the annual fast "
            "path (gridlink.annual, default diurnal/weekly traffic) instead of --profile.",
        ),
        servers: int = typer.Option(
            10_000, "--servers", min=1, help="With --config: number of servers."
        ),
        rate: float = typer.Option(
            1.0, "--rate", min=0.0, help="With --config: mean offered load per replica [req/s]."
        ),
        start: str = typer.Option(
            "2025-07-14", "--start", help="With --config: first day (UTC) of the horizon."
        ),
        tdp_mw: float | None = typer.Option(
            None,
            "--tdp-mw",
            help="Facility nameplate (TDP-based) power [MW] for the 'tdp' case; with --config it "
            "is derived from the configuration's TDP.",
        ),
        hours: int = typer.Option(168, "--hours", min=2, help="Hourly snapshots to optimise."),
        seed: int = typer.Option(0, "--seed", help="Seed of the example network's weather."),
        out: Path | None = typer.Option(
            None,
            "--out",
            file_okay=False,
            help="Write summary.csv, prices.csv and facility-p_set.csv (PyPSA layout) here.",
        ),
        overwrite: bool = typer.Option(
            False, "--overwrite", help="Replace an existing --out folder as a whole."
        ),
        allow_implausible: list[str] = typer.Option(
            None,
            "--allow-implausible",
            help="Accept a value outside its plausible range (repeatable): facility_p_mw, "
            "facility_p_mw_per_nameplate, expansion_build_per_peak (docs/hardening.md).",
        ),
    ) -> None:
        """Optimise the shipped example system (gas, wind, solar, battery) with the facility
        booked at TDP, at its flat mean and with its profile; print the comparison table
        (capacities MW/MWh, system cost USD, coincident peak, unserved energy, prices)."""
        import pandas as pd

        from gridlink.grid.expansion import comparison_profiles, run_expansion_study
        from gridlink.grid.pypsa import export_load_csv
        from traces.outputs import check_output, staged_folder

        if (profile is None) == (config is None):
            raise typer.BadParameter("give exactly one of --profile or --config")
        allow = tuple(allow_implausible or ())
        if profile is not None:
            from gridlink.profiles import ProfileFileError, read_profile

            try:
                series = read_profile(profile)
            except ProfileFileError as exc:
                raise typer.BadParameter(str(exc), param_hint="--profile") from exc
        if out is not None:  # inputs first, then the output, both before the study
            check_output(out, overwrite=overwrite, folder=True, name="--out")
        if profile is None:
            from gridlink.annual import AnnualScenario, FleetPhase, annual_load, nameplate_mw

            assert config is not None  # exactly one of --profile / --config, checked above

            try:
                day0 = pd.Timestamp(start, tz="UTC").floor("D")
            except ValueError as exc:
                raise typer.BadParameter(f"not a date: {start!r}", param_hint="--start") from exc
            scenario = AnnualScenario(
                fleet=(FleetPhase(day0, {config: servers}),),
                start=day0,
                days=-(-hours // 24) + 1,
                rate_per_replica_rps=rate,
                seed=seed,
            )
            shape = annual_load(scenario)  # calibrates the response curve (seconds)
            series = shape.p_mw
            if tdp_mw is None:
                tdp_mw = nameplate_mw(scenario, shape.curves)
        first = series.index[0].tz_convert("UTC").ceil("h")
        snapshots = pd.date_range(first, periods=hours, freq="h")
        # the flat-mean case must carry the profile's energy over the studied hours
        window = (series.index >= first) & (series.index < first + pd.Timedelta(hours=hours))
        series = series.loc[window]
        profiles = comparison_profiles(series, tdp_mw=tdp_mw, allow_implausible=allow)
        result = run_expansion_study(
            profiles, snapshots=snapshots, seed=seed, allow_implausible=allow
        )
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            typer.echo(
                f"capacity expansion over {hours} h from {snapshots[0]} "
                f"(example network, seed {seed}); costs in USD for the horizon"
            )
            typer.echo(result.summary.round(2).to_string())
        if out is not None:
            with staged_folder(out, overwrite=overwrite, name="--out") as tmp:
                result.summary.to_csv(tmp / "summary.csv")
                result.price.rename_axis("snapshot").to_csv(tmp / "prices.csv")
                facility = result.facility_mw.drop(columns=["no facility"], errors="ignore")
                facility.rename_axis("snapshot").to_csv(tmp / "facility-p_set.csv")
                export_load_csv(series, tmp / "facility-profile.csv", name="ai_facility")
            typer.echo(f"wrote {out}/summary.csv, prices.csv, facility-p_set.csv")
