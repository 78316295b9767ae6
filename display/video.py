"""H.264 MP4 files through FFmpeg (``imageio-ffmpeg``): write frame by frame, probe, join, add audio.

:class:`VideoWriter` streams ``H x W x 3`` uint8 RGB frames to ffmpeg as H.264 yuv420p. Files
are written *fragmented* (``empty_moov`` + a fragment per keyframe) and without B-frames, so a
recording cut short by Ctrl-C, a crash or a killed process still plays up to its last fragment,
and its surviving frames are always the first N in display order (what ``render --resume``
continues from). yuv420p needs even sizes: an odd frame gets one black column on the right
and/or one black row on top (where Looking Glass software expects a quilt's leftover pixels).

:func:`probe_video` counts the decodable frames of a file without decoding it;
:func:`concat_videos` joins segments of the same encoding by stream copy; :func:`mux_audio`
adds another file's audio track, cut to the video's length.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

__all__ = [
    "FRAGMENTED_MP4",
    "VideoError",
    "VideoProbe",
    "VideoWriter",
    "concat_videos",
    "mux_audio",
    "pad_to_even",
    "probe_video",
]

#: ffmpeg's flags for a fragmented MP4 (playable when cut short).
FRAGMENTED_MP4 = ["-movflags", "+frag_keyframe+empty_moov+default_base_moof"]


class VideoError(RuntimeError):
    """A video file that cannot be read, written or joined; the message says what failed."""


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def pad_to_even(frame: np.ndarray) -> np.ndarray:
    """Add a black column on the right / a black row on top when the size is odd."""
    h, w = frame.shape[:2]
    pad_top, pad_right = h % 2, w % 2
    if not (pad_top or pad_right):
        return frame
    return np.pad(frame, ((pad_top, 0), (0, pad_right), (0, 0)))


class VideoWriter:
    """A fragmented H.264 MP4 fed frame by frame; ffmpeg starts with the first frame.

    Args:
        path: the file to write (its folder is created).
        fps: frame rate.
        crf: x264 quality, 0..51 (lower is better; 18 is visually near-lossless).
        preset: x264 speed preset.
        keyframe_interval_s: a keyframe, and so a flushed fragment, this often.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float,
        *,
        crf: int = 20,
        preset: str = "veryfast",
        keyframe_interval_s: float = 1.0,
    ) -> None:
        if not 0 < fps <= 240:
            raise ValueError(f"fps must be in (0, 240], got {fps}")
        if not 0 <= crf <= 51:
            raise ValueError(f"crf must be 0..51, got {crf}")
        self.path = Path(path)
        self.fps, self.crf, self.preset = float(fps), int(crf), preset
        self.keyframe_interval_s = keyframe_interval_s
        self.frames_written = 0
        self.size_px: tuple[int, int] | None = None
        self._gen: Any = None
        self._closed = False

    def append(self, frame_rgb_u8: np.ndarray) -> None:
        """Add one ``H x W x 3`` uint8 RGB frame; every frame must have the first one's size."""
        if self._closed:
            raise RuntimeError(f"{self.path} is already closed")
        frame = np.asarray(frame_rgb_u8)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"a video frame must be H x W x 3 uint8, got {frame.shape} {frame.dtype}")
        frame = pad_to_even(frame)
        size = (frame.shape[1], frame.shape[0])
        if self._gen is None:
            self._start(size)
        elif size != self.size_px:
            raise ValueError(f"frame size changed from {self.size_px} to {size} in {self.path.name}")
        try:
            self._gen.send(np.ascontiguousarray(frame))
        except (BrokenPipeError, OSError) as e:
            raise VideoError(
                f"ffmpeg stopped writing {self.path} ({e}); is the disk full or the folder writable?"
            ) from e
        self.frames_written += 1

    def _start(self, size: tuple[int, int]) -> None:
        import imageio_ffmpeg

        self.path.parent.mkdir(parents=True, exist_ok=True)
        gop = max(1, round(self.fps * self.keyframe_interval_s))
        params = ["-crf", str(self.crf), "-preset", self.preset, "-g", str(gop), "-bf", "0", *FRAGMENTED_MP4]
        self._gen = imageio_ffmpeg.write_frames(
            str(self.path), size, fps=self.fps, codec="libx264", pix_fmt_in="rgb24", pix_fmt_out="yuv420p",
            macro_block_size=1, quality=None, output_params=params,
        )  # fmt: skip
        self._gen.send(None)
        self.size_px = size

    def close(self) -> None:
        """Finish the file (flushes ffmpeg and waits for it)."""
        if self._closed:
            return
        self._closed = True
        if self._gen is not None:
            gen, self._gen = self._gen, None
            gen.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@dataclass(frozen=True)
class VideoProbe:
    """What ffmpeg reads in a video file: ``frames`` = decodable video packets."""

    frames: int
    width: int
    height: int
    fps: float | None
    has_audio: bool


