"""Lp3D tri-plane encoder (spec section 4): one image -> ``B x 3 x 32 x 256 x 256`` tri-plane.

``Lp3DEncoder.forward`` takes the image in [-1, 1] and applies the model's own ``(x + 1) / 2``
before the two branches (ELow: DeepLabV3 + 5 transformer blocks; EHigh: a shallow conv stack)
and the fusion stage (a 128x128-token transformer with key reduction 2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pipeline.voodoo.blocks import (
    FeatureExtractor,
    PatchEmbed,
    TransformerBlock,
    append_coordinates,
    conv3x3,
    coordinate_grid,
    tokens_to_map,
)

__all__ = ["IMAGE_SIZE", "PLANE_CHANNELS", "PLANE_SIZE", "Lp3DEncoder"]

#: Side of the images every encoder consumes.
IMAGE_SIZE = 512
#: Tri-plane layout: 3 planes (XY, XZ, ZY) x 32 channels x 256 x 256.
PLANE_CHANNELS = 32
PLANE_SIZE = 256


def _up2(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def _lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.01)


class _ELow(nn.Module):
    """Low-frequency branch: ``B x 3 x 512 x 512`` in [0, 1] -> ``B x 96 x 256 x 256``."""

    id_grid: Tensor  # a buffer (register_buffer in __init__)

    def __init__(self, keep_unused: bool) -> None:
        super().__init__()
        self.register_buffer("id_grid", coordinate_grid(IMAGE_SIZE, IMAGE_SIZE))
        self.deeplabv3_backbone = FeatureExtractor(keep_unused)
        self.patch_embed = PatchEmbed(256, 1024)
        for i in range(1, 6):
            self.add_module(f"block{i}", TransformerBlock(1024, heads=4, sr_ratio=1))
        self.conv1 = conv3x3(256, 128)
        self.conv2 = conv3x3(128, 128)
        self.conv3 = conv3x3(128, 96)
        self.pixel_shuffle = nn.PixelShuffle(2)

    def forward(self, image_rgb01: Tensor) -> Tensor:
        x = self.deeplabv3_backbone(append_coordinates(image_rgb01, self.id_grid))
        tokens, h, w = self.patch_embed(x)
        for i in range(1, 6):
            tokens = getattr(self, f"block{i}")(tokens, h, w)
        x = _up2(self.pixel_shuffle(tokens_to_map(tokens, h, w)))
        x = _up2(F.relu(self.conv1(x)))
        return self.conv3(F.relu(self.conv2(x)))


class _EHigh(nn.Module):
    """High-frequency branch: ``B x 3 x 512 x 512`` in [0, 1] -> ``B x 96 x 256 x 256``."""

    id_grid: Tensor  # a buffer (register_buffer in __init__)

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("id_grid", coordinate_grid(IMAGE_SIZE, IMAGE_SIZE))
        self.conv1 = nn.Conv2d(5, 64, 7, stride=2, padding=3, bias=True)
        self.conv2 = conv3x3(64, 96)
        self.conv3 = conv3x3(96, 96)
        self.conv4 = conv3x3(96, 96)
        self.conv5 = conv3x3(96, 96)

    def forward(self, image_rgb01: Tensor) -> Tensor:
        x = _lrelu(self.conv1(append_coordinates(image_rgb01, self.id_grid)))
        for conv in (self.conv2, self.conv3, self.conv4, self.conv5):
            x = _lrelu(conv(x))
        return x


class Lp3DEncoder(nn.Module):
    """Image in [-1, 1] (``B x 3 x 512 x 512``) -> tri-plane ``B x 3 x 32 x 256 x 256``."""

    def __init__(self, keep_unused: bool = False) -> None:
        super().__init__()
        self.elo = _ELow(keep_unused)
        self.ehi = _EHigh()
        self.conv1 = conv3x3(192, 256)
        self.conv2 = conv3x3(256, 128)
        self.patch_embed = PatchEmbed(128, 1024)
        self.transformer_block = TransformerBlock(1024, heads=2, sr_ratio=2)
        self.conv3 = conv3x3(352, 256)
        self.conv4 = conv3x3(256, 128)
        self.conv5 = conv3x3(128, 128)
        self.conv6 = conv3x3(128, 96)
        self.pixel_shuffle = nn.PixelShuffle(2)

    def forward(self, image_signed: Tensor) -> Tensor:
        image_rgb01 = (image_signed + 1) / 2  # the model's own "legacy" conversion
        f_lo = self.elo(image_rgb01)
        f_hi = self.ehi(image_rgb01)
        x = _lrelu(self.conv2(_lrelu(self.conv1(torch.cat((f_lo, f_hi), dim=1)))))
        del f_hi
        tokens, h, w = self.patch_embed(x)
        del x
        tokens = self.transformer_block(tokens, h, w)
        x = self.pixel_shuffle(tokens_to_map(tokens, h, w))
        del tokens
        x = _lrelu(self.conv3(torch.cat((x, f_lo), dim=1)))
        del f_lo
        x = _lrelu(self.conv5(_lrelu(self.conv4(x))))
        x = self.conv6(x)
        return x.reshape(x.shape[0], 3, PLANE_CHANNELS, x.shape[-2], x.shape[-1])
