"""The four roles of a live call, each a short loop around the shared stages.

=============  ==========================  =====================================================
role           receives                    does / sends
=============  ==========================  =====================================================
capture        webcam / driver file        StreamTracker -> ``driver_frame`` (latest-value PUSH)
estimator      ``driver_frame`` (newest)   backend.drive -> ``scene`` (PUB, latest-value);
                                           serves the source state on request (REP)
renderer       ``scene`` (newest)          backend.render(its views) -> ``views`` (PUSH)
compositor     ``views``                   quilt -> Looking Glass / preview window / offscreen
=============  ==========================  =====================================================

Exit codes: 0 = finished normally (the driver file ended, the window was closed),
:data:`EXIT_CONFIG` = a problem restarting cannot fix (no face in the source photo, no webcam,
bad weights): the launcher ends the call and shows the message. Anything else is a crash and the
launcher restarts the role.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import zmq

from app.live.runtime import RoleConfig, RoleRuntime
from pipeline.avatar import AvatarBackend
from pipeline.messages import (
    driver_frame_from_message,
    driver_frame_to_message,
    ready_from_message,
    ready_message,
    state_from_message,
    state_message,
    views_from_message,
    views_to_message,
)
from pipeline.wire import Message, WireError

__all__ = ["EXIT_CONFIG", "run_role"]

EXIT_CONFIG = 78  # sysexits' EX_CONFIG

log = logging.getLogger("voodoo-holo")


class FatalRoleError(RuntimeError):
    """A configuration problem: report it and stop the call instead of restarting."""


def _backend(cfg: RoleConfig) -> AvatarBackend[Any, Any]:
    try:
        return cfg.avatar.build(progress=False)
    except Exception as e:
        # Weights that cannot be loaded will not load after a restart either.
        from pipeline.voodoo.checkpoint import CheckpointError

        if isinstance(e, (CheckpointError, FileNotFoundError)):
            raise FatalRoleError(str(e)) from e
        raise


# -- capture ------------------------------------------------------------------------------
def run_capture(rt: RoleRuntime) -> int:
    from pipeline.capture import CaptureError, open_source, track_frames
    from pipeline.tracking import StreamTracker, TrackerConfig

    cfg = rt.cfg
    try:
        src = open_source(cfg.driver, loop=cfg.loop_driver, realtime=cfg.pace_driver)
    except CaptureError as e:
        raise FatalRoleError(str(e)) from e
    out = rt.socket(zmq.PUSH, "frames", bind=False, hwm=1)
    pace = _CapturePace(rt.socket(zmq.PULL, "grant", bind=False, hwm=4), cfg.grant_timeout_s)
    # The mesh avatar reads only the driver's landmarks and head pose: no matte, no crop image.
    light = TrackerConfig(matte=None, crop=False)
    tracker = StreamTracker(None if cfg.avatar.uses_driver_matte else light)
    # A live source skips the frames the pipeline cannot take; an unpaced file waits for it.
    wanted = pace.take if cfg.pace_driver or src.is_live else pace.wait
    try:
        for t in track_frames(src, tracker, wanted=wanted):
            rt.heartbeat(source=src.description)
            if rt.should_stop():
                return 0
            rt.stats.tick("frames_captured")
            if t.skipped:
                rt.stats.count("frames_not_wanted")  # the pipeline is busy: not worth tracking
                continue
            if t.error:
                rt.stats.count("track_errors")
                log.warning("capture: frame %d could not be tracked: %s", t.frame.seq, t.error)
                continue
            rt.stats.time("track", t.track_ms)
            if t.face is None:
                rt.stats.count("no_face")
                continue
            if not t.face.tracked:
                rt.stats.count("face_lost_held")
            msg = driver_frame_to_message(t.face)
            msg.seq += cfg.seq_base  # this process's block: newer than any earlier capture's frames
            if rt.send(out, msg, drop_key="frames_dropped_busy"):
                rt.stats.tick("frames_sent")
        log.info("capture: the driver ended")
        rt.heartbeat(force=True, driver_ended=True)
    except CaptureError as e:
        raise FatalRoleError(str(e)) from e
    finally:
        tracker.close()
        src.close()
    return 0


class _CapturePace:
    """Whether the capture should track the next frame: only when the estimator has granted it
    (it took the previous frame), so no CPU goes into frames nobody will draw. Without a grant for
    ``timeout_s`` (an estimator that restarted) the next frame is tracked anyway."""

    def __init__(self, sock: zmq.Socket, timeout_s: float) -> None:
        self.sock = sock
        self.timeout_s = timeout_s
        self.credits = 1
        self.last = time.monotonic()

    def take(self) -> bool:
        while self.sock.poll(0):
            self.sock.recv_multipart()
            self.credits = min(self.credits + 1, 2)
        now = time.monotonic()
        if self.credits > 0 or now - self.last > self.timeout_s:
            self.credits = max(0, self.credits - 1)
            self.last = now
            return True
        return False

    def wait(self) -> bool:
        """Like :meth:`take`, but wait for the grant (up to ``timeout_s``) instead of saying no:
        an unpaced driver file hands over its next frame as soon as the pipeline takes one."""
        while not self.take():
            self.sock.poll(max(1, int(1000 * (self.last + self.timeout_s - time.monotonic()))))
        return True


# -- estimator ----------------------------------------------------------------------------
def run_estimator(rt: RoleRuntime) -> int:
    from pipeline.tracking import PhotoError, prepare_photo

    cfg = rt.cfg
    backend = _backend(cfg)
    if cfg.source is None:
        raise FatalRoleError("no source photo was given")
    try:
        face = prepare_photo(cfg.source)
    except PhotoError as e:
        raise FatalRoleError(f"source photo: {e}") from e
    t0 = time.perf_counter()
    source = backend.prepare_source(face)
    rt.stats.time("prepare_source", (time.perf_counter() - t0) * 1e3)
    source_arrays = source.to_arrays()
    source_key = source.key
    frames = rt.socket(zmq.PULL, "frames", bind=True, hwm=2)
    scenes = rt.socket(zmq.PUB, "scene", bind=True, hwm=2)
    serve = rt.socket(zmq.REP, "source", bind=True, hwm=16)
    credits = rt.socket(zmq.PULL, "ready", bind=True, hwm=64)
    # The capture tracks a frame only when granted: one frame ahead of the one being drawn.
    grants = rt.socket(zmq.PUSH, "grant", bind=True, hwm=4)
    poller = zmq.Poller()
    for s in (frames, serve, credits):
        poller.register(s, zmq.POLLIN)
    # Flow control: a new scene goes out when every renderer has finished the previous one
    # (so all views of a frame share one seq), or after straggler_s when one is late or dead.
    renderers = set(cfg.renderers)
    straggler_s = cfg.straggler_s
    ready: set[str] = set(renderers)
    last_pub = 0.0
    pending: Message | None = None
    shm = _SceneShm(enabled=cfg.curve_server_key is None and cfg.shared_memory)
    try:
        while not rt.should_stop():
            rt.heartbeat()
            events = dict(poller.poll(20))
            while credits.poll(0):
                credit = rt.decode(credits.recv_multipart(copy=False))
                if credit is None:
                    continue
                try:
                    ready.add(ready_from_message(credit))
                except WireError as e:
                    rt.stats.count(f"malformed.{e.reason}")
            if serve in events:
                serve.recv_multipart()  # any request means "send me the source"
                rt.send(
                    serve,
                    state_message("source", 0, 0, source_arrays, source_key=source_key),
                    drop_key="source_unsent",
                )
                rt.stats.count("source_served")
            if frames in events:
                # Always drain, keeping only the newest frame: a full queue would make the
                # capture drop the *new* frames and keep the old ones.
                newest = rt.recv_latest(frames, timeout_ms=0)
                if newest is not None:
                    if pending is not None:
                        rt.stats.count("stale_dropped")
                    pending = newest
            late = time.monotonic() - last_pub > straggler_s
            if pending is None or not (ready >= renderers or late):
                continue
            if not ready >= renderers:
                rt.stats.count("published_without_stragglers")
            msg, pending = pending, None
            rt.send(grants, ready_message(cfg.name), drop_key="grants_dropped")
            try:
                driver = driver_frame_from_message(msg)
            except WireError as e:
                rt.stats.count(f"malformed.{e.reason}")
                continue
            t0 = time.perf_counter()
            try:
                scene = backend.drive(source, driver)
            except ValueError as e:
                rt.stats.count("drive_skipped")
                log.warning("estimator: frame %d skipped: %s", driver.seq, e)
                continue
            rt.stats.time("drive", (time.perf_counter() - t0) * 1e3)
            scene_msg = shm.message(driver.seq, driver.timestamp_ns, scene.to_arrays(), source_key=source_key)
            if rt.send(scenes, scene_msg):
                rt.stats.tick("scenes_sent")
                ready.clear()
                last_pub = time.monotonic()
    finally:
        shm.close()
    return 0


class _SceneShm:
    """Large scene arrays (tri-planes) go through shared memory when every link is on this host.

    The ZeroMQ message then carries only a handle and the small arrays; with tcp links (roles
    on other hosts) everything travels inline.
    """

    MIN_BYTES = 1 << 20

    def __init__(self, enabled: bool) -> None:
        from pipeline.shm import SharedTensorRing

        self.enabled = enabled
        self.ring: SharedTensorRing | None = None

    def message(self, seq: int, t_ns: int, arrays: dict, **meta) -> Message:
        big = {k: v for k, v in arrays.items() if v.nbytes >= self.MIN_BYTES} if self.enabled else {}
        if not big:
            return state_message("scene", seq, t_ns, arrays, **meta)
        from pipeline.shm import SharedTensorRing, handle_message

        if self.ring is None:
            self.ring = SharedTensorRing(slots=4, slot_bytes=sum(v.nbytes for v in big.values()) + (1 << 16))
        handle = self.ring.write(big)
        small = {k: v for k, v in arrays.items() if k not in big}
        return handle_message(seq, t_ns, handle, small, **meta)

    def close(self) -> None:
        if self.ring is not None:
            self.ring.close()
            self.ring = None


# -- renderer -----------------------------------------------------------------------------
class _SourceClient:
    """Fetches the source state from the estimator (REQ with a timeout, rebuilt on failure)."""

    def __init__(self, rt: RoleRuntime) -> None:
        self.rt = rt
        self.sock: zmq.Socket | None = None

    def fetch(self, timeout_ms: int = 3000) -> Message | None:
        if self.sock is None:
            self.sock = self.rt.socket(zmq.REQ, "source", bind=False, hwm=2)
        self.sock.send(b"source?")
        if not self.sock.poll(timeout_ms):
            # Lazy Pirate: a REQ socket stuck waiting must be replaced.
            self.rt._sockets.remove(self.sock)
            self.sock.close(linger=0)
            self.sock = None
            self.rt.stats.count("source_fetch_timeouts")
            return None
        return self.rt.decode(self.sock.recv_multipart(copy=False))


def run_renderer(rt: RoleRuntime) -> int:
    from pipeline.reenact import sweep_cameras

    cfg = rt.cfg
    settings = cfg.plan.views
    backend = _backend(cfg)
    scenes = rt.socket(zmq.SUB, "scene", bind=False, hwm=2)
    out = rt.socket(zmq.PUSH, "views", bind=False, hwm=8)
    credits = rt.socket(zmq.PUSH, "ready", bind=False, hwm=4)
    client = _SourceClient(rt)
    ready_msg = ready_message(cfg.name)
    reader = None
    rt.send(credits, ready_msg)
    try:
        while not rt.should_stop():
            rt.heartbeat(views=cfg.view_ids)
            msg = rt.recv_latest(scenes, timeout_ms=100)
            if msg is None:
                continue
            try:
                state = state_from_message(msg, "scene")
            except WireError as e:
                rt.stats.count(f"malformed.{e.reason}")
                continue
            arrays = dict(state.arrays)
            handle = state.shm
            if handle is not None:
                if reader is None:
                    from pipeline.shm import SharedTensorReader

                    reader = SharedTensorReader()
                try:
                    big = reader.read(handle)
                except (ValueError, OSError) as e:
                    rt.stats.count("bad_shm_handle")
                    log.warning("%s: unusable shared-memory handle: %s", cfg.name, e)
                    continue
                if big is None:
                    rt.stats.count("shm_overwritten")  # the estimator moved on: wait for the next
                    continue
                arrays.update(big)
            if not backend.has_source(state.source_key or None):
                src = client.fetch()
                if src is None or src.kind != "source":
                    continue
                try:
                    backend.adopt_source(state_from_message(src, "source").arrays)
                except ValueError as e:  # WireError included
                    rt.stats.count("bad_source")
                    log.warning("%s: bad source state: %s", cfg.name, e)
                    continue
                rt.stats.count("sources_adopted")
            try:
                scene = backend.scene_from_arrays(arrays)
            except ValueError as e:  # WireError included
                rt.stats.count("bad_scene")
                log.warning("%s: bad scene: %s", cfg.name, e)
                continue
            t0 = time.perf_counter()
            cams = sweep_cameras(scene.camera, settings, cfg.view_ids)
            views = backend.render(scene, cams, cfg.view_ids)
            rt.stats.time("render", (time.perf_counter() - t0) * 1e3)
            if rt.send(out, views_to_message(msg.seq, msg.t_capture_ns, views, worker=cfg.name)):
                rt.stats.tick("batches_sent")
            rt.send(credits, ready_msg)
    finally:
        if reader is not None:
            reader.close()
        backend.close()
    return 0


# -- compositor ---------------------------------------------------------------------------
def run_compositor(rt: RoleRuntime) -> int:
    from app.platform import create_gl_context
    from display.output import open_output

    cfg = rt.cfg
    views_in = rt.socket(zmq.PULL, "views", bind=True, hwm=64)
    last_seq = -1
    out = cfg.output
    try:
        comp, app = open_output(
            out.kind, cfg.plan.quilt, out.calibration, make_context=create_gl_context,
            window_xy=out.window_xy, caption="voodoo-holo live call", log=log.warning,
        )  # fmt: skip
    except RuntimeError as e:
        raise FatalRoleError(str(e)) from e
    started = time.monotonic()
    recorder = None
    if cfg.record_path is not None:
        from display.export import QuiltRecorder

        recorder = QuiltRecorder(cfg.record_path, cfg.plan.quilt)
    try:
        while not rt.should_stop():
            if last_seq < 0:  # nothing shown yet: say what is happening instead of a black screen
                waited = time.monotonic() - started
                comp.set_notice(
                    f"voodoo-holo live call: starting ({waited:.0f} s) - preparing the photo, "
                    "starting the renderers, waiting for the first frame"
                )
            rt.heartbeat(last_seq=last_seq, status=comp.status_text())
            msg = rt.recv(views_in, timeout_ms=5 if app else 50)
            while msg is not None:
                try:
                    v = views_from_message(msg, cfg.plan.views.num_views)
                    comp.submit(msg.seq, v.view_ids, v.rgb_u8, msg.t_capture_ns)
                    rt.stats.count("batches_received")
                except (WireError, ValueError) as e:
                    rt.stats.count("bad_views")
                    log.warning("compositor: dropped a views message: %s", e)
                msg = rt.recv(views_in, timeout_ms=0)
            if app is not None:
                app.window.dispatch_events()
                if app.closed:
                    rt.heartbeat(force=True, window_closed=True)
                    return 0
            info = comp.present()
            if info is None or info.seq is None:
                continue
            if info.seq <= last_seq:
                rt.stats.count("out_of_order")
            last_seq = info.seq
            rt.stats.tick("frames_presented")
            if info.complete:
                rt.stats.count("frames_complete")
                rt.stats.counters["last_complete_seq"] = info.seq
            else:
                rt.stats.count("frames_partial")
            if info.latency_ms is not None:
                rt.stats.time("glass_to_glass", info.latency_ms)
            if recorder is not None:
                recorder.show(comp.shown_quilt(), time.monotonic())
                rt.stats.counters["recorded_frames"] = recorder.frames_written
    finally:
        if recorder is not None:
            recorder.close()
        comp.release()
        if app is not None:
            app.window.close()
    return 0


ROLES = {
    "capture": run_capture,
    "estimator": run_estimator,
    "renderer": run_renderer,
    "compositor": run_compositor,
}


def run_role(cfg: RoleConfig) -> int:
    logging.basicConfig(level=logging.INFO, format=f"[{cfg.name}] %(message)s", stream=sys.stderr)
    rt = RoleRuntime(cfg)
    try:
        rt.heartbeat(force=True, starting=True)
        return ROLES[cfg.role](rt)
    except FatalRoleError as e:
        print(f"[{cfg.name}] {e}", file=sys.stderr)
        return EXIT_CONFIG
    finally:
        rt.close()
