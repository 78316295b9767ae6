"""Call audio: microphone in, speaker out, a compressed codec, and a playout buffer in sync with video.

* :class:`AudioSource` / :class:`AudioSink` — the microphone and the speaker. Real devices go
  through sounddevice (PortAudio); :class:`WavSource` / :class:`WavSink` read and write WAV
  files paced like a sound card, for machines without audio hardware and for tests.
* :class:`MuLawCodec` — G.711 mu-law, 8 bits per sample: 16 kHz mono = 16 kB/s.
* :class:`Playout` — the receiver's jitter buffer. Each block carries its capture time (already
  moved to this machine's clock); it is played ``delay`` after capture, where the session
  sets ``delay`` to the avatar's measured capture-to-display latency so that sound and
  picture leave together. The measured audio-minus-video offset is kept in ``offsets_ms``.

Headphones are assumed: there is no echo cancellation.
"""

from __future__ import annotations

import threading
import time
import wave
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "AudioFormat",
    "AudioSink",
    "AudioSource",
    "AudioUnavailableError",
    "DeviceSink",
    "DeviceSource",
    "MuLawCodec",
    "Playout",
    "WavSink",
    "WavSource",
]


class AudioUnavailableError(RuntimeError):
    """No microphone or speaker can be used; the message says why and what to do."""


@dataclass(frozen=True)
class AudioFormat:
    """Mono 16-bit audio in blocks of ``block_ms``."""

    rate: int = 16000
    block_ms: int = 20

    def __post_init__(self) -> None:
        if self.rate not in (8000, 16000, 24000, 48000):
            raise ValueError(f"audio rate must be 8000, 16000, 24000 or 48000 Hz, got {self.rate}")
        if not 5 <= self.block_ms <= 100:
            raise ValueError(f"block_ms must be 5..100, got {self.block_ms}")

    @property
    def block_samples(self) -> int:
        return self.rate * self.block_ms // 1000

    @property
    def block_ns(self) -> int:
        return self.block_ms * 1_000_000


class MuLawCodec:
    """G.711-style mu-law companding (mu = 255): int16 samples <-> uint8 codes."""

    name = "mulaw"
    _MU = 255.0

    def encode(self, pcm: np.ndarray) -> np.ndarray:
        x = np.asarray(pcm, dtype=np.float32) / 32768.0
        y = np.sign(x) * np.log1p(self._MU * np.abs(x)) / np.log1p(self._MU)
        return np.clip(np.rint((y + 1.0) * 127.5), 0, 255).astype(np.uint8)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        y = np.asarray(codes, dtype=np.float32) / 127.5 - 1.0
        x = np.sign(y) * np.expm1(np.abs(y) * np.log1p(self._MU)) / self._MU
        return np.clip(np.rint(x * 32768.0), -32768, 32767).astype(np.int16)


class AudioSource:
    """A microphone: :meth:`read` blocks for the next block -> ``(pcm int16, t_capture_ns)``."""

    fmt: AudioFormat
    description: str = ""

    def read(self) -> tuple[np.ndarray, int] | None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - interface
        pass


class AudioSink:
    """A speaker: after :meth:`start` it calls ``pull(t_play_ns, n)`` once per block it plays."""

    fmt: AudioFormat
    description: str = ""

    def start(self, pull: Callable[[int, int], np.ndarray]) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - interface
        pass


def _read_wav(path: Path, rate: int) -> np.ndarray:
    try:
        with wave.open(str(path), "rb") as w:
            if w.getsampwidth() != 2:
                raise AudioUnavailableError(f"{path}: only 16-bit PCM WAV files are supported")
            ch, sr = w.getnchannels(), w.getframerate()
            data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    except (OSError, wave.Error, EOFError) as e:
        raise AudioUnavailableError(f"cannot read audio file {path}: {e}") from e
    pcm = data.reshape(-1, ch).mean(axis=1) if ch > 1 else data.astype(np.float64)
    if sr != rate and pcm.size:
        t = np.arange(int(pcm.size * rate / sr)) * (sr / rate)
        pcm = np.interp(t, np.arange(pcm.size), pcm)
    if pcm.size == 0:
        raise AudioUnavailableError(f"{path} holds no audio")
    return np.clip(np.rint(pcm), -32768, 32767).astype(np.int16)


