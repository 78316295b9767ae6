"""What every role process shares: its config, ZeroMQ sockets, heartbeats, statistics, stop.

A role is a loop ``receive -> call the pure core -> send`` (see :mod:`app.live.roles`).
This module holds the plumbing so that the loops stay short:

* :class:`RoleConfig` — everything a role needs, passed by the launcher as JSON.
* :class:`Stats` — per-stage latency percentiles, counters (frames, drops, malformed messages by
  reason), and rates; sent in every heartbeat and written to the metrics file by the launcher.
* :class:`RoleRuntime` — one ``zmq.Context`` per process, the heartbeat socket, the stop flag
  (SIGTERM/SIGINT, or the launcher vanishing) and helpers for latest-value links.

Link semantics (chosen per link, visible here):

* latest-value (driver frames, scenes): tiny high-water marks, non-blocking sends that drop
  when the peer is busy, and :meth:`RoleRuntime.recv_latest` that drains a socket and keeps
  only the newest decodable message. A slow stage never builds a queue.
* every-message (views to the compositor, heartbeats): ordinary PUSH/PULL with a bounded
  queue; a full queue drops (counted) rather than blocking a renderer.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import zmq

from app.compose import AvatarChoice, OutputChoice, ViewPlan, plan_views
from pipeline.jsonconfig import from_json, to_json
from pipeline.messages import heartbeat_message
from pipeline.stats import Stats
from pipeline.wire import Message, WireError, decode, encode

__all__ = ["RoleConfig", "RoleRuntime", "Stats"]


RoleName = Literal["capture", "estimator", "renderer", "compositor"]


@dataclass
class RoleConfig:
    """Configuration of one role process (JSON on the command line of the child).

    Attributes:
        role: ``capture`` | ``estimator`` | ``renderer`` | ``compositor``.
        name: unique name in the graph (``renderer-2``).
        endpoints: link name -> ZeroMQ endpoint to connect to (``ipc://...`` or ``tcp://host:port``).
        bind_endpoints: where a binding role binds a link when that differs (``tcp://0.0.0.0:port``).
        plan: the whole sweep (views, size, cameras) and its quilt.
        view_ids: the sweep indices this renderer draws (renderers only).
        avatar: the avatar (backend, weights, device inside this pinned process).
        output: where the compositor shows the views.
        source: the source photo; ``driver``: a video/folder path or a webcam index.
        loop_driver: start a driver file again when it ends.
        pace_driver: play a driver file at its own frame rate (False: give the pipeline the
            next frame as soon as it takes one; ``bench pipeline`` measures its capacity so).
        renderers: the renderers the estimator waits for before publishing a new scene.
        straggler_s: publish anyway after this long when a renderer is late or dead.
        grant_timeout_s: the capture tracks a frame anyway after this long without a grant.
        shared_memory: tri-planes to the renderers through shared memory (all roles on this host).
        curve_server_key: the launcher machine's public key when links are on tcp (CURVE).
        heartbeat_s: heartbeat period.
        launcher_pid: the role exits when this process disappears (no orphans).
        record_path: the compositor records what it shows to this quilt video (``--record``).
        seq_base: added to a capture's frame numbers; the launcher gives each capture process
            its own block, so that ``seq`` keeps growing across capture restarts.
    """

    role: RoleName
    name: str
    endpoints: dict[str, str]
    bind_endpoints: dict[str, str] = field(default_factory=dict)
    plan: ViewPlan = field(default_factory=plan_views)
    view_ids: list[int] = field(default_factory=list)
    avatar: AvatarChoice = field(default_factory=AvatarChoice)
    output: OutputChoice = field(default_factory=OutputChoice)
    source: Path | None = None
    driver: str | None = None
    loop_driver: bool = True
    pace_driver: bool = True
    renderers: list[str] = field(default_factory=list)
    straggler_s: float = 1.0
    grant_timeout_s: float = 1.0
    shared_memory: bool = True
    curve_server_key: str | None = None
    heartbeat_s: float = 0.5
    launcher_pid: int = 0
    record_path: Path | None = None
    seq_base: int = 0

    def __post_init__(self) -> None:
        if self.role not in ("capture", "estimator", "renderer", "compositor"):
            raise ValueError(f"unknown role {self.role!r}")
        if self.heartbeat_s <= 0:
            raise ValueError("heartbeat_s must be positive")

    def to_json(self) -> str:
        return to_json(self)

    @classmethod
    def from_json(cls, text: str) -> RoleConfig:
        return from_json(cls, text)


class RoleRuntime:
    """ZeroMQ context, heartbeats and the stop flag of one role process."""

    def __init__(self, cfg: RoleConfig) -> None:
        self.cfg = cfg
        self.ctx = zmq.Context()
        self.curve = None
        if cfg.curve_server_key:
            from app.live.netsec import CurveSockets

            self.curve = CurveSockets(self.ctx, cfg.curve_server_key)
        self.stats = Stats()
        self.stop = False
        self._sockets: list[zmq.Socket] = []
        self._last_hb = 0.0
        self._hb_seq = 0
        self.hb = self.socket(zmq.PUSH, "heartbeat", bind=False, hwm=16)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    # -- lifecycle -----------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: object) -> None:
        self.stop = True

    def should_stop(self) -> bool:
        if self.stop:
            return True
        ppid = self.cfg.launcher_pid
        if ppid and os.getppid() != ppid:
            # The launcher is gone: exit instead of becoming an orphan.
            self.stop = True
        return self.stop

    def close(self) -> None:
        for s in self._sockets:
            s.close(linger=0)
        if self.curve is not None:
            self.curve.close()
        self.ctx.term()

    # -- sockets -------------------------------------------------------------------------
    def socket(self, kind: int, link: str, *, bind: bool, hwm: int = 2, subscribe: bool = True) -> zmq.Socket:
        """A socket on the endpoint of ``link``, with LINGER 0 and small high-water marks."""
        endpoint = (self.cfg.bind_endpoints.get(link) if bind else None) or self.cfg.endpoints[link]
        s = self.ctx.socket(kind)
        if self.curve is not None:
            self.curve.prepare(s, endpoint, bind=bind)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.SNDHWM, hwm)
        s.setsockopt(zmq.RCVHWM, hwm)
        if kind == zmq.SUB and subscribe:
            s.setsockopt(zmq.SUBSCRIBE, b"")
        if bind:
            s.bind(endpoint)
        else:
            s.connect(endpoint)
        self._sockets.append(s)
        return s

    def send(self, sock: zmq.Socket, msg: Message, *, drop_key: str = "dropped_send") -> bool:
        """Send without blocking; count and drop when the peer's queue is full."""
        try:
            sock.send_multipart(encode(msg), flags=zmq.NOBLOCK, copy=False)
            return True
        except zmq.Again:
            self.stats.count(drop_key)
            return False

    def recv_latest(self, sock: zmq.Socket, timeout_ms: int = 100) -> Message | None:
        """Wait up to ``timeout_ms`` for a message, then drain: return the newest valid one.

        Older messages are counted as ``stale_dropped``; malformed ones as
        ``malformed.<reason>``. Never raises on bad input.
        """
        if not sock.poll(timeout_ms):
            return None
        newest: Message | None = None
        while True:
            try:
                frames = sock.recv_multipart(flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            msg = self.decode(frames)
            if msg is None:
                continue
            if newest is not None:
                self.stats.count("stale_dropped")
            newest = msg
        return newest

    def recv(self, sock: zmq.Socket, timeout_ms: int = 100) -> Message | None:
        """Receive one message (every-message links); malformed ones are counted and skipped."""
        deadline = time.monotonic() + timeout_ms / 1000.0
        while True:
            remaining = int(max(0.0, deadline - time.monotonic()) * 1000)
            if not sock.poll(remaining):
                return None
            msg = self.decode(sock.recv_multipart(copy=False))
            if msg is not None:
                return msg

    def decode(self, frames: list[Any]) -> Message | None:
        try:
            return decode(frames)
        except WireError as e:
            self.stats.count(f"malformed.{e.reason}")
            return None

    # -- heartbeats ----------------------------------------------------------------------
    def heartbeat(self, force: bool = False, **extra: Any) -> None:
        now = time.monotonic()
        if not force and now - self._last_hb < self.cfg.heartbeat_s:
            return
        self._last_hb = now
        self._hb_seq += 1
        snap = self.stats.snapshot()
        snap["cpu_s"] = round(time.process_time(), 4)  # this process, all its threads
        snap.update(extra)
        self.send(
            self.hb, heartbeat_message(self.cfg.name, os.getpid(), snap, self._hb_seq), drop_key="dropped_hb"
        )
