"""Model configuration, placement and input checks (the numerics are covered by parity)."""

from __future__ import annotations

import pytest
import torch

from pipeline.voodoo.model import ModelConfig, Voodoo3D, canonical_buffers
from pipeline.voodoo.renderer import RenderSettings


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="only supported on CUDA"):
        ModelConfig(device="cpu", dtype="float16")
    with pytest.raises(ValueError, match="dtype"):
        ModelConfig(dtype="float64")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a torch device"):
        ModelConfig(device="gpu0")
    with pytest.raises(ValueError, match="sr_batch"):
        ModelConfig(sr_batch=0)
    assert ModelConfig().render.sampling == "deterministic"
    assert ModelConfig(device="cuda:1", dtype="bfloat16").torch_dtype == torch.bfloat16  # no GPU needed


def test_canonical_buffers_are_the_frontal_camera() -> None:
    b = canonical_buffers()
    c2w = b["canonical_cam2world"][0]
    assert torch.allclose(c2w[:3, :3], torch.diag(torch.tensor([1.0, -1.0, -1.0])), atol=1e-6)
    assert torch.allclose(c2w[:3, 3], torch.tensor([0.0, 0.0, 2.7]), atol=1e-6)
    assert b["canonical_intrinsics"][0, 0, 0].item() == pytest.approx(4.263391, abs=1e-6)
    assert b["lookat_point"].tolist() == [[0.0, 0.0, pytest.approx(0.2)]]


@pytest.fixture(scope="module")
def small_render_model() -> Voodoo3D:
    config = ModelConfig(
        channels_last=True, render=RenderSettings(resolution=8, depth_samples=8, importance_samples=8)
    )
    return Voodoo3D(config).init_random(0).place()


def test_placement_and_input_checks(small_render_model: Voodoo3D) -> None:
    m = small_render_model
    conv = m.triplane_encoder.elo.conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert m.superresolution.stylegan_decoder.style_conv1.modulated_conv.weight.ndim == 5
    assert not m.training
    with pytest.raises(ValueError, match="B x 3 x 512 x 512"):
        m.encode(torch.zeros(1, 3, 256, 256))
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        m.super_resolve(torch.zeros(3, 128, 128))


def test_render_stage_on_random_planes(small_render_model: Voodoo3D) -> None:
    m = small_render_model
    planes = torch.randn(1, 3, 32, 256, 256, generator=torch.Generator().manual_seed(0))
    c2w = m.canonical_cam2world.expand(2, 4, 4)
    k = m.canonical_intrinsics.expand(2, 3, 3)
    out = m.render(planes, c2w, k)
    assert out.image_raw.shape == (2, 3, 8, 8) and out.image is None
    assert out.feature_image.dtype == torch.float32 and torch.isfinite(out.feature_image).all()
    assert torch.equal(out.image_raw[0], out.image_raw[1])  # same camera twice, deterministic rule
