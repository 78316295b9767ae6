"""Checking a folder of photos in the background: thumbnail + quality report for each one.

:class:`PhotoScanner` runs one thread with its **own** :class:`PhotoPreprocessor` (MediaPipe
graphs are not thread-safe; they are created, used and closed in that thread). Results are
picked up with :meth:`PhotoScanner.poll` from the window's thread; nothing here touches GL.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from app.ui.photo_grid import PhotoItem, photo_score
from pipeline.capture import IMAGE_SUFFIXES

__all__ = ["PhotoScanner", "ScanResult", "list_photos", "square_thumbnail", "too_blurry_for_a_face"]

log = logging.getLogger(__name__)

# A photo in which no face was found is called "too blurry" rather than "no face" when it has
# contrast but no fine detail: measured at 512 px on the longer side, sharp photos (faces or
# not) give a variance of the Laplacian of 400..900, the same photos blurred until the face
# detector gives up (Gaussian sigma >= ~8 px at that size) 2..3, and a flat image has no
# contrast at all.
_BLUR_SIDE_PX = 512
_BLUR_MAX_DETAIL = 15.0
_BLUR_MIN_CONTRAST = 10.0


def list_photos(folder: Path) -> list[Path]:
    """Image files directly in ``folder`` (by extension, hidden files skipped), sorted by name."""
    return sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")),
        key=lambda p: p.name.lower(),
    )


def square_thumbnail(rgb_u8: np.ndarray, side_px: int) -> np.ndarray:
    """The image fitted (letterboxed on dark grey) into a ``side x side`` square."""
    h, w = rgb_u8.shape[:2]
    s = side_px / max(h, w)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    small = cv2.resize(rgb_u8, (nw, nh), interpolation=cv2.INTER_AREA)
    out = np.full((side_px, side_px, 3), 40, np.uint8)
    y0, x0 = (side_px - nh) // 2, (side_px - nw) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = small
    return out


def too_blurry_for_a_face(rgb_u8: np.ndarray) -> bool:
    """Whether a photo without a detected face is too blurry to show one (see the notes above)."""
    h, w = rgb_u8.shape[:2]
    s = min(1.0, _BLUR_SIDE_PX / max(h, w))
    small = cv2.resize(rgb_u8, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    if float(grey.std()) < _BLUR_MIN_CONTRAST:
        return False
    return float(cv2.Laplacian(grey, cv2.CV_32F).var()) < _BLUR_MAX_DETAIL


@dataclass(frozen=True)
class ScanResult:
    """One checked photo: the grid item to show (``index`` is the caller's slot for it)."""

    index: int
    item: PhotoItem


class PhotoScanner:
    """Check photos one after the other in a background thread.

    ``submit(index, path)`` queues a photo (any time, also while scanning); ``poll()`` returns
    the results finished since the last call; ``idle`` is True once every submitted photo
    is done. ``close()`` stops the thread (the photo being checked is finished first).
    """

    def __init__(self, thumb_px: int = 128) -> None:
        self.thumb_px = thumb_px
        self._jobs: queue.Queue[tuple[int, Path] | None] = queue.Queue()
        self._results: queue.Queue[ScanResult] = queue.Queue()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="photo-scan", daemon=True)
        self._thread.start()

    def submit(self, index: int, path: Path) -> None:
        with self._lock:
            self._pending += 1
        self._jobs.put((index, path))

    def poll(self) -> list[ScanResult]:
        out: list[ScanResult] = []
        while True:
            try:
                out.append(self._results.get_nowait())
            except queue.Empty:
                return out

    @property
    def idle(self) -> bool:
        with self._lock:
            return self._pending == 0 and self._results.empty()

    def cancel_pending(self) -> None:
        """Drop the photos not started yet (another folder was opened); the one being checked
        finishes and its result still arrives: callers match results by path."""
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            if job is None:  # keep a close() request
                self._jobs.put(None)
                return
            with self._lock:
                self._pending -= 1

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=30.0)

    def _run(self) -> None:
        os.environ.setdefault("GLOG_minloglevel", "2")
        from pipeline.tracking import PhotoConfig, PhotoPreprocessor

        # The quality report needs no matte: skip matting while scanning (much faster).
        with PhotoPreprocessor(PhotoConfig(matte=None)) as pp:
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                index, path = job
                item = check_photo(pp, path, self.thumb_px)
                self._results.put(ScanResult(index, item))
                with self._lock:
                    self._pending -= 1


def check_photo(pp, path: Path, thumb_px: int) -> PhotoItem:
    """Run the tracker on one photo; a photo that cannot be used becomes an ``unusable`` item."""
    from pipeline.tracking import FaceTooSmallError, NoFaceError, PhotoError, load_image

    try:
        rgb = load_image(path)
    except PhotoError as e:
        return PhotoItem(
            path, "unusable", None, None, _first_sentence(str(e), path), problem_kind="unreadable"
        )
    try:
        obs = pp.prepare(rgb, name=path.name)
    except PhotoError as e:
        thumb = square_thumbnail(rgb, thumb_px)
        kind: Literal["no_face", "too_blurry", "too_small", "error"] = "error"
        message = _first_sentence(str(e), path)
        if isinstance(e, NoFaceError) and too_blurry_for_a_face(rgb):
            kind, message = "too_blurry", "The photo is too blurry to find a face in it: use a sharper one."
        elif isinstance(e, NoFaceError):
            kind = "no_face"
        elif isinstance(e, FaceTooSmallError):
            kind = "too_small"
        return PhotoItem(path, "unusable", thumb, None, message, problem_kind=kind)
    except Exception as e:  # one odd photo must not stop the scan: show it as unusable, log why
        log.exception("checking %s failed", path)
        thumb = square_thumbnail(rgb, thumb_px)
        return PhotoItem(
            path, "unusable", thumb, None, f"cannot check this photo ({e})", problem_kind="error"
        )
    report = obs.extras["quality"]
    thumb = square_thumbnail(obs.extras["crop_unmatted_rgb_u8"], thumb_px)
    return PhotoItem(path, "good" if report.ok else "fair", thumb, report, "", photo_score(report))


def _first_sentence(message: str, path: Path) -> str:
    """The tracker's message without the file's path (the grid already shows the name)."""
    text = message.replace(str(path), path.name)
    return text.split(". ")[0].rstrip(".") + "."
