"""``voodoo-holo render`` never replaces or mixes a video silently: existing outputs are refused
without ``--force``; ``--resume`` continues a video only with the source, driver and settings of
its record; an ``--out`` name is kept; a folder that cannot take the files is named before any
work. Real renders (mesh avatar, OpenGL) of a few frames, real files read back with ffmpeg."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from render_helpers import read_video

from app import cli
from app.render import sample_source, views_problem
from display.video import probe_video
from pipeline.avatar import RenderedViews

pytestmark = pytest.mark.gl

SAMPLES = sample_source().parent
HOPPER = SAMPLES / "grace_hopper.jpg"
SMALL = ["--quiet", "--view-size", "32", "--frames", "3"]


def _render(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = cli.main(["render", *SMALL, *args])
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("voodoo-holo render: ") and "Traceback" not in err
    return lines[0]


def test_an_existing_video_is_refused_then_replaced_with_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "take.mp4"
    rc, stdout, _ = _render(capsys, "--out", str(out))
    assert rc == 0 and out.is_file()
    # The name given is the name written; the note says where Looking Glass reads the layout.
    assert "note: writing take.mp4 as named" in stdout and "take_qs6x4a0.75.mp4" in stdout
    assert not list(tmp_path.glob("take_qs*"))
    first = out.read_bytes()
    record = json.loads((tmp_path / "take.render.json").read_text())
    assert record["source"]["name"] == "astronaut.jpg" and record["format"] == "quilt"

    # Another photo, same name: refused in one line, the video untouched, no work done.
    rc, stdout, err = _render(capsys, "--source", str(HOPPER), "--out", str(out), "--frames", "2")
    line = _one_line(err)
    assert rc == 2 and "take.mp4 already exists" in line and "--force" in line and "--resume" in line
    assert "source:" not in stdout
    assert out.read_bytes() == first

    # --force replaces it, and its record follows.
    rc, _, err = _render(capsys, "--source", str(HOPPER), "--out", str(out), "--frames", "2", "--force")
    assert rc == 0, err
    assert probe_video(out).frames == 2
    record = json.loads((tmp_path / "take.render.json").read_text())
    assert record["source"]["name"] == "grace_hopper.jpg"


def test_resume_refuses_another_photo_other_settings_and_an_unknown_video(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _, err = _render(capsys, "--out", str(tmp_path), "--frames", "2")
    assert rc == 0, err
    video = tmp_path / "astronaut_qs6x4a0.75.mp4"
    before = video.read_bytes()

    # The same file name made from another photo (the photo's name is the same: its bytes differ).
    other = tmp_path / "photos" / "astronaut.jpg"
    other.parent.mkdir()
    shutil.copy(HOPPER, other)
    rc, _, err = _render(capsys, "--out", str(tmp_path), "--source", str(other), "--resume")
    line = _one_line(err)
    assert rc == 2 and "cannot resume" in line and "source photo (--source) is not this render's" in line

    rc, _, err = _render(capsys, "--out", str(tmp_path), "--resume", "--view-size", "48")
    line = _one_line(err)
    assert rc == 2 and "views (--views, --view-size" in line

    rc, _, err = _render(capsys, "--out", str(tmp_path), "--resume", "--crf", "30", "--backend", "mesh")
    assert rc == 2 and "quality (--crf)" in _one_line(err)
    assert video.read_bytes() == before

    # Without its record, nobody knows what the video was made from: refused too.
    (tmp_path / "astronaut_qs6x4a0.75.render.json").unlink()
    rc, _, err = _render(capsys, "--out", str(tmp_path), "--resume")
    line = _one_line(err)
    assert rc == 2 and "what it was rendered from is unknown" in line and "--force" in line
    assert video.read_bytes() == before


def test_resume_with_the_same_photo_and_settings_continues(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _, err = _render(capsys, "--out", str(tmp_path), "--frames", "2")
    assert rc == 0, err
    # The same photo under another path is the same photo.
    moved = tmp_path / "copy" / "me.jpg"
    moved.parent.mkdir()
    shutil.copy(sample_source(), moved)
    rc, stdout, err = _render(
        capsys, "--out", str(tmp_path / "astronaut_qs6x4a0.75.mp4"), "--source", str(moved), "--resume"
    )
    assert rc == 0, err
    assert "resumed at frame 2" in stdout
    assert len(read_video(tmp_path / "astronaut_qs6x4a0.75.mp4")[0]) == 3


def test_force_on_a_views_folder_leaves_no_view_of_the_earlier_render(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _, err = _render(capsys, "--out", str(tmp_path), "--format", "views", "--views", "3", "--frames", "2")
    assert rc == 0, err
    folder = tmp_path / "astronaut_views"
    assert sorted(p.name for p in folder.iterdir()) == [
        "render.json",
        "view_00.mp4",
        "view_01.mp4",
        "view_02.mp4",
    ]
    rc, _, err = _render(capsys, "--out", str(tmp_path), "--format", "views", "--views", "2", "--frames", "2")
    assert rc == 2 and "view_00.mp4 and 2 more already exist" in _one_line(err)
    rc, _, err = _render(
        capsys, "--out", str(tmp_path), "--format", "views", "--views", "2", "--frames", "2", "--force"
    )
    assert rc == 0, err
    assert sorted(p.name for p in folder.iterdir()) == ["render.json", "view_00.mp4", "view_01.mp4"]
    assert json.loads((folder / "render.json").read_text())["plan"]["views"]["num_views"] == 2


@pytest.mark.parametrize(
    ("make_out", "message"),
    [
        (lambda d: d / "notes.txt" / "x.mp4", "notes.txt is a file, not a folder"),
        (lambda d: Path("/proc/voodoo-holo-test/x.mp4"), "cannot write in /proc"),
    ],
)
def test_an_output_folder_that_cannot_take_files_is_named_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make_out, message: str
) -> None:
    (tmp_path / "notes.txt").write_text("eggs\n")
    if message.endswith("/proc") and not Path("/proc").is_dir():
        pytest.skip("no /proc here")
    rc, stdout, err = _render(capsys, "--out", str(make_out(tmp_path)))
    line = _one_line(err)
    assert rc == 2 and message in line and "choose another --out" in line
    assert "source:" not in stdout  # refused before the photo was prepared
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_folder_given_as_source_is_called_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _, err = _render(capsys, "--source", str(tmp_path), "--out", str(tmp_path / "out"))
    line = _one_line(err)
    assert rc == 2 and f"source photo {tmp_path} is a folder" in line and "voodoo-holo select" in line
    assert not (tmp_path / "out").exists()


def _views(rgb: np.ndarray, alpha: np.ndarray | None, depth: np.ndarray | None = None) -> RenderedViews:
    return RenderedViews(rgb_u8=rgb, view_ids=list(range(rgb.shape[0])), depth=depth, alpha=alpha)


def test_broken_rendered_views_are_recognised() -> None:
    rgb = np.zeros((2, 8, 6, 3), np.uint8)
    rgb[:, 2:6, 1:5] = 180
    alpha = np.zeros((2, 8, 6), np.float32)
    alpha[:, 2:6, 1:5] = 1.0
    depth = np.full((2, 8, 6), np.inf, np.float32)  # inf where empty is normal
    depth[:, 2:6, 1:5] = 2.7
    assert views_problem(_views(rgb, alpha, depth)) == ""
    assert views_problem(_views(rgb, None)) == ""
    nan_alpha = alpha.copy()
    nan_alpha[0, 3, 3] = np.nan
    assert "coverage" in views_problem(_views(rgb, nan_alpha, depth))
    inf_alpha = alpha.copy()
    inf_alpha[1, 0, 0] = np.inf
    assert "coverage" in views_problem(_views(rgb, inf_alpha))
    nan_depth = depth.copy()
    nan_depth[1, 4, 4] = np.nan
    assert "depth" in views_problem(_views(rgb, alpha, nan_depth))
    # NaN colours become black in 8 bits: a head that covers the views but is all black.
    assert "black images where the head is" in views_problem(_views(np.zeros_like(rgb), alpha, depth))
    # Nothing covered and nothing drawn (the head out of view) is not an error.
    assert views_problem(_views(np.zeros_like(rgb), np.zeros_like(alpha))) == ""
