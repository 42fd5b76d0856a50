"""``gridlink evaluate``: score a fitted configuration and the baselines on a measured bundle."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer


def _clean(v: Any) -> Any:
    """JSON-safe value: NaN/inf -> None (JSON has no NaN), numpy scalars -> float."""
    v = float(v)
    return v if math.isfinite(v) else None


def _medians(rows: Any, methods: Any, metric_names: Any, as_json: bool) -> Any:
    """Medians over seeds (and traces) per method; with ``as_json`` print the one JSON
    object ``{method: {metric: median}}`` and return None."""
    med = rows.groupby("method", sort=False)[list(metric_names)].median()
    if as_json:
        out = {m: {k: _clean(med.loc[m, k]) for k in metric_names} for m in methods}
        typer.echo(json.dumps(out))
        return None
    return med.loc[list(methods)]


def register(app: typer.Typer) -> None:
    """Register the ``evaluate`` command on ``app``."""

    @app.command("evaluate")
    def evaluate(
        config_id: str | None = typer.Option(
            None,
            "--config-id",
            help="Shipped configuration id (gridlink's registry) or a path to a saved configuration.",
        ),
        bundle: Path | None = typer.Option(
            None,
            "--bundle",
            help="Measured bundle folder (power.csv, engine.csv, requests, manifest).",
        ),
        heldout: str | None = typer.Option(
            None,
            "--heldout",
            help="Instead: held-out protocol for this configuration id (fit on training splits, "
            "score held-out traces; needs --data-root).",
        ),
        data_root: list[Path] | None = typer.Option(
            None,
            "--data-root",
            help="Root of measured bundles (for --heldout); repeat for several roots.",
        ),
        epochs: int = typer.Option(
            60, "--epochs", min=1, help="Epoch cap of the fits (--heldout)."
        ),
        feature_set: str = typer.Option("f2", "--feature-set", help="f2 or f4 (--heldout)."),
        refit_per_seed: bool = typer.Option(
            False, "--refit-per-seed", help="One model fit per seed and split (--heldout)."
        ),
        seeds: int = typer.Option(5, "--seeds", min=1, help="Evaluation seeds (medians reported)."),
        as_json: bool = typer.Option(
            False, "--json", help="Print ONE JSON object {method: {metric: median}}."
        ),
    ) -> None:
        """Fidelity of a fitted configuration and the baselines (TDP, mean, phase LUT, E[P|A_t])
        against a measured bundle: features from the bundle's request schedule through the
        configuration's surrogate; metrics are medians over the seeds (paper §4.1)."""
        import logging

        from traces.measured.evaluate import METHODS, evaluate_fitted
        from traces.measured.fidelity import METRIC_NAMES
        from traces.measured.ingest import load_bundle

        log = logging.getLogger(__name__)
        if heldout is not None:
            if data_root is None:
                raise typer.BadParameter("--heldout needs --data-root")
            from traces.measured.evaluate import evaluate_configuration

            rows = evaluate_configuration(
                heldout,
                data_root=data_root,
                seeds=tuple(range(seeds)),
                fit_kwargs={"max_epochs": epochs, "feature_set": feature_set},
                refit_per_seed=refit_per_seed,
            )
            med = _medians(rows, METHODS, METRIC_NAMES, as_json)
            if med is None:
                return
            typer.echo(
                f"{heldout}: held out {rows['heldout'].nunique()} trace(s) "
                f"({', '.join(sorted(set(rows['split'])))}); medians over traces x {seeds} seed(s)"
            )
            typer.echo(med.to_string(float_format=lambda x: f"{x:.4g}"))
            return
        if config_id is None or bundle is None:
            raise typer.BadParameter("give --config-id and --bundle (or --heldout and --data-root)")
        path = Path(config_id)
        if path.exists():
            from traces.model.configuration import FittedConfiguration

            config = FittedConfiguration.load(path)
        else:
            from traces.model.registry import load_configuration

            config = load_configuration(config_id)
        measured = load_bundle(bundle)
        if measured.config_id != getattr(config, "config_id", measured.config_id):
            log.warning(
                "bundle is %s but the configuration is %s: this is a cross-configuration test",
                measured.config_id,
                config.config_id,
            )
        rows = evaluate_fitted(config, measured, seeds=tuple(range(seeds)))
        med = _medians(rows, METHODS, METRIC_NAMES, as_json)
        if med is None:
            return
        in_sample = bool(rows["baselines_in_sample"].any())
        typer.echo(
            f"{config.config_id} on {measured.run_id}: {len(measured.power_w)} steps, "
            f"medians over {seeds} seed(s)"
        )
        if in_sample:
            typer.echo(
                "WARNING: the configuration stores no training baselines; baselines were fitted "
                "on this bundle (in-sample for them)."
            )
        typer.echo(med.to_string(float_format=lambda x: f"{x:.4g}"))
