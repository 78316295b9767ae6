"""Checks made before a command writes its output files: nothing is replaced without ``--force``,
and a folder that cannot take the files is named before any work is done.

Every check creates nothing: a folder that does not exist yet is judged by its nearest existing
parent, so a command refused for another reason leaves no empty folder behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

__all__ = ["OutputError", "check_folder_writable", "check_new_file", "refuse_existing"]


class OutputError(ValueError):
    """An output that must not or cannot be written; ``str(e)`` is one line naming the fix."""


def _nearest_existing(path: Path) -> Path:
    p = path
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p


def check_folder_writable(folder: Path, *, flag: str = "--out", given: Path | None = None) -> None:
    """Raise :class:`OutputError` unless files can be created in ``folder`` (or, when it does
    not exist yet, unless it can be created). A file is created and removed to be sure.
    ``given``: what the user typed, when not ``folder`` itself (the message names it)."""
    folder = Path(folder).expanduser()
    shown = folder if given is None else given
    base = _nearest_existing(folder.absolute())
    if not base.is_dir():
        raise OutputError(f"{flag} {shown}: {base} is a file, not a folder; choose another {flag}")
    try:
        with tempfile.TemporaryFile(dir=base, prefix=".voodoo-holo-write-check-"):
            pass
    except OSError as e:
        why = e.strerror or type(e).__name__
        raise OutputError(f"{flag} {shown}: cannot write in {base} ({why}); choose another {flag}") from e


def check_new_file(path: Path, *, flag: str = "--out", force: bool = True) -> None:
    """Raise :class:`OutputError` unless ``path`` can be written as a file: not a folder, its
    folder writable, and (``force=False``) not there already."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise OutputError(f"{flag} {path} is a folder; give a file name")
    if not force:
        refuse_existing([path], flag=flag)
    check_folder_writable(path.parent, flag=flag, given=path)


def refuse_existing(paths: Iterable[Path], *, flag: str = "--out", extra_fix: str = "") -> None:
    """Raise :class:`OutputError` when any of ``paths`` exists (the message names the first and
    how many more, and says to add ``--force`` to replace them or to choose another ``flag``)."""
    there = [p for p in paths if os.path.lexists(p)]
    if not there:
        return
    also = f", {extra_fix}" if extra_fix else ""
    if len(there) == 1:
        what = f"{there[0]} already exists; add --force to replace it"
    else:
        what = f"{there[0]} and {len(there) - 1} more already exist; add --force to replace them"
    raise OutputError(f"{what}{also}, or choose another {flag}")
