"""The compositor's pure core: complete frames, newest wins, stale views when a renderer stops."""

from __future__ import annotations

import numpy as np
import pytest

from display.frames import AssemblerConfig, FrameAssembler

N, TW, TH = 24, 4, 3


def batch(seq: int, views: list[int]) -> tuple[int, list[int], np.ndarray, int]:
    rgb = np.stack([np.full((TH, TW, 3), (seq * 24 + v) % 256, np.uint8) for v in views])
    return seq, views, rgb, 1000 + seq


def renderer_views(r: int) -> list[int]:
    return list(range(6 * r, 6 * r + 6))


@pytest.fixture
def asm() -> FrameAssembler:
    return FrameAssembler(AssemblerConfig(N, TW, TH, stale_after_frames=3))


def test_frame_completes_from_batches_in_any_order(asm):
    for r in (2, 0, 3):
        asm.submit(*batch(5, renderer_views(r)))
        assert asm.take() is None  # still incomplete
    asm.submit(*batch(5, renderer_views(1)[::-1]))
    frame = asm.take()
    assert frame is not None and frame.complete and frame.seq == 5 and frame.t_capture_ns == 1005
    assert sorted(frame.tiles) == list(range(N))
    assert all(int(t.rgb_u8[0, 0, 0]) == (5 * 24 + v) % 256 for v, t in frame.tiles.items())
    assert asm.take() is None  # nothing newer


def test_newest_complete_frame_wins_and_late_batches_are_ignored(asm):
    for seq in (1, 2):
        for r in range(4):
            asm.submit(*batch(seq, renderer_views(r)))
    asm.submit(*batch(3, renderer_views(0)))  # frame 3 incomplete so far
    frame = asm.take()
    assert frame.seq == 2 and asm.stats.frames_dropped == 1
    asm.submit(*batch(1, renderer_views(0)))  # older than what is shown
    assert asm.stats.batches_late == 1
    for r in range(1, 4):
        asm.submit(*batch(3, renderer_views(r)))
    assert asm.take().seq == 3


def test_missing_renderer_gives_a_mixed_frame_with_marked_views(asm):
    for r in range(4):
        asm.submit(*batch(1, renderer_views(r)))
    assert asm.take().seq == 1
    # renderer 1 (views 6..11) stops; the others go on
    for seq in range(2, 5):
        for r in (0, 2, 3):
            asm.submit(*batch(seq, renderer_views(r)))
        assert asm.take() is None, f"waited only {seq - 1} frames"
    for r in (0, 2, 3):
        asm.submit(*batch(5, renderer_views(r)))
    frame = asm.take()
    assert frame is not None and not frame.complete and frame.seq == 5
    assert frame.stale_views == tuple(range(6, 12))
    assert frame.tiles[6].seq == 1 and frame.tiles[0].seq == 5
    assert asm.stats.frames_mixed == 1


def test_pending_frames_are_bounded(asm):
    for seq in range(1, 20):
        asm.submit(*batch(seq, renderer_views(0)))
    assert len(asm._pending) <= asm.config.max_pending_frames
    assert asm.stats.frames_dropped == 19 - asm.config.max_pending_frames


@pytest.mark.parametrize(
    ("views", "rgb", "words"),
    [
        ([0, 24], np.zeros((2, TH, TW, 3), np.uint8), "outside"),
        ([0], np.zeros((2, TH, TW, 3), np.uint8), "2 views"),
        ([0], np.zeros((1, TH + 1, TW, 3), np.uint8), "tiles"),
        ([0], np.zeros((1, TH, TW, 3), np.float32), "uint8"),
    ],
)
def test_bad_batches_are_refused(asm, views, rgb, words):
    with pytest.raises(ValueError, match=words):
        asm.submit(0, views, rgb, 0)
