"""``voodoo-holo calibrate``: the numbered test pattern on the Looking Glass, ``center`` nudged by keys.

Keys: left/right nudge the lens phase ``center`` by 0.01 (with Shift 0.001), up/down by one
view's width (1 / number of views); ``r`` restores the original value; ``s`` or Enter saves
(the calibration is copied into your settings, see :func:`app.calibration_settings.remember_calibration`);
``q`` / Esc closes. The rules live in :class:`CenterNudge` (pure); :class:`CalibrateApp` wires
them to a :class:`display.window.DisplayApp` showing the compositor's test pattern.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from calibration.visual import Calibration
from display.quilt import QuiltLayout

__all__ = ["CalibrateApp", "CenterNudge", "pattern_layout"]

NudgeResult = Literal["changed", "save", "quit"]


@dataclass
class CenterNudge:
    """The ``center`` being adjusted. Attributes: ``original`` (as loaded), ``center`` (now)."""

    original: float
    num_views: int
    center: float = 0.0
    fine_step: float = 0.001
    step: float = 0.01

    def __post_init__(self) -> None:
        if self.num_views < 1:
            raise ValueError("num_views must be >= 1")
        self.center = self.original

    @property
    def dirty(self) -> bool:
        return abs(self.center - self.original) > 1e-12

    def handle_key(self, name: str, shift: bool = False) -> NudgeResult | None:
        step = self.fine_step if shift else self.step
        deltas = {"left": -step, "right": step, "down": -1.0 / self.num_views, "up": 1.0 / self.num_views}
        if name in deltas:
            self.center += deltas[name]
            return "changed"
        if name == "r":
            self.center = self.original
            return "changed"
        if name in ("s", "enter"):
            return "save"
        if name in ("q", "escape"):
            return "quit"
        return None

    def saved(self) -> None:
        self.original = self.center


def pattern_layout(calibration: Calibration, num_views: int = 24, view_size_px: int = 256) -> QuiltLayout:
    """The quilt a session on this display uses (:func:`app.compose.plan_views`), for the
    numbered views."""
    from app.compose import plan_views

    return plan_views(num_views, view_size_px, calibration=calibration).quilt


class CalibrateApp:
    """The test pattern on the display found for ``calibration``; keys from :class:`CenterNudge`.

    ``window_xy``: the display's desktop position from Looking Glass Bridge, when known.
    """

    def __init__(
        self,
        calibration: Calibration,
        layout: Any = None,
        preview_size_px: tuple[int, int] = (960, 720),
        log: Callable[[str], None] = print,
        window_xy: tuple[int, int] | None = None,
    ) -> None:
        from pyglet.window import key

        from display.window import DisplayApp, open_display

        self.calibration = calibration
        self.layout = layout or pattern_layout(calibration)
        self.log = log
        self.window, self.compositor = open_display(
            calibration, self.layout, preview_size_px, log=log, window_xy=window_xy
        )
        self.lenticular = self.compositor.config.mode == "lenticular"
        if not self.lenticular:
            log("the centre can be changed here, but only a Looking Glass shows its effect")
        self.app = DisplayApp(self.window, self.compositor)
        self.nudge = CenterNudge(calibration.center, self.layout.num_views)
        self.saved_to: Path | None = None
        self._shift = key.MOD_SHIFT
        self.window.push_handlers(on_key_press=self.on_key_press)  # runs before DisplayApp's handler
        self.compositor.show_test_pattern(True)
        self._show()

    def on_key_press(self, symbol: int, modifiers: int) -> bool:
        from app.ui.glwindow import key_name

        result = self.nudge.handle_key(key_name(symbol), bool(modifiers & self._shift))
        if result == "changed":
            self.calibration = dataclasses.replace(self.calibration, center=self.nudge.center)
            self.compositor.set_calibration(self.calibration.shader_params())
            self._show()
        elif result == "save":
            self.save()
        elif result == "quit":
            if self.nudge.dirty:
                self.log(f"not saved: center stays {self.nudge.original:.4f} (press s to save next time)")
            self.app.on_close()
        return result is not None

    def save(self) -> Path:
        from app.calibration_settings import remember_calibration

        self.saved_to = remember_calibration(self.calibration)
        self.nudge.saved()
        self.log(f"saved center {self.calibration.center:.4f} to {self.saved_to}")
        self._show()
        return self.saved_to

    def _show(self) -> None:
        c = self.nudge.center
        mark = " (not saved)" if self.nudge.dirty else ""
        self.window.set_caption(
            f"voodoo-holo calibrate: center {c:.4f}{mark}  arrows nudge, s saves, q quits"
        )

    def tick(self) -> None:
        self.app.tick()

    @property
    def closed(self) -> bool:
        return self.app.closed

    def run(self) -> Path | None:
        self.app.run()
        return self.saved_to
