"""Rasterise the mesh avatar for N cameras with moderngl (EGL headless by default).

A :class:`MeshRenderer` owns (or borrows) one GL context and keeps its GL objects across
frames: the source's textures and static buffers are uploaded once by :meth:`load_source`;
each :meth:`render` only rewrites the 468 driven face vertices and draws every camera into a
tile of one offscreen framebuffer, then reads it back once.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources

import moderngl
import numpy as np

from pipeline.avatar import RenderedViews
from pipeline.cameras import Camera, opencv_cam2world_to_opengl_view, opengl_projection_from_intrinsics
from pipeline.face_model import canonical_face_model
from pipeline.mesh.state import MeshScene, MeshSource
from pipeline.mesh.texture import atlas_texcoords
from pipeline.mesh.topology import mouth_coordinates, mouth_triangle_mask

__all__ = ["MeshRenderer", "RendererConfig"]


@dataclass(frozen=True)
class RendererConfig:
    """Settings of :class:`MeshRenderer`.

    Attributes:
        msaa_samples: multisample anti-aliasing samples per pixel (0 = off, or 2, 4, 8).
        near_world / far_world: clipping planes, EG3D world units (0 < near < far).
        mouth_interior_rgb01: colour of the open mouth's cavity, RGB in [0, 1] (the shader
            darkens it towards the corners and adds upper teeth and a tongue).
        max_framebuffer_px: largest side of the tiled offscreen framebuffer.
    """

    msaa_samples: int = 4
    near_world: float = 0.05
    far_world: float = 20.0
    mouth_interior_rgb01: tuple[float, float, float] = (0.16, 0.05, 0.05)
    max_framebuffer_px: int = 8192

    def __post_init__(self) -> None:
        if self.msaa_samples not in (0, 2, 4, 8):
            raise ValueError(f"RendererConfig.msaa_samples must be 0, 2, 4 or 8, got {self.msaa_samples}")
        if not 0.0 < self.near_world < self.far_world:
            raise ValueError("RendererConfig needs 0 < near_world < far_world")
        if len(self.mouth_interior_rgb01) != 3 or not all(0.0 <= c <= 1.0 for c in self.mouth_interior_rgb01):
            raise ValueError("RendererConfig.mouth_interior_rgb01 must be three values in [0, 1]")
        if self.max_framebuffer_px < 64:
            raise ValueError("RendererConfig.max_framebuffer_px must be >= 64")


def _in_context(method: Callable) -> Callable:
    """Run a method with the renderer's GL context current (several contexts may share a thread)."""

    @functools.wraps(method)
    def inner(self: MeshRenderer, *args: object, **kwargs: object) -> object:
        self._check_open()
        with self.ctx:
            return method(self, *args, **kwargs)

    return inner


def _shader(name: str) -> str:
    return resources.files("pipeline.mesh.shaders").joinpath(name).read_text(encoding="utf-8")


def _texture(ctx: moderngl.Context, pixels_u8: np.ndarray) -> moderngl.Texture:
    h, w, n = pixels_u8.shape
    tex = ctx.texture((w, h), n, np.ascontiguousarray(pixels_u8).tobytes(), alignment=1)
    tex.build_mipmaps()
    tex.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
    tex.repeat_x = tex.repeat_y = False
    return tex


