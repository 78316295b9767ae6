"""Run under Xvfb by test_preview_window.py: the preview window with a real driver and the mesh avatar.

usage: python preview_probe.py SOURCE_PHOTO DRIVER_FOLDER OUT_DIR
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

from app.ui.preview_app import LiveWorker, PreviewApp, PreviewOptions  # noqa: E402
from pipeline.reenact import ViewSettings, create_backend  # noqa: E402


def tick_until(app: PreviewApp, done, max_ticks: int = 50000) -> None:
    for _ in range(max_ticks):
        if done():
            return
        app.tick()
    raise RuntimeError("the preview never reached the expected state")


def shot(app: PreviewApp, path: Path) -> np.ndarray:
    app.sink.set_capture(True)
    app.compositor.present(force=True)
    img = app.sink.last_rgb
    Image.fromarray(img).save(path)
    return img


def main() -> None:
    source, driver, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    opts = PreviewOptions(source, driver, ViewSettings(num_views=24, view_size=192), True, (320, 240))
    worker = LiveWorker(opts, lambda: create_backend("mesh"))
    worker.start()
    app = PreviewApp(opts, worker)
    report: dict = {"backend": worker.backend_name, "driver": worker.source_description}
    tick_until(app, lambda: app.shown is not None and app.latency_ms is not None)
    img = shot(app, out / "preview_centre.png")
    report["view_before"] = app.shown.view
    report["centre_mean"] = float(img[80:200, 100:220].mean())
    report["status"] = app.status_text()
    report["status_white_px"] = int((img[4:26, 4:200] > 200).all(axis=2).sum())
    for _ in range(6):
        app.window.dispatch_event("on_key_press", key.RIGHT, 0)
    tick_until(app, lambda: app.shown.view == 18)
    right = shot(app, out / "preview_right.png")
    report["diff_right"] = float(np.abs(right[40:, :].astype(int) - img[40:, :]).mean())
    for _ in range(5):
        app.window.dispatch_event("on_mouse_drag", 160, 120, -20, 0, 1, 0)
    tick_until(app, lambda: app.shown.view == 10)
    shot(app, out / "preview_dragged.png")
    report["view_after_drag"] = app.shown.view
    report["status_after"] = app.status_text()
    report["latency_ms"] = app.latency_ms
    app.window.dispatch_event("on_key_press", key.Q, 0)  # queued: handled by the next tick
    app.tick()
    report["closed"] = app.closed
    app.close()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
