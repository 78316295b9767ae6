"""The call link in one process: two real CURVE ZeroMQ peers on loopback tcp, no tracking."""

from __future__ import annotations

import time

import numpy as np
import pytest
import zmq

from pipeline.call.transport import LinkSettings, PeerLink
from pipeline.security import configure_client, load_or_create_keypair
from pipeline.wire import Message, encode

pytestmark = pytest.mark.net


def _wait(pred, what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError(f"{what} not reached within {timeout_s} s")


@pytest.fixture
def keys(tmp_path):
    return load_or_create_keypair(tmp_path / "a"), load_or_create_keypair(tmp_path / "b")


def _pair(keys, **dial_kw):
    ka, kb = keys
    a = PeerLink(LinkSettings("listen", "tcp://127.0.0.1:0", name="A"), ka, lambda k: k == kb.public)
    a.start()
    b = PeerLink(
        LinkSettings("dial", a.bound_endpoint, peer_key=ka.public, name="B", **dial_kw), kb, lambda k: False
    )
    b.start()
    _wait(lambda: a.state == "connected" and b.state == "connected", "connected")
    return a, b


def _frame(seq: int, nbytes: int) -> Message:
    payload = np.random.default_rng(seq).integers(0, 255, nbytes, dtype=np.uint8)
    return Message("driver_frame", seq, time.monotonic_ns(), {"crop_jpeg": payload}, {})


def test_slow_link_drops_frames_instead_of_queueing_them(keys):
    """B may send 150 kB/s; it offers 20 kB frames at ~100 Hz (2 MB/s). Old frames are replaced."""
    a, b = _pair(keys, max_kBps=150.0)
    try:
        received: list[tuple[int, int]] = []
        ages_ms: list[float] = []
        t_end = time.monotonic() + 3.0
        seq = 0
        while time.monotonic() < t_end:
            b.offer_video(_frame(seq, 20_000))
            seq += 1
            got = a.take_video()
            if got is not None:
                msg, t_recv = got
                received.append((msg.seq, seq))
                ages_ms.append((t_recv - msg.t_capture_ns) / 1e6)
            time.sleep(0.01)
        offered = seq
        sent = b.stats.counters["video_sent"]
        dropped = b.stats.counters["video_superseded"]
        print(
            f"offered {offered}, sent {sent}, superseded {dropped}, received {len(received)}, "
            f"age at arrival p50 {np.median(ages_ms):.0f} ms, max {max(ages_ms):.0f} ms, "
            f"sent {b.rates['video_sent'].total / 3e3:.0f} kB/s"
        )
        assert len(received) >= 5, "frames still get through a slow link"
        assert dropped > offered // 2, "most frames are dropped at the sender, not queued"
        seqs = [s for s, _ in received]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        # Each frame that arrives was offered at most a few frames before (nothing queued up).
        assert max(now - s for s, now in received) < 30
        assert b.rates["video_sent"].total < 150_000 * 3 * 1.5 + 40_000
    finally:
        b.stop()
        a.stop()


def test_bad_messages_are_counted_and_the_call_goes_on(keys):
    ka, kb = keys
    a, b = _pair(keys)
    ctx = zmq.Context()
    rogue = ctx.socket(zmq.DEALER)  # an accepted key sending garbage
    configure_client(rogue, kb, ka.public)
    rogue.connect(a.bound_endpoint)
    try:
        rogue.send_multipart([b"junk"])
        rogue.send_multipart([b"VHOLO{not json"])
        good = encode(Message("control", meta={"type": "ping", "id": 1}))
        rogue.send_multipart([good[0].replace(b'"v":1', b'"v":99')])
        _wait(
            lambda: sum(v for k, v in a.stats.counters.items() if k.startswith("malformed.")) >= 3, "counted"
        )
        c = a.stats.counters
        assert (
            c["malformed.bad_magic"] == 1 and c["malformed.bad_header"] == 1 and c["malformed.version"] == 1
        )
        b.offer_video(_frame(7, 1000))
        _wait(lambda: a.stats.counters.get("video_received", 0) >= 1, "a frame after the garbage")
        assert a.state == "connected" and a.error is None
    finally:
        rogue.close(linger=0)
        ctx.term()
        b.stop()
        a.stop()


def test_hang_up_is_seen_at_once_and_a_new_caller_is_taken(keys):
    a, b = _pair(keys)
    try:
        first = a.peer.session
        b.stop()  # sends "bye"
        _wait(lambda: a.state == "disconnected", "disconnected after bye", 5.0)
        assert a.stats.counters["peer_hung_up"] == 1
        ka, kb = keys
        b2 = PeerLink(
            LinkSettings("dial", a.bound_endpoint, peer_key=ka.public, name="B2"), kb, lambda k: False
        )
        b2.start()
        _wait(lambda: a.state == "connected" and a.peer.name == "B2", "the new caller")
        assert a.peer.session != first
        _wait(lambda: a.clock()["rtt_ms"] is not None, "a clock estimate for the new peer")
        assert abs(a.clock()["offset_ms"]) < 50, "same machine: the clocks agree within the RTT"
        b2.stop()
    finally:
        a.stop()
