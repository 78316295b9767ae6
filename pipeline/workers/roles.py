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

import zmq

from pipeline.messages import (
    driver_frame_from_message,
    driver_frame_to_message,
    state_message,
    views_from_message,
    views_to_message,
)
from pipeline.wire import Message, WireError
from pipeline.workers.runtime import RoleConfig, RoleRuntime

__all__ = ["EXIT_CONFIG", "run_role"]

EXIT_CONFIG = 78  # sysexits' EX_CONFIG

log = logging.getLogger("voodoo-holo")


class FatalRoleError(RuntimeError):
    """A configuration problem: report it and stop the call instead of restarting."""


def _settings(cfg: RoleConfig):
    from pipeline.reenact import ReenactSettings

    return ReenactSettings(cfg.num_views, cfg.view_size, cfg.options.get("sweep", "offaxis"))


def _backend(cfg: RoleConfig):
    from pipeline.reenact import create_backend

    try:
        return create_backend(
            cfg.backend, weights=cfg.weights, device=cfg.options.get("device", "cpu"), progress=False
        )
    except Exception as e:
        # Weights that cannot be loaded will not load after a restart either.
        from pipeline.voodoo.checkpoint import CheckpointError

        if isinstance(e, (CheckpointError, FileNotFoundError)):
            raise FatalRoleError(str(e)) from e
        raise


# -- capture ------------------------------------------------------------------------------
def run_capture(rt: RoleRuntime) -> int:
    from pipeline.capture import CaptureError, open_source
    from pipeline.tracking import StreamTracker

    cfg = rt.cfg
    try:
        src = open_source(cfg.driver, loop=bool(cfg.options.get("loop", True)), realtime=True)
    except CaptureError as e:
        raise FatalRoleError(str(e)) from e
    out = rt.socket(zmq.PUSH, "frames", bind=False, hwm=1)
    tracker = StreamTracker()
    try:
        while not rt.should_stop():
            rt.heartbeat(source=src.description)
            try:
                frame = src.read()
            except CaptureError as e:
                raise FatalRoleError(str(e)) from e
            if frame is None:
                log.info("capture: the driver ended")
                rt.heartbeat(force=True, driver_ended=True)
                return 0
            rt.stats.tick("frames_captured")
            t0 = time.perf_counter()
            try:
                obs = tracker.track(frame.rgb_u8, frame.t_capture_ns)
            except Exception as e:  # one bad frame must not end the call; count and go on
                rt.stats.count("track_errors")
                log.warning("capture: frame %d could not be tracked: %s", frame.seq, e)
                continue
            rt.stats.time("track", (time.perf_counter() - t0) * 1e3)
            if obs is None:
                rt.stats.count("no_face")
                continue
            if not obs.tracked:
                rt.stats.count("face_lost_held")
            if rt.send(out, driver_frame_to_message(obs), drop_key="frames_dropped_busy"):
                rt.stats.tick("frames_sent")
    finally:
        tracker.close()
        src.close()
    return 0


