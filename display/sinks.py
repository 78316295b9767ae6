"""Where the compositor draws: an offscreen framebuffer (headless) or a window.

Both implement :class:`Sink`: ``begin()`` binds and clears the target, the caller draws,
``finish()`` completes the frame (a window swaps buffers; the offscreen sink does nothing).
The offscreen sink also reads its pixels back as a top-down RGB numpy image, and is drawn
into only when read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import moderngl
import numpy as np

__all__ = ["OffscreenSink", "Sink"]


@runtime_checkable
class Sink(Protocol):
    ctx: moderngl.Context

    @property
    def size_px(self) -> tuple[int, int]: ...

    def begin(self) -> None: ...

    def finish(self) -> None: ...

    def release(self) -> None: ...


class OffscreenSink:
    """An RGBA8 framebuffer of ``width x height`` pixels; :meth:`read_rgb` returns what was drawn.

    Nothing shows it, so the compositor draws into it only when it is read
    (:attr:`before_read`): a headless live call does not pay a full-size draw a frame for an
    image nobody looks at (about 5 ms a frame on a software rasteriser).
    """

    #: Called by :meth:`read_rgb` before it reads (the compositor's pending draw).
    before_read: Callable[[], None] | None = None

    def __init__(self, ctx: moderngl.Context, width_px: int, height_px: int) -> None:
        if width_px < 1 or height_px < 1:
            raise ValueError(f"framebuffer size must be positive, got {width_px}x{height_px}")
        limit = ctx.info["GL_MAX_TEXTURE_SIZE"]
        if max(width_px, height_px) > limit:
            raise ValueError(f"{width_px}x{height_px} px exceeds this GPU's texture limit of {limit} px")
        self.ctx = ctx
        self._texture = ctx.texture((width_px, height_px), 4)
        self.fbo = ctx.framebuffer(color_attachments=[self._texture])

    @property
    def size_px(self) -> tuple[int, int]:
        return self.fbo.size

    def begin(self) -> None:
        self.fbo.use()
        self.fbo.clear(0.0, 0.0, 0.0, 1.0)

    def finish(self) -> None:
        """Nothing to present; pixels stay readable until the next ``begin()``."""

    def read_rgb(self) -> np.ndarray:
        """What was drawn, ``H x W x 3`` uint8, row 0 at the top."""
        if self.before_read is not None:
            self.before_read()
        w, h = self.fbo.size
        data = self.fbo.read(components=3, alignment=1)
        return np.frombuffer(data, np.uint8).reshape(h, w, 3)[::-1].copy()

    def release(self) -> None:
        if self.ctx.fbo is self.fbo:
            # moderngl re-binds the "current" framebuffer after creating another one; never
            # leave it pointing at a deleted one (that raises GL_INVALID_OPERATION later).
            default = self.ctx.screen if self.ctx.screen is not None else self.ctx.detect_framebuffer(0)
            default.use()
        self.fbo.release()
        self._texture.release()
