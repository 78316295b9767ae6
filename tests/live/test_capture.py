"""Driver sources on real files: an MP4 written with OpenCV, an image folder, bad inputs."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from pipeline.capture import CaptureError, FileSource, ImageFolderSource, open_source


def _frame(i: int, w: int = 64, h: int = 48) -> np.ndarray:
    """A BGR frame whose red channel encodes the frame number (robust to lossy coding)."""
    f = np.zeros((h, w, 3), np.uint8)
    f[:, :, 2] = min(255, 20 * i)
    f[:, :, 1] = 128
    return f


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 20.0, (64, 48))
    for i in range(10):
        w.write(_frame(i))
    w.release()
    return path


def test_file_source_reads_all_frames_in_order_as_rgb(clip):
    with open_source(clip) as src:
        assert isinstance(src, FileSource)
        assert src.frame_count == 10 and src.size == (64, 48) and src.fps == pytest.approx(20.0)
        frames = list(src)
    assert [f.seq for f in frames] == list(range(10))
    reds = [int(f.rgb_u8[..., 0].mean()) for f in frames]  # RGB: red first
    assert np.all(np.diff(reds) > 10)
    assert all(abs(int(f.rgb_u8[..., 1].mean()) - 128) < 6 for f in frames)
    assert all(f.t_capture_ns > 0 for f in frames)


def test_file_source_loops(clip):
    with FileSource(clip, loop=True) as src:
        idx = [src.read().index_in_source for _ in range(25)]
    assert idx[:10] == list(range(10)) and idx[10:20] == list(range(10))


def test_realtime_file_source_drops_frames_for_a_slow_consumer(clip):
    with FileSource(clip, realtime=True) as src:
        first = src.read()
        time.sleep(0.2)  # 4 frame periods at 20 fps
        nxt = src.read()
    assert first.index_in_source == 0
    assert nxt.index_in_source >= 3  # stale frames were skipped, not queued


def test_image_folder_source_skips_unreadable_images(tmp_path):
    for i in range(4):
        cv2.imwrite(str(tmp_path / f"f{i:03d}.png"), _frame(i))
    (tmp_path / "f002.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("ignored")
    src = open_source(tmp_path)
    assert isinstance(src, ImageFolderSource) and src.frame_count == 4
    frames = list(src)
    assert [f.index_in_source for f in frames] == [0, 1, 3]
    assert [p.name for p in src.unreadable] == ["f002.png"]


def test_clear_errors(tmp_path):
    with pytest.raises(CaptureError, match="does not exist"):
        open_source(tmp_path / "missing.mp4")
    bogus = tmp_path / "bogus.mp4"
    bogus.write_bytes(b"this is not a video")
    with pytest.raises(CaptureError, match="not a video"):
        open_source(bogus)
    img = tmp_path / "one.png"
    cv2.imwrite(str(img), _frame(0))
    with pytest.raises(CaptureError, match="single image"):
        open_source(img)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CaptureError, match="no images"):
        open_source(empty)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((6, 5, 3), lambda f: f[:, :, ::-1]),  # BGR
        ((6, 5, 4), lambda f: f[:, :, 2::-1]),  # BGRA: alpha dropped
        ((6, 5), lambda f: np.repeat(f[:, :, None], 3, axis=2)),  # grey
        ((6, 5, 1), lambda f: np.repeat(f, 3, axis=2)),
    ],
)
def test_frames_become_contiguous_rgb(shape, expected):
    from pipeline.capture import _bgr_to_rgb

    frame = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    rgb = _bgr_to_rgb(frame[:, ::-1] if len(shape) == 3 else frame)  # a strided input too
    want = expected(frame[:, ::-1] if len(shape) == 3 else frame)
    assert rgb.shape == (6, 5, 3) and rgb.flags.c_contiguous
    np.testing.assert_array_equal(rgb, want)
