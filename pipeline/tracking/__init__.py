"""Face tracking and pre-processing: MediaPipe landmarks -> aligned 512 crop, pose, matte.

Replaces the official pre-processing networks (face_alignment, Deep3DFaceRecon, MODNet;
spec section 10) with MediaPipe 0.10.21's bundled models while keeping the conventions the
model was trained with. See ``README.md`` in this folder for an overview and examples.

- :func:`load_image` — any photo file, upright (EXIF), as uint8 RGB.
- :func:`prepare_photo` / :class:`PhotoPreprocessor` — a source photo -> ``FaceObservation``
  with a :class:`QualityReport` in ``extras["quality"]``.
- :class:`StreamTracker` — live frames -> smoothed ``FaceObservation`` (video mode).
"""

from pipeline.tracking.errors import FaceTooSmallError, NoFaceError, PhotoError, UnreadablePhotoError
from pipeline.tracking.image_io import load_image
from pipeline.tracking.photo import PhotoConfig, PhotoPreprocessor, prepare_photo
from pipeline.tracking.quality import QualityReport, QualityThresholds, quality_report
from pipeline.tracking.stream import StreamTracker, TrackerConfig, TrackerStatus

__all__ = [
    "FaceTooSmallError",
    "NoFaceError",
    "PhotoConfig",
    "PhotoError",
    "PhotoPreprocessor",
    "QualityReport",
    "QualityThresholds",
    "StreamTracker",
    "TrackerConfig",
    "TrackerStatus",
    "UnreadablePhotoError",
    "load_image",
    "prepare_photo",
    "quality_report",
]
