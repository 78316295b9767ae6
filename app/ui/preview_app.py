"""``voodoo-holo preview``: the single-view fallback on an ordinary monitor.

One process: :class:`LiveWorker` (a thread) reads the driver (webcam or a file, paced in real
time), tracks, drives and renders **only the view being shown**, at the window's size, with the
shared :class:`pipeline.reenact.Reenactor`; the window's thread shows the newest result
through a :class:`display.compositor.Compositor` and draws a status line (view, FPS,
capture-to-display latency). Left/right arrows, a horizontal mouse drag or the wheel sweep the
views (:class:`ViewSweep`), Home returns to the centre view, ``q`` / Esc closes.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.reenact import ViewSettings

__all__ = ["LiveResult", "LiveWorker", "PreviewApp", "PreviewOptions", "PreviewStartError", "ViewSweep"]

log = logging.getLogger(__name__)

#: Pixels of horizontal drag per view.
DRAG_PX_PER_VIEW = 12


@dataclass
class ViewSweep:
    """Which view of the sweep is shown (0 = left-most)."""

    num_views: int
    view: int = -1
    _drag_px: float = 0.0

    def __post_init__(self) -> None:
        if self.num_views < 1:
            raise ValueError("num_views must be >= 1")
        if self.view < 0:
            self.view = self.num_views // 2

    def step(self, delta: int) -> None:
        self.view = min(max(self.view + delta, 0), self.num_views - 1)

    def handle_key(self, name: str) -> str | None:
        """``"quit"`` for q/Esc, ``"moved"`` for a sweep key, else None."""
        if name in ("q", "escape"):
            return "quit"
        moves = {"left": -1, "right": 1}
        if name in moves:
            self.step(moves[name])
            return "moved"
        if name == "home":
            self.view = self.num_views // 2
            return "moved"
        return None

    def drag(self, dx_px: float) -> None:
        self._drag_px += dx_px
        steps = int(self._drag_px / DRAG_PX_PER_VIEW)
        if steps:
            self._drag_px -= steps * DRAG_PX_PER_VIEW
            self.step(steps)


class PreviewStartError(RuntimeError):
    """The preview cannot start (bad photo, missing driver...); one user-facing sentence."""


@dataclass(frozen=True)
class LiveResult:
    seq: int
    view: int
    rgb_u8: np.ndarray
    t_capture_ns: int
    face_seen: bool


@dataclass(frozen=True)
class PreviewOptions:
    """Attributes:
    source: the photo to re-enact.
    driver: webcam index, video file or folder of frames (None: webcam 0).
    settings: views of the sweep and the rendered size.
    loop: loop a driver file.
    window_px: initial window size.
    """

    source: Path
    driver: str | None = None
    settings: ViewSettings = ViewSettings()
    loop: bool = True
    window_px: tuple[int, int] = (640, 480)


class LiveWorker:
    """Capture -> track -> drive -> render one view, in a thread; newest result only."""

    def __init__(self, options: PreviewOptions, make_backend: Callable[[], Any]) -> None:
        self.options = options
        self._make_backend = make_backend
        self._view = options.settings.num_views // 2
        self._lock = threading.Lock()
        self._latest: LiveResult | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.error: str | None = None
        self.backend_name = ""
        self.source_description = ""
        self._rates: collections.deque[int] = collections.deque(maxlen=20)
        self._thread = threading.Thread(target=self._run, name="preview-live", daemon=True)

    def start(self, timeout_s: float = 300.0) -> None:
        """Start and wait until the photo is prepared and the driver opened (or raise)."""
        self._thread.start()
        self._ready.wait(timeout_s)
        if self.error is not None:
            self._thread.join(timeout=10.0)
            raise PreviewStartError(self.error)

    def set_view(self, view: int) -> None:
        with self._lock:
            self._view = view

    def latest(self) -> LiveResult | None:
        with self._lock:
            return self._latest

    @property
    def fps(self) -> float | None:
        with self._lock:
            t = list(self._rates)
        return None if len(t) < 2 or t[-1] == t[0] else (len(t) - 1) * 1e9 / (t[-1] - t[0])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30.0)

    def _run(self) -> None:
        from pipeline.capture import CaptureError, open_source, track_frames
        from pipeline.reenact import Reenactor
        from pipeline.tracking import PhotoError, StreamTracker

        reenactor = None
        tracker = None
        try:
            try:
                reenactor = Reenactor(self._make_backend(), self.options.settings)
                self.backend_name = reenactor.backend.name
                reenactor.set_source(self.options.source)
                src = open_source(self.options.driver, loop=self.options.loop, realtime=True)
            except (PhotoError, CaptureError, ValueError, RuntimeError) as e:
                self.error = str(e)
                return
            self.source_description = src.description
            tracker = StreamTracker()
            self._ready.set()
            with src:
                for t in track_frames(src, tracker):
                    if self._stop.is_set():
                        return
                    scene = reenactor.drive(t.face)
                    if scene is None:
                        continue
                    with self._lock:
                        view = self._view
                    rgb = reenactor.render(scene, [view]).rgb_u8[0]
                    with self._lock:
                        self._latest = LiveResult(t.frame.seq, view, rgb, t.frame.t_capture_ns, True)
                        self._rates.append(time.monotonic_ns())
                self.error = "the driver ended"
        except CaptureError as e:
            self.error = str(e)
        finally:
            self._ready.set()
            if tracker is not None:
                tracker.close()
            if reenactor is not None:
                reenactor.close()


class PreviewApp:
    """The window: compositor (one tile), status line, sweep by keys / drag / wheel."""

    def __init__(self, options: PreviewOptions, worker: LiveWorker) -> None:
        from app.ui.glwindow import open_window
        from display.compositor import Compositor, CompositorConfig
        from display.gl import OverlayPass
        from display.quilt import QuiltLayout

        self.options = options
        self.worker = worker
        s = options.settings
        self.window, self.ctx = open_window(*options.window_px, caption="voodoo-holo preview")
        self.sweep = ViewSweep(s.num_views)
        self._status = OverlayPass(self.ctx)
        self.sink = _StatusSink(self.window, self.ctx, self._status)
        layout = QuiltLayout(1, 1, s.width_px, s.height_px, s.aspect)
        self.compositor = Compositor(self.sink, CompositorConfig(layout, "preview", show_status=False))
        self.closed = False
        self.shown: LiveResult | None = None
        self.latency_ms: float | None = None
        self._status_text = ""
        self.window.push_handlers(
            on_key_press=self.on_key_press,
            on_mouse_drag=self.on_mouse_drag,
            on_mouse_scroll=self.on_mouse_scroll,
            on_close=self.on_close,
            on_draw=lambda: self.compositor.present(force=True),
        )

    def on_key_press(self, symbol: int, modifiers: int) -> bool:
        from app.ui.glwindow import key_name

        result = self.sweep.handle_key(key_name(symbol))
        if result == "quit":
            self.closed = True
        elif result == "moved":
            self.worker.set_view(self.sweep.view)
        return result is not None

    def on_mouse_drag(self, x: int, y: int, dx: int, dy: int, buttons: int, modifiers: int) -> None:
        self.sweep.drag(dx)
        self.worker.set_view(self.sweep.view)

    def on_mouse_scroll(self, x: int, y: int, scroll_x: float, scroll_y: float) -> None:
        self.sweep.step(int(np.sign(scroll_y)))
        self.worker.set_view(self.sweep.view)

    def on_close(self) -> bool:
        self.closed = True
        return True

    def status_text(self) -> str:
        from pipeline.cameras import view_yaws_deg

        s = self.options.settings
        yaw = float(view_yaws_deg(s.num_views, s.view_cone_deg)[self.sweep.view])
        fps = self.worker.fps
        parts = [
            f"view {self.sweep.view}/{s.num_views - 1} ({yaw:+.1f} deg)",
            f"{fps:.1f} fps" if fps is not None else "-- fps",
            f"latency {self.latency_ms:.0f} ms" if self.latency_ms is not None else "latency --",
            self.worker.backend_name,
        ]
        if self.shown is None:
            parts.append("waiting for a face in the driver")
        if self.worker.error:
            parts.append(self.worker.error)
        return " | ".join(p for p in parts if p)

    def tick(self) -> None:
        import pyglet

        pyglet.clock.tick()
        self.window.dispatch_events()
        res = self.worker.latest()
        if res is not None and res is not self.shown:
            self.compositor.submit(res.seq, [0], res.rgb_u8[None], res.t_capture_ns)
            self.shown = res
        text = self.status_text()
        changed = text != self._status_text
        if changed:
            from display.compositor import status_line_image

            self._status.set_image(status_line_image(text))
            self._status_text = text
        info = self.compositor.present(force=changed)
        if info is None:
            time.sleep(0.005)
        elif info.latency_ms is not None:
            self.latency_ms = info.latency_ms

    def run(self) -> None:
        try:
            while not self.closed:
                self.tick()
        finally:
            self.close()

    def close(self) -> None:
        self.worker.close()
        self.compositor.release()
        self._status.release()
        self.window.close()


class _StatusSink:
    """A window sink that draws the status line over each frame before it is shown."""

    def __init__(self, window: Any, ctx: Any, overlay: Any) -> None:
        from display.window import WindowSink

        self._inner = WindowSink(window, ctx)
        self.ctx = ctx
        self._overlay = overlay

    @property
    def size_px(self) -> tuple[int, int]:
        return self._inner.size_px

    @property
    def last_rgb(self) -> Any:
        return self._inner.last_rgb

    def set_capture(self, on: bool) -> None:
        self._inner.capture = on

    def begin(self) -> None:
        self._inner.begin()

    def finish(self) -> None:
        self._overlay.render(self.size_px[1], 4, 4)
        self._inner.finish()

    def release(self) -> None:
        self._inner.release()
