"""The call's Looking Glass output opens on the screen Bridge places the display at (real window, Xvfb)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.window
PROBE = Path(__file__).with_name("display_probe.py")


@pytest.fixture(scope="module")
def xvfb_display(xvfb_server):
    """An Xvfb server with one 240x180 screen at (0, 0)."""
    with xvfb_server(240, 180) as display:
        yield display


def run_probe(display: str, *args: int) -> dict:
    env = {**os.environ, "DISPLAY": display}
    res = subprocess.run(
        [sys.executable, str(PROBE), *map(str, args)], env=env, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_the_window_opens_on_the_screen_at_bridges_window_coords(xvfb_display):
    r = run_probe(xvfb_display, 0, 0, 240, 180)
    assert r["mode"] == "lenticular" and r["framebuffer"] == [240, 180] and r["window_xy"] == [0, 0]
    assert r["messages"] == ["Looking Glass: 240x180 px at (0, 0)"]


def test_coords_no_screen_has_fall_back_to_the_panel_size(xvfb_display):
    r = run_probe(xvfb_display, 1920, 0, 240, 180)
    assert r["mode"] == "lenticular" and r["window_xy"] == [0, 0]
    assert "No screen starts at (1920, 0)" in r["messages"][0]


def test_the_screen_at_window_coords_in_another_mode_gives_the_preview_and_the_reason(xvfb_display):
    r = run_probe(xvfb_display, 0, 0, 480, 360)
    assert r["mode"] == "preview"
    assert "runs at 240x180 px, not its native 480x360" in r["messages"][0]
