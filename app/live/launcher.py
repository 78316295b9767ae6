"""The launcher: spawns every role of a live call as its own process and supervises it.

* Each role runs ``python -m app.live CONFIG_JSON`` with ``CUDA_VISIBLE_DEVICES`` set
  from the layout before the child imports torch (GPU pinning).
* Endpoints are ``ipc://`` files in a private run folder (removed at exit), so nothing listens
  on the network. The folder is locked while the launcher lives; the folders of launchers that
  died without removing theirs (SIGKILL) are removed at the next start (:mod:`app.live.rundir`).
* Every role sends heartbeats (with its statistics) to the launcher. A role whose process
  exits, or that misses heartbeats for ``hang_timeout_s``, is killed and restarted with
  exponential backoff while the other roles go on. Start-up work (loading weights, preparing
  the photo, opening the camera, fetching the source, the first render) is not held to that
  deadline: until a role has done its first unit of work (:data:`FIRST_WORK`: a captured frame,
  a scene, a batch of views, a presented frame), a silence of up to ``startup_timeout_s`` is
  allowed. In the metrics, ``startup_s`` is how long that took and ``startup_gap_s`` the longest
  silence during it.
* Each capture process numbers its frames from its own block of sequence numbers
  (``seq_base``), so a restarted capture's frames are newer than every frame before them.
* A role that cannot run (exit code :data:`~app.live.roles.EXIT_CONFIG`: no face in the photo,
  no webcam, bad weights) ends the call; the launcher's last line, on stderr, repeats the
  role's message (each role's stderr passes through the launcher, which keeps its last line).
* Ctrl-C, SIGTERM, the compositor's window being closed, or ``duration_s`` ends the call: every
  child gets SIGTERM, then SIGKILL after a grace period; no process or ipc file is left behind.
* ``metrics_out``: a JSON file rewritten twice a second and at exit with each role's name,
  current pid, restarts and statistics (latency percentiles, FPS, drops). A file that can no
  longer be written is reported once; the call goes on.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from app.compose import AvatarChoice, OutputChoice, ViewPlan, plan_views, quilt_summary
from app.live.layouts import Layout, RoleSpec
from app.live.netsec import free_port_range, split_host_port
from app.live.report import CallReport
from app.live.roles import EXIT_CONFIG
from app.live.rundir import RunFolder, sweep_dead_run_folders
from app.live.runtime import RoleConfig
from app.platform import apply_thread_environment, link_transport
from pipeline.messages import heartbeat_from_message
from pipeline.wire import WireError, decode

__all__ = ["CONFIG_PORT_OFFSET", "FIRST_WORK", "LINKS", "SEQ_BLOCK", "CallSettings", "Launcher"]

#: The links of a live call; on tcp, link i listens on the base port + i.
LINKS = ("heartbeat", "frames", "scene", "source", "views", "ready", "grant")
#: Remote workers ask for their role's configuration on the base port + this.
CONFIG_PORT_OFFSET = len(LINKS)

#: The counter (in its heartbeats) whose first increment ends a role's start-up.
FIRST_WORK = {
    "capture": "frames_captured",
    "estimator": "scenes_sent",
    "renderer": "batches_sent",
    "compositor": "frames_presented",
}

#: Wait before the first restart of a role; each further restart in a row waits twice as long (8 s at most).
FIRST_BACKOFF_S = 0.2

#: Sequence numbers each capture process may use: the n-th capture process of a call numbers
#: its frames from ``n * SEQ_BLOCK`` (2**32 frames: years at webcam rates).
SEQ_BLOCK = 1 << 32


@dataclass
class CallSettings:
    """What the user asked for (:mod:`app.commands.live` builds it from the command line).

    Attributes:
        source: the source photo.
        driver: a webcam index, a video file or a folder of frames (None: webcam 0).
        avatar / output / plan: the session's choices (see :mod:`app.compose`); ``plan`` must
            have the layout's number of views.
        duration_s: end the call after this long.
        metrics_out: JSON file rewritten every ``metrics_interval_s`` and at the end.
        loop_driver: start a driver file again when it ends.
        pace_driver: play a driver file at its own frame rate (False: as fast as the pipeline
            takes frames, to measure its capacity).
        expose: ``HOST:PORT`` to put the links on tcp (CURVE) for roles on other hosts.
        remote_roles: roles that another host runs (``voodoo-holo worker``).
        record: a quilt video of what the display shows (``--record``).
        window_head_start_s: the other roles start once the compositor's window is up (at most
            this long after it was started).
    """

    source: Path
    driver: str | None = None
    avatar: AvatarChoice = field(default_factory=AvatarChoice)
    output: OutputChoice = field(default_factory=OutputChoice)
    plan: ViewPlan = field(default_factory=plan_views)
    duration_s: float | None = None
    metrics_out: Path | None = None
    loop_driver: bool = True
    pace_driver: bool = True
    heartbeat_s: float = 0.5
    hang_timeout_s: float = 5.0
    startup_timeout_s: float = 120.0
    metrics_interval_s: float = 0.5
    expose: str | None = None
    remote_roles: tuple[str, ...] = ()
    record: Path | None = None
    window_head_start_s: float = 5.0

    def __post_init__(self) -> None:
        if self.duration_s is not None and self.duration_s <= 0:
            raise ValueError("--duration must be positive")
        if self.remote_roles and not self.expose:
            raise ValueError("roles on other hosts need --expose HOST:PORT")


@dataclass
class _Child:
    spec: RoleSpec
    config: RoleConfig
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    last_seen: float = 0.0
    heartbeats: int = 0
    running: bool = False  # it has done its first unit of work: start-up is over
    startup_s: float | None = None  # how long the current process took to start
    startup_gap_s: float = 0.0  # the longest silence while it was starting
    launches: int = 0  # processes started (or configurations served) for this role
    restarts: int = 0
    backoff_s: float = FIRST_BACKOFF_S
    restart_at: float | None = None
    last_stats: dict[str, Any] = field(default_factory=dict)
    exit_codes: list[int] = field(default_factory=list)
    remote: bool = False
    remote_pid: int | None = None
    last_message: str = ""  # the current process's last line of its own on stderr
    stderr_thread: threading.Thread | None = None


class Launcher:
    """Spawn, supervise and stop the process graph of one live call."""

    def __init__(self, layout: Layout, settings: CallSettings, *, log=print, error_log=None) -> None:
        self.layout = layout
        self.settings = settings
        self.log = log
        self.error_log = error_log or (lambda message: print(message, file=sys.stderr, flush=True))
        if settings.plan.views.num_views != layout.num_views:
            layout = self.layout = layout.with_views(settings.plan.views.num_views)
        unknown = set(settings.remote_roles) - {r.name for r in layout.roles}
        if unknown:
            raise ValueError(
                f"--remote {sorted(unknown)}: no such role (roles: {[r.name for r in layout.roles]})"
            )
        for spec in layout.roles:
            if spec.role in ("estimator", "compositor") and spec.name in settings.remote_roles:
                raise ValueError(
                    f"{spec.name} binds its links and must run here; only capture and renderers can be remote"
                )
        try:
            self._run_folder = RunFolder()
        except OSError as e:
            raise ValueError(f"cannot create the call's run folder: {e}") from e
        self.run_dir = self._run_folder.path
        try:
            self._setup(layout, settings)
        except zmq.ZMQError as e:
            self._close_links()
            self._run_folder.remove()
            raise ValueError(f"cannot open the call's links: {e}") from e
        except BaseException:
            self._close_links()
            self._run_folder.remove()
            raise

    def _setup(self, layout: Layout, settings: CallSettings) -> None:
        self.config_sock: zmq.Socket | None = None
        self.curve: Any = None
        links = LINKS
        self.bind_endpoints: dict[str, str] = {}
        server_key: str | None = None
        expose = settings.expose
        if expose is None and link_transport() == "tcp":
            expose = f"127.0.0.1:{free_port_range(len(links) + 1)}"  # no ipc here: loopback tcp
        self.expose = expose
        if expose:
            # Links on tcp (CURVE-encrypted) so roles on other hosts can join; see `worker`.
            from app.paths import user_paths
            from pipeline.security import load_or_create_keypair

            host, port = split_host_port(expose, 5600)
            local = "127.0.0.1" if host in ("0.0.0.0", "*") else host
            self.endpoints = {k: f"tcp://{local}:{port + i}" for i, k in enumerate(links)}
            self.bind_endpoints = {k: f"tcp://{host}:{port + i}" for i, k in enumerate(links)}
            self.config_port = port + len(links)
            self.expose_host = host
            self.keypair = load_or_create_keypair(user_paths().keys_dir)
            server_key = self.keypair.public_text
        else:
            self.endpoints = {k: f"ipc://{self.run_dir / k}" for k in links}
        self.children: dict[str, _Child] = {}
        for spec in layout.roles:
            cfg = RoleConfig(
                role=spec.role,  # type: ignore[arg-type]
                name=spec.name,
                endpoints=self.endpoints,
                bind_endpoints=self.bind_endpoints,
                plan=settings.plan,
                view_ids=list(spec.views),
                avatar=settings.avatar.on_device(spec.device),
                output=settings.output,
                source=settings.source,
                driver=settings.driver,
                loop_driver=settings.loop_driver,
                pace_driver=settings.pace_driver,
                renderers=[r.name for r in layout.renderers],
                curve_server_key=server_key,
                heartbeat_s=settings.heartbeat_s,
                launcher_pid=os.getpid(),
                record_path=settings.record if spec.role == "compositor" else None,
            )
            self.children[spec.name] = _Child(spec, cfg, remote=spec.name in settings.remote_roles)
        self.ctx = zmq.Context()
        self.hb = self.ctx.socket(zmq.PULL)
        self.hb.setsockopt(zmq.LINGER, 0)
        if self.expose:
            from app.live.netsec import CurveSockets

            self.curve = CurveSockets(self.ctx, self.keypair.public_text)
            self.curve.prepare(self.hb, self.bind_endpoints["heartbeat"], bind=True)
            self.config_sock = self.ctx.socket(zmq.REP)
            self.config_sock.setsockopt(zmq.LINGER, 0)
            cfg_ep = f"tcp://{self.expose_host}:{self.config_port}"
            self.curve.prepare(self.config_sock, cfg_ep, bind=True)
            self.config_sock.bind(cfg_ep)
        self.hb.bind(self.bind_endpoints.get("heartbeat", self.endpoints["heartbeat"]))
        self.report = CallReport(self.log)
        self.started = time.monotonic()
        self.malformed = 0
        #: Per role: (pid, CPU seconds, frames shown) when its CPU per frame started counting.
        self._cpu_base: dict[str, tuple[int, float, int]] = {}
        self.end_reason = ""
        self.failed = False
        self._stop = False
        self._last_metrics = 0.0
        self._metrics_error = ""

    def _close_links(self) -> None:
        """Close the launcher's own sockets and context (those that were opened)."""
        for sock in (getattr(self, "hb", None), getattr(self, "config_sock", None)):
            if sock is not None:
                sock.close(linger=0)
        if getattr(self, "curve", None) is not None:
            self.curve.close()
        ctx = getattr(self, "ctx", None)
        if ctx is not None:
            ctx.term()

    # -- processes -----------------------------------------------------------------------
    def _next_config(self, child: _Child) -> RoleConfig:
        """The role's configuration for its next process (a capture gets a new block of seqs)."""
        child.config.seq_base = child.launches * SEQ_BLOCK if child.spec.role == "capture" else 0
        child.launches += 1
        return child.config

    def _spawn(self, child: _Child) -> None:
        env = apply_thread_environment({**os.environ, **child.spec.env(), "PYTHONUNBUFFERED": "1"})
        config = self._next_config(child)
        child.proc = subprocess.Popen(
            [sys.executable, "-m", "app.live", config.to_json()],
            env=env,
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        child.last_message = ""
        child.stderr_thread = threading.Thread(
            target=self._pass_stderr, args=(child, child.proc), name=f"stderr-{child.spec.name}", daemon=True
        )
        child.stderr_thread.start()
        now = time.monotonic()
        child.started_at = now
        child.last_seen = now
        child.heartbeats = 0
        child.running = False
        child.startup_s = None
        child.startup_gap_s = 0.0
        child.last_stats = {}  # the statistics shown are always the current process's
        child.restart_at = None

    @staticmethod
    def _pass_stderr(child: _Child, proc: subprocess.Popen) -> None:
        """Copy a role's stderr to ours, keeping its last line of its own (``[name] ...``)."""
        assert proc.stderr is not None
        prefix = f"[{child.spec.name}] "
        with proc.stderr:
            for raw in iter(proc.stderr.readline, b""):
                text = raw.decode("utf-8", "replace")
                try:
                    sys.stderr.write(text)
                    sys.stderr.flush()
                except (OSError, ValueError):
                    pass  # our own stderr is gone: keep draining so the role never blocks
                if text.startswith(prefix) and child.proc is proc:
                    child.last_message = text[len(prefix) :].strip()

    def start(self) -> None:
        from pipeline.shm import sweep_orphans

        swept = sweep_orphans()  # shared memory left by a call whose processes were all killed
        if swept:
            self.log(f"removed {len(swept)} stale shared-memory segment(s)")
        for folder, pid in sweep_dead_run_folders():  # left by launchers that were killed
            self.log(f"removed the run folder {folder} of a call that ended without cleaning up (pid {pid})")
        self.log(
            f"starting {len(self.children)} processes ({self.layout.name} layout, {self.layout.num_views} views "
            f"at {self.settings.plan.views.width_px}x{self.settings.plan.views.height_px} px, "
            f"{self.settings.avatar.backend} avatar)"
        )
        # The compositor first, with a head start: its window (saying what is starting) appears
        # before the other roles compete with it for the CPU.
        order = sorted(self.children.values(), key=lambda c: c.spec.role != "compositor")
        for child in order:
            if child.remote:
                child.started_at = child.last_seen = time.monotonic()
                self.log(f"waiting for {child.spec.name} to join from another host ('voodoo-holo worker')")
                continue
            self._spawn(child)
            proc = child.proc
            if child.spec.role == "compositor" and self.settings.output.kind != "headless" and proc:
                # Its window is up when its heartbeats carry the window's status line.
                deadline = time.monotonic() + self.settings.window_head_start_s
                while (
                    "status" not in child.last_stats and time.monotonic() < deadline and proc.poll() is None
                ):
                    self._drain_heartbeats(50)

    def pids(self) -> dict[str, int | None]:
        return {
            n: (c.proc.pid if c.proc and c.proc.poll() is None else None) for n, c in self.children.items()
        }

    def _kill(self, child: _Child) -> None:
        if child.proc and child.proc.poll() is None:
            child.proc.kill()
            try:
                child.proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                pass

    def _schedule_restart(self, child: _Child, why: str) -> None:
        code = child.proc.poll() if child.proc else None
        if code is not None:
            child.exit_codes.append(code)
        self._kill(child)
        child.restart_at = time.monotonic() + child.backoff_s
        self.log(f"{child.spec.name} {why}; restarting in {child.backoff_s:.1f} s")
        child.backoff_s = min(child.backoff_s * 2, 8.0)

    # -- supervision ---------------------------------------------------------------------
    def _drain_heartbeats(self, timeout_ms: int) -> None:
        if not self.hb.poll(timeout_ms):
            return
        while True:
            try:
                frames = self.hb.recv_multipart(flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            try:
                hb = heartbeat_from_message(decode(frames))
            except WireError:
                self.malformed += 1
                continue
            child = self.children.get(hb.role)
            if child is None:
                continue
            if child.remote:
                if child.heartbeats and hb.pid != child.remote_pid:
                    child.restarts += 1  # the remote worker came back as a new process
                child.remote_pid = hb.pid
            elif child.proc is None or hb.pid != child.proc.pid:
                continue  # a late heartbeat from a process that was replaced
            now = time.monotonic()
            if not child.running:
                child.startup_gap_s = max(child.startup_gap_s, now - child.last_seen)
            child.last_seen = now
            child.heartbeats += 1
            if not child.running and hb.counters.get(FIRST_WORK.get(child.spec.role, ""), 0) > 0:
                child.running = True
                child.startup_s = child.last_seen - child.started_at
            child.last_stats = hb.stats
            if hb.window_closed:
                self.end_reason = "window closed"
                self._stop = True

    def _supervise(self) -> None:
        now = time.monotonic()
        self._serve_config()
        for child in self.children.values():
            if child.remote:
                if (
                    child.heartbeats
                    and now - child.last_seen > self.settings.hang_timeout_s
                    and child.remote_pid
                ):
                    self.log(f"{child.spec.name} on another host went silent; waiting for it to come back")
                    child.remote_pid = None
                continue
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restarts += 1
                    self._spawn(child)
                continue
            assert child.proc is not None
            code = child.proc.poll()
            if code is not None:
                if code == 0 and child.spec.role in ("compositor", "capture"):
                    what = "the display closed" if child.spec.role == "compositor" else "the driver ended"
                    self.end_reason = self.end_reason or what
                    self._stop = True
                    continue
                if code == EXIT_CONFIG:
                    # A configuration problem (no face in the photo, no webcam...): restarting cannot help.
                    child.exit_codes.append(code)
                    if child.stderr_thread is not None:
                        child.stderr_thread.join(1.0)  # its last words are on their way
                    why = child.last_message or "see the message above"
                    self.end_reason = self.end_reason or f"{child.spec.name} cannot run: {why}"
                    self.failed = True
                    self._stop = True
                    continue
                self._schedule_restart(child, f"exited with code {code}")
                continue
            if child.running:
                limit, what = self.settings.hang_timeout_s, "sent no heartbeat"
            else:
                limit, what = self.settings.startup_timeout_s, "did not finish starting"
            if now - child.last_seen > limit:
                self._schedule_restart(child, f"{what} for {now - child.last_seen:.1f} s")
            elif child.heartbeats and now - child.started_at > 10.0:
                child.backoff_s = FIRST_BACKOFF_S  # healthy for a while: reset the backoff

    def _serve_config(self) -> None:
        """Answer remote workers asking for their role's configuration."""
        if self.config_sock is None or not self.config_sock.poll(0):
            return
        try:
            request = json.loads(self.config_sock.recv().decode("utf-8"))
            name = str(request["name"])
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
            self.config_sock.send(json.dumps({"error": "malformed request"}).encode())
            return
        child = self.children.get(name)
        if child is None or not child.remote:
            remote = [c.spec.name for c in self.children.values() if c.remote]
            self.config_sock.send(
                json.dumps({"error": f"no remote role {name!r} here (remote roles: {remote})"}).encode()
            )
            return
        cfg = self._next_config(child).to_json()
        self.config_sock.send(json.dumps({"config": json.loads(cfg)}).encode())
        self.log(f"{name} joined from another host")

    def request_stop(self, reason: str = "stopped") -> None:
        self.end_reason = self.end_reason or reason
        self._stop = True

    def run(self) -> int:
        """Start everything and supervise until the call ends. Returns an exit code."""
        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum: int, frame: object) -> None:
            self.request_stop("interrupted" if signum == signal.SIGINT else "terminated")

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)
        try:
            self.start()
            while not self._stop:
                self._drain_heartbeats(100)
                self._supervise()
                if self.settings.duration_s and time.monotonic() - self.started > self.settings.duration_s:
                    self.request_stop(f"duration of {self.settings.duration_s:g} s reached")
                if time.monotonic() - self._last_metrics > self.settings.metrics_interval_s:
                    self.write_metrics()
                    self.report.update(self.metrics())
        finally:
            self.shutdown()
            for s, h in old.items():
                signal.signal(s, h)
        summary = self.metrics()
        self.log(self.report.summary(summary))
        if not summary["frames"]["presented"] and not self.failed and self.end_reason == "the driver ended":
            self.failed = True
            self.end_reason = (
                "the driver ended before a face was found in it; use a clip where a face is clearly visible"
            )
        if self.failed:
            self.error_log(f"voodoo-holo: the call ended: {self.end_reason}")
        else:
            self.log(f"call ended: {self.end_reason}")
        return 1 if self.failed else 0

    def shutdown(self, grace_s: float = 1.5) -> None:
        for c in self.children.values():
            if c.proc and c.proc.poll() is None:
                c.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for c in self.children.values():
            if c.proc is None:
                continue
            try:
                c.proc.wait(timeout=max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                c.proc.kill()
                c.proc.wait(timeout=2.0)
        self.write_metrics()
        self._close_links()
        self._run_folder.remove()

    # -- metrics -------------------------------------------------------------------------
    def metrics(self) -> dict[str, Any]:
        roles = {}
        for name, c in self.children.items():
            roles[name] = {
                "role": c.spec.role,
                "pid": c.remote_pid if c.remote else (c.proc.pid if c.proc else None),
                "alive": bool(c.remote_pid) if c.remote else bool(c.proc and c.proc.poll() is None),
                "host": "remote" if c.remote else "local",
                "gpu": c.spec.gpu,
                "views": list(c.spec.views),
                "restarts": c.restarts,
                "exit_codes": c.exit_codes,
                "heartbeats": c.heartbeats,
                "startup_s": None if c.startup_s is None else round(c.startup_s, 3),
                "startup_gap_s": round(c.startup_gap_s, 3),
                # When its last heartbeat came, on the host's time.monotonic() clock (the clock of
                # the messages' t_capture): lets a tool outside the call time what it sees.
                "heartbeat_at_s": round(c.last_seen, 3) if c.heartbeats else None,
                "stats": c.last_stats,
            }
        comp = self.children["compositor"].last_stats
        presented = int(comp.get("counters", {}).get("frames_presented", 0))
        return {
            "layout": self.layout.name,
            "backend": self.settings.avatar.backend,
            "num_views": self.layout.num_views,
            "view_size": self.settings.plan.views.view_size,
            "view_px": [self.settings.plan.views.width_px, self.settings.plan.views.height_px],
            "quilt": quilt_summary(self.settings.plan.quilt),
            "output": {"kind": self.settings.output.kind, "display": self.settings.output.display},
            "elapsed_s": round(time.monotonic() - self.started, 3),
            "end_reason": self.end_reason,
            "run_dir": str(self.run_dir),
            "links": next(iter(self.endpoints.values())).split("://")[0],
            "malformed_heartbeats": self.malformed,
            "frames": {
                "fps": comp.get("rates_hz", {}).get("frames_presented", 0.0),
                "presented": presented,
                "glass_to_glass_ms": comp.get("latency_ms", {}).get("glass_to_glass", {}),
                "last_seq": comp.get("last_seq"),
                "cpu_ms_per_frame": self._cpu_per_frame(presented),
            },
            "roles": roles,
        }

    def _cpu_per_frame(self, presented: int) -> dict[str, float]:
        """Each local role's CPU time (all its threads) per frame shown, since the first
        metrics after the first frame (start-up excluded) or since the role last restarted."""
        out: dict[str, float] = {}
        for name, c in self.children.items():
            cpu = c.last_stats.get("cpu_s")
            pid = c.proc.pid if c.proc is not None and not c.remote else None
            if not isinstance(cpu, (int, float)) or pid is None or presented <= 0:
                continue
            base = self._cpu_base.get(name)
            if base is None or base[0] != pid or cpu < base[1]:
                self._cpu_base[name] = (pid, float(cpu), presented)
            elif presented > base[2]:
                out[name] = round(1000.0 * (cpu - base[1]) / (presented - base[2]), 2)
        return out

    def write_metrics(self) -> None:
        """Rewrite the metrics file (atomically). A failure is reported once and the call goes on."""
        self._last_metrics = time.monotonic()
        out = self.settings.metrics_out
        if out is None:
            return
        tmp = out.with_name(out.name + ".tmp")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self.metrics(), indent=2))
            os.replace(tmp, out)
        except OSError as e:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            error = f"cannot write the metrics file {out}: {e.strerror or e}"
            if error != self._metrics_error:
                self.log(error)
                self._metrics_error = error
            return
        if self._metrics_error:
            self.log(f"metrics file {out} written again")
            self._metrics_error = ""
