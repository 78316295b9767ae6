"""Half precision on CPU (measurement only) and the precision tool's metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from pipeline.voodoo.model import ModelConfig
from pipeline.voodoo.precision import FP16_MAX, compare_to_reference, main, record_peaks


def test_cpu_half_needs_the_explicit_flag() -> None:
    with pytest.raises(ValueError, match="cpu_half"):
        ModelConfig(dtype="bfloat16")
    assert ModelConfig(dtype="bfloat16", cpu_half=True).torch_dtype == torch.bfloat16
    assert ModelConfig(dtype="float16", cpu_half=True).torch_dtype == torch.float16


def test_compare_to_reference_metrics() -> None:
    rng = np.random.default_rng(0)
    ref = {
        "out_image_raw": rng.standard_normal((1, 3, 4, 4)).astype(np.float32),
        "out_depth": (2.7 + 0.01 * rng.standard_normal((1, 1, 4, 4))).astype(np.float32),
        "not_an_output": np.zeros(3, np.float32),
    }
    ours = {k: v.copy() for k, v in ref.items()}
    ours["out_image_raw"] *= 1.01  # 1 % relative error exactly
    ours["out_depth"][0, 0, 0, 0] += 1e-3
    rows = {r.name: r for r in compare_to_reference(ours, ref)}
    assert set(rows) == {"out_image_raw", "out_depth"}
    assert rows["out_image_raw"].rel_l2 == pytest.approx(0.01, rel=1e-4)
    assert rows["out_image_raw"].max_abs == pytest.approx(0.01 * np.abs(ref["out_image_raw"]).max(), rel=1e-3)
    d = ref["out_depth"].astype(np.float64)
    assert rows["out_depth"].rel_l2 == pytest.approx(1e-3 / np.linalg.norm(d - d.mean()), rel=1e-3)
    assert rows["out_depth"].max_abs == pytest.approx(1e-3, rel=1e-3)

    ours["out_image_raw"][0, 0, 0, :2] = [np.inf, np.nan]
    bad = {r.name: r for r in compare_to_reference(ours, ref)}["out_image_raw"]
    assert bad.nonfinite == 2 and bad.rel_l2 == float("inf")


def test_record_peaks_finds_the_first_fp16_overflow() -> None:
    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.Linear(4, 4))
    with torch.no_grad():
        for i, lin in enumerate([net[0], net[2], net[3]]):
            lin.weight.copy_(torch.eye(4) * (1.0, 1e3, 1e3)[i])
            lin.bias.zero_()
    net = net.half()
    x = torch.full((1, 4), 100.0, dtype=torch.float16)
    with record_peaks({"net": net}) as peaks:
        y = net(x)
    assert not torch.isfinite(y).all()  # 100 -> 1e5 overflows float16 in the second linear
    assert list(peaks.peaks) == ["net.0", "net.2", "net.3"]  # call order, conv/linear only
    assert peaks.peaks["net.0"] == 100.0
    assert peaks.first_overflow() == "net.2"
    assert peaks.first_overflow(float("inf")) == "net.2"  # inf counts as non-finite too
    assert peaks.largest("net") == ("net.2", float("inf"))
    with record_peaks({"net": net.float()}) as peaks32:
        net(x.float())
    assert peaks32.first_overflow() == "net.2" and peaks32.peaks["net.2"] == pytest.approx(1e5)
    assert peaks32.first_overflow(1e12) is None
    assert not net[0]._forward_hooks  # hooks removed on exit
    assert FP16_MAX == 65504.0


def test_cli_rejects_unknown_dtype(tmp_path, capsys) -> None:
    assert (
        main(["--weights", str(tmp_path / "w.pt"), "--fixture", str(tmp_path / "f.npz"), "--dtypes", "int8"])
        == 2
    )
    assert "int8" in capsys.readouterr().err


def test_cpu_bfloat16_model_runs_networks_in_half_and_renders_in_float32() -> None:
    from pipeline.voodoo.model import Voodoo3D
    from pipeline.voodoo.renderer import RenderSettings

    settings = RenderSettings(resolution=8, depth_samples=8, importance_samples=8)
    ref = Voodoo3D(ModelConfig(render=settings)).init_random(1).place()
    half = Voodoo3D(ModelConfig(dtype="bfloat16", cpu_half=True, render=settings))
    half.load_state_dict(ref.state_dict())
    half.place()
    for net in (half.triplane_encoder, half.exp_transfer):
        assert {p.dtype for p in net.parameters()} == {torch.bfloat16}
    sr_dtypes = {n: p.dtype for n, p in half.superresolution.named_parameters()}
    islands = {n for n in sr_dtypes if n.startswith("final_linear") or "modulation" in n or ".to_rgb" in n}
    assert islands and all(sr_dtypes[n] == torch.float32 for n in islands)  # the plan's float32 islands
    assert {d for n, d in sr_dtypes.items() if n not in islands} == {torch.bfloat16}
    assert {p.dtype for p in half.decoder.parameters()} == {torch.float32}
    x = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0)) * 2 - 1
    a, b = ref.super_resolve(x), half.super_resolve(x)
    assert b.dtype == torch.float32 and b.shape == (1, 3, 512, 512)
    rel = float((a - b).norm() / a.norm())
    assert 1e-4 < rel < 5e-2  # bf16 rounding: visibly different from float32, but close
    planes = torch.randn(1, 3, 32, 256, 256, generator=torch.Generator().manual_seed(0))
    c2w, k = half.canonical_cam2world, half.canonical_intrinsics
    assert torch.equal(half.render(planes, c2w, k).feature_image, ref.render(planes, c2w, k).feature_image)
