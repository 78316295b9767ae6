"""The head shell: geometry for hair, forehead, ears and neck around the face mesh.

A regular grid over the source crop is pushed back along the source camera's rays onto a
depth surface, textured with the crop itself (projective texture) and cut to the matte.
The surface is built as a head would be seen from the front:

* **Inside the face oval** it lies just behind the face mesh (the mesh always wins the depth
  test), deeper in the middle of the face where the mouth and eyes may open onto it.
* **Around the face** (hair, forehead, temples, ears) it starts exactly at the face mesh's
  depth along the oval -- no step and no gap where the two meet -- and curves back to the
  head's silhouette, which lies in the *ear plane*: a plane across the head at the depth of
  its widest part, about as far behind the nose tip as the face is wide (0.7 x, the
  proportion of an adult head; the cheek edges, landmarks 234 / 454, lie there too). The
  profile is the head's depth inflated from the matte's outline (a rounded cross-section,
  tangent to the view rays at the silhouette), plus the difference to the face's edge,
  carried outwards and fading to zero at the silhouette. Side views therefore show the
  whole head turning as one rigid body.
* **Below the jaw** (neck, shoulders, long hair) it steps back to the ear plane: the jaw
  overhangs the neck, as on a real head.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.cameras import Camera
from pipeline.face_model import canonical_face_model
from pipeline.mesh.geometry import camera_depth, unproject
from pipeline.mesh.raster import interpolate, rasterize_triangles
from pipeline.mesh.simplify import adaptive_grid_triangles, locality_order, regular_grid_triangles
from pipeline.mesh.topology import FACE_OVAL_LOOP

__all__ = ["HeadShell", "ShellConfig", "ShellLevel", "build_head_shell"]

#: sin(30 deg): a depth error ``dz`` shifts a point by about ``dz * _SIN_TURN`` across a view
#: turned 30 deg from the source camera (the sweep's 17.5 deg plus a turned head).
_SIN_TURN = 0.5

#: The lower half of the face oval, ear to ear under the chin (234 ... 152 ... 454).
_JAW_PATH = (
    234,
    93,
    132,
    58,
    172,
    136,
    150,
    149,
    176,
    148,
    152,
    377,
    400,
    378,
    379,
    365,
    397,
    288,
    361,
    323,
    454,
)


@dataclass(frozen=True)
class ShellConfig:
    """How the head shell is built.

    Attributes:
        grid_step_px: spacing of the shell's vertex grid in crop pixels (1..64).
        matte_threshold: a grid triangle is kept where the mean matte of its corners exceeds
            this (0..1).
        blend_px: width, in crop pixels inside the face oval, over which the shell goes from
            just behind the face's edge to ``gap_centre_world`` behind it.
        gap_edge_world / gap_centre_world: how far the shell lies behind the face mesh at the
            oval and deep inside it (EG3D world units, >= 0).
        ear_plane_over_face_width: depth of the head's silhouette behind the nose tip, in
            face widths (cheek to cheek, landmarks 234-454); never in front of the cheek edges.
        head_radius_over_face_width: distance inside the silhouette, in face widths, over
            which the inflated head reaches its full depth (> 0).
        jaw_blend_px: height, in crop pixels, over which the shell steps from the head back to
            the ear plane below the jaw line (> 0).
        edge_smooth_px: Gaussian sigma, in crop pixels, smoothing the face edge's depth as it
            is carried outwards (the nearest edge pixel changes in steps).
        simplify_px: how far, in crop pixels, simplifying the grid may move any drawn point of
            the shell in a view turned 30 deg from the source camera (0..8; 0 keeps every grid
            triangle). Simplifying needs a square crop; the grid then has 2^k cells a side,
            the power of two nearest to the crop over ``grid_step_px``.
        coarser_px: the tolerances of coarser triangulations of the same vertices, each
            larger than ``simplify_px`` and increasing (the renderer draws small views with
            a coarser one).
        hidden_inside_px: grid triangles deeper than this inside the face oval (crop pixels)
            are left out: the face mesh hides them from every view (0 keeps them all).
    """

    grid_step_px: int = 4
    matte_threshold: float = 0.5
    blend_px: float = 28.0
    gap_edge_world: float = 0.004
    gap_centre_world: float = 0.05
    ear_plane_over_face_width: float = 0.7
    head_radius_over_face_width: float = 0.45
    jaw_blend_px: float = 24.0
    edge_smooth_px: float = 4.0
    simplify_px: float = 0.5
    coarser_px: tuple[float, ...] = (1.0, 2.5, 6.0, 12.0)
    hidden_inside_px: float = 56.0

    def __post_init__(self) -> None:
        if not 1 <= self.grid_step_px <= 64:
            raise ValueError(f"ShellConfig.grid_step_px must be in 1..64, got {self.grid_step_px}")
        if not 0.0 <= self.matte_threshold < 1.0:
            raise ValueError(f"ShellConfig.matte_threshold must be in [0, 1), got {self.matte_threshold}")
        if self.blend_px <= 0:
            raise ValueError(f"ShellConfig.blend_px must be > 0, got {self.blend_px}")
        if not 0.0 <= self.gap_edge_world <= self.gap_centre_world:
            raise ValueError("ShellConfig needs 0 <= gap_edge_world <= gap_centre_world")
        if self.ear_plane_over_face_width <= 0.0:
            raise ValueError("ShellConfig.ear_plane_over_face_width must be > 0")
        if self.head_radius_over_face_width <= 0.0:
            raise ValueError("ShellConfig.head_radius_over_face_width must be > 0")
        if not 0.0 < self.edge_smooth_px <= 64.0:
            raise ValueError(f"ShellConfig.edge_smooth_px must be in (0, 64], got {self.edge_smooth_px}")
        if not 0.0 <= self.simplify_px <= 8.0:
            raise ValueError(f"ShellConfig.simplify_px must be in [0, 8], got {self.simplify_px}")
        levels = (self.simplify_px, *self.coarser_px)
        if any(b <= a for a, b in zip(levels, levels[1:], strict=False)) or max(levels) > 64.0:
            raise ValueError(
                f"ShellConfig.coarser_px must increase from simplify_px up to 64, got {self.coarser_px}"
            )
        if self.hidden_inside_px < 0.0:
            raise ValueError(f"ShellConfig.hidden_inside_px must be >= 0, got {self.hidden_inside_px}")
        if self.jaw_blend_px <= 0.0:
            raise ValueError(f"ShellConfig.jaw_blend_px must be > 0, got {self.jaw_blend_px}")


@dataclass(frozen=True)
class ShellLevel:
    """A coarser triangulation of the shell's vertices.

    Attributes:
        simplify_px: its tolerance (see :attr:`ShellConfig.simplify_px`).
        triangles: ``T x 3`` int32 indices into the shell's vertices.
    """

    simplify_px: float
    triangles: np.ndarray


@dataclass
class HeadShell:
    """Shell mesh in world coordinates.

    Attributes:
        vertices_world: ``V x 3`` float32.
        texcoords: ``V x 2`` float32 texture coordinates into the source crop (u right, v down,
            in [0, 1]).
        triangles: ``T x 3`` int32, the finest triangulation.
        simplify_px: the tolerance ``triangles`` were simplified within (0: the full grid).
        coarser: coarser triangulations of the same vertices, by increasing tolerance.
    """

    vertices_world: np.ndarray
    texcoords: np.ndarray
    triangles: np.ndarray
    simplify_px: float = 0.0
    coarser: tuple[ShellLevel, ...] = ()

    def levels(self) -> list[tuple[float, np.ndarray]]:
        """``(tolerance, triangles)`` of every triangulation, finest first."""
        return [(self.simplify_px, self.triangles), *((c.simplify_px, c.triangles) for c in self.coarser)]


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _jaw_offset(px: np.ndarray, jaw_px: np.ndarray, ex: np.ndarray, ey: np.ndarray) -> np.ndarray:
    """Signed distance (crop px, along the face's down axis ``ey``) of points below the jaw line.

    The jaw line runs along ``jaw_px`` (ear to ear under the chin) and continues level with its
    ends beyond them.
    """
    u_j, v_j = jaw_px @ ex, jaw_px @ ey
    order = np.argsort(u_j)
    v_line = np.interp(px @ ex, u_j[order], v_j[order])
    return px @ ey - v_line


def build_head_shell(
    matte: np.ndarray,
    landmarks_px: np.ndarray,
    face_world: np.ndarray,
    camera: Camera,
    config: ShellConfig = ShellConfig(),
) -> HeadShell:
    """Build the shell for a source crop (``matte`` H x W) whose face mesh is ``face_world``."""
    h, w = matte.shape
    step = config.grid_step_px
    lm = np.asarray(landmarks_px, dtype=np.float64)[:, :2]
    face_px = lm[: len(face_world)]
    face_z = camera_depth(face_world, camera)
    matte_f = np.asarray(matte, dtype=np.float64)

    # Face depth and distance inside the face oval, per crop pixel.
    tri = canonical_face_model().triangles
    order = np.argsort(-face_z[tri].mean(axis=1))  # far to near
    raster = rasterize_triangles(face_px, tri, w, h, draw_order=order)
    face_depth = interpolate(raster, tri, face_z)
    oval = np.zeros((h, w), np.uint8)
    cv2.fillPoly(oval, [np.round((face_px[list(FACE_OVAL_LOOP)] - 0.5) * 16).astype(np.int32)], (1,), shift=4)
    inside = (oval > 0) & raster.mask
    dist_in = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, 5)
    # Outside the oval: distance to it and the face depth at its nearest point.
    dist_out, label = cv2.distanceTransformWithLabels(
        (~inside).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    edge_depth = np.concatenate([[0.0], face_depth[inside]])[label]
    # The nearest oval pixel changes in steps from one pixel to the next: smooth them out,
    # never bringing the shell in front of the face's edge.
    edge_depth = np.maximum(cv2.GaussianBlur(edge_depth, (0, 0), config.edge_smooth_px), edge_depth)
    # Distance to the silhouette (the crop's border is not one: the person goes on beyond it).
    pad = 2 * max(h, w)
    person = cv2.copyMakeBorder((matte_f > 0.5).astype(np.uint8), pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    dist_sil = cv2.distanceTransform(person, cv2.DIST_L2, 5)[pad : pad + h, pad : pad + w]

    # The head's proportions, from the face.
    left, right = face_px[234], face_px[454]
    ex = (right - left) / max(float(np.linalg.norm(right - left)), 1e-9)
    ey = np.array([-ex[1], ex[0]])
    face_w_px = float(np.linalg.norm(right - left))
    face_w_world = float(np.linalg.norm(face_world[234] - face_world[454]))
    z_ear = max(
        float(face_z[1]) + config.ear_plane_over_face_width * face_w_world,
        float(np.mean(face_z[[234, 454]])),
    )
    depth_full = max(z_ear - float(face_z[10]), 1e-6)  # silhouette to forehead
    radius_px = config.head_radius_over_face_width * face_w_px

    # Grid vertices (2^k cells a side when the grid is to be simplified).
    simplify = config.simplify_px > 0 and w == h
    if simplify:
        gx = gy = np.linspace(0.0, w, (1 << max(1, round(np.log2(w / step)))) + 1)
    else:
        gx = np.arange(0, w + 1, step, dtype=np.float64)
        gy = np.arange(0, h + 1, step, dtype=np.float64)
        if gx[-1] != w:
            gx = np.append(gx, w)
        if gy[-1] != h:
            gy = np.append(gy, h)
    px = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
    ix = np.clip(px[:, 0].astype(int), 0, w - 1)
    iy = np.clip(px[:, 1].astype(int), 0, h - 1)

    # Around the face: the inflated head plus the face edge's offset, fading at the silhouette.
    d_sil = dist_sil[iy, ix]
    d_out = dist_out[iy, ix]
    r = np.clip(d_sil / radius_px, 0.0, 1.0)
    z_head = z_ear - depth_full * np.sqrt(1.0 - (1.0 - r) ** 2)
    fade = 1.0 - _smoothstep(0.0, 1.0, d_out / np.maximum(d_out + d_sil, 1e-6))
    z_head = z_head + (edge_depth[iy, ix] - z_head) * fade
    # Below the jaw: back to the ear plane.
    below = _smoothstep(0.0, config.jaw_blend_px, _jaw_offset(px, face_px[list(_JAW_PATH)], ex, ey))
    z_out = (1.0 - below) * z_head + below * np.maximum(z_head, z_ear)

    # Inside the oval: just behind the face.
    wgt = _smoothstep(0.0, config.blend_px, dist_in[iy, ix])
    gap = config.gap_edge_world + (config.gap_centre_world - config.gap_edge_world) * wgt
    z = np.where(inside[iy, ix], face_depth[iy, ix] + gap, z_out)
    verts = unproject(px, z, camera)

    # Triangles of the grid, cut to the matte.
    tris = regular_grid_triangles(len(gx), len(gy))
    m = matte_f[iy, ix]
    is_in = inside[iy, ix]
    tris = tris[(m[tris].mean(axis=1) > config.matte_threshold) | is_in[tris].all(axis=1)]
    if config.hidden_inside_px > 0:
        deep = dist_in[iy, ix] > config.hidden_inside_px
        tris = tris[~deep[tris].all(axis=1)]
    levels = [(0.0, tris)]
    if simplify:
        # How far each point may move: the tolerance as a depth error, looser deep inside the
        # face (hidden behind the face mesh: it only has to stay behind it).
        n = len(gx)
        levels = []
        for tol_px in (config.simplify_px, *config.coarser_px):
            z_tol = tol_px * z / (camera.K_px[0, 0] * _SIN_TURN)
            z_tol = np.where(inside[iy, ix], np.maximum(z_tol, 0.5 * gap), z_tol)
            levels.append((tol_px, _simplified_triangles(z.reshape(n, n), z_tol.reshape(n, n), tris)))
    levels = [(tol, locality_order(t, px)) for tol, t in levels]
    used = np.unique(np.concatenate([t.reshape(-1) for _, t in levels]))
    remap = np.full(len(px), -1, np.int64)
    remap[used] = np.arange(len(used))
    return HeadShell(
        vertices_world=verts[used].astype(np.float32),
        texcoords=(px[used] / np.array([w, h])).astype(np.float32),
        triangles=remap[levels[0][1]].astype(np.int32),
        simplify_px=float(levels[0][0]),
        coarser=tuple(ShellLevel(float(p), remap[t].astype(np.int32)) for p, t in levels[1:]),
    )


def _simplified_triangles(z: np.ndarray, z_tol: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """The shell's triangles on its ``n x n`` grid (``n = 2^k + 1``), coarsened within ``z_tol``.

    ``kept`` are the full grid's triangles that are drawn; their cells stay covered (the
    matte then cuts every surface per pixel). Points of none of them, nor next to one, may
    move freely.
    """
    n = z.shape[0]
    rows, cols = kept // n, kept % n
    cells = np.zeros((n - 1, n - 1), bool)
    cells[rows.min(axis=1), cols.min(axis=1)] = True
    on_kept = np.zeros((n, n), np.uint8)
    on_kept[rows.reshape(-1), cols.reshape(-1)] = 1
    care = cv2.dilate(on_kept, np.ones((3, 3), np.uint8)) > 0
    return adaptive_grid_triangles(z, np.where(care, z_tol, np.inf), drawn_cells=cells)
