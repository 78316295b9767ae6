"""Which screen is the Looking Glass: Bridge's windowCoords first, else the panel's native size."""

from __future__ import annotations

from pathlib import Path

from calibration.visual import load_visual
from display.window import ScreenInfo, find_looking_glass

DATA = Path(__file__).resolve().parents[1] / "data" / "looking_glass"
PORTRAIT = load_visual(DATA / "portrait_visual.json")  # 1536 x 2048
MAIN = ScreenInfo(0, 0, 2560, 1440, "DP-1")
LEFT_PORTRAIT = ScreenInfo(-1536, 0, 1536, 2048, "HDMI-1")
RIGHT_PORTRAIT = ScreenInfo(2560, 0, 1536, 2048, "HDMI-2")


def test_the_screen_at_bridges_window_coords_wins_over_another_of_the_same_size():
    screens = [MAIN, LEFT_PORTRAIT, RIGHT_PORTRAIT]
    assert find_looking_glass(screens, PORTRAIT) == LEFT_PORTRAIT  # by size: the first match
    assert find_looking_glass(screens, PORTRAIT, window_xy=(2560, 0)) == RIGHT_PORTRAIT
    assert find_looking_glass(screens, PORTRAIT, window_xy=(-1536, 0)) == LEFT_PORTRAIT


def test_a_screen_at_window_coords_in_the_wrong_mode_is_refused_with_the_reason():
    wrong_mode = ScreenInfo(2560, 0, 768, 1024, "HDMI-2")
    messages: list[str] = []
    found = find_looking_glass([MAIN, LEFT_PORTRAIT, wrong_mode], PORTRAIT, (2560, 0), messages.append)
    assert found is None
    assert messages == [
        "The Looking Glass at (2560, 0) runs at 768x1024 px, not its native 1536x2048: "
        "set its native resolution at 100% scale."
    ]


def test_when_no_screen_starts_at_window_coords_the_size_decides():
    messages: list[str] = []
    assert find_looking_glass([MAIN, RIGHT_PORTRAIT], PORTRAIT, (1920, 0), messages.append) == RIGHT_PORTRAIT
    assert "No screen starts at (1920, 0)" in messages[0]
    assert find_looking_glass([MAIN], PORTRAIT, (1920, 0)) is None


def test_without_window_coords_a_looking_glass_name_breaks_a_size_tie():
    named = ScreenInfo(4096, 0, 1536, 2048, "LKG-PORT")
    assert find_looking_glass([MAIN, LEFT_PORTRAIT, named], PORTRAIT) == named
