"""Offline render: quilt geometry, output names, config validation and the ffmpeg probe (no GL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.compose import AvatarChoice, plan_views
from app.render import RenderConfig, output_paths, record_path, sample_driver, sample_source
from display.quilt import parse_quilt_filename
from display.video import VideoError, probe_video


def test_default_quilt_is_6x4_of_portrait_views() -> None:
    layout = plan_views(24, 384).quilt
    assert (layout.cols, layout.rows, layout.tile_w_px, layout.tile_h_px) == (6, 4, 288, 384)
    assert (layout.quilt_w_px, layout.quilt_h_px, layout.num_views) == (1728, 1536, 24)
    square = plan_views(24, 256, aspect=1.0).quilt
    assert (square.tile_w_px, square.tile_h_px) == (256, 256) and square.cols * square.rows == 24
    wide = plan_views(8, 320, aspect=16 / 9).quilt
    assert wide.tile_w_px == 320 and wide.tile_h_px == 180


def test_output_names(tmp_path: Path) -> None:
    cfg = RenderConfig(source=Path("photos/me.jpg"), driver=Path("d.mp4"), out=tmp_path)
    [quilt] = output_paths(cfg)
    assert quilt == tmp_path / "me_qs6x4a0.75.mp4" and parse_quilt_filename(quilt) == (6, 4, 0.75)
    # A file name given with --out is used as given, with or without the quilt tag.
    named = RenderConfig(source=Path("me.jpg"), driver=Path("d.mp4"), out=tmp_path / "take2.mp4")
    assert output_paths(named) == [tmp_path / "take2.mp4"]
    assert record_path(named) == tmp_path / "take2.render.json"
    tagged = RenderConfig(source=Path("me.jpg"), driver=Path("d.mp4"), out=tmp_path / "t_qs6x4a0.75.mp4")
    assert output_paths(tagged) == [tmp_path / "t_qs6x4a0.75.mp4"]
    sbs = RenderConfig(source=Path("me.jpg"), driver=Path("d.mp4"), out=tmp_path, format="sbs")
    assert output_paths(sbs) == [tmp_path / "me_sbs.mp4"]
    sbs_named = RenderConfig(
        source=Path("me.jpg"), driver=Path("d.mp4"), out=tmp_path / "a.mp4", format="sbs"
    )
    assert output_paths(sbs_named) == [tmp_path / "a.mp4"]
    views = RenderConfig(
        plan=plan_views(3, 384),
        source=Path("me.jpg"),
        driver=Path("d.mp4"),
        out=tmp_path,
        format="views",
    )
    assert output_paths(views) == [tmp_path / "me_views" / f"view_0{v}.mp4" for v in range(3)]
    assert record_path(views) == tmp_path / "me_views" / "render.json"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"format": "gif"}, "format"),
        ({"max_frames": 0}, "number of frames"),
        ({"format": "views", "out": Path("x.mp4")}, "output folder"),
        (
            {"out": Path("x_qs8x3a0.75.mp4")},
            "says the quilt is 8x3 at aspect 0.75, but this render makes 6x4",
        ),
        ({"out": Path("x_qs6x4a0.56.mp4")}, "name it x_qs6x4a0.75.mp4, or leave the _qs tag out"),
        ({"resume": True, "force": True}, "give one"),
    ],
)
def test_config_refuses_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RenderConfig(source=Path("me.jpg"), driver=Path("d.mp4"), **kwargs)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: plan_views(24, 8), "view size"),
        (lambda: plan_views(0, 384), "number of views"),
        (lambda: plan_views(24, 384, aspect=0.0), "aspect"),
        (lambda: AvatarChoice("neural"), "weights"),
    ],
)
def test_choices_refuse_bad_values(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


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
    with pytest.raises(VideoError, match="no readable video"):
        probe_video(text)
