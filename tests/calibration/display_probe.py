"""Run under Xvfb by test_display_route.py: find the display through a Bridge stand-in and open
the output a live call or a call opens on it (real pyglet window); print a JSON report.

usage: python display_probe.py WINDOW_X WINDOW_Y PANEL_W PANEL_H
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]

from standins import DATA, BridgeStandIn, bridge_display  # noqa: E402


def main() -> None:
    x, y, w, h = (int(v) for v in sys.argv[1:5])
    raw = json.loads((DATA / "gen3_visual.json").read_text())
    raw["screenW"], raw["screenH"] = {"value": w}, {"value": h}
    with BridgeStandIn([bridge_display(raw, hardware_version="16_gen3_l", window_xy=(x, y))]) as bridge:
        os.environ["VOODOO_HOLO_BRIDGE_URL"] = bridge.url
        from app.compose import choose_output, plan_views
        from app.platform import create_gl_context
        from display.output import open_output

        messages: list[str] = []
        out = choose_output("lookingglass")
        plan = plan_views(24, 32, calibration=out.calibration, default_grid=out.default_grid)
        comp, app = open_output(
            out.kind, plan.quilt, out.calibration, make_context=create_gl_context, window_xy=out.window_xy,
            log=messages.append,
        )  # fmt: skip
        report = {
            "mode": comp.config.mode,
            "framebuffer": list(comp.sink.size_px),
            "window_xy": list(app.window.get_location()),
            "messages": messages,
        }
        comp.release()
        app.window.close()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
