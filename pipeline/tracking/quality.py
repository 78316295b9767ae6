"""A quality report for a source photo, for the photo-selection UI and ``voodoo-holo prepare``.

All measures are taken on what the model will see (the aligned 512 crop) except the face
size, which is measured in the original photo along the face's own axes (so a tilted face
is not counted larger). Thresholds are in :class:`QualityThresholds`; the report lists
plain-language warnings, and ``ok`` is True when there are none.

Occlusion hints are heuristics: the colour of the eye band and of the mouth/chin region is
compared with the skin of the cheeks and forehead (CIE Lab); a large share of pixels far
from skin colour, beyond what eyes and lips normally add, suggests something covers the
face (a hand, a mask, sunglasses). Parts of the crop that fall outside the photo are
reported too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["QualityReport", "QualityThresholds", "quality_report"]

# FaceMesh regions (canonical mesh vertex ids).
_CHEEK_FOREHEAD = (50, 101, 118, 117, 280, 330, 347, 346, 108, 151, 337, 9, 69, 299, 205, 425)
_EYE_BAND = (33, 133, 160, 158, 153, 144, 362, 263, 385, 387, 373, 380, 70, 300, 105, 334)
_MOUTH_CHIN = (61, 291, 0, 17, 13, 14, 84, 314, 181, 405, 152, 148, 377, 200, 199, 175, 57, 287)
_SHARP_FACE_PX = 256.0  # sharpness is measured with the face at most this large
_SKIN_RADIUS_FRAC = 0.035  # sample radius around each point, as a fraction of the face size


@dataclass(frozen=True)
class QualityThresholds:
    """Limits that trigger a warning.

    Attributes:
        min_face_px: smallest usable face size in photo pixels (photos below it are refused).
            The size is the extent of the FaceMesh landmarks, which stop at mid-forehead: 80 px
            of landmarks is a face of about 100 px with the forehead.
        good_face_px: faces below this work but look soft.
        max_yaw_deg / max_pitch_deg: head turn / nod beyond which the 3D lift degrades.
        min_sharpness: see ``QualityReport.sharpness`` (8-bit grey).
        exposure_range: acceptable mean face luminance (0..1).
        max_clipped_frac: share of face pixels crushed to black or blown to white.
        max_out_of_frame_frac: share of the crop square outside the photo.
        occlusion_excess: share of non-skin pixels beyond the normal amount that hints at
            an occluder.
    """

    min_face_px: float = 80.0
    good_face_px: float = 160.0
    max_yaw_deg: float = 25.0
    max_pitch_deg: float = 20.0
    min_sharpness: float = 20.0
    exposure_range: tuple[float, float] = (0.2, 0.85)
    max_clipped_frac: float = 0.05
    max_out_of_frame_frac: float = 0.25
    occlusion_excess: float = 0.35

    def __post_init__(self) -> None:
        if not 0 < self.min_face_px <= self.good_face_px:
            raise ValueError("need 0 < min_face_px <= good_face_px")
        lo, hi = self.exposure_range
        if not 0.0 <= lo < hi <= 1.0:
            raise ValueError(f"exposure_range must satisfy 0 <= lo < hi <= 1, got {self.exposure_range}")
        for name in ("max_clipped_frac", "max_out_of_frame_frac", "occlusion_excess"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")


@dataclass
class QualityReport:
    """What the photo-selection UI shows about one photo.

    Attributes:
        face_size_px: face extent in the photo (larger of height/width along the face axes).
        yaw_deg / pitch_deg / roll_deg: head pose seen by the crop camera.
        tilt_deg: in-plane tilt removed by the alignment (the head's roll in the photo).
        sharpness: variance of the Laplacian over the face at native resolution, the face
            scaled down to at most 256 px (higher = sharper; upscaling is not counted).
        exposure: mean face luminance in [0, 1].
        clipped_frac: share of face pixels at black (< 3/255) or white (> 252/255).
        out_of_frame_frac: share of the crop square that lies outside the photo.
        occlusion: region -> share of pixels whose colour is far from the skin.
        faces_found: number of faces in the photo (the largest one is used).
        warnings: plain-language problems (empty when the photo is fine).
    """

    face_size_px: float
    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    tilt_deg: float
    sharpness: float
    exposure: float
    clipped_frac: float
    out_of_frame_frac: float
    occlusion: dict[str, float] = field(default_factory=dict)
    faces_found: int = 1
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.warnings

    def to_json(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def face_size_px(landmarks_crop_px: np.ndarray, crop_scale: float) -> float:
    """Face extent in photo pixels: the landmark box in the (rotation-free) crop / scale."""
    p = np.asarray(landmarks_crop_px, dtype=np.float64)[:468, :2]
    ext = p.max(axis=0) - p.min(axis=0)
    return float(ext.max() / crop_scale)


def _region_mask(shape: tuple[int, int], pts: np.ndarray, radius: int) -> np.ndarray:
    import cv2

    m = np.zeros(shape, np.uint8)
    for x, y in pts:
        cv2.circle(m, (round(float(x)), round(float(y))), radius, (1,), -1)
    return m.astype(bool)


def _non_skin_share(lab: np.ndarray, mask: np.ndarray, ref: np.ndarray, spread: np.ndarray) -> float:
    if not mask.any():
        return 0.0
    d = np.abs(lab[mask] - ref) / spread
    return float((d.max(axis=1) > 3.0).mean())


def _face_mask(landmarks_px: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    import cv2

    hull = cv2.convexHull(np.round(landmarks_px[:468, :2]).astype(np.int32))
    m = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(m, hull, (1,))
    return m.astype(bool)


def quality_report(
    frame_rgb_u8: np.ndarray,
    crop_rgb_u8: np.ndarray,
    landmarks_crop_px: np.ndarray,
    crop_from_frame: np.ndarray,
    yaw_pitch_roll_deg: tuple[float, float, float],
    faces_found: int = 1,
    thresholds: QualityThresholds | None = None,
) -> QualityReport:
    """Measure a photo's prepared (unmatted) crop; see the module docstring for what is measured.

    Args:
        frame_rgb_u8: the photo (for sharpness at native resolution and the out-of-frame share).
        crop_rgb_u8: the aligned crop before matting.
        landmarks_crop_px: 478 x 3 landmarks in crop pixels.
        crop_from_frame: 3 x 3 similarity, photo px -> crop px.
        yaw_pitch_roll_deg: the crop camera's head pose.
        faces_found: how many faces the photo has.
    """
    import cv2

    from pipeline.tracking.align import warp_to_crop

    th = thresholds or QualityThresholds()
    lm = np.asarray(landmarks_crop_px, dtype=np.float64)
    m = np.asarray(crop_from_frame, dtype=np.float64)
    crop_scale = float(np.sqrt(abs(np.linalg.det(m[:2, :2]))))
    tilt = float(np.degrees(np.arctan2(m[0, 1], m[0, 0])))
    h, w = crop_rgb_u8.shape[:2]
    face_b = _face_mask(lm, (h, w))
    size = face_size_px(lm, crop_scale)

    # Sharpness: the face re-sampled at min(1, 256 / size) photo pixels per pixel, so the
    # photo's focus is measured, not the blur of upscaling a small face into the crop.
    k = min(1.0, _SHARP_FACE_PX / max(size, 1.0)) / crop_scale
    ms = np.diag([k, k, 1.0]) @ m
    side = max(16, round(w * k))
    patch = warp_to_crop(frame_rgb_u8, ms, side, high_quality=True)
    lap = cv2.Laplacian(cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY), cv2.CV_32F)
    pmask = _face_mask(lm * k, (side, side))
    sharp = float(lap[pmask].var()) if pmask.sum() > 16 else 0.0

    grey = cv2.cvtColor(crop_rgb_u8, cv2.COLOR_RGB2GRAY)
    g = grey[face_b].astype(np.float32) / 255.0 if face_b.any() else np.zeros(1, np.float32)
    exposure = float(g.mean())
    clipped = float(((g < 3 / 255) | (g > 252 / 255)).mean())
    inside = warp_to_crop(np.full(frame_rgb_u8.shape[:2] + (3,), 255, np.uint8), m, w, high_quality=False)
    oof = float((inside[:, :, 0] < 128).mean())

    size_crop = float((lm[:468, :2].max(axis=0) - lm[:468, :2].min(axis=0)).max())
    r = max(2, round(_SKIN_RADIUS_FRAC * size_crop))
    lab = cv2.cvtColor(crop_rgb_u8, cv2.COLOR_RGB2LAB).astype(np.float32)
    skin = _region_mask((h, w), lm[list(_CHEEK_FOREHEAD), :2], r) & face_b
    occlusion: dict[str, float] = {}
    if skin.sum() > 20:
        vals = lab[skin]
        ref = np.median(vals, axis=0)
        spread = np.maximum(np.percentile(np.abs(vals - ref), 75, axis=0) * 1.5, (6.0, 3.0, 3.0))
        occlusion["eyes"] = _non_skin_share(
            lab, _region_mask((h, w), lm[list(_EYE_BAND), :2], r), ref, spread
        )
        occlusion["mouth_chin"] = _non_skin_share(
            lab, _region_mask((h, w), lm[list(_MOUTH_CHIN), :2], r), ref, spread
        )

    yaw, pitch, roll = (float(v) for v in yaw_pitch_roll_deg)
    size = face_size_px(lm, crop_scale)
    warn: list[str] = []
    if faces_found > 1:
        warn.append(f"{faces_found} faces found; the largest one is used. Crop the photo to just you.")
    if size < th.good_face_px:
        warn.append(f"the face is small ({size:.0f} px); a closer or higher-resolution photo looks sharper.")
    if abs(yaw) > th.max_yaw_deg:
        warn.append(f"the head is turned {abs(yaw):.0f} deg; a photo facing the camera works best.")
    if abs(pitch) > th.max_pitch_deg:
        warn.append(f"the head is tilted up/down {abs(pitch):.0f} deg; look straight into the camera.")
    if sharp < th.min_sharpness:
        warn.append("the face looks blurry; use a sharper photo.")
    lo, hi = th.exposure_range
    if exposure < lo:
        warn.append("the face is dark; use a better-lit photo.")
    elif exposure > hi:
        warn.append("the face is very bright (overexposed); use a photo with softer light.")
    if clipped > th.max_clipped_frac:
        warn.append("parts of the face are pure black or white; use a photo with even lighting.")
    if oof > th.max_out_of_frame_frac:
        warn.append("the head is close to the photo's edge; use a photo with space around the head.")
    for region, share in occlusion.items():
        normal = 0.45 if region == "eyes" else 0.3
        if share > normal + th.occlusion_excess * (1.0 - normal):
            where = "eyes" if region == "eyes" else "mouth or chin"
            warn.append(f"something may cover the {where}; use a photo with the whole face visible.")
    return QualityReport(
        face_size_px=size,
        yaw_deg=yaw,
        pitch_deg=pitch,
        roll_deg=roll,
        tilt_deg=tilt,
        sharpness=sharp,
        exposure=exposure,
        clipped_frac=clipped,
        out_of_frame_frac=oof,
        occlusion=occlusion,
        faces_found=int(faces_found),
        warnings=warn,
    )
