"""``gridlink feeder``: play a facility's PCC profile on a pandapower feeder.

Input profile format (read by :func:`gridlink.profiles.read_profile`): a
``p_mw`` column (active power at the PCC [MW], consumer sign convention, float)
on a tz-aware regular ``DatetimeIndex`` (or a tz-aware ``time`` column), interval
beginning; an optional ``q_mvar`` column [Mvar] replaces ``--pf``.

Outputs written to ``--out DIR``:

``feeder_steps.csv`` / ``.parquet``
    One row per step (UTC ``time``): ``step``, ``p_mw``, ``q_mvar``, ``converged``,
    ``vm_min_pu``, ``vm_max_pu``, ``line_loading_max_percent``,
    ``trafo_loading_max_percent``, ``violation``, ``facility_bus_vm_pu``.
``feeder_summary.csv``
    One row per constraint (see :meth:`gridlink.grid.feeder.FeederResult.summary`).
``vm_pu.parquet``, ``line_loading_percent.parquet``, ``trafo_loading_percent.parquet``
    Full element tables (columns are pandapower indices, as strings).
``feeder_voltage.png``
    Voltage envelope over time with the limits.
"""

from __future__ import annotations

from pathlib import Path

import typer

from gridlink.cli.errors import name_flags


def register(app: typer.Typer) -> None:
    """Register the ``feeder`` command on ``app``."""

    name_flags(
        "feeder",
        {"pf": "--pf", "vm_min_pu": "--vm-min", "vm_max_pu": "--vm-max",
         "line_loading_max_percent": "--loading-max", "trafo_loading_max_percent": "--loading-max",
         "load_scaling": "--load-scaling", "network": "--network", "bus": "--bus",
         "backend": "--backend", "freq": "--freq", "profile": "--profile"},
    )  # fmt: skip

    @app.command("feeder")
    def feeder(
        profile: Path = typer.Option(
            ...,
            "--profile",
            exists=True,
            dir_okay=False,
            help="Profile (.parquet or .csv): 'p_mw' column [MW] on a tz-aware DatetimeIndex "
            "(or 'time' column).",
        ),
        network: str = typer.Option(
            "cigre_mv", "--network", help="pandapower network: cigre_mv, mv_oberrhein, case33bw."
        ),
        bus: int = typer.Option(..., "--bus", help="Index of the PCC bus in net.bus."),
        pf: float = typer.Option(
            0.95, "--pf", help="Power factor of the facility, 0 < pf <= 1 (plausible >= 0.7)."
        ),
        leading: bool = typer.Option(False, "--leading", help="Leading instead of lagging pf."),
        freq: str = typer.Option(
            None, "--freq", help="Study step, e.g. '15min' (energy-preserving resampling)."
        ),
        load_scaling: float = typer.Option(
            1.0, "--load-scaling", help="Multiplier on the network's own loads (background)."
        ),
        vm_min: float = typer.Option(0.95, "--vm-min", help="Lower voltage limit [pu]."),
        vm_max: float = typer.Option(1.05, "--vm-max", help="Upper voltage limit [pu]."),
        loading_max: float = typer.Option(
            100.0, "--loading-max", help="Line and transformer loading limit [%]."
        ),
        backend: str = typer.Option("auto", "--backend", help="auto, fast or pandapower."),
        out: Path = typer.Option(
            None, "--out", file_okay=False, help="Folder for tables (CSV/Parquet) and the plot."
        ),
        overwrite: bool = typer.Option(
            False, "--overwrite", help="Replace an existing --out folder as a whole."
        ),
        allow_implausible: list[str] = typer.Option(
            None,
            "--allow-implausible",
            help="Accept a value outside its plausible range (repeatable): power_factor, "
            "facility_p_mw (docs/hardening.md).",
        ),
    ) -> None:
        """Voltages, loading and limit violations of a facility profile on a feeder (pandapower)."""
        import pandas as pd

        from gridlink.grid.feeder import (
            FeederError,
            Limits,
            load_network,
            plot_voltage,
            read_profile,
            read_profile_q,
            run_feeder,
        )
        from traces.outputs import check_output, staged_folder

        p = read_profile(profile)
        q = read_profile_q(profile)
        if out is not None:  # inputs first, then the output, both before the study
            check_output(out, overwrite=overwrite, folder=True, name="--out")
        net = load_network(network, load_scaling=load_scaling)
        limits = Limits(vm_min, vm_max, loading_max, loading_max)
        if q is not None and freq is not None:
            raise FeederError("--freq cannot be combined with a q_mvar column; resample first")
        res = run_feeder(
            net, bus, p, pf=pf, lagging=not leading, q_mvar=q, freq=freq, limits=limits,
            backend=backend, allow_implausible=allow_implausible or (),  # type: ignore[arg-type]
        )  # fmt: skip

        summary = res.summary()
        typer.echo(
            f"{network} bus {bus}: {len(res.time)} steps of {res.step_h * 60:g} min "
            f"({res.time[0]} .. {res.time[-1]}), peak {res.p_mw.max():.3f} MW, "
            f"backend {res.backend}, {res.n_power_flows} power flows in {res.elapsed_s:.2f} s"
        )
        with pd.option_context("display.width", 160, "display.max_columns", 20):
            typer.echo(summary.to_string(float_format=lambda v: f"{v:.4g}"))
        n_viol = int(res.violations["any"].sum())
        if res.passes:
            typer.echo("no violations")
        else:
            b = res.binding
            typer.echo(
                f"{n_viol} step(s) in violation ({n_viol * res.step_h:g} h); binding: "
                f"{b['constraint']} at {b['element']} ({b['worst_time']})"
            )
        if out is None:
            return
        with staged_folder(out, overwrite=overwrite, name="--out") as tmp:
            steps = res.to_frame()
            steps.to_csv(tmp / "feeder_steps.csv")
            steps.to_parquet(tmp / "feeder_steps.parquet")
            summary.to_csv(tmp / "feeder_summary.csv")
            for name, table in (
                ("vm_pu", res.vm_pu),
                ("line_loading_percent", res.line_loading_percent),
                ("trafo_loading_percent", res.trafo_loading_percent),
            ):
                table.rename(columns=str).to_parquet(tmp / f"{name}.parquet")
            title = f"{network}, facility at bus {bus}"
            plot_voltage(res, tmp / "feeder_voltage.png", title=title)
        typer.echo(f"wrote {out}")
