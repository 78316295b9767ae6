"""Super-resolution 128 -> 512 (spec section 7): a GFPGANv1Clean-shaped network.

A U-Net reads the bilinearly upsampled ``image_raw`` and produces 16 latent codes plus 14
spatial feature-transform maps (scale/shift at 8..512); a StyleGAN2 decoder (bilinear
upsampling, stored noise maps, no style MLP) synthesises the 512 image from them. The
U-Net ``toRGB`` heads and the style MLP exist only so that the checkpoint loads
(``keep_unused=False`` drops them). The output is not clamped.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "ModulatedConv",
    "SuperResolution",
    "modulated_conv2d",
    "modulated_conv2d_unfused",
    "set_fused_modconv",
]

_UNET_CH = {4: 256, 8: 256, 16: 256, 32: 256, 64: 256, 128: 128, 256: 64, 512: 32}
_STYLE_CH = {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64}
_NUM_LATENTS = 16
_STYLE_DIM = 512
_LOG_SIZE = 9  # 512 output


def _lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2)


def _resize(x: Tensor, scale: float) -> Tensor:
    return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


def _demodulation(weight: Tensor, style32: Tensor, eps: float) -> Tensor:
    """``B x C_out`` float32 factors ``1 / sqrt(sum_(i,k) (weight * style)^2 + eps)``.

    Computed in float32 whatever the network's dtype: the sum of squares over ``C_in x k x k``
    terms is the first value of the network to leave float16's range when the styles grow
    (in float16 it becomes inf, the factor 0 and the layer's output its bias alone: a solid
    colour).
    """
    w2 = weight[0].float().square().sum((2, 3))  # C_out x C_in
    return torch.rsqrt(style32.square() @ w2.t() + eps)


def modulated_conv2d(x: Tensor, weight: Tensor, style: Tensor, demodulate: bool, eps: float = 1e-8) -> Tensor:
    """StyleGAN2 modulated convolution as one grouped conv (the reference form).

    Args:
        x: ``B x C_in x H x W``.
        weight: ``1 x C_out x C_in x k x k`` (already scaled, "clean" variant).
        style: ``B x C_in`` per-sample input-channel scales.
        demodulate: divide each output filter by ``sqrt(sum(kernel^2) + eps)`` (in float32).

    Returns:
        ``B x C_out x H x W`` (stride 1, "same" padding) in ``x``'s dtype.
    """
    b, c_in, h, w = x.shape
    c_out, k = weight.shape[1], weight.shape[-1]
    style32 = style.float()
    kernel = weight.float() * style32.reshape(b, 1, c_in, 1, 1)
    if demodulate:
        kernel = kernel * _demodulation(weight, style32, eps).reshape(b, c_out, 1, 1, 1)
    out = F.conv2d(
        x.reshape(1, b * c_in, h, w),
        kernel.to(x.dtype).reshape(b * c_out, c_in, k, k),
        padding=k // 2,
        groups=b,
    )
    return out.reshape(b, c_out, *out.shape[-2:])


def modulated_conv2d_unfused(
    x: Tensor, weight: Tensor, style: Tensor, demodulate: bool, eps: float = 1e-8
) -> Tensor:
    """The same operation as :func:`modulated_conv2d` with one kernel shared by the batch.

    Scales the input channels by the style, convolves with the unmodulated kernel and scales
    each output channel by the demodulation factor (the StyleGAN2 "non-fused" form): one
    ordinary convolution for all views of a batch (a large matrix product instead of a
    grouped one), with a kernel shape known at export time (ONNX, TensorRT). Equal to the
    grouped form up to float rounding.

    Half-precision safe: the style is divided by its per-sample largest magnitude before it
    scales the input (the convolution then never sees values above ``max |x|``), and that
    magnitude and the demodulation factors are applied afterwards, computed in float32.
    """
    b, k = x.shape[0], weight.shape[-1]
    style32 = style.float()
    peak = style32.abs().amax(1, keepdim=True).clamp_min(1e-30)  # B x 1
    out = F.conv2d(x * (style32 / peak).to(x.dtype)[:, :, None, None], weight[0].to(x.dtype), padding=k // 2)
    scale = peak * _demodulation(weight, style32, eps) if demodulate else peak  # B x C_out or B x 1
    return out * scale.to(out.dtype).reshape(b, -1, 1, 1)


class ModulatedConv(nn.Module):
    """Parameters of one modulated conv: ``weight`` and the ``modulation`` Linear(512 -> C_in).

    ``fused`` selects :func:`modulated_conv2d` (one grouped convolution, the reference) or,
    by default, :func:`modulated_conv2d_unfused` (one shared kernel: faster for a batch of
    views, half-precision safe, export-friendly); see :func:`set_fused_modconv`.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, demodulate: bool, upsample: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(1, c_out, c_in, kernel, kernel))
        self.modulation = nn.Linear(_STYLE_DIM, c_in)
        self.demodulate = demodulate
        self.upsample = upsample
        self.fused = False

    def forward(self, x: Tensor, latent: Tensor) -> Tensor:
        if self.upsample:
            x = _resize(x, 2)
        conv = modulated_conv2d if self.fused else modulated_conv2d_unfused
        return conv(x, self.weight, self.modulation(latent), self.demodulate)


