"""ONNX export checked with onnxruntime on CPU, and backend selection with PyTorch fallback.

The networks have fixed real shapes (512 inputs, 256 tri-planes), so the exported models are
full size with random weights: the expression network (30 M parameters) and the
super-resolution (84 M) run in the default tier (~40 s), the Lp3D encoder in ``slow``.
Tolerances are float32 ones: onnxruntime reorders sums, and the super-resolution's exported
form (unfused modulated convolution) differs from the reference by float rounding only.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

onnxruntime = pytest.importorskip("onnxruntime")

from pipeline.accel.backend import (  # noqa: E402
    AccelConfig,
    EngineModule,
    accelerate,
    restore_reference,
)
from pipeline.accel.networks import network_specs  # noqa: E402
from pipeline.accel.onnx_export import check_onnx, export_onnx, read_manifest  # noqa: E402
from pipeline.accel.tensorrt import EngineRunError  # noqa: E402
from pipeline.voodoo.model import (  # noqa: E402
    DriverFrontal,
    ModelConfig,
    RenderedBatch,
    SourceCache,
    Voodoo3D,
)
from pipeline.voodoo.renderer import RenderSettings  # noqa: E402
from pipeline.voodoo.superres import modulated_conv2d, modulated_conv2d_unfused  # noqa: E402

WID = "random-seed0"


@pytest.fixture(scope="module")
def model() -> Voodoo3D:
    torch.manual_seed(0)
    cfg = ModelConfig(render=RenderSettings(resolution=16, depth_samples=8, importance_samples=8))
    return Voodoo3D(cfg).init_random(0).place()


@pytest.fixture(scope="module")
def exported(model: Voodoo3D, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("onnx")
    export_onnx(model, out, names=["expression", "superres"], weights_id=WID, progress=None)
    return out


def test_unfused_modulated_conv_equals_the_grouped_form() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 16, 9, 9, generator=g)
    w = torch.randn(1, 8, 16, 3, 3, generator=g)
    style = torch.rand(3, 16, generator=g) + 0.5
    for demod in (True, False):
        ref = modulated_conv2d(x, w, style, demod)
        got = modulated_conv2d_unfused(x, w, style, demod)
        assert torch.allclose(got, ref, rtol=1e-5, atol=1e-5)
    # a per-sample style really changes that sample only
    style2 = style.clone()
    style2[1] *= 2
    a, b = modulated_conv2d_unfused(x, w, style, False), modulated_conv2d_unfused(x, w, style2, False)
    assert torch.equal(a[0], b[0]) and not torch.allclose(a[1], b[1])


def test_manifest_and_onnxruntime_parity(exported: Path) -> None:
    m = read_manifest(exported)
    assert m.weights == WID and m.opset == 18 and set(m.networks) == {"expression", "superres"}
    exp, sr = m.networks["expression"], m.networks["superres"]
    assert exp.inputs["driver_rgb01"] == [1, 3, 512, 512] and not exp.dynamic_batch
    assert sr.dynamic_batch and sr.checked_batches == [1, 2]
    # errors measured at export time, relative to the outputs' magnitude
    assert exp.max_abs_err is not None and exp.max_abs_err <= 1e-4 * max(1.0, exp.ref_max_abs)
    assert sr.max_abs_err is not None and sr.max_abs_err <= 1e-4 * max(1.0, sr.ref_max_abs)
    raw = json.loads((exported / "manifest.json").read_text())
    assert len(raw["networks"]["superres"]["sha256"]) == 64


def test_check_detects_a_different_network(model: Voodoo3D, exported: Path) -> None:
    spec = network_specs(model)["expression"]
    conv = model.exp_transfer.conv3
    saved = conv.bias.detach().clone()
    try:
        with torch.no_grad():
            conv.bias.add_(0.5)  # the PyTorch network no longer matches the file
        err, _ = check_onnx(spec, exported / "expression.onnx")
    finally:
        with torch.no_grad():
            conv.bias.copy_(saved)
    assert err == pytest.approx(0.5, abs=1e-3)


def test_onnxruntime_backend_runs_the_model_stages(model: Voodoo3D, exported: Path) -> None:
    g = torch.Generator().manual_seed(5)
    # the per-frame stages on cached source tensors (the encoder stays in PyTorch here)
    frontal = RenderedBatch(torch.rand(1, 3, 128, 128, generator=g) * 2 - 1, *([torch.zeros(1)] * 3))
    driver = DriverFrontal(torch.zeros(1), frontal)
    source = SourceCache(
        torch.randn(1, 3, 32, 256, 256, generator=g),
        frontal,
        torch.randn(1, 256, 64, 64, generator=g),
        torch.randn(1, 128, 64, 64, generator=g),
    )
    ref_delta = model.expression_delta(source, driver)
    raw = frontal.image_raw.repeat(2, 1, 1, 1)
    ref_sr = model.super_resolve(raw)
    report = accelerate(model, AccelConfig(backend="onnxruntime", onnx_dir=exported), WID)
    try:
        assert report.used == {"encoder": "torch", "expression": "onnxruntime", "superres": "onnxruntime"}
        assert report.reasons["encoder"] == "not exported"
        assert isinstance(model.exp_transfer, EngineModule)
        delta = model.expression_delta(source, driver)
        sr = model.super_resolve(raw)  # 2 views in one batch: the dynamic batch axis
        # the source-only features still come from the PyTorch network inside the wrapper
        feats = model.exp_transfer.triplane_features(source.planes)
    finally:
        restore_reference(model)
    assert not isinstance(model.exp_transfer, EngineModule)
    assert torch.allclose(feats, model.exp_transfer.triplane_features(source.planes))
    assert delta.abs().max() > 0.1 and torch.allclose(delta, ref_delta, atol=1e-4)
    assert sr.shape == ref_sr.shape and torch.allclose(sr, ref_sr, atol=1e-3 * max(1.0, ref_sr.abs().max()))


def test_selection_falls_back_to_pytorch_with_reasons(
    model: Voodoo3D, exported: Path, tmp_path: Path
) -> None:
    auto = accelerate(model, AccelConfig(backend="auto", onnx_dir=exported), WID)
    assert set(auto.used.values()) == {"torch"} and "not CUDA" in auto.reasons["superres"]
    missing = accelerate(model, AccelConfig(backend="onnxruntime", onnx_dir=tmp_path), WID)
    assert set(missing.used.values()) == {"torch"} and "export onnx" in missing.reasons["encoder"]
    other = accelerate(model, AccelConfig(backend="onnxruntime", onnx_dir=exported), "voodoo3d.pth-0123")
    assert set(other.used.values()) == {"torch"} and "for weights random-seed0" in other.reasons["expression"]
    assert not isinstance(model.superresolution, EngineModule)
    with pytest.raises(ValueError, match="backend"):
        AccelConfig(backend="cuda")  # type: ignore[arg-type]


def test_runtime_engine_error_runs_the_call_in_pytorch() -> None:
    calls = []

    def broken(**inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        calls.append(tuple(inputs))
        raise EngineRunError("batch 3 outside the profile")

    from pipeline.accel.backend import _SuperResEngine

    ref = torch.nn.Upsample(scale_factor=4)  # any reference module: the wrapper's logic is tested
    wrapped = _SuperResEngine("superres", broken, "tensorrt", ref)
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.inference_mode():
        out = wrapped(x)
        again = wrapped(x)
        expected = ref(x)
    assert torch.equal(out, expected) and torch.equal(again, expected)
    assert wrapped.fallback_calls == 2 and calls == [("image_raw",), ("image_raw",)]


@pytest.mark.slow
def test_encoder_export_parity(model: Voodoo3D, tmp_path: Path) -> None:
    m = export_onnx(model, tmp_path, names=["encoder"], weights_id=WID, progress=None)
    e = m.networks["encoder"]
    assert e.inputs == {"image": [1, 3, 512, 512]}
    assert e.max_abs_err is not None and e.max_abs_err <= 1e-4 * max(1.0, e.ref_max_abs)


@pytest.mark.gpu
@pytest.mark.skipif(
    importlib.util.find_spec("tensorrt") is None,
    reason="TensorRT is not installed (checked before the ONNX export fixture runs)",
)
def test_tensorrt_engines_match_pytorch(model: Voodoo3D, exported: Path, tmp_path: Path) -> None:
    """fp16 engines vs the float32 PyTorch reference on CUDA (TF32 off for the reference).

    Tolerance: fp16 keeps ~3 decimal digits; the super-resolution output is quantised to
    8 bits (1/127.5 per step in [-1, 1]) and expression deltas feed a float32 tri-plane, so
    2 % of the output range is allowed (measured numbers go into the README).
    """
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    gpu = Voodoo3D(ModelConfig(device="cuda")).init_random(0).place()
    spec = network_specs(gpu)
    ref = {}
    with torch.inference_mode():
        for name in ("expression", "superres"):
            args = tuple(a.cuda() for a in spec[name].example(1, 9))
            ref[name] = (args, spec[name].module(*args))
    cfg = AccelConfig(
        backend="tensorrt", networks=("expression", "superres"), onnx_dir=exported, engines_dir=tmp_path
    )
    report = accelerate(gpu, cfg, WID)
    assert report.used == {"expression": "tensorrt", "superres": "tensorrt"}, report.summary()
    assert len(list(tmp_path.glob("*.engine"))) == 2 and len(list(tmp_path.glob("*.json"))) == 2
    with torch.inference_mode():
        d = gpu.exp_transfer.delta_from_features(*ref["expression"][0])
        s = gpu.superresolution(*ref["superres"][0])
    for got, (_, want) in ((d, ref["expression"]), (s, ref["superres"])):
        scale = float(want.abs().max())
        assert float((got - want).abs().max()) <= 0.02 * max(1.0, scale)
    assert np.isfinite(s.cpu().numpy()).all()
