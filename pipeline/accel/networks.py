"""The three networks that leave PyTorch (ONNX, TensorRT), with their I/O contracts.

==========  ====================================================  =========================
name        inputs -> outputs                                     runs
==========  ====================================================  =========================
encoder     ``image`` 1x3x512x512 in [-1, 1] -> ``planes``         per driver frame
            1x3x32x256x256 (Lp3D)
expression  ``source_feats`` 1x256x64x64, ``triplane_feats``       per driver frame
            1x128x64x64, ``driver_rgb01`` 1x3x512x512 -> ``delta``
            1x3x32x256x256
superres    ``image_raw`` Nx3x128x128 -> ``image`` Nx3x512x512     per view (batched)
==========  ====================================================  =========================

The expression encoder's source-only features stay in PyTorch (they run once per call).
Super-resolution is exported with the unfused modulated convolution (an ordinary conv with a
known kernel shape, see :func:`pipeline.voodoo.superres.modulated_conv2d_unfused`), which
lets its batch dimension be dynamic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from pipeline.voodoo.expression import ExpressionEncoder
from pipeline.voodoo.model import Voodoo3D

__all__ = ["NETWORK_NAMES", "NetworkSpec", "network_specs"]

NETWORK_NAMES = ("encoder", "expression", "superres")


class _DeltaNet(nn.Module):
    """The per-frame part of the expression encoder as a plain ``forward``."""

    def __init__(self, exp: ExpressionEncoder) -> None:
        super().__init__()
        self.exp = exp

    def forward(self, source_feats: Tensor, triplane_feats: Tensor, driver_rgb01: Tensor) -> Tensor:
        return self.exp.delta_from_features(source_feats, triplane_feats, driver_rgb01)


@dataclass(frozen=True)
class NetworkSpec:
    """How one network is exported and fed.

    Attributes:
        name: one of :data:`NETWORK_NAMES` (also the ONNX file stem).
        module: the float32 PyTorch module whose ``forward`` is exported.
        inputs / outputs: tensor names in argument order.
        shapes: input name -> shape used for export (and TensorRT's optimal profile).
        dynamic_batch: the first dimension may vary (``min_batch..max_batch`` in TensorRT).
        example: builds reproducible example inputs of a given batch size (values in the
            range the model sees live).
    """

    name: str
    module: nn.Module
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    shapes: dict[str, tuple[int, ...]]
    dynamic_batch: bool
    example: Callable[[int, int], tuple[Tensor, ...]]


def _rand(shape: tuple[int, ...], gen: torch.Generator, lo: float, hi: float) -> Tensor:
    return torch.rand(shape, generator=gen) * (hi - lo) + lo


def network_specs(model: Voodoo3D) -> dict[str, NetworkSpec]:
    """Export specs of the model's three networks (the model must be float32 on its device)."""

    def enc_example(batch: int, seed: int) -> tuple[Tensor, ...]:
        g = torch.Generator().manual_seed(seed)
        return (_rand((batch, 3, 512, 512), g, -1, 1),)

    def exp_example(batch: int, seed: int) -> tuple[Tensor, ...]:
        g = torch.Generator().manual_seed(seed)
        return (
            torch.randn((batch, 256, 64, 64), generator=g),
            torch.randn((batch, 128, 64, 64), generator=g),
            _rand((batch, 3, 512, 512), g, 0, 1),
        )

    def sr_example(batch: int, seed: int) -> tuple[Tensor, ...]:
        g = torch.Generator().manual_seed(seed)
        return (_rand((batch, 3, 128, 128), g, -1, 1),)

    return {
        "encoder": NetworkSpec(
            "encoder",
            model.triplane_encoder,
            ("image",),
            ("planes",),
            {"image": (1, 3, 512, 512)},
            False,
            enc_example,
        ),
        "expression": NetworkSpec(
            "expression",
            _DeltaNet(model.exp_transfer),
            ("source_feats", "triplane_feats", "driver_rgb01"),
            ("delta",),
            {
                "source_feats": (1, 256, 64, 64),
                "triplane_feats": (1, 128, 64, 64),
                "driver_rgb01": (1, 3, 512, 512),
            },
            False,
            exp_example,
        ),
        "superres": NetworkSpec(
            "superres",
            model.superresolution,
            ("image_raw",),
            ("image",),
            {"image_raw": (1, 3, 128, 128)},
            True,
            sr_example,
        ),
    }
