"""The ``gridlink`` command line (typer).

Each command lives in its own module under :mod:`gridlink.cli.commands` and registers
itself on :data:`app`; heavy imports (torch, pandapower, pypsa) happen inside the
command bodies so ``gridlink --help`` stays fast.
"""

from __future__ import annotations

import logging

import typer

from gridlink.cli.commands import register_all
from gridlink.cli.errors import HandledGroup

app = typer.Typer(
    name="gridlink",
    help="From LLM inference traffic to grid models: GPU power traces, facility PCC load, "
    "pandapower and PyPSA studies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help text is plain: units in brackets ([s], [req/s]) stay visible
    cls=HandledGroup,
)


@app.callback()
def _main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress at INFO level."),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


register_all(app)
