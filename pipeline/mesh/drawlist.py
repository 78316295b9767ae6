"""What the mesh renderer draws, and where each view lands: pure numpy, no GL.

*Draw geometry*: the face, the mouth opening and the head shell of one source as a single
vertex list and a single triangle list. Each vertex carries a *surface* tag that tells the
fragment shader where its colour comes from:

- ``SURFACE_SKIN``: the face mesh, coloured from the face atlas (canonical UVs);
- ``SURFACE_MOUTH``: the triangles spanning the mouth opening, on their own copies of the
  inner-lip vertices (a vertex belongs to one surface), faded to the mouth interior;
- ``SURFACE_SHELL``: the head shell, coloured from the source crop (projective texture).

Vertex order: the 468 face vertices, then the inner-lip copies (both rewritten every frame
from the driven face), then the static shell.

Triangle order: the shell; the skin triangles that lie wholly inside the source's matte
(their points are never background: they need no matte test); the mouth triangles that do;
then the skin and mouth triangles that reach background. The renderer draws these four
ranges as four draws, the face's first (see :mod:`pipeline.mesh.renderer`).

*Tile grid*: the views of one frame share one framebuffer, stacked in a column (see
:class:`TileGrid`). A view's clip-space position is mapped into its tile by
``x' = x * sx + cx * w`` (likewise y), which is what a viewport would do, so every view can
be drawn by the same instanced draw call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.face_model import NUM_MESH_VERTICES, canonical_face_model
from pipeline.mesh.shell import HeadShell
from pipeline.mesh.texture import atlas_texcoords
from pipeline.mesh.topology import mouth_coordinates, mouth_triangle_mask

__all__ = [
    "SURFACE_MOUTH",
    "SURFACE_SHELL",
    "SURFACE_SKIN",
    "DrawGeometry",
    "TileGrid",
    "build_draw_geometry",
    "plan_tiles",
    "triangles_reaching_background",
]

SURFACE_SKIN, SURFACE_MOUTH, SURFACE_SHELL = 0, 1, 2

#: Columns of the static per-vertex attributes: texcoord (2), matte uv (2), mouth (2).
STATIC_COLUMNS = 6
#: A face triangle needs no matte test when no point within this many crop pixels of it is
#: background (the texture lookups filter the matte over a few pixels).
MATTE_MARGIN_PX = 4


@dataclass(frozen=True)
class DrawGeometry:
    """One source's surfaces as one indexed triangle list.

    Attributes:
        face_rows: ``F`` indices into the driven face (468 x 3): the dynamic vertices are
            ``face_world[face_rows]`` (the face, then the inner-lip copies).
        shell_positions: ``S x 3`` float32 world positions of the shell's vertices.
        static_attributes: ``(F + S) x 6`` float32 per vertex: texture coordinate, position in
            the source crop (the matte lookup), mouth coordinates.
        surface: ``F + S`` int32 surface tag per vertex.
        triangles: ``T x 3`` int32: the shell's, then the skin's inside the matte, the
            mouth's inside the matte, then the skin's and mouth's that reach background.
        triangle_counts: triangles per surface, keyed by ``SURFACE_*``.
        face_edge_count: how many of the face's and mouth's triangles (the last ones) reach
            background and need the matte test.
        mouth_inside_count: how many mouth triangles lie inside the matte (those just
            before the last ``face_edge_count``).
    """

    face_rows: np.ndarray
    shell_positions: np.ndarray
    static_attributes: np.ndarray
    surface: np.ndarray
    triangles: np.ndarray
    triangle_counts: dict[int, int]
    face_edge_count: int
    mouth_inside_count: int

    @property
    def num_vertices(self) -> int:
        return len(self.surface)

    @property
    def num_dynamic(self) -> int:
        return len(self.face_rows)


def build_draw_geometry(
    face_matte_uv: np.ndarray,
    shell: HeadShell,
    shell_triangles: np.ndarray | None = None,
    matte_u8: np.ndarray | None = None,
) -> DrawGeometry:
    """The draw geometry of a source whose face vertices lie at ``face_matte_uv`` in its crop.

    Args:
        face_matte_uv: ``468 x 2`` positions of the source's face vertices in its crop,
            normalised to [0, 1] (u right, v down).
        shell: the source's head shell.
        shell_triangles: which of the shell's triangulations to draw (default: its finest).
        matte_u8: the source's matte (``H x W``, 255 = person) in that crop, to sort out the
            face triangles that need no matte test; without it every one is tested.
    """
    uv_m = np.asarray(face_matte_uv, dtype=np.float32)
    if uv_m.shape != (NUM_MESH_VERTICES, 2):
        raise ValueError(f"face_matte_uv must be {NUM_MESH_VERTICES} x 2, got {uv_m.shape}")
    tri = canonical_face_model().triangles.astype(np.int64)
    is_mouth = mouth_triangle_mask()
    lip = np.unique(tri[is_mouth])
    copy_of = np.full(NUM_MESH_VERTICES, -1, np.int64)
    copy_of[lip] = NUM_MESH_VERTICES + np.arange(len(lip))
    face_rows = np.concatenate([np.arange(NUM_MESH_VERTICES), lip])
    n_face = len(face_rows)

    tex = atlas_texcoords().astype(np.float32)
    mouth = mouth_coordinates().astype(np.float32)
    face_attr = np.zeros((n_face, STATIC_COLUMNS), np.float32)
    face_attr[:, 0:2] = tex[face_rows]
    face_attr[:, 2:4] = uv_m[face_rows]
    face_attr[NUM_MESH_VERTICES:, 4:6] = mouth[lip]  # only the copies open onto the mouth
    shell_attr = np.zeros((len(shell.vertices_world), STATIC_COLUMNS), np.float32)
    shell_attr[:, 0:2] = shell.texcoords
    shell_attr[:, 2:4] = shell.texcoords

    surface = np.concatenate(
        [
            np.full(NUM_MESH_VERTICES, SURFACE_SKIN, np.int32),
            np.full(len(lip), SURFACE_MOUTH, np.int32),
            np.full(len(shell_attr), SURFACE_SHELL, np.int32),
        ]
    )
    skin_tri = tri[~is_mouth]
    mouth_tri = copy_of[tri[is_mouth]]
    chosen = shell.triangles if shell_triangles is None else shell_triangles
    shell_tri = np.asarray(chosen, dtype=np.int64).reshape(-1, 3) + n_face
    face_tri = np.concatenate([skin_tri, mouth_tri])
    if matte_u8 is None:
        edge = np.ones(len(face_tri), bool)
    else:
        edge = triangles_reaching_background(face_attr[:, 2:4][face_tri], matte_u8)
    is_mouth_tri = np.arange(len(face_tri)) >= len(skin_tri)
    inside_skin, inside_mouth = ~edge & ~is_mouth_tri, ~edge & is_mouth_tri
    return DrawGeometry(
        face_rows=face_rows.astype(np.int64),
        shell_positions=np.asarray(shell.vertices_world, dtype=np.float32),
        static_attributes=np.concatenate([face_attr, shell_attr]),
        surface=surface,
        triangles=np.concatenate(
            [shell_tri, face_tri[inside_skin], face_tri[inside_mouth], face_tri[edge]]
        ).astype(np.int32),
        triangle_counts={
            SURFACE_SHELL: len(shell_tri),
            SURFACE_SKIN: len(skin_tri),
            SURFACE_MOUTH: len(mouth_tri),
        },
        face_edge_count=int(edge.sum()),
        mouth_inside_count=int(inside_mouth.sum()),
    )


def triangles_reaching_background(
    corners_uv: np.ndarray, matte_u8: np.ndarray, margin_px: int = MATTE_MARGIN_PX
) -> np.ndarray:
    """Per triangle (``T x 3 x 2`` corners in the crop, normalised to [0, 1]), whether any of
    it lies within ``margin_px`` crop pixels of background (matte below one half)."""
    matte = np.asarray(matte_u8)
    h, w = matte.shape
    background = (matte < 128).astype(np.uint8)
    size = 2 * max(margin_px, 0) + 1
    near = cv2.dilate(background, np.ones((size, size), np.uint8))
    # A summed-area table answers "any background in this box" per triangle; the box is the
    # triangle's bounding box, so a triangle is only called clean when its whole box is.
    table = cv2.integral(near)
    px = np.asarray(corners_uv, dtype=np.float64) * (w, h)
    x0 = np.clip(np.floor(px[..., 0].min(axis=1)).astype(int), 0, w)
    y0 = np.clip(np.floor(px[..., 1].min(axis=1)).astype(int), 0, h)
    x1 = np.clip(np.ceil(px[..., 0].max(axis=1)).astype(int) + 1, 0, w)
    y1 = np.clip(np.ceil(px[..., 1].max(axis=1)).astype(int) + 1, 0, h)
    inside_crop = (px[..., 0].min(axis=1) >= 0) & (px[..., 1].min(axis=1) >= 0)
    inside_crop &= (px[..., 0].max(axis=1) <= w) & (px[..., 1].max(axis=1) <= h)
    count = table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
    return (count > 0) | ~inside_crop


@dataclass(frozen=True)
class TileGrid:
    """``cols x rows`` tiles of ``tile_w x tile_h`` pixels in one framebuffer.

    View ``i`` takes tile ``(col, row) = divmod(i, rows)``: the views fill the first column,
    then the next. Each view is drawn upside down, row ``row`` of tiles counted from the
    framebuffer's bottom, so that the framebuffer read back (bottom row first, as GL returns
    it) holds every view top row first, and a single column is simply the views one after
    the other.
    """

    cols: int
    rows: int
    tile_w: int
    tile_h: int

    @property
    def size(self) -> tuple[int, int]:
        """Framebuffer (width, height) in pixels."""
        return self.cols * self.tile_w, self.rows * self.tile_h

    @property
    def capacity(self) -> int:
        return self.cols * self.rows

    def viewport(self, i: int) -> tuple[int, int, int, int]:
        """GL viewport ``(x, y, w, h)`` of tile ``i`` (GL window coordinates, y up)."""
        c, r = divmod(i, self.rows)
        return c * self.tile_w, r * self.tile_h, self.tile_w, self.tile_h

    def clip_transforms(self, count: int) -> np.ndarray:
        """``count x 4`` float32 ``(sx, sy, cx, cy)``: NDC scale and centre of tiles 0..count-1.

        ``sy`` is negative: each view is drawn upside down (see the class docstring).
        """
        c, r = np.divmod(np.arange(count), self.rows)
        out = np.empty((count, 4), np.float32)
        out[:, 0] = 1.0 / self.cols
        out[:, 1] = -1.0 / self.rows
        out[:, 2] = -1.0 + (2 * c + 1) / self.cols
        out[:, 3] = -1.0 + (2 * r + 1) / self.rows
        return out

    def split(self, framebuffer: np.ndarray, count: int) -> np.ndarray:
        """The first ``count`` views (``count x h x w x C``, top row first) of a framebuffer read
        back bottom row first (``H x W x C``); a view of it, not a copy, for a single column."""
        fb = np.asarray(framebuffer)
        h, w = self.tile_h, self.tile_w
        if self.cols == 1:
            return fb.reshape(self.rows, h, w, -1)[:count]
        tiles = fb.reshape(self.rows, h, self.cols, w, -1).transpose(2, 0, 1, 3, 4)
        return tiles.reshape(self.cols * self.rows, h, w, -1)[:count]


def plan_tiles(count: int, tile_w: int, tile_h: int, max_side_px: int) -> list[tuple[int, TileGrid]]:
    """Split ``count`` views into passes ``(first view, grid)`` within ``max_side_px`` a side.

    A pass stacks its views in one column when they fit, else in as few columns as needed;
    a frame takes one pass unless its views do not fit in ``max_side_px`` x ``max_side_px``.
    """
    if count < 1:
        raise ValueError("plan_tiles needs at least one view")
    if tile_w > max_side_px or tile_h > max_side_px:
        raise ValueError(f"view size {tile_w}x{tile_h} exceeds max_framebuffer_px={max_side_px}")
    max_rows, max_cols = max_side_px // tile_h, max_side_px // tile_w
    passes = []
    start = 0
    while start < count:
        n = min(count - start, max_rows * max_cols)
        cols = math.ceil(n / max_rows)
        rows = math.ceil(n / cols)
        passes.append((start, TileGrid(cols, rows, tile_w, tile_h)))
        start += n
    return passes