class MeshRenderer:
    """Draws :class:`MeshScene` frames of one loaded :class:`MeshSource`.

    Args:
        config: renderer settings.
        ctx: an existing moderngl context to draw with (e.g. a window's); by default the
            renderer creates and owns a standalone EGL context.
        owns_ctx: release ``ctx`` in :meth:`close` (a context made for this renderer).
    """

    def __init__(
        self,
        config: RendererConfig = RendererConfig(),
        ctx: moderngl.Context | None = None,
        owns_ctx: bool = False,
    ) -> None:
        self.config = config
        self._owns_ctx = ctx is None or owns_ctx
        self.ctx = moderngl.create_standalone_context(backend="egl") if ctx is None else ctx
        self._closed = False
        self._create_objects()

    @_in_context
    def _create_objects(self) -> None:
        config = self.config
        self._prog = self.ctx.program(
            vertex_shader=_shader("mesh.vert.glsl"), fragment_shader=_shader("mesh.frag.glsl")
        )
        self._prog["u_interior_rgb01"].value = tuple(float(c) for c in config.mouth_interior_rgb01)
        self._prog["u_texture"].value = 0
        self._prog["u_matte"].value = 1
        model = canonical_face_model()
        mouth = mouth_triangle_mask()
        self._face_pos = self.ctx.buffer(reserve=len(model.vertices_cm) * 12, dynamic=True)
        self._face_uv = self.ctx.buffer(atlas_texcoords().astype("f4").tobytes())
        self._face_mouth = self.ctx.buffer(mouth_coordinates().astype("f4").tobytes())
        # Where each face vertex lies in the source crop (set per source): its matte lookup.
        self._face_matte_uv = self.ctx.buffer(reserve=len(model.vertices_cm) * 8)
        self._skin_ibo = self.ctx.buffer(model.triangles[~mouth].astype("i4").tobytes())
        self._mouth_ibo = self.ctx.buffer(model.triangles[mouth].astype("i4").tobytes())
        fmt = [
            (self._face_pos, "3f", "in_position"),
            (self._face_uv, "2f", "in_texcoord"),
            (self._face_matte_uv, "2f", "in_matte_uv"),
            (self._face_mouth, "2f", "in_mouth"),
        ]
        self._skin_vao = self.ctx.vertex_array(
            self._prog, fmt, index_buffer=self._skin_ibo, index_element_size=4
        )
        self._mouth_vao = self.ctx.vertex_array(
            self._prog, fmt, index_buffer=self._mouth_ibo, index_element_size=4
        )
        self._source_objs: list[moderngl.Buffer | moderngl.Texture | moderngl.VertexArray] = []
        self._shell_vao: moderngl.VertexArray | None = None
        self._atlas: moderngl.Texture | None = None
        self._crop: moderngl.Texture | None = None
        self._fbos: dict[tuple[int, int, int, int], list[moderngl.Framebuffer]] = {}
        self._fbo_objs: list[moderngl.Renderbuffer | moderngl.Framebuffer] = []
        self.source_key: str | None = None

    # -- source -------------------------------------------------------------------------
    @_in_context
    def load_source(self, source: MeshSource) -> None:
        """Upload the source's textures and static geometry (replacing a previous source)."""
        self._check_open()
        self._release_source()
        self._atlas = _texture(self.ctx, source.atlas_rgb_u8)
        # The crop with the matte as alpha: the shell's colour, and every surface's matte.
        self._crop = _texture(
            self.ctx, np.concatenate([source.crop_rgb_u8, source.crop_matte_u8[:, :, None]], axis=2)
        )
        cam = source.camera
        seen_at = cam.project(source.face_world) / np.array([cam.width, cam.height])
        self._face_matte_uv.write(seen_at.astype("f4").tobytes())
        sh = source.shell
        self._source_objs = [self._atlas, self._crop]
        if len(sh.triangles):
            pos = self.ctx.buffer(sh.vertices_world.astype("f4").tobytes())
            uv = self.ctx.buffer(sh.texcoords.astype("f4").tobytes())
            ibo = self.ctx.buffer(sh.triangles.astype("i4").tobytes())
            self._shell_vao = self.ctx.vertex_array(
                self._prog,
                [(pos, "3f", "in_position"), (uv, "2f", "in_texcoord"), (uv, "2f", "in_matte_uv")],
                index_buffer=ibo,
                index_element_size=4,
            )
            self._source_objs += [pos, uv, ibo, self._shell_vao]
        self.source_key = source.key

    def _release_source(self) -> None:
        for obj in reversed(self._source_objs):
            obj.release()
        self._source_objs = []
        self._shell_vao = self._atlas = self._crop = None
        self.source_key = None

    # -- framebuffers -------------------------------------------------------------------
    def _framebuffers(self, w: int, h: int, cols: int, rows: int) -> list[moderngl.Framebuffer]:
        """[draw target, read target] for a cols x rows grid of w x h tiles (cached)."""
        key = (w, h, cols, rows)
        if key not in self._fbos:
            size = (w * cols, h * rows)
            s = self.config.msaa_samples
            colour = self.ctx.renderbuffer(size, 4, samples=s)
            depth = self.ctx.depth_renderbuffer(size, samples=s)
            draw = self.ctx.framebuffer([colour], depth)
            objs: list[moderngl.Renderbuffer | moderngl.Framebuffer] = [colour, depth, draw]
            fbs = [draw, draw]
            if s:
                resolved = self.ctx.renderbuffer(size, 4)
                read = self.ctx.framebuffer([resolved])
                objs += [resolved, read]
                fbs = [draw, read]
            self._fbo_objs += objs
            self._fbos[key] = fbs
        return self._fbos[key]

    # -- drawing ------------------------------------------------------------------------
    @_in_context
    def render(
        self, scene: MeshScene, cameras: Sequence[Camera], view_ids: Sequence[int] | None = None
    ) -> RenderedViews:
        """Draw ``scene`` through every camera (all of one size); black background."""
        self._check_open()
        if self._atlas is None or self._crop is None or self.source_key is None:
            raise RuntimeError("MeshRenderer.render: no source loaded (call load_source first)")
        if scene.source_key != self.source_key:
            raise ValueError(
                "MeshRenderer.render: the scene was driven from another source than the one loaded "
                f"({scene.source_key[:8]} vs {self.source_key[:8]}); load that source first"
            )
        if not cameras:
            raise ValueError("MeshRenderer.render needs at least one camera")
        w, h = cameras[0].width, cameras[0].height
        if any((c.width, c.height) != (w, h) for c in cameras):
            raise ValueError("MeshRenderer.render: all cameras of a batch must have the same size")
        n = len(cameras)
        limit = self.config.max_framebuffer_px
        if w > limit or h > limit:
            raise ValueError(f"view size {w}x{h} exceeds max_framebuffer_px={limit}")
        cols = max(1, min(n, limit // w, math.ceil(math.sqrt(n))))
        rows_per_pass = max(1, min(math.ceil(n / cols), limit // h))
        ids = list(range(n)) if view_ids is None else [int(i) for i in view_ids]
        if len(ids) != n:
            raise ValueError(f"{len(ids)} view ids for {n} cameras")

        self._face_pos.write(np.ascontiguousarray(scene.face_world, dtype="f4").tobytes())
        self._prog["u_interior"].value = 0.0
        out = np.empty((n, h, w, 4), dtype=np.uint8)
        per_pass = cols * rows_per_pass
        for start in range(0, n, per_pass):
            chunk = cameras[start : start + per_pass]
            rows = math.ceil(len(chunk) / cols)
            draw, read = self._framebuffers(w, h, cols, rows)
            draw.use()
            draw.viewport = (0, 0, w * cols, h * rows)
            self.ctx.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
            self.ctx.enable(moderngl.DEPTH_TEST)
            self.ctx.disable(moderngl.CULL_FACE)
            for i, cam in enumerate(chunk):
                r, c = divmod(i, cols)
                draw.viewport = (c * w, r * h, w, h)
                self._draw_view(scene, cam, self._atlas, self._crop)
            if read is not draw:
                self.ctx.copy_framebuffer(read, draw)
            raw = np.frombuffer(read.read(components=4, alignment=1), dtype=np.uint8)
            raw = raw.reshape(rows * h, cols * w, 4)
            for i in range(len(chunk)):
                r, c = divmod(i, cols)
                out[start + i] = raw[r * h : (r + 1) * h, c * w : (c + 1) * w][::-1]
        rgb = np.ascontiguousarray(out[..., :3])
        alpha = out[..., 3].astype(np.float32) / 255.0
        return RenderedViews(rgb_u8=rgb, view_ids=ids, alpha=alpha)

    def _draw_view(
        self, scene: MeshScene, cam: Camera, atlas: moderngl.Texture, crop: moderngl.Texture
    ) -> None:
        view = opencv_cam2world_to_opengl_view(cam.cam2world)
        proj = opengl_projection_from_intrinsics(
            cam.intrinsics, self.config.near_world, self.config.far_world
        )
        self._prog["u_view_projection"].write((proj @ view).T.astype("f4").tobytes())
        self._prog["u_interior"].value = 0.0
        crop.use(1)
        if self._shell_vao is not None:
            crop.use(0)
            self._shell_vao.render(moderngl.TRIANGLES)
        atlas.use(0)
        self._skin_vao.render(moderngl.TRIANGLES)
        self._prog["u_interior"].value = float(scene.mouth_interior)
        self._mouth_vao.render(moderngl.TRIANGLES)

    # -- lifetime -----------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("MeshRenderer is closed")

    def close(self) -> None:
        """Release every GL object (and the context when the renderer created it)."""
        if self._closed:
            return
        with self.ctx:
            self._release_objects()
        if self._owns_ctx:
            self.ctx.release()
        self._closed = True

    def _release_objects(self) -> None:
        self._release_source()
        for obj in reversed(self._fbo_objs):
            obj.release()
        self._fbo_objs, self._fbos = [], {}
        for obj in (
            self._skin_vao,
            self._mouth_vao,
            self._skin_ibo,
            self._mouth_ibo,
            self._face_uv,
            self._face_mouth,
            self._face_matte_uv,
            self._face_pos,
        ):
            obj.release()
        self._prog.release()

    def __enter__(self) -> MeshRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
