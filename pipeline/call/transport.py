"""The network link of a call: one CURVE-encrypted ZeroMQ connection between two peers.

The listening side binds a ROUTER socket (CURVE server; ZAP lets in only accepted client
keys); the calling side connects a DEALER (CURVE client pinned to the listener's key, binds
nothing). One thread owns the socket; the rest of the call talks to :class:`PeerLink`
through thread-safe slots.

Links and their semantics (all multiplexed on the one connection):

============  ====================  =========================================================
stream        semantics             how
============  ====================  =========================================================
driver_frame  latest value          one outgoing slot; sent only while fewer than ``credits``
                                    frames await the peer's ``ack``, otherwise a newer frame
                                    replaces it (counted ``video_superseded``): a slow link
                                    drops frames instead of queueing them
audio         small bounded queue   20 ms blocks, oldest dropped beyond 10 (200 ms)
source        once per connection   sent on ``hello`` and on ``need_source``
control       every message         ``hello`` / ``ping`` / ``pong`` / ``ack`` / ``bye``
============  ====================  =========================================================

Liveness: both sides ping every ``ping_interval_s``; any message counts. Nothing heard for
``peer_timeout_s`` (or a ``bye``) -> state ``disconnected``; the DEALER reconnects by itself
and a new ``hello`` resumes the call, on either side, without restarting anything.
The ping/pong round trips also estimate the peer's clock offset (NTP style, minimum-RTT
sample), so capture times from the peer can be put on this machine's clock.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import zmq
from zmq.utils.monitor import recv_monitor_message

from pipeline.call.measure import ClockSync, Rate
from pipeline.messages import (
    Ack,
    Bye,
    Hello,
    LinkControl,
    Ping,
    Pong,
    Who,
    link_control_from_message,
    link_control_to_message,
)
from pipeline.security import Keypair, configure_client, configure_server, fingerprint, start_authenticator
from pipeline.stats import Stats
from pipeline.wire import Message, WireError, decode, encode

__all__ = ["LinkError", "LinkSettings", "PeerInfo", "PeerLink"]

log = logging.getLogger("voodoo-holo.call")

State = Literal["waiting", "calling", "connected", "disconnected", "refused", "stopped"]


class LinkError(RuntimeError):
    """The link cannot start (address in use, bad endpoint); the message says which."""


@dataclass(frozen=True)
class LinkSettings:
    """Attributes:
    mode: ``listen`` (bind ``endpoint``) or ``dial`` (connect to ``endpoint``).
    endpoint: ``tcp://ADDR:PORT`` (port 0 when listening: any free port).
    peer_key: the listener's public key (dial only).
    name: how this side introduces itself.
    sends / receives: what this side does (one-way calls turn one off).
    credits: driver frames in flight before new ones replace the waiting one.
    max_kBps: optional cap on what this side sends (None: no cap).
    """

    mode: Literal["listen", "dial"]
    endpoint: str
    peer_key: bytes | None = None
    name: str = ""
    sends: bool = True
    receives: bool = True
    credits: int = 2
    ping_interval_s: float = 0.5
    peer_timeout_s: float = 3.0
    max_kBps: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("listen", "dial"):
            raise ValueError(f"mode must be listen or dial, got {self.mode!r}")
        if self.mode == "dial" and self.peer_key is None:
            raise ValueError("calling a peer needs its public key")
        if self.credits < 1 or self.peer_timeout_s <= self.ping_interval_s:
            raise ValueError("credits must be >= 1 and peer_timeout_s > ping_interval_s")
        if self.max_kBps is not None and self.max_kBps <= 0:
            raise ValueError("max_kBps must be positive")


@dataclass
class PeerInfo:
    key: str
    name: str
    session: str
    sends: bool
    receives: bool

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)


class PeerLink:
    """One call's connection; :meth:`start` runs it on its own thread."""

    def __init__(self, settings: LinkSettings, keypair: Keypair, allow: Callable[[bytes], bool]) -> None:
        self.settings = settings
        self.keypair = keypair
        self._allow_key = allow
        self.stats = Stats()
        self.state: State = "waiting" if settings.mode == "listen" else "calling"
        self.history: list[tuple[float, str]] = [(time.monotonic(), self.state)]
        self.bound_endpoint: str | None = None
        self.peer: PeerInfo | None = None
        self.refused_keys: deque[bytes] = deque(maxlen=16)  # unknown keys that knocked (listen)
        self.problem = ""
        self.error: str | None = None
        self.rates = {k: Rate() for k in ("sent", "received", "video_sent", "audio_sent")}
        self.on_audio: Callable[[Message, int | None], None] | None = None
        self._session_id = os.urandom(6).hex()
        self._lock = threading.Lock()
        self._video_out: Message | None = None
        self._audio_out: deque[Message] = deque(maxlen=10)
        self._video_in: tuple[Message, int] | None = None
        self._source_in: Message | None = None
        self._source_out: Message | None = None
        self._source_sent_to: str | None = None
        self._in_flight: dict[int, int] = {}
        self.clock_sync = ClockSync()
        self._identity: bytes | None = None
        self._last_seen = 0.0
        self._last_ping = 0.0
        self._last_hello = 0.0
        self._ping_id = 0
        self._tokens = 0.0
        self._tokens_t = time.monotonic()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._start_error: LinkError | None = None
        self._thread = threading.Thread(target=self._run, name="call-link", daemon=True)

    # -- public, any thread ------------------------------------------------------------
    def start(self, timeout_s: float = 10.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise LinkError("the network link did not start")
        if self._start_error is not None:
            raise self._start_error

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)

    def set_source(self, msg: Message) -> None:
        with self._lock:
            self._source_out = msg
            self._source_sent_to = None

    def peer_wants_video(self) -> bool:
        p = self.peer
        return self.state == "connected" and p is not None and p.receives and self.settings.sends

    def offer_video(self, msg: Message) -> None:
        """Latest value: replaces a frame still waiting for a credit (counted)."""
        with self._lock:
            if self._video_out is not None:
                self.stats.count("video_superseded")
            self._video_out = msg

    def offer_audio(self, msg: Message) -> None:
        with self._lock:
            if len(self._audio_out) == self._audio_out.maxlen:
                self.stats.count("audio_dropped_queue")
            self._audio_out.append(msg)

    def take_video(self) -> tuple[Message, int] | None:
        """The newest received driver frame and when it arrived (local ns), once."""
        with self._lock:
            v, self._video_in = self._video_in, None
            return v

    def take_source(self) -> Message | None:
        with self._lock:
            s, self._source_in = self._source_in, None
            return s

    def to_local_ns(self, t_peer_ns: int) -> int | None:
        """A peer capture time on this machine's monotonic clock (None before the first pong)."""
        return self.clock_sync.to_local(t_peer_ns)

    def clock(self) -> dict[str, float | None]:
        offset, rtt = self.clock_sync.offset_ns(), self.clock_sync.rtt_ns()
        return {
            "offset_ms": None if offset is None else offset / 1e6,
            "rtt_ms": None if rtt is None else rtt / 1e6,
        }

    def bandwidth(self) -> dict[str, float]:
        return {k: round(r.kBps(), 2) for k, r in self.rates.items()}

    # -- the link thread -----------------------------------------------------------------
    def _set_state(self, state: State, why: str = "") -> None:
        if state != self.state:
            self.state = state
            self.history.append((time.monotonic(), state))
            log.info("call: %s%s", state, f" ({why})" if why else "")

    def _open(self, ctx: zmq.Context) -> tuple[zmq.Socket, zmq.Socket | None, Any]:
        s = self.settings
        auth = None
        monitor = None
        if s.mode == "listen":
            auth = start_authenticator(ctx, self._zap_allow)
            sock = ctx.socket(zmq.ROUTER)
            configure_server(sock, self.keypair)
            sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        else:
            sock = ctx.socket(zmq.DEALER)
            assert s.peer_key is not None
            configure_client(sock, self.keypair, s.peer_key)
            sock.setsockopt(zmq.IMMEDIATE, 1)  # nothing queues for a peer that is not there
            monitor = sock.get_monitor_socket(
                zmq.EVENT_HANDSHAKE_FAILED_AUTH
                | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
                | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                | zmq.EVENT_HANDSHAKE_SUCCEEDED
                | zmq.EVENT_DISCONNECTED
            )
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 64)
        sock.setsockopt(zmq.RCVHWM, 64)
        sock.setsockopt(zmq.HEARTBEAT_IVL, 1000)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3000)
        sock.setsockopt(zmq.HEARTBEAT_TTL, 3000)
        sock.setsockopt(zmq.RECONNECT_IVL, 200)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
        host = s.endpoint.split("://", 1)[-1].rsplit(":", 1)[0]
        if host == "*" or ":" in host:
            sock.setsockopt(zmq.IPV6, 1)  # "*" = every interface, IPv4 and IPv6
        try:
            if s.mode == "listen":
                sock.bind(s.endpoint)
                self.bound_endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
            else:
                sock.connect(s.endpoint)
        except zmq.ZMQError:
            self._close(sock, monitor, auth)
            raise
        return sock, monitor, auth

    @staticmethod
    def _close(sock: zmq.Socket, monitor: zmq.Socket | None, auth: Any) -> None:
        if monitor is not None:
            sock.disable_monitor()
            monitor.close(linger=0)
        sock.close(linger=0)
        if auth is not None:
            auth.stop()

    def _zap_allow(self, key: bytes) -> bool:
        ok = self._allow_key(key)
        if not ok:
            self.stats.count("refused_unknown_key")
            if key not in self.refused_keys:
                self.refused_keys.append(key)
        return ok

    def _run(self) -> None:
        ctx = zmq.Context()
        sock = monitor = auth = None
        try:
            sock, monitor, auth = self._open(ctx)
        except (zmq.ZMQError, ValueError) as e:
            self._start_error = LinkError(f"cannot open {self.settings.endpoint}: {e}")
        self._ready.set()
        if self._start_error is not None or sock is None:
            ctx.term()
            return
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        if monitor is not None:
            poller.register(monitor, zmq.POLLIN)
        try:
            self._loop(sock, monitor, poller)
        except Exception as e:  # reported to the session, which ends the call with it
            self.error = f"network link failed: {type(e).__name__}: {e}"
            raise
        finally:
            self._set_state("stopped")
            self._close(sock, monitor, auth)
            ctx.term()

    def _loop(self, sock: zmq.Socket, monitor: zmq.Socket | None, poller: zmq.Poller) -> None:
        while not self._stop.is_set():
            events = dict(poller.poll(5))
            if monitor is not None and monitor in events:
                self._on_monitor(recv_monitor_message(monitor))
            while sock.poll(0):
                self._receive(sock, sock.recv_multipart(copy=False))
            self._timers(sock)
            self._flush(sock)
        if self._routable():
            self._control(sock, Bye())
            time.sleep(0.05)

    def _on_monitor(self, ev: Mapping[str, Any]) -> None:
        kind = ev["event"]
        if kind == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            self.problem = (
                f"the peer refused this machine's key ({fingerprint(self.keypair.public)}). Ask them to "
                "answer 'y' at their prompt, or to run this command, then call again: "
                f"voodoo-holo keys --accept {self.keypair.shareable}"
            )
            self._set_state("refused", "key not accepted by the peer")
        elif kind in (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL):
            self.stats.count("handshake_failed")
            self.problem = (
                "the encrypted handshake failed: the peer's key is probably not the one given "
                f"({fingerprint(self.settings.peer_key or b'')}), or it runs another program on that port"
            )
        elif kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self.stats.count("connections")
            self.problem = ""
        elif kind == zmq.EVENT_DISCONNECTED:
            self.stats.count("transport_disconnects")

    def _routable(self) -> bool:
        return self.settings.mode == "dial" or self._identity is not None

    def _send(self, sock: zmq.Socket, msg: Message, stream: str) -> bool:
        frames = encode(msg)
        if self.settings.mode == "listen":
            if self._identity is None:
                return False
            frames = [self._identity, *frames]
        try:
            sock.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:
            self.stats.count(f"{stream}_dropped_hwm")
            return False
        except zmq.ZMQError as e:
            if e.errno != zmq.EHOSTUNREACH:
                raise
            self.stats.count(f"{stream}_unroutable")
            return False
        n = sum(memoryview(f).nbytes for f in frames)
        self.rates["sent"].add(n)
        if stream in ("video", "audio"):
            self.rates[f"{stream}_sent"].add(n)
        if self.settings.max_kBps is not None:
            self._tokens -= n
        return True

    def _control(self, sock: zmq.Socket, ctl: LinkControl) -> None:
        self._send(sock, link_control_to_message(ctl), "control")

    def _hello(self, sock: zmq.Socket) -> None:
        s = self.settings
        self._control(sock, Hello(s.name, self._session_id, s.sends, s.receives))
        self._last_hello = time.monotonic()

    def _timers(self, sock: zmq.Socket) -> None:
        now = time.monotonic()
        s = self.settings
        if self.state == "refused":
            return
        if s.mode == "dial" and self.state != "connected" and now - self._last_hello > 1.0:
            self._hello(sock)
        if self._routable() and now - self._last_ping > s.ping_interval_s:
            self._ping_id += 1
            self._control(sock, Ping(self._ping_id))
            self._last_ping = now
        if self.state == "connected" and now - self._last_seen > s.peer_timeout_s:
            self._set_state("disconnected", f"nothing heard for {s.peer_timeout_s:.0f} s")
            self.stats.count("peer_lost")
        if self._in_flight:
            stale = [q for q, t in self._in_flight.items() if time.monotonic_ns() - t > 1_000_000_000]
            for q in stale:
                del self._in_flight[q]
                self.stats.count("video_ack_lost")

    def _flush(self, sock: zmq.Socket) -> None:
        if self.state != "connected" or self.peer is None:
            with self._lock:
                if self._video_out is not None:
                    self.stats.count("video_dropped_not_connected")
                self._video_out = None
                self._audio_out.clear()
            return
        with self._lock:
            send_source = self._source_out is not None and self._source_sent_to != self.peer.session
            source = self._source_out
            audio = list(self._audio_out)
            self._audio_out.clear()
        if send_source and source is not None and self._send(sock, source, "source"):
            self._source_sent_to = self.peer.session
            self.stats.count("source_sent")
        for a in audio:
            if self.peer.receives and self._send(sock, a, "audio"):
                self.stats.tick("audio_sent")
        cap = self.settings.max_kBps
        if cap is not None:
            now = time.monotonic()
            self._tokens = min(cap * 250.0, self._tokens + (now - self._tokens_t) * cap * 1000.0)
            self._tokens_t = now
        if len(self._in_flight) >= self.settings.credits or (cap is not None and self._tokens <= 0):
            return  # the waiting frame stays; a newer one will replace it
        with self._lock:
            video, self._video_out = self._video_out, None
        if video is not None and self._send(sock, video, "video"):
            self._in_flight[video.seq] = time.monotonic_ns()
            self.stats.tick("video_sent")

    def _receive(self, sock: zmq.Socket, frames: list[zmq.Frame]) -> None:
        t_recv = time.monotonic_ns()
        identity = None
        if self.settings.mode == "listen":
            if len(frames) < 2:
                self.stats.count("malformed.no_identity")
                return
            identity, frames = bytes(frames[0].bytes), frames[1:]
        self.rates["received"].add(sum(len(f.buffer) for f in frames))
        try:
            msg = decode(frames, copy=True)
        except WireError as e:
            self.stats.count(f"malformed.{e.reason}")
            return
        ctl: LinkControl | None = None
        if msg.kind == "control":
            try:
                ctl = link_control_from_message(msg)
            except WireError as e:
                self.stats.count(f"malformed.{e.reason}")
                return
        if isinstance(ctl, Hello):
            key = ""
            if identity is not None:  # the key ZAP accepted (only a CURVE server knows it)
                key = str(frames[0].get("User-Id") or "")
            self._on_hello(sock, ctl, identity, key)
            return
        if identity is not None and identity != self._identity:
            # A peer we have not been introduced to (this side restarted): ask for a hello.
            self.stats.count("from_unknown_route")
            saved, self._identity = self._identity, identity
            self._control(sock, Who())
            self._identity = saved
            return
        self._last_seen = time.monotonic()
        if self.state == "disconnected" and self.peer is not None:
            self._set_state("connected", "peer back")
        if ctl is not None:
            self._on_control(sock, ctl, msg, t_recv)
        else:
            self._dispatch(sock, msg, t_recv)

    def _on_hello(self, sock: zmq.Socket, hello: Hello, identity: bytes | None, key: str) -> None:
        session = hello.session
        if self.settings.mode == "dial":
            key = (self.settings.peer_key or b"").decode("ascii")
        new = self.peer is None or self.peer.session != session
        self.peer = PeerInfo(key, hello.name[:64], session, hello.sends, hello.receives)
        if new:
            self.clock_sync.clear()
            with self._lock:
                self._video_in = None
            self._in_flight.clear()
            self.stats.count("peer_sessions")
        self._identity = identity if identity is not None else self._identity
        self._last_seen = time.monotonic()
        if self.settings.mode == "listen":
            self._hello(sock)
        self._set_state("connected", f"{self.peer.name or 'peer'} {self.peer.fingerprint}")

    def _on_control(self, sock: zmq.Socket, ctl: LinkControl, msg: Message, t_recv: int) -> None:
        if isinstance(ctl, Ping):
            self._control(sock, Pong(ctl.id, msg.t_sent_ns, t_recv))
        elif isinstance(ctl, Pong):
            self.clock_sync.add(ctl.t0, ctl.t1, msg.t_sent_ns, t_recv)
        elif isinstance(ctl, Ack):
            self._in_flight.pop(ctl.seq, None)
        elif isinstance(ctl, Bye):
            self._set_state("disconnected", "the peer hung up")
            self.stats.count("peer_hung_up")
        elif isinstance(ctl, Who):
            self._hello(sock)

    def _dispatch(self, sock: zmq.Socket, msg: Message, t_recv: int) -> None:
        if msg.kind == "driver_frame":
            self._control(sock, Ack(msg.seq))
            self.stats.tick("video_received")
            with self._lock:
                if self._video_in is not None:
                    self.stats.count("video_stale_dropped")
                self._video_in = (msg, t_recv)
        elif msg.kind == "source":
            self.stats.count("source_received")
            with self._lock:
                self._source_in = msg
        elif msg.kind == "audio":
            self.stats.tick("audio_received")
            if self.on_audio is not None:
                self.on_audio(msg, self.to_local_ns(msg.t_capture_ns))
        else:
            self.stats.count(f"unexpected.{msg.kind}")
