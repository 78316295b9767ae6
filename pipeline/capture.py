"""Frame sources for the driver (a webcam, a video file or a folder of images) and the one loop
that reads and tracks them (:func:`track_frames`).

All sources share one interface (:class:`FrameSource`)::

    with open_source("clip.mp4", loop=True) as src:
        frame = src.read()            # CapturedFrame or None at the end of a non-looping file

Frames are ``H x W x 3`` uint8 **RGB** with a ``time.monotonic_ns()`` capture stamp and a
sequence number. Freshness: :class:`WebcamSource` reads in a background thread and keeps only
the newest frame (``read()`` returns the newest frame not yet returned, waiting for one if
needed), so a slow consumer never sees stale frames. File sources are read on demand; with
``realtime=True`` they are paced at the file's frame rate, dropping frames a slow consumer
could not take in time, so they behave like a camera.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pipeline.avatar import FaceObservation
    from pipeline.tracking.stream import StreamTracker

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "CaptureError",
    "CapturedFrame",
    "FileSource",
    "FrameSource",
    "ImageFolderSource",
    "WebcamSource",
    "TrackedFrame",
    "open_source",
    "track_frames",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".gif")


class CaptureError(RuntimeError):
    """A driver source that cannot be opened or read; the message says what to do."""


@dataclass
class CapturedFrame:
    """One driver frame: ``rgb_u8`` H x W x 3 uint8, ``t_capture_ns`` monotonic clock."""

    rgb_u8: np.ndarray
    t_capture_ns: int
    seq: int
    index_in_source: int = 0


class FrameSource:
    """Base class: a context manager with ``read()``, ``fps`` and ``frame_count``."""

    fps: float = 30.0
    frame_count: int | None = None  # None for endless sources (webcams)
    size: tuple[int, int] = (0, 0)  # (width, height)
    description: str = ""
    #: Frames come at the camera's pace whatever the reader does (a webcam), rather than
    #: when read (a file or a folder).
    is_live: bool = False

    def read(self, timeout_s: float = 2.0) -> CapturedFrame | None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - interface
        pass

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[CapturedFrame]:
        while True:
            f = self.read()
            if f is None:
                return
            yield f


def _bgr_to_rgb(frame: np.ndarray) -> np.ndarray:
    """An OpenCV frame (BGR, BGRA or grey) as contiguous RGB (converted by OpenCV: a strided
    numpy copy costs about 100 times as much on a 512 px frame)."""
    import cv2

    codes = {1: cv2.COLOR_GRAY2RGB, 3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGB}
    channels = 1 if frame.ndim == 2 else frame.shape[2]
    if frame.dtype == np.uint8 and channels in codes:
        return cv2.cvtColor(np.ascontiguousarray(frame), codes[channels])
    if frame.ndim == 2:
        return np.repeat(frame[:, :, None], 3, axis=2)
    return np.ascontiguousarray(frame[:, :, 2::-1])


class _Pacer:
    """Realtime pacing of a file: which source frame index is 'live' now."""

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self.t0: float | None = None

    def target_index(self) -> int:
        now = time.monotonic()
        if self.t0 is None:
            self.t0 = now
        return int((now - self.t0) * self.fps)

    def wait_until(self, index: int) -> None:
        if self.t0 is None:
            self.t0 = time.monotonic()
        delay = self.t0 + index / self.fps - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class FileSource(FrameSource):
    """A video file read with OpenCV (FFmpeg backend)."""

    def __init__(self, path: str | Path, *, loop: bool = False, realtime: bool = False) -> None:
        import cv2

        self.path = Path(path)
        if not self.path.is_file():
            raise CaptureError(f"driver video {self.path} does not exist")
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            raise CaptureError(
                f"{self.path} is not a video OpenCV can read (try converting it to H.264 .mp4)"
            )
        ok, first = self._cap.read()
        if not ok or first is None:
            self._cap.release()
            raise CaptureError(f"{self.path} contains no readable video frames")
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 1.0 <= fps <= 240.0 else 30.0
        n = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = n if n > 0 else None
        self.size = (first.shape[1], first.shape[0])
        self.loop, self.realtime = loop, realtime
        self.description = f"video {self.path.name} ({self.size[0]}x{self.size[1]}, {self.fps:.3g} fps)"
        self._pos = 0  # index of the next frame in the file
        self._seq = 0
        self._pacer = _Pacer(self.fps) if realtime else None

    def _grab(self) -> np.ndarray | None:
        ok, frame = self._cap.read()
        if not ok:
            if not self.loop or self._pos == 0:
                return None
            import cv2

            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            self._pos = 0
            ok, frame = self._cap.read()
            if not ok:
                return None
        self._pos += 1
        return frame

    def read(self, timeout_s: float = 2.0) -> CapturedFrame | None:
        if self._pacer is not None:
            # Skip frames whose time has passed (a slow consumer sees the newest one).
            target = self._pacer.target_index()
            while self._seq < target:
                if self._grab() is None:
                    return None
                self._seq += 1
            self._pacer.wait_until(self._seq)
        frame = self._grab()
        if frame is None:
            return None
        out = CapturedFrame(_bgr_to_rgb(frame), time.monotonic_ns(), self._seq, self._pos - 1)
        self._seq += 1
        return out

    def close(self) -> None:
        self._cap.release()


class ImageFolderSource(FrameSource):
    """A folder of still images, in name order, as a video at ``fps``."""

    def __init__(
        self, folder: str | Path, *, fps: float = 25.0, loop: bool = False, realtime: bool = False
    ) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise CaptureError(f"{self.folder} is not a folder")
        self.files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise CaptureError(
                f"{self.folder} contains no images ({', '.join(IMAGE_SUFFIXES)}); give a video file or a folder of frames"
            )
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.fps = fps
        self.frame_count = len(self.files)
        self.loop, self.realtime = loop, realtime
        first = self._load(0)
        if first is None:
            raise CaptureError(f"cannot read the first image {self.files[0]}")
        self.size = (first.shape[1], first.shape[0])
        self.description = f"image folder {self.folder.name} ({len(self.files)} frames at {fps:.3g} fps)"
        self._pos = 0
        self._seq = 0
        self._pacer = _Pacer(fps) if realtime else None
        self.unreadable: list[Path] = []

    def _load(self, i: int) -> np.ndarray | None:
        # Lazy like cv2 in this module: importing pipeline.tracking takes a noticeable time.
        from pipeline.tracking.errors import PhotoError
        from pipeline.tracking.image_io import read_image

        try:  # refuses images too large to decode (checked from the header) like any photo
            return read_image(self.files[i], what="driver frame")
        except PhotoError:
            return None

    def read(self, timeout_s: float = 2.0) -> CapturedFrame | None:
        if self._pacer is not None:
            target = self._pacer.target_index()
            skip = max(0, target - self._seq)
            self._seq += skip
            self._pos += skip
            self._pacer.wait_until(self._seq)
        while True:
            if self._pos >= len(self.files):
                if not self.loop:
                    return None
                self._pos %= len(self.files)
            i = self._pos
            self._pos += 1
            img = self._load(i)
            if img is not None:
                break
            self.unreadable.append(self.files[i])  # counted and skipped; the stream goes on
            if len(self.unreadable) >= len(self.files):
                return None
        out = CapturedFrame(img, time.monotonic_ns(), self._seq, i)
        self._seq += 1
        return out


class WebcamSource(FrameSource):
    """A webcam read in a background thread that keeps only the newest frame."""

    is_live = True

    def __init__(self, index: int = 0, *, width: int = 640, height: int = 480, fps: float = 30.0) -> None:
        import cv2

        self.index = index
        # OpenCV logs its own warnings for a missing camera; our error below says what to do.
        previous = cv2.getLogLevel()
        cv2.setLogLevel(0)  # 0 = silent
        try:
            self._cap = cv2.VideoCapture(index)
        finally:
            cv2.setLogLevel(previous)
        if not self._cap.isOpened():
            raise CaptureError(
                f"webcam {index} could not be opened: check it is connected and not used by another app, "
                "or drive the call from a video with --driver FILE"
            )
        self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._cap.set(cv2.CAP_PROP_FPS, fps)
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or fps)
        self.size = (
            int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
        self.description = f"webcam {index} ({self.size[0]}x{self.size[1]})"
        self._cond = threading.Condition()
        self._latest: CapturedFrame | None = None
        self._returned_seq = -1
        self._stop = threading.Event()
        self._error: str | None = None
        self._thread = threading.Thread(target=self._run, name=f"webcam-{index}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        seq = 0
        failures = 0
        while not self._stop.is_set():
            ok, frame = self._cap.read()
            if not ok or frame is None:
                failures += 1
                if failures > 50:
                    with self._cond:
                        self._error = f"webcam {self.index} stopped delivering frames (unplugged?)"
                        self._cond.notify_all()
                    return
                time.sleep(0.02)
                continue
            failures = 0
            f = CapturedFrame(_bgr_to_rgb(frame), time.monotonic_ns(), seq)
            seq += 1
            with self._cond:
                self._latest = f
                self._cond.notify_all()

    def read(self, timeout_s: float = 2.0) -> CapturedFrame | None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._latest is None or self._latest.seq <= self._returned_seq:
                if self._error:
                    raise CaptureError(self._error)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CaptureError(f"webcam {self.index} delivered no frame within {timeout_s:.1f} s")
                self._cond.wait(remaining)
            self._returned_seq = self._latest.seq
            return self._latest

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._cap.release()


def open_source(spec: str | Path | int | None, *, loop: bool = False, realtime: bool = False) -> FrameSource:
    """Open a driver: ``None``/an integer = webcam index, a folder = images, a file = video."""
    if spec is None:
        return WebcamSource(0)
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        return WebcamSource(int(spec))
    path = Path(spec).expanduser()
    if path.is_dir():
        return ImageFolderSource(path, loop=loop, realtime=realtime)
    if not path.exists():
        raise CaptureError(
            f"driver {path} does not exist (give a video file, a folder of images or a webcam index)"
        )
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise CaptureError(
            f"{path} is a single image; a driver is a video or a folder of frames (put the image in a folder to use it)"
        )
    return FileSource(path, loop=loop, realtime=realtime)


@dataclass
class TrackedFrame:
    """One driver frame and what the tracker saw in it.

    Attributes:
        frame: the captured frame (``rgb_u8``, ``t_capture_ns``, ``seq``).
        face: the observation; None when there is no face (and none is held), or when the frame
            was not tracked because nobody wanted it (``skipped``).
        track_ms: time spent tracking (0 when skipped).
        skipped: the frame was read but not tracked (see ``wanted`` in :func:`track_frames`).
        error: why tracking failed on this frame (it is then treated as "no face").
    """

    frame: CapturedFrame
    face: FaceObservation | None
    track_ms: float = 0.0
    skipped: bool = False
    error: str = ""


def track_frames(
    source: FrameSource,
    tracker: StreamTracker,
    *,
    wanted: Callable[[], bool] | None = None,
    timestamp_ns: Callable[[CapturedFrame], int] | None = None,
) -> Iterator[TrackedFrame]:
    """The one capture -> track loop: read frames until the source ends, track each.

    ``wanted`` (optional) is asked before tracking each frame: when it says no, the frame is
    yielded ``skipped`` without being tracked (a live stage that cannot take a new frame yet:
    tracking it would only cost CPU). A frame the tracker fails on is yielded with ``error``
    set, never raised: one bad frame does not end a call. :class:`pipeline.capture.CaptureError`
    from the source propagates (the driver cannot be read at all). ``timestamp_ns`` gives the
    time the tracker's smoothing sees (default: the capture time; an offline render uses the
    frame's place in the file, so its result does not depend on how fast it runs).
    """
    while True:
        frame = source.read()
        if frame is None:
            return
        if wanted is not None and not wanted():
            yield TrackedFrame(frame, None, skipped=True)
            continue
        t0 = time.perf_counter()
        try:
            t_ns = frame.t_capture_ns if timestamp_ns is None else timestamp_ns(frame)
            face = tracker.track(frame.rgb_u8, t_ns)
        except Exception as e:  # a tracker failure on one frame is that frame's problem only
            yield TrackedFrame(
                frame, None, (time.perf_counter() - t0) * 1e3, error=f"{type(e).__name__}: {e}"
            )
            continue
        yield TrackedFrame(frame, face, (time.perf_counter() - t0) * 1e3)
