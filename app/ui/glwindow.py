"""Small pyglet + moderngl helpers shared by the windows of :mod:`app.ui`.

Call :func:`display.window.configure_pyglet` before anything imports ``pyglet.window``
(:func:`open_window` does it when nothing has yet).
"""

from __future__ import annotations

import sys
from typing import Any

import moderngl
import numpy as np

from display.gl import PreviewPass, QuiltTexture
from display.quilt import QuiltLayout

__all__ = ["ImageLayer", "key_name", "open_window"]

_KEY_ALIASES = {
    "return": "enter",
    "enter": "enter",
    "num_enter": "enter",
    "escape": "escape",
    "prior": "pageup",
    "next": "pagedown",
}


def key_name(symbol: int) -> str:
    """pyglet key symbol -> the lower-case names the pure UI cores use ("left", "enter", "q")."""
    from pyglet.window import key

    name = key.symbol_string(symbol).lower()
    name = _KEY_ALIASES.get(name, name)
    return name[1:] if len(name) == 2 and name[0] == "_" else name  # _1 -> 1


def open_window(
    width: int, height: int, caption: str, resizable: bool = True
) -> tuple[Any, moderngl.Context]:
    """A regular window with an OpenGL 4.1 core context attached to moderngl."""
    import pyglet

    if "pyglet.window" not in sys.modules:
        from display.window import configure_pyglet

        configure_pyglet(headless=False)
    from display.window import gl_config

    config = gl_config()
    window = pyglet.window.Window(
        width=width, height=height, resizable=resizable, vsync=False, config=config, caption=caption
    )
    ctx = moderngl.create_context(require=410)
    ctx.gc_mode = "context_gc"
    return window, ctx


class ImageLayer:
    """An RGB image drawn fitted (aspect kept) into a rectangle of the window."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self._pass = PreviewPass(ctx)
        self._quilt: QuiltTexture | None = None

    def set_image(self, rgb_u8: np.ndarray) -> None:
        h, w = rgb_u8.shape[:2]
        if self._quilt is None or (self._quilt.layout.tile_w_px, self._quilt.layout.tile_h_px) != (w, h):
            if self._quilt is not None:
                self._quilt.release()
            self._quilt = QuiltTexture(self.ctx, QuiltLayout(1, 1, w, h, w / h))
        self._quilt.upload_view(0, np.ascontiguousarray(rgb_u8))

    @property
    def has_image(self) -> bool:
        return self._quilt is not None

    def render(self, x: int, y_top: int, w: int, h: int, target_h_px: int) -> None:
        """Draw into the rectangle whose top-left corner is ``(x, y_top)`` (top-down pixels)."""
        if self._quilt is not None:
            self._pass.render(self._quilt, (x, target_h_px - y_top - h, w, h), 0)

    def release(self) -> None:
        if self._quilt is not None:
            self._quilt.release()
        self._pass.release()
