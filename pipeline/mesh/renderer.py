"""Rasterise the mesh avatar for N cameras with moderngl (EGL headless by default).

A :class:`MeshRenderer` owns (or borrows) one GL context and keeps its GL objects across
frames: :meth:`MeshRenderer.load_source` uploads the source's textures and its static
geometry once; each :meth:`MeshRenderer.render` rewrites only the driven face vertices (once
per frame, whatever the number of views) and the per-view cameras, draws, and reads the
framebuffer back once.

Every frame is four draws, each with its own fragment program (``mesh.frag.glsl``): the
skin triangles wholly inside the source's matte (atlas colour, no matte test), the mouth
opening's (the same, faded to the mouth interior), the face triangles that reach background
(atlas colour, matte from the crop), then the head shell behind them (colour and matte from
the crop). Drawn front to back, the shell's hidden fragments fail the depth test before they
are shaded; most face fragments take one texture lookup instead of two; and the programs
that draw most pixels do not branch on the surface (a software rasteriser runs both sides of
a branch on a block of pixels: one program choosing each surface's texture in a branch
sampled both textures everywhere). Measured with ``voodoo-holo bench render``: 24 views of
192 px took 32 ms in one draw with the branch, about 20 ms in three draws (the mouth drawn
with the skin, behind a branch), 5 % less again with the mouth in a draw of its own.

Two drawing strategies give the same pixels (``RendererConfig.strategy``):

- ``"one_pass"`` (default): those four instanced draw calls for all the views of a frame;
  each instance is a view, routed to its tile of the framebuffer in clip space (see
  :mod:`pipeline.mesh.drawlist`). Works on OpenGL 3.3+ and on Mesa's llvmpipe.
- ``"per_view"``: the reference, the four draws for each view with a viewport per tile.

On Mesa's llvmpipe both cost about the same (``voodoo-holo bench render`` times them side by
side): what a software rasteriser spends is per triangle and per pixel, not per draw call,
which is why the head shell is drawn with as few triangles as the view size needs
(:attr:`RendererConfig.shell_detail_px`).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import cv2
import moderngl
import numpy as np

from pipeline.avatar import RenderedViews
from pipeline.cameras import Camera, opencv_cam2world_to_opengl_view, opengl_projection_from_intrinsics
from pipeline.mesh.drawlist import SURFACE_SHELL, DrawGeometry, TileGrid, build_draw_geometry, plan_tiles
from pipeline.mesh.state import MeshScene, MeshSource

__all__ = ["MeshRenderer", "RendererConfig", "Strategy"]

Strategy = Literal["one_pass", "per_view"]
_STRATEGIES: tuple[str, ...] = ("one_pass", "per_view")
#: GL_CLIP_DISTANCE0 (moderngl has no flag for it); the vertex shader writes four.
_GL_CLIP_DISTANCE0 = 0x3000
_NUM_CLIP_DISTANCES = 4
#: Floats per instance: the view-projection matrix (column-major) and the tile transform.
_INSTANCE_FLOATS = 16 + 4


@dataclass(frozen=True)
class RendererConfig:
    """Settings of :class:`MeshRenderer`.

    Attributes:
        strategy: ``"one_pass"`` (instanced draws for all views at once) or ``"per_view"`` (the
            same draws for each view: the reference implementation).
        msaa_samples: multisample anti-aliasing samples per pixel (0 = off, or 2, 4, 8; at
            most what the GL allows). Off by default: the avatar's outline is cut per pixel by
            the source matte, which multisampling does not smooth, so on a software
            rasteriser it costs far more than it buys (``voodoo-holo bench render`` times the
            options side by side with their PSNR against a 16-samples-a-pixel render).
        near_world / far_world: clipping planes, EG3D world units (0 < near < far).
        mouth_interior_rgb01: colour of the open mouth's cavity, RGB in [0, 1] (the shader
            darkens it towards the corners and adds upper teeth and a tongue).
        max_framebuffer_px: largest side of the tiled offscreen framebuffer (and no more than
            the GL allows); views that do not fit in one are drawn in several passes.
        shell_detail_px: how far, in view pixels, the head shell's simplification may move a
            point of it in a view turned 30 deg from the source (> 0): views smaller than the
            source crop draw a coarser triangulation of the shell.
        face_depth_lift_world: the face wins the depth test against the head shell within this
            distance (EG3D world units, >= 0; 0.05 is about 2 cm on an adult head): the
            shell lies just behind the face at rest, and a driven face moves off it (a
            lowered chin goes down and back).
        untextured: draw every surface flat grey, with no texture lookup and no matte cut:
            what the geometry alone costs the rasteriser (``voodoo-holo bench render`` times
            it beside the textured views and the fill-only reference). Not for display.
    """

    strategy: Strategy = "one_pass"
    msaa_samples: int = 0
    near_world: float = 0.05
    far_world: float = 20.0
    mouth_interior_rgb01: tuple[float, float, float] = (0.16, 0.05, 0.05)
    max_framebuffer_px: int = 16384
    shell_detail_px: float = 2.5
    face_depth_lift_world: float = 0.05
    untextured: bool = False

    def __post_init__(self) -> None:
        if self.strategy not in _STRATEGIES:
            raise ValueError(f"RendererConfig.strategy must be one of {_STRATEGIES}, got {self.strategy!r}")
        if self.msaa_samples not in (0, 2, 4, 8):
            raise ValueError(f"RendererConfig.msaa_samples must be 0, 2, 4 or 8, got {self.msaa_samples}")
        if not 0.0 < self.near_world < self.far_world:
            raise ValueError("RendererConfig needs 0 < near_world < far_world")
        if len(self.mouth_interior_rgb01) != 3 or not all(0.0 <= c <= 1.0 for c in self.mouth_interior_rgb01):
            raise ValueError("RendererConfig.mouth_interior_rgb01 must be three values in [0, 1]")
        if self.max_framebuffer_px < 64:
            raise ValueError("RendererConfig.max_framebuffer_px must be >= 64")
        if not self.shell_detail_px > 0.0:
            raise ValueError(f"RendererConfig.shell_detail_px must be > 0, got {self.shell_detail_px}")
        if not 0.0 <= self.face_depth_lift_world < self.far_world:
            raise ValueError(
                f"RendererConfig.face_depth_lift_world must be in [0, far_world), got {self.face_depth_lift_world}"
            )


def _in_context(method: Callable) -> Callable:
    """Run a method with the renderer's GL context current (several contexts may share a thread)."""

    @functools.wraps(method)
    def inner(self: MeshRenderer, *args: object, **kwargs: object) -> object:
        self._check_open()
        with self.ctx:
            return method(self, *args, **kwargs)

    return inner


