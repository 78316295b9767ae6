"""Lenticular interleaving: the numpy reference against the spec's formula, and the GLSL
shader against the numpy reference on random classic and Gen3 calibrations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from calibration.visual import Calibration, SubpixelCell, parse_visual
from display.lenticular import (
    interleave_numpy,
    interleave_params,
    textbook_view_indices,
    tile_lookup,
    view_indices,
)
from display.quilt import QuiltLayout

DATA = Path(__file__).resolve().parents[1] / "data" / "looking_glass"


def small(cal: Calibration, w: int, h: int) -> Calibration:
    """The same lens on a small panel (keeps tests fast)."""
    return Calibration(
        pitch=cal.pitch, slope=cal.slope, center=cal.center, dpi=cal.dpi, screen_w_px=w, screen_h_px=h,
        inv_view=cal.inv_view, flip_image_x=cal.flip_image_x, flip_subp=cal.flip_subp,
        cell_pattern_mode=cal.cell_pattern_mode, subpixel_cells=cal.subpixel_cells,
    )  # fmt: skip


def random_calibration(rng: np.random.Generator, gen3: bool) -> Calibration:
    w, h = int(rng.integers(40, 120)), int(rng.integers(40, 120))
    cells: tuple[SubpixelCell, ...] = ()
    mode = 0
    if gen3:
        n = int(rng.integers(1, 5))
        cells = tuple(SubpixelCell(*rng.uniform(-1.0, 1.0, 6).tolist()) for _ in range(n))
        mode = int(rng.integers(0, 5))
    return Calibration(
        pitch=float(rng.uniform(40, 90)),
        slope=float(rng.choice([-1, 1]) * rng.uniform(4, 8)),
        center=float(rng.uniform(-1, 1)),
        dpi=float(rng.uniform(120, 500)),
        screen_w_px=w,
        screen_h_px=h,
        inv_view=bool(rng.integers(0, 2)),
        flip_image_x=bool(rng.integers(0, 2)),
        flip_subp=bool(rng.integers(0, 2)),
        cell_pattern_mode=mode,
        subpixel_cells=cells,
    )


def random_layout(rng: np.random.Generator, display_aspect: float) -> QuiltLayout:
    cols, rows = int(rng.integers(2, 7)), int(rng.integers(2, 5))
    aspect = display_aspect if rng.random() < 0.5 else float(rng.uniform(0.5, 2.0))
    extra_w, extra_h = int(rng.integers(0, 3)), int(rng.integers(0, 3))
    tw, th = int(rng.integers(6, 30)), int(rng.integers(6, 30))
    return QuiltLayout(
        cols,
        rows,
        tw,
        th,
        aspect,
        int(rng.integers(2, cols * rows + 1)),
        cols * tw + extra_w,
        rows * th + extra_h,
    )


def view_coded_quilt(layout: QuiltLayout) -> np.ndarray:
    """Every pixel of view v holds v in all channels (other tiles and leftovers: 255)."""
    q = np.full((layout.quilt_h_px, layout.quilt_w_px, 3), 255, np.uint8)
    for v in range(layout.num_views):
        x, y, w, h = layout.tile_rect_px(v)
        q[y : y + h, x : x + w] = v
    return q


@pytest.mark.parametrize("name", ["portrait", "gen3"])
def test_fixed_point_phase_agrees_with_the_spec_formula(name):
    cal = parse_visual(json.loads((DATA / f"{name}_visual.json").read_text()))
    cal = small(cal, 400, 300)
    shader = cal.shader_params()
    n, _ = view_indices(interleave_params(shader, 24))
    n_ref, tn = textbook_view_indices(shader, 24)
    differ = n != n_ref
    assert differ.mean() < 1e-3
    # where they differ, float64 itself sits on a view boundary (within 1e-4 of a view)
    assert np.all(np.abs(tn[differ] - np.round(tn[differ])) < 1e-4)
    assert n.min() == 0 and n.max() == 23


def test_each_subpixel_shows_exactly_one_view_in_nearest_mode():
    cal = small(parse_visual(json.loads((DATA / "portrait_visual.json").read_text())), 96, 128)
    layout = QuiltLayout(cols=6, rows=4, tile_w_px=24, tile_h_px=32, aspect=0.75)
    native = interleave_numpy(view_coded_quilt(layout), layout, cal.shader_params(), "nearest")
    n, _ = view_indices(interleave_params(cal.shader_params(), 24))
    np.testing.assert_array_equal(native[::-1], n)  # native is top-down, n bottom-up
    # each channel of a pixel sees a different view: R, G, B are one sub-pixel step apart
    assert np.mean(native[..., 0] != native[..., 1]) > 0.5


def test_gen3_cells_change_which_view_each_subpixel_shows():
    gen3 = small(parse_visual(json.loads((DATA / "gen3_visual.json").read_text())), 120, 80)
    classic = small(gen3, 120, 80)
    classic = Calibration(**{**classic.__dict__, "subpixel_cells": (), "cell_pattern_mode": 0})
    n3, _ = view_indices(interleave_params(gen3.shader_params(), 48))
    n0, _ = view_indices(interleave_params(classic.shader_params(), 48))
    assert np.mean(n3 != n0) > 0.2
    # pattern mode 3 cycles four cells: rows 1 and 2 use cells 1 and 2 whose blue offsets differ
    assert not np.array_equal(n3[1, :, 2] - n3[0, :, 2], n3[2, :, 2] - n3[1, :, 2])


def test_linear_filter_blends_neighbouring_views():
    cal = small(parse_visual(json.loads((DATA / "portrait_visual.json").read_text())), 96, 128)
    layout = QuiltLayout(cols=6, rows=4, tile_w_px=24, tile_h_px=32, aspect=0.75)
    quilt = view_coded_quilt(layout) * np.uint8(10)  # view v holds 10 v; no bilinear effect inside a tile
    shader = cal.shader_params()
    n, f = view_indices(interleave_params(shader, 24))
    expected = np.floor(10 * (n + f * (np.minimum(n + 1, 23) - n)) + 0.5)
    native = interleave_numpy(quilt, layout, shader, "linear")
    np.testing.assert_array_equal(native[::-1], expected.astype(np.uint8))


def test_letterbox_when_quilt_aspect_differs():
    cal = small(parse_visual(json.loads((DATA / "portrait_visual.json").read_text())), 96, 128)  # 0.75
    wide = QuiltLayout(cols=2, rows=2, tile_w_px=20, tile_h_px=10, aspect=2.0)
    lut = tile_lookup(cal.shader_params(), wide, "fit")
    assert (lut.x[:, 1] >= 0).all()  # full width used
    rows_inside = int((lut.y[:, 1] >= 0).sum())
    assert rows_inside == pytest.approx(96 * 0.5, abs=1)  # 96/2 rows tall, bars above and below
    fill = tile_lookup(cal.shader_params(), wide, "fill")
    assert (fill.y[:, 1] >= 0).all() and (fill.x[:, 1] >= 0).all()
    quilt = np.full((20, 40, 3), 200, np.uint8)
    native = interleave_numpy(quilt, wide, cal.shader_params())
    assert native[0].max() == 0 and native[64].min() == 200


@pytest.mark.gl
@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("gen3", [False, True], ids=["classic", "gen3"])
def test_glsl_matches_numpy_on_random_calibrations(ctx, seed, gen3, tmp_path):
    from display.gl import LenticularPass, QuiltTexture
    from display.sinks import OffscreenSink

    rng = np.random.default_rng(1000 * seed + gen3)
    cal = random_calibration(rng, gen3)
    shader = cal.shader_params()
    layout = random_layout(rng, cal.display_aspect)
    quilt = rng.integers(0, 256, (layout.quilt_h_px, layout.quilt_w_px, 3), dtype=np.uint8)
    fit = "fit" if rng.random() < 0.5 else "fill"
    sink = OffscreenSink(ctx, shader.screen_w_px, shader.screen_h_px)
    tex = QuiltTexture(ctx, layout)
    lens = LenticularPass(ctx)
    try:
        tex.upload_quilt(quilt)
        lens.configure(shader, layout, fit)
        for mode in ("nearest", "linear"):
            sink.begin()
            lens.render(tex, mode)
            got = sink.read_rgb()
            ref = interleave_numpy(quilt, layout, shader, mode, fit)
            diff = np.abs(got.astype(int) - ref)
            if mode == "nearest":
                assert diff.max() == 0, f"{int((diff > 0).sum())} sub-pixels differ ({cal}, {layout})"
            else:
                assert diff.max() <= 1
    finally:
        lens.release()
        tex.release()
        sink.release()


@pytest.mark.gl
def test_glsl_portrait_full_size_matches_numpy_and_looks_like_a_lenticular_image(ctx, tmp_path):
    from PIL import Image

    from display.gl import LenticularPass, QuiltTexture
    from display.patterns import numbered_views
    from display.quilt import layout_for_views
    from display.sinks import OffscreenSink

    cal = parse_visual(json.loads((DATA / "portrait_visual.json").read_text()))
    shader = cal.shader_params()
    layout = layout_for_views(24, cal.display_aspect, 256)
    quilt = numbered_views(layout)
    sink = OffscreenSink(ctx, 1536, 2048)
    tex, lens = QuiltTexture(ctx, layout), LenticularPass(ctx)
    try:
        tex.upload_quilt(quilt)
        lens.configure(shader, layout)
        sink.begin()
        lens.render(tex, "nearest")
        got = sink.read_rgb()
    finally:
        lens.release()
        tex.release()
        sink.release()
    Image.fromarray(got[:256, :256]).save(tmp_path / "portrait_native_crop.png")
    np.testing.assert_array_equal(got, interleave_numpy(quilt, layout, shader))
    # Along a row, the lens period is ~6.2 px: every 6-7 px the view sequence repeats.
    row = got[1000, :, 1].astype(int)
    assert len(np.unique(row)) > 10