def set_fused_modconv(module: nn.Module, fused: bool) -> None:
    """Switch every :class:`ModulatedConv` inside ``module`` to the fused or unfused form."""
    for m in module.modules():
        if isinstance(m, ModulatedConv):
            m.fused = fused


class _StyleConv(nn.Module):
    def __init__(self, c_in: int, c_out: int, upsample: bool) -> None:
        super().__init__()
        self.modulated_conv = ModulatedConv(c_in, c_out, 3, demodulate=True, upsample=upsample)
        self.weight = nn.Parameter(torch.zeros(1))  # noise strength
        self.bias = nn.Parameter(torch.zeros(1, c_out, 1, 1))

    def forward(self, x: Tensor, latent: Tensor, noise: Tensor) -> Tensor:
        out = self.modulated_conv(x, latent) * math.sqrt(2.0)
        return _lrelu(out + self.weight * noise + self.bias)


class _ToRGB(nn.Module):
    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.modulated_conv = ModulatedConv(c_in, 3, 1, demodulate=False, upsample=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: Tensor, latent: Tensor, skip: Tensor | None) -> Tensor:
        out = self.modulated_conv(x, latent) + self.bias
        return out if skip is None else out + _resize(skip, 2)


class _ConstantInput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(1, _STYLE_CH[4], 4, 4))


