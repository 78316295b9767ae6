"""Fused tri-plane lookup + decoder MLP as one Triton kernel (``RenderSettings.kernel="triton"``).

The PyTorch path decodes K samples in four passes over memory: ``grid_sample`` writes
``3 x C x K`` plane features, the plane mean writes ``K x C``, the first linear layer and
softplus write ``K x 64``, the second ``K x 33``. Every view of a 128 x 128 render has
~3.1 M samples, so a 24-view frame moves several GB of intermediates. This kernel reads a
block of points, gathers the 12 bilinear taps (3 planes x 2 x 2) straight from a
channels-last copy of the tri-plane (each tap is one contiguous row of C floats), averages
them, runs both layers in registers (``tl.dot``) and writes only the density logit and the
C features.

The numbers are the PyTorch path's up to float rounding (same bilinear rule:
``align_corners=False``, zero padding; same decoder: equalised-lr scaling, softplus,
``sigmoid * 1.002 - 0.001``). With ``precision="ieee"`` (the default) the matrix products
are full float32; ``"tf32"`` lets a GPU use TF32 tensor cores (about 1e-3 relative error).

On CUDA it needs Triton (``pip install triton``; PyTorch's CUDA wheels bring it). Off CUDA
it runs only under Triton's interpreter (``TRITON_INTERPRET=1`` set before Triton is
imported), which is how the tests check it against PyTorch on CPU.

Triton bundles its own LLVM. In a process where Mesa's llvmpipe (software OpenGL, which
links the system's LLVM) has already made a context, importing Triton crashes (torch
imports it lazily, e.g. for ``torch.compile``); where a process needs both, import Triton
first, as the test suite's conftest does. GPU drivers' own OpenGL does not link LLVM.
"""

from __future__ import annotations

import math
import os
from typing import Literal, Protocol

import torch
from torch import Tensor, nn

__all__ = ["FusedTriplaneDecoder", "triton_status"]

Precision = Literal["ieee", "tf32"]


class TwoLayerDecoder(Protocol):
    """What the kernel needs of :class:`~pipeline.voodoo.renderer.TriplaneDecoder`."""

    def layers(self) -> tuple[nn.Linear, nn.Linear]:
        """The hidden and the output layer (unscaled weights)."""
        ...


try:  # optional dependency
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - exercised where triton is absent
    triton = None
    tl = None


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "") not in ("", "0")


def triton_status(device: torch.device | str) -> str | None:
    """``None`` when the fused kernel can run on ``device``, else why not (one line)."""
    dev = torch.device(device)
    if triton is None:
        return "Triton is not installed (pip install triton; PyTorch's CUDA wheels include it)"
    if dev.type == "cuda" or _interpreting():
        return None
    return (
        f"the Triton kernel needs a CUDA device (got {dev.type}; TRITON_INTERPRET=1 runs it on CPU, slowly)"
    )


if triton is not None:

    @triton.jit
    def _tap(plane_ptr, ix, iy, wgt, H, W, channels, C: tl.constexpr):
        """One bilinear tap: ``wgt * plane[iy, ix, :]`` (zero outside the plane)."""
        inside = (ix >= 0) & (ix < W) & (iy >= 0) & (iy < H)
        row = (tl.where(inside, iy, 0) * W + tl.where(inside, ix, 0)) * C
        vals = tl.load(plane_ptr + row[:, None] + channels[None, :], mask=inside[:, None], other=0.0)
        return vals * wgt[:, None]

    @triton.jit
    def _bilinear(plane_ptr, u, v, H, W, channels, C: tl.constexpr):
        """``BLOCK x C`` bilinear lookup at normalised (u, v) in [-1, 1], align_corners=False."""
        fx = ((u + 1.0) * W - 1.0) * 0.5
        fy = ((v + 1.0) * H - 1.0) * 0.5
        x0f = tl.floor(fx)
        y0f = tl.floor(fy)
        ax = fx - x0f
        ay = fy - y0f
        x0 = x0f.to(tl.int32)
        y0 = y0f.to(tl.int32)
        acc = _tap(plane_ptr, x0, y0, (1.0 - ax) * (1.0 - ay), H, W, channels, C)
        acc += _tap(plane_ptr, x0 + 1, y0, ax * (1.0 - ay), H, W, channels, C)
        acc += _tap(plane_ptr, x0, y0 + 1, (1.0 - ax) * ay, H, W, channels, C)
        acc += _tap(plane_ptr, x0 + 1, y0 + 1, ax * ay, H, W, channels, C)
        return acc

    @triton.jit
    def _decode_kernel(
        points_ptr,
        planes_ptr,
        w0_ptr,
        b0_ptr,
        ws_ptr,
        bs_ptr,
        wf_ptr,
        bf_ptr,
        sigma_ptr,
        feats_ptr,
        K,
        H,
        W,
        scale,
        C: tl.constexpr,
        HID: tl.constexpr,
        BLOCK: tl.constexpr,
        PRECISION: tl.constexpr,
    ):
        pid = tl.program_id(0)
        rows = pid * BLOCK + tl.arange(0, BLOCK)
        live = rows < K
        px = tl.load(points_ptr + rows * 3 + 0, mask=live, other=0.0) * scale
        py = tl.load(points_ptr + rows * 3 + 1, mask=live, other=0.0) * scale
        pz = tl.load(points_ptr + rows * 3 + 2, mask=live, other=0.0) * scale
        ch = tl.arange(0, C)
        plane = H * W * C
        # planes XY (x, y), XZ (x, z), ZY (z, y): (column, row) coordinates
        f = _bilinear(planes_ptr, px, py, H, W, ch, C)
        f += _bilinear(planes_ptr + plane, px, pz, H, W, ch, C)
        f += _bilinear(planes_ptr + 2 * plane, pz, py, H, W, ch, C)
        f = f * (1.0 / 3.0)
        hid = tl.arange(0, HID)
        w0 = tl.load(w0_ptr + ch[:, None] * HID + hid[None, :])  # C x HID, pre-scaled
        h = tl.dot(f, w0, input_precision=PRECISION) + tl.load(b0_ptr + hid)[None, :]
        h = tl.where(h > 20.0, h, tl.log(1.0 + tl.exp(h)))  # softplus (torch's threshold 20)
        ws = tl.load(ws_ptr + hid)
        sigma = tl.sum(h * ws[None, :], axis=1) + tl.load(bs_ptr)
        wf = tl.load(wf_ptr + hid[:, None] * C + ch[None, :])  # HID x C, pre-scaled
        o = tl.dot(h, wf, input_precision=PRECISION) + tl.load(bf_ptr + ch)[None, :]
        o = tl.sigmoid(o) * (1.0 + 2 * 0.001) - 0.001
        tl.store(sigma_ptr + rows, sigma, mask=live)
        tl.store(feats_ptr + rows[:, None] * C + ch[None, :], o, mask=live[:, None])


