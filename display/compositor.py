"""The compositor: view batches in, the newest complete frame out, on a window or offscreen.

::

    comp = Compositor(sink, CompositorConfig(layout, mode="lenticular"), calibration.shader_params())
    comp.submit(seq, view_ids, rgb_u8_batch, t_capture_ns)   # from any renderer, any order
    info = comp.present()                                     # draw the newest complete frame

Modes: ``lenticular`` interleaves the quilt for the Looking Glass panel (the sink must be the
panel's native size); ``preview`` shows one view in a regular window (``set_view`` /
``step_view`` sweep through them); ``quilt`` shows the whole quilt. A status line (FPS,
capture-to-display latency, stale views) is drawn in the preview modes.

:meth:`Compositor.show_test_pattern` replaces the views with numbered, coloured ones so a user
can check the calibration by eye (see :mod:`display.patterns`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from calibration.visual import ShaderParams
from display.frames import AssemblerConfig, FrameAssembler, Tile
from display.gl import (
    LenticularPass,
    OverlayPass,
    PreviewPass,
    QuiltTexture,
    check_gl_error,
    collect_gl_garbage,
)
from display.lenticular import FilterMode, FitMode
from display.patterns import notice_tile, notice_views, numbered_views
from display.quilt import QuiltLayout
from display.sinks import OffscreenSink, Sink

__all__ = ["Compositor", "CompositorConfig", "PresentInfo", "status_line_image"]

Mode = Literal["lenticular", "preview", "quilt"]


@dataclass(frozen=True)
class CompositorConfig:
    """Attributes:
    layout: the quilt (its ``num_views`` is the number of views per frame).
    mode: ``lenticular``, ``preview`` or ``quilt``.
    filter_mode: lenticular filter; ``linear`` blends neighbouring views (softer steps).
    fit: letterbox (``fit``) or crop (``fill``) when the views' aspect differs from the panel's.
    show_status: draw the FPS / latency line (preview modes only).
    stale_after_frames: see :class:`display.frames.AssemblerConfig`.
    """

    layout: QuiltLayout
    mode: Mode = "lenticular"
    filter_mode: FilterMode = "linear"
    fit: FitMode = "fit"
    show_status: bool = True
    stale_after_frames: int = 3

    def __post_init__(self) -> None:
        if self.mode not in ("lenticular", "preview", "quilt"):
            raise ValueError(f"mode must be lenticular, preview or quilt, got {self.mode!r}")
        if self.filter_mode not in ("nearest", "linear"):
            raise ValueError(f"filter_mode must be nearest or linear, got {self.filter_mode!r}")


@dataclass(frozen=True)
class PresentInfo:
    seq: int | None  # None while showing the test pattern or nothing yet
    complete: bool
    stale_views: tuple[int, ...]
    latency_ms: float | None
    fps: float | None


def status_line_image(text: str, height_px: int = 22) -> np.ndarray:
    """White text on a translucent black strip, ``H x W x 4`` uint8 RGBA (top-down)."""
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, height_px / 40.0
    (tw, _), _ = cv2.getTextSize(text, font, scale, 1)
    img = np.zeros((height_px, tw + 12, 4), np.uint8)
    img[..., 3] = 160
    cv2.putText(img, text, (6, int(height_px * 0.72)), font, scale, (255, 255, 255, 255), 1, cv2.LINE_AA)
    return img


def _ranges(views: Sequence[int]) -> str:
    out: list[str] = []
    for v in views:
        if out and out[-1].split("-")[-1] == str(v - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{v}"
        else:
            out.append(str(v))
    return ",".join(out)


class Compositor:
    """Owns the GL objects of one display (call from the thread that owns the context)."""

    def __init__(self, sink: Sink, config: CompositorConfig, shader: ShaderParams | None = None) -> None:
        layout = config.layout
        if config.mode == "lenticular":
            if shader is None:
                raise ValueError("lenticular mode needs the display's calibration (shader parameters)")
            if sink.size_px != (shader.screen_w_px, shader.screen_h_px):
                raise ValueError(
                    f"the output is {sink.size_px[0]}x{sink.size_px[1]} px but the panel is "
                    f"{shader.screen_w_px}x{shader.screen_h_px} px: the lenticular image must map 1:1 to panel pixels"
                )
        self.sink = sink
        self.ctx = sink.ctx
        self.config = config
        self.assembler = FrameAssembler(
            AssemblerConfig(
                layout.num_views,
                layout.tile_w_px,
                layout.tile_h_px,
                stale_after_frames=config.stale_after_frames,
            )
        )
        self.quilt = QuiltTexture(self.ctx, layout)
        self._lens: LenticularPass | None = None
        if shader is not None:
            self._lens = LenticularPass(self.ctx)
            self._lens.configure(shader, layout, config.fit)
        self._preview = PreviewPass(self.ctx)
        self._overlay = OverlayPass(self.ctx)
        self._notice_overlay = OverlayPass(self.ctx)
        self._notice_drawn: tuple[str, int, int] | None = None
        self.view = layout.num_views // 2
        self.test_pattern = False
        self.notice: str | None = None
        self._dirty = True
        self._seq: int | None = None
        self._complete = True
        self._stale: tuple[int, ...] = ()
        self._latency_ms: float | None = None
        self._present_times_ns: deque[int] = deque(maxlen=30)
        self._status_text = ""
        # An offscreen target is drawn when read, not every frame (see OffscreenSink).
        self._draw_pending = False
        self._offscreen = sink if isinstance(sink, OffscreenSink) else None
        if self._offscreen is not None:
            self._offscreen.before_read = self._draw_if_pending

    # -- input ---------------------------------------------------------------------------
    def submit(self, seq: int, view_ids: Sequence[int], rgb_u8: np.ndarray, t_capture_ns: int) -> None:
        """Queue a batch of rendered views (see :class:`display.frames.FrameAssembler`)."""
        self.assembler.submit(seq, view_ids, rgb_u8, t_capture_ns)

    def set_view(self, view: int) -> None:
        """The view shown in preview mode (clamped to the valid range)."""
        v = min(max(int(view), 0), self.config.layout.num_views - 1)
        if v != self.view:
            self.view, self._dirty = v, True

    def step_view(self, delta: int) -> None:
        self.set_view(self.view + delta)

    def set_calibration(self, shader: ShaderParams) -> None:
        """Change the calibration (e.g. while nudging the centre); the panel size must not change."""
        if self._lens is None:
            self._lens = LenticularPass(self.ctx)
        self._lens.configure(shader, self.config.layout, self.config.fit)
        self._dirty = True

    def show_test_pattern(self, on: bool) -> None:
        """Show numbered coloured views instead of the live ones (``False`` restores them)."""
        if on == self.test_pattern:
            return
        self.test_pattern = on
        if on:
            self.quilt.upload_quilt(numbered_views(self.config.layout))
        elif self.notice is not None:
            self.quilt.upload_quilt(notice_views(self.config.layout, self.notice))
        else:
            self.quilt.clear()
            self._upload(self.assembler.latest_tiles())
        self._dirty = True

    def set_notice(self, text: str | None) -> None:
        """Show ``text`` instead of the views until a frame arrives (None: no notice): in every
        view (flat on a Looking Glass) and in the preview's status line."""
        if text == self.notice:
            return
        self.notice = text
        if text is not None and not self.test_pattern:
            self.quilt.upload_quilt(notice_views(self.config.layout, text))
        self._dirty = True

    # -- output --------------------------------------------------------------------------
    def present(self, force: bool = False, now_ns: int | None = None) -> PresentInfo | None:
        """Draw the newest frame if there is one (or ``force``); returns what was shown, else None."""
        frame = self.assembler.take()
        if frame is not None:
            if self.notice is not None:
                self.notice = None
                self.quilt.clear()
            if not self.test_pattern:
                self._upload(frame.tiles)
            self._seq, self._complete, self._stale = frame.seq, frame.complete, frame.stale_views
            now = time.monotonic_ns() if now_ns is None else now_ns
            self._latency_ms = (now - frame.t_capture_ns) / 1e6 if frame.t_capture_ns > 0 else None
            self._dirty = True
        if not (self._dirty or force):
            return None
        if self._offscreen is not None:
            self._draw_pending = True
        else:
            self._draw()
        self._present_times_ns.append(time.monotonic_ns())
        self._dirty = False
        return PresentInfo(
            None if self.test_pattern else self._seq, self._complete, self._stale, self._latency_ms, self.fps
        )

    @property
    def fps(self) -> float | None:
        t = self._present_times_ns
        if len(t) < 2 or t[-1] == t[0]:
            return None
        return (len(t) - 1) * 1e9 / (t[-1] - t[0])

    def shown_quilt(self) -> np.ndarray:
        """The quilt being shown (views, test pattern or notice), top-down ``QH x QW x 3``."""
        return self.quilt.read()

    def status_text(self) -> str:
        parts = [
            f"view {self.view}/{self.config.layout.num_views - 1}"
            if self.config.mode == "preview"
            else "quilt"
        ]
        if self.test_pattern:
            parts.append("TEST PATTERN")
        if self.notice is not None:  # the full text is on the screen; the line keeps its head
            return " | ".join([*parts, self.notice.split(" - ")[0]])
        fps = self.fps
        parts.append(f"{fps:.1f} fps" if fps is not None else "-- fps")
        parts.append(f"latency {self._latency_ms:.0f} ms" if self._latency_ms is not None else "latency --")
        if self._stale:
            parts.append(f"stale views {_ranges(self._stale)}")
        return " | ".join(parts)

    def _upload(self, tiles: dict[int, Tile]) -> None:
        for v, tile in tiles.items():
            self.quilt.upload_view(v, tile.rgb_u8)

    def _draw(self) -> None:
        self.sink.begin()
        w, h = self.sink.size_px
        mode = self.config.mode
        if mode == "lenticular":
            assert self._lens is not None
            self._lens.render(self.quilt, self.config.filter_mode)
        else:
            view = self.view if mode == "preview" else None
            self._preview.render(
                self.quilt, (0, 0, w, h), view, stale=view is not None and view in self._stale
            )
            if self.notice is not None and view is not None:  # one view on a monitor: the message sharp
                nw, nh = max(16, int(w * 0.8)), max(16, int(h * 0.5))
                if self._notice_drawn != (self.notice, nw, nh):
                    rgb = notice_tile(self.notice, nw, nh)
                    self._notice_overlay.set_image(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]))
                    self._notice_drawn = (self.notice, nw, nh)
                self._notice_overlay.render(h, (w - nw) // 2, (h - nh) // 2)
            if self.config.show_status:
                text = self.status_text()
                if text != self._status_text:
                    self._overlay.set_image(status_line_image(text))
                    self._status_text = text
                self._overlay.render(h, 4, 4)
        self.sink.finish()
        collect_gl_garbage(self.ctx)
        check_gl_error(self.ctx, "drawing a frame")

    def _draw_if_pending(self) -> None:
        if self._draw_pending:
            self._draw_pending = False
            self._draw()

    def release(self) -> None:
        if self._offscreen is not None:
            self._offscreen.before_read = None
        if self._lens is not None:
            self._lens.release()
        self._preview.release()
        self._overlay.release()
        self._notice_overlay.release()
        self.quilt.release()
