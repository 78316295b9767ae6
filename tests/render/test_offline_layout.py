"""Offline render: quilt geometry, output names, config validation and the ffmpeg probe (no GL)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.render import (
    RenderConfig,
    RenderError,
    crop_views,
    output_paths,
    probe_video,
    quilt_layout,
    sample_driver,
    sample_source,
)
from display.quilt import parse_quilt_filename


def test_default_quilt_is_6x4_portrait_tiles_cut_from_square_views() -> None:
    layout = quilt_layout(24, 384, 0.75)
    assert (layout.cols, layout.rows, layout.tile_w_px, layout.tile_h_px) == (6, 4, 288, 384)
    assert (layout.quilt_w_px, layout.quilt_h_px, layout.num_views) == (1728, 1536, 24)
    square = quilt_layout(24, 256, 1.0)
    assert (square.tile_w_px, square.tile_h_px) == (256, 256) and square.cols * square.rows == 24
    wide = quilt_layout(8, 320, 16 / 9)
    assert wide.tile_w_px == 320 and wide.tile_h_px == 180 and wide.tile_w_px <= 320


def test_crop_views_takes_the_centre_of_each_view() -> None:
    views = np.zeros((2, 8, 8, 3), np.uint8)
    views[:, :, 2:6] = 200  # a centred vertical band 4 px wide
    views[1, :, 2:6] = 100
    tiles = crop_views(views, 4, 8)
    assert tiles.shape == (2, 8, 4, 3)
    assert np.all(tiles[0] == 200) and np.all(tiles[1] == 100)
    with pytest.raises(ValueError, match="cannot crop"):
        crop_views(views, 10, 8)


def test_output_names(tmp_path: Path) -> None:
    cfg = RenderConfig(source=Path("photos/me.jpg"), driver=Path("d.mp4"), out=tmp_path)
    [quilt] = output_paths(cfg)
    assert quilt == tmp_path / "me_qs6x4a0.75.mp4" and parse_quilt_filename(quilt) == (6, 4, 0.75)
    named = RenderConfig(source=Path("me.jpg"), driver=Path("d.mp4"), out=tmp_path / "take2.mp4")
    assert output_paths(named) == [tmp_path / "take2_qs6x4a0.75.mp4"]
    sbs = RenderConfig(source=Path("me.jpg"), driver=Path("d.mp4"), out=tmp_path, format="sbs")
    assert output_paths(sbs) == [tmp_path / "me_sbs.mp4"]
    views = RenderConfig(
        source=Path("me.jpg"), driver=Path("d.mp4"), out=tmp_path, format="views", num_views=3
    )
    assert output_paths(views) == [tmp_path / "me_views" / f"view_0{v}.mp4" for v in range(3)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"view_size": 8}, "view size"),
        ({"num_views": 0}, "number of views"),
        ({"aspect": 0.0}, "aspect"),
        ({"format": "gif"}, "format"),
        ({"backend": "neural"}, "weights"),
        ({"max_frames": 0}, "number of frames"),
        ({"format": "views", "out": Path("x.mp4")}, "output folder"),
    ],
)
def test_config_refuses_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RenderConfig(source=Path("me.jpg"), driver=Path("d.mp4"), **kwargs)


def test_probe_reads_the_sample_clip_and_refuses_a_text_file(tmp_path: Path) -> None:
    assert sample_source().is_file()
    probe = probe_video(sample_driver())
    assert (probe.frames, probe.width, probe.height, probe.fps, probe.has_audio) == (
        110,
        512,
        512,
        25.0,
        False,
    )
    assert sample_driver().stat().st_size < 1_000_000
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    with pytest.raises(RenderError, match="no readable video"):
        probe_video(text)
