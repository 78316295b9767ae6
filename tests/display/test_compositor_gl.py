"""The compositor through real OpenGL (EGL, offscreen): lenticular output equals the numpy
reference of the assembled quilt; preview shows the selected view; test pattern; stale marks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from calibration.visual import parse_visual
from display.patterns import view_colour
from display.quilt import QuiltLayout, assemble_quilt

pytestmark = pytest.mark.gl
DATA = Path(__file__).resolve().parents[1] / "data" / "looking_glass"
LAYOUT = QuiltLayout(cols=6, rows=4, tile_w_px=24, tile_h_px=32, aspect=0.75)


def views_for(seq: int) -> np.ndarray:
    rng = np.random.default_rng(seq)
    return rng.integers(0, 256, (24, 32, 24, 3), dtype=np.uint8)


def flat_views() -> np.ndarray:
    return np.stack([np.full((32, 24, 3), (10 * v, 255 - 10 * v, 100), np.uint8) for v in range(24)])


def feed(comp, seq: int, views: np.ndarray, renderers=(3, 1, 0, 2)) -> None:
    for r in renderers:
        ids = list(range(6 * r, 6 * r + 6))[::-1]
        comp.submit(seq, ids, views[ids], t_capture_ns=1_000_000_000 + seq)


def test_lenticular_frame_matches_numpy_reference(ctx, tmp_path):
    from display.compositor import Compositor, CompositorConfig
    from display.lenticular import interleave_numpy
    from display.sinks import OffscreenSink

    raw = json.loads((DATA / "gen3_visual.json").read_text())
    raw["screenW"], raw["screenH"] = {"value": 96}, {"value": 128}
    shader = parse_visual(raw).shader_params()
    sink = OffscreenSink(ctx, 96, 128)
    comp = Compositor(sink, CompositorConfig(LAYOUT, "lenticular", filter_mode="nearest"), shader)
    try:
        assert comp.present() is not None  # first draw: black
        feed(comp, 7, views_for(7), renderers=(3, 1))
        assert comp.present() is None  # incomplete: nothing new to draw
        feed(comp, 7, views_for(7), renderers=(0, 2))
        info = comp.present(now_ns=1_000_000_000 + 7 + 25_000_000)
        assert info.seq == 7 and info.complete and info.latency_ms == pytest.approx(25.0)
        got = sink.read_rgb()
        expected = interleave_numpy(assemble_quilt(views_for(7), LAYOUT), LAYOUT, shader, "nearest")
        np.testing.assert_array_equal(got, expected)
        Image.fromarray(got).save(tmp_path / "compositor_lenticular.png")
    finally:
        comp.release()
        sink.release()


def test_lenticular_mode_refuses_a_wrong_output_size(ctx):
    from display.compositor import Compositor, CompositorConfig
    from display.sinks import OffscreenSink

    shader = parse_visual(json.loads((DATA / "portrait_visual.json").read_text())).shader_params()
    sink = OffscreenSink(ctx, 96, 128)
    try:
        with pytest.raises(ValueError, match="1:1 to panel pixels"):
            Compositor(sink, CompositorConfig(LAYOUT, "lenticular"), shader)
    finally:
        sink.release()


def test_preview_sweeps_views_marks_stale_ones_and_shows_the_test_pattern(ctx, tmp_path):
    from display.compositor import Compositor, CompositorConfig
    from display.sinks import OffscreenSink

    sink = OffscreenSink(ctx, 240, 160)
    comp = Compositor(sink, CompositorConfig(LAYOUT, "preview", stale_after_frames=1))
    views = flat_views()
    try:
        feed(comp, 1, views)
        comp.present()
        centre = (80, 120)  # row, col: inside the letterboxed view, clear of the status line

        def shown() -> tuple[int, ...]:
            return tuple(int(c) for c in sink.read_rgb()[centre])

        assert shown() == tuple(int(c) for c in views[12, 0, 0])  # starts at the middle view
        img = sink.read_rgb()
        assert img[80, 10].max() == 0  # black bar left of the 3:4 view in a 3:2 window
        assert img[5:20, 5:60].mean() > img[60:100, 5:40].mean()  # status text drawn top-left
        comp.step_view(-12)
        comp.present()
        assert shown() == tuple(int(c) for c in views[0, 0, 0])
        Image.fromarray(sink.read_rgb()).save(tmp_path / "preview_view0.png")

        # renderer 0 (views 0..5) stops: after a frame of lag, view 0 is shown stale, framed in red
        for seq in (2, 3):
            feed(comp, seq, np.ascontiguousarray(views[::-1]), renderers=(1, 2, 3))
        info = comp.present()
        assert not info.complete and info.stale_views == (0, 1, 2, 3, 4, 5)
        frame = sink.read_rgb()
        left_edge = frame[80, 60:66]  # the view spans columns 60..180
        assert (left_edge == (255, 0, 0)).all(axis=1).any()
        assert "stale views 0-5" in comp.status_text()

        comp.show_test_pattern(True)
        comp.set_view(7)
        comp.present()
        test = sink.read_rgb()
        Image.fromarray(test).save(tmp_path / "preview_test_pattern.png")
        near_corner = test[60, 70]  # inside view 7's tile, away from its number
        assert np.abs(near_corner.astype(int) - view_colour(7, 24)).max() <= 2
        comp.show_test_pattern(False)
        comp.present()
        assert shown() == tuple(int(c) for c in views[::-1][7, 0, 0])
    finally:
        comp.release()
        sink.release()


def test_a_notice_fills_every_view_until_the_first_frame(ctx):
    """Before the first frame the output shows what is happening (the same text in every view, so
    it reads flat on a Looking Glass), not a black screen; the first complete frame replaces it."""
    from display.compositor import Compositor, CompositorConfig
    from display.patterns import notice_views
    from display.quilt import split_quilt
    from display.sinks import OffscreenSink

    layout = QuiltLayout(cols=6, rows=4, tile_w_px=96, tile_h_px=128, aspect=0.75)
    sink = OffscreenSink(ctx, layout.quilt_w_px, layout.quilt_h_px)
    comp = Compositor(sink, CompositorConfig(layout, "quilt", show_status=False))
    try:
        comp.set_notice("starting: waiting for the first frame")
        assert comp.present() is not None
        shown = sink.read_rgb()
        np.testing.assert_array_equal(shown, notice_views(layout, "starting: waiting for the first frame"))
        tiles = split_quilt(shown, layout)
        assert (tiles[0] > 128).mean() > 0.01 and np.array_equal(tiles[0], tiles[23])
        assert "waiting for the first frame" in comp.status_text()
        views = np.full((24, 128, 96, 3), 60, np.uint8)
        for r in range(4):
            ids = list(range(6 * r, 6 * r + 6))
            comp.submit(1, ids, views[ids], t_capture_ns=1)
        info = comp.present()
        assert info is not None and info.seq == 1 and comp.notice is None
        assert np.all(sink.read_rgb() == 60)
        assert "fps" in comp.status_text()
    finally:
        comp.release()
        sink.release()


def test_a_notice_in_the_preview_is_drawn_at_the_window_size(ctx):
    """In a single-view preview on a monitor the notice is drawn sharp at the window's size (not
    one view's small tile stretched up), centred."""
    from display.compositor import Compositor, CompositorConfig
    from display.patterns import notice_tile
    from display.sinks import OffscreenSink

    layout = QuiltLayout(cols=6, rows=4, tile_w_px=96, tile_h_px=128, aspect=0.75)
    sink = OffscreenSink(ctx, 640, 400)
    comp = Compositor(sink, CompositorConfig(layout, "preview", show_status=False))
    try:
        text = "voodoo-holo live call: starting (3 s) - waiting for the first frame"
        comp.set_notice(text)
        assert comp.present() is not None
        shown = sink.read_rgb()
        expected = notice_tile(text, 512, 200)
        centre = shown[100:300, 64:576]
        assert (expected > 128).mean() > 0.01
        assert np.abs(centre.astype(int) - expected.astype(int)).mean() < 2.0
    finally:
        comp.release()
        sink.release()


def test_offscreen_output_is_drawn_when_read_not_every_frame(ctx):
    """Nobody sees an offscreen target: presenting frames only marks it, and a read draws the
    last presented frame once (a headless live call saves a full-size draw a frame)."""
    from display.compositor import Compositor, CompositorConfig
    from display.sinks import OffscreenSink

    quilt_size = (LAYOUT.quilt_w_px, LAYOUT.quilt_h_px)
    sink = OffscreenSink(ctx, *quilt_size)
    comp = Compositor(sink, CompositorConfig(LAYOUT, "quilt", show_status=False))
    draws = []
    real_draw = comp._draw
    comp._draw = lambda: (draws.append(1), real_draw())[1]
    try:
        for seq in range(1, 6):
            feed(comp, seq, views_for(seq))
            info = comp.present()
            assert info is not None and info.seq == seq and info.complete
        assert draws == []
        got = sink.read_rgb()
        assert len(draws) == 1
        np.testing.assert_array_equal(got, assemble_quilt(views_for(5), LAYOUT))
        np.testing.assert_array_equal(sink.read_rgb(), got)  # nothing new: no second draw
        assert len(draws) == 1
    finally:
        comp.release()
        sink.release()
    assert sink.before_read is None
