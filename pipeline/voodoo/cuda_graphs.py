"""CUDA graphs for the per-frame network stages (``ModelConfig.cuda_graphs``).

A driver frame runs the same three networks on tensors of the same shapes every time: the
Lp3D encoder (1 x 3 x 512 x 512), the expression encoder and the super-resolution network
(N views x 3 x 128 x 128; on CUDA every view of a render in one batch). Launched eagerly, each is hundreds of small kernel launches
whose CPU cost shows at 30 FPS. :class:`GraphedCall` records a stage once per input
signature (shapes, dtypes, strides, device) into a CUDA graph and afterwards replays it:
copy the inputs into the graph's static buffers, replay, clone the outputs.

Eager execution stays the reference: off CUDA, for a signature whose capture failed (an op
that cannot be captured, such as a host synchronisation) and whenever
``ModelConfig.cuda_graphs`` is off (the default), the stage runs eagerly. A failed capture
is logged once per stage and signature.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = ["GraphedCall"]

_log = logging.getLogger(__name__)


def _clone(out: Any) -> Any:
    if isinstance(out, Tensor):
        return out.clone()
    if isinstance(out, (tuple, list)):
        return type(out)(_clone(o) for o in out)
    return out


class GraphedCall:
    """``fn(*tensors)`` replayed from a CUDA graph per input signature (eager elsewhere).

    Args:
        fn: the stage; its positional arguments must all be tensors and its output a tensor
            or a tuple/list of tensors, and it must not synchronise with the host.
        name: for log messages.
        warmup: eager runs on a side stream before capture (cuDNN/cuBLAS pick their
            algorithms and allocate workspaces outside the graph).
    """

    def __init__(self, fn: Callable[..., Any], name: str, warmup: int = 2) -> None:
        self.fn, self.name, self.warmup = fn, name, warmup
        self._graphs: dict[tuple, tuple[list[Tensor], Any, torch.cuda.CUDAGraph]] = {}
        self._failed: set[tuple] = set()

    @property
    def captured(self) -> int:
        """Graphs recorded so far (one per input signature)."""
        return len(self._graphs)

    def __call__(self, *args: Tensor) -> Any:
        if not args or not all(isinstance(a, Tensor) and a.device.type == "cuda" for a in args):
            return self.fn(*args)
        key = tuple((tuple(a.shape), a.dtype, a.stride(), str(a.device)) for a in args)
        if key in self._failed:
            return self.fn(*args)
        entry = self._graphs.get(key)
        if entry is None:
            try:
                entry = self._capture(args)
            except Exception as e:  # any capture failure falls back to eager
                self._failed.add(key)
                _log.warning("CUDA graph capture of %s failed, running it eagerly: %s", self.name, e)
                return self.fn(*args)
            self._graphs[key] = entry
        static_in, static_out, graph = entry
        for buf, a in zip(static_in, args, strict=True):
            buf.copy_(a)
        graph.replay()
        return _clone(static_out)

    def _capture(self, args: tuple[Tensor, ...]):
        static_in = [a.clone() for a in args]  # clone keeps the memory format (strides)
        side = torch.cuda.Stream(device=args[0].device)
        side.wait_stream(torch.cuda.current_stream(args[0].device))
        with torch.cuda.stream(side):
            for _ in range(self.warmup):
                self.fn(*static_in)
        torch.cuda.current_stream(args[0].device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self.fn(*static_in)
        return static_in, static_out, graph
