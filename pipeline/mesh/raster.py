"""A small CPU triangle rasteriser (pure numpy + OpenCV) for baking textures and depth maps.

Coordinates are pixels with (0, 0) at the top-left *corner* of the image (pixel centres at
+0.5), as in :meth:`pipeline.cameras.Camera.project`.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["Raster", "interpolate", "rasterize_triangles"]

_SUBPIXEL_BITS = 4


class Raster:
    """Which triangle covers each pixel centre, and its barycentric coordinates there.

    Attributes:
        triangle_id: ``H x W`` int32, -1 where no triangle covers the pixel.
        barycentric: ``H x W x 3`` float32 weights of the triangle's three vertices.
    """

    def __init__(self, triangle_id: np.ndarray, barycentric: np.ndarray) -> None:
        self.triangle_id = triangle_id
        self.barycentric = barycentric

    @property
    def mask(self) -> np.ndarray:
        return self.triangle_id >= 0


def rasterize_triangles(
    vertices_px: np.ndarray,
    triangles: np.ndarray,
    width: int,
    height: int,
    draw_order: np.ndarray | None = None,
) -> Raster:
    """Rasterise ``triangles`` (T x 3 indices into ``vertices_px``, V x 2 pixels).

    Later triangles in ``draw_order`` (default: index order) overwrite earlier ones, so pass
    far-to-near for a painter's-algorithm depth order.
    """
    v = np.asarray(vertices_px, dtype=np.float64)
    tri = np.asarray(triangles, dtype=np.int64)
    if v.ndim != 2 or v.shape[1] != 2:
        raise ValueError(f"vertices_px must be V x 2, got {v.shape}")
    if tri.ndim != 2 or tri.shape[1] != 3:
        raise ValueError(f"triangles must be T x 3, got {tri.shape}")
    ids = np.full((height, width), -1, dtype=np.int32)
    pts = np.round((v - 0.5) * (1 << _SUBPIXEL_BITS)).astype(np.int32)
    order = np.arange(len(tri)) if draw_order is None else np.asarray(draw_order)
    for t in order:
        cv2.fillConvexPoly(ids, pts[tri[t]], (int(t),), lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)
    # Barycentric coordinates of the pixel centres.
    a, b, c = v[tri[:, 0]], v[tri[:, 1]], v[tri[:, 2]]
    m = np.stack([b - a, c - a], axis=2)  # T x 2 x 2 (columns: edges)
    det = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
    ok = np.abs(det) > 1e-12
    inv = np.zeros_like(m)
    inv[ok] = np.linalg.inv(m[ok])
    yy, xx = np.nonzero(ids >= 0)
    t = ids[yy, xx]
    p = np.stack([xx + 0.5, yy + 0.5], axis=1) - a[t]
    l12 = np.einsum("nij,nj->ni", inv[t], p)
    bary = np.stack([1.0 - l12[:, 0] - l12[:, 1], l12[:, 0], l12[:, 1]], axis=1)
    bary = np.clip(bary, 0.0, 1.0)
    bary /= np.maximum(bary.sum(axis=1, keepdims=True), 1e-12)
    bary[~ok[t]] = (1.0, 0.0, 0.0)
    out = np.zeros((height, width, 3), dtype=np.float32)
    out[yy, xx] = bary
    return Raster(ids, out)


def interpolate(raster: Raster, triangles: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per-pixel barycentric interpolation of per-vertex ``values`` (V x C); 0 where empty."""
    vals = np.asarray(values, dtype=np.float64)
    squeeze = vals.ndim == 1
    if squeeze:
        vals = vals[:, None]
    h, w = raster.triangle_id.shape
    out = np.zeros((h, w, vals.shape[1]), dtype=np.float64)
    yy, xx = np.nonzero(raster.mask)
    tri = np.asarray(triangles)[raster.triangle_id[yy, xx]]  # n x 3
    bary = raster.barycentric[yy, xx].astype(np.float64)  # n x 3
    out[yy, xx] = np.einsum("nk,nkc->nc", bary, vals[tri])
    return out[..., 0] if squeeze else out
