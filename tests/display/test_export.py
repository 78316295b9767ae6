"""Quilt export: PNG naming, H.264 MP4 that decodes back, and interrupted recordings stay playable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from display.export import QuiltVideoWriter, VideoConfig, write_quilt_png
from display.quilt import QuiltLayout, assemble_quilt, parse_quilt_filename

LAYOUT = QuiltLayout(cols=3, rows=3, tile_w_px=15, tile_h_px=11, aspect=0.75, num_views=9)  # 45 x 33: odd


def flat_quilt(shift: int) -> np.ndarray:
    views = np.stack(
        [np.full((11, 15, 3), ((28 * v + shift) % 200 + 30, 120, 200 - 20 * v), np.uint8) for v in range(9)]
    )
    return assemble_quilt(views, LAYOUT)


def read_video(path: Path) -> tuple[list[np.ndarray], tuple[int, int]]:
    gen = imageio_ffmpeg.read_frames(str(path))
    meta = next(gen)
    w, h = meta["size"]
    return [np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in gen], (w, h)


def test_png_is_named_for_looking_glass_software(tmp_path):
    path = write_quilt_png(flat_quilt(0), LAYOUT, tmp_path, "head")
    assert path.name == "head_qs3x3a0.75.png"
    assert parse_quilt_filename(path) == (3, 3, 0.75)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), flat_quilt(0))


def test_mp4_decodes_with_tiles_in_place(tmp_path):
    with QuiltVideoWriter(tmp_path, "clip", LAYOUT, VideoConfig(fps=10, crf=10)) as video:
        for i in range(12):
            video.append(flat_quilt(5 * i))
    assert video.path.name == "clip_qs3x3a0.75.mp4" and video.frames_written == 12
    frames, size = read_video(video.path)
    assert size == (46, 34) and len(frames) == 12
    for i in (0, 11):
        # padding: one black row on top and one column on the right; the quilt below/left of it
        inner = frames[i][1:, :45].astype(int)
        expected = flat_quilt(5 * i)
        for v in range(9):
            x, y, w, h = LAYOUT.tile_rect_px(v)
            cy, cx = y + h // 2, x + w // 2
            assert np.abs(inner[cy, cx] - expected[cy, cx]).max() <= 10, f"view {v} of frame {i}"
        assert frames[i][0].mean() < 20 and frames[i][:, 45].mean() < 20
    with pytest.raises(RuntimeError, match="closed"):
        video.append(flat_quilt(0))


def test_wrong_frame_size_is_refused(tmp_path):
    with QuiltVideoWriter(tmp_path, "bad", LAYOUT) as video, pytest.raises(ValueError, match="quilt frame"):
        video.append(np.zeros((10, 10, 3), np.uint8))


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to find ffmpeg's pid")
def test_killed_recording_is_still_playable(tmp_path):
    """Kill the writer and ffmpeg hard (no close): the fragments written so far still play."""
    script = textwrap.dedent(
        f"""
        import sys, time
        import numpy as np
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from display.export import QuiltVideoWriter, VideoConfig
        from display.quilt import QuiltLayout
        layout = QuiltLayout(cols=2, rows=2, tile_w_px=32, tile_h_px=32, aspect=1.0)
        video = QuiltVideoWriter({str(tmp_path)!r}, "cut", layout, VideoConfig(fps=10, preset="ultrafast"))
        rng = np.random.default_rng(0)
        for i in range(100000):
            video.append(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
            if i == 60:
                print("written", flush=True)
            time.sleep(0.002)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert proc.stdout.readline().strip() == "written"
        path = tmp_path / "cut_qs2x2a1.mp4"
        # wait (bounded) until ffmpeg has flushed at least three fragments to disk
        for _ in range(600):
            if path.is_file() and path.read_bytes().count(b"moof") >= 3:
                break
            time.sleep(0.05)
    finally:
        # imageio-ffmpeg starts ffmpeg in its own process group: kill it by pid, then the writer
        for child in _children(proc.pid):
            os.kill(child, signal.SIGKILL)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    frames, size = read_video(path)
    assert size == (64, 64) and len(frames) >= 20
