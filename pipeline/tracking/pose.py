"""Head pose -> EG3D camera (``cam2world`` + intrinsics), following spec sections 6.1 and 10.4.

Method
    The official pipeline regresses a rotation and translation with Deep3DFaceRecon and turns
    them into a camera (section 10.4). Here they come from fitting MediaPipe's canonical face
    to the FaceMesh landmarks of the crop (crop pixels: x right, y down, z away from the
    camera, OpenCV camera axes up to scale), in two steps:

    1. a weighted similarity (Umeyama) fit of the 3-D landmarks, for a start;
    2. Gauss-Newton on the **perspective** reprojection error of x, y (focal
       ``POSE_ESTIMATOR_FOCAL``, principal point at the crop centre) plus FaceMesh's z
       against the model's depth (weak perspective, weight :data:`DEPTH_WEIGHT`).

    Landmarks: :data:`FIT_LANDMARKS`, the stable interior of the face (eye outlines, nose,
    the cheek band under the eyes, mouth corners). The face outline (jaw, temples, forehead
    edge) is left out: FaceMesh slides those points towards the visible silhouette as the head
    turns (measured on synthetic renders at +-20..30 deg yaw: 15-29 px of drift against
    2-3 px for the eye corners).

    FaceMesh's z is compressed: on renders of the canonical face at known cameras its depth
    is 0.87-0.96 of the true depth, and the part that carries the turn more so, which makes a
    plain 3-D fit read 30 deg of yaw as 24-26 deg. The z is therefore scaled by
    :data:`FACEMESH_DEPTH_GAIN` before the fit. x, y alone (PnP) do not fix it: under the
    crop's 13.4 deg field of view depth and turn trade off (bas-relief), so yaw from 2-D
    points is only as good as the model's depth, which differs from person to person.

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

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from pipeline.cameras import POSE_ESTIMATOR_FOCAL, Camera, normalized_intrinsics
from pipeline.face_model import NUM_MESH_VERTICES, canonical_face_model
from pipeline.tracking.align import CROP_SIZE, STANDARD_LM3D
from pipeline.tracking.landmarks import FACEMESH_FROM_68

__all__ = [
    "DEPTH_WEIGHT",
    "EG3D_FROM_BFM_OFFSET",
    "FACEMESH_DEPTH_GAIN",
    "FIT_LANDMARKS",
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

#: Landmarks of the pose fit: eye outlines, nose bridge/tip/wings, the cheek band under the
#: eyes and the mouth corners (FaceMesh / canonical vertex ids, mirror-symmetric set).
FIT_LANDMARKS = tuple(
    sorted(
        {
            # eye outlines
            *(33, 133, 362, 263, 159, 145, 386, 374, 160, 144, 385, 380, 158, 153, 387, 373),
            *(157, 154, 384, 381, 161, 163, 388, 390, 246, 7, 466, 249),
            # nose
            *(1, 4, 5, 6, 168, 197, 195, 2, 98, 327, 64, 294, 48, 278, 115, 344, 220, 440, 45, 275),
            # cheek band under the eyes
            *(117, 346, 118, 347, 119, 348, 120, 349, 121, 350, 228, 448, 229, 449, 230, 450),
            *(231, 451, 232, 452, 116, 345, 123, 352, 50, 280, 101, 330, 36, 266, 205, 425),
            # mouth corners
            *(61, 291),
        }
    )
)
#: Scale applied to FaceMesh's z before the fit (see the module notes). Chosen on renders of
#: the canonical face at yaw 0, +-10, +-20, +-30 and pitch 0, +-10: 1.0 reads +-30 deg as
#: 24.4/-26.4, 1.3 as 28.3/-30.4; 1.5 overshoots by 4-5 deg at +-20.
FACEMESH_DEPTH_GAIN = 1.3
#: Weight of the z residuals against the x, y reprojection residuals (crop pixels both).
DEPTH_WEIGHT = 0.3
_GN_ITERATIONS = 5


@dataclass(frozen=True)
class HeadModel:
    """The canonical face in BFM units.

    Attributes:
        vertices_bfm: 468 x 3 canonical vertices in BFM units (y up, z towards the viewer).
        fit_ids: landmark ids used by the pose fit (:data:`FIT_LANDMARKS`).
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
    fit_ids = np.asarray(FIT_LANDMARKS, dtype=np.int64)
    w = np.full(len(fit_ids), 1.0 / len(fit_ids))
    for arr in (verts, w, fit_ids):
        arr.setflags(write=False)
    return HeadModel(verts, fit_ids, w, scale)


@dataclass(frozen=True)
class HeadPose:
    """A head pose in the crop: ``landmarks_px ~ scale_px * R @ X_bfm + t_px`` near the BFM
    origin (the fit itself is perspective: the origin lies at depth ``f / scale_px`` on the ray
    through ``t_px``).

    Attributes:
        rotation: 3 x 3, head (world) axes -> OpenCV camera axes.
        scale_px: crop pixels per BFM unit at the BFM origin's depth.
        t_px: (x, y, z) crop position of the BFM origin (z in the landmarks' depth scale,
            times :data:`FACEMESH_DEPTH_GAIN`).
        rms_px: weighted RMS x, y reprojection residual of the fit in crop pixels (a
            fit-quality hint).
    """

    rotation: np.ndarray
    scale_px: float
    t_px: np.ndarray
    rms_px: float


