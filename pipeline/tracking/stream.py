"""Live tracking of the driver's face: one webcam frame -> one :class:`FaceObservation`.

- MediaPipe FaceMesh in **video mode**: after the first detection the face is tracked from
  the previous frame's landmarks, so the face detector does not run on every frame.
- The 478 landmarks are smoothed with a One-Euro filter in frame pixels. The crop, the
  landmarks in the crop and the head pose are all computed from the smoothed landmarks,
  so the pose is smoothed by the same filter and stays consistent with the crop.
- The matte (selfie segmentation on the 512 crop) is refreshed every
  ``matte_every_n_frames`` frames; in between the last matte is reused (the crop is
  aligned to the face, so the matte moves with it).
- When the face is lost, the last good observation is returned with ``tracked=False`` for
  ``hold_ms``; after that :meth:`StreamTracker.track` returns ``None``. :attr:`status`
  tells the caller what is happening (to show "face lost" in the UI).
- A bad frame (wrong shape/type) never raises: it counts as a lost frame with a reason.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from pipeline.avatar import FaceObservation
from pipeline.tracking.align import CROP_SIZE, alignment_from_landmarks, landmarks_to_crop, warp_to_crop
from pipeline.tracking.filters import OneEuroConfig, OneEuroFilter
from pipeline.tracking.landmarks import DetectorConfig, FaceMeshDetector
from pipeline.tracking.matting import MatteConfig, Matter, apply_matte
from pipeline.tracking.pose import camera_from_pose, fit_head_pose

__all__ = ["StreamTracker", "TrackerConfig", "TrackerStatus"]


@dataclass(frozen=True)
class TrackerConfig:
    """Settings of :class:`StreamTracker`.

    Attributes:
        smoothing: One-Euro parameters for the landmarks in frame pixels (``None`` = off).
        hold_ms: how long the last good pose is held after the face is lost.
        matte: matting settings (``None`` = no matting: matte 1, background kept).
        matte_every_n_frames: refresh the matte every N tracked frames (>= 1).
        crop: make the aligned crop image. ``False``: landmarks and head pose only, the
            observations' ``crop_rgb_u8`` and ``matte`` empty (``0 x 0``): all the mesh avatar
            reads, without warping and sending a 512 px image a frame (needs ``matte=None``).
        min_detection_confidence / min_tracking_confidence: MediaPipe thresholds in [0, 1].
    """

    smoothing: OneEuroConfig | None = field(default_factory=OneEuroConfig)
    hold_ms: float = 500.0
    matte: MatteConfig | None = field(default_factory=lambda: MatteConfig(guided_radius_px=4))
    matte_every_n_frames: int = 2
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    crop: bool = True

    def __post_init__(self) -> None:
        if not self.crop and self.matte is not None:
            raise ValueError("TrackerConfig: a matte is made on the crop; use matte=None with crop=False")
        if self.hold_ms < 0:
            raise ValueError(f"hold_ms must be >= 0, got {self.hold_ms}")
        if self.matte_every_n_frames < 1:
            raise ValueError(f"matte_every_n_frames must be >= 1, got {self.matte_every_n_frames}")
        for name in ("min_detection_confidence", "min_tracking_confidence"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")


@dataclass
class TrackerStatus:
    """What the tracker is doing (for the UI and the logs).

    Attributes:
        tracking: a face was found in the last frame.
        holding: the face is lost but the last pose is still being returned.
        lost_since_ns: timestamp of the first frame without a face (None while tracking).
        frames: frames seen; lost_frames: frames without a face (or bad frames).
        last_problem: why the last lost frame was lost (``"no face"`` or a bad-frame reason).
    """

    tracking: bool = False
    holding: bool = False
    lost_since_ns: int | None = None
    frames: int = 0
    lost_frames: int = 0
    last_problem: str = ""


class StreamTracker:
    """Track one face through a stream of ``H x W x 3`` uint8 RGB frames. Close when done."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        c = self.config
        self._detector = FaceMeshDetector(
            DetectorConfig(
                video=True,
                max_faces=1,
                min_detection_confidence=c.min_detection_confidence,
                min_tracking_confidence=c.min_tracking_confidence,
            )
        )
        self._matter = Matter(c.matte) if c.matte is not None else None
        self._filter = OneEuroFilter(c.smoothing) if c.smoothing is not None else None
        self._last: FaceObservation | None = None
        self._last_good_ns: int | None = None
        self._matte: np.ndarray | None = None
        self._tracked_count = 0
        self._seq = 0
        self.status = TrackerStatus()

    def __enter__(self) -> StreamTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._detector.close()
        if self._matter is not None:
            self._matter.close()

    def track(self, frame_rgb_u8: np.ndarray, timestamp_ns: int) -> FaceObservation | None:
        """Process one frame; see the module docstring for what comes back when."""
        seq = self._seq
        self._seq += 1
        self.status.frames += 1
        frame = np.asarray(frame_rgb_u8)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 or min(frame.shape[:2]) < 16:
            return self._lost(timestamp_ns, seq, f"bad frame: shape {frame.shape} dtype {frame.dtype}")
        faces = self._detector.detect(np.ascontiguousarray(frame))
        if not faces:
            return self._lost(timestamp_ns, seq, "no face")
        lm = faces[0].astype(np.float64)
        if self._filter is not None:
            lm = self._filter(lm, timestamp_ns * 1e-9)
        obs = self._observe(frame, lm, timestamp_ns, seq)
        self._last, self._last_good_ns = obs, timestamp_ns
        self.status.tracking, self.status.holding, self.status.lost_since_ns = True, False, None
        return obs

    def _observe(self, frame: np.ndarray, lm: np.ndarray, timestamp_ns: int, seq: int) -> FaceObservation:
        al = alignment_from_landmarks(lm)
        lm_crop = landmarks_to_crop(lm, al.crop_from_frame)
        pose = fit_head_pose(lm_crop)
        camera = camera_from_pose(pose, CROP_SIZE)
        if not self.config.crop:  # landmarks and pose only (no matter either: see TrackerConfig)
            crop, matte = np.zeros((0, 0, 3), np.uint8), np.zeros((0, 0), np.float32)
        else:
            crop = warp_to_crop(frame, al.crop_from_frame, CROP_SIZE, high_quality=False)
            if self._matter is None:
                matte = np.ones((CROP_SIZE, CROP_SIZE), np.float32)
            else:
                if self._matte is None or self._tracked_count % self.config.matte_every_n_frames == 0:
                    self._matte = self._matter.matte(crop)
                matte = self._matte
                crop = apply_matte(crop, matte)
        self._tracked_count += 1
        return FaceObservation(
            crop_rgb_u8=crop,
            matte=matte,
            camera=camera,
            landmarks_px=lm_crop,
            crop_from_frame=al.crop_from_frame,
            frame_size=(int(frame.shape[1]), int(frame.shape[0])),
            timestamp_ns=int(timestamp_ns),
            seq=seq,
            tracked=True,
            extras={"head_pose": pose, "landmarks_frame_px": lm.astype(np.float32)},
        )

    def _lost(self, timestamp_ns: int, seq: int, why: str) -> FaceObservation | None:
        st = self.status
        st.lost_frames += 1
        st.last_problem = why
        if st.lost_since_ns is None:
            st.lost_since_ns = int(timestamp_ns)
        st.tracking = False
        last = self._last
        held = (
            last is not None
            and self._last_good_ns is not None
            and (timestamp_ns - self._last_good_ns) <= self.config.hold_ms * 1e6
        )
        st.holding = held
        if not held or last is None:
            # Past the hold: forget the history so re-acquisition starts fresh (no smoothing
            # from a stale pose, a new matte).
            if self._filter is not None:
                self._filter.reset()
            self._matte = None
            self._tracked_count = 0
            return None
        lost_ms = (timestamp_ns - st.lost_since_ns) * 1e-6
        extras = dict(last.extras, lost_ms=lost_ms, lost_reason=why)
        return dataclasses.replace(
            last, timestamp_ns=int(timestamp_ns), seq=seq, tracked=False, extras=extras
        )
