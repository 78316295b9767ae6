"""One side of a two-party call: send my driver stream and audio, render the peer's avatar.

Threads of a :class:`CallSession`:

* ``capture`` — webcam / driver file -> :class:`StreamTracker` -> compressed driver frame ->
  :meth:`PeerLink.offer_video` (only while the peer is connected and wants video);
* ``mic`` — microphone blocks -> mu-law -> :meth:`PeerLink.offer_audio`;
* ``call-link`` — the network (see :mod:`pipeline.call.transport`);
* ``audio-out`` — the speaker pulling from the :class:`Playout` buffer;
* the main thread — the peer's source -> :class:`Reenactor`; the peer's newest driver frame ->
  drive -> render -> compositor (Looking Glass, preview window or offscreen). It also writes
  the metrics file and the snapshot, and asks about unknown keys.

Latency shown and recorded is from the peer's capture to this display, with the peer's
capture time moved to this clock by the link's offset estimate.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from app.call.devices import open_audio
from app.compose import AvatarChoice, OutputChoice, ViewPlan, plan_views, quilt_summary
from pipeline.call.audio import AudioFormat, AudioSource, AudioUnavailableError, MuLawCodec, Playout
from pipeline.call.media import (
    MediaSettings,
    pack_driver_frame,
    pack_source,
    unpack_driver_frame,
    unpack_source,
)
from pipeline.call.transport import LinkError, LinkSettings, PeerLink
from pipeline.messages import AudioBlock, audio_from_message, audio_to_message
from pipeline.security import Keypair, KnownPeers, fingerprint, shareable_key
from pipeline.stats import Stats
from pipeline.wire import Message, WireError

__all__ = ["AudioConfig", "CallConfig", "CallError", "CallSession"]

EXIT_REFUSED = 3
#: A peer frame older than this when it arrives is dropped, not shown.
MAX_FRAME_AGE_NS = 1_000_000_000


class CallError(RuntimeError):
    """A call that cannot start or go on; the message says what to do."""


@dataclass(frozen=True)
class AudioConfig:
    """``mode``: ``device`` (microphone + speaker), ``files`` (``audio_in`` / ``audio_out`` WAV
    files stand in for them; either may be None) or ``off``."""

    mode: Literal["device", "files", "off"] = "device"
    audio_in: Path | None = None
    audio_out: Path | None = None
    fmt: AudioFormat = field(default_factory=AudioFormat)

    def __post_init__(self) -> None:
        if self.mode not in ("device", "files", "off"):
            raise ValueError(f"audio mode must be device, files or off, got {self.mode!r}")


@dataclass(frozen=True)
class CallConfig:
    """One side of a call: the link, what this side sends, and how it shows the peer.

    ``avatar`` / ``output`` / ``plan`` are the peer's avatar, where it is shown and its views
    (see :mod:`app.compose`).
    """

    link: LinkSettings
    source: Path | None = None
    driver: str | None = None
    loop_driver: bool = True
    avatar: AvatarChoice = field(default_factory=AvatarChoice)
    output: OutputChoice = field(default_factory=OutputChoice)
    plan: ViewPlan = field(default_factory=lambda: plan_views(1))
    media: MediaSettings = field(default_factory=MediaSettings)
    audio: AudioConfig = field(default_factory=AudioConfig)
    duration_s: float | None = None
    metrics_out: Path | None = None
    snapshot: Path | None = None
    record: Path | None = None
    interactive: bool = False

    def __post_init__(self) -> None:
        if self.link.sends and self.source is None:
            raise ValueError("sending needs a source photo")
        if self.duration_s is not None and self.duration_s <= 0:
            raise ValueError("--duration must be positive")


def _percentiles(values: deque[float] | list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    a = np.asarray(values, dtype=np.float64)
    return {
        "p50": round(float(np.percentile(a, 50)), 2),
        "p90": round(float(np.percentile(a, 90)), 2),
        "n": int(a.size),
    }


class CallSession:
    def __init__(
        self, config: CallConfig, keypair: Keypair, known: KnownPeers, accept: set[bytes], log=print
    ) -> None:
        self.cfg = config
        self.keypair = keypair
        self.known = known
        self.accepted = set(accept)
        self.log = log
        self.stats = Stats()
        self.link = PeerLink(config.link, keypair, self._allow)
        self.codec = MuLawCodec()
        self.playout = Playout(config.audio.fmt)
        self.stop = threading.Event()
        self.end_reason = ""
        self.exit_code = 0
        self.fatal: str | None = None
        self.latency_ms: deque[float] = deque(maxlen=300)
        self._video_latency_ema: float | None = None
        self._threads: list[threading.Thread] = []
        self._asked: set[bytes] = set()
        self._frontal: np.ndarray | None = None
        self._frontal_seq = -1
        self._display_seq = 0
        self._snap_written = -1
        self._started = time.monotonic()
        self._last_state = ""
        self.recording: Any = None
        self._audio_note = ""

    # -- keys --------------------------------------------------------------------------
    def _allow(self, key: bytes) -> bool:  # ZAP thread
        return key in self.accepted or self.known.is_known(key)

    def _handle_unknown_keys(self) -> None:
        while self.link.refused_keys:
            key = self.link.refused_keys.popleft()
            if key in self._asked or self._allow(key):
                continue
            self._asked.add(key)
            fp = fingerprint(key)
            if self.cfg.interactive:
                answer = input(f"A caller with the unknown key {fp} wants to connect. Accept it? [y/N] ")
                if answer.strip().lower() in ("y", "yes"):
                    self.known.add(key)
                    self.accepted.add(key)
                    self.log(f"accepted {fp}; ask them to call again")
                    continue
            self.log(
                f"refused a call from an unknown key {fp}. To accept it: "
                f"voodoo-holo keys --accept {shareable_key(key)}"
            )

    # -- threads -----------------------------------------------------------------------
    def _thread(self, name: str, target) -> None:
        def run() -> None:
            try:
                target()
            except (CallError, AudioUnavailableError) as e:
                self.fatal = str(e)
                self.stop.set()
            except Exception as e:
                self.fatal = f"{name} failed: {type(e).__name__}: {e}"
                self.stop.set()
                raise

        t = threading.Thread(target=run, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _capture(self) -> None:
        from pipeline.capture import CaptureError, open_source, track_frames
        from pipeline.tracking import StreamTracker

        try:
            src = open_source(self.cfg.driver, loop=self.cfg.loop_driver, realtime=True)
        except CaptureError as e:
            raise CallError(str(e)) from e
        self.log(f"driver: {src.description}")
        tracker = StreamTracker()
        try:
            for t in track_frames(src, tracker, wanted=self.link.peer_wants_video):
                if self.stop.is_set():
                    return
                if t.skipped:
                    continue
                if t.face is None:
                    self.stats.count("track_errors" if t.error else "no_face")
                    continue
                t0 = time.perf_counter()
                msg = pack_driver_frame(t.face, self.cfg.media)
                self.stats.time("track_and_pack", t.track_ms + (time.perf_counter() - t0) * 1e3)
                self.stats.counters["video_bytes_last"] = sum(a.nbytes for a in msg.arrays.values())
                self.link.offer_video(msg)
            self.end_reason = self.end_reason or "the driver ended"
            self.stop.set()
        except CaptureError as e:
            raise CallError(str(e)) from e
        finally:
            tracker.close()
            src.close()

    def _microphone(self, mic: AudioSource) -> None:
        fmt = self.cfg.audio.fmt
        seq = 0
        while not self.stop.is_set():
            read = mic.read()
            if read is None:
                return
            pcm, t_capture = read
            if not self.link.peer_wants_video():
                continue
            block = AudioBlock(seq, t_capture, self.codec.encode(pcm), self.codec.name, fmt.rate)
            self.link.offer_audio(audio_to_message(block))
            seq += 1

    def _on_audio(self, msg: Message, t_local: int | None) -> None:  # link thread
        fmt = self.cfg.audio.fmt
        try:
            block = audio_from_message(msg, codec=self.codec.name, rate=fmt.rate, samples=fmt.block_samples)
        except WireError:
            self.stats.count("audio_bad_block")
            return
        if t_local is None:
            self.stats.count("audio_before_clock_sync")
            t_local = time.monotonic_ns()
        self.playout.push(t_local, self.codec.decode(block.codes))

    def _reenactor(self) -> Any:
        from pipeline.reenact import Reenactor

        return Reenactor(self.cfg.avatar.build(progress=False), self.cfg.plan.views)

    def _show_peer(self, reen, comp) -> None:
        src = self.link.take_source()
        if src is not None:
            try:
                face = unpack_source(src)
                t0 = time.perf_counter()
                reen.set_source(face)
                reen.backend.reset_neutral()  # a new peer: their first frame is their neutral face
                self.stats.time("prepare_peer_source", (time.perf_counter() - t0) * 1e3)
                self.stats.count("peer_sources")
                self.log(f"showing {src.meta.get('name') or 'the peer'}'s avatar")
            except (WireError, ValueError) as e:
                self.stats.count("bad_peer_source")
                self.log(f"the peer's source photo could not be used ({e}); waiting for another")
        got = self.link.take_video()
        if got is None or reen.source is None:
            return
        msg, _ = got
        t_local = self.link.to_local_ns(msg.t_capture_ns)
        if t_local is not None and time.monotonic_ns() - t_local > MAX_FRAME_AGE_NS:
            self.stats.count("frames_too_old")  # delivered late after a stall: never show it
            return
        try:
            obs = unpack_driver_frame(msg)
        except WireError as e:
            self.stats.count(f"bad_frame.{e.reason}")
            return
        t0 = time.perf_counter()
        scene = reen.drive(obs)
        if scene is None:
            self.stats.count("frames_not_drivable")
            return
        views = reen.render(scene)
        self.stats.time("drive_and_render", (time.perf_counter() - t0) * 1e3)
        # The peer's seq starts again at 0 when it reconnects: the display gets its own numbers.
        comp.submit(self._display_seq, views.view_ids, views.rgb_u8, t_local or 0)
        self._display_seq += 1
        with comp.ctx:  # the avatar renderer has its own GL context on this thread
            info = comp.present()
            if info is not None and self.recording is not None:
                self.recording.show(comp.shown_quilt())
        self.stats.tick("frames_rendered")
        if info is not None and info.seq == self._display_seq - 1:
            self.stats.count("frames_presented")
        if t_local is not None and info is not None:
            lat = (time.monotonic_ns() - t_local) / 1e6
            self.latency_ms.append(lat)
            ema = self._video_latency_ema
            self._video_latency_ema = lat if ema is None else 0.9 * ema + 0.1 * lat
            self.playout.follow_video(self._video_latency_ema)
        if self.cfg.snapshot is not None and info is not None:
            self._frontal = self._frontal_view(comp, views)
            self._frontal_seq = msg.seq

    def _frontal_view(self, comp, views) -> np.ndarray:
        """The middle view as displayed (read back from an offscreen display), else as rendered."""
        front = self.cfg.plan.views.num_views // 2
        read = getattr(comp.sink, "read_rgb", None)
        if self.cfg.output.kind != "headless" or read is None:
            return views.rgb_u8[list(views.view_ids).index(front)]
        with comp.ctx:
            img = read()
        x, y, w, h = comp.config.layout.tile_rect_px(front)
        return img[y : y + h, x : x + w].copy()

    # -- metrics -----------------------------------------------------------------------
    def metrics(self) -> dict[str, Any]:
        link = self.link
        p = link.peer
        t0 = self._started
        pl = self.playout
        return {
            "state": link.state,
            "mode": self.cfg.link.mode,
            "endpoint": link.bound_endpoint or self.cfg.link.endpoint,
            "pid": os.getpid(),
            "this_key": fingerprint(self.keypair.public),
            "peer": None
            if p is None
            else {"name": p.name, "fingerprint": p.fingerprint, "session": p.session},
            "history": [[round(t - t0, 3), s] for t, s in link.history],
            "uptime_s": round(time.monotonic() - t0, 2),
            "problem": link.problem,
            "bandwidth_kBps": link.bandwidth(),
            "bytes_total": {k: r.total for k, r in link.rates.items()},
            "clock": link.clock(),
            "quilt": quilt_summary(self.cfg.plan.quilt),
            "output": {"kind": self.cfg.output.kind, "display": self.cfg.output.display},
            "video": {
                "frames_rendered": self.stats.counters.get("frames_rendered", 0),
                "frames_presented": self.stats.counters.get("frames_presented", 0),
                "capture_to_display_ms": _percentiles(self.latency_ms),
                "render_fps": round(self.stats.rate("frames_rendered"), 2),
                "snapshot_seq": self._snap_written,
            },
            "audio": {
                "note": self._audio_note,
                "played_blocks": pl.played,
                "silent_blocks": pl.silent,
                "late_dropped": pl.late_dropped,
                "playout_delay_ms": round(pl.delay_ns / 1e6, 1),
                "capture_to_play_ms": _percentiles(list(pl.latencies_ms)),
                "av_offset_ms": _percentiles(list(pl.offsets_ms)),
            },
            "link_stats": link.stats.snapshot(),
            "session_stats": self.stats.snapshot(),
            "end_reason": self.end_reason,
        }

    def _write_outputs(self) -> None:
        m = self.cfg.metrics_out
        if (
            self.cfg.snapshot is not None
            and self._frontal is not None
            and self._frontal_seq != self._snap_written
        ):
            import cv2

            snap = self.cfg.snapshot
            snap.parent.mkdir(parents=True, exist_ok=True)
            tmp = snap.with_name(snap.stem + ".tmp" + snap.suffix)
            cv2.imwrite(str(tmp), cv2.cvtColor(self._frontal, cv2.COLOR_RGB2BGR))
            os.replace(tmp, snap)
            self._snap_written = self._frontal_seq
        if m is not None:
            m.parent.mkdir(parents=True, exist_ok=True)
            tmp = m.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.metrics(), indent=1))
            os.replace(tmp, m)

    def _report_state(self, app) -> None:
        st = self.link.state
        if st == self._last_state:
            return
        self._last_state = st
        p = self.link.peer
        who = f"{p.name or 'peer'} ({p.fingerprint})" if p is not None else ""
        text = {
            "waiting": f"waiting for a caller on {self.link.bound_endpoint}",
            "calling": f"calling {self.cfg.link.endpoint}",
            "connected": f"connected to {who}",
            "disconnected": f"peer disconnected: {who}; waiting for them to come back",
            "refused": f"refused: {self.link.problem}",
        }.get(st, st)
        self.log(f"call: {text}")
        if app is not None:
            app.window.set_caption(f"voodoo-holo call: {text}")

    # -- main ---------------------------------------------------------------------------
    def run(self) -> int:
        source_msg = None
        if self.cfg.link.sends:
            from pipeline.tracking import PhotoError, prepare_photo

            if self.cfg.source is None:
                raise CallError("sending needs a source photo")
            try:
                face = prepare_photo(self.cfg.source)
            except PhotoError as e:
                raise CallError(f"source photo: {e}") from e
            source_msg = pack_source(face, self.cfg.media, self.cfg.link.name)
        link = self.cfg.link
        mic = spk = comp = app = reen = None
        old = {s: signal.signal(s, lambda *_: self.stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            mic, spk, self._audio_note = open_audio(self.cfg.audio, link.sends, link.receives, self.log)
            if link.receives:
                from app.platform import create_gl_context
                from display.output import open_output

                out = self.cfg.output
                try:
                    comp, app = open_output(
                        out.kind, self.cfg.plan.quilt, out.calibration, make_context=create_gl_context,
                        window_xy=out.window_xy, caption="voodoo-holo call", log=self.log,
                    )  # fmt: skip
                except RuntimeError as e:
                    raise CallError(str(e)) from e
                if self.cfg.record is not None:
                    from app.call.record import CallRecording

                    self.recording = CallRecording(
                        self.cfg.record, self.cfg.plan.quilt, self.cfg.audio.fmt.rate
                    )
                reen = self._reenactor()
            if source_msg is not None:
                self.link.set_source(source_msg)
            self.link.on_audio = self._on_audio
            try:
                self.link.start()
            except LinkError as e:
                raise CallError(str(e)) from e
            if link.sends:
                self._thread("capture", self._capture)
                if mic is not None:
                    self._thread("mic", lambda: self._microphone(mic))
            if spk is not None:
                spk.start(
                    self.playout.pull if self.recording is None else self.recording.tap(self.playout.pull)
                )
            self._loop(reen, comp, app)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            self.stop.set()
            self.link.stop()
            for t in self._threads:
                t.join(timeout=5.0)
            for closing in (mic, spk, reen):
                if closing is not None:
                    closing.close()
            if comp is not None:
                with comp.ctx:
                    comp.release()
            if app is not None:
                app.window.close()
            self._write_outputs()
            if self.recording is not None:  # after the speaker: it no longer pulls audio
                self.log(self.recording.close())
        if self.fatal:
            raise CallError(self.fatal)
        self.log(f"call ended: {self.end_reason}")
        return self.exit_code

    def _loop(self, reen, comp, app) -> None:
        last_out = 0.0
        hinted = False
        deadline = None if self.cfg.duration_s is None else time.monotonic() + self.cfg.duration_s
        while not self.stop.is_set():
            self._handle_unknown_keys()
            self._report_state(app)
            if self.link.error is not None:
                self.fatal = self.link.error
                break
            if self.link.state == "refused":
                self._report_state(app)  # the state may have changed since the call above
                self.end_reason, self.exit_code = "refused by the peer", EXIT_REFUSED
                break
            if self.link.state == "calling" and not hinted and time.monotonic() - self._started > 10.0:
                hinted = True
                self.log(
                    f"no answer from {self.cfg.link.endpoint} yet ({self.link.problem or 'no connection'}). "
                    "Is 'voodoo-holo call --listen' running there, and is its port reachable? "
                    "Still trying."
                )
            if reen is not None:
                self._show_peer(reen, comp)
            if app is not None:
                app.window.dispatch_events()
                with comp.ctx:
                    comp.present()
                if app.closed:
                    self.end_reason = "window closed"
                    break
            now = time.monotonic()
            if now - last_out > 1.0:
                self._write_outputs()
                last_out = now
            if deadline is not None and now > deadline:
                self.end_reason = "duration reached"
                break
            if reen is None or self.link.state != "connected":
                time.sleep(0.02)
            else:
                time.sleep(0.005)
        if not self.end_reason:
            self.end_reason = "interrupted"
        sys.stdout.flush()
