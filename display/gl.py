"""OpenGL building blocks (moderngl): the quilt texture and the three drawing passes.

* :class:`QuiltTexture`: the quilt on the GPU (rows bottom-up, view 0 bottom-left); whole
  images or single tiles are uploaded into it.
* :class:`LenticularPass`: interleaves the quilt for a calibrated panel (``lenticular.frag``).
* :class:`PreviewPass`: one view, or the whole quilt, fitted into a regular window.
* :class:`OverlayPass`: a small RGBA image (the status line) blended on top.

Everything here runs on the thread that owns the context; objects are released explicitly.
Shaders are the ``display/shaders/*.glsl`` files shipped with the package.
"""

from __future__ import annotations

from importlib import resources

import moderngl
import numpy as np

from calibration.visual import MAX_SUBPIXEL_CELLS, ShaderParams
from display.lenticular import FilterMode, FitMode, interleave_params, tile_lookup
from display.quilt import QuiltLayout

__all__ = [
    "LenticularPass",
    "OverlayPass",
    "PreviewPass",
    "QuiltTexture",
    "check_gl_error",
    "collect_gl_garbage",
    "load_shader",
]


def load_shader(name: str) -> str:
    """Source text of ``display/shaders/<name>``."""
    return resources.files("display").joinpath("shaders", name).read_text(encoding="utf-8")


def collect_gl_garbage(ctx: moderngl.Context) -> int:
    """Release GL objects whose Python wrappers were dropped (``context_gc`` mode); call once
    per frame. Objects already released explicitly are skipped: moderngl 5.13 queues them too,
    and its own ``ctx.gc()`` then fails on them."""
    pending = ctx.objects
    count = 0
    while pending:
        obj = pending.popleft()
        if not isinstance(obj, moderngl.InvalidObject):
            obj.release()
            count += 1
    return count


def check_gl_error(ctx: moderngl.Context, where: str) -> None:
    """Raise if OpenGL recorded an error (this also clears it)."""
    err = ctx.error
    if err != "GL_NO_ERROR":
        raise RuntimeError(f"OpenGL error after {where}: {err}")


def _program(ctx: moderngl.Context, fragment: str) -> moderngl.Program:
    return ctx.program(
        vertex_shader=load_shader("fullscreen.vert.glsl"), fragment_shader=load_shader(fragment)
    )


def _set(prog: moderngl.Program, name: str, value: object) -> None:
    """Set a uniform; the GLSL compiler drops unused ones, which is not an error."""
    if name in prog:
        prog[name].value = value  # type: ignore[union-attr]


class QuiltTexture:
    """An RGB8 quilt texture. Images are top-down numpy arrays; the texture is bottom-up."""

    def __init__(self, ctx: moderngl.Context, layout: QuiltLayout) -> None:
        self.ctx = ctx
        self.layout = layout
        self.texture = ctx.texture((layout.quilt_w_px, layout.quilt_h_px), 3, alignment=1)
        self.texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self.texture.repeat_x = self.texture.repeat_y = False
        self.clear()

    def clear(self) -> None:
        w, h = self.texture.size
        self.texture.write(bytes(w * h * 3), alignment=1)

    def upload_quilt(self, quilt_rgb_u8: np.ndarray) -> None:
        """Replace the whole quilt with a top-down ``QH x QW x 3`` uint8 image."""
        shape = (self.layout.quilt_h_px, self.layout.quilt_w_px, 3)
        if quilt_rgb_u8.shape != shape or quilt_rgb_u8.dtype != np.uint8:
            raise ValueError(
                f"quilt image must be {shape} uint8, got {quilt_rgb_u8.shape} {quilt_rgb_u8.dtype}"
            )
        self.texture.write(np.ascontiguousarray(quilt_rgb_u8[::-1]).tobytes(), alignment=1)

    def upload_view(self, view: int, rgb_u8: np.ndarray) -> None:
        """Write one view (top-down ``th x tw x 3`` uint8) into its tile."""
        x, y, w, h = self.layout.tile_rect_gl_px(view)
        if rgb_u8.shape != (h, w, 3) or rgb_u8.dtype != np.uint8:
            raise ValueError(
                f"view {view} must be {w}x{h} px RGB uint8 to fit its tile, got {rgb_u8.shape} {rgb_u8.dtype}"
            )
        self.texture.write(np.ascontiguousarray(rgb_u8[::-1]).tobytes(), viewport=(x, y, w, h), alignment=1)

    def read(self) -> np.ndarray:
        """The quilt as shown: a top-down ``QH x QW x 3`` uint8 image."""
        w, h = self.texture.size
        data = self.texture.read(alignment=1)
        return np.frombuffer(data, np.uint8).reshape(h, w, 3)[::-1].copy()

    def release(self) -> None:
        self.texture.release()


