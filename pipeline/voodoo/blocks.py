"""Building blocks shared by the VOODOO 3D encoders (spec sections 3.1-3.5).

* :func:`coordinate_grid` / :func:`append_coordinates` -- the two coordinate channels
  (x along the width, y along the height, both in [-1, 1]) appended to every encoder input.
* :class:`FeatureExtractor` -- the normalisation-free "DeepLabV3": a ResNet-34 trunk cut at
  ``layer2`` (stride 8) and an ASPP head. ``layer3``/``layer4`` exist only so that the
  official checkpoint loads; they are never run (``keep_unused=False`` drops them).
* :class:`PatchEmbed`, :class:`TransformerBlock` -- SegFormer-style overlapping patch
  embedding and efficient-attention block (LayerNorm eps 1e-5, erf GELU, bias-free q/kv).
* :func:`tokens_to_map` -- ``B x N x C`` tokens back to a ``B x C x H x W`` map.

Module attribute names equal the official state-dict names, so a checkpoint loads with
``load_state_dict(strict=True)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "FeatureExtractor",
    "PatchEmbed",
    "TransformerBlock",
    "append_coordinates",
    "in_format_of",
    "conv3x3",
    "coordinate_grid",
    "tokens_to_map",
]


def conv3x3(c_in: int, c_out: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    """3x3 convolution with bias and "same" padding (``padding = dilation``)."""
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=dilation, dilation=dilation, bias=True)


def coordinate_grid(height: int, width: int, device: torch.device | str | None = None) -> Tensor:
    """``1 x 2 x H x W`` grid: channel 0 = linspace(-1, 1, W)[col], channel 1 = linspace(-1, 1, H)[row]."""
    xs = torch.linspace(-1.0, 1.0, width, device=device).expand(height, width)
    ys = torch.linspace(-1.0, 1.0, height, device=device)[:, None].expand(height, width)
    return torch.stack((xs, ys))[None].contiguous()


def in_format_of(x: Tensor, like: Tensor) -> Tensor:
    """``x`` in ``like``'s memory format when that is channels-last (NHWC), else as it is.

    Concatenating a channels-last tensor with a broadcast one gives an NCHW result; the
    convolution after it would then run in NCHW (and convert its weights on every call).
    """
    if (
        x.ndim == 4
        and like.ndim == 4
        and not like.is_contiguous()
        and like.is_contiguous(memory_format=torch.channels_last)
    ):
        return x.contiguous(memory_format=torch.channels_last)
    return x


def append_coordinates(image: Tensor, grid: Tensor) -> Tensor:
    """``B x 3 x H x W`` image + ``1 x 2 x H x W`` grid -> ``B x 5 x H x W`` ``[R, G, B, x, y]``
    (in the image's memory format)."""
    if image.shape[-2:] != grid.shape[-2:]:
        raise ValueError(
            f"encoder input must be {tuple(grid.shape[-2:])} pixels, got {tuple(image.shape[-2:])}"
        )
    out = torch.cat((image, grid.to(image.dtype).expand(image.shape[0], -1, -1, -1)), dim=1)
    return in_format_of(out, image)


def tokens_to_map(tokens: Tensor, height: int, width: int) -> Tensor:
    """``B x (H*W) x C`` row-major tokens -> ``B x C x H x W``."""
    b, n, c = tokens.shape
    if n != height * width:
        raise ValueError(f"{n} tokens do not form a {height}x{width} map")
    return tokens.reshape(b, height, width, c).permute(0, 3, 1, 2)


# -- ResNet-34 trunk + ASPP ------------------------------------------------------------------


class _BasicBlock(nn.Module):
    """ResNet basic block without normalisation; every conv has a bias."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(c_in, c_out, stride)
        self.conv2 = conv3x3(c_out, c_out)
        self.downsample: nn.Sequential | None
        if stride != 1 or c_in != c_out:
            # index 1 is the (removed) normalisation layer of the official Sequential
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=True))
        else:
            self.downsample = None

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(F.relu(self.conv1(x)))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


def _layer(c_in: int, c_out: int, blocks: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        _BasicBlock(c_in, c_out, stride), *(_BasicBlock(c_out, c_out, 1) for _ in range(blocks - 1))
    )


class _ResNetTrunk(nn.Module):
    """ResNet-34 without BatchNorm, 5 input channels; returns the stride-8 ``layer2`` map."""

    def __init__(self, keep_unused: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(5, 64, 7, stride=2, padding=3, bias=False)
        self.layer1 = _layer(64, 64, 3, 1)
        self.layer2 = _layer(64, 128, 4, 2)
        if keep_unused:  # present in the checkpoint; their output is discarded upstream
            self.layer3 = _layer(128, 256, 6, 2)
            self.layer4 = _layer(256, 512, 3, 2)

    def forward(self, x: Tensor) -> Tensor:
        """``B x 5 x H x W`` -> ``B x 128 x H/8 x W/8``."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 3, stride=2, padding=1)
        return self.layer2(self.layer1(x))


class _ASPP(nn.Module):
    def __init__(self, c_in: int, c_out: int = 256, rates: tuple[int, ...] = (12, 24, 36)) -> None:
        super().__init__()
        branches = [nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=True))]
        branches += [nn.Sequential(conv3x3(c_in, c_out, dilation=r)) for r in rates]
        # image-pooling branch: index 0 = pooling, 1 = conv (official Sequential layout)
        branches.append(nn.Sequential(nn.Identity(), nn.Conv2d(c_in, c_out, 1, bias=True)))
        self.convs = nn.ModuleList(branches)
        self.project = nn.Sequential(nn.Conv2d(c_out * (len(rates) + 2), c_out, 1, bias=True))

    def forward(self, x: Tensor) -> Tensor:
        outs = [F.relu(branch(x)) for branch in self.convs[:-1]]
        pooling = self.convs[-1]
        assert isinstance(pooling, nn.Sequential)  # built so in __init__; ModuleList items are Modules
        pooled = F.relu(pooling[1](F.adaptive_avg_pool2d(x, 1)))
        outs.append(F.interpolate(pooled, size=x.shape[-2:], mode="bilinear", align_corners=False))
        return F.relu(self.project(in_format_of(torch.cat(outs, dim=1), x)))