def _shader(name: str, *defines: str) -> str:
    """A shader's source with ``#define``s inserted after its ``#version`` line."""
    text = resources.files("pipeline.mesh.shaders").joinpath(name).read_text(encoding="utf-8")
    version, rest = text.split("\n", 1)
    return "\n".join([version, *(f"#define {d}" for d in defines), rest])


def _set_uniform(prog: moderngl.Program, name: str, value: Any, *, optional: bool = False) -> None:
    """Set the uniform ``name`` of ``prog`` (any other kind of member is a shader mismatch;
    ``optional``: a program that does not use it is left alone)."""
    if optional and name not in prog:
        return
    member = prog[name]
    if not isinstance(member, moderngl.Uniform):
        raise TypeError(f"{name!r} of the mesh shader is a {type(member).__name__}, not a uniform")
    member.value = value


def _texture(ctx: moderngl.Context, pixels_u8: np.ndarray) -> moderngl.Texture:
    h, w, n = pixels_u8.shape
    tex = ctx.texture((w, h), n, np.ascontiguousarray(pixels_u8).tobytes(), alignment=1)
    tex.build_mipmaps()
    tex.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
    tex.repeat_x = tex.repeat_y = False
    return tex


def view_projection(camera: Camera, near_world: float, far_world: float) -> np.ndarray:
    """4 x 4 OpenGL clip-from-world matrix of an OpenCV ``camera`` (column vectors)."""
    proj = opengl_projection_from_intrinsics(camera.intrinsics, near_world, far_world)
    return proj @ opencv_cam2world_to_opengl_view(camera.cam2world)


