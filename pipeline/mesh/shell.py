"""The head shell: geometry for hair, forehead, ears and neck around the face mesh.

A regular grid over the source crop is pushed back along the source camera's rays onto a
smooth depth surface, textured with the crop itself (projective texture) and cut to the
matte. The surface is

* behind the face mesh inside the face oval (so the mesh always wins the depth test, deeper in
  the middle of the face where the mouth and eyes may open onto it),
* an ellipsoid around the head outside the oval (its depth matched to the face's edge), and
* a plane through the head centre beyond the ellipsoid's outline (neck, shoulders, long hair).

Side views therefore see a continuous head instead of a floating mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.cameras import Camera
from pipeline.face_model import canonical_face_model
from pipeline.mesh.geometry import camera_depth, unproject
from pipeline.mesh.raster import interpolate, rasterize_triangles
from pipeline.mesh.topology import FACE_OVAL_LOOP

__all__ = ["HeadShell", "ShellConfig", "build_head_shell"]


@dataclass(frozen=True)
class ShellConfig:
    """How the head shell is built.

    Attributes:
        grid_step_px: spacing of the shell's vertex grid in crop pixels (1..64).
        matte_threshold: a grid triangle is kept where the mean matte of its corners exceeds
            this (0..1).
        blend_px: width, in crop pixels inside the face oval, over which the shell goes from
            the ellipsoid to the face-following surface.
        gap_edge_world / gap_centre_world: how far the shell lies behind the face mesh at the
            oval and deep inside it (EG3D world units, >= 0).
        head_width_scale: ellipsoid width over the face width (cheek to cheek), >= 1.
        head_top_over_face_height: how far the skull reaches above the upper forehead
            (landmark 10), as a fraction of the forehead-to-chin height.
        depth_over_width: the ellipsoid's depth radius over its width radius (> 0).
    """

    grid_step_px: int = 4
    matte_threshold: float = 0.5
    blend_px: float = 28.0
    gap_edge_world: float = 0.004
    gap_centre_world: float = 0.05
    head_width_scale: float = 1.12
    head_top_over_face_height: float = 0.45
    depth_over_width: float = 0.9

    def __post_init__(self) -> None:
        if not 1 <= self.grid_step_px <= 64:
            raise ValueError(f"ShellConfig.grid_step_px must be in 1..64, got {self.grid_step_px}")
        if not 0.0 <= self.matte_threshold < 1.0:
            raise ValueError(f"ShellConfig.matte_threshold must be in [0, 1), got {self.matte_threshold}")
        if self.blend_px <= 0:
            raise ValueError(f"ShellConfig.blend_px must be > 0, got {self.blend_px}")
        if not 0.0 <= self.gap_edge_world <= self.gap_centre_world:
            raise ValueError("ShellConfig needs 0 <= gap_edge_world <= gap_centre_world")
        if self.head_width_scale < 1.0:
            raise ValueError(f"ShellConfig.head_width_scale must be >= 1, got {self.head_width_scale}")
        if self.head_top_over_face_height < 0.0:
            raise ValueError("ShellConfig.head_top_over_face_height must be >= 0")
        if self.depth_over_width <= 0.0:
            raise ValueError(f"ShellConfig.depth_over_width must be > 0, got {self.depth_over_width}")


@dataclass
class HeadShell:
    """Shell mesh in world coordinates.

    Attributes:
        vertices_world: ``V x 3`` float32.
        texcoords: ``V x 2`` float32 texture coordinates into the source crop (u right, v down,
            in [0, 1]).
        triangles: ``T x 3`` int32.
    """

    vertices_world: np.ndarray
    texcoords: np.ndarray
    triangles: np.ndarray


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


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

    # Face depth and distance inside the face oval, per crop pixel.
    tri = canonical_face_model().triangles
    order = np.argsort(-face_z[tri].mean(axis=1))  # far to near
    raster = rasterize_triangles(face_px, tri, w, h, draw_order=order)
    face_depth = interpolate(raster, tri, face_z)
    oval = np.zeros((h, w), np.uint8)
    cv2.fillPoly(oval, [np.round((face_px[list(FACE_OVAL_LOOP)] - 0.5) * 16).astype(np.int32)], 1, shift=4)
    inside = (oval > 0) & raster.mask
    dist_in = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, 5)

    # Head ellipse in the image, aligned with the face (cheek-to-cheek axis).
    left, right, top, chin = face_px[234], face_px[454], face_px[10], face_px[152]
    centre = 0.5 * (left + right)
    ex = (right - left) / max(float(np.linalg.norm(right - left)), 1e-9)
    ey = np.array([-ex[1], ex[0]])
    face_h = float(np.dot(chin - top, ey))
    b_top = float(np.dot(top - centre, ey)) - config.head_top_over_face_height * face_h
    b_bot = float(np.dot(chin - centre, ey)) + 0.05 * face_h
    ru = 0.5 * float(np.linalg.norm(right - left)) * config.head_width_scale
    rv = 0.5 * (b_bot - b_top)
    bc = 0.5 * (b_top + b_bot)

    def ellipse_q(px: np.ndarray) -> np.ndarray:
        d = px - centre
        return np.sqrt((d @ ex / ru) ** 2 + ((d @ ey - bc) / rv) ** 2)

    fx = camera.K_px[0, 0]
    z_centre_guess = float(np.median(face_z))
    rz = config.depth_over_width * ru * z_centre_guess / fx
    # Ellipsoid centre depth: match the face's depth along its oval.
    oval_px = face_px[list(FACE_OVAL_LOOP)]
    q_oval = ellipse_q(oval_px)
    ok = q_oval < 0.98
    bulge = rz * np.sqrt(np.clip(1.0 - q_oval**2, 0.0, 1.0))
    z_c = float(np.median((face_z[list(FACE_OVAL_LOOP)] + bulge)[ok])) if ok.any() else z_centre_guess + rz

    # Grid vertices.
    gx = np.arange(0, w + 1, step, dtype=np.float64)
    gy = np.arange(0, h + 1, step, dtype=np.float64)
    if gx[-1] != w:
        gx = np.append(gx, w)
    if gy[-1] != h:
        gy = np.append(gy, h)
    px = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
    ix = np.clip(px[:, 0].astype(int), 0, w - 1)
    iy = np.clip(px[:, 1].astype(int), 0, h - 1)

    q = ellipse_q(px)
    z_ell = z_c - rz * np.sqrt(np.clip(1.0 - q**2, 0.0, 1.0))
    wgt = _smoothstep(0.0, config.blend_px, dist_in[iy, ix])
    is_in = inside[iy, ix]
    zf = face_depth[iy, ix]
    gap = config.gap_edge_world + (config.gap_centre_world - config.gap_edge_world) * wgt
    z_face = zf + gap
    z = np.where(is_in, np.maximum((1.0 - wgt) * z_ell + wgt * z_face, zf + config.gap_edge_world), z_ell)
    verts = unproject(px, z, camera)

    # Triangles of the grid, cut to the matte.
    nx, ny = len(gx), len(gy)
    ii, jj = np.meshgrid(np.arange(nx - 1), np.arange(ny - 1))
    v00 = (jj * nx + ii).reshape(-1)
    v10, v01, v11 = v00 + 1, v00 + nx, v00 + nx + 1
    tris = np.concatenate([np.stack([v00, v01, v10], 1), np.stack([v10, v01, v11], 1)])
    m = np.asarray(matte, dtype=np.float64)[iy, ix]
    keep = (m[tris].mean(axis=1) > config.matte_threshold) | is_in[tris].all(axis=1)
    tris = tris[keep]
    used = np.unique(tris)
    remap = np.full(len(px), -1, np.int64)
    remap[used] = np.arange(len(used))
    return HeadShell(
        vertices_world=verts[used].astype(np.float32),
        texcoords=(px[used] / np.array([w, h])).astype(np.float32),
        triangles=remap[tris].astype(np.int32),
    )
