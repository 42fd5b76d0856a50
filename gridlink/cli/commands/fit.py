"""``gridlink fit``: fit power-trace configurations from measured bundles."""

from __future__ import annotations

from pathlib import Path

import typer

from gridlink.cli.errors import name_flags


def register(app: typer.Typer) -> None:
    """Register the ``fit`` command on ``app``."""

    name_flags("fit", {"out_dir": "--out", "data_root": "--data", "config_ids": "--config-id"})

    @app.command("fit")
    def fit(
        data: list[Path] = typer.Option(
            ...,
            "--data",
            help="Root of measured bundles (<config_id>/<run_id>/power.csv ...); repeat for "
            "several roots (e.g. powertrace_sim and powertrace_sim_incoming).",
        ),
        out: Path = typer.Option(
            ..., "--out", help="Output folder for <config_id>.json/.safetensors."
        ),
        config_id: list[str] = typer.Option(
            None, "--config-id", help="Fit only this configuration (repeatable); default: all."
        ),
        seed: int = typer.Option(
            0, "--seed", help="Seed of mixture, surrogate draws and classifier."
        ),
        max_epochs: int = typer.Option(60, "--max-epochs", min=1, help="Classifier epoch limit."),
        feature_set: str = typer.Option(
            "auto",
            "--feature-set",
            help="auto (held-out choice per configuration, else f2), f2 (A_t, dA_t), "
            "f4 (+ prefill tokens, decode rate), f4l (log1p of those) or fl (log1p of the "
            "work ledger's prefilled / emitted tokens and KV tokens).",
        ),
        transfer: bool = typer.Option(
            True,
            "--transfer/--no-transfer",
            help="Also build the transferred paper configurations from DATA/reference_params.",
        ),
        overwrite: bool = typer.Option(
            False, "--overwrite", help="Replace configurations already in --out."
        ),
    ) -> None:
        """Fit power-state mixture, BiGRU classifier and sampler per configuration.

        Wilkins et al. 2026, Sec. 3; writes <config_id>.json + .safetensors with provenance.
        """
        from traces.measured.training import fit_all

        for root in data:
            if not root.is_dir():
                raise typer.BadParameter(f"--data {root} is not a folder", param_hint="--data")
        if feature_set not in ("auto", "f2", "f4", "f4l", "fl"):
            raise typer.BadParameter(
                f"must be auto, f2, f4, f4l or fl, got {feature_set!r}", param_hint="--feature-set"
            )
        cfgs = fit_all(
            list(data),
            out,
            config_ids=config_id or None,
            seed=seed,
            max_epochs=max_epochs,
            feature_set=feature_set,
            transfer=transfer,
            overwrite=overwrite,
        )
        for c in cfgs:
            typer.echo(f"{c.config_id:36s} {c.source:11s} K={c.n_states:<3d} sampler={c.sampler}")
        typer.echo(f"wrote {len(cfgs)} configuration(s) to {out}")
