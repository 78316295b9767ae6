"""``voodoo-holo render`` on bad input: one clear line on stderr, a non-zero exit, no traceback,
and nothing written. Runs no OpenGL (every case stops before the first view is drawn)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import cli
from app.render import sample_source

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_a_driver_file_that_is_not_a_video_is_refused_in_one_line(tmp_path: Path) -> None:
    notes = tmp_path / "notes.mp4"
    notes.write_text("shopping list: eggs, milk\n")
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "render", "--driver", str(notes), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert (
        lines[0].startswith("voodoo-holo render: ")
        and "is not a video" in lines[0]
        and "notes.mp4" in lines[0]
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda d: ["--driver", str(sample_source()), "--resume"], "with a photo as driver the render is one still"),
        (lambda d: ["--driver", str(sample_source()), "--out", str(d / "x.mp4")], "give a .png name or a folder"),
        (lambda d: ["--driver", str(d / "missing.mp4")], "does not exist"),
        (lambda d: ["--source", str(d / "missing.jpg")], "source photo"),
        (lambda d: ["--driver", str(d)], "contains no images"),
        (lambda d: ["--view-size", "8"], "view size must be 16..2048"),
        (lambda d: ["--backend", "neural"], "needs the VOODOO 3D weights"),
        (lambda d: ["--format", "views", "--out", str(d / "x.mp4")], "give an output folder"),
    ],
)
def test_bad_input_gets_one_actionable_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make_args, message
) -> None:
    rc = cli.main(["render", "--quiet", "--out", str(tmp_path / "out"), *make_args(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / "out").exists()
