"""Large scene arrays (tri-planes) travel through shared memory on one host, inline otherwise."""

from __future__ import annotations

import numpy as np

from app.live.roles import _SceneShm
from pipeline.shm import SharedTensorReader
from pipeline.wire import decode, encode


def _arrays():
    rng = np.random.default_rng(0)
    return {
        "planes": rng.standard_normal((1, 3, 32, 64, 64)).astype(np.float32),  # 1.5 MB
        "seq": np.array([7], np.int64),
        "cam.cam2world": np.eye(4),
    }


def test_big_arrays_go_through_shared_memory_and_come_back_equal():
    shm = _SceneShm(enabled=True)
    reader = SharedTensorReader()
    try:
        arrays = _arrays()
        msg = decode([bytes(f) for f in encode(shm.message(7, 123, arrays, source_key="k"))])
        assert "planes" not in msg.arrays and set(msg.arrays) == {"seq", "cam.cam2world"}
        assert msg.meta["source_key"] == "k" and "shm" in msg.meta
        big = reader.read(msg.meta["shm"])
        assert big is not None
        np.testing.assert_array_equal(big["planes"], arrays["planes"])
        # The ring reuses its slots: after a full turn the old handle reads as overwritten.
        for _ in range(4):
            shm.message(8, 124, _arrays())
        assert reader.read(msg.meta["shm"]) is None
    finally:
        reader.close()
        shm.close()


def test_inline_when_disabled_or_small():
    off = _SceneShm(enabled=False)
    msg = off.message(1, 2, _arrays())
    assert "planes" in msg.arrays and "shm" not in msg.meta
    on = _SceneShm(enabled=True)
    small = on.message(1, 2, {"seq": np.array([1], np.int64)})
    assert "shm" not in small.meta and on.ring is None