_STREAM_RE = re.compile(r"Stream #\d+:\d+.*?: (Video|Audio): (.*)")
_SIZE_RE = re.compile(r"(?:^|[ ,])(\d{2,5})x(\d{2,5})(?:[ ,\]]|$)")
_FPS_RE = re.compile(r"([\d.]+) fps")
_FRAME_RE = re.compile(r"frame=\s*(\d+)")


def probe_video(path: str | Path, *, count_frames: bool = True) -> VideoProbe:
    """Inspect ``path`` with ffmpeg (stream copy, no decoding); VideoError if it holds no video.

    Corrupt packets (the unfinished last fragment of a killed recording) are not counted.
    """
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-fflags", "+discardcorrupt", "-i", str(path)]
    if count_frames:
        cmd += ["-map", "0:v:0", "-c", "copy", "-f", "null", "-"]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", check=False)
    text = proc.stderr
    video = [m.group(2) for m in _STREAM_RE.finditer(text) if m.group(1) == "Video"]
    if not video:
        last = text.strip().splitlines()[-1] if text.strip() else "no output"
        raise VideoError(f"{path} holds no readable video ({last})")
    size = _SIZE_RE.search(video[0])
    fps = _FPS_RE.search(video[0])
    frames = 0
    if count_frames:
        if proc.returncode != 0:
            raise VideoError(f"{path} cannot be read to the end ({text.strip().splitlines()[-1]})")
        counts = _FRAME_RE.findall(text)
        frames = int(counts[-1]) if counts else 0
    return VideoProbe(
        frames=frames,
        width=int(size.group(1)) if size else 0,
        height=int(size.group(2)) if size else 0,
        fps=float(fps.group(1)) if fps else None,
        has_audio=any(m.group(1) == "Audio" for m in _STREAM_RE.finditer(text)),
    )


def _run_ffmpeg(args: list[str], what: str) -> None:
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", *args],
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    if proc.returncode != 0:
        detail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        raise VideoError(f"ffmpeg could not {what}: {detail}")


def concat_videos(first: Path, keep_frames: int, segment: Path) -> None:
    """The first ``keep_frames`` frames of ``first`` + ``segment`` (same encoding) -> ``first``.

    ``first`` may end in a cut-off fragment (a killed recording): it is remuxed on its own
    first, dropping corrupt packets and anything past ``keep_frames``, so that the join has
    exact timestamps. Files of :class:`VideoWriter` have no B-frames, so those frames are
    frames 0..keep_frames-1. ``segment`` is removed once joined.
    """
    head = segment.with_name(segment.stem + ".head.mp4")
    listing = segment.with_suffix(".txt")
    joined = segment.with_name(segment.stem + ".joined.mp4")
    try:
        _run_ffmpeg(
            ["-fflags", "+discardcorrupt", "-i", str(first), "-map", "0:v:0", "-c", "copy",
             "-frames:v", str(keep_frames), *FRAGMENTED_MP4, str(head)],
            f"read the frames already in {first.name}",
        )  # fmt: skip
        listing.write_text("".join(f"file '{p.resolve().as_posix()}'\n" for p in (head, segment)))
        _run_ffmpeg(
            ["-f", "concat", "-safe", "0", "-i", str(listing), "-map", "0:v:0", "-c", "copy", *FRAGMENTED_MP4,
             str(joined)],
            f"join {segment.name} to {first.name}",
        )  # fmt: skip
        os.replace(joined, first)
        segment.unlink()
    finally:
        for p in (head, listing, joined):
            p.unlink(missing_ok=True)


def mux_audio(video: Path, audio_from: Path, duration_s: float, audio_offset_s: float = 0.0) -> None:
    """Replace ``video`` by itself plus ``audio_from``'s first audio track (AAC), cut to the video.

    ``audio_offset_s``: when the audio starts on the video's timeline (positive: later).

    The cut is ``-t`` (the video's length), not ``-shortest``: with a stream-copied video,
    ``-shortest`` can drop the last video frames when the audio ends a little earlier.
    """
    tmp = video.with_name(video.stem + ".audio.mp4")
    # A later start delays the audio; an earlier one skips the audio's head.
    shift = (
        ["-itsoffset", f"{audio_offset_s:.6f}"] if audio_offset_s >= 0 else ["-ss", f"{-audio_offset_s:.6f}"]
    )
    try:
        _run_ffmpeg(
            ["-i", str(video), *shift, "-i", str(audio_from), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
             "-c:a", "aac", "-b:a", "128k", "-t", f"{duration_s:.6f}", "-movflags", "+faststart", str(tmp)],
            f"copy the audio of {audio_from.name} into {video.name}",
        )  # fmt: skip
        os.replace(tmp, video)
    finally:
        tmp.unlink(missing_ok=True)
