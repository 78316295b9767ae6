"""Run folders (a call's ipc sockets): the folder of a SIGKILLed launcher is removed by the next
sweep, a live launcher's folder never is, and folders that are not a launcher's are left alone.
Owners are real processes, killed with real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.live.rundir import LOCK_NAME, PREFIX, RunFolder, sweep_dead_run_folders

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")

_OWNER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from app.live.rundir import RunFolder
    folder = RunFolder(Path(sys.argv[1]))
    (folder.path / "frames").write_text("an ipc endpoint stands here")
    print(folder.path, flush=True)
    time.sleep(600)
    """
)


def _owner(parent: Path) -> tuple[subprocess.Popen[str], Path]:
    """A process that creates a run folder in ``parent`` and keeps it (until killed)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _OWNER, str(parent)],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line, "the owner process did not create its folder"
    return proc, Path(line)


def test_a_killed_launchers_folder_is_swept_and_a_live_ones_is_not(tmp_path: Path) -> None:
    dead, dead_dir = _owner(tmp_path)
    live, live_dir = _owner(tmp_path)
    try:
        assert sweep_dead_run_folders(tmp_path) == []  # both owners alive
        dead.send_signal(signal.SIGKILL)
        dead.wait(timeout=30)
        assert dead_dir.is_dir() and (dead_dir / "frames").exists()  # SIGKILL left it behind
        removed = sweep_dead_run_folders(tmp_path)
        assert removed == [(dead_dir, dead.pid)]
        assert not dead_dir.exists()
        assert live_dir.is_dir() and (live_dir / "frames").exists()
        assert sweep_dead_run_folders(tmp_path) == []
    finally:
        for p in (dead, live):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert sweep_dead_run_folders(tmp_path) == [(live_dir, live.pid)]


def test_this_processes_own_folder_is_kept_and_removed_at_exit(tmp_path: Path) -> None:
    own = RunFolder(tmp_path)
    assert own.path.name.startswith(PREFIX) and (own.path / LOCK_NAME).is_file()
    assert sweep_dead_run_folders(tmp_path) == []
    assert own.path.is_dir()
    own.remove()
    assert not own.path.exists()


def test_folders_that_are_not_a_launchers_are_left_alone(tmp_path: Path) -> None:
    no_lock = tmp_path / f"{PREFIX}older"  # e.g. left by a version without lock files
    no_lock.mkdir()
    being_made = tmp_path / f"{PREFIX}new"  # its lock file is created, the record not yet written
    being_made.mkdir()
    (being_made / LOCK_NAME).write_bytes(b"")
    other = tmp_path / "something-else"
    other.mkdir()
    (other / LOCK_NAME).write_text('{"pid": 1}')
    a_file = tmp_path / f"{PREFIX}file"
    a_file.write_text("not a folder")
    assert sweep_dead_run_folders(tmp_path) == []
    assert no_lock.is_dir() and being_made.is_dir() and other.is_dir() and a_file.is_file()


def test_a_record_that_is_not_json_still_marks_a_dead_launchers_folder(tmp_path: Path) -> None:
    folder = tmp_path / f"{PREFIX}damaged"
    folder.mkdir()
    (folder / LOCK_NAME).write_bytes(b"\x00garbage")
    assert sweep_dead_run_folders(tmp_path) == [(folder, None)]
    assert not folder.exists()
