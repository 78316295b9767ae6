"""Helpers of the offline-render tests: read real video files back, make real driver inputs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image

from app.render import sample_driver

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def read_video(path: Path) -> tuple[list[np.ndarray], tuple[int, int], float]:
    """Every decoded frame (H x W x 3 uint8), the size and the frame rate ffmpeg reports."""
    gen = imageio_ffmpeg.read_frames(str(path))
    meta = next(gen)
    w, h = meta["size"]
    frames = [np.frombuffer(f, np.uint8).reshape(h, w, 3).copy() for f in gen]
    return frames, (w, h), float(meta["fps"])


def decode_errors(path: Path) -> str:
    """What ffmpeg complains about when decoding every frame and audio sample ('' = clean)."""
    proc = subprocess.run(
        [FFMPEG, "-v", "error", "-nostdin", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stderr.strip() + ("" if proc.returncode == 0 else f" (exit {proc.returncode})")


def clip_frames(first: int, count: int) -> list[np.ndarray]:
    """Frames ``first .. first+count-1`` of the bundled sample driver clip."""
    frames, _, _ = read_video(sample_driver())
    assert len(frames) >= first + count
    return frames[first : first + count]


def write_folder(folder: Path, frames: list[np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"frame_{i:04d}.png")
    return folder


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())
