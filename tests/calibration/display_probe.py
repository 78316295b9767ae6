"""Run under Xvfb by test_display_route.py: find the display through a Bridge stand-in and open
the call's display output on it (real pyglet window); print a JSON report.

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
        from app.call.devices import open_display_output

        messages: list[str] = []
        comp, app = open_display_output("lookingglass", 24, 32, None, messages.append)
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