def _unpack(rgba: np.ndarray, rgb_out: np.ndarray, alpha_out: np.ndarray) -> None:
    """Views read back as RGBA (``n x h x w x 4`` uint8) into RGB (uint8) and alpha in [0, 1]."""
    n, h, w, _ = rgba.shape
    rows = np.ascontiguousarray(rgba).reshape(n * h, w, 4)
    target = rgb_out.reshape(n * h, w, 3)  # a view: rgb_out is contiguous
    done = cv2.cvtColor(rows, cv2.COLOR_RGBA2RGB, dst=target)
    if done is not target:  # OpenCV allocated instead of writing in place
        target[...] = done
    np.multiply(rgba[..., 3], np.float32(1.0 / 255.0), out=alpha_out)


@dataclass(frozen=True)
class _Draws:
    """The draws of one triangulation, front to back, as (vertex array, first index, index
    count) ranges of one index buffer: the skin inside the matte, the mouth inside it, the
    face reaching background, the shell."""

    ranges: tuple[tuple[moderngl.VertexArray, int, int], ...]

    def render(self, instances: int) -> None:
        for vao, first, count in self.ranges:
            if count:
                vao.render(moderngl.TRIANGLES, vertices=count, first=first, instances=instances)

    def release(self) -> None:
        for vao, _, _ in self.ranges:
            vao.release()


@dataclass
class _SourceObjects:
    """GL objects of one loaded source: the draws of each triangulation of its shell."""

    crop_px: int
    levels: list[tuple[float, DrawGeometry, _Draws]]
    atlas: moderngl.Texture
    crop: moderngl.Texture
    positions: moderngl.Buffer
    buffers: list[moderngl.Buffer]

    def level(self, view_px: int, detail_px: float) -> tuple[DrawGeometry, _Draws]:
        """The coarsest triangulation whose tolerance, in views of ``view_px``, is within ``detail_px``."""
        budget = detail_px * self.crop_px / max(view_px, 1)
        fits = [lv for lv in self.levels if lv[0] <= budget] or self.levels[:1]
        return fits[-1][1], fits[-1][2]

    def release(self) -> None:
        for _, _, draws in self.levels:
            draws.release()
        for b in self.buffers:
            b.release()
        self.positions.release()
        self.crop.release()
        self.atlas.release()


