"""The photo-selection window (``voodoo-holo select``): see :mod:`app.ui.photo_grid` for its rules.

Threads: the window (pyglet events, all OpenGL), :class:`PhotoScanner` (thumbnails and
quality reports), :class:`OrbitPreview` (crop, matte and the orbiting 3D preview) and, in
camera mode, :class:`CameraFeed`. Only the window's thread touches the window's GL context.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.text import plural
from app.ui.folders import FolderChooser, FolderEntry, OpenFolder, likely_folders, short_path
from app.ui.glwindow import ImageLayer, key_name, open_window
from app.ui.orbit import Failed, OrbitFrame, OrbitPreview, Prepared
from app.ui.photo_grid import Action, PhotoItem, SelectionState
from app.ui.scan import PhotoScanner, list_photos
from app.ui.select_view import PanelInfo, chooser_layout, draw_select, empty_message_h, screen_layout
from pipeline.avatar import AvatarBackend

__all__ = ["CameraFeed", "SelectApp", "SelectOptions", "photos_folder_for_captures"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SelectOptions:
    """Attributes:
    folder: the folder of photos to show first. When it does not exist or holds no photos,
        the window starts with the folder chooser (sample photos, likely folders, a path).
    camera: a driver spec for "take a photo" (webcam index, video file, folder of frames)
        or None when there is no camera.
    camera_note: what to tell a user who presses C without a camera (why there is none).
    samples: the bundled sample photos, offered by the folder chooser (None: not offered).
    home: the folder whose usual sub-folders (Pictures, Downloads...) the chooser lists.
    extra_folders: more folders for the chooser's list, with their labels, listed first.
    window_px: initial window size.
    thumb_px: thumbnail side.
    preview_px: rendered size of the orbiting 3D preview.
    """

    folder: Path
    camera: str | None = None
    camera_note: str = "No webcam was found: connect one and open this window again."
    samples: Path | None = None
    home: Path = field(default_factory=Path.home)
    extra_folders: tuple[tuple[Path, str], ...] = ()
    window_px: tuple[int, int] = (960, 620)
    thumb_px: int = 128
    preview_px: int = 256

    def __post_init__(self) -> None:
        if self.window_px[0] < 480 or self.window_px[1] < 360:
            raise ValueError(f"the selection window needs at least 480x360 px, got {self.window_px}")


def photos_folder_for_captures() -> Path:
    """Where webcam photos are saved (the user's data folder, ``photos/``)."""
    from app.paths import ensure, user_paths

    return ensure(user_paths().data_dir / "photos")


class CameraFeed:
    """The newest frame of a driver source, read in a background thread."""

    def __init__(self, spec: str) -> None:
        from pipeline.capture import open_source

        self.source = open_source(spec, loop=True, realtime=True)
        self.error: str | None = None
        self._latest: Any = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="camera-feed", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from pipeline.capture import CaptureError

        try:
            while not self._stop.is_set():
                frame = self.source.read()
                if frame is None:
                    self.error = "the camera delivered no more frames"
                    return
                with self._lock:
                    self._latest = frame
        except CaptureError as e:
            self.error = str(e)

    def latest(self):
        with self._lock:
            return self._latest

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.source.close()


class SelectApp:
    """The selection window. ``run()`` returns the chosen photo (stored in the settings) or None."""

    def __init__(self, options: SelectOptions, make_backend: Callable[[], AvatarBackend[Any, Any]]) -> None:
        from display.gl import OverlayPass
        from display.window import WindowSink

        self.options = options
        self.window, self.ctx = open_window(*options.window_px, caption="voodoo-holo: choose your photo")
        self.window.select_app = self  # lets a script driving the window find its app
        self.sink = WindowSink(self.window, self.ctx)
        self._canvas = OverlayPass(self.ctx)
        self._live = ImageLayer(self.ctx)
        self.state = SelectionState(camera_available=options.camera is not None)
        self.info = PanelInfo()
        self.folder = options.folder
        self.chosen: Path | None = None
        self.closed = False
        self.frames_drawn = 0
        self._dirty = True
        self._shown_frame: OrbitFrame | None = None
        self._camera: CameraFeed | None = None
        self._camera_frame: Any = None
        self.scanner = PhotoScanner(options.thumb_px)
        self.orbit = OrbitPreview(make_backend, view_px=options.preview_px)
        if not self.open_folder(options.folder):
            self.show_chooser(self._first_run_message(options.folder))
        self.window.push_handlers(
            on_key_press=self.on_key_press,
            on_text=self.on_text,
            on_mouse_press=self.on_mouse_press,
            on_mouse_scroll=self.on_mouse_scroll,
            on_resize=self.on_resize,
            on_draw=self.on_draw,
            on_close=self.on_close,
        )

    # -- geometry --------------------------------------------------------------------------
    @property
    def layout(self):
        return screen_layout(*self.sink.size_px, tile_px=self.options.thumb_px)

    def _to_pixels(self, x: float, y: float) -> tuple[float, float]:
        """Window coordinates (bottom-up, points) -> framebuffer pixels (top-down)."""
        fw, fh = self.sink.size_px
        s = fw / max(1, self.window.width)
        return x * s, fh - y * s

    @property
    def scan_done(self) -> bool:
        return self.scanner.idle and all(it.status != "pending" for it in self.state.items)

    # -- folders ---------------------------------------------------------------------------
    def open_folder(self, folder: Path, samples: bool = False) -> bool:
        """Show the photos of ``folder``; False (and nothing changes) when it holds none."""
        photos = list_photos(folder) if folder.is_dir() else []
        if not photos:
            return False
        self.scanner.cancel_pending()
        self._set_camera(False)
        self.state = SelectionState(camera_available=self.options.camera is not None)
        self.folder = folder
        self.info.folder = "sample photos" if samples else short_path(folder, self.options.home)
        self.info.chooser = None
        self.info.crop_rgb_u8 = self.info.matte_u8 = None
        self.info.orbit_message = ""
        self._shown_frame = None
        for path in photos:
            self.scanner.submit(self.state.add(PhotoItem(path)), path)
        self._dirty = True
        return True

    def _first_run_message(self, folder: Path) -> str:
        where = short_path(folder, self.options.home)
        first = (
            f"There is no {folder.name} folder ({where}) on this computer."
            if not folder.is_dir()
            else f"There are no photos in {where}."
        )
        return f"{first} Try the sample photos, or open the folder where your photos are."

    def show_chooser(self, message: str = "") -> None:
        """Replace the grid with the folder chooser (sample photos, likely folders, a path)."""
        entries: list[FolderEntry] = []
        samples = self.options.samples
        if samples is not None and list_photos(samples):
            entries.append(FolderEntry(samples, "Sample photos", "two portraits to try it with", "samples"))
        skip = [samples] if samples is not None else []
        entries += likely_folders(self.options.home, self.options.extra_folders, skip=skip)
        here = short_path(self.folder, self.options.home) if self.state.items else "~"
        chooser = FolderChooser(entries=entries, message=message, can_go_back=bool(self.state.items))
        chooser.path_field.text = here.rstrip("/") + "/"
        self.info.chooser = chooser
        self._dirty = True

    def _chooser_event(self, event: OpenFolder | str | None) -> None:
        chooser = self.info.chooser
        if chooser is None or event is None:
            return
        if event == "quit":
            self.closed = True
        elif event == "back":
            self.info.chooser = None
        elif isinstance(event, OpenFolder) and not self.open_folder(event.path, event.samples):
            chooser.error = f"there are no photos in {short_path(event.path, self.options.home)}"

    # -- events ----------------------------------------------------------------------------
    def on_key_press(self, symbol: int, modifiers: int) -> bool:
        self.info.notice = ""
        name = key_name(symbol)
        if self.info.chooser is not None and not self.state.camera_mode:
            self._chooser_event(self.info.chooser.handle_key(name))
        else:
            self._do(self.state.handle_key(name, self.layout.grid))
        self._dirty = True
        return True

    def on_text(self, text: str) -> None:
        if self.info.chooser is not None and not self.state.camera_mode:
            self.info.chooser.handle_text(text)
            self._dirty = True

    def on_mouse_press(self, x: int, y: int, button: int, modifiers: int) -> None:
        self.info.notice = ""
        ui = self.layout
        px, py = self._to_pixels(x, y)
        chooser = self.info.chooser
        if chooser is not None and ui.grid.area.contains(px, py):
            lay = chooser_layout(ui.grid.area, chooser)
            self._chooser_event(chooser.handle_click(px, py, lay.field, lay.entries))
        elif chooser is not None:  # the panel's buttons only (no photo to use)
            self._do(self.state.handle_click(px, py, ui.grid, None, ui.camera_button))
        else:
            self._do(self.state.handle_click(px, py, ui.grid, ui.use_button, ui.camera_button))
        self._dirty = True

    def on_mouse_scroll(self, x: int, y: int, scroll_x: float, scroll_y: float) -> None:
        grid = self.layout.grid
        self.state.scroll(int(-scroll_y * 40), grid, empty_message_h(self.info, grid))
        self._dirty = True

    def on_resize(self, width: int, height: int) -> None:
        self._dirty = True

    def on_draw(self) -> None:
        self._dirty = True

    def on_close(self) -> bool:
        self.closed = True
        return True

    def _do(self, action: Action | None) -> None:
        if action is None:
            return
        if action.kind == "quit":
            self.closed = True
        elif action.kind == "no_camera":
            self.info.notice = self.options.camera_note
        elif action.kind == "folders":
            self.show_chooser()
        elif action.kind == "select" and action.index is not None:
            self._set_camera(self.state.camera_mode)
            item = self.state.items[action.index]
            self.info.crop_rgb_u8 = self.info.matte_u8 = None
            self._shown_frame = None
            if item.status == "unusable":
                self.info.orbit_message = "this photo cannot be used"
            else:
                self.info.orbit_message = self.orbit.backend_error or "preparing the 3D preview..."
                self.orbit.request(item.path)
        elif action.kind == "use" and action.index is not None:
            self.use(self.state.items[action.index].path)
        elif action.kind == "camera":
            self._set_camera(self.state.camera_mode)
            if self.state.camera_mode:
                self.info.chooser = None  # the photo taken joins the photos shown
        elif action.kind == "capture":
            self._capture()

    def use(self, path: Path) -> None:
        """Store ``path`` as the source photo and close the window."""
        from app.config import update_config

        update_config(source_photo=str(path.resolve()))
        self.chosen = path.resolve()
        self.closed = True

    def _set_camera(self, on: bool) -> None:
        if on and self._camera is None and self.options.camera is not None:
            from pipeline.capture import CaptureError

            try:
                self._camera = CameraFeed(self.options.camera)
            except CaptureError as e:
                self.state.camera_mode = False
                self.info.notes = [str(e)]
                self.info.orbit_message = str(e)
        elif not on and self._camera is not None:
            self._camera.close()
            self._camera, self._camera_frame = None, None

    def _capture(self) -> None:
        from PIL import Image

        frame = self._camera.latest() if self._camera is not None else None
        if frame is None:
            return
        path = photos_folder_for_captures() / time.strftime("webcam-%Y%m%d-%H%M%S.png")
        n = 1
        while path.exists():
            path = path.with_name(f"{path.stem.split('_')[0]}_{n}.png")
            n += 1
        Image.fromarray(frame.rgb_u8).save(path)
        index = self.state.add(PhotoItem(path))
        self.scanner.submit(index, path)
        self.state.camera_mode = False
        self._set_camera(False)
        self.info.chooser = None
        self._do(self.state.select_position(self.state.order.index(index), self.layout.grid))

    # -- loop ------------------------------------------------------------------------------
    def poll(self) -> None:
        """Take what the background threads finished."""
        items = self.state.items
        for res in self.scanner.poll():
            # A result of a folder left since is not one of these photos: drop it.
            if res.index < len(items) and items[res.index].path == res.item.path:
                self.state.update(res.index, res.item)
                self._dirty = True
        selected = self.state.items[self.state.selected].path if self.state.selected is not None else None
        for ev in self.orbit.poll():
            if ev.path != selected:
                continue
            if isinstance(ev, Prepared):
                self.info.crop_rgb_u8, self.info.matte_u8 = ev.crop_rgb_u8, ev.matte_u8
                self.info.orbit_message = self.orbit.backend_error or "building the 3D preview..."
            elif isinstance(ev, Failed):
                self.info.orbit_message = ev.message
            self._dirty = True
        items = self.state.items
        done = sum(it.status != "pending" for it in items)
        self.info.progress = (
            f"checking {done + 1} of {len(items)}" if done < len(items) else plural(len(items), "photo")
        )
        message = self._empty_message() if self.scan_done else ""
        if message != self.info.empty_message:
            self.info.empty_message, self._dirty = message, True

    def _empty_message(self) -> str:
        if self.state.any_usable() or self.info.chooser is not None:
            return ""
        cam = ", or C to take one with the webcam" if self.state.camera_available else ""
        if not self.state.items:
            return f"No photos here yet. Press O to open a folder of photos or the sample photos{cam}."
        n = len(self.state.items)
        where = (
            self.info.folder if self.info.folder == "sample photos" else self.folder.name or str(self.folder)
        )
        which = (  # the folder's name only: the header shows its whole path
            f"The photo in {where} cannot be used: its badge says why."
            if n == 1
            else f"None of the {n} photos in {where} can be used: their badges say why."
        )
        return (
            f"{which} Press O to open another folder or the sample photos{cam}. A good photo: one face, "
            "looking at the camera, sharp and evenly lit."
        )

    def _live_image(self) -> np.ndarray | None:
        """The new frame for the preview square, if there is one to upload."""
        if self.state.camera_mode and self._camera is not None:
            frame = self._camera.latest()
            if frame is not None and frame is not self._camera_frame:
                self._camera_frame = frame
                return frame.rgb_u8
            return None
        frame = self.orbit.latest_frame()
        sel = self.state.selected
        if (
            frame is None
            or frame is self._shown_frame
            or sel is None
            or frame.path != self.state.items[sel].path
        ):
            return None
        if self._shown_frame is None:
            self.info.orbit_message = ""
            self._dirty = True
        self._shown_frame = frame
        return frame.rgb_u8

    def tick(self) -> None:
        import pyglet

        pyglet.clock.tick()
        self.window.dispatch_events()
        self.poll()
        image = self._live_image()
        if image is not None:
            self._live.set_image(image)
        if self.closed or not (self._dirty or image is not None):
            time.sleep(0.01)
            return
        self.draw()

    def draw(self) -> None:
        ui = self.layout
        self.sink.begin()
        if self._dirty:
            self._canvas.set_image(draw_select(ui, self.state, self.info))
            self._dirty = False
        w, h = self.sink.size_px
        self._canvas.render(h, 0, 0)
        if self.state.camera_mode:
            showing = self._camera_frame is not None
        else:
            showing = self._shown_frame is not None and self.info.chooser is None
        if self._live.has_image and showing:
            o = ui.orbit
            self._live.render(o.x, o.y, o.w, o.h, h)
        self.sink.finish()
        self.frames_drawn += 1

    def run(self) -> Path | None:
        try:
            while not self.closed:
                self.tick()
        finally:
            self.close()
        return self.chosen

    def close(self) -> None:
        self._set_camera(False)
        self.scanner.close()
        self.orbit.close()
        self._canvas.release()
        self._live.release()
        self.window.close()