def _umeyama(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Weighted similarity ``y ~ s R x + t`` (w: N x 1, sum 1)."""
    mx, my = (w * x).sum(axis=0), (w * y).sum(axis=0)
    xc, yc = x - mx, y - my
    u, sv, vt = np.linalg.svd((w * yc).T @ xc)
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(u @ vt)) or 1.0
    r = u @ np.diag(d) @ vt
    s = float((sv * d).sum() / float((w * xc * xc).sum()))
    return r, s, my - s * r @ mx


def _rotation_from_vector(v: np.ndarray) -> np.ndarray:
    theta = float(np.linalg.norm(v))
    if theta < 1e-12:
        return np.eye(3)
    k = v / theta
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + math.sin(theta) * kx + (1.0 - math.cos(theta)) * (kx @ kx)


def fit_head_pose(landmarks_crop_px: np.ndarray, crop_size: int = CROP_SIZE) -> HeadPose:
    """Fit the canonical face to crop-pixel landmarks (478 or 468 x 3); see the module notes."""
    lm = np.asarray(landmarks_crop_px, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[0] < NUM_MESH_VERTICES or lm.shape[1] != 3:
        raise ValueError(f"fit_head_pose needs 468+ x 3 landmarks, got {lm.shape}")
    hm = head_model()
    x = hm.vertices_bfm[hm.fit_ids]
    y = lm[hm.fit_ids] * np.array([1.0, 1.0, FACEMESH_DEPTH_GAIN])
    w = hm.fit_weights
    n = len(x)
    r, s, t = _umeyama(x, y, w[:, None])
    if s <= 0:
        raise ValueError("fit_head_pose: degenerate landmarks")

    # Perspective refinement. Unknowns: rotation (increment v), the BFM origin in camera
    # coordinates (tr) and the z offset of the landmarks' depth (tz).
    f = POSE_ESTIMATOR_FOCAL * crop_size
    c0 = crop_size / 2.0
    tr = (f / s) * np.array([(t[0] - c0) / f, (t[1] - c0) / f, 1.0])
    tz = float(t[2])
    sw = np.sqrt(np.concatenate([np.repeat(w, 2), DEPTH_WEIGHT * w]))
    zero = np.zeros(n)
    jac = np.empty((3 * n, 7))
    for _ in range(_GN_ITERATIONS):
        rx = x @ r.T
        p = rx + tr
        iz = 1.0 / p[:, 2]
        sc = f / tr[2]
        res = np.concatenate(
            [
                np.stack([f * p[:, 0] * iz + c0 - y[:, 0], f * p[:, 1] * iz + c0 - y[:, 1]], 1).reshape(-1),
                sc * rx[:, 2] + tz - y[:, 2],
            ]
        )
        # d(rx)/dv = -[rx]x ; rows of the three components
        drx = np.stack(
            [
                np.stack([zero, rx[:, 2], -rx[:, 1]], 1),
                np.stack([-rx[:, 2], zero, rx[:, 0]], 1),
                np.stack([rx[:, 1], -rx[:, 0], zero], 1),
            ],
            1,
        )
        du = np.stack([f * iz, zero, -f * p[:, 0] * iz * iz], 1)
        dv = np.stack([zero, f * iz, -f * p[:, 1] * iz * iz], 1)
        ju = np.concatenate([np.einsum("ni,nij->nj", du, drx), du, zero[:, None]], 1)
        jv = np.concatenate([np.einsum("ni,nij->nj", dv, drx), dv, zero[:, None]], 1)
        jac[: 2 * n] = np.stack([ju, jv], 1).reshape(-1, 7)
        jac[2 * n :, :3] = sc * drx[:, 2, :]
        jac[2 * n :, 3:5] = 0.0
        jac[2 * n :, 5] = -sc / tr[2] * rx[:, 2]
        jac[2 * n :, 6] = 1.0
        jw = jac * sw[:, None]
        step = np.linalg.solve(jw.T @ jw, -(jw.T @ (res * sw)))
        r = _rotation_from_vector(step[:3]) @ r
        tr = tr + step[3:6]
        tz += float(step[6])
        if tr[2] <= 0:
            raise ValueError("fit_head_pose: the fit put the face behind the camera")
        if np.abs(step).max() < 1e-6:
            break

    sc = f / tr[2]
    t_px = np.array([f * tr[0] / tr[2] + c0, f * tr[1] / tr[2] + c0, tz])
    fitted = sc * (x @ r.T) + t_px
    d2 = lm[hm.fit_ids, :2] - fitted[:, :2]
    rms = float(np.sqrt((w * (d2 * d2).sum(axis=1)).sum()))
    return HeadPose(r, sc, t_px, rms)


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
