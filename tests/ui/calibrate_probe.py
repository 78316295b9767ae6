"""Run under Xvfb by test_calibrate_window.py: the calibration window on a fake Looking Glass.

usage: python calibrate_probe.py VISUAL_JSON OUT_DIR
The X screen has the calibration's size, so it is taken as the Looking Glass.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from display.window import configure_pyglet

configure_pyglet(headless=False)

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from pyglet.window import key  # noqa: E402

from app.ui.calibrate_app import CalibrateApp  # noqa: E402
from calibration.visual import load_visual  # noqa: E402
from display.lenticular import interleave_numpy  # noqa: E402
from display.patterns import numbered_views  # noqa: E402


def frame(app: CalibrateApp, name: str, out: Path) -> np.ndarray:
    app.compositor.sink.capture = True
    app.compositor.present(force=True)
    img = app.compositor.sink.last_rgb
    Image.fromarray(img).save(out / name)
    return img


def main() -> None:
    cal = load_visual(sys.argv[1])
    out = Path(sys.argv[2])
    messages: list[str] = []
    app = CalibrateApp(cal, log=messages.append)
    layout = app.layout
    quilt = numbered_views(layout)
    report: dict = {"mode": app.compositor.config.mode, "messages": messages}
    app.tick()
    shot = frame(app, "calibrate_pattern.png", out)
    expected = interleave_numpy(quilt, layout, cal.shader_params(), "linear")
    report["diff_before"] = int(np.abs(shot.astype(int) - expected).max())
    for _ in range(5):
        app.window.dispatch_event("on_key_press", key.RIGHT, 0)
    app.window.dispatch_event("on_key_press", key.LEFT, key.MOD_SHIFT)
    app.tick()
    report["center"] = app.nudge.center
    report["caption"] = app.window.caption
    shot2 = frame(app, "calibrate_nudged.png", out)
    moved = interleave_numpy(quilt, layout, app.calibration.shader_params(), "linear")
    report["diff_after"] = int(np.abs(shot2.astype(int) - moved).max())
    report["changed_pixels"] = float((shot2 != shot).any(axis=2).mean())
    app.window.dispatch_event("on_key_press", key.S, 0)
    app.window.dispatch_event("on_key_press", key.Q, 0)
    app.tick()
    report["saved_to"] = str(app.saved_to)
    report["closed"] = app.closed
    app.compositor.release()
    app.window.close()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