class WavSource(AudioSource):
    """A WAV file played as if it were a microphone (looping, paced in real time)."""

    def __init__(self, path: str | Path, fmt: AudioFormat, *, loop: bool = True) -> None:
        self.fmt = fmt
        self.path = Path(path)
        self._pcm = _read_wav(self.path, fmt.rate)
        self.loop = loop
        self._pos = 0
        self._t0: int | None = None
        self._k = 0
        self.description = f"audio file {self.path.name} ({self._pcm.size / fmt.rate:.1f} s)"

    def read(self) -> tuple[np.ndarray, int] | None:
        n = self.fmt.block_samples
        if self._pos + n > self._pcm.size:
            if not self.loop:
                return None
            self._pos = 0
        block = self._pcm[self._pos : self._pos + n]
        self._pos += n
        if self._t0 is None:
            self._t0 = time.monotonic_ns()
        # A sound card delivers a block when its last sample has been captured.
        t_start = self._t0 + self._k * self.fmt.block_ns
        self._k += 1
        delay = (t_start + self.fmt.block_ns - time.monotonic_ns()) / 1e9
        if delay > 0:
            time.sleep(delay)
        return block.copy(), t_start


class WavSink(AudioSink):
    """A speaker that writes what it plays into a 16-bit WAV file, paced in real time."""

    def __init__(self, path: str | Path, fmt: AudioFormat) -> None:
        self.fmt = fmt
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        wav = wave.open(str(self.path), "wb")
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(fmt.rate)
        self._wav: wave.Wave_write | None = wav
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.description = f"audio file {self.path.name}"

    def start(self, pull: Callable[[int, int], np.ndarray]) -> None:
        def run() -> None:
            t_next = time.monotonic_ns()
            while not self._stop.is_set():
                block = pull(t_next, self.fmt.block_samples)
                with self._lock:
                    if self._wav is not None:
                        self._wav.writeframes(np.asarray(block, dtype="<i2").tobytes())
                t_next += self.fmt.block_ns
                delay = (t_next - time.monotonic_ns()) / 1e9
                if delay > 0:
                    self._stop.wait(delay)
                elif delay < -0.2:  # fell far behind (machine busy): skip instead of bursting
                    t_next = time.monotonic_ns()

        self._thread = threading.Thread(target=run, name="audio-out", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        with self._lock:
            if self._wav is not None:
                self._wav.close()
                self._wav = None


def _sounddevice():
    try:
        import sounddevice as sd
    except OSError as e:  # sounddevice raises OSError when the PortAudio library is missing
        raise AudioUnavailableError(
            f"no audio: {e}. Install PortAudio (Debian/Ubuntu: apt-get install libportaudio2), "
            "or run the call with --no-audio"
        ) from e
    return sd


def _start_stream(
    stream_type: Any, fmt: AudioFormat, device: int | str | None, callback: Any, what: str, fix: str
) -> Any:
    """A started mono int16 sounddevice stream of ``stream_type`` (InputStream/OutputStream);
    a missing or failing device becomes :class:`AudioUnavailableError` ("no ``what``: ... ``fix``")."""
    try:
        stream = stream_type(
            samplerate=fmt.rate,
            blocksize=fmt.block_samples,
            channels=1,
            dtype="int16",
            device=device,
            callback=callback,
        )
        stream.start()
    except Exception as e:  # PortAudioError and ValueError (no such device) alike
        raise AudioUnavailableError(f"no {what}: {e}. {fix}") from e
    return stream


class DeviceSource(AudioSource):
    """The default microphone through sounddevice."""

    def __init__(self, fmt: AudioFormat, device: int | str | None = None) -> None:
        sd = _sounddevice()
        self.fmt = fmt
        self._blocks: deque[tuple[np.ndarray, int]] = deque(maxlen=50)
        self._cond = threading.Condition()

        def callback(indata, frames, t, status) -> None:  # PortAudio's thread
            now = time.monotonic_ns()
            with self._cond:
                self._blocks.append((indata[:, 0].copy(), now - fmt.block_ns))
                self._cond.notify()

        self._stream = _start_stream(
            sd.InputStream,
            fmt,
            device,
            callback,
            "microphone",
            "Check one is connected, or use --audio-in FILE.wav or --no-audio",
        )
        self.description = f"microphone {self._stream.device}"

    def read(self) -> tuple[np.ndarray, int] | None:
        with self._cond:
            while not self._blocks:
                if not self._cond.wait(1.0):
                    raise AudioUnavailableError("the microphone stopped delivering audio")
            return self._blocks.popleft()

    def close(self) -> None:
        self._stream.close()


class DeviceSink(AudioSink):
    """The default speaker (headphones) through sounddevice."""

    def __init__(self, fmt: AudioFormat, device: int | str | None = None) -> None:
        self.fmt = fmt
        self._sd = _sounddevice()
        self._device = device
        self._stream: Any = None  # sounddevice.OutputStream once started
        self.description = "speaker"

    def start(self, pull: Callable[[int, int], np.ndarray]) -> None:
        def callback(outdata, frames, t, status) -> None:  # PortAudio's thread
            latency_ns = int(self._stream.latency * 1e9) if self._stream is not None else 0
            outdata[:, 0] = pull(time.monotonic_ns() + latency_ns, frames)

        self._stream = _start_stream(
            self._sd.OutputStream,
            self.fmt,
            self._device,
            callback,
            "speaker",
            "Check headphones are connected, or use --audio-out FILE.wav or --no-audio",
        )
        self.description = f"speaker {self._stream.device}"

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()


class Playout:
    """Jitter buffer: blocks in (any thread), one block out per ``pull`` at its play time.

    :meth:`follow_video` gives the avatar's current capture-to-display latency: the buffer then
    aims to play each block that long after its capture. The wait for a block's due time adds
    a little on top of ``delay_ns`` (blocks are due at block boundaries, and arrive only after
    their last sample); that excess is measured and subtracted, so the offset converges to 0.
    ``offsets_ms`` = audio latency - video latency of each played block.
    """

    def __init__(self, fmt: AudioFormat, delay_ms: float = 80.0) -> None:
        self.fmt = fmt
        self.delay_ns = int(delay_ms * 1e6)
        self.video_latency_ms: float | None = None
        self._excess_ms: float | None = None
        self._blocks: deque[tuple[int, np.ndarray]] = deque()
        self._lock = threading.Lock()
        self.offsets_ms: deque[float] = deque(maxlen=500)
        self.latencies_ms: deque[float] = deque(maxlen=500)
        self.played = 0
        self.silent = 0
        self.late_dropped = 0
        self.overflow_dropped = 0

    def follow_video(self, video_latency_ms: float) -> None:
        self.video_latency_ms = video_latency_ms
        target = video_latency_ms - (self._excess_ms or 0.0)
        self.delay_ns = int(min(max(target, 20.0), 500.0) * 1e6)

    def push(self, t_capture_local_ns: int, pcm: np.ndarray) -> None:
        with self._lock:
            self._blocks.append((int(t_capture_local_ns), pcm))
            if len(self._blocks) > 100:  # 2 s at 20 ms blocks: the peer is far ahead of us
                self._blocks.popleft()
                self.overflow_dropped += 1

    def pull(self, t_play_ns: int, n: int) -> np.ndarray:
        due = t_play_ns - self.delay_ns
        out = None
        with self._lock:
            while self._blocks and self._blocks[0][0] < due - 2 * self.fmt.block_ns:
                self._blocks.popleft()  # too late to play in sync
                self.late_dropped += 1
            if self._blocks and self._blocks[0][0] <= due:
                t_cap, out = self._blocks.popleft()
        if out is None or out.size != n:
            self.silent += 1
            return np.zeros(n, np.int16)
        self.played += 1
        latency_ms = (t_play_ns - t_cap) / 1e6
        self.latencies_ms.append(latency_ms)
        excess = latency_ms - self.delay_ns / 1e6
        self._excess_ms = excess if self._excess_ms is None else 0.95 * self._excess_ms + 0.05 * excess
        if self.video_latency_ms is not None:
            self.offsets_ms.append(latency_ms - self.video_latency_ms)
        return out

    def clear(self) -> None:
        with self._lock:
            self._blocks.clear()
