"""Unit tests of the encoder/super-resolution building blocks on small shapes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pipeline.voodoo.blocks import (
    FeatureExtractor,
    PatchEmbed,
    TransformerBlock,
    append_coordinates,
    coordinate_grid,
    tokens_to_map,
)
from pipeline.voodoo.superres import modulated_conv2d


def test_coordinate_channels_x_along_width_y_along_height() -> None:
    g = coordinate_grid(3, 5)
    assert g.shape == (1, 2, 3, 5)
    assert torch.allclose(g[0, 0, 1], torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0]))  # x varies by column
    assert torch.allclose(g[0, 0, :, 2], torch.zeros(3))
    assert torch.allclose(g[0, 1, :, 4], torch.tensor([-1.0, 0.0, 1.0]))  # y varies by row
    img = torch.rand(2, 3, 3, 5)
    x = append_coordinates(img, g)
    assert x.shape == (2, 5, 3, 5)
    assert torch.equal(x[:, :3], img) and torch.equal(x[1, 3:], g[0])


def test_append_coordinates_rejects_other_sizes() -> None:
    with pytest.raises(ValueError, match="pixels"):
        append_coordinates(torch.zeros(1, 3, 4, 4), coordinate_grid(8, 8))


def test_pixel_shuffle_channel_order() -> None:
    """out[c, 2h+a, 2w+b] = in[4c + 2a + b, h, w] (spec 3.5)."""
    x = torch.arange(2 * 4 * 2 * 3, dtype=torch.float32).reshape(1, 8, 2, 3)
    y = torch.nn.PixelShuffle(2)(x)
    for c in range(2):
        for a in range(2):
            for b in range(2):
                assert torch.equal(y[0, c, a::2, b::2], x[0, 4 * c + 2 * a + b])


def test_tokens_to_map_is_row_major() -> None:
    tokens = torch.arange(6, dtype=torch.float32).reshape(1, 6, 1)  # 2 rows x 3 columns
    m = tokens_to_map(tokens, 2, 3)
    assert m.shape == (1, 1, 2, 3)
    assert m[0, 0].tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError):
        tokens_to_map(tokens, 4, 4)


def test_modulated_conv_matches_per_sample_reference(generator: torch.Generator) -> None:
    x = torch.randn(2, 4, 6, 6, generator=generator)
    w = torch.randn(1, 5, 4, 3, 3, generator=generator)
    s = torch.rand(2, 4, generator=generator) + 0.5
    for demod in (True, False):
        out = modulated_conv2d(x, w, s, demodulate=demod)
        for i in range(2):
            k = w[0] * s[i].reshape(1, 4, 1, 1)
            if demod:
                k = k / torch.sqrt((k**2).sum((1, 2, 3), keepdim=True) + 1e-8)
            ref = F.conv2d(x[i : i + 1], k, padding=1)
            assert torch.allclose(out[i : i + 1], ref, atol=1e-5)
    # demodulation makes the output invariant to a global scale of the style
    a = modulated_conv2d(x, w, s, demodulate=True)
    b = modulated_conv2d(x, w, 3 * s, demodulate=True)
    assert torch.allclose(a, b, atol=1e-5)


def _reference_attention(block: TransformerBlock, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    attn = block.attn
    b, n, c = x.shape
    heads, d = attn.heads, c // attn.heads
    y = block.norm1(x)
    q = (y @ attn.q.weight.T).reshape(b, n, heads, d).transpose(1, 2)
    ctx = y
    if attn.sr_ratio > 1:
        ctx = attn.norm(attn.sr(y.transpose(1, 2).reshape(b, c, h, w)).flatten(2).transpose(1, 2))
    kv = ctx @ attn.kv.weight.T
    k = kv[..., :c].reshape(b, -1, heads, d).transpose(1, 2)
    v = kv[..., c:].reshape(b, -1, heads, d).transpose(1, 2)
    p = torch.softmax(q @ k.transpose(-1, -2) * d**-0.5, dim=-1)
    return attn.proj((p @ v).transpose(1, 2).reshape(b, n, c))


@pytest.mark.parametrize("sr_ratio", [1, 2])
def test_transformer_block_matches_explicit_formula(sr_ratio: int, generator: torch.Generator) -> None:
    torch.manual_seed(0)
    block = TransformerBlock(dim=16, heads=2, sr_ratio=sr_ratio, mlp_ratio=2).eval()
    h, w = 4, 6
    x = torch.randn(2, h * w, 16, generator=generator)
    with torch.no_grad():
        after_attn = x + _reference_attention(block, x, h, w)
        mlp = block.mlp
        hid = mlp.fc1(block.norm2(after_attn))
        hid = mlp.dwconv.dwconv(hid.transpose(1, 2).reshape(2, -1, h, w)).flatten(2).transpose(1, 2)
        ref = after_attn + mlp.fc2(0.5 * hid * (1 + torch.erf(hid / 2**0.5)))
        out = block(x, h, w)
    assert torch.allclose(out, ref, atol=1e-5)
    assert block.attn.q.bias is None and block.attn.kv.bias is None and block.attn.proj.bias is not None
    assert block.norm1.eps == 1e-5


def test_patch_embed_halves_and_normalises(generator: torch.Generator) -> None:
    pe = PatchEmbed(3, 8)
    tokens, h, w = pe(torch.randn(1, 3, 10, 6, generator=generator))
    assert (h, w) == (5, 3) and tokens.shape == (1, 15, 8)
    assert torch.allclose(tokens.mean(-1), torch.zeros(1, 15), atol=1e-5)  # LayerNorm with default affine


def test_feature_extractor_is_stride_8_non_negative_and_skips_dead_layers(generator: torch.Generator) -> None:
    torch.manual_seed(0)
    fe = FeatureExtractor(keep_unused=False).eval()
    with torch.no_grad():
        y = fe(torch.randn(1, 5, 64, 64, generator=generator))
    assert y.shape == (1, 256, 8, 8)
    assert (y >= 0).all()
    assert not hasattr(fe.encoder, "layer3") and hasattr(FeatureExtractor(keep_unused=True).encoder, "layer4")
    assert fe.encoder.conv1.bias is None
