"""``call --record``: what this side shows of the peer, and what it plays of their voice, in one
quilt video (named by the quilt convention, so a Looking Glass can replay it)."""

from __future__ import annotations

import os
import tempfile
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np

from display.export import QuiltRecorder
from display.quilt import QuiltLayout
from display.video import VideoError, mux_audio

__all__ = ["CallRecording"]


class CallRecording:
    """Video frames from :meth:`show`, audio from the speaker's pull (:meth:`tap`)."""

    def __init__(self, path: Path, layout: QuiltLayout, sample_rate: int) -> None:
        self.video = QuiltRecorder(path, layout)
        self.rate = sample_rate
        fd, name = tempfile.mkstemp(prefix="voodoo-holo-call-", suffix=".wav")
        os.close(fd)
        self._wav_path = Path(name)
        self._wav: wave.Wave_write | None = None
        self._t_video: float | None = None
        self._t_audio: float | None = None
        self._lock = threading.Lock()
        self._closed = False

    @property
    def path(self) -> Path:
        return self.video.path

    def show(self, quilt_rgb_u8: np.ndarray) -> None:
        now = time.monotonic()
        if self._t_video is None:
            self._t_video = now
        self.video.show(quilt_rgb_u8, now)

    def tap(self, pull: Callable[[int, int], np.ndarray]) -> Callable[[int, int], np.ndarray]:
        """``pull`` (the speaker's source of samples) that also records what it returns."""

        def pulled(t_play_ns: int, n: int) -> np.ndarray:
            block = pull(t_play_ns, n)
            with self._lock:
                if not self._closed:
                    self._write(block, t_play_ns)
            return block

        return pulled

    def _write(self, block: np.ndarray, t_play_ns: int) -> None:
        if self._wav is None:
            self._t_audio = t_play_ns / 1e9
            self._wav = wave.open(str(self._wav_path), "wb")
            self._wav.setnchannels(1)
            self._wav.setsampwidth(2)
            self._wav.setframerate(self.rate)
        self._wav.writeframes(np.asarray(block, dtype="<i2").tobytes())

    def close(self) -> str:
        """Finish the file; returns a note for the user (what was recorded)."""
        with self._lock:
            self._closed = True
        self.video.close()
        frames = self.video.frames_written
        note = f"recorded {frames} frames of the peer to {self.path}"
        if self._wav is not None:
            self._wav.close()
            if frames and self._t_video is not None and self._t_audio is not None:
                try:
                    mux_audio(
                        self.path, self._wav_path, frames / self.video.fps, self._t_audio - self._t_video
                    )
                    note += " with their voice"
                except VideoError as e:
                    note += f" (their voice could not be added: {e})"
        self._wav_path.unlink(missing_ok=True)
        return note
