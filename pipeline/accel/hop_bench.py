"""The tri-plane hop from the estimator to the renderers, measured with real processes.

One writer sends a ``3 x 32 x 256 x 256`` float16 tri-plane (12.6 MB) per frame to R reader
processes, paced at a frame rate, in two ways:

* ``zmq``: the arrays inside the ZeroMQ message (PUB over ``ipc://``, zero-copy send), the
  path for renderers on other hosts;
* ``shm``: the writer copies the planes into a :class:`pipeline.shm.SharedTensorRing` and
  publishes only the JSON handle; each reader copies the slot out.

The hop of a frame is the time from just before the writer starts (the shm copy is inside
it) until the *last* reader holds its own tri-plane.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import tempfile
import time
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import zmq

__all__ = ["PLANES_SHAPE", "measure_hop"]

PLANES_SHAPE = (3, 32, 256, 256)
Mode = Literal["zmq", "shm"]


def _recv_report(sock: zmq.Socket[Any]) -> dict[str, Any]:
    """The next JSON object on the report socket (readers send nothing else)."""
    report = sock.recv_json()
    if not isinstance(report, dict):
        raise TypeError(f"hop bench: a reader sent {type(report).__name__}, not a JSON object")
    return report


def _reader(index: int, mode: str, pub: str, report: str, frames: int) -> None:
    import zmq

    from pipeline.shm import SharedTensorReader, handle_from_message
    from pipeline.wire import decode

    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.RCVHWM, 0)  # never drop: a slow reader shows as latency
    sub.connect(pub)
    out = ctx.socket(zmq.PUSH)
    out.connect(report)
    reader = SharedTensorReader()
    seen = 0
    try:
        while seen < frames:
            msg = decode(sub.recv_multipart(copy=False))
            if msg.kind == "control":  # hello: tell the writer this reader is subscribed
                out.send_json({"hello": index})
                continue
            if mode == "shm":
                handle = handle_from_message(msg)
                arrays = reader.read(handle) if handle is not None else None
            else:
                arrays = msg.arrays
            done = time.monotonic_ns()
            ok = arrays is not None
            checksum = float(arrays["planes"][0, 0, 0, 0]) if arrays is not None else float("nan")
            out.send_json(
                {"reader": index, "seq": msg.seq, "ns": done - msg.t_sent_ns, "ok": ok, "v": checksum}
            )
            seen += 1
    finally:
        reader.close()
        sub.close(linger=0)
        out.close(linger=1000)
        ctx.term()


def measure_hop(mode: Mode, readers: int = 4, frames: int = 60, fps: float = 30.0) -> dict[str, object]:
    """Run the hop; returns per-frame hop times (ms, max over readers) and counters."""
    import zmq

    from pipeline.shm import SharedTensorRing, handle_message
    from pipeline.wire import Message, encode

    if mode not in ("zmq", "shm"):
        raise ValueError(f"mode must be 'zmq' or 'shm', got {mode!r}")
    tmp = tempfile.mkdtemp(prefix="vholo-hop-")
    pub_ep, rep_ep = f"ipc://{tmp}/pub", f"ipc://{tmp}/report"
    zctx = zmq.Context()
    pub = zctx.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 0)
    pub.bind(pub_ep)
    rep = zctx.socket(zmq.PULL)
    rep.bind(rep_ep)
    spawn = mp.get_context("spawn")
    procs = [spawn.Process(target=_reader, args=(i, mode, pub_ep, rep_ep, frames)) for i in range(readers)]
    for p in procs:
        p.start()
    ring = (
        SharedTensorRing(slots=6, slot_bytes=int(np.prod(PLANES_SHAPE)) * 2 + 4096) if mode == "shm" else None
    )
    rng = np.random.default_rng(0)
    planes = [rng.standard_normal(PLANES_SHAPE).astype(np.float16) for _ in range(2)]
    try:
        hello: set[int] = set()
        deadline = time.monotonic() + 60
        while len(hello) < readers:  # PUB drops messages until a subscriber is connected
            if time.monotonic() > deadline:
                raise TimeoutError("hop bench: reader processes did not start within 60 s")
            pub.send_multipart(encode(Message("control", 0, 0, {}, {"hello": True})))
            while rep.poll(50):
                hello.add(int(_recv_report(rep)["hello"]))
        time.sleep(0.2)
        while rep.poll(100):  # late hellos
            rep.recv_json()
        period = 1.0 / fps
        t_next = time.monotonic()
        for seq in range(frames):
            time.sleep(max(0.0, t_next - time.monotonic()))
            t_next += period
            t0 = time.monotonic_ns()
            data = planes[seq % 2]
            if ring is not None:
                msg = handle_message(seq, t0, ring.write({"planes": data}))
            else:
                msg = Message("scene", seq, t0, {"planes": data}, {})
            msg.t_sent_ns = t0
            pub.send_multipart(encode(msg), copy=False)
        hops: dict[int, list[float]] = {}
        stale = 0
        received = 0
        while received < readers * frames:
            if not rep.poll(30_000):
                raise TimeoutError("hop bench: a reader stopped reporting")
            r = _recv_report(rep)
            if "hello" in r:
                continue
            received += 1
            if not r["ok"]:
                stale += 1
                continue
            hops.setdefault(int(r["seq"]), []).append(r["ns"] / 1e6)
        per_frame = [max(v) for v in hops.values() if len(v) == readers]
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
        if ring is not None:
            ring.close()
        pub.close(linger=0)
        rep.close(linger=0)
        zctx.term()
        for f in ("pub", "report"):
            if os.path.exists(f"{tmp}/{f}"):
                os.unlink(f"{tmp}/{f}")
        os.rmdir(tmp)
    return {"hop_ms": per_frame, "stale": stale, "frames": frames, "readers": readers}
