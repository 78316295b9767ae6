"""Pre-processing of a source photo: load, find the face, align/crop, pose, matte, quality.

>>> from pipeline.tracking import prepare_photo            # doctest: +SKIP
>>> obs = prepare_photo("me.jpg")                          # doctest: +SKIP
>>> obs.crop_rgb_u8.shape, obs.camera.yaw_pitch_roll_deg() # doctest: +SKIP

The result is a :class:`pipeline.avatar.FaceObservation`; its ``extras`` hold
``"quality"`` (a :class:`QualityReport`), ``"head_pose"`` (the :class:`HeadPose` fit),
``"crop_unmatted_rgb_u8"`` (the crop before matting) and ``"faces_found"``; with a context
(``PhotoConfig.context_scale`` > 1) also ``"context_rgb_u8"`` and ``"context_matte"``, the
matted photo around the crop: the same alignment and pixel size, ``"context_pad_px"`` more
on every side (the top of the hair and the shoulders the 512 crop cuts off).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from pipeline.avatar import FaceObservation
from pipeline.tracking.align import CROP_SIZE, alignment_from_landmarks, landmarks_to_crop, warp_to_crop
from pipeline.tracking.errors import FaceTooSmallError, NoFaceError
from pipeline.tracking.image_io import load_image
from pipeline.tracking.landmarks import DetectorConfig, FaceMeshDetector
from pipeline.tracking.matting import MatteConfig, Matter, apply_matte
from pipeline.tracking.pose import camera_from_pose, fit_head_pose
from pipeline.tracking.quality import QualityThresholds, face_size_px, quality_report

__all__ = ["PhotoConfig", "PhotoPreprocessor", "prepare_photo"]


@dataclass(frozen=True)
class PhotoConfig:
    """Settings of the photo pre-processing.

    Attributes:
        max_faces: faces looked for; the largest is used and the others reported (>= 1).
        min_detection_confidence: face detector threshold in [0, 1].
        matte: matting settings (``None`` keeps the background, like ``keep_bg``).
        quality: thresholds of the quality report (``min_face_px`` refuses tiny faces).
        context_scale: side of the context crop over the aligned crop's (1..3; 1 = no context).
    """

    max_faces: int = 4
    min_detection_confidence: float = 0.5
    matte: MatteConfig | None = field(default_factory=MatteConfig)
    quality: QualityThresholds = field(default_factory=QualityThresholds)
    context_scale: float = 2.0

    def __post_init__(self) -> None:
        if self.max_faces < 1:
            raise ValueError(f"max_faces must be >= 1, got {self.max_faces}")
        if not 0.0 <= self.min_detection_confidence <= 1.0:
            raise ValueError("min_detection_confidence must be in [0, 1]")
        if not 1.0 <= self.context_scale <= 3.0:
            raise ValueError(f"context_scale must be in [1, 3], got {self.context_scale}")


def _face_area(lm: np.ndarray) -> float:
    ext = lm[:468, :2].max(axis=0) - lm[:468, :2].min(axis=0)
    return float(ext[0] * ext[1])


class PhotoPreprocessor:
    """Reusable photo pre-processor (keeps the MediaPipe graphs open between photos)."""

    def __init__(self, config: PhotoConfig | None = None) -> None:
        self.config = config or PhotoConfig()
        c = self.config
        self._detector = FaceMeshDetector(
            DetectorConfig(
                video=False, max_faces=c.max_faces, min_detection_confidence=c.min_detection_confidence
            )
        )
        self._matter = Matter(c.matte) if c.matte is not None else None

    def __enter__(self) -> PhotoPreprocessor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._detector.close()
        if self._matter is not None:
            self._matter.close()

    def prepare(self, photo: str | os.PathLike[str] | np.ndarray, name: str | None = None) -> FaceObservation:
        """Pre-process a photo (a path or an ``H x W x 3`` uint8 RGB array).

        Raises:
            UnreadablePhotoError: the file cannot be read.
            NoFaceError: no face found.
            FaceTooSmallError: the face is smaller than ``config.quality.min_face_px``.
        """
        if isinstance(photo, np.ndarray):
            rgb = photo
            label = name or "the image"
            if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
                raise ValueError(f"expected an H x W x 3 uint8 RGB image, got {rgb.shape} {rgb.dtype}")
        else:
            rgb = load_image(photo)
            label = name or str(photo)
        faces = self._detector.detect(rgb)
        if faces:
            faces = self._redetect_upright(rgb, faces)
        if not faces:
            raise NoFaceError(
                f"no face found in {label}. Use a photo where your face is clearly visible, facing the "
                "camera, well lit and not covered."
            )
        lm = max(faces, key=_face_area)
        al = alignment_from_landmarks(lm)
        lm_crop = landmarks_to_crop(lm, al.crop_from_frame)
        th = self.config.quality
        size = face_size_px(lm_crop, al.scale)
        if size < th.min_face_px:
            raise FaceTooSmallError(
                f"the face in {label} is only {size:.0f} pixels tall; at least {th.min_face_px:.0f} are "
                "needed. Use a closer or higher-resolution photo, or crop it around your head.",
                size,
                th.min_face_px,
            )
        crop = warp_to_crop(rgb, al.crop_from_frame, CROP_SIZE, high_quality=True)
        pose = fit_head_pose(lm_crop)
        camera = camera_from_pose(pose, CROP_SIZE)
        if self._matter is not None:
            matte = self._matter.matte(crop)
            matted = apply_matte(crop, matte)
        else:
            matte = np.ones(crop.shape[:2], np.float32)
            matted = crop.copy()
        extras = self._context(rgb, al.crop_from_frame)
        quality = quality_report(
            rgb, crop, lm_crop, al.crop_from_frame, camera.yaw_pitch_roll_deg(), len(faces), th
        )
        return FaceObservation(
            crop_rgb_u8=matted,
            matte=matte,
            camera=camera,
            landmarks_px=lm_crop,
            crop_from_frame=al.crop_from_frame,
            frame_size=(int(rgb.shape[1]), int(rgb.shape[0])),
            extras={
                "quality": quality,
                "head_pose": pose,
                "crop_unmatted_rgb_u8": crop,
                "faces_found": len(faces),
                "landmarks_frame_px": lm,
                **extras,
            },
        )

    def _context(self, rgb: np.ndarray, crop_from_frame: np.ndarray) -> dict[str, object]:
        """The matted context crop around the aligned crop (empty without one)."""
        pad = round(CROP_SIZE * (self.config.context_scale - 1.0) / 2.0)
        if pad <= 0:
            return {}
        shift = np.array([[1.0, 0.0, pad], [0.0, 1.0, pad], [0.0, 0.0, 1.0]])
        ctx = warp_to_crop(rgb, shift @ crop_from_frame, CROP_SIZE + 2 * pad, high_quality=True)
        matte = self._matter.matte(ctx) if self._matter is not None else np.ones(ctx.shape[:2], np.float32)
        return {"context_rgb_u8": apply_matte(ctx, matte), "context_matte": matte, "context_pad_px": pad}

    def _redetect_upright(self, rgb: np.ndarray, faces: list[np.ndarray]) -> list[np.ndarray]:
        """Re-run FaceMesh with the image turned upright when the face is tilted past 45 deg.

        FaceMesh is much less accurate on sideways faces (a photo without its EXIF
        rotation, a selfie taken lying down); the landmarks are mapped back to the photo.
        """
        tilt = alignment_from_landmarks(max(faces, key=_face_area)).angle_deg
        quarter = round(tilt / 90.0) % 4
        if quarter == 0:
            return faces
        turned = np.ascontiguousarray(np.rot90(rgb, k=quarter))
        again = self._detector.detect(turned)
        if not again:
            return faces
        h, w = rgb.shape[:2]
        return [_unrotate_points(f, quarter, w, h) for f in again]


def _unrotate_points(lm: np.ndarray, quarter: int, width: int, height: int) -> np.ndarray:
    """Points found in ``np.rot90(img, quarter)`` -> points in ``img`` (corner convention)."""
    out = lm.copy()
    x, y = lm[:, 0].astype(np.float64), lm[:, 1].astype(np.float64)
    if quarter == 1:  # counter-clockwise: x' = y, y' = W - x
        out[:, 0], out[:, 1] = width - y, x
    elif quarter == 2:
        out[:, 0], out[:, 1] = width - x, height - y
    elif quarter == 3:  # clockwise: x' = H - y, y' = x
        out[:, 0], out[:, 1] = y, height - x
    return out  # z is already in pixels, the same in both images


def prepare_photo(
    photo: str | os.PathLike[str] | np.ndarray, config: PhotoConfig | None = None
) -> FaceObservation:
    """One-shot :meth:`PhotoPreprocessor.prepare` (opens and closes the MediaPipe graphs)."""
    with PhotoPreprocessor(config) as pp:
        return pp.prepare(photo)
