"""Expression encoder (spec section 5): the tri-plane residual that moves the source's face.

Inputs are the frontalised source (``(S_f + 1) / 2``, not clamped), the frontalised driver
(``(nearest x4 of the driver's 128 render + 1) / 2``) and the source tri-plane. The output
is the residual Delta; the re-enacted tri-plane is ``source + Delta``.
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
from pipeline.voodoo.encoder import IMAGE_SIZE, PLANE_CHANNELS

__all__ = ["ExpressionEncoder"]


def _up2(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class ExpressionEncoder(nn.Module):
    """``(B x 3 x 512 x 512, B x 3 x 512 x 512, B x 3 x 32 x 256 x 256)`` -> Delta (tri-plane shape)."""

    id_grid: Tensor  # a buffer (register_buffer in __init__)

    def __init__(self, keep_unused: bool = False) -> None:
        super().__init__()
        self.register_buffer("id_grid", coordinate_grid(IMAGE_SIZE, IMAGE_SIZE))
        self.source_feat_extractor = FeatureExtractor(keep_unused)
        self.driver_feat_extractor = FeatureExtractor(keep_unused)
        self.triplane_descriptor = nn.Sequential(
            conv3x3(96, 96, stride=2),
            nn.ReLU(),
            conv3x3(96, 96),
            nn.ReLU(),
            conv3x3(96, 128, stride=2),
            nn.ReLU(),
            conv3x3(128, 128),
            nn.ReLU(),
            conv3x3(128, 128),
        )
        self.patch_embed = PatchEmbed(640, 1024)
        self.block1 = TransformerBlock(1024, heads=4, sr_ratio=1)
        self.block2 = TransformerBlock(1024, heads=4, sr_ratio=1)
        self.conv1 = conv3x3(256, 128)
        self.conv2 = conv3x3(128, 128)
        self.conv3 = conv3x3(128, 96)
        self.pixel_shuffle = nn.PixelShuffle(2)

    def source_features(self, source_frontal_rgb01: Tensor) -> Tensor:
        """``B x 3 x 512 x 512`` -> ``B x 256 x 64 x 64``; depends on the source only (cacheable)."""
        return self.source_feat_extractor(append_coordinates(source_frontal_rgb01, self.id_grid))

    def triplane_features(self, source_planes: Tensor) -> Tensor:
        """``B x 3 x 32 x 256 x 256`` -> ``B x 128 x 64 x 64``; depends on the source only (cacheable)."""
        b = source_planes.shape[0]
        return self.triplane_descriptor(
            source_planes.reshape(b, 3 * PLANE_CHANNELS, *source_planes.shape[-2:])
        )

    def delta_from_features(
        self, source_feats: Tensor, triplane_feats: Tensor, driver_frontal_rgb01: Tensor
    ) -> Tensor:
        """Delta from the cached source-side features and the driver's frontal image."""
        driver_feats = self.driver_feat_extractor(append_coordinates(driver_frontal_rgb01, self.id_grid))
        x = torch.cat((source_feats, driver_feats, triplane_feats), dim=1)
        tokens, h, w = self.patch_embed(x)
        tokens = self.block2(self.block1(tokens, h, w), h, w)
        x = _up2(self.pixel_shuffle(tokens_to_map(tokens, h, w)))
        x = _up2(F.relu(self.conv1(x)))
        x = self.conv3(F.relu(self.conv2(x)))
        return x.reshape(x.shape[0], 3, PLANE_CHANNELS, x.shape[-2], x.shape[-1])

    def forward(
        self, source_frontal_rgb01: Tensor, driver_frontal_rgb01: Tensor, source_planes: Tensor
    ) -> Tensor:
        """Delta (``B x 3 x 32 x 256 x 256``); add it to ``source_planes`` to re-enact."""
        return self.delta_from_features(
            self.source_features(source_frontal_rgb01),
            self.triplane_features(source_planes),
            driver_frontal_rgb01,
        )
