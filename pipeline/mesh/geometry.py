"""Geometry of the mesh avatar: pure numpy, no GL.

Frames
    *pixel frame*: FaceMesh landmarks of a 512 crop, ``(x right, y down, z away from the
    camera)`` in crop pixels (OpenCV camera axes, orthographic).
    *frontal frame*: the canonical face model's frame (centimetres, y up, z towards the
    viewer). A face is *frontalised* by a weighted similarity fit of the canonical mesh to its
    landmarks (MediaPipe's 33 Procrustes points, which barely move with expressions): its
    shape in this frame is free of head pose and face size, so two faces' expression offsets
    can be compared and exchanged there.
    *world*: the EG3D frame of :mod:`pipeline.cameras`. Landmarks are lifted into it along the
    rays of the observation's camera, so that projecting the lifted face through that camera
    lands exactly on the landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.cameras import FACE_EYES_POINT, Camera
from pipeline.face_model import NUM_MESH_VERTICES, canonical_face_model
from pipeline.mesh.topology import EYELIDS

__all__ = [
    "CANONICAL_TO_PIXEL_AXES",
    "camera_depth",
    "close_eyes",
    "eye_openness",
    "Similarity",
    "frontalize",
    "lift_landmarks_to_world",
    "mouth_opening_ratio",
    "similarity_fit",
    "unproject",
    "validate_landmarks",
    "vertex_normals",
]

#: Axis flip from the canonical frame (y up, z to the viewer) to the pixel frame (y down, z away).
CANONICAL_TO_PIXEL_AXES = np.diag([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class Similarity:
    """``y = scale * rotation @ x + translation`` (column vectors)."""

    scale: float
    rotation: np.ndarray
    translation: np.ndarray

    def apply(self, points: np.ndarray) -> np.ndarray:
        return self.scale * np.asarray(points) @ self.rotation.T + self.translation

    def inverse_apply(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points) - self.translation) @ self.rotation / self.scale

    @property
    def linear(self) -> np.ndarray:
        """The 3 x 3 linear part ``scale * rotation``."""
        return self.scale * self.rotation

    def matrix(self) -> np.ndarray:
        """4 x 4 homogeneous matrix."""
        m = np.eye(4)
        m[:3, :3] = self.linear
        m[:3, 3] = self.translation
        return m

    @classmethod
    def from_matrix(cls, m: np.ndarray) -> Similarity:
        m = np.asarray(m, dtype=np.float64)
        lin = m[:3, :3]
        s = float(np.cbrt(np.linalg.det(lin)))
        if not s > 0:
            raise ValueError("a similarity matrix needs a positive determinant")
        return cls(s, lin / s, m[:3, 3].copy())


def similarity_fit(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> Similarity:
    """Weighted least-squares similarity ``dst ~ s R src + t`` (Umeyama), R a proper rotation."""
    x = np.asarray(src, dtype=np.float64)
    y = np.asarray(dst, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 2 or x.shape[1] != 3:
        raise ValueError(f"similarity_fit needs two N x 3 arrays, got {x.shape} and {y.shape}")
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mx, my = w @ x, w @ y
    xc, yc = x - mx, y - my
    cov = (yc * w[:, None]).T @ xc
    u, d, vt = np.linalg.svd(cov)
    sgn = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sgn[2] = -1.0
    r = u @ np.diag(sgn) @ vt
    var_x = float(w @ (xc**2).sum(axis=1))
    s = float((d * sgn).sum() / var_x)
    return Similarity(s, r, my - s * r @ mx)


def validate_landmarks(landmarks_px: np.ndarray, what: str = "landmarks") -> np.ndarray:
    """The first 468 FaceMesh landmarks as float64 ``468 x 3``, or a clear ValueError."""
    lm = np.asarray(landmarks_px, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[0] < NUM_MESH_VERTICES or lm.shape[1] != 3:
        raise ValueError(
            f"{what}: the mesh avatar needs at least {NUM_MESH_VERTICES} FaceMesh landmarks with x, y, z "
            f"(N x 3), got shape {lm.shape}"
        )
    lm = lm[:NUM_MESH_VERTICES]
    if not np.all(np.isfinite(lm)):
        raise ValueError(f"{what}: landmarks contain NaN or infinity")
    if np.ptp(lm[:, 0]) < 4.0 or np.ptp(lm[:, 1]) < 4.0:
        raise ValueError(f"{what}: the landmarks are collapsed to a point (face size under 4 px)")
    return lm


def frontalize(landmarks_px: np.ndarray) -> tuple[np.ndarray, Similarity]:
    """Shape of a face in the frontal frame, and the fit ``canonical -> pixel frame``.

    Returns ``(frontal_cm, fit)``: ``frontal_cm`` (468 x 3, canonical frame) and the similarity
    fitted from the canonical mesh to the landmarks; ``fit.apply(frontal_cm)`` gives back the
    landmarks exactly. The fit's rotation includes the axis flip (``CANONICAL_TO_PIXEL_AXES``
    for a frontal face).
    """
    lm = validate_landmarks(landmarks_px)
    model = canonical_face_model()
    fit = similarity_fit(model.vertices_cm, lm, model.procrustes_weight_vector())
    return fit.inverse_apply(lm), fit


#: FaceMesh ids of the eye corners (right eye 33/133, left eye 362/263): the eye midpoint.
EYE_CORNERS = (33, 133, 362, 263)


def lift_landmarks_to_world(landmarks_px: np.ndarray, camera: Camera, depth_gain: float = 1.0) -> np.ndarray:
    """Lift 468 landmarks (crop px, MediaPipe z) into world points seen on them by ``camera``.

    The eye midpoint lands at the depth of :data:`pipeline.cameras.FACE_EYES_POINT` along the
    camera axis, where the neural avatar's faces have their eyes (so both avatars put the face
    on the sweep's focal plane); the other landmarks are placed by MediaPipe's relative z,
    times ``depth_gain``, converted with the weak-perspective scale ``depth / focal_px``.
    Projecting the result through ``camera`` gives back x, y exactly, whatever the gain.
    """
    if not depth_gain > 0:
        raise ValueError(f"lift_landmarks_to_world: depth_gain must be > 0, got {depth_gain}")
    lm = validate_landmarks(landmarks_px)
    k = camera.K_px
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    depth0 = float(np.dot(np.asarray(FACE_EYES_POINT) - camera.center, camera.forward))
    if depth0 <= 0:
        raise ValueError("lift_landmarks_to_world: the face is behind the camera")
    z_eyes = float(lm[list(EYE_CORNERS), 2].mean())
    z = depth0 + depth_gain * (lm[:, 2] - z_eyes) * depth0 / fx
    p_cam = np.stack([(lm[:, 0] - cx) * z / fx, (lm[:, 1] - cy) * z / fy, z], axis=1)
    return p_cam @ camera.cam2world[:3, :3].T + camera.cam2world[:3, 3]


def unproject(pixels: np.ndarray, depth_cam: np.ndarray, camera: Camera) -> np.ndarray:
    """World points at camera-axis depth ``depth_cam`` behind pixel positions (N x 2)."""
    k = camera.K_px
    px = np.asarray(pixels, dtype=np.float64)
    z = np.asarray(depth_cam, dtype=np.float64)
    p_cam = np.stack([(px[:, 0] - k[0, 2]) * z / k[0, 0], (px[:, 1] - k[1, 2]) * z / k[1, 1], z], axis=1)
    return p_cam @ camera.cam2world[:3, :3].T + camera.cam2world[:3, 3]


def camera_depth(points_world: np.ndarray, camera: Camera) -> np.ndarray:
    """Depth along the camera's viewing axis of world points (N x 3)."""
    return (np.asarray(points_world) - camera.center) @ camera.forward


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (counter-clockwise triangles face outwards)."""
    v = np.asarray(vertices, dtype=np.float64)
    t = np.asarray(triangles)
    fn = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, t[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def mouth_opening_ratio(frontal_cm: np.ndarray) -> float:
    """Inner-lip gap (13-14) over mouth width (61-291) of a frontalised face."""
    f = np.asarray(frontal_cm)
    gap = float(np.linalg.norm(f[13] - f[14]))
    width = float(np.linalg.norm(f[61] - f[291]))
    return gap / max(width, 1e-9)


def eye_openness(frontal_cm: np.ndarray) -> np.ndarray:
    """Mean height (cm) of each eye's opening in a frontalised face: [right eye, left eye].

    The height is taken between each upper-lid vertex and the lower-lid vertex below it,
    along the frontal frame's y axis (up).
    """
    f = np.asarray(frontal_cm)
    return np.array([float(np.mean(f[list(e.upper), 1] - f[list(e.lower), 1])) for e in EYELIDS])


#: Share of an upper lid's travel taken by the two rings of lid skin above it.
_LID_SKIN_SHARES = (0.55, 0.2)


def close_eyes(frontal_cm: np.ndarray, reference_cm: np.ndarray, openness: float) -> np.ndarray:
    """Lower the upper lids of ``frontal_cm`` until each lid gap is at most ``openness`` of its
    gap in ``reference_cm`` (0 = closed); gaps already smaller are left as they are.

    The lid skin above follows part of the way (0.55, then 0.2 of the lid's travel), so the
    skin stretches over the eye instead of folding. Returns a new 468 x 3 array.
    """
    out = np.array(frontal_cm, dtype=np.float64, copy=True)
    ref = np.asarray(reference_cm, dtype=np.float64)
    k = min(max(float(openness), 0.0), 1.0)
    for eye in EYELIDS:
        up, low = list(eye.upper), list(eye.lower)
        gap = out[up, 1] - out[low, 1]
        target = np.minimum(gap, k * np.maximum(ref[up, 1] - ref[low, 1], 0.0))
        shift = target - gap  # <= 0: downwards
        out[up, 1] += shift
        for ring, share in zip((eye.skin1, eye.skin2), _LID_SKIN_SHARES, strict=True):
            out[list(ring), 1] += share * shift
    return out


def expression_region_weights() -> np.ndarray:
    """Per-vertex weights (468,) in [0, 1]: 1 around the mouth and the eyes with their brows, 0 on
    the rest of the face (cheeks, nose, forehead, jaw), smooth in between.

    Used when a driver's expression is read against the canonical neutral face (a photo as
    driver): offsets elsewhere are mostly the driver's face shape, not its expression.
    """
    from pipeline.mesh.topology import LEFT_EYE_LOOP, LIPS_INNER_LOOP, RIGHT_EYE_LOOP

    v = canonical_face_model().vertices_cm[:NUM_MESH_VERTICES]

    def near(centre: np.ndarray, rx: float, ry: float) -> np.ndarray:
        d = np.hypot((v[:, 0] - centre[0]) / rx, (v[:, 1] - centre[1]) / ry)
        t = np.clip((1.6 - d) / 0.6, 0.0, 1.0)  # 1 inside the ellipse, 0 beyond 1.6 of it
        return t * t * (3.0 - 2.0 * t)

    mouth = v[list(LIPS_INNER_LOOP)].mean(axis=0)
    w = near(mouth, 3.0, 1.8)
    for loop in (RIGHT_EYE_LOOP, LEFT_EYE_LOOP):
        eye = v[list(loop)].mean(axis=0)
        brow_and_eye = eye + np.array([0.0, 0.7, 0.0])  # canonical y is up: include the brow
        w = np.maximum(w, near(brow_and_eye, 2.2, 1.7))
    return w.astype(np.float64)
