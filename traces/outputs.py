"""Safe outputs: refuse existing results unless asked, write to a temporary path, rename.

Every file or folder of results that ``traces`` and ``gridlink`` write goes through
this module, so that

* an existing output is refused **before any work** unless the caller passes
  ``overwrite=True`` (:func:`check_output`), and then the *whole set* is replaced (a
  folder from an earlier ``--csv`` run does not keep stale CSVs beside new Parquet);
* a reader sees either the previous result or the complete new one, never a part: a
  file is written to a temporary name in the same folder and moved into place with
  :func:`os.replace` (:func:`atomic_path`); a folder is assembled under a temporary
  name beside the target and swapped in by two renames (:func:`staged_folder`).  A
  failed or interrupted run (full disk, an exception) leaves the previous result as it
  was and removes its temporary files.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = [
    "OutputError",
    "check_output",
    "atomic_path",
    "write_text",
    "write_bytes",
    "staged_folder",
]

logger = logging.getLogger(__name__)


class OutputError(ValueError):
    """An output path that cannot be written as asked (exists, not writable, wrong kind)."""


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_output(
    path: str | os.PathLike[str],
    *,
    overwrite: bool,
    folder: bool,
    name: str = "out",
    allowed: Callable[[Path], bool] | None = None,
) -> Path:
    """Refuse an output path before any work is done.

    Parameters
    ----------
    path : path-like
        The output file or folder.
    overwrite : bool
        Accept an existing output (it is replaced as a whole once the new one is
        complete).
    folder : bool
        ``True`` for an output folder (an existing *empty* folder counts as free),
        ``False`` for a file.
    name : str
        The user's name for the path (a CLI flag such as ``--out``) for messages.
    allowed : callable, optional
        For a folder: ``allowed(file) -> bool`` says whether an existing entry is one of
        this output's own files; any other entry (a foreign file) is refused even with
        ``overwrite``, so that replacing the folder never deletes a user's files.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    OutputError
        The output exists (and ``overwrite`` is false), is of the wrong kind (a file
        where a folder is meant or the reverse), holds foreign files, or its folder is
        not writable.
    """
    p = Path(path)
    if p.exists() or p.is_symlink():
        if folder and not p.is_dir():
            raise OutputError(f"{name} {p} is a file; give a folder (or a new folder name)")
        if not folder and p.is_dir():
            raise OutputError(f"{name} {p} is a folder; give a file name")
        if folder:
            entries = sorted(p.iterdir())
            if allowed is not None:
                foreign = [e.name for e in entries if not allowed(e)]
                if foreign:
                    raise OutputError(
                        f"{name} {p} holds files that are not outputs of this command "
                        f"({', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}); "
                        "choose an empty or new folder"
                    )
            if entries and not overwrite:
                raise OutputError(
                    f"{name} {p} already holds results ({len(entries)} entries); pass "
                    "--overwrite (overwrite=True) to replace them all, or choose a new folder"
                )
        elif not overwrite:
            raise OutputError(
                f"{name} {p} already exists; pass --overwrite (overwrite=True) to replace "
                "it, or choose a new file name"
            )
    base = _nearest_existing(p.parent)
    if not base.is_dir():
        raise OutputError(f"{name} {p}: {base} is a file, so {p} cannot be created")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputError(f"{name} {p}: the folder {base} is not writable")
    return p


def _tmp_name(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.name}.{tag}-{uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``.

    The temporary name keeps ``path``'s suffix (writers that pick a format by suffix
    work).  On an exception the temporary file is removed and ``path`` is untouched.
    Parent folders are created.

    Examples
    --------
    >>> with atomic_path(out / "table.csv") as tmp:  # doctest: +SKIP
    ...     frame.to_csv(tmp)
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    # unique per call (concurrent writers of the same file never share a temporary),
    # ending in ``path``'s suffix so that writers which pick a format by suffix work
    tmp = final.with_name(f".{final.stem}.tmp-{uuid.uuid4().hex[:8]}{final.suffix or '.tmp'}")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            if tmp.is_dir():
                shutil.rmtree(tmp)
            else:
                tmp.unlink()


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


@contextlib.contextmanager
def staged_folder(
    path: str | os.PathLike[str],
    *,
    overwrite: bool,
    keep: Callable[[Path], bool] | None = None,
    name: str = "out",
) -> Iterator[Path]:
    """Assemble an output folder under a temporary name and swap it in on success.

    Parameters
    ----------
    path : path-like
        The output folder.
    overwrite : bool
        Replace an existing non-empty folder (checked first, see :func:`check_output`).
    keep : callable, optional
        ``keep(file) -> bool``: entries of the existing folder copied into the new one
        first (an incremental output such as a folder of fitted configurations keeps its
        other members); by default the new folder replaces the old one as a whole.
        With ``keep``, an existing entry it rejects is a foreign file and refused
        (:func:`check_output`'s ``allowed``).
    name : str
        The user's name for the path, for messages.

    Yields
    ------
    pathlib.Path
        The temporary folder to write into.  On success it becomes ``path`` (the old
        folder is moved aside and deleted only after the swap); on an exception it is
        deleted and ``path`` is left as it was.

    Raises
    ------
    OutputError
        As :func:`check_output`.
    """
    final = Path(path)
    check_output(final, overwrite=overwrite, folder=True, name=name, allowed=keep)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(final, "tmp")
    tmp.mkdir()
    try:
        if keep is not None and final.is_dir():
            for entry in final.iterdir():
                if entry.is_file() and keep(entry):
                    shutil.copy2(entry, tmp / entry.name)
        yield tmp
        old = None
        if final.exists():
            old = _tmp_name(final, "old")
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
