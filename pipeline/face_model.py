"""MediaPipe's canonical face model, shipped in ``assets/mediapipe`` (Apache-2.0, see NOTICE.md).

The canonical mesh has 468 vertices; vertex i corresponds to FaceMesh landmark i (landmarks
468-477 are iris points with no canonical vertex). Its frame: centimetres, **y up, z towards
the viewer** (the face looks along +z), x towards the face's left — the same handedness and
facing direction as the EG3D world frame, at a different scale and origin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

__all__ = ["CanonicalFaceModel", "canonical_face_model"]

NUM_MESH_VERTICES = 468
NUM_LANDMARKS_REFINED = 478


@dataclass(frozen=True)
class CanonicalFaceModel:
    """The canonical face mesh.

    Attributes:
        vertices_cm: ``468 x 3`` float64 positions in centimetres (y up, z towards the viewer).
        uvs: ``468 x 2`` float64 texture coordinates (u right, v up, as in the .obj file).
        triangles: ``898 x 3`` int32 vertex indices (0-based, counter-clockwise seen from the front).
        procrustes_ids: landmark ids MediaPipe uses for its weighted Procrustes pose fit (33).
        procrustes_weights: their weights (33,), summing to about 1.
    """

    vertices_cm: np.ndarray
    uvs: np.ndarray
    triangles: np.ndarray
    procrustes_ids: np.ndarray
    procrustes_weights: np.ndarray

    def procrustes_weight_vector(self) -> np.ndarray:
        """Weights for all 468 vertices (zero outside the Procrustes basis)."""
        w = np.zeros(NUM_MESH_VERTICES)
        w[self.procrustes_ids] = self.procrustes_weights
        return w


def _asset_text(name: str) -> str:
    return resources.files("assets.mediapipe").joinpath(name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def canonical_face_model() -> CanonicalFaceModel:
    """Load (once) and return the canonical face model."""
    verts, uvs, tris_v, tris_t = [], [], [], []
    for line in _asset_text("canonical_face_model.obj").splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "v":
            verts.append([float(x) for x in parts[1:4]])
        elif parts[0] == "vt":
            uvs.append([float(x) for x in parts[1:3]])
        elif parts[0] == "f":
            idx = [p.split("/") for p in parts[1:4]]
            tris_v.append([int(i[0]) - 1 for i in idx])
            tris_t.append([int(i[1]) - 1 for i in idx])
    v = np.asarray(verts, dtype=np.float64)
    vt = np.asarray(uvs, dtype=np.float64)
    tv = np.asarray(tris_v, dtype=np.int32)
    tt = np.asarray(tris_t, dtype=np.int32)
    if v.shape != (NUM_MESH_VERTICES, 3) or vt.shape != (NUM_MESH_VERTICES, 2):
        raise RuntimeError("canonical_face_model.obj is damaged (expected 468 vertices and 468 UVs)")
    # The obj indexes UVs separately; re-index them per vertex (they are one-to-one).
    uv_per_vertex = np.zeros_like(vt)
    uv_per_vertex[tv.reshape(-1)] = vt[tt.reshape(-1)]
    pairs = re.findall(
        r"procrustes_landmark_basis\s*\{\s*landmark_id:\s*(\d+)\s*weight:\s*([0-9.eE+-]+)\s*\}",
        _asset_text("geometry_pipeline_metadata_landmarks.pbtxt"),
    )
    ids = np.array([int(a) for a, _ in pairs], dtype=np.int32)
    weights = np.array([float(b) for _, b in pairs], dtype=np.float64)
    if len(ids) != 33:
        raise RuntimeError(f"expected 33 Procrustes basis landmarks, found {len(ids)}")
    for a in (v, uv_per_vertex, tv, ids, weights):
        a.setflags(write=False)
    return CanonicalFaceModel(v, uv_per_vertex, tv, ids, weights)
