"""The ``gridlink`` command line: the typer :data:`app` (:mod:`gridlink.cli.app`) and one
module per command under :mod:`gridlink.cli.commands`."""

from gridlink.cli.app import app

__all__ = ["app"]
