"""The CLI's one error handler: a user's mistake is one line on stderr and exit code 2.

:class:`HandledGroup` is the click group of the ``gridlink`` typer app.  When a command
raises one of the library's own errors (any exception class defined in ``traces`` or
``gridlink``: ``FacilityConfigError``, ``UnitError``, ``OutputError``, ...) or a file
system error about the user's paths (missing, not writable, disk full), it prints

    error: <message naming the flag or field and the fix>

on stderr and exits with code 2 (click's own usage errors also exit 2).  Anything else is
a genuine bug and keeps its traceback (exit code 1).  Field names of the library in the
message are replaced by the command's flags (``scenario.rate_per_replica_rps`` ->
``--rate``) with the table each command registers through :func:`name_flags`.

Exit codes: 0 success, 1 a bug (traceback), 2 a user error (bad flag, bad input file,
an existing output without ``--overwrite``, an implausible value without
``--allow-implausible``).
"""

from __future__ import annotations

import errno
import re
from collections.abc import Mapping
from typing import Any

import typer
import typer.core
import typer.exceptions

__all__ = ["HandledGroup", "EXIT_USER_ERROR", "name_flags", "is_user_error", "user_message"]

#: Exit code of a user's mistake (click uses 2 for usage errors too).
EXIT_USER_ERROR = 2

_FLAGS: dict[str, dict[str, str]] = {}

_USER_OS_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)
_USER_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.ENAMETOOLONG}


def name_flags(command: str, flags: Mapping[str, str]) -> None:
    """Register how the library's field names read as ``command``'s flags.

    Parameters
    ----------
    command : str
        Command name (``"generate-server"``).
    flags : mapping of str to str
        Library field name (last dotted part, e.g. ``"rate_per_replica_rps"``) -> flag
        (``"--rate"``).  A name with an underscore is replaced wherever it appears; a
        plain word (``"bus"``) only where it opens the message (``"bus: 999 ..."``).
    """
    _FLAGS.setdefault(command, {}).update(flags)


def is_user_error(exc: BaseException) -> bool:
    """True for the library's own errors and for file-system errors about user paths."""
    if isinstance(exc, _USER_OS_ERRORS):
        return True
    if isinstance(exc, OSError) and exc.errno in _USER_ERRNOS:
        return True
    return any(
        cls.__module__.split(".")[0] in ("traces", "gridlink")
        for cls in type(exc).__mro__
        if issubclass(cls, Exception)
    )


def user_message(exc: BaseException, command: str | None) -> str:
    """One line: the exception's message with library field names replaced by flags."""
    if isinstance(exc, OSError) and not str(exc.args[0] if exc.args else "").strip():
        text = str(exc)
    else:
        text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    text = " ".join(text.split())
    for field, flag in sorted(_FLAGS.get(command or "", {}).items(), key=lambda kv: -len(kv[0])):
        if "_" in field:  # an identifier: replaced wherever it appears
            text = re.sub(rf"(?<![\w\-.])(?:\w+\.)*{re.escape(field)}(?![\w])", flag, text)
        else:  # a plain word (network, bus): only as the message's subject
            text = re.sub(rf"^{re.escape(field)}(?=[:= ])", flag, text)
    return text


class HandledGroup(typer.core.TyperGroup):
    """Typer group that turns the library's errors into one line on stderr, exit 2."""

    def invoke(self, ctx: Any) -> Any:
        """Run the sub-command; report a user error as one line (see the module doc)."""
        try:
            return super().invoke(ctx)
        except (typer.exceptions.TyperException, typer.Exit, typer.Abort):
            raise  # typer's own usage errors (exit 2) and exits
        except Exception as exc:
            if not is_user_error(exc):
                raise
            typer.echo(f"error: {user_message(exc, ctx.invoked_subcommand)}", err=True)
            raise typer.Exit(EXIT_USER_ERROR) from None
