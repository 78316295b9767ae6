"""Helpers of the mesh-avatar tests (the fixtures are in ``conftest.py``).

A module of its own, not ``conftest``: several test folders have a ``conftest.py``, and a test
importing ``from conftest import ...`` gets whichever was imported first when pytest collects
more than one folder.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from pipeline.avatar import FaceObservation
from pipeline.cameras import CANONICAL_RADIUS, Camera, canonical_camera, euler_from_rotation
from pipeline.mesh.geometry import frontalize

REPO_ROOT = Path(__file__).resolve().parents[2]
CROP = 512


def facemesh_px(rgb_u8: np.ndarray) -> np.ndarray | None:
    """478 x 3 FaceMesh landmarks in pixels (z in x's pixel scale), or None without a face."""
    import mediapipe as mp

    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=1, refine_landmarks=True
    ) as fm:
        res = fm.process(np.ascontiguousarray(rgb_u8))
    if not res.multi_face_landmarks:
        return None
    h, w = rgb_u8.shape[:2]
    lm = res.multi_face_landmarks[0].landmark
    return np.array([[p.x * w, p.y * h, p.z * w] for p in lm], dtype=np.float32)


def selfie_matte(rgb_u8: np.ndarray) -> np.ndarray:
    import mediapipe as mp

    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
        m = seg.process(np.ascontiguousarray(rgb_u8)).segmentation_mask
    return np.clip(m, 0.0, 1.0).astype(np.float32)


def head_pose_camera(landmarks_px: np.ndarray, size: int = CROP) -> Camera:
    """Camera at the canonical radius whose rotation is the Procrustes head pose."""
    _, fit = frontalize(landmarks_px)
    rot_c2w = fit.rotation.T
    m = np.eye(4)
    m[:3, :3] = rot_c2w
    m[:3, 3] = -CANONICAL_RADIUS * rot_c2w[:, 2]
    base = canonical_camera(size, size)
    return Camera(m, base.intrinsics, size, size)


def measured_yaw_pitch_roll_deg(landmarks_px: np.ndarray) -> tuple[float, float, float]:
    _, fit = frontalize(landmarks_px)
    return euler_from_rotation(fit.rotation.T)


def observation_from_photo(rgb_u8: np.ndarray, margin: float = 1.9) -> FaceObservation:
    lm = facemesh_px(rgb_u8)
    if lm is None:
        raise RuntimeError("test photo: FaceMesh found no face")
    lo, hi = lm[:468, :2].min(0), lm[:468, :2].max(0)
    side = margin * float(max(hi - lo))
    centre = 0.5 * (lo + hi) - np.array([0.0, 0.08 * side])
    s = CROP / side
    a = np.array([[s, 0.0, CROP / 2 - s * centre[0]], [0.0, s, CROP / 2 - s * centre[1]]])
    crop = cv2.warpAffine(rgb_u8, a, (CROP, CROP), flags=cv2.INTER_AREA, borderValue=(0, 0, 0))
    lm_crop = facemesh_px(crop)
    if lm_crop is None:
        raise RuntimeError("test photo: FaceMesh lost the face in the crop")
    matte = selfie_matte(crop)
    matted = (crop.astype(np.float32) * matte[..., None]).astype(np.uint8)
    return FaceObservation(
        crop_rgb_u8=matted,
        matte=matte,
        camera=head_pose_camera(lm_crop),
        landmarks_px=lm_crop,
        crop_from_frame=np.vstack([a, [0.0, 0.0, 1.0]]),
        frame_size=(rgb_u8.shape[1], rgb_u8.shape[0]),
    )


def astronaut_rgb() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def grace_hopper_rgb() -> np.ndarray:
    from matplotlib import cbook

    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return np.asarray(Image.open(path).convert("RGB"))


class PhotoTracker:
    """Photo -> FaceObservation with the project's tracker, or the stand-in without it."""

    def __init__(self) -> None:
        try:
            from pipeline.tracking import PhotoPreprocessor
        except ImportError:
            self._pp = None
            self.name = "stand-in (FaceMesh + Procrustes)"
        else:
            self._pp = PhotoPreprocessor()
            self.name = "pipeline.tracking"

    def observe(self, rgb_u8: np.ndarray) -> FaceObservation | None:
        """The observation of the face in ``rgb_u8``; None when no face is found."""
        if self._pp is None:
            try:
                return observation_from_photo(rgb_u8)
            except RuntimeError:
                return None
        from pipeline.tracking import PhotoError

        try:
            return self._pp.prepare(rgb_u8)
        except PhotoError:
            return None

    def close(self) -> None:
        if self._pp is not None:
            self._pp.close()


def save_png(path: Path, rgb_u8: np.ndarray) -> None:
    Image.fromarray(np.ascontiguousarray(rgb_u8)).save(path)
