"""Alignment and crop to the 512 x 512 image VOODOO 3D expects (spec section 10, steps 3 and 5).

The official pre-processing resamples three times (FFHQ quad -> 1024, resize + crop, centre
crop 700 -> 512). Every step is a similarity transform, so here they are composed into one
``crop_from_frame`` matrix and the frame is resampled **once**; the geometry is the same,
the pixels differ only by the resampling filter (OpenCV Lanczos/bilinear instead of PIL's
NEAREST -> BICUBIC -> LANCZOS chain).

Pixel convention: continuous pixel coordinates with (0, 0) at the *corner* of the top-left
pixel (pixel centres at i + 0.5), for both the frame and the crop; the same convention as
``Camera.project`` and the landmarks. Where the official code works on integer pixel
indices (the 5-point fit with its ``1023 - y`` flip and the int32 offset truncations), the
conversion is done explicitly so that the integer truncations happen on the same numbers.

Steps (see spec section 10):

1. FFHQ quad from the eye centres (mean of the six 68-point eye contour points) and the
   mouth corners; q_scale 1.8; the quad maps onto a virtual 1024 x 1024 image (parts outside
   the frame are black: FFHQ's crop/pad steps are not called officially, nor here). The
   official ``shrink`` step only changes resampling for faces over ~4 kpx; it is omitted.
2. 5-point affine fit of the 1024-image landmarks (y flipped) to the standard 3-D landmarks;
   s' = 300 / s; resize to int32(1024 s'); crop at the int32-truncated offsets.
3. Centre crop 700 x 700 at (162, 162), resize to 512 x 512.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.tracking.landmarks import five_points, quad_points

__all__ = [
    "CROP_SIZE",
    "STANDARD_LM3D",
    "CropAlignment",
    "alignment_from_landmarks",
    "fit_affine_camera",
    "landmarks_to_crop",
    "paste_into_frame",
    "warp_to_crop",
]

CROP_SIZE = 512
#: Standard 3-D landmarks (Deep3DFaceRecon's BFM ``similarity_Lm3D_all``, 5-point version):
#: right eye, left eye, nose tip, right and left mouth corners, in BFM units (y up, z forward).
STANDARD_LM3D = np.array(
    [
        (-0.31148657, 0.29036078, 0.13377953),
        (0.30979887, 0.28972036, 0.13179526),
        (0.0032535, -0.04617932, 0.55244243),
        (-0.25216928, -0.38133916, 0.22405732),
        (0.2484662, -0.38128236, 0.22235769),
    ]
)
_QUAD_SIZE = 1024
_TARGET_SIZE = 300.0  # ImageCropper's target size of the standard landmarks in the 1024 image
_CENTER_CROP = 700
_CENTER_OFFSET = 162


@dataclass(frozen=True)
class CropAlignment:
    """Where the 512 crop sits in the frame.

    Attributes:
        crop_from_frame: 3 x 3 similarity, homogeneous frame px -> crop px (corner convention).
        scale: crop pixels per frame pixel (the similarity's scale).
        angle_deg: in-plane rotation removed by the alignment (positive = the face was rolled
            clockwise in the image, i.e. its eye line slanted down to the right).
        quad: 4 x 2 FFHQ quad corners in frame pixels (UL, LL, LR, UR).
    """

    crop_from_frame: np.ndarray
    scale: float
    angle_deg: float
    quad: np.ndarray

    @property
    def frame_from_crop(self) -> np.ndarray:
        """The un-crop transform (crop px -> frame px)."""
        return np.linalg.inv(self.crop_from_frame)


def _translation(dx: float, dy: float) -> np.ndarray:
    m = np.eye(3)
    m[0, 2], m[1, 2] = dx, dy
    return m


def ffhq_quad(lm: np.ndarray) -> tuple[np.ndarray, float]:
    """FFHQ/EG3D quad (4 x 2: UL, LL, LR, UR) and its side length ``qsize`` in pixels."""
    eye_r, eye_l, mouth = quad_points(lm)  # image-left eye first, like lm[36:42]
    eye_avg = 0.5 * (eye_r + eye_l)
    eye_to_eye = eye_l - eye_r
    eye_to_mouth = mouth - eye_avg
    x = np.array([eye_to_eye[0] + eye_to_mouth[1], eye_to_eye[1] - eye_to_mouth[0]])
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    x *= 1.8
    y = np.array([-x[1], x[0]])
    c = eye_avg + eye_to_mouth * 0.1
    quad = np.stack([c - x - y, c - x + y, c + x + y, c + x - y])
    return quad, float(np.hypot(*x) * 2.0)


def fit_affine_camera(
    points_2d: np.ndarray, points_3d: np.ndarray = STANDARD_LM3D
) -> tuple[float, np.ndarray]:
    """Least-squares affine camera ``u = R1.X + tx, v = R2.X + ty`` (the official ``POS``).

    Returns ``(s, t)`` with ``s = (|R1| + |R2|) / 2`` (pixels per unit) and ``t = (tx, ty)``.
    """
    n = points_3d.shape[0]
    a = np.zeros((2 * n, 8))
    a[0::2, 0:3] = points_3d
    a[0::2, 3] = 1.0
    a[1::2, 4:7] = points_3d
    a[1::2, 7] = 1.0
    b = np.asarray(points_2d, dtype=np.float64).reshape(-1)
    k, *_ = np.linalg.lstsq(a, b, rcond=None)
    s = (np.linalg.norm(k[0:3]) + np.linalg.norm(k[4:7])) / 2.0
    return float(s), np.array([k[3], k[7]])


def alignment_from_landmarks(lm_frame: np.ndarray) -> CropAlignment:
    """The crop transform for landmarks ``lm_frame`` (478 x 2/3, frame pixels, corner convention)."""
    lm = np.asarray(lm_frame, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[0] < 478 or lm.shape[1] < 2:
        raise ValueError(f"expected 478 x 2/3 FaceMesh landmarks, got {lm.shape}")
    if not np.all(np.isfinite(lm[:, :2])):
        raise ValueError("landmarks contain NaN or infinity")
    quad, qsize = ffhq_quad(lm)
    if qsize < 1e-6:
        raise ValueError("degenerate landmarks (zero-size face)")
    ux = (quad[3] - quad[0]) / np.linalg.norm(quad[3] - quad[0])
    uy = np.array([-ux[1], ux[0]])
    k = _QUAD_SIZE / qsize
    # Step 1: frame -> 1024 quad image (rotation by -theta, scale, UL corner to the origin).
    a1 = np.eye(3)
    a1[0, :2], a1[1, :2] = k * ux, k * uy
    a1 = a1 @ _translation(-quad[0][0], -quad[0][1])
    # Step 2: 5-point fit on the 1024 landmarks, in the official integer-index convention.
    p5 = five_points(lm)
    p5_1024 = (a1[:2, :2] @ p5.T).T + a1[:2, 2] - 0.5
    p5_1024[:, 1] = _QUAD_SIZE - 1 - p5_1024[:, 1]
    s, t = fit_affine_camera(p5_1024)
    s_new = _TARGET_SIZE / s
    w = int(np.int32(_QUAD_SIZE * s_new))
    left = int(np.int32(w / 2 - _QUAD_SIZE / 2 + (t[0] - _QUAD_SIZE / 2) * s_new))
    up = int(np.int32(w / 2 - _QUAD_SIZE / 2 + (_QUAD_SIZE / 2 - t[1]) * s_new))
    a2 = np.diag([w / _QUAD_SIZE, w / _QUAD_SIZE, 1.0])
    a2 = _translation(-left - _CENTER_OFFSET, -up - _CENTER_OFFSET) @ a2
    a2 = np.diag([CROP_SIZE / _CENTER_CROP, CROP_SIZE / _CENTER_CROP, 1.0]) @ a2
    m = a2 @ a1
    scale = float(np.sqrt(abs(np.linalg.det(m[:2, :2]))))
    angle = float(np.degrees(np.arctan2(ux[1], ux[0])))
    return CropAlignment(m, scale, angle, quad)


def landmarks_to_crop(lm_frame: np.ndarray, crop_from_frame: np.ndarray) -> np.ndarray:
    """Map ``N x 3`` frame landmarks into the crop (x, y by the similarity; z by its scale)."""
    lm = np.asarray(lm_frame, dtype=np.float64)
    m = np.asarray(crop_from_frame, dtype=np.float64)
    out = np.empty((lm.shape[0], lm.shape[1]), dtype=np.float64)
    out[:, :2] = lm[:, :2] @ m[:2, :2].T + m[:2, 2]
    if lm.shape[1] > 2:
        out[:, 2] = lm[:, 2] * np.sqrt(abs(np.linalg.det(m[:2, :2])))
    return out.astype(np.float32)


def _index_convention(m: np.ndarray) -> np.ndarray:
    """Corner-convention transform -> the integer-index one OpenCV's warps use."""
    return _translation(-0.5, -0.5) @ m @ _translation(0.5, 0.5)


def warp_to_crop(
    frame_rgb_u8: np.ndarray,
    crop_from_frame: np.ndarray,
    size: int = CROP_SIZE,
    high_quality: bool = True,
) -> np.ndarray:
    """Resample ``frame`` into the ``size x size`` crop (black outside the frame).

    ``high_quality`` pre-shrinks large photos with area averaging (no aliasing) and uses
    Lanczos; otherwise one bilinear warp (the live path).
    """
    import cv2

    m = np.asarray(crop_from_frame, dtype=np.float64)
    src = frame_rgb_u8
    scale = float(np.sqrt(abs(np.linalg.det(m[:2, :2]))))
    if high_quality and scale < 0.6:
        h, w = src.shape[:2]
        f = min(1.0, scale * 1.5)
        nw, nh = max(1, round(w * f)), max(1, round(h * f))
        src = cv2.resize(src, (nw, nh), interpolation=cv2.INTER_AREA)
        m = m @ np.diag([w / nw, h / nh, 1.0])
    interp = cv2.INTER_LANCZOS4 if high_quality else cv2.INTER_LINEAR
    return cv2.warpAffine(
        src,
        _index_convention(m)[:2],
        (size, size),
        flags=interp,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )


def paste_into_frame(
    crop_rgb_u8: np.ndarray,
    frame_rgb_u8: np.ndarray,
    crop_from_frame: np.ndarray,
    alpha: np.ndarray | None = None,
) -> np.ndarray:
    """Paste a crop (e.g. a re-enacted result) back into a copy of the frame.

    ``alpha`` (crop-sized, [0, 1]) blends it; without it the whole crop square is pasted.
    """
    import cv2

    h, w = frame_rgb_u8.shape[:2]
    inv = np.linalg.inv(_index_convention(np.asarray(crop_from_frame, dtype=np.float64)))
    warped = cv2.warpAffine(crop_rgb_u8, inv[:2], (w, h), flags=cv2.INTER_LINEAR)
    a = np.ones(crop_rgb_u8.shape[:2], np.float32) if alpha is None else np.asarray(alpha, np.float32)
    a_f = cv2.warpAffine(a, inv[:2], (w, h), flags=cv2.INTER_LINEAR)[:, :, None]
    out = frame_rgb_u8.astype(np.float32) * (1.0 - a_f) + warped.astype(np.float32) * a_f
    return np.clip(np.round(out), 0, 255).astype(np.uint8)