# -- estimator ----------------------------------------------------------------------------
def run_estimator(rt: RoleRuntime) -> int:
    from pipeline.tracking import PhotoError, prepare_photo

    cfg = rt.cfg
    backend = _backend(cfg)
    try:
        face = prepare_photo(cfg.source)
    except PhotoError as e:
        raise FatalRoleError(f"source photo: {e}") from e
    t0 = time.perf_counter()
    source = backend.prepare_source(face)
    rt.stats.time("prepare_source", (time.perf_counter() - t0) * 1e3)
    source_arrays = source.to_arrays()
    source_key = getattr(source, "key", "")
    frames = rt.socket(zmq.PULL, "frames", bind=True, hwm=2)
    scenes = rt.socket(zmq.PUB, "scene", bind=True, hwm=2)
    serve = rt.socket(zmq.REP, "source", bind=True, hwm=16)
    credits = rt.socket(zmq.PULL, "ready", bind=True, hwm=64)
    poller = zmq.Poller()
    for s in (frames, serve, credits):
        poller.register(s, zmq.POLLIN)
    # Flow control: a new scene goes out when every renderer has finished the previous one
    # (so all views of a frame share one seq), or after straggler_s when one is late or dead.
    renderers = set(cfg.options.get("renderers", []))
    straggler_s = float(cfg.options.get("straggler_s", 1.0))
    ready: set[str] = set(renderers)
    last_pub = 0.0
    pending: Message | None = None
    shm = _SceneShm(enabled=not cfg.options.get("curve") and cfg.options.get("shm", True))
    try:
        while not rt.should_stop():
            rt.heartbeat()
            events = dict(poller.poll(20))
            while credits.poll(0):
                credit = rt.decode(credits.recv_multipart(copy=False))
                if credit is not None and credit.kind == "control" and "ready" in credit.meta:
                    ready.add(str(credit.meta["ready"]))
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
        self.enabled = enabled
        self.ring = None

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
    from pipeline.reenact import scene_from_arrays, scene_source_key, source_from_arrays, sweep_cameras

    cfg = rt.cfg
    settings = _settings(cfg)
    backend = _backend(cfg)
    scenes = rt.socket(zmq.SUB, "scene", bind=False, hwm=2)
    out = rt.socket(zmq.PUSH, "views", bind=False, hwm=8)
    credits = rt.socket(zmq.PUSH, "ready", bind=False, hwm=4)
    client = _SourceClient(rt)
    have_key: str | None = None
    ready_msg = Message("control", meta={"ready": cfg.name})
    reader = None
    rt.send(credits, ready_msg)
    try:
        while not rt.should_stop():
            rt.heartbeat(views=cfg.views)
            msg = rt.recv_latest(scenes, timeout_ms=100)
            if msg is None:
                continue
            arrays = dict(msg.arrays)
            handle = msg.meta.get("shm")
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
            key = scene_source_key(arrays)
            if backend.name == "mesh" and key != have_key:
                src = client.fetch()
                if src is None or src.kind != "source":
                    continue
                try:
                    source_from_arrays(backend, src.arrays)
                except (ValueError, KeyError) as e:
                    rt.stats.count("bad_source")
                    log.warning("%s: bad source state: %s", cfg.name, e)
                    continue
                have_key = key
            try:
                scene = scene_from_arrays(backend, arrays)
            except (ValueError, KeyError, WireError) as e:
                rt.stats.count("bad_scene")
                log.warning("%s: bad scene: %s", cfg.name, e)
                continue
            t0 = time.perf_counter()
            cams = sweep_cameras(scene.camera, settings, cfg.views)
            views = backend.render(scene, cams, cfg.views)
            rt.stats.time("render", (time.perf_counter() - t0) * 1e3)
            if rt.send(out, views_to_message(msg.seq, msg.t_capture_ns, views, worker=cfg.name)):
                rt.stats.tick("batches_sent")
            rt.send(credits, ready_msg)
    finally:
        if reader is not None:
            reader.close()
        close = getattr(backend, "close", None)
        if close:
            close()
    return 0


# -- compositor ---------------------------------------------------------------------------
def _quilt_layout(cfg: RoleConfig):
    from display.quilt import layout_for_views

    return layout_for_views(cfg.num_views, 1.0, cfg.view_size)


def run_compositor(rt: RoleRuntime) -> int:
    cfg = rt.cfg
    layout = _quilt_layout(cfg)
    views_in = rt.socket(zmq.PULL, "views", bind=True, hwm=64)
    last_seq = -1
    app = None
    if cfg.sink == "headless":
        from display.compositor import Compositor, CompositorConfig
        from display.gl import create_headless_context
        from display.sinks import OffscreenSink

        ctx = create_headless_context()
        w, h = layout.tile_w_px * layout.cols, layout.tile_h_px * layout.rows
        comp = Compositor(OffscreenSink(ctx, w, h), CompositorConfig(layout, "quilt", show_status=False))
    else:
        from display.window import configure_pyglet

        configure_pyglet(headless=False)
        from app.calibration_settings import find_display  # this role moves into app/
        from calibration.discovery import NoCalibrationError
        from calibration.visual import CalibrationError
        from display.window import DisplayApp, open_display

        calibration, window_xy = None, None
        if cfg.sink == "lookingglass":
            try:
                found = find_display(cfg.options.get("calibration"))
                calibration, window_xy = found.lenticular(), found.window_xy
            except NoCalibrationError as e:  # also a Hololuminescent display: its message offers the preview
                log.warning("%s", e)
            except CalibrationError as e:
                raise FatalRoleError(str(e)) from e
        window, comp = open_display(
            calibration, layout, force_preview=cfg.sink == "preview", window_xy=window_xy
        )
        app = DisplayApp(window, comp)
    try:
        while not rt.should_stop():
            rt.heartbeat(last_seq=last_seq, status=comp.status_text())
            msg = rt.recv(views_in, timeout_ms=5 if app else 50)
            while msg is not None:
                try:
                    v = views_from_message(msg)
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
    finally:
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
