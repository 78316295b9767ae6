"""Run under Xvfb by test_select_window.py: drive the selection window with synthetic events.

usage: python select_probe.py grid|firstrun|empty|chooser PHOTO_FOLDER OUT_DIR [CAMERA_SPEC | HOME]
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

from app.ui.photo_grid import short_reason  # noqa: E402
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
    report["selected_at_start"] = st.selected
    # Keyboard: the first arrow selects the best-ranked photo, right and left move the selection.
    press(app, key.RIGHT)
    report["first_arrow"] = st.items[st.selected].path.name
    press(app, key.RIGHT)
    report["second_arrow"] = st.items[st.selected].path.name
    press(app, key.LEFT)
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
    # The last (unusable) one: selecting works, Enter and "use" do nothing.
    app.window.dispatch_event("on_key_press", key.END, 0)
    app.tick()
    report["selected_last"] = st.items[st.selected].path.name
    shot(app, out / "select_unusable.png")
    app.window.dispatch_event("on_key_press", key.ENTER, 0)
    app.window.dispatch_event("on_key_press", key.U, 0)
    app.tick()
    report["closed_after_u_on_unusable"] = app.closed
    report["badges"] = {st.items[i].path.name: short_reason(st.items[i]) for i in st.order}
    report["details"] = {
        it.path.name: [f"{c.label}: {c.text}" for c in it.checks()] for it in st.items if it.usable
    }
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


def press(app: SelectApp, symbol: int) -> None:
    """A key press, handled (the window queues events until its next tick)."""
    app.window.dispatch_event("on_key_press", symbol, 0)
    app.tick()


def type_text(app: SelectApp, text: str) -> None:
    app.window.dispatch_event("on_text", text)
    app.tick()


def chooser(folder: Path, out: Path, home: Path) -> dict:
    """A first run: no Pictures folder. The chooser offers the samples and the folders of
    ``home`` that hold photos; C says there is no webcam; a typed path opens ``folder``."""
    from app.commands.select import no_camera_note, sample_photos_folder

    opts = SelectOptions(
        home / "Pictures",
        camera=None,
        camera_note=no_camera_note("auto"),
        samples=sample_photos_folder(),
        home=home,
        window_px=(900, 600),
    )
    app = SelectApp(opts, mesh_backend)
    report: dict = {}
    app.tick()
    ch = app.info.chooser
    report["start_message"] = ch.message if ch else None
    report["entries"] = [(e.label, e.note) for e in ch.entries] if ch else []
    report["focus"] = ch.focus if ch else None
    report["field"] = ch.path_field.text if ch else None
    shot(app, out / "first_run_chooser.png")
    # C without a webcam: a typed 'c' goes to the path field, the button says why there is none.
    ui = app.layout
    bx, by = centre_in_window(app, ui.camera_button)
    app.window.dispatch_event("on_mouse_press", bx, by, mouse.LEFT, 0)
    app.tick()
    report["camera_notice"] = app.info.notice
    shot(app, out / "first_run_no_webcam.png")
    # Enter opens the focused entry: the sample photos.
    press(app, key.ENTER)
    report["after_enter_chooser"] = app.info.chooser is not None
    report["folder_label"] = app.info.folder
    tick_until(app, lambda: app.scan_done)
    app.tick()
    report["sample_badges"] = {
        app.state.items[i].path.name: short_reason(app.state.items[i]) for i in app.state.order
    }
    shot(app, out / "first_run_samples.png")
    # Grid mode: C without a webcam says so too.
    press(app, key.C)
    report["grid_camera_notice"] = app.info.notice
    # O: the chooser again; type the photo folder's path (its last part completed with Tab).
    press(app, key.O)
    ch = app.info.chooser
    report["reopened"] = ch is not None and ch.can_go_back
    for _ in range(len(ch.path_field.text)):
        press(app, key.BACKSPACE)
    type_text(app, str(folder)[:-2])
    press(app, key.TAB)
    report["completed"] = ch.path_field.text
    type_text(app, "nowhere")
    press(app, key.ENTER)
    report["typed_error"] = ch.error
    shot(app, out / "chooser_typed_error.png")
    for _ in range(len("nowhere")):
        press(app, key.BACKSPACE)
    press(app, key.ENTER)
    report["opened"] = str(app.folder)
    tick_until(app, lambda: app.scan_done)
    app.tick()
    report["order"] = [app.state.items[i].path.name for i in app.state.order]
    shot(app, out / "normal_folder.png")
    press(app, key.DOWN)  # the first arrow selects the best photo
    shot(app, out / "normal_folder_selected.png")
    report["selected"] = app.state.items[app.state.selected].path.name
    app.close()
    return report


def scrolled(folder: Path, out: Path) -> dict:
    """END in a folder of more photos than fit: the last row shows above the hint bar."""
    app = SelectApp(SelectOptions(folder, camera=None, window_px=(700, 480)), mesh_backend)
    tick_until(app, lambda: app.scan_done)
    press(app, key.END)
    img = shot(app, out / "select_scrolled_end.png")
    ui = app.layout
    st = app.state
    last = ui.grid.cell(len(st.order) - 1, st.scroll_px)
    report = {
        "last_caption_bottom": last.y + last.h + ui.grid.caption_px,
        "footer_top": ui.footer.y,
        "scroll": st.scroll_px,
        # the last tile's thumbnail row just above its dots, read back from the screenshot
        "last_thumb_rgb": img[last.y + last.h - 3, last.x + last.w // 2].tolist(),
        "footer_rgb": img[ui.footer.y + 2, ui.footer.w - 5].tolist(),
    }
    for _ in range(30):
        app.window.dispatch_event("on_mouse_scroll", 50, 200, 0, -3)
    app.tick()
    report["wheel_scroll"] = st.scroll_px
    app.close()
    return report


def main() -> None:
    mode, folder, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    camera = sys.argv[4] if len(sys.argv) > 4 else None
    if mode == "grid":
        report = grid(folder, out, camera)
    elif mode == "empty":
        report = empty(folder, out)
    elif mode == "chooser":
        report = chooser(folder, out, Path(sys.argv[4]))
    elif mode == "scrolled":
        report = scrolled(folder, out)
    else:
        report = firstrun(folder, out)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