class FusedTriplaneDecoder:
    """Decode points of one tri-plane with the fused kernel.

    Built once per tri-plane (the channels-last copy and the scaled weights are shared by
    every view and chunk of a render call); calling it maps ``K x 3`` world points to
    (``K`` density logits, ``K x C`` features) like
    ``decoder(sample_triplanes(planes, points, box_warp))``.
    """

    def __init__(
        self,
        planes: Tensor,
        decoder: TwoLayerDecoder,
        box_warp: float = 1.0,
        precision: Precision = "ieee",
        block: int = 64,
    ) -> None:
        why = triton_status(planes.device)
        if why is not None:
            raise RuntimeError(why)
        if planes.ndim != 4 or planes.shape[0] != 3:
            raise ValueError(f"planes must be 3 x C x H x W, got {tuple(planes.shape)}")
        c = planes.shape[1]
        l0, l2 = decoder.layers()
        hid = l0.out_features
        if l0.in_features != c or l2.out_features != 1 + c:
            raise ValueError(
                f"decoder shape {l0.in_features}->{hid}->{l2.out_features} does not fit {c} channels"
            )
        for n in (c, hid, block):
            if n < 16 or n & (n - 1):
                raise ValueError(
                    f"the fused kernel needs power-of-two sizes >= 16 (channels, hidden, block), got {n}"
                )
        self.c, self.hid, self.block, self.precision = c, hid, block, precision
        self.scale = 2.0 / box_warp
        self.height, self.width = planes.shape[2], planes.shape[3]
        self.planes = planes.float().permute(0, 2, 3, 1).contiguous()  # 3 x H x W x C
        w0 = l0.weight.float() * (1.0 / math.sqrt(l0.in_features))
        w2 = l2.weight.float() * (1.0 / math.sqrt(l2.in_features))
        self.w0 = w0.t().contiguous()  # C x HID
        self.b0 = l0.bias.float().contiguous()
        self.ws = w2[0].contiguous()  # HID
        self.bs = l2.bias[:1].float().contiguous()  # a device tensor: reading it here would wait for the GPU
        self.wf = w2[1:].t().contiguous()  # HID x C
        self.bf = l2.bias[1:].float().contiguous()

    def __call__(self, points: Tensor) -> tuple[Tensor, Tensor]:
        points = points.float().contiguous()
        k = points.shape[0]
        sigma = torch.empty(k, device=points.device)
        feats = torch.empty(k, self.c, device=points.device)
        if k == 0:
            return sigma, feats
        grid = (triton.cdiv(k, self.block),)
        _decode_kernel[grid](
            points,
            self.planes,
            self.w0,
            self.b0,
            self.ws,
            self.bs,
            self.wf,
            self.bf,
            sigma,
            feats,
            k,
            self.height,
            self.width,
            self.scale,
            C=self.c,
            HID=self.hid,
            BLOCK=self.block,
            PRECISION=self.precision,
        )
        return sigma, feats
