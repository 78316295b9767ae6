"""Quilt layout: view <-> tile mapping, presets, file names."""

from __future__ import annotations

import numpy as np
import pytest

from display.quilt import (
    PRESETS,
    QuiltLayout,
    assemble_quilt,
    layout_for_views,
    parse_quilt_filename,
    preset_for_serial,
    quilt_filename,
    split_quilt,
)


def test_view_zero_is_bottom_left_and_last_view_top_right():
    layout = QuiltLayout(cols=6, rows=4, tile_w_px=10, tile_h_px=20, aspect=0.5)
    assert layout.tile_of_view(0) == (0, 0)
    assert layout.tile_of_view(7) == (1, 1)
    assert layout.tile_of_view(23) == (5, 3)
    # In a top-down image file view 0 occupies the bottom rows, view 23 the top-right corner.
    assert layout.tile_rect_px(0) == (0, 60, 10, 20)
    assert layout.tile_rect_px(23) == (50, 0, 10, 20)
    assert layout.tile_rect_gl_px(23) == (50, 60, 10, 20)
    with pytest.raises(IndexError):
        layout.tile_of_view(24)


def test_assemble_places_each_view_in_its_tile_and_split_inverts_it():
    layout = QuiltLayout(cols=3, rows=2, tile_w_px=4, tile_h_px=5, aspect=0.8, num_views=5)
    views = np.stack([np.full((5, 4, 3), 10 * (v + 1), np.uint8) for v in range(5)])
    quilt = assemble_quilt(views, layout)
    assert quilt.shape == (10, 12, 3)
    assert quilt[9, 0, 0] == 10  # bottom-left pixel: view 0
    assert quilt[0, 4, 0] == 50  # top row, middle tile: view 4
    assert quilt[0, 11, 0] == 0  # unused sixth tile stays black
    np.testing.assert_array_equal(split_quilt(quilt, layout), views)
    # views given out of order with their ids land in the same places
    order = [3, 0, 4, 1, 2]
    np.testing.assert_array_equal(assemble_quilt(views[order], layout, view_ids=order), quilt)


def test_uneven_quilt_leaves_leftovers_at_right_and_top():
    layout = QuiltLayout.from_quilt_size(4096, 4096, 5, 9, 16 / 9)
    assert (layout.tile_w_px, layout.tile_h_px) == (819, 455)
    assert layout.view_portion == pytest.approx((5 * 819 / 4096, 9 * 455 / 4096))
    # view 0 touches the bottom edge of the image file; the top 1 row is leftover
    x, y, w, h = layout.tile_rect_px(0)
    assert (x, y + h) == (0, 4096)
    assert layout.tile_rect_px(44)[1] == 4096 - 9 * 455


def test_layout_for_24_views_matches_the_recommendation():
    portrait = layout_for_views(24, 0.75, 560)
    assert (portrait.cols, portrait.rows, portrait.tile_w_px, portrait.quilt_w_px, portrait.quilt_h_px) == (
        6, 4, 420, 2520, 2240,
    )  # fmt: skip
    landscape = layout_for_views(24, 16 / 9, 918)
    assert (landscape.cols, landscape.rows, landscape.tile_w_px) == (4, 6, 1632)
    assert quilt_filename("head", landscape, "png") == "head_qs4x6a1.78.png"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("head_qs6x4a0.75.png", (6, 4, 0.75)),
        ("clip_qs8x6a0.75.mp4", (8, 6, 0.75)),
        ("x_qs5x9a1.7777.jpg", (5, 9, 1.7777)),
        ("qs9x9a1.png", None),
        ("a_qs4x6a1.78_v2.png", (4, 6, 1.78)),
        ("plain.png", None),
        ("z_qs0x4a1.png", None),
    ],
)
def test_parse_filename(name, expected):
    assert parse_quilt_filename(name) == expected


def test_filename_round_trip_replaces_an_old_tag():
    layout = QuiltLayout(cols=11, rows=6, tile_w_px=372, tile_h_px=682, aspect=0.5625)
    name = quilt_filename("demo_qs4x6a1.78", layout, ".mp4")
    assert name == "demo_qs11x6a0.56.mp4"
    assert parse_quilt_filename(name) == (11, 6, 0.56)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_valid_layouts(name):
    preset = PRESETS[name]
    layout = preset.layout()
    assert layout.num_views == preset.cols * preset.rows
    assert layout.quilt_w_px == preset.quilt_w_px
    assert preset.aspect == pytest.approx(preset.screen_w_px / preset.screen_h_px, rel=0.01)


def test_preset_lookup_by_serial():
    assert preset_for_serial("LKG-PORT-02283").name == "portrait"
    assert preset_for_serial("LKG-2K12345").name == "gen1-8.9"
    assert preset_for_serial("LKG-J00332").name == "gen3-16-landscape"
    assert preset_for_serial("XYZ") is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cols": 0, "rows": 4, "tile_w_px": 4, "tile_h_px": 4, "aspect": 1.0},
        {"cols": 4, "rows": 4, "tile_w_px": 4, "tile_h_px": 4, "aspect": 0.0},
        {"cols": 4, "rows": 4, "tile_w_px": 4, "tile_h_px": 4, "aspect": 1.0, "num_views": 17},
        {"cols": 4, "rows": 4, "tile_w_px": 4, "tile_h_px": 4, "aspect": 1.0, "quilt_w_px": 15},
        {"cols": 2, "rows": 2, "tile_w_px": 9000, "tile_h_px": 4, "aspect": 1.0},
    ],
)
def test_invalid_layouts_are_refused(kwargs):
    with pytest.raises(ValueError, match="QuiltLayout|quilt"):
        QuiltLayout(**kwargs)
