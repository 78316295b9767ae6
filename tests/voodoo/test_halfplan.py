"""The half-precision plan and the float16-safe modulated convolution (CPU; GPU tier at the end).

A GFPGAN built wholly in float16 can output a solid colour: the demodulation's sum of squares
over ``C_in x k x k`` terms leaves float16's range first, becomes inf, the factor 0, and the
layer's output its bias alone. These tests rebuild that failure with a style large enough,
then check that our form stays at float32's numbers.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pipeline.voodoo.halfplan import (
    FP16_MAX,
    SR_FLOAT32_ISLANDS,
    PrecisionPlan,
    apply_plan,
    layers_near_fp16_max,
    precision_plan,
)
from pipeline.voodoo.model import ModelConfig, Voodoo3D
from pipeline.voodoo.precision import DEMOD_SUFFIX, record_peaks
from pipeline.voodoo.superres import ModulatedConv, modulated_conv2d, modulated_conv2d_unfused


def _conv_case(seed: int, style_scale: float, batch: int = 3):
    g = torch.Generator().manual_seed(seed)
    c_in, c_out, k = 64, 32, 3
    x = torch.randn(batch, c_in, 12, 12, generator=g)
    w = torch.randn(1, c_out, c_in, k, k, generator=g) / (c_in * k * k) ** 0.5  # the "clean" scale
    style = (torch.rand(batch, c_in, generator=g) + 0.5) * style_scale
    return x, w, style


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


@pytest.mark.parametrize("style_scale", [1.0, 300.0])
@pytest.mark.parametrize("demod", [True, False])
def test_shared_kernel_form_equals_the_grouped_reference(style_scale: float, demod: bool) -> None:
    x, w, style = _conv_case(0, style_scale)
    ref = modulated_conv2d(x.double(), w.double(), style.double(), demod)
    got = modulated_conv2d_unfused(x, w, style, demod)
    assert got.dtype == torch.float32 and got.shape == (3, 32, 12, 12)
    assert _rel(got, ref) < 1e-6
    # each view of a batch is computed as if it were alone
    alone = torch.cat([modulated_conv2d_unfused(x[i : i + 1], w, style[i : i + 1], demod) for i in range(3)])
    assert _rel(got, alone) < 1e-6


def _wholly_fp16_grouped(x16, w16, style16, eps=1e-8):
    """What a modulated conv built wholly in float16 computes (every step in float16)."""
    b, c_in, h, w_ = x16.shape
    kernel = w16 * style16.reshape(b, 1, c_in, 1, 1)
    demod = torch.rsqrt(kernel.pow(2).sum((2, 3, 4)) + eps)
    kernel = kernel * demod.reshape(b, -1, 1, 1, 1)
    out = F.conv2d(x16.reshape(1, -1, h, w_), kernel.reshape(-1, c_in, 3, 3), padding=1, groups=b)
    return out.reshape(b, -1, h, w_)


def test_float16_demodulation_overflow_is_the_solid_colour_and_ours_is_not() -> None:
    x, w, style = _conv_case(1, 300.0)  # sum of (w * s)^2 ~ 300^2 / ... > 65504
    sumsq = (style.square() @ w[0].square().sum((2, 3)).t()).max()
    assert sumsq > FP16_MAX  # the case really leaves float16's range in the demodulation
    ref = modulated_conv2d(x.double(), w.double(), style.double(), True)
    naive = _wholly_fp16_grouped(x.half(), w.half(), style.half())
    assert torch.count_nonzero(naive) == 0  # every output 0: only the bias would remain (solid colour)
    for form in (modulated_conv2d_unfused, modulated_conv2d):  # ours, float16 input and weight
        got = form(x.half(), w.half(), style, True)
        assert got.dtype == torch.float16 and torch.isfinite(got).all()
        assert _rel(got, ref) < 2e-3, form.__name__


def test_float16_large_styles_stay_in_range_in_the_shared_form() -> None:
    # A style of 3e4 is a finite float16, but scaling the input by it leaves float16's range;
    # the per-sample normalisation keeps the convolution's input at max |x|.
    x, w, style = _conv_case(2, 3e4)
    assert float((x * style[:, :, None, None]).abs().max()) > FP16_MAX
    ref = modulated_conv2d(x.double(), w.double(), style.double(), True)
    got = modulated_conv2d_unfused(x.half(), w.half(), style, True)
    assert torch.isfinite(got).all() and _rel(got, ref) < 2e-3
    raw = modulated_conv2d_unfused(x.half(), w.half(), style, False)  # toRGB form: no demodulation
    ref_raw = modulated_conv2d(x.double(), w.double(), style.double(), False)
    assert float(ref_raw.abs().max()) > FP16_MAX and not torch.isfinite(raw).all()  # why toRGB is float32


def test_plans_per_dtype() -> None:
    assert precision_plan("float32").islands == ()
    assert {d for _, d in precision_plan("float32").networks} == {"float32"}
    bf = precision_plan("bfloat16")
    assert dict(bf.networks) == {
        n: "bfloat16" for n in ("triplane_encoder", "exp_transfer", "superresolution")
    }
    assert bf.islands == tuple((p, "float32") for p in SR_FLOAT32_ISLANDS)
    fp = precision_plan("float16", fp16_keep=("superresolution.conv_body_up.*",))
    assert dict(fp.networks) == {
        "triplane_encoder": "bfloat16",  # normalisation-free trunks: float32's range
        "exp_transfer": "bfloat16",
        "superresolution": "float16",
    }
    assert fp.islands[-1] == ("superresolution.conv_body_up.*", "bfloat16")
    assert fp.network_dtype("superresolution") == torch.float16
    assert "superresolution: float16" in fp.describe()
    with pytest.raises(ValueError, match="dtype"):
        precision_plan("int8")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fp16_keep"):
        ModelConfig(dtype="float16", cpu_half=True, fp16_keep="superresolution.*")  # type: ignore[arg-type]


def _dtypes(model: Voodoo3D) -> dict[str, torch.dtype]:
    return {n: p.dtype for n, p in model.named_parameters()}


def test_float16_plan_applied_to_the_model() -> None:
    cfg = ModelConfig(dtype="float16", cpu_half=True, fp16_keep=("superresolution.conv_body_up.0.*",))
    model = Voodoo3D(cfg).place()  # uninitialised weights: only dtypes are looked at
    d = _dtypes(model)
    sd = "superresolution.stylegan_decoder"
    assert d["superresolution.final_linear.weight"] == torch.float32
    assert d[f"{sd}.style_convs.3.modulated_conv.modulation.weight"] == torch.float32
    assert d[f"{sd}.style_convs.3.modulated_conv.weight"] == torch.float16
    assert d[f"{sd}.style_convs.3.bias"] == torch.float16
    assert d[f"{sd}.to_rgbs.2.modulated_conv.weight"] == torch.float32
    assert d[f"{sd}.to_rgb1.bias"] == torch.float32
    assert d["superresolution.conv_body_up.0.conv1.weight"] == torch.bfloat16  # fp16_keep
    assert d["superresolution.conv_body_up.1.conv1.weight"] == torch.float16
    assert {v for k, v in d.items() if k.startswith(("triplane_encoder", "exp_transfer"))} == {torch.bfloat16}
    assert d["decoder.net.0.weight"] == torch.float32  # the renderer's MLP is never in a plan
    hooks = len(model._plan_hooks)
    assert hooks > 50
    model.place()  # placing again replaces the hooks instead of stacking them
    assert len(model._plan_hooks) == hooks
    # the plan's float32 islands really compute in float32 inside a float16 network
    seen: dict[str, torch.dtype] = {}
    to_rgb = model.superresolution.stylegan_decoder.to_rgbs[0]
    to_rgb.register_forward_hook(lambda _m, _i, out: seen.__setitem__("to_rgb", out.dtype))
    style_conv = model.superresolution.stylegan_decoder.style_convs[0]
    style_conv.register_forward_hook(lambda _m, _i, out: seen.__setitem__("style_conv", out.dtype))
    x = torch.randn(1, 512, 4, 4, dtype=torch.float16)
    latent = torch.randn(1, 512)
    style_conv(x, latent, torch.zeros(1, 1, 8, 8, dtype=torch.float16))
    to_rgb(torch.randn(1, 512, 8, 8, dtype=torch.float16), latent, torch.zeros(1, 3, 4, 4))
    assert seen == {"style_conv": torch.float16, "to_rgb": torch.float32}


def test_a_plan_without_islands_adds_no_hooks() -> None:
    model = Voodoo3D(ModelConfig()).place()
    assert model._plan_hooks == []
    plan = PrecisionPlan(
        (("triplane_encoder", "float32"), ("exp_transfer", "float32"), ("superresolution", "float32"))
    )
    assert apply_plan(model, plan) == []


def test_layers_near_the_fp16_range() -> None:
    peaks = {"a": 10.0, "b": 5000.0, "c.demod_sumsq": float("inf"), "d": 65504.0}
    assert layers_near_fp16_max(peaks, headroom=16) == ["b", "c.demod_sumsq", "d"]
    assert layers_near_fp16_max(peaks, headroom=1) == ["c.demod_sumsq", "d"]
    with pytest.raises(ValueError, match="headroom"):
        layers_near_fp16_max(peaks, headroom=0.5)


def test_peaks_include_each_modulated_convs_demodulation() -> None:
    torch.manual_seed(0)
    conv = ModulatedConv(16, 8, 3, demodulate=True, upsample=False)
    with torch.no_grad():
        conv.weight.normal_()
        conv.modulation.weight.normal_()
    x, latent = torch.randn(2, 16, 6, 6), torch.randn(2, 512)
    with torch.no_grad(), record_peaks({"m": conv}) as peaks:
        out = conv(x, latent)
        style = conv.modulation(latent)
        expect = float((style.square() @ conv.weight[0].square().sum((2, 3)).t()).max())
    assert peaks.peaks["m" + DEMOD_SUFFIX] == pytest.approx(expect, rel=1e-5)
    assert peaks.peaks["m"] == pytest.approx(float(out.abs().max()))
    activations = {k: v for k, v in peaks.peaks.items() if not k.endswith(DEMOD_SUFFIX)}
    assert set(activations) == {"m", "m.modulation"}
    assert peaks.largest("m") == max(activations.items(), key=lambda kv: kv[1])
    assert peaks.largest(demod=True) == ("m" + DEMOD_SUFFIX, peaks.peaks["m" + DEMOD_SUFFIX])


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_super_resolution_plan_on_cuda_with_large_styles(dtype: str) -> None:
    """The real network on a GPU: the plan's output stays finite and near float32 even when
    every style is 100 times larger than the synthetic weights make it."""
    ref = Voodoo3D(ModelConfig(device="cuda")).init_random(3)
    with torch.no_grad():
        for name, p in ref.superresolution.named_parameters():
            if "modulation" in name:
                p.mul_(100.0)
    ref.place()
    half = Voodoo3D(ModelConfig(device="cuda", dtype=dtype))  # type: ignore[arg-type]
    half.load_state_dict(ref.state_dict())
    half.place()
    x = (torch.rand(6, 3, 128, 128, generator=torch.Generator().manual_seed(0)) * 2 - 1).cuda()
    a, b = ref.super_resolve(x), half.super_resolve(x)
    assert torch.isfinite(b).all()
    assert _rel(b, a) < (2e-2 if dtype == "float16" else 5e-2)
    assert float(b.std()) > 0.1 * float(a.std())  # not a solid colour


def test_recorded_peaks_name_real_layers_and_leave_fp16_headroom() -> None:
    """``data/activation_peaks_seed3.json``: the float32 peaks of every layer with the fixture's
    seed-3 synthetic weights, made by ``python -m pipeline.voodoo.precision --weights W.pt
    --fixture fixture_seed3.npz --dtypes none --peaks-out PEAKS.json`` (W.pt from the fixture's
    ``make_weights.py --seed 3``)."""
    import json
    from pathlib import Path

    record = json.loads((Path(__file__).parent / "data" / "activation_peaks_seed3.json").read_text())
    model = Voodoo3D(ModelConfig())
    modules = dict(model.named_modules())
    names = [k.removesuffix(DEMOD_SUFFIX) for k in record["peaks"]]
    assert all(n in modules for n in names)  # patterns built from these names reach real layers
    assert len(record["peaks"]) > 250
    assert record["near_fp16_max"] == [] == layers_near_fp16_max(record["peaks"], record["headroom"])
    assert max(record["peaks"].values()) < 20  # synthetic N(0, 1/fan_in) weights keep activations O(1)
