"""``voodoo-holo preview``: the single-view window under Xvfb with a real driver and the mesh avatar."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from ui_support import astronaut_rgb

from app.cli import main
from app.ui.preview_app import ViewSweep


def test_view_sweep_keys_and_drag():
    s = ViewSweep(24)
    assert s.view == 12
    assert s.handle_key("right") == "moved" and s.view == 13
    s.drag(-30)  # 2.5 views left: two steps, the rest is kept
    assert s.view == 11
    s.drag(-6)
    assert s.view == 10
    for _ in range(30):
        s.handle_key("left")
    assert s.view == 0
    assert s.handle_key("home") == "moved" and s.view == 12
    assert s.handle_key("q") == "quit" and s.handle_key("x") is None


@pytest.fixture(scope="module")
def driver_frames(tmp_path_factory):
    d = tmp_path_factory.mktemp("driver")
    a = astronaut_rgb()
    for i in range(8):
        Image.fromarray(np.roll(a, 3 * i, axis=1)).save(d / f"f{i:02d}.png")
    return d


@pytest.mark.window
@pytest.mark.gl
def test_preview_shows_the_avatar_sweeps_views_and_reports_fps_latency(
    probe, photo_folder, driver_frames, tmp_path
):
    r = probe(
        "preview_probe.py", str(photo_folder / "grace.jpg"), str(driver_frames), str(tmp_path), out=tmp_path
    )
    assert r["backend"] == "mesh" and "8 frames" in r["driver"]
    assert r["view_before"] == 12 and r["centre_mean"] > 60  # a face, not an empty window
    assert r["status_white_px"] > 50  # the status line is drawn over the view
    assert r["diff_right"] > 2  # six views to the right is another picture
    assert r["view_after_drag"] == 10  # 100 px drag to the left: 8 steps of 12 px from 18
    assert r["status_after"].startswith("view 10/23") and "fps" in r["status_after"]
    assert "latency" in r["status_after"] and r["latency_ms"] > 0
    assert r["closed"] is True
    assert (tmp_path / "preview_right.png").is_file()


def test_preview_errors_are_one_line(tmp_path, photo_folder, capsys, monkeypatch):
    monkeypatch.setenv("DISPLAY", ":99")  # the checks below fail before any window opens
    assert main(["preview", "--source", str(tmp_path / "missing.jpg"), "--backend", "mesh"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]
    assert (
        main(
            [
                "preview",
                "--source",
                str(photo_folder / "coffee.png"),
                "--driver",
                str(tmp_path),
                "--backend",
                "mesh",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no face found" in err[0]
    args = [
        "preview",
        "--source",
        str(photo_folder / "grace.jpg"),
        "--driver",
        str(tmp_path / "x.mp4"),
        "--backend",
        "mesh",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]
