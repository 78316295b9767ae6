"""The face texture: the source crop resampled into the canonical model's UV layout.

Each texel takes its colour from where its point of the face lies in the source crop. Parts
of the face the source camera saw badly (turned away, foreshortened) take the colour of their
mirror image on the other side of the face instead, so a source in three-quarter view still
gets a plausible far cheek. The borrowed colour is scaled, per channel, by the ratio of the
two sides' mean colour where both are well seen: a face lit from one side keeps its darker
side dark instead of gaining a patch of the lit one.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from pipeline.cameras import Camera
from pipeline.face_model import canonical_face_model
from pipeline.mesh.geometry import vertex_normals
from pipeline.mesh.raster import Raster, interpolate, rasterize_triangles
from pipeline.mesh.topology import mirror_index

__all__ = ["atlas_texcoords", "bake_face_atlas", "own_texture_weight"]


def atlas_texcoords() -> np.ndarray:
    """Canonical UVs as texture coordinates with v pointing *down* (row 0 = top of the atlas)."""
    uv = canonical_face_model().uvs
    return np.stack([uv[:, 0], 1.0 - uv[:, 1]], axis=1)


@lru_cache(maxsize=2)
def _uv_raster(size_px: int) -> Raster:
    """The canonical face's triangles rasterised in a ``size_px`` atlas (the same for every
    source: computed once per size, read-only)."""
    raster = rasterize_triangles(
        atlas_texcoords() * size_px, canonical_face_model().triangles, size_px, size_px
    )
    raster.triangle_id.setflags(write=False)
    raster.barycentric.setflags(write=False)
    return raster


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def own_texture_weight(
    face_world: np.ndarray, camera: Camera, visible_cos: tuple[float, float] = (0.05, 0.3)
) -> np.ndarray:
    """Per vertex, how much of its own photo colour to use (1) versus its mirror's (0).

    A vertex is trusted by ``smoothstep(visible_cos, cos(normal, direction to the camera))``;
    it borrows from its mirror vertex in proportion to how much better that one is seen.
    """
    tri = canonical_face_model().triangles
    n = vertex_normals(face_world, tri)
    to_cam = camera.center - np.asarray(face_world)
    to_cam /= np.linalg.norm(to_cam, axis=1, keepdims=True)
    seen = _smoothstep(visible_cos[0], visible_cos[1], np.sum(n * to_cam, axis=1))
    mir = mirror_index()
    return 1.0 - (1.0 - seen) * seen[mir]


def _fill_gutters(img: np.ndarray, mask: np.ndarray, iterations: int = 8) -> np.ndarray:
    """Grow the covered texels outwards so bilinear/mipmap lookups at seams stay on skin."""
    out = img.astype(np.float32)
    m = mask.astype(np.float32)
    for _ in range(iterations):
        num = cv2.blur(out * m[..., None], (3, 3))
        den = cv2.blur(m, (3, 3))
        grow = (m == 0) & (den > 0)
        out[grow] = num[grow] / den[grow, None]
        m = np.where(grow, 1.0, m).astype(np.float32)
    return out


def _side_balance(own: np.ndarray, weight: np.ndarray, side: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """Per texel, the factor (H x W x 3) taking the other side's colour to this side's.

    Each side's mean colour is taken over its well-seen texels (own weight above 0.99); the
    factor is clamped to 0.5..2 and is 1 where either side has too few such texels.
    """
    out = np.ones(own.shape, np.float32)
    seen = covered & (weight > 0.99)
    right, left = seen & (side < -0.5), seen & (side > 0.5)
    if min(right.sum(), left.sum()) < 100:
        return out
    m_right = own[right].mean(axis=0)
    m_left = own[left].mean(axis=0)
    ratio = np.clip(m_left / np.maximum(m_right, 1.0), 0.5, 2.0).astype(np.float32)
    out[side > 0] = ratio  # left-side texels borrow from the right
    out[side < 0] = 1.0 / ratio
    return out


def bake_face_atlas(
    crop_rgb_u8: np.ndarray,
    landmarks_px: np.ndarray,
    own_weight: np.ndarray,
    size_px: int = 1024,
) -> np.ndarray:
    """``size_px`` square RGB uint8 atlas in canonical UV layout (rows top-down, v down)."""
    if not 64 <= size_px <= 8192:
        raise ValueError(f"atlas size must be in 64..8192 px, got {size_px}")
    model = canonical_face_model()
    tri = model.triangles
    raster = _uv_raster(size_px)
    lm = np.asarray(landmarks_px, dtype=np.float64)[: len(model.vertices_cm), :2]
    mir = mirror_index()
    side = np.sign(model.vertices_cm[:, 0])[:, None]
    per_vertex = np.concatenate(
        [lm, lm[mir], np.asarray(own_weight, dtype=np.float64)[:, None], side], axis=1
    )
    attrs = interpolate(raster, tri, per_vertex).astype(np.float32)
    src = crop_rgb_u8.astype(np.float32)
    own = cv2.remap(
        src, attrs[..., 0] - 0.5, attrs[..., 1] - 0.5, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    mirrored = cv2.remap(
        src, attrs[..., 2] - 0.5, attrs[..., 3] - 0.5, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    a = attrs[..., 4:5]
    colour = a * own + (1.0 - a) * mirrored * _side_balance(own, attrs[..., 4], attrs[..., 5], raster.mask)
    colour = _fill_gutters(colour, raster.mask)
    return np.clip(np.rint(colour), 0, 255).astype(np.uint8)
