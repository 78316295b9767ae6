"""A launcher's private run folder (its ``ipc://`` endpoints): held under a lock while the
launcher lives, and removed by the next launcher's start when its owner died without cleaning up.

The folder holds ``launcher.lock``: the owner's process id, locked (``flock`` on POSIX,
``msvcrt.locking`` on Windows) from creation until the owner exits. The operating system drops
the lock when the process ends in any way, SIGKILL included, so a lock that can be taken means
a dead owner, whatever its process id has become since; a live owner's folder cannot be taken.
Folders without a lock file (another program's, or one being created) are never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["LOCK_NAME", "PREFIX", "RunFolder", "sweep_dead_run_folders"]

#: Name prefix of run folders in the temporary folder.
PREFIX = "voodoo-holo-"
#: The owner's lock file inside a run folder.
LOCK_NAME = "launcher.lock"


def _lock(fd: int, *, block: bool) -> bool:
    """Take the lock on ``fd``; False when another process holds it (only when not blocking)."""
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_LOCK if block else msvcrt.LK_NBLCK, 1)
        except OSError:
            if block:
                raise
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


class RunFolder:
    """A fresh run folder in ``parent`` (default: the temporary folder), locked by this process.

    Raises:
        OSError: the folder or its lock file cannot be created.
    """

    def __init__(self, parent: Path | None = None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
        try:
            # Locked before the owner record is written: a sweep that opens the file in between
            # finds it empty and leaves the folder alone.
            self._fd: int | None = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            _lock(self._fd, block=True)
            record = json.dumps({"pid": os.getpid(), "started_unix_s": round(time.time(), 3)})
            os.write(self._fd, record.encode())
        except OSError:
            self.remove()
            raise

    def remove(self) -> None:
        """Release the lock and delete the folder with everything in it."""
        if getattr(self, "_fd", None) is not None:
            assert self._fd is not None
            os.close(self._fd)
            self._fd = None
        shutil.rmtree(self.path, ignore_errors=True)


def _owned_by_me(path: Path) -> bool:
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # Windows: the temporary folder is per user
        return True
    try:
        return path.lstat().st_uid == getuid()
    except OSError:
        return False


def sweep_dead_run_folders(parent: Path | None = None) -> list[tuple[Path, int | None]]:
    """Remove the run folders in ``parent`` whose launcher has died; returns ``(folder, its pid)``.

    Only this user's folders named ``voodoo-holo-*`` with a lock file are considered; a folder
    whose lock is held (its launcher is running) or whose owner record is not written yet is
    left alone.
    """
    parent = Path(tempfile.gettempdir()) if parent is None else parent
    removed: list[tuple[Path, int | None]] = []
    try:
        candidates = sorted(parent.glob(PREFIX + "*"))
    except OSError:
        return removed
    for folder in candidates:
        lock = folder / LOCK_NAME
        if folder.is_symlink() or not folder.is_dir() or not _owned_by_me(folder):
            continue
        try:
            fd = os.open(lock, os.O_RDWR)
        except OSError:
            continue  # no lock file: not a launcher's folder, or one being created
        try:
            if not _lock(fd, block=False):
                continue  # its launcher is alive
            raw = os.read(fd, 4096)
            if not raw:
                continue  # created this instant: the owner locks and writes it next
            try:
                pid = int(json.loads(raw.decode("utf-8"))["pid"])
            except (ValueError, KeyError, TypeError):
                pid = None
            if sys.platform != "win32":
                shutil.rmtree(folder, ignore_errors=True)  # while still holding the lock
        finally:
            os.close(fd)
        if sys.platform == "win32":
            shutil.rmtree(folder, ignore_errors=True)  # an open file cannot be deleted there
        if not folder.exists():
            removed.append((folder, pid))
    return removed
