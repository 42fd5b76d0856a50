"""``gridlink generate-server``: one server's 250 ms power trace from a shipped configuration."""

from __future__ import annotations

from pathlib import Path

import typer

from gridlink.cli.errors import name_flags


def register(app: typer.Typer) -> None:
    """Register the ``generate-server`` command on ``app``."""

    name_flags(
        "generate-server",
        {"rate_per_s": "--rate", "duration_s": "--duration", "max_batch": "--max-batch",
         "source": "--azure", "tokens": "--tokens"},
    )  # fmt: skip

    @app.command("generate-server")
    def generate_server(
        config_id: str = typer.Option(
            ..., "--config-id", help="Shipped configuration id or a path to a saved <id>.json."
        ),
        out: Path = typer.Option(..., "--out", help="Output file, .parquet or .csv."),
        rate: float = typer.Option(None, "--rate", help="Poisson arrival rate [req/s]."),
        duration: float = typer.Option(
            None, "--duration", help="Horizon [s] (with --rate, or a window of --azure)."
        ),
        azure: str = typer.Option(
            None, "--azure", help="Replay a shipped Azure 2023 trace: code or conv."
        ),
        tokens: str = typer.Option(
            "conv", "--tokens", help="Token lengths for --rate: Azure 2023 'code' or 'conv' table."
        ),
        seed: int = typer.Option(0, "--seed", help="Seed (same seed -> identical trace)."),
        max_batch: int = typer.Option(
            64, "--max-batch", min=1, help="Surrogate max running batch."
        ),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
    ) -> None:
        """Generate one server's node power [W] at 250 ms from a fitted configuration.

        Request schedule -> batching surrogate -> BiGRU states -> per-state power
        (Wilkins et al. 2026).
        """
        import numpy as np

        from traces.model import FittedConfiguration
        from traces.model.registry import load_configuration
        from traces.workload.arrivals import poisson, replay_azure
        from traces.workload.schedule import TokenDistribution

        if (rate is None) == (azure is None):
            raise typer.BadParameter("give exactly one of --rate (with --duration) or --azure")
        if out.suffix not in (".parquet", ".csv"):
            raise typer.BadParameter(f"--out must end in .parquet or .csv, got {out.name}")
        from traces.model import ArtifactError
        from traces.model.registry import RegistryError
        from traces.outputs import atomic_path, check_output

        check_output(out, overwrite=overwrite, folder=False, name="--out")
        if rate is not None and (duration is None or duration <= 0):
            raise typer.BadParameter("--rate needs --duration > 0 [s]")
        try:
            cfg = (
                FittedConfiguration.load(Path(config_id))
                if config_id.endswith(".json")
                else load_configuration(config_id)
            )
        except (RegistryError, ArtifactError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--config-id") from exc
        rng = np.random.default_rng(seed)
        if rate is not None:
            sched = poisson(rate, duration, TokenDistribution.from_azure(tokens), rng=rng)
        else:
            sched = replay_azure(azure, duration_s=duration, rng=rng)
        if len(sched) == 0:
            raise typer.BadParameter("the schedule has no requests; raise --rate or --duration")
        trace = cfg.generate(sched, rng=rng, max_batch=max_batch)
        df = trace.power_w.to_frame("power_w")
        df["state"] = trace.states
        df["active"] = trace.features.active
        with atomic_path(out) as tmp:
            if out.suffix == ".parquet":
                df.to_parquet(tmp)
            else:
                df.to_csv(tmp, index_label="time_utc")
        typer.echo(
            f"{cfg.config_id}: {len(df)} steps of 250 ms, {len(sched)} requests, mean "
            f"{df['power_w'].mean():.1f} W, peak {df['power_w'].max():.1f} W, "
            f"{trace.n_clipped} samples clipped -> {out}"
        )
