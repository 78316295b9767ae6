"""Index sets of MediaPipe's canonical face mesh used by the mesh avatar.

The canonical mesh (468 vertices, 898 triangles) is one disk: its only boundary is the face
oval, and the eyes and the mouth are closed by triangles joining the upper and lower lids /
lips. Those triangles stretch when the driver opens its mouth, so the mouth ones are drawn as
the mouth interior instead of skin.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from pipeline.face_model import NUM_MESH_VERTICES, canonical_face_model

__all__ = [
    "EYELIDS",
    "Eyelid",
    "LIPS_INNER_LOWER",
    "LIPS_INNER_UPPER",
    "mouth_coordinates",
    "FACE_OVAL_LOOP",
    "LEFT_EYE_LOOP",
    "LIPS_INNER_LOOP",
    "RIGHT_EYE_LOOP",
    "mirror_index",
    "mouth_triangle_mask",
]

#: Inner lip contour, closed loop (upper lip centre 13, lower lip centre 14).
LIPS_INNER_LOOP = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
#: The subject's right eye (the image's left in a frontal photo), closed loop.
RIGHT_EYE_LOOP = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
#: The subject's left eye, closed loop.
LEFT_EYE_LOOP = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
#: The face oval: the boundary of the canonical mesh, closed loop.
FACE_OVAL_LOOP = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip


class Eyelid(NamedTuple):
    """One eye's lids (MediaPipe's mesh annotations), vertex for vertex from the outer corner.

    Attributes:
        upper: the upper lid's edge (``rightEyeUpper0`` / ``leftEyeUpper0``).
        lower: the lower lid's edge vertex below each of ``upper`` (``*EyeLower0`` less the corners).
        skin1 / skin2: the two rings of lid skin above the upper lid (``*EyeUpper1``, ``*EyeUpper2``).
    """

    upper: tuple[int, ...]
    lower: tuple[int, ...]
    skin1: tuple[int, ...]
    skin2: tuple[int, ...]


#: The subject's right eye, then the left.
EYELIDS = (
    Eyelid(
        upper=(246, 161, 160, 159, 158, 157, 173),
        lower=(7, 163, 144, 145, 153, 154, 155),
        skin1=(247, 30, 29, 27, 28, 56, 190),
        skin2=(113, 225, 224, 223, 222, 221, 189),
    ),
    Eyelid(
        upper=(466, 388, 387, 386, 385, 384, 398),
        lower=(249, 390, 373, 374, 380, 381, 382),
        skin1=(467, 260, 259, 257, 258, 286, 414),
        skin2=(342, 445, 444, 443, 442, 441, 413),
    ),
)


@lru_cache(maxsize=1)
def mirror_index() -> np.ndarray:
    """For each canonical vertex, the index of its mirror image across the x = 0 plane."""
    v = canonical_face_model().vertices_cm
    mirrored = v * np.array([-1.0, 1.0, 1.0])
    d = np.linalg.norm(v[None, :, :] - mirrored[:, None, :], axis=2)
    idx = np.argmin(d, axis=1).astype(np.int32)
    if np.max(d[np.arange(NUM_MESH_VERTICES), idx]) > 1e-3:
        raise RuntimeError("the canonical face model is not left-right symmetric")
    idx.setflags(write=False)
    return idx


#: The inner-lip loop split at the mouth corners (78 right, 308 left; both in each chain).
LIPS_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)


@lru_cache(maxsize=1)
def mouth_coordinates() -> np.ndarray:
    """``V x 2`` float32 coordinates of the inner-lip vertices across the mouth opening.

    x: -1 at one mouth corner, +1 at the other (from the canonical x); y: 0 on the upper
    inner lip, 1 on the lower, 0.5 at the corners. Zero for every other vertex. Every
    mouth triangle joins the two lips, so the interpolated (x, y) parametrises the opening.
    """
    model = canonical_face_model()
    out = np.zeros((len(model.vertices_cm), 2), np.float32)
    x = model.vertices_cm[:, 0]
    left, right = LIPS_INNER_UPPER[0], LIPS_INNER_UPPER[-1]
    centre, half = (x[left] + x[right]) / 2, abs(x[right] - x[left]) / 2
    for chain, y in ((LIPS_INNER_UPPER, 0.0), (LIPS_INNER_LOWER, 1.0)):
        idx = np.asarray(chain)
        out[idx, 0] = np.clip((x[idx] - centre) / half, -1.0, 1.0)
        out[idx, 1] = y
    out[[left, right], 1] = 0.5
    out.setflags(write=False)
    return out


@lru_cache(maxsize=1)
def mouth_triangle_mask() -> np.ndarray:
    """Boolean mask over the 898 canonical triangles: those spanning the mouth opening."""
    tri = canonical_face_model().triangles
    mask = np.isin(tri, np.asarray(LIPS_INNER_LOOP)).all(axis=1)
    mask.setflags(write=False)
    return mask
