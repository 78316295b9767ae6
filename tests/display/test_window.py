"""Real pyglet windows under Xvfb (run in a subprocess: pyglet's display is chosen at import)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.window
PROBE = Path(__file__).with_name("window_probe.py")


@pytest.fixture(scope="module")
def xvfb_display(xvfb_server):
    """An Xvfb server with one 240x180 screen (the size of the fake Looking Glass)."""
    with xvfb_server(240, 180) as display:
        yield display


def run_probe(display: str, mode: str, out: Path) -> dict:
    env = {**os.environ, "DISPLAY": display}
    res = subprocess.run(
        [sys.executable, str(PROBE), mode, str(out)], env=env, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_looking_glass_window_covers_the_panel_and_shows_the_interleaved_quilt(xvfb_display, tmp_path):
    report = run_probe(xvfb_display, "lkg", tmp_path)
    assert report["found"] == {
        "x": 0,
        "y": 0,
        "width_px": 240,
        "height_px": 180,
        "name": report["found"]["name"],
    }
    assert report["mode"] == "lenticular" and report["framebuffer"] == [240, 180]
    assert report["window_xy"] == [0, 0]
    assert report["max_abs_diff"] <= 1  # the window shows the numpy reference (linear filter)
    assert (tmp_path / "lkg_window.png").is_file()


def test_without_a_looking_glass_the_preview_opens_and_responds_to_keys_and_drag(xvfb_display, tmp_path):
    report = run_probe(xvfb_display, "preview", tmp_path)
    assert report["found"] is None
    assert any("No Looking Glass found" in m for m in report["messages"])
    assert report["mode"] == "preview" and report["framebuffer"] == [200, 150]
    colours = report["expected_colours"]
    assert report["view_before"] == 12 and report["pixel_before"] == colours["12"]
    assert report["view_after_keys"] == 15 and report["pixel_after_keys"] == colours["15"]
    assert report["view_after_drag"] == 11  # dragged 50 px left: 4 steps of 12 px
    assert report["closed_by_q"] is True
