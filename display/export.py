"""Quilt export: PNG images and H.264 MP4 videos named so Looking Glass software plays them.

Names follow ``{stem}_qs{cols}x{rows}a{aspect}.png|.mp4`` (see :mod:`display.quilt`).

:class:`QuiltVideoWriter` streams frames one at a time to ffmpeg (``imageio-ffmpeg``), H.264
yuv420p. The MP4 is written *fragmented* (``empty_moov`` + a fragment per keyframe), so a
recording cut short by a crash or a killed process is still playable up to its last fragment;
closing the writer (``with`` block, also on exceptions) finishes the file normally. yuv420p
needs even dimensions: an odd quilt gets one black column on the right and/or one black row
on the top, where Looking Glass software expects leftover pixels, so tiles keep their place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
from PIL import Image

from display.quilt import QuiltLayout, quilt_filename

__all__ = ["QuiltVideoWriter", "VideoConfig", "pad_to_even", "write_quilt_png"]


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


def pad_to_even(frame: np.ndarray) -> np.ndarray:
    """Add a black column on the right / a black row on top when the size is odd."""
    h, w = frame.shape[:2]
    pad_top, pad_right = h % 2, w % 2
    if not (pad_top or pad_right):
        return frame
    return np.pad(frame, ((pad_top, 0), (0, pad_right), (0, 0)))


@dataclass(frozen=True)
class VideoConfig:
    """Attributes:
    fps: frame rate.
    crf: x264 quality (lower is better; 18 is visually near-lossless).
    preset: x264 speed preset.
    fragmented: write a fragmented MP4 (playable even if the recording is interrupted).
    keyframe_interval_s: a keyframe (and, fragmented, a flushed fragment) this often.
    """

    fps: float = 30.0
    crf: int = 18
    preset: str = "medium"
    fragmented: bool = True
    keyframe_interval_s: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.fps <= 240:
            raise ValueError(f"fps must be in (0, 240], got {self.fps}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be 0..51, got {self.crf}")


class QuiltVideoWriter:
    """Append quilt frames (top-down ``QH x QW x 3`` uint8) to an H.264 MP4.

    ::

        with QuiltVideoWriter(out_dir, "call", layout) as video:
            for quilt in quilts:
                video.append(quilt)
        print(video.path, video.frames_written)
    """

    def __init__(
        self, out_dir: str | Path, stem: str, layout: QuiltLayout, config: VideoConfig | None = None
    ) -> None:
        import imageio_ffmpeg

        self.layout = layout
        self.config = config or VideoConfig()
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.path = out / quilt_filename(stem, layout, ".mp4")
        self.size_px = (layout.quilt_w_px + layout.quilt_w_px % 2, layout.quilt_h_px + layout.quilt_h_px % 2)
        gop = max(1, round(self.config.fps * self.config.keyframe_interval_s))
        params = ["-crf", str(self.config.crf), "-preset", self.config.preset, "-g", str(gop)]
        if self.config.fragmented:
            params += ["-movflags", "+frag_keyframe+empty_moov+default_base_moof"]
        self._gen = imageio_ffmpeg.write_frames(
            str(self.path),
            self.size_px,
            fps=self.config.fps,
            codec="libx264",
            pix_fmt_in="rgb24",
            pix_fmt_out="yuv420p",
            macro_block_size=1,
            quality=None,
            output_params=params,
        )
        self._gen.send(None)  # starts ffmpeg
        self.frames_written = 0
        self._closed = False

    def append(self, quilt_rgb_u8: np.ndarray) -> None:
        if self._closed:
            raise RuntimeError(f"{self.path} is already closed")
        shape = (self.layout.quilt_h_px, self.layout.quilt_w_px, 3)
        if quilt_rgb_u8.shape != shape or quilt_rgb_u8.dtype != np.uint8:
            raise ValueError(
                f"quilt frame must be {shape} uint8, got {quilt_rgb_u8.shape} {quilt_rgb_u8.dtype}"
            )
        self._gen.send(np.ascontiguousarray(pad_to_even(quilt_rgb_u8)))
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file (flushes ffmpeg and waits for it)."""
        if not self._closed:
            self._closed = True
            self._gen.close()

    def __enter__(self) -> QuiltVideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
