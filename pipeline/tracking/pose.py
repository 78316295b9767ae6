"""Head pose -> EG3D camera (``cam2world`` + intrinsics), following spec sections 6.1 and 10.4.

Method
    The official pipeline regresses a rotation and translation with Deep3DFaceRecon and turns
    them into a camera (section 10.4). Here the rotation and translation come from a weighted
    similarity (Umeyama) fit of the FaceMesh landmarks in **crop pixels** (x right, y down,
    z away from the camera: OpenCV camera axes up to scale) to MediaPipe's canonical face,
    using its 33 Procrustes basis points and weights (the rigid part of the face: expressions
    barely move them). The crop camera is nearly orthographic (13.4 deg field of view), so a
    scaled-orthographic fit is accurate; perspective enters through the depth below.

Units and frames
    The canonical face (centimetres, y up, z towards the viewer) is first expressed in the
    BFM units of Deep3DFaceRecon by the scale + translation that best maps its five
    semantic points (eye centres, nose tip, mouth corners) onto the standard 3-D landmarks
    (``STANDARD_LM3D``): 1 BFM unit is about 10.2 cm, the fitted rotation between the two
    frames is 0.5 deg and is ignored. BFM, the canonical face and the EG3D world all have
    y up, z towards the viewer and x towards the subject's left.

From fit to camera (the conventions of section 10.4)
    The fit gives ``L ~ s R X + t``: R maps head (= world) axes to OpenCV camera axes, s is
    crop pixels per BFM unit and t the crop position of the BFM origin. With the estimator
    focal ``f = POSE_ESTIMATOR_FOCAL * 512`` px the BFM origin lies at depth ``Z = f / s``
    on the ray through t, i.e. at ``P0 = Z K^-1 (t, 1)`` in camera coordinates. The camera
    centre in BFM coordinates is ``c = -R^T P0``; then, exactly as officially,
    ``c <- 0.27 c; c_y += 0.006; c_z += 0.161; c <- 2.7 c / |c|``, and
    ``cam2world = [R^T | c]``. A frontal face centred by the alignment gives Z ~ 10 and so
    c ~ (0, 0.0057, 2.7) with rotation diag(1, -1, -1): the canonical camera.

Angles are read with :func:`pipeline.cameras.euler_from_rotation` (positive yaw = camera
towards the subject's left, positive pitch = camera above, positive roll = camera rolled
anticlockwise, head appears rotated clockwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from pipeline.cameras import POSE_ESTIMATOR_FOCAL, Camera, normalized_intrinsics
from pipeline.face_model import NUM_MESH_VERTICES, canonical_face_model
from pipeline.tracking.align import CROP_SIZE, STANDARD_LM3D
from pipeline.tracking.landmarks import FACEMESH_FROM_68

__all__ = [
    "EG3D_FROM_BFM_OFFSET",
    "EG3D_PER_BFM",
    "HeadModel",
    "HeadPose",
    "camera_from_pose",
    "fit_head_pose",
    "head_model",
    "posed_canonical_world",
]

#: EG3D world units per BFM unit (the official ``c <- 0.27 c``).
EG3D_PER_BFM = 0.27
#: Offset added to the scaled camera centre (official ``c_y += 0.006; c_z += 0.161``).
EG3D_FROM_BFM_OFFSET = np.array([0.0, 0.006, 0.161])
_RADIUS = 2.7


@dataclass(frozen=True)
class HeadModel:
    """The canonical face in BFM units.

    Attributes:
        vertices_bfm: 468 x 3 canonical vertices in BFM units (y up, z towards the viewer).
        fit_ids: landmark ids used by the pose fit (MediaPipe's 33 Procrustes basis points).
        fit_weights: their weights (sum 1).
        bfm_per_cm: scale from the canonical model's centimetres to BFM units.
    """

    vertices_bfm: np.ndarray
    fit_ids: np.ndarray
    fit_weights: np.ndarray
    bfm_per_cm: float


@lru_cache(maxsize=1)
def head_model() -> HeadModel:
    """The canonical face placed in BFM units (computed once, read-only)."""
    m = canonical_face_model()
    v = m.vertices_cm
    ids = FACEMESH_FROM_68
    five = np.stack(
        [
            0.5 * (v[ids[36]] + v[ids[39]]),
            0.5 * (v[ids[42]] + v[ids[45]]),
            v[ids[30]],
            v[ids[48]],
            v[ids[54]],
        ]
    )
    mu_a, mu_b = five.mean(axis=0), STANDARD_LM3D.mean(axis=0)
    a, b = five - mu_a, STANDARD_LM3D - mu_b
    scale = float((a * b).sum() / (a * a).sum())
    verts = (v - mu_a) * scale + mu_b
    w = np.asarray(m.procrustes_weights, dtype=np.float64)
    w = w / w.sum()
    fit_ids = np.asarray(m.procrustes_ids, dtype=np.int64)
    for arr in (verts, w, fit_ids):
        arr.setflags(write=False)
    return HeadModel(verts, fit_ids, w, scale)


@dataclass(frozen=True)
class HeadPose:
    """A similarity fit ``landmarks_px ~ scale_px * R @ X_bfm + t_px`` in crop pixels.

    Attributes:
        rotation: 3 x 3, head (world) axes -> OpenCV camera axes.
        scale_px: crop pixels per BFM unit.
        t_px: (x, y, z) crop position of the BFM origin (z in the landmarks' depth scale).
        rms_px: weighted RMS residual of the fit in crop pixels (a fit-quality hint).
    """

    rotation: np.ndarray
    scale_px: float
    t_px: np.ndarray
    rms_px: float


def fit_head_pose(landmarks_crop_px: np.ndarray) -> HeadPose:
    """Weighted similarity fit of crop-pixel landmarks (478 or 468 x 3) to the canonical face."""
    lm = np.asarray(landmarks_crop_px, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[0] < NUM_MESH_VERTICES or lm.shape[1] != 3:
        raise ValueError(f"fit_head_pose needs 468+ x 3 landmarks, got {lm.shape}")
    hm = head_model()
    x = hm.vertices_bfm[hm.fit_ids]
    y = lm[hm.fit_ids]
    w = hm.fit_weights[:, None]
    mx, my = (w * x).sum(axis=0), (w * y).sum(axis=0)
    xc, yc = x - mx, y - my
    cov = (w * yc).T @ xc
    u, sv, vt = np.linalg.svd(cov)
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(u @ vt)) or 1.0
    r = u @ np.diag(d) @ vt
    var_x = float((w * xc * xc).sum())
    s = float((sv * d).sum() / var_x)
    t = my - s * r @ mx
    res = y - (s * (r @ x.T).T + t)
    rms = float(np.sqrt((w[:, 0] * (res * res).sum(axis=1)).sum()))
    return HeadPose(r, s, t, rms)


def _camera_geometry(pose: HeadPose, crop_size: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(camera centre before normalisation in EG3D units, P0 in BFM units, focal px)."""
    f_px = POSE_ESTIMATOR_FOCAL * crop_size
    depth = f_px / pose.scale_px
    c0 = crop_size / 2.0
    p0 = depth * np.array([(pose.t_px[0] - c0) / f_px, (pose.t_px[1] - c0) / f_px, 1.0])
    c_bfm = -pose.rotation.T @ p0
    c_raw = EG3D_PER_BFM * c_bfm + EG3D_FROM_BFM_OFFSET
    return c_raw, p0, f_px


def camera_from_pose(pose: HeadPose, crop_size: int = CROP_SIZE) -> Camera:
    """The EG3D camera (section 10.4 conventions) for a head pose fitted in a crop."""
    if pose.scale_px <= 0:
        raise ValueError("head pose has a non-positive scale")
    c_raw, _, _ = _camera_geometry(pose, crop_size)
    c = _RADIUS * c_raw / np.linalg.norm(c_raw)
    m = np.eye(4)
    m[:3, :3] = pose.rotation.T
    m[:3, 3] = c
    k = normalized_intrinsics(POSE_ESTIMATOR_FOCAL)
    return Camera(m, k, crop_size, crop_size)


def posed_canonical_world(pose: HeadPose, camera: Camera) -> np.ndarray:
    """The canonical face (468 x 3) placed in the EG3D world so that ``camera`` sees it
    where the landmarks are.

    The camera's normalisation onto the 2.7 sphere moves it along the viewing ray; the
    posed face is the fitted face scaled about the camera centre by the same factor, so its
    projection is unchanged (about 0.94 x the EG3D size of the canonical face for a frontal,
    centred face).
    """
    crop = camera.width
    c_raw, p0, _ = _camera_geometry(pose, crop)
    lam = EG3D_PER_BFM * _RADIUS / np.linalg.norm(c_raw)
    pts_cam = lam * ((pose.rotation @ head_model().vertices_bfm.T).T + p0)
    return (camera.cam2world[:3, :3] @ pts_cam.T).T + camera.cam2world[:3, 3]
