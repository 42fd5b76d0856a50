"""CLI commands; each module defines ``register(app: typer.Typer) -> None``."""

from __future__ import annotations

from importlib import import_module

import typer

#: Command modules, registered in this order (one per line).
COMMANDS: tuple[str, ...] = (
    "fit",
    "generate_server",
    "generate",
    "demo",
    "expansion",
    "evaluate",
    "feeder",
    "interconnection",
)


def register_all(app: typer.Typer) -> None:
    """Register every command module in :data:`COMMANDS` on ``app``."""
    for name in COMMANDS:
        import_module(f"gridlink.cli.commands.{name}").register(app)
