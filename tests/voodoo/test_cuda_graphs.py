"""CUDA-graph replay of the network stages (GPU tier) and its eager fallback."""

from __future__ import annotations

import pytest
import torch

from pipeline.voodoo.cuda_graphs import GraphedCall


def test_off_cuda_the_stage_runs_eagerly() -> None:
    calls = []

    def stage(x: torch.Tensor) -> torch.Tensor:
        calls.append(x.shape)
        return x * 2

    g = GraphedCall(stage, "double")
    out = g(torch.ones(2, 3))
    assert torch.equal(out, torch.full((2, 3), 2.0))
    assert calls == [torch.Size([2, 3])] and g.captured == 0


@pytest.mark.gpu
def test_graphed_stages_match_eager_on_cuda() -> None:
    from pipeline.voodoo.model import ModelConfig, Voodoo3D

    torch.backends.cudnn.benchmark = False
    eager = Voodoo3D(ModelConfig(device="cuda")).init_random(0).place()
    graphed = Voodoo3D(ModelConfig(device="cuda", cuda_graphs=True)).init_random(0).place()
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):  # capture on the first call, replay on the next with new inputs
        raw = (torch.rand(4, 3, 128, 128, generator=gen) * 2 - 1).cuda()
        img = (torch.rand(1, 3, 512, 512, generator=gen) * 2 - 1).cuda()
        torch.testing.assert_close(graphed.super_resolve(raw), eager.super_resolve(raw), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(graphed.encode(img), eager.encode(img), atol=1e-4, rtol=1e-4)
    assert len(graphed._graphed) == 2
    assert all(g.captured == 1 for g in graphed._graphed.values())
