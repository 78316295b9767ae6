"""Run under Xvfb by test_select_window.py: drive the selection window with synthetic events.

usage: python select_probe.py grid|firstrun PHOTO_FOLDER OUT_DIR [CAMERA_SPEC]
Prints one JSON line (the last line of stdout) describing what happened.
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
from pyglet.window import key, mouse  # noqa: E402

from app.ui.select_app import SelectApp, SelectOptions  # noqa: E402


def mesh_backend():
    from pipeline.reenact import create_backend

    return create_backend("mesh")


def tick_until(app: SelectApp, done, max_ticks: int = 20000) -> None:
    """Run the window until ``done()``; the test's subprocess timeout bounds the wait."""
    for _ in range(max_ticks):
        if done():
            return
        app.tick()
    raise RuntimeError("the window never reached the expected state")


def shot(app: SelectApp, path: Path) -> np.ndarray:
    app.sink.capture = True
    app._dirty = True
    app.draw()
    img = app.sink.last_rgb
    Image.fromarray(img).save(path)
    return img


def centre_in_window(app: SelectApp, rect) -> tuple[int, int]:
    """A rectangle's centre in pyglet window coordinates (bottom-up)."""
    return rect.x + rect.w // 2, app.window.height - (rect.y + rect.h // 2)


def grid(folder: Path, out: Path, camera: str | None) -> dict:
    app = SelectApp(SelectOptions(folder, camera=camera, window_px=(900, 600)), mesh_backend)
    report: dict = {}
    tick_until(app, lambda: app.scan_done)
    st = app.state
    report["order"] = [st.items[i].path.name for i in st.order]
    report["status"] = {it.path.name: it.status for it in st.items}
    report["problems"] = {it.path.name: it.problem for it in st.items if it.problem}
    report["warnings"] = {it.path.name: it.report.warnings for it in st.items if it.report}
    img = shot(app, out / "select_grid.png")
    ui = app.layout
    report["badge_rgb"] = [
        img[ui.grid.cell(p).y + 12, ui.grid.cell(p).x + 8].tolist() for p in range(len(st.order))
    ]
    # Keyboard: right, left, Enter selects the best-ranked photo.
    app.window.dispatch_event("on_key_press", key.RIGHT, 0)
    app.window.dispatch_event("on_key_press", key.LEFT, 0)
    app.window.dispatch_event("on_key_press", key.ENTER, 0)
    app.tick()
    report["selected_by_keys"] = st.items[st.selected].path.name
    tick_until(app, lambda: app._shown_frame is not None and app.info.crop_rgb_u8 is not None)
    first_view = app._shown_frame.view
    Image.fromarray(app._shown_frame.rgb_u8).save(out / "orbit_frame.png")
    img = shot(app, out / "select_preview.png")
    o = ui.orbit
    report["orbit_mean"] = float(img[o.y : o.y + o.h, o.x : o.x + o.w].mean())
    report["crop_mean"] = float(
        img[ui.crop.y : ui.crop.y + ui.crop.h, ui.crop.x : ui.crop.x + ui.crop.w].mean()
    )
    m = ui.matte
    report["matte_values"] = sorted(
        {int(v) for v in np.unique(img[m.y : m.y + m.h, m.x : m.x + m.w, 0])[[0, -1]]}
    )
    before = img[o.y : o.y + o.h, o.x : o.x + o.w].copy()
    tick_until(app, lambda: abs(app._shown_frame.view - first_view) >= 3)
    after = shot(app, out / "select_preview_later.png")[o.y : o.y + o.h, o.x : o.x + o.w]
    report["orbit_views"] = [first_view, app._shown_frame.view]
    report["orbit_changed"] = float(np.abs(after.astype(int) - before).mean())
    # Mouse: click the best-ranked photo, then the "use" button.
    x, y = centre_in_window(app, ui.grid.cell(0))
    app.window.dispatch_event("on_mouse_press", x, y, mouse.LEFT, 0)
    app.tick()
    report["selected_by_click"] = st.items[st.selected].path.name
    # The last (unusable) one: selecting works, "use" does nothing.
    app.window.dispatch_event("on_key_press", key.END, 0)
    app.window.dispatch_event("on_key_press", key.ENTER, 0)
    app.tick()
    shot(app, out / "select_unusable.png")
    app.window.dispatch_event("on_key_press", key.U, 0)
    app.tick()
    report["closed_after_u_on_unusable"] = app.closed
    if camera is not None:
        app.window.dispatch_event("on_key_press", key.C, 0)
        tick_until(app, lambda: app._camera_frame is not None)
        shot(app, out / "select_camera.png")
        app.window.dispatch_event("on_key_press", key.SPACE, 0)
        app.tick()
        report["captured"] = st.items[st.selected].path.name
        tick_until(app, lambda: app.scan_done)
        report["captured_status"] = st.items[st.selected].status
    app.window.dispatch_event("on_mouse_press", x, y, mouse.LEFT, 0)
    app.tick()
    bx, by = centre_in_window(app, ui.use_button)
    app.window.dispatch_event("on_mouse_press", bx, by, mouse.LEFT, 0)
    app.tick()
    report["closed"] = app.closed
    report["chosen"] = str(app.chosen)
    report["frames_drawn"] = app.frames_drawn
    app.close()
    return report


def firstrun(folder: Path, out: Path) -> dict:
    """A plain call with no photo stored: resolve_source opens the window; we pick the best photo."""
    import pyglet

    from app.commands.select import choose_photo
    from app.compose import AvatarChoice, resolve_source

    def drive(dt: float) -> None:
        windows = list(pyglet.app.windows)
        app = getattr(windows[0], "select_app", None) if windows else None
        if app is None or not app.scan_done:
            pyglet.clock.schedule_once(drive, 0.05)
            return
        shot(app, out / "firstrun.png")
        app.window.dispatch_event("on_key_press", key.ENTER, 0)  # show the best photo
        app.window.dispatch_event("on_key_press", key.ENTER, 0)  # and use it

    pyglet.clock.schedule_once(drive, 0.05)
    chosen = resolve_source(None, pick=lambda: choose_photo(folder, AvatarChoice("mesh")))
    from app.config import load_config

    return {"chosen": str(chosen), "stored": load_config().get("source_photo")}


def empty(folder: Path, out: Path) -> dict:
    app = SelectApp(SelectOptions(folder, camera=None, window_px=(640, 420)), mesh_backend)
    tick_until(app, lambda: app.scan_done)
    app.tick()
    shot(app, out / "select_empty.png")
    app.window.dispatch_event("on_key_press", key.ENTER, 0)
    app.window.dispatch_event("on_key_press", key.ENTER, 0)
    app.tick()
    report = {"message": app.info.empty_message, "use_refused": not app.closed}
    app.close()
    return report


def main() -> None:
    mode, folder, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    camera = sys.argv[4] if len(sys.argv) > 4 else None
    if mode == "grid":
        report = grid(folder, out, camera)
    elif mode == "empty":
        report = empty(folder, out)
    else:
        report = firstrun(folder, out)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