class LenticularPass:
    """Interleave a quilt for one calibrated panel into the bound framebuffer."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self.program = _program(ctx, "lenticular.frag.glsl")
        self.vao = ctx.vertex_array(self.program, [])
        self._lut_x: moderngl.Texture | None = None
        self._lut_y: moderngl.Texture | None = None
        self.shader: ShaderParams | None = None
        self.layout: QuiltLayout | None = None

    def configure(
        self, shader: ShaderParams, layout: QuiltLayout, fit: FitMode = "fit", flip_y: bool = False
    ) -> None:
        """Set the calibration and quilt layout (rebuilds the lookup tables)."""
        p = interleave_params(shader, layout.num_views)
        lut = tile_lookup(shader, layout, fit, flip_y)
        self._release_luts()
        self._lut_x = self.ctx.texture((shader.screen_w_px, 1), 2, lut.x.tobytes(), dtype="f4")
        self._lut_y = self.ctx.texture((shader.screen_h_px, 1), 2, lut.y.tobytes(), dtype="f4")
        for t in (self._lut_x, self._lut_y):
            t.filter = (moderngl.NEAREST, moderngl.NEAREST)
        offsets = np.zeros((MAX_SUBPIXEL_CELLS, 3), np.uint32)
        offsets[: len(p.cell_offsets_q32)] = np.array(p.cell_offsets_q32, np.uint32)
        prog = self.program
        prog["cell_offsets"].write(offsets.tobytes())  # type: ignore[union-attr]
        for name, value in (
            ("step_x", p.step_x_q32),
            ("step_y", p.step_y_q32),
            ("base_phase", p.base_q32),
            ("num_cells", len(p.cell_offsets_q32)),
            ("cell_mode", p.cell_mode),
            ("num_views", p.num_views),
            ("cols", layout.cols),
            ("tile_size_px", (layout.tile_w_px, layout.tile_h_px)),
            ("inv_view", int(p.inv_view)),
            ("quilt", 0),
            ("lut_x", 1),
            ("lut_y", 2),
        ):
            _set(prog, name, value)
        self.shader, self.layout = shader, layout

    def render(
        self, quilt: QuiltTexture, filter_mode: FilterMode = "nearest", origin_px: tuple[int, int] = (0, 0)
    ) -> None:
        """Draw into the bound framebuffer; the panel's pixel (0, 0) is at ``origin_px`` (bottom-left)."""
        if self.shader is None or self._lut_x is None or self._lut_y is None or self.layout is None:
            raise RuntimeError("LenticularPass.configure() must be called before render()")
        if quilt.layout.tile_w_px != self.layout.tile_w_px or quilt.layout.tile_h_px != self.layout.tile_h_px:
            raise ValueError("the quilt texture's layout differs from the configured one")
        if filter_mode not in ("nearest", "linear"):
            raise ValueError(f"filter must be 'nearest' or 'linear', got {filter_mode!r}")
        quilt.texture.use(location=0)
        self._lut_x.use(location=1)
        self._lut_y.use(location=2)
        _set(self.program, "linear_filter", int(filter_mode == "linear"))
        _set(self.program, "panel_origin_px", tuple(origin_px))
        self.ctx.viewport = (origin_px[0], origin_px[1], self.shader.screen_w_px, self.shader.screen_h_px)
        self.vao.render(moderngl.TRIANGLES, vertices=3)

    def _release_luts(self) -> None:
        for t in (self._lut_x, self._lut_y):
            if t is not None:
                t.release()
        self._lut_x = self._lut_y = None

    def release(self) -> None:
        self._release_luts()
        self.vao.release()
        self.program.release()


