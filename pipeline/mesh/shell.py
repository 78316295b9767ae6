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
from pipeline.mesh.topology import FACE_OVAL_LOOP

__all__ = ["HeadShell", "ShellConfig", "build_head_shell"]

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
    """

    grid_step_px: int = 4
    matte_threshold: float = 0.5
    blend_px: float = 28.0
    gap_edge_world: float = 0.004
    gap_centre_world: float = 0.05
    ear_plane_over_face_width: float = 0.7
    head_radius_over_face_width: float = 0.45
    jaw_blend_px: float = 24.0

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
        if self.jaw_blend_px <= 0.0:
            raise ValueError(f"ShellConfig.jaw_blend_px must be > 0, got {self.jaw_blend_px}")


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
    cv2.fillPoly(oval, [np.round((face_px[list(FACE_OVAL_LOOP)] - 0.5) * 16).astype(np.int32)], 1, shift=4)
    inside = (oval > 0) & raster.mask
    dist_in = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, 5)
    # Outside the oval: distance to it and the face depth at its nearest point.
    dist_out, label = cv2.distanceTransformWithLabels(
        (~inside).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    edge_depth = np.concatenate([[0.0], face_depth[inside]])[label]
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
    nx, ny = len(gx), len(gy)
    ii, jj = np.meshgrid(np.arange(nx - 1), np.arange(ny - 1))
    v00 = (jj * nx + ii).reshape(-1)
    v10, v01, v11 = v00 + 1, v00 + nx, v00 + nx + 1
    tris = np.concatenate([np.stack([v00, v01, v10], 1), np.stack([v10, v01, v11], 1)])
    m = matte_f[iy, ix]
    is_in = inside[iy, ix]
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
