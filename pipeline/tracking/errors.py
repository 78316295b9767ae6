"""Errors raised when a photo cannot be used as a source (or a driver frame has no face).

Every message says what went wrong *and what to do about it*; the CLI prints it as one line.
"""

from __future__ import annotations

__all__ = ["FaceTooSmallError", "NoFaceError", "PhotoError", "UnreadablePhotoError"]


class PhotoError(Exception):
    """Base class: the photo cannot be pre-processed. ``str(e)`` is a user-facing sentence."""


class UnreadablePhotoError(PhotoError):
    """The file is missing, is not an image, or is damaged."""


class NoFaceError(PhotoError):
    """No face was found in the image."""


class FaceTooSmallError(PhotoError):
    """A face was found but it is too small (too few pixels) to re-enact well."""

    def __init__(self, message: str, face_size_px: float, min_face_px: float) -> None:
        super().__init__(message)
        self.face_size_px = face_size_px
        self.min_face_px = min_face_px