class MeshRenderer:
    """Draws :class:`MeshScene` frames of one loaded :class:`MeshSource`.

    Args:
        config: renderer settings.
        ctx: an existing moderngl context to draw with (e.g. a window's). The app always passes
            one made by its platform choice (``app.platform.create_gl_context``: EGL or GLX on
            Linux, CGL on macOS, WGL on Windows); without one, for direct use of this library
            on a headless Linux machine (tests, scripts), the renderer makes an EGL context.
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
        if ctx is None:
            # moderngl's stub types every keyword setting as a dict; backend= is a string
            create: Callable[..., moderngl.Context] = moderngl.create_standalone_context
            ctx = create(backend="egl")
        self.ctx = ctx
        self._closed = False
        try:
            self._create_objects()
        except Exception:
            if self._owns_ctx:
                self.ctx.release()
            raise

    @_in_context
    def _create_objects(self) -> None:
        samples = self.config.msaa_samples
        if samples > self.ctx.max_samples:
            raise ValueError(
                f"RendererConfig.msaa_samples={samples} is more than this OpenGL allows "
                f"({self.ctx.max_samples}); use {self.ctx.max_samples} or fewer"
            )
        self._max_side = min(self.config.max_framebuffer_px, int(self.ctx.info["GL_MAX_RENDERBUFFER_SIZE"]))
        # The skin and the mouth inside the matte, the face reaching background, the shell
        # (mesh.frag.glsl).
        vertex = _shader("mesh.vert.glsl")

        flat = ("UNTEXTURED",) if self.config.untextured else ()

        def program(*defines: str) -> moderngl.Program:
            return self.ctx.program(
                vertex_shader=vertex, fragment_shader=_shader("mesh.frag.glsl", *defines, *flat)
            )

        self._skin_prog = program("MATTE_INSIDE", "SKIN_ONLY")
        self._mouth_prog = program("MATTE_INSIDE", "MOUTH_ONLY")
        self._prog = program()
        self._shell_prog = program("SHELL_PASS")
        interior = tuple(float(c) for c in self.config.mouth_interior_rgb01)
        for prog in self._mouth_programs:
            _set_uniform(prog, "u_interior_rgb01", interior, optional=bool(flat))
        for prog in (self._skin_prog, *self._mouth_programs):
            _set_uniform(prog, "u_atlas", 0, optional=bool(flat))
        near, far = self.config.near_world, self.config.far_world
        for prog in self._programs:
            _set_uniform(prog, "u_crop", 1, optional=True)
            _set_uniform(prog, "u_face_lift", float(self.config.face_depth_lift_world))
            _set_uniform(
                prog, "u_depth_a", -(far + near) / (far - near)
            )  # as opengl_projection_from_intrinsics
        self._instances = self.ctx.buffer(reserve=64 * _INSTANCE_FLOATS * 4, dynamic=True)
        self._source: _SourceObjects | None = None
        self._quad_vao: moderngl.VertexArray | None = None
        self._quad_objs: list[moderngl.Buffer] = []
        self._fbos: dict[tuple[int, int, int, int], tuple[moderngl.Framebuffer, moderngl.Framebuffer]] = {}
        self._fbo_objs: list[moderngl.Renderbuffer | moderngl.Framebuffer] = []
        self._query: moderngl.Query | None = None
        self.source_key: str | None = None

    @property
    def _programs(self) -> tuple[moderngl.Program, ...]:
        """Every program, in the order of the draws."""
        return (self._skin_prog, self._mouth_prog, self._prog, self._shell_prog)

    @property
    def _mouth_programs(self) -> tuple[moderngl.Program, ...]:
        return (self._mouth_prog, self._prog)

    # -- source -------------------------------------------------------------------------
    @_in_context
    def load_source(self, source: MeshSource) -> None:
        """Upload the source's textures and static geometry (replacing a previous source)."""
        self._release_source()
        cam = source.camera
        seen_at = cam.project(source.face_world) / np.array([cam.width, cam.height])
        shell_levels = source.shell.levels()
        geos = [
            build_draw_geometry(seen_at, source.shell, tri, source.crop_matte_u8) for _, tri in shell_levels
        ]
        geo = geos[0]
        atlas = _texture(self.ctx, source.atlas_rgb_u8)
        # The crop with the matte as alpha: the shell's colour, and every surface's matte.
        crop = _texture(
            self.ctx, np.concatenate([source.crop_rgb_u8, source.crop_matte_u8[:, :, None]], axis=2)
        )
        positions = np.zeros((geo.num_vertices, 3), np.float32)
        positions[geo.num_dynamic :] = geo.shell_positions
        pos = self.ctx.buffer(positions.tobytes(), dynamic=True)
        attrs = self.ctx.buffer(geo.static_attributes.tobytes())
        surface = self.ctx.buffer(geo.surface.tobytes())
        buffers = [attrs, surface]
        levels = []
        for (tol, _), g in zip(shell_levels, geos, strict=True):
            ibo = self.ctx.buffer(g.triangles.tobytes())
            buffers.append(ibo)
            content = [
                (pos, "3f", "in_position"),
                (attrs, "2f 2f 2f", "in_texcoord", "in_matte_uv", "in_mouth"),
                (surface, "1i", "in_surface"),
                (self._instances, "16f 4f/i", "in_view_projection", "in_tile"),
            ]
            # Not every program reads every column (the shell no atlas or mouth coordinate,
            # the face inside the matte no matte coordinate): the GL drops those, and
            # skip_errors lets them stay in the shared layout.
            skin, mouth, edge, shell = (
                self.ctx.vertex_array(prog, content, index_buffer=ibo, index_element_size=4, skip_errors=True)
                for prog in self._programs
            )
            n_shell = 3 * g.triangle_counts[SURFACE_SHELL]
            n_edge = 3 * g.face_edge_count
            n_mouth = 3 * g.mouth_inside_count
            n_skin = 3 * len(g.triangles) - n_shell - n_mouth - n_edge
            draws = _Draws(
                (
                    (skin, n_shell, n_skin),
                    (mouth, n_shell + n_skin, n_mouth),
                    (edge, n_shell + n_skin + n_mouth, n_edge),
                    (shell, 0, n_shell),
                )
            )
            levels.append((tol, g, draws))
        self._source = _SourceObjects(cam.width, levels, atlas, crop, pos, buffers)
        self.source_key = source.key

    def _release_source(self) -> None:
        if self._source is not None:
            self._source.release()
        self._source = None
        self.source_key = None

    def geometry(self, view_px: int) -> DrawGeometry:
        """What one view of ``view_px`` pixels draws for the loaded source."""
        if self._source is None:
            raise RuntimeError("MeshRenderer.geometry: no source loaded")
        return self._source.level(view_px, self.config.shell_detail_px)[0]

    # -- framebuffers -------------------------------------------------------------------
    def _framebuffers(self, grid: TileGrid) -> tuple[moderngl.Framebuffer, moderngl.Framebuffer]:
        """(draw target, read target) for a tile grid (cached; the same when not multisampled)."""
        key = (grid.tile_w, grid.tile_h, grid.cols, grid.rows)
        if key not in self._fbos:
            size = grid.size
            s = self.config.msaa_samples
            colour = self.ctx.renderbuffer(size, 4, samples=s)
            depth = self.ctx.depth_renderbuffer(size, samples=s)
            draw = self.ctx.framebuffer([colour], depth)
            self._fbo_objs += [colour, depth, draw]
            read = draw
            if s:
                resolved = self.ctx.renderbuffer(size, 4)
                read = self.ctx.framebuffer([resolved])
                self._fbo_objs += [resolved, read]
            self._fbos[key] = (draw, read)
        return self._fbos[key]

    def _write_instances(self, data: np.ndarray) -> None:
        raw = np.ascontiguousarray(data, dtype=np.float32).tobytes()
        if len(raw) > self._instances.size:
            self._instances.orphan(len(raw))
        self._instances.write(raw)

    # -- drawing ------------------------------------------------------------------------
    @_in_context
    def render(
        self, scene: MeshScene, cameras: Sequence[Camera], view_ids: Sequence[int] | None = None
    ) -> RenderedViews:
        """Draw ``scene`` through every camera (all of one size); black background."""
        return self._render(scene, cameras, view_ids)

    @_in_context
    def count_primitives(self, scene: MeshScene, cameras: Sequence[Camera]) -> int:
        """Triangles the GL drew (``GL_PRIMITIVES_GENERATED``) for one render of ``cameras``."""
        query = self.ctx.query(primitives=True)
        self._query = query
        try:
            self._render(scene, cameras, None)
        finally:
            self._query = None
        return int(query.primitives)

    def _render(
        self, scene: MeshScene, cameras: Sequence[Camera], view_ids: Sequence[int] | None
    ) -> RenderedViews:
        src = self._source
        if src is None or self.source_key is None:
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
        ids = list(range(n)) if view_ids is None else [int(i) for i in view_ids]
        if len(ids) != n:
            raise ValueError(f"{len(ids)} view ids for {n} cameras")
        passes = plan_tiles(n, w, h, self._max_side)

        # The driven face, uploaded once for every view.
        geo, draws = src.level(w, self.config.shell_detail_px)
        src.positions.write(np.ascontiguousarray(scene.face_world[geo.face_rows], dtype="f4").tobytes())
        for prog in self._mouth_programs:
            _set_uniform(prog, "u_interior", float(scene.mouth_interior), optional=self.config.untextured)
        vp = np.stack(
            [view_projection(c, self.config.near_world, self.config.far_world).T.reshape(16) for c in cameras]
        )
        src.atlas.use(0)
        src.crop.use(1)
        rgb = np.empty((n, h, w, 3), np.uint8)
        alpha = np.empty((n, h, w), np.float32)
        with self._query if self._query is not None else contextlib.nullcontext():
            for start, grid in passes:
                count = min(grid.capacity, n - start)
                rgba = self._draw_pass(draws, grid, vp[start : start + count])
                _unpack(rgba, rgb[start : start + count], alpha[start : start + count])
        return RenderedViews(rgb_u8=rgb, view_ids=ids, alpha=alpha)

    def _draw_pass(self, draws: _Draws, grid: TileGrid, vp: np.ndarray) -> np.ndarray:
        """Draw ``len(vp)`` views into ``grid``'s tiles; their pixels, count x h x w x 4."""
        count = len(vp)
        draw, read = self._framebuffers(grid)
        draw.use()
        draw.viewport = (0, 0, *grid.size)
        self.ctx.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        self.ctx.enable(moderngl.DEPTH_TEST)
        self.ctx.disable(moderngl.CULL_FACE)  # views are drawn mirrored (see TileGrid)
        for k in range(_NUM_CLIP_DISTANCES):
            self.ctx.enable_direct(_GL_CLIP_DISTANCE0 + k)
        try:
            if self.config.strategy == "one_pass":
                self._write_instances(np.concatenate([vp, grid.clip_transforms(count)], axis=1))
                draws.render(instances=count)
            else:
                whole = np.array([1.0, -1.0, 0.0, 0.0], np.float32)  # the viewport places it
                for i in range(count):
                    self._write_instances(np.concatenate([vp[i], whole])[None])
                    draw.viewport = grid.viewport(i)
                    draws.render(instances=1)
        finally:
            for k in range(_NUM_CLIP_DISTANCES):
                self.ctx.disable_direct(_GL_CLIP_DISTANCE0 + k)
            self.ctx.disable(moderngl.DEPTH_TEST)
        if read is not draw:
            self.ctx.copy_framebuffer(read, draw)
        raw = np.frombuffer(read.read(components=4, alignment=1), dtype=np.uint8)
        return grid.split(raw.reshape(grid.size[1], grid.size[0], 4), count)

    @_in_context
    def render_fill_reference(self, count: int, width: int, height: int) -> RenderedViews:
        """The fill-only reference: ``count`` tiles each covered by one textured quad, one draw.

        The shell's program (one lookup of the source crop a pixel, cut to its matte), and the
        framebuffers and read-back of :meth:`render`, with the geometry reduced to two
        triangles a view: what the rasteriser costs for these pixels.
        """
        if self._source is None:
            raise RuntimeError("MeshRenderer.render_fill_reference: no source loaded")
        if self._quad_vao is None:
            corners = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], np.float32)
            attrs = np.zeros((4, 6), np.float32)
            attrs[:, 0:2] = attrs[:, 2:4] = [[0, 1], [1, 1], [1, 0], [0, 0]]  # v down in the crop
            bufs = [
                self.ctx.buffer(corners.tobytes()),
                self.ctx.buffer(attrs.tobytes()),
                self.ctx.buffer(np.full(4, SURFACE_SHELL, np.int32).tobytes()),
                self.ctx.buffer(np.array([0, 1, 2, 0, 2, 3], np.int32).tobytes()),
            ]
            self._quad_vao = self.ctx.vertex_array(
                self._shell_prog,
                [
                    (bufs[0], "3f", "in_position"),
                    (bufs[1], "2f 2f 2f", "in_texcoord", "in_matte_uv", "in_mouth"),
                    (bufs[2], "1i", "in_surface"),
                    (self._instances, "16f 4f/i", "in_view_projection", "in_tile"),
                ],
                index_buffer=bufs[3],
                index_element_size=4,
                skip_errors=True,
            )
            self._quad_objs = bufs
        self._source.atlas.use(0)
        self._source.crop.use(1)
        identity = np.tile(np.eye(4, dtype=np.float32).reshape(16), (count, 1))
        rgb = np.empty((count, height, width, 3), np.uint8)
        alpha = np.empty((count, height, width), np.float32)
        for start, grid in plan_tiles(count, width, height, self._max_side):
            k = min(grid.capacity, count - start)
            self._write_instances(np.concatenate([identity[:k], grid.clip_transforms(k)], axis=1))
            draw, read = self._framebuffers(grid)
            draw.use()
            draw.viewport = (0, 0, *grid.size)
            self.ctx.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
            self.ctx.enable(moderngl.DEPTH_TEST)
            self._quad_vao.render(moderngl.TRIANGLES, instances=k)
            self.ctx.disable(moderngl.DEPTH_TEST)
            if read is not draw:
                self.ctx.copy_framebuffer(read, draw)
            raw = np.frombuffer(read.read(components=4, alignment=1), dtype=np.uint8)
            _unpack(
                grid.split(raw.reshape(grid.size[1], grid.size[0], 4), k),
                rgb[start : start + k],
                alpha[start : start + k],
            )
        return RenderedViews(rgb_u8=rgb, view_ids=list(range(count)), alpha=alpha)

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
        if self._quad_vao is not None:
            self._quad_vao.release()
        for b in self._quad_objs:
            b.release()
        for obj in reversed(self._fbo_objs):
            obj.release()
        self._fbo_objs, self._fbos = [], {}
        self._instances.release()
        for prog in self._programs:
            prog.release()

    def __enter__(self) -> MeshRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
