"""Shared-memory tensor ring: round trips, stale/torn detection, real reader processes,
lifetime (readers never unlink, crashed writers are swept)."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pipeline.shm import (
    SharedTensorReader,
    SharedTensorRing,
    ShmError,
    handle_from_message,
    handle_message,
    sweep_orphans,
)
from pipeline.wire import Message, decode, encode

SHM = Path("/dev/shm")
needs_dev_shm = pytest.mark.skipif(not SHM.is_dir(), reason="POSIX shared memory not under /dev/shm")


def _ctrl_word(ring: SharedTensorRing, slot: int) -> np.ndarray:
    from multiprocessing import shared_memory

    # a white-box view of the slot's generation counter (first page, 64 bytes per slot)
    shm = shared_memory.SharedMemory(name=ring.name)
    return shm, np.ndarray((1,), dtype=np.uint64, buffer=shm.buf, offset=64 * slot)


def test_round_trip_through_the_wire_format() -> None:
    rng = np.random.default_rng(0)
    planes = rng.standard_normal((3, 32, 64, 64)).astype(np.float16)
    cam = rng.standard_normal((4, 4))
    with SharedTensorRing(slots=3, slot_bytes=1 << 20) as ring, SharedTensorReader() as reader:
        handle = ring.write({"planes": planes, "cam": cam, "empty": np.zeros((0, 3), np.int32)})
        msg = handle_message(7, 123, handle, arrays={"seq": np.array([7])}, role="estimator")
        back = decode(encode(msg))
        assert back.kind == "scene" and back.meta["role"] == "estimator" and "planes" not in back.arrays
        h = handle_from_message(back)
        assert h == json.loads(json.dumps(handle))  # plain JSON
        got = reader.read(h)
        assert got is not None
        assert got["planes"].dtype == np.float16 and np.array_equal(got["planes"], planes)
        assert got["cam"].dtype == np.float64 and np.array_equal(got["cam"], cam)
        assert got["empty"].shape == (0, 3)
        got["planes"][...] = 0  # an owned copy: the slot is untouched
        again = reader.read(h)
        assert again is not None and np.array_equal(again["planes"], planes)
    # the remote-host path: arrays inline, no handle
    inline = decode(encode(Message("scene", 1, 0, {"planes": np.zeros((2, 2), np.float16)}, {})))
    assert handle_from_message(inline) is None


def test_overwritten_slot_reads_as_stale() -> None:
    with SharedTensorRing(slots=2, slot_bytes=4096) as ring, SharedTensorReader() as reader:
        h0 = ring.write({"x": np.full(8, 0.0)})
        h1 = ring.write({"x": np.full(8, 1.0)})
        ring.write({"x": np.full(8, 2.0)})  # reuses slot 0
        assert reader.read(h0) is None and reader.stale == 1
        assert np.all(reader.read(h1)["x"] == 1.0)


def test_slot_being_written_reads_as_stale() -> None:
    with SharedTensorRing(slots=2, slot_bytes=4096) as ring, SharedTensorReader() as reader:
        h = ring.write({"x": np.arange(4.0)})
        shm, word = _ctrl_word(ring, h["slot"])
        try:
            word[0] = h["gen"] + 1  # what the writer does while it copies
            assert reader.read(h) is None
            word[0] = h["gen"]
            assert reader.read(h) is not None
        finally:
            del word
            shm.close()


def test_bad_handles_and_oversized_writes() -> None:
    with SharedTensorRing(slots=2, slot_bytes=4096) as ring, SharedTensorReader() as reader:
        with pytest.raises(ShmError, match="do not fit"):
            ring.write({"x": np.zeros(4097, np.uint8)})
        with pytest.raises(ShmError, match="dtype"):
            ring.write({"x": np.zeros(2, np.complex64)})
        h = ring.write({"x": np.zeros(16, np.uint8)})
        with pytest.raises(ShmError, match="past its slot"):
            reader.read({**h, "arrays": [{"name": "x", "dtype": "uint8", "shape": [5000], "offset": 0}]})
        with pytest.raises(ShmError, match="foreign"):
            reader.read({**h, "name": "psm_other"})
        with pytest.raises(ShmError, match="version"):
            reader.read({**h, "v": 99})
        with pytest.raises(ShmError, match="does not exist"):
            reader.read({**h, "name": "vholo_1_000000000000"})
    with pytest.raises(RuntimeError, match="closed"):
        ring.write({"x": np.zeros(1)})


def _reader_proc(handles: mp.Queue, results: mp.Queue) -> None:
    reader = SharedTensorReader()
    fresh = stale = wrong = 0
    while True:
        h = handles.get()
        if h is None:
            break
        got = reader.read(json.loads(h))
        if got is None:
            stale += 1
            continue
        frame = int(got["seq"][0])
        # every element equals the frame number: a torn copy would mix two frames
        if not (np.all(got["planes"] == np.float16(frame % 2048)) and got["planes"].shape == (3, 8, 64, 64)):
            wrong += 1
        fresh += 1
    reader.close()
    results.put((fresh, stale, wrong))


@needs_dev_shm
def test_reader_processes_get_whole_frames_and_never_unlink() -> None:
    ctx = mp.get_context("spawn")
    n_readers, frames = 3, 60
    queues = [ctx.Queue() for _ in range(n_readers)]
    results = ctx.Queue()
    procs = [ctx.Process(target=_reader_proc, args=(q, results)) for q in queues]
    for p in procs:
        p.start()
    with SharedTensorRing(slots=4, slot_bytes=1 << 20) as ring:
        for i in range(frames):
            planes = np.full((3, 8, 64, 64), i % 2048, np.float16)
            h = json.dumps(ring.write({"planes": planes, "seq": np.array([i])}))
            for q in queues:
                q.put(h)
        for q in queues:
            q.put(None)
        outcomes = [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=30)
            assert p.exitcode == 0
        # the readers have exited: the writer's segment is still there and usable
        assert (SHM / ring.name).exists()
        with SharedTensorReader() as r:
            assert r.read(ring.write({"planes": np.zeros(2, np.float16)})) is not None
        name = ring.name
    assert not (SHM / name).exists()  # close() unlinked it
    for fresh, stale, wrong in outcomes:
        assert wrong == 0
        assert fresh + stale == frames and fresh > 0


@needs_dev_shm
def test_killed_writer_segment_is_removed_by_the_resource_tracker() -> None:
    code = (
        "import os, signal, sys\n"
        "from pipeline.shm import SharedTensorRing\n"
        "r = SharedTensorRing(slots=2, slot_bytes=4096)\n"
        "print(r.name, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )
    name = proc.stdout.strip()
    assert name.startswith("vholo_"), proc.stderr
    deadline = time.monotonic() + 20
    while (SHM / name).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (SHM / name).exists()


def test_sweep_removes_only_segments_of_dead_writers(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    (tmp_path / f"vholo_{dead_pid}_abcdef").write_bytes(b"x")
    (tmp_path / f"vholo_{os.getppid()}_abcdef").write_bytes(b"x")  # a live process
    (tmp_path / "other_segment").write_bytes(b"x")
    removed = sweep_orphans(tmp_path)
    assert removed == [f"vholo_{dead_pid}_abcdef"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"vholo_{os.getppid()}_abcdef", "other_segment"]
    )


@needs_dev_shm
@pytest.mark.net
def test_hop_bench_delivers_every_frame_to_every_reader() -> None:
    from pipeline.accel.hop_bench import measure_hop

    for mode in ("zmq", "shm"):
        r = measure_hop(mode, readers=2, frames=5, fps=60.0)
        assert r["stale"] == 0 and len(r["hop_ms"]) == 5, mode
        assert all(h > 0 for h in r["hop_ms"])