class FeatureExtractor(nn.Module):
    """Normalisation-free DeepLabV3 (spec 3.2): ``B x 5 x 512 x 512`` -> ``B x 256 x 64 x 64`` (>= 0)."""

    def __init__(self, keep_unused: bool = False) -> None:
        super().__init__()
        self.encoder = _ResNetTrunk(keep_unused)
        self.decoder = nn.Sequential(_ASPP(128), conv3x3(256, 256))

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.decoder(self.encoder(x)))


# -- SegFormer-style transformer pieces -----------------------------------------------------


class PatchEmbed(nn.Module):
    """Overlapping patch embedding: 3x3 stride-2 conv then LayerNorm over channels.

    ``B x C_in x H x W`` -> (``B x (H/2 * W/2) x dim`` tokens, H/2, W/2).
    """

    def __init__(self, c_in: int, dim: int = 1024) -> None:
        super().__init__()
        self.proj = nn.Conv2d(c_in, dim, 3, stride=2, padding=1, bias=True)
        self.norm = nn.LayerNorm(dim, eps=1e-5)

    def forward(self, x: Tensor) -> tuple[Tensor, int, int]:
        x = self.proj(x)
        h, w = x.shape[-2:]
        return self.norm(x.flatten(2).transpose(1, 2)), int(h), int(w)


class _EfficientAttention(nn.Module):
    """Multi-head self-attention whose keys/values come from a ``sr``-times reduced map."""

    def __init__(self, dim: int, heads: int, sr_ratio: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.sr_ratio = sr_ratio
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(dim, 2 * dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=True)
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, sr_ratio, stride=sr_ratio, bias=True)
            self.norm = nn.LayerNorm(dim, eps=1e-5)

    def forward(self, x: Tensor, height: int, width: int) -> Tensor:
        b, n, c = x.shape
        d = c // self.heads
        q = self.q(x).reshape(b, n, self.heads, d).transpose(1, 2)
        ctx = x
        if self.sr_ratio > 1:
            ctx = self.sr(tokens_to_map(x, height, width)).flatten(2).transpose(1, 2)
            ctx = self.norm(ctx)
        kv = self.kv(ctx).reshape(b, -1, 2, self.heads, d).permute(2, 0, 3, 1, 4)
        # scaled_dot_product_attention's default scale is d^-0.5, as in the model
        out = F.scaled_dot_product_attention(q, kv[0], kv[1])
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class _DepthwiseConv(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim, bias=True)

    def forward(self, x: Tensor, height: int, width: int) -> Tensor:
        return self.dwconv(tokens_to_map(x, height, width)).flatten(2).transpose(1, 2)


class _MixFFN(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = _DepthwiseConv(hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor, height: int, width: int) -> Tensor:
        return self.fc2(F.gelu(self.dwconv(self.fc1(x), height, width)))


class TransformerBlock(nn.Module):
    """Pre-norm block: ``x + Attn(LN(x))`` then ``x + MixFFN(LN(x))`` on ``B x (H*W) x dim`` tokens."""

    def __init__(self, dim: int = 1024, heads: int = 4, sr_ratio: int = 1, mlp_ratio: int = 2) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn = _EfficientAttention(dim, heads, sr_ratio)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.mlp = _MixFFN(dim, dim * mlp_ratio)

    def forward(self, x: Tensor, height: int, width: int) -> Tensor:
        x = x + self.attn(self.norm1(x), height, width)
        return x + self.mlp(self.norm2(x), height, width)
