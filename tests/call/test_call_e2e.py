"""Two callers on this machine over loopback tcp: real processes, CURVE, MediaPipe, rendering.

A (astronaut) listens, B (Grace Hopper) calls; each drives its avatar from a video of its own
face and sends a tone as its microphone. Checked: each side renders the *other's* identity and
hears the other's tone; a killed caller leaves the listener waiting ("disconnected") and a new
caller is shown; a killed listener leaves the caller waiting and it reconnects by itself when
the listener is back on the same port; an unaccepted key is refused with its fingerprint.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import cv2
import numpy as np
import pytest

from display.video import probe_video
from pipeline.security import KnownPeers, fingerprint, load_or_create_keypair

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "assets" / "samples"

pytestmark = [pytest.mark.net, pytest.mark.gl]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    """Per person: a 2 s driver video of their photo swaying, and a tone as their voice."""
    d = tmp_path_factory.mktemp("call_media")
    out: dict[str, Path] = {}
    for name, hz in (("astronaut", 440), ("grace_hopper", 660)):
        img = cv2.imread(str(SAMPLES / f"{name}.jpg"))
        h, w = img.shape[:2]
        vw = cv2.VideoWriter(str(d / f"{name}.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (w, h))
        for i in range(50):
            m = cv2.getRotationMatrix2D((w / 2, h / 2), 6 * np.sin(i / 8), 1.0)
            m[0, 2] += 10 * np.sin(i / 5)
            vw.write(cv2.warpAffine(img, m, (w, h)))
        vw.release()
        pcm = (8000 * np.sin(2 * np.pi * hz * np.arange(32000) / 16000)).astype("<i2")
        with wave.open(str(d / f"{name}.wav"), "wb") as wf:
            wf.setnchannels(1)
            wf.setsampwidth(2)
            wf.setframerate(16000)
            wf.writeframes(pcm.tobytes())
        out[f"{name}.avi"], out[f"{name}.wav"] = d / f"{name}.avi", d / f"{name}.wav"
    return out


def _bash(command: str, home: Path) -> subprocess.CompletedProcess:
    """``command`` as pasted into bash, with ``voodoo-holo`` this checkout's CLI."""
    shim = f'voodoo-holo() {{ {shlex.quote(sys.executable)} -m app.cli "$@"; }}\n'
    env = {**os.environ, "VOODOO_HOLO_HOME": str(home), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        ["bash", "-c", shim + command], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


class Caller:
    def __init__(self, tmp: Path, name: str, home: Path, args: list[str], stdin: int | None = None) -> None:
        self.name, self.home = name, home
        self.metrics = tmp / f"{name}.json"
        self.log_path = tmp / f"{name}.log"
        env = {
            **os.environ,
            "VOODOO_HOLO_HOME": str(home),
            "PYTHONUNBUFFERED": "1",
            "GLOG_minloglevel": "2",
        }
        self._log = open(self.log_path, "a")  # closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "call", *args, "--metrics-out", str(self.metrics)],
            cwd=tmp,
            env=env,
            stdin=subprocess.DEVNULL if stdin is None else stdin,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def read(self) -> dict | None:
        try:
            return json.loads(self.metrics.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def wait(self, pred, what: str, timeout_s: float = 90.0) -> dict:
        deadline = time.monotonic() + timeout_s
        m = None
        while time.monotonic() < deadline:
            m = self.read()
            if m is not None and m["pid"] == self.proc.pid and pred(m):
                return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(
            f"{self.name}: {what} not reached (exit {self.proc.poll()}); metrics: "
            f"{json.dumps(m)[:1500]}\nlog:\n{self.log()[-3000:]}"
        )

    def wait_log(self, text: str, timeout_s: float = 30.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            log = self.log()
            if text in log:
                return log
            time.sleep(0.2)
        raise AssertionError(f"{self.name}: {text!r} not in the log:\n{self.log()[-3000:]}")

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._log.close()
        return rc


def _listening(pid: int) -> set[str]:
    """``addr:port`` of every TCP socket process ``pid`` listens on (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if f[3] == "0A" and f[9] in inodes:  # state LISTEN
                addr, port = f[1].split(":")
                raw = bytes.fromhex(addr)
                host = ".".join(str(b) for b in raw[::-1]) if len(raw) == 4 else raw.hex()
                out.add(f"{host}:{int(port, 16)}")
    return out


def _frames(m: dict) -> int:
    """Frames of the peer's avatar rendered *and* presented on this side's display."""
    return min(m["video"]["frames_rendered"], m["video"]["frames_presented"])


def _psnr_face(a: np.ndarray, b: np.ndarray) -> float:
    h, w = a.shape[:2]
    box = (slice(int(0.2 * h), int(0.85 * h)), slice(int(0.2 * w), int(0.8 * w)))
    d = a[box].astype(np.float64) - b[box].astype(np.float64)
    return float(10 * np.log10(255.0**2 / max(np.mean(d**2), 1e-9)))


def _identity(snapshot: Path) -> dict[str, float]:
    """PSNR of the face in the rendered frontal view against each photo's face, both aligned by
    the tracker (the view frames the whole head, so it is aligned before comparing)."""
    from pipeline.tracking import PhotoConfig, prepare_photo
    from pipeline.tracking.quality import QualityThresholds

    snap_rgb = cv2.cvtColor(cv2.imread(str(snapshot)), cv2.COLOR_BGR2RGB)
    # A view of a call is small (its face about 80 px of landmarks): no size floor for it.
    small_ok = PhotoConfig(matte=None, quality=QualityThresholds(min_face_px=16))
    snap = prepare_photo(snap_rgb, small_ok).crop_rgb_u8
    out = {}
    for name in ("astronaut", "grace_hopper"):
        crop = prepare_photo(str(SAMPLES / f"{name}.jpg"), PhotoConfig(matte=None)).crop_rgb_u8
        out[name] = _psnr_face(snap, crop)
    return out


def _dominant_hz(path: Path) -> tuple[float, float]:
    """(dominant frequency, fraction of non-silent samples) of a 16 kHz WAV file."""
    with wave.open(str(path), "rb") as w:
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64)
    voiced = data[np.abs(data) > 0]
    if voiced.size < 1600:
        return 0.0, 0.0
    spec = np.abs(np.fft.rfft(voiced[: 16000 * 4]))
    n = min(voiced.size, 16000 * 4)
    return float(np.argmax(spec) * 16000 / n), voiced.size / data.size


def _common(media: dict[str, Path], who: str, tmp: Path) -> list[str]:
    return [
        "--source",
        str(SAMPLES / f"{who}.jpg"),
        "--driver",
        str(media[f"{who}.avi"]),
        "--backend",
        "mesh",
        "--headless",
        "--view-size",
        "192",
        "--snapshot",
        str(tmp / f"{who}_sees.png"),
        "--audio-in",
        str(media[f"{who}.wav"]),
        "--audio-out",
        str(tmp / f"{who}_hears.wav"),
        "--duration",
        "170",
    ]


def test_two_callers_see_each_other_survive_a_dropout_and_reconnect(tmp_path, media):
    home_a, home_b = tmp_path / "home_a", tmp_path / "home_b"
    key_a = load_or_create_keypair(home_a / "config" / "keys")
    key_b = load_or_create_keypair(home_b / "config" / "keys")
    listen = ["--listen", "0", "--bind", "127.0.0.1", "--accept-key", key_b.shareable, "--name", "A"]
    a = Caller(tmp_path, "a", home_a, [*listen, *_common(media, "astronaut", tmp_path)])
    callers = [a]
    try:
        m = a.wait(lambda m: m["state"] == "waiting", "listening")
        port = int(m["endpoint"].rsplit(":", 1)[1])
        assert m["endpoint"].startswith("tcp://127.0.0.1:") and port > 0
        dial = [f"127.0.0.1:{port}", "--peer-key", key_a.shareable, "--name", "B"]
        b = Caller(tmp_path, "b", home_b, [*dial, *_common(media, "grace_hopper", tmp_path)])
        callers.append(b)

        # 1. Both see each other, with the other's identity.
        ma = a.wait(lambda m: _frames(m) >= 15 and m["video"]["snapshot_seq"] >= 0, "A renders B")
        mb = b.wait(lambda m: _frames(m) >= 15 and m["video"]["snapshot_seq"] >= 0, "B renders A")
        assert ma["peer"]["fingerprint"] == fingerprint(key_b.public) and ma["peer"]["name"] == "B"
        assert mb["peer"]["fingerprint"] == fingerprint(key_a.public) and mb["peer"]["name"] == "A"
        seen_by_a = _identity(tmp_path / "astronaut_sees.png")
        seen_by_b = _identity(tmp_path / "grace_hopper_sees.png")
        print(f"A's view vs photos (PSNR dB): {seen_by_a}\nB's view vs photos (PSNR dB): {seen_by_b}")
        assert seen_by_a["grace_hopper"] > seen_by_a["astronaut"] + 3.0
        assert seen_by_b["astronaut"] > seen_by_b["grace_hopper"] + 3.0
        for m in (ma, mb):
            assert m["video"]["capture_to_display_ms"]["n"] > 0
            assert m["bytes_total"]["video_sent"] > 0 and m["link_stats"]["counters"]["audio_received"] > 0
        a_pid = a.proc.pid
        # Only the listener listens, and only where it was told to.
        assert _listening(a.proc.pid) == {f"127.0.0.1:{port}"}
        assert _listening(b.proc.pid) == set()

        # 2. B vanishes (SIGKILL: no goodbye). A keeps running and says so.
        frames_a = _frames(a.read())
        b.proc.kill()
        b.stop()
        ma = a.wait(lambda m: m["state"] == "disconnected", "A notices B is gone", 30)
        assert a.proc.poll() is None

        # 3. B calls again (new process, same key): A shows it without restarting.
        b = Caller(tmp_path, "b2", home_b, [*dial, *_common(media, "grace_hopper", tmp_path)])
        callers.append(b)
        ma = a.wait(
            lambda m: m["state"] == "connected" and _frames(m) >= frames_a + 10,
            "A shows B again",
        )
        assert a.proc.pid == a_pid and ma["link_stats"]["counters"]["peer_sessions"] == 2
        assert [s for _, s in ma["history"]][:4] == ["waiting", "connected", "disconnected", "connected"]
        b.wait(lambda m: _frames(m) >= 5, "the new B renders A")

        # 4. A vanishes; B waits, then reconnects by itself when A is back on the same port.
        a.proc.kill()
        a.stop()
        mb = b.wait(lambda m: m["state"] == "disconnected", "B notices A is gone", 30)
        frames_b = _frames(mb)
        listen_again = [*listen[:1], str(port), *listen[2:]]
        a = Caller(tmp_path, "a2", home_a, [*listen_again, *_common(media, "astronaut", tmp_path)])
        callers.append(a)
        mb = b.wait(
            lambda m: m["state"] == "connected" and _frames(m) >= frames_b + 10,
            "B reconnects to the restarted A",
        )
        assert b.proc.poll() is None
        assert [s for _, s in mb["history"]][-2:] == ["disconnected", "connected"]
        seen_by_b = _identity(tmp_path / "grace_hopper_sees.png")
        assert seen_by_b["astronaut"] > seen_by_b["grace_hopper"] + 3.0

        final = {}
        for c in (a, b):
            assert c.stop() == 0, c.log()[-2000:]
            assert "call ended: interrupted" in c.log()
            final[c.name] = c.read()
            video = final[c.name]["video"]
            # Every frame rendered after a reconnection reached the display (the peer's frame
            # numbers start again at 0 then; the display must not take them for old frames).
            assert video["frames_presented"] == video["frames_rendered"], video
    finally:
        for c in callers:
            if c.proc.poll() is None:
                c.proc.kill()
                c.stop()

    hz, voiced = _dominant_hz(tmp_path / "astronaut_hears.wav")
    assert abs(hz - 660) < 5 and voiced > 0.1, f"A hears {hz:.0f} Hz ({voiced:.0%} non-silent)"
    hz, voiced = _dominant_hz(tmp_path / "grace_hopper_hears.wav")
    assert abs(hz - 440) < 5 and voiced > 0.1, f"B hears {hz:.0f} Hz ({voiced:.0%} non-silent)"
    for name, m in final.items():
        print(
            f"{name}: sent {m['bytes_total']['sent'] / 1e3:.0f} kB in {m['uptime_s']:.0f} s, "
            f"capture->display {m['video']['capture_to_display_ms']}, "
            f"audio-video offset {m['audio']['av_offset_ms']}, clock {m['clock']}"
        )


def test_an_unaccepted_key_is_refused_with_its_fingerprint(tmp_path, media):
    home_a, home_b = tmp_path / "home_a", tmp_path / "home_b"
    key_a = load_or_create_keypair(home_a / "config" / "keys")
    key_b = load_or_create_keypair(home_b / "config" / "keys")
    a = Caller(
        tmp_path,
        "a",
        home_a,
        ["--listen", "0", "--bind", "127.0.0.1", "--receive-only", "--headless", "--backend", "mesh"],
    )
    b = None
    try:
        m = a.wait(lambda m: m["state"] == "waiting", "listening")
        port = m["endpoint"].rsplit(":", 1)[1]
        b = Caller(
            tmp_path,
            "b",
            home_b,
            [f"127.0.0.1:{port}", "--peer-key", key_a.public_text, "--send-only", "--no-audio"]
            + ["--source", str(SAMPLES / "grace_hopper.jpg"), "--driver", str(media["grace_hopper.avi"])],
        )
        rc = b.proc.wait(timeout=120)
        assert rc == 3, b.log()[-2000:]
        assert "refused" in b.log() and fingerprint(key_b.public) in b.log()
        m = a.wait(lambda m: m["link_stats"]["counters"].get("refused_unknown_key", 0) >= 1, "refusal")
        assert m["state"] == "waiting" and m["peer"] is None
        a_log = a.wait_log(f"unknown key {fingerprint(key_b.public)}")
        # What each side says to run, pasted into bash on A's machine, accepts B's key.
        told_a = re.search(r"To accept it: (.+)$", a_log, re.M)
        told_b = re.search(r"then call again: (.+)$", b.log(), re.M)
        assert told_a and told_b, (a_log[-2000:], b.log()[-2000:])
        assert told_a.group(1) == told_b.group(1) == f"voodoo-holo keys --accept {key_b.shareable}"
        for told, home in ((told_a, home_a), (told_b, tmp_path / "home_c")):
            done = _bash(told.group(1), home)
            assert done.returncode == 0 and "accepted" in done.stdout, done.stderr
            assert KnownPeers.load(home / "config" / "known_peers.json").is_known(key_b.public)
    finally:
        for c in (a, b):
            if c is not None:
                c.stop()


def test_first_call_from_an_unknown_key_is_accepted_at_the_prompt(tmp_path, media):
    """Like ssh's known hosts: a terminal user is asked once; after 'y' the caller gets in."""
    import pty

    home_a, home_b = tmp_path / "home_a", tmp_path / "home_b"
    key_a = load_or_create_keypair(home_a / "config" / "keys")
    key_b = load_or_create_keypair(home_b / "config" / "keys")
    master, slave = pty.openpty()  # A's stdin is a terminal
    listen = ["--listen", "0", "--bind", "127.0.0.1", "--receive-only", "--headless", "--backend", "mesh"]
    a = Caller(tmp_path, "a", home_a, [*listen, "--view-size", "128"], stdin=slave)
    os.close(slave)
    callers = [a]
    try:
        port = a.wait(lambda m: m["state"] == "waiting", "listening")["endpoint"].rsplit(":", 1)[1]
        dial = [f"127.0.0.1:{port}", "--peer-key", key_a.public_text, "--send-only", "--no-audio"]
        dial += ["--source", str(SAMPLES / "grace_hopper.jpg"), "--driver", str(media["grace_hopper.avi"])]
        b = Caller(tmp_path, "b", home_b, dial)
        callers.append(b)
        assert b.proc.wait(timeout=120) == 3, b.log()[-2000:]
        a.wait_log(f"unknown key {fingerprint(key_b.public)} wants to connect. Accept it? [y/N]")
        os.write(master, b"y\n")
        a.wait_log("ask them to call again")
        assert KnownPeers.load(home_a / "config" / "known_peers.json").is_known(key_b.public)
        b = Caller(tmp_path, "b2", home_b, dial)
        callers.append(b)
        m = a.wait(lambda m: m["state"] == "connected" and _frames(m) >= 3, "A shows the accepted caller")
        assert m["peer"]["fingerprint"] == fingerprint(key_b.public)
    finally:
        for c in callers:
            c.stop()
        os.close(master)


def test_a_recorded_call_holds_the_peer_as_shown_and_their_voice(tmp_path, media):
    """``--record`` writes the quilt the listener shows of the caller, named by the quilt
    convention, with the caller's voice (a 660 Hz tone) muxed in."""
    home_a, home_b = tmp_path / "home_a", tmp_path / "home_b"
    key_a = load_or_create_keypair(home_a / "config" / "keys")
    key_b = load_or_create_keypair(home_b / "config" / "keys")
    record = tmp_path / "call.mp4"
    listen = ["--listen", "0", "--bind", "127.0.0.1", "--accept-key", key_b.shareable, "--record", str(record)]
    a = Caller(tmp_path, "a", home_a, [*listen, *_common(media, "astronaut", tmp_path)])
    callers = [a]
    try:
        port = int(a.wait(lambda m: m["state"] == "waiting", "listening")["endpoint"].rsplit(":", 1)[1])
        dial = [f"127.0.0.1:{port}", "--peer-key", key_a.shareable]
        callers.append(Caller(tmp_path, "b", home_b, [*dial, *_common(media, "grace_hopper", tmp_path)]))
        a.wait(lambda m: _frames(m) >= 40 and m["audio"]["played_blocks"] >= 50, "A shows and hears B")
    finally:
        for c in callers:
            c.stop()
    [written] = list(tmp_path.glob("call_qs*.mp4"))
    assert written.name == "call_qs1x1a0.75.mp4", written.name  # one view: the preview's quilt
    probe = probe_video(written)
    assert probe.frames >= 30 and probe.has_audio and probe.fps == 30.0
    cap = cv2.VideoCapture(str(written))
    cap.set(cv2.CAP_PROP_POS_FRAMES, probe.frames - 5)
    ok, last = cap.read()
    cap.release()
    assert ok and np.mean(last) > 20  # the peer's head, not a black frame
    hz = _recorded_tone(written)
    assert abs(hz - 660.0) < 10.0, hz
    assert "with their voice" in a.log()


def _recorded_tone(video: Path) -> float:
    """The dominant frequency of a video's audio track (decoded to 16 kHz mono with ffmpeg)."""
    import imageio_ffmpeg

    raw = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(video), "-vn", "-ac", "1", "-ar", "16000",
         "-f", "s16le", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    pcm = np.frombuffer(raw, "<i2").astype(np.float64)
    loud = pcm[np.abs(pcm) > 100]
    spec = np.abs(np.fft.rfft(loud[:16000]))
    return float(np.argmax(spec) * 16000 / min(loud.size, 16000))
