"""Run under an X server (Xvfb) by test_window.py: open a real window, draw, report as JSON.

usage: python window_probe.py lkg|preview OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from display.window import configure_pyglet

configure_pyglet(headless=False)

from PIL import Image  # noqa: E402

from calibration.visual import parse_visual  # noqa: E402
from display.lenticular import interleave_numpy  # noqa: E402
from display.quilt import QuiltLayout, assemble_quilt  # noqa: E402
from display.window import DisplayApp, find_looking_glass, list_screens, open_display  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data" / "looking_glass"
LAYOUT = QuiltLayout(cols=6, rows=4, tile_w_px=32, tile_h_px=24, aspect=4 / 3)


def main() -> None:
    mode, out = sys.argv[1], Path(sys.argv[2])
    raw = json.loads((DATA / "gen3_visual.json").read_text())
    if mode == "lkg":
        raw["screenW"], raw["screenH"] = {"value": 240}, {"value": 180}  # the Xvfb screen's size
    cal = parse_visual(raw)
    report: dict = {"screens": [s.__dict__ for s in list_screens()]}
    found = find_looking_glass(list_screens(), cal)
    report["found"] = None if found is None else found.__dict__
    messages: list[str] = []
    window, comp = open_display(cal, LAYOUT, preview_size_px=(200, 150), log=messages.append)
    report["messages"] = messages
    report["mode"] = comp.config.mode
    report["framebuffer"] = list(comp.sink.size_px)
    report["window_xy"] = list(window.get_location())
    app = DisplayApp(window, comp)
    comp.sink.capture = True
    rng = np.random.default_rng(5)
    if mode == "lkg":
        views = rng.integers(0, 256, (24, 24, 32, 3), dtype=np.uint8)
    else:
        views = np.stack([np.full((24, 32, 3), (10 * v, 250 - 10 * v, 60), np.uint8) for v in range(24)])
    for ids in ([18, 19, 20, 21, 22, 23], [5, 4, 3, 2, 1, 0], [6, 7, 8, 9, 10, 11], [12, 13, 14, 15, 16, 17]):
        comp.submit(1, ids, views[ids], t_capture_ns=1)
    app.tick()
    shot = comp.sink.last_rgb
    Image.fromarray(shot).save(out / f"{mode}_window.png")
    if mode == "lkg":
        expected = interleave_numpy(assemble_quilt(views, LAYOUT), LAYOUT, cal.shader_params(), "linear")
        report["max_abs_diff"] = int(np.abs(shot.astype(int) - expected).max())
        report["frac_diff"] = float((shot != expected).mean())
    else:
        from pyglet.window import key

        centre = (75, 100)
        report["view_before"] = comp.view
        report["pixel_before"] = shot[centre].tolist()
        for _ in range(3):
            window.dispatch_event("on_key_press", key.RIGHT, 0)
        app.tick()
        report["view_after_keys"] = comp.view
        report["pixel_after_keys"] = comp.sink.last_rgb[centre].tolist()
        Image.fromarray(comp.sink.last_rgb).save(out / "preview_after_keys.png")
        for _ in range(5):
            window.dispatch_event("on_mouse_drag", 100, 75, -10, 0, 1, 0)
        app.tick()
        report["view_after_drag"] = comp.view
        report["expected_colours"] = {str(v): views[v, 0, 0].tolist() for v in range(24)}
        window.dispatch_event("on_key_press", key.Q, 0)
        app.tick()
        report["closed_by_q"] = app.closed
    comp.release()
    window.close()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