class _Noises(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        for k in range(2 * (_LOG_SIZE - 2) + 1):
            side = 2 ** ((k + 5) // 2)
            self.register_buffer(f"noise{k}", torch.zeros(1, 1, side, side))


class _StyleGANDecoder(nn.Module):
    """StyleGAN2 generator with SFT on the second half of the channels."""

    def __init__(self, keep_unused: bool) -> None:
        super().__init__()
        if keep_unused:  # the style MLP (index 0 is a parameter-free normalisation)
            layers: list[nn.Module] = [nn.Identity()]
            for _ in range(8):
                layers += [nn.Linear(_STYLE_DIM, _STYLE_DIM), nn.Identity()]
            self.style_mlp = nn.Sequential(*layers)
        self.constant_input = _ConstantInput()
        self.style_conv1 = _StyleConv(_STYLE_CH[4], _STYLE_CH[4], upsample=False)
        self.to_rgb1 = _ToRGB(_STYLE_CH[4])
        convs, rgbs = [], []
        c_in = _STYLE_CH[4]
        for level in range(3, _LOG_SIZE + 1):
            c_out = _STYLE_CH[2**level]
            convs += [_StyleConv(c_in, c_out, upsample=True), _StyleConv(c_out, c_out, upsample=False)]
            rgbs.append(_ToRGB(c_out))
            c_in = c_out
        self.style_convs = nn.ModuleList(convs)
        self.to_rgbs = nn.ModuleList(rgbs)
        self.noises = _Noises()

    def forward(self, latents: Tensor, conditions: list[Tensor]) -> Tensor:
        """``B x 16 x 512`` latents + 14 SFT maps -> ``B x 3 x 512 x 512``."""
        b = latents.shape[0]
        noise = [getattr(self.noises, f"noise{k}") for k in range(len(self.style_convs) + 1)]
        out = self.style_conv1(self.constant_input.weight.expand(b, -1, -1, -1), latents[:, 0], noise[0])
        skip = self.to_rgb1(out, latents[:, 1], None)
        for level, to_rgb in enumerate(self.to_rgbs):
            i = 2 * level + 1
            out = self.style_convs[2 * level](out, latents[:, i], noise[i])
            half = out.shape[1] // 2
            sft = out[:, half:] * conditions[2 * level] + conditions[2 * level + 1]
            out = torch.cat((out[:, :half], sft), dim=1)
            out = self.style_convs[2 * level + 1](out, latents[:, i + 1], noise[i + 1])
            skip = to_rgb(out, latents[:, i + 2], skip)
        return skip


class _ResBlock(nn.Module):
    """conv-lrelu-resize-conv-lrelu plus a resized, bias-free 1x1 shortcut (no 1/sqrt 2)."""

    def __init__(self, c_in: int, c_out: int, scale: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_in, 3, padding=1)
        self.conv2 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        out = _lrelu(self.conv2(_resize(_lrelu(self.conv1(x)), self.scale)))
        return out + self.skip(_resize(x, self.scale))


def _condition(c: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(c, c, 3, padding=1))


class SuperResolution(nn.Module):
    """``B x 3 x 128 x 128`` image in ~[-1, 1] -> ``B x 3 x 512 x 512`` (unbounded, nominally [-1, 1])."""

    def __init__(self, keep_unused: bool = False) -> None:
        super().__init__()
        self.conv_body_first = nn.Conv2d(3, _UNET_CH[512], 1)
        down, c = [], _UNET_CH[512]
        for level in range(_LOG_SIZE, 2, -1):
            c_out = _UNET_CH[2 ** (level - 1)]
            down.append(_ResBlock(c, c_out, 0.5))
            c = c_out
        self.conv_body_down = nn.ModuleList(down)
        self.final_conv = nn.Conv2d(c, _UNET_CH[4], 3, padding=1)
        up, scales, shifts = [], [], []
        for level in range(3, _LOG_SIZE + 1):
            c_out = _UNET_CH[2**level]
            up.append(_ResBlock(c, c_out, 2.0))
            scales.append(_condition(c_out))
            shifts.append(_condition(c_out))
            c = c_out
        self.conv_body_up = nn.ModuleList(up)
        self.condition_scale = nn.ModuleList(scales)
        self.condition_shift = nn.ModuleList(shifts)
        if keep_unused:
            self.toRGB = nn.ModuleList(
                nn.Conv2d(_UNET_CH[2**level], 3, 1) for level in range(3, _LOG_SIZE + 1)
            )
        self.final_linear = nn.Linear(_UNET_CH[4] * 16, _NUM_LATENTS * _STYLE_DIM)
        self.stylegan_decoder = _StyleGANDecoder(keep_unused)

    def forward(self, image_raw: Tensor) -> Tensor:
        x = F.interpolate(image_raw, size=(512, 512), mode="bilinear", align_corners=False)
        feat = _lrelu(self.conv_body_first(x))
        skips = []
        for block in self.conv_body_down:
            feat = block(feat)
            skips.append(feat)
        feat = _lrelu(self.final_conv(feat))
        latents = self.final_linear(feat.flatten(1)).reshape(-1, _NUM_LATENTS, _STYLE_DIM)
        conditions: list[Tensor] = []
        for i, block in enumerate(self.conv_body_up):
            feat = block(feat + skips[-1 - i])
            conditions += [self.condition_scale[i](feat), self.condition_shift[i](feat)]
        del skips
        return self.stylegan_decoder(latents, conditions)
