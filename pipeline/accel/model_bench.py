"""``voodoo-holo bench model``: the model bench of :mod:`pipeline.voodoo.bench`, with
``--backend tensorrt|onnxruntime|auto`` running the exported networks through :func:`accelerate`.

The bench itself lives with the model and knows nothing of exported engines; this module,
which may import both, gives it the step that swaps the networks. ``--backend torch`` runs
it unchanged.
"""

from __future__ import annotations

import argparse

from pipeline.accel.backend import AccelConfig, accelerate, is_backend
from pipeline.accel.onnx_export import weights_identity
from pipeline.benchutil import BenchRow
from pipeline.voodoo.bench import BenchConfigError, environment
from pipeline.voodoo.bench import bench as bench_model
from pipeline.voodoo.model import Voodoo3D

__all__ = ["BenchConfigError", "bench", "environment"]


def bench(args: argparse.Namespace) -> list[BenchRow]:
    """The model bench's rows, its networks on ``args.backend``."""
    backend = getattr(args, "backend", "torch")
    if not is_backend(backend):
        raise BenchConfigError(f"--backend takes torch, auto, tensorrt or onnxruntime, got {backend!r}")
    if backend == "torch":
        return bench_model(args)
    config = AccelConfig(backend=backend)

    def swap_networks(model: Voodoo3D) -> str:
        return accelerate(model, config, weights_identity(args.weights)).summary()

    return bench_model(args, swap_networks)
