"""Person matte for the aligned crop (spec section 10 step 6), from MediaPipe selfie segmentation.

The official pipeline runs MODNet on the 512 crop and composites ``uint8(img * matte)``
(float product, truncated) onto black. Here the matte comes from MediaPipe's selfie
segmentation (general model, 256 x 256 input) run on the crop, whose soft mask is refined
with a guided filter (guide = the crop's luminance) so its edges follow hair and shoulders
instead of the network's 256-pixel grid, then lightly feathered. The composite is the
official one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.tracking.native_log import QuietWindow

__all__ = ["MatteConfig", "Matter", "apply_matte"]


@dataclass(frozen=True)
class MatteConfig:
    """Settings of :class:`Matter`.

    Attributes:
        guided_radius_px: guided-filter radius in crop pixels (0 disables the refinement).
        guided_eps: guided-filter regulariser (intensities in [0, 1]); larger = smoother.
        feather_px: Gaussian feather of the final matte edge, in crop pixels (0 = none).
        landscape_model: MediaPipe's landscape model (144 x 256 input, faster, coarser).
    """

    guided_radius_px: int = 8
    guided_eps: float = 1e-3
    feather_px: float = 1.0
    landscape_model: bool = False

    def __post_init__(self) -> None:
        if self.guided_radius_px < 0:
            raise ValueError(f"guided_radius_px must be >= 0, got {self.guided_radius_px}")
        if self.guided_eps <= 0:
            raise ValueError(f"guided_eps must be > 0, got {self.guided_eps}")
        if self.feather_px < 0:
            raise ValueError(f"feather_px must be >= 0, got {self.feather_px}")


def apply_matte(crop_rgb_u8: np.ndarray, matte: np.ndarray) -> np.ndarray:
    """Composite onto black exactly as officially: ``uint8(img * matte)`` (truncation)."""
    m = np.asarray(matte, dtype=np.float32)
    return (crop_rgb_u8.astype(np.float32) * m[:, :, None]).astype(np.uint8)


class Matter:
    """Selfie segmentation -> soft matte in [0, 1] for an RGB crop. Close with :meth:`close`."""

    def __init__(self, config: MatteConfig | None = None) -> None:
        import mediapipe as mp

        self.config = config or MatteConfig()
        # Native notices of the graph's start and first inference are filtered until the
        # first matte is made (or until close()).
        self._quiet = QuietWindow().open()
        try:
            self._seg = mp.solutions.selfie_segmentation.SelfieSegmentation(
                model_selection=1 if self.config.landscape_model else 0
            )
        except BaseException:
            self._quiet.close()
            raise

    def __enter__(self) -> Matter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._seg is not None:
            self._seg.close()
            self._seg = None
        self._quiet.close()

    def matte(self, crop_rgb_u8: np.ndarray) -> np.ndarray:
        """``H x W`` float32 matte in [0, 1] (1 = person) for an ``H x W x 3`` uint8 RGB crop."""
        import cv2

        if self._seg is None:
            raise RuntimeError("Matter is closed")
        img = np.ascontiguousarray(crop_rgb_u8)
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"expected H x W x 3 uint8 RGB, got {img.shape} {img.dtype}")
        res = self._seg.process(img)
        self._quiet.close()  # process() returns once the graph is idle: its notices are out
        mask = getattr(res, "segmentation_mask", None)
        if mask is None:
            raise RuntimeError("selfie segmentation returned no mask")
        m: np.ndarray = np.clip(np.asarray(mask, dtype=np.float32), 0.0, 1.0)
        c = self.config
        if c.guided_radius_px > 0:
            # A grey guide: 3-4x cheaper than a colour one, and hair/shoulder edges are
            # mostly luminance edges.
            guide = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
            m = cv2.ximgproc.guidedFilter(guide, m, c.guided_radius_px, c.guided_eps)
        if c.feather_px > 0:
            m = cv2.GaussianBlur(m, (0, 0), c.feather_px)
        return np.clip(m, 0.0, 1.0).astype(np.float32)