class PreviewPass:
    """Draw one view (or the whole quilt) fitted into a viewport of a regular window."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self.program = _program(ctx, "preview.frag.glsl")
        self.vao = ctx.vertex_array(self.program, [])

    def render(
        self,
        quilt: QuiltTexture,
        viewport: tuple[int, int, int, int],
        view: int | None,
        stale: bool = False,
    ) -> None:
        """``view=None`` shows the whole quilt; otherwise view ``view`` at the views' aspect."""
        layout = quilt.layout
        if view is not None and not 0 <= view < layout.num_views:
            raise IndexError(f"view {view} is outside 0..{layout.num_views - 1}")
        quilt.texture.use(location=0)
        p = self.program
        for name, value in (
            ("quilt", 0),
            ("quilt_size_px", (layout.quilt_w_px, layout.quilt_h_px)),
            ("tile_size_px", (layout.tile_w_px, layout.tile_h_px)),
            ("cols", layout.cols),
            ("view", 0 if view is None else view),
            ("mode", 1 if view is None else 0),
            ("content_aspect", layout.quilt_w_px / layout.quilt_h_px if view is None else layout.aspect),
            ("viewport_origin_px", (float(viewport[0]), float(viewport[1]))),
            ("viewport_size_px", (float(viewport[2]), float(viewport[3]))),
            ("stale", int(stale)),
        ):
            _set(p, name, value)
        self.ctx.viewport = viewport
        self.vao.render(moderngl.TRIANGLES, vertices=3)

    def release(self) -> None:
        self.vao.release()
        self.program.release()


class OverlayPass:
    """Blend a small top-down RGBA uint8 image at a pixel position (top-left anchored)."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self.program = _program(ctx, "overlay.frag.glsl")
        self.vao = ctx.vertex_array(self.program, [])
        self._texture: moderngl.Texture | None = None

    def set_image(self, rgba_u8: np.ndarray) -> None:
        if rgba_u8.dtype != np.uint8 or rgba_u8.ndim != 3 or rgba_u8.shape[2] != 4:
            raise ValueError(f"overlay must be H x W x 4 uint8, got {rgba_u8.shape} {rgba_u8.dtype}")
        h, w = rgba_u8.shape[:2]
        if self._texture is None or self._texture.size != (w, h):
            if self._texture is not None:
                self._texture.release()
            self._texture = self.ctx.texture((w, h), 4, alignment=1)
            self._texture.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._texture.write(np.ascontiguousarray(rgba_u8[::-1]).tobytes(), alignment=1)

    def render(self, target_h_px: int, left_px: int = 0, top_px: int = 0) -> None:
        """Draw at ``(left, top)`` in a framebuffer ``target_h_px`` tall (y measured from the top)."""
        if self._texture is None:
            return
        w, h = self._texture.size
        self._texture.use(location=0)
        _set(self.program, "image", 0)
        self.ctx.viewport = (left_px, target_h_px - top_px - h, w, h)
        self.ctx.enable(moderngl.BLEND)
        self.ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        try:
            self.vao.render(moderngl.TRIANGLES, vertices=3)
        finally:
            self.ctx.disable(moderngl.BLEND)

    def release(self) -> None:
        if self._texture is not None:
            self._texture.release()
        self.vao.release()
        self.program.release()
