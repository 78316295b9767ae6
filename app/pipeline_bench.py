"""``voodoo-holo bench pipeline``: costs between the live pipeline's processes.

For now the tri-plane hop (estimator -> 4 renderers) over ZeroMQ ``ipc://`` (arrays in the
message) and through shared memory (a handle in the message), with real processes; see
:mod:`pipeline.accel.hop_bench`. End-to-end timing of the live roles joins here once the
launcher runs them.
"""

from __future__ import annotations

import argparse

import numpy as np

from pipeline.benchutil import BenchRow

READERS = 4


def bench(args: argparse.Namespace) -> list[BenchRow]:
    from pipeline.accel.hop_bench import PLANES_SHAPE, measure_hop

    frames = args.repeats or (30 if args.quick else 150)
    mb = int(np.prod(PLANES_SHAPE)) * 2 / 1e6
    rows = []
    for mode, label in (("zmq", "ZeroMQ ipc, arrays in the message"), ("shm", "shared memory + handle")):
        print(f"  tri-plane hop via {label}: {frames} frames at 30 FPS to {READERS} readers ...", flush=True)
        r = measure_hop(mode, readers=READERS, frames=frames, fps=30.0)
        a = np.asarray(r["hop_ms"], dtype=np.float64)
        if a.size == 0:
            raise RuntimeError(f"hop bench ({mode}): no frame reached all readers")
        rows.append(
            BenchRow(
                f"tri-plane hop {mb:.1f} MB fp16 -> {READERS} readers ({label})",
                float(np.median(a)),
                float(np.percentile(a, 90)),
                float(a.min()),
                int(a.size),
                {"readers": READERS, "stale": int(r["stale"]), "fps": 30.0},
            )
        )
    return rows
