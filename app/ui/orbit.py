"""The selected photo as the avatar sees it: aligned crop, matte and a slowly orbiting 3D preview.

:class:`OrbitPreview` owns one background thread. The thread creates the avatar backend
(``make_backend``, e.g. the mesh avatar with its own EGL context, or the neural model) and its
own :class:`PhotoPreprocessor`, and only ever uses them itself. For the latest requested photo
it posts :class:`Prepared` (crop + matte) or :class:`Failed`, then renders one view of the
sweep at a time, going back and forth across the views, and keeps only the newest frame.
The window's thread reads with :meth:`poll` and :meth:`latest_frame`; it never waits.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.avatar import AvatarBackend
from pipeline.reenact import ViewSettings, sweep_cameras

__all__ = ["Failed", "OrbitFrame", "OrbitPreview", "Prepared", "pingpong_view"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    path: Path
    crop_rgb_u8: np.ndarray  # aligned crop before matting
    matte_u8: np.ndarray  # H x W, 255 = person


@dataclass(frozen=True)
class Failed:
    path: Path
    message: str


@dataclass(frozen=True)
class OrbitFrame:
    path: Path
    view: int
    rgb_u8: np.ndarray


def pingpong_view(step: int, num_views: int) -> int:
    """View index at ``step`` of a back-and-forth sweep starting in the middle."""
    if num_views <= 1:
        return 0
    period = 2 * (num_views - 1)
    k = (step + num_views // 2) % period
    return k if k < num_views else period - k


class OrbitPreview:
    """See the module docstring. ``fps`` caps the rendering rate (the CPU is shared)."""

    def __init__(
        self,
        make_backend: Callable[[], AvatarBackend[Any, Any]],
        view_px: int = 256,
        fps: float = 12.0,
        settings: ViewSettings | None = None,
    ) -> None:
        self.view_px = view_px
        self.fps = fps
        self.settings = settings or ViewSettings(num_views=24, view_size=view_px, sweep="orbit")
        self._make_backend = make_backend
        self._cond = threading.Condition()
        self._request: Path | None = None
        self._events: list[Prepared | Failed] = []
        self._frame: OrbitFrame | None = None
        self._stop = False
        self.backend_name = ""
        self.backend_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="orbit-preview", daemon=True)
        self._thread.start()

    def request(self, path: Path) -> None:
        """Show ``path`` next (replaces any earlier request)."""
        with self._cond:
            self._request = path
            self._frame = None
            self._cond.notify_all()

    def poll(self) -> list[Prepared | Failed]:
        with self._cond:
            out, self._events = self._events, []
            return out

    def latest_frame(self) -> OrbitFrame | None:
        with self._cond:
            return self._frame

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=30.0)

    def _post(self, event: Prepared | Failed) -> None:
        with self._cond:
            self._events.append(event)

    def _run(self) -> None:
        os.environ.setdefault("GLOG_minloglevel", "2")
        from pipeline.tracking import PhotoError, PhotoPreprocessor

        backend: AvatarBackend[Any, Any] | None = None
        try:
            backend = self._make_backend()
            self.backend_name = backend.name
        except Exception as e:  # shown in the window instead of the 3D preview; the UI goes on
            log.exception("the avatar backend could not be created")
            self.backend_error = f"no 3D preview: {e}"
        pp = PhotoPreprocessor()
        try:
            current: Path | None = None
            scene = None
            step = 0
            while True:
                with self._cond:
                    if self._stop:
                        return
                    if self._request is None and (scene is None or current is None):
                        self._cond.wait()
                        continue
                    new, self._request = self._request, None
                if new is not None:
                    current, scene, step = new, None, 0
                    try:
                        face = pp.prepare(new, name=new.name)
                    except PhotoError as e:
                        self._post(Failed(new, str(e)))
                        current = None
                        continue
                    matte = np.round(face.matte * 255).astype(np.uint8)
                    self._post(Prepared(new, face.extras["crop_unmatted_rgb_u8"], matte))
                    if backend is None:
                        current = None
                        continue
                    try:
                        scene = self._scene(backend, face)
                    except ValueError as e:  # the avatar cannot be built from this face
                        self._post(Failed(new, f"the 3D avatar cannot use this photo: {e}"))
                        current = None
                    continue
                if backend is None or scene is None or current is None:
                    continue
                t0 = time.monotonic()
                view = pingpong_view(step, self.settings.num_views)
                cams = sweep_cameras(scene.camera, self.settings, [view])
                rgb = backend.render(scene, cams, [view]).rgb_u8[0]
                with self._cond:
                    if self._request is None:
                        self._frame = OrbitFrame(current, view, rgb)
                step += 1
                with self._cond:
                    self._cond.wait(max(0.0, 1.0 / self.fps - (time.monotonic() - t0)))
        finally:
            pp.close()
            if backend is not None:
                backend.close()

    @staticmethod
    def _scene(backend: AvatarBackend[Any, Any], face: Any) -> Any:
        """The source driven by itself: its own expression and head pose."""
        backend.reset_neutral(face)  # the photo's own face is the neutral expression
        source = backend.prepare_source(face)
        return backend.drive(source, face)
