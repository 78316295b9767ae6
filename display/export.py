"""Quilt export: PNG images and H.264 MP4 videos named so Looking Glass software plays them.

Names follow ``{stem}_qs{cols}x{rows}a{aspect}.png|.mp4`` (see :mod:`display.quilt`).
:class:`QuiltVideoWriter` is a :class:`display.video.VideoWriter` (fragmented H.264, playable
when cut short; odd sizes padded at the right and top, where Looking Glass software expects a
quilt's leftover pixels) that checks every frame against the quilt layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from display.quilt import QuiltLayout, quilt_filename
from display.video import VideoWriter

__all__ = ["QuiltRecorder", "QuiltVideoWriter", "VideoConfig", "write_quilt_png"]


def write_quilt_png(quilt_rgb_u8: np.ndarray, layout: QuiltLayout, out_dir: str | Path, stem: str) -> Path:
    """Write ``out_dir/{stem}_qs..png``; returns the path."""
    if quilt_rgb_u8.shape[:2] != (layout.quilt_h_px, layout.quilt_w_px):
        raise ValueError(
            f"quilt image is {quilt_rgb_u8.shape[1]}x{quilt_rgb_u8.shape[0]} px, layout says "
            f"{layout.quilt_w_px}x{layout.quilt_h_px} px"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / quilt_filename(stem, layout, ".png")
    Image.fromarray(quilt_rgb_u8).save(path)
    return path


@dataclass(frozen=True)
class VideoConfig:
    """Attributes:
    fps: frame rate.
    crf: x264 quality (lower is better; 18 is visually near-lossless).
    preset: x264 speed preset.
    keyframe_interval_s: a keyframe (and a flushed fragment) this often.
    """

    fps: float = 30.0
    crf: int = 18
    preset: str = "medium"
    keyframe_interval_s: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.fps <= 240:
            raise ValueError(f"fps must be in (0, 240], got {self.fps}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be 0..51, got {self.crf}")


class QuiltVideoWriter(VideoWriter):
    """A :class:`~display.video.VideoWriter` of quilt frames (top-down ``QH x QW x 3`` uint8)
    named ``{stem}_qs{cols}x{rows}a{aspect}.mp4`` in ``out_dir``.

    ::

        with QuiltVideoWriter(out_dir, "call", layout) as video:
            for quilt in quilts:
                video.append(quilt)
        print(video.path, video.frames_written)
    """

    def __init__(
        self, out_dir: str | Path, stem: str, layout: QuiltLayout, config: VideoConfig | None = None
    ) -> None:
        self.layout = layout
        self.config = config or VideoConfig()
        c = self.config
        super().__init__(
            Path(out_dir) / quilt_filename(stem, layout, ".mp4"), c.fps, crf=c.crf, preset=c.preset,
            keyframe_interval_s=c.keyframe_interval_s,
        )  # fmt: skip

    def append(self, quilt_rgb_u8: np.ndarray) -> None:
        shape = (self.layout.quilt_h_px, self.layout.quilt_w_px, 3)
        if quilt_rgb_u8.shape != shape or quilt_rgb_u8.dtype != np.uint8:
            raise ValueError(
                f"quilt frame must be {shape} uint8, got {quilt_rgb_u8.shape} {quilt_rgb_u8.dtype}"
            )
        super().append(quilt_rgb_u8)


class QuiltRecorder:
    """Records what a live output shows as a quilt video at a constant frame rate.

    Each :meth:`show` brings the video up to the time given: the previous quilt is repeated for
    the frames in between, so the recording plays at the pace the call was seen, whatever rate
    frames arrived at. The file is written as it goes (fragmented MP4: a call that ends abruptly
    still leaves a playable recording).
    """

    def __init__(self, path: str | Path, layout: QuiltLayout, fps: float = 30.0, crf: int = 23) -> None:
        self.layout = layout
        self.fps = fps
        self.video = VideoWriter(path, fps, crf=crf, preset="veryfast")
        self._t0: float | None = None
        self._last: np.ndarray | None = None

    @property
    def path(self) -> Path:
        return self.video.path

    @property
    def frames_written(self) -> int:
        return self.video.frames_written

    def show(self, quilt_rgb_u8: np.ndarray, t_s: float) -> None:
        """``quilt_rgb_u8`` became visible at ``t_s`` (seconds, any monotonic clock)."""
        shape = (self.layout.quilt_h_px, self.layout.quilt_w_px, 3)
        if quilt_rgb_u8.shape != shape:
            raise ValueError(f"quilt frame must be {shape}, got {quilt_rgb_u8.shape}")
        if self._t0 is None:
            self._t0 = t_s
        due = int((t_s - self._t0) * self.fps)  # frames the video should hold before this one
        while self._last is not None and self.video.frames_written < due:
            self.video.append(self._last)
        self._last = quilt_rgb_u8
        if self.video.frames_written <= due:
            self.video.append(quilt_rgb_u8)

    def close(self) -> None:
        self.video.close()
