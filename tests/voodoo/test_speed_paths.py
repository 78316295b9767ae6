"""The speed paths against the reference path, on CPU (their CUDA runs are in the GPU tier).

- channels-last (NHWC) networks give the reference's numbers, and every convolution of them
  really receives NHWC input (no silent conversion back to NCHW in the middle);
- super-resolution of all views in one batch equals view-by-view super-resolution;
- the per-frame stages issue no operation that makes the host wait for the device.

Full-size network runs are slow on a CPU: the encoders' checks are in the ``slow`` tier.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from pipeline.voodoo.model import ModelConfig, Voodoo3D
from pipeline.voodoo.renderer import RenderSettings
from pipeline.voodoo.superres import ModulatedConv

SMALL = RenderSettings(resolution=8, depth_samples=8, importance_samples=8, ray_chunk=32)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


#: Operations that make the host wait for the device on CUDA: a value read back, an output
#: whose size depends on the data, a tensor made from Python data (``lift_fresh``: a list used
#: as an index, ``torch.tensor(...)``), which on CUDA is a host -> device copy from pageable memory.
SYNCING_OPS = {
    "aten.lift_fresh",
    "aten._local_scalar_dense",
    "aten.item",
    "aten.nonzero",
    "aten.masked_select",
    "aten.unique",
    "aten._unique2",
    "aten.unique_consecutive",
    "aten.is_nonzero",
    "aten.equal",
    "aten.repeat_interleave",
    "aten.histc",
    "aten.bincount",
}


class _SyncRecorder(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket._qualified_op_name.replace("::", ".")
        bool_index = name == "aten.index" and any(
            isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in (args[1] if len(args) > 1 else [])
        )
        if name in SYNCING_OPS or bool_index:
            self.seen.append(name)
        return func(*args, **(kwargs or {}))


@pytest.fixture(scope="module")
def reference() -> Voodoo3D:
    return Voodoo3D(ModelConfig(render=SMALL, channels_last=False)).init_random(0).place()


@pytest.fixture(scope="module")
def nhwc(reference: Voodoo3D) -> Voodoo3D:
    model = Voodoo3D(ModelConfig(render=SMALL, channels_last=True))
    model.load_state_dict(reference.state_dict())
    return model.place()


@pytest.fixture(scope="module")
def frame(reference: Voodoo3D) -> dict:
    """Two views of a random tri-plane rendered and super-resolved view by view (``sr_batch=1``),
    under the host-sync recorder."""
    planes = torch.randn(1, 3, 32, 256, 256, generator=torch.Generator().manual_seed(2))
    yaw = torch.tensor([[0.0], [0.2]])
    c2w = reference.canonical_cam2world.expand(2, 4, 4).clone()
    c2w[:, 0, 3] += yaw[:, 0]  # two different cameras
    k = reference.canonical_intrinsics.expand(2, 3, 3)
    calls: list[int] = []
    handle = reference.superresolution.register_forward_pre_hook(lambda _m, a: calls.append(a[0].shape[0]))
    reference.config = ModelConfig(render=SMALL, channels_last=False, sr_batch=1)
    try:
        with _SyncRecorder() as rec:
            out = reference.render(planes, c2w, k, super_resolve=True)
    finally:
        reference.config = ModelConfig(render=SMALL, channels_last=False)
        handle.remove()
    return {"out": out, "sr_calls": calls, "syncs": rec.seen}


def test_channels_last_is_automatic_on_cuda_only() -> None:
    assert ModelConfig().use_channels_last is False
    assert ModelConfig(device="cuda").use_channels_last is True
    assert ModelConfig(device="cuda", channels_last=False).use_channels_last is False


def _nchw_conv_inputs(model: Voodoo3D, nets: tuple[str, ...], run) -> list[str]:
    """Convolutions of ``nets`` that received NCHW input (maps over 4 x 4) while ``run()`` ran."""
    nchw_inputs: list[str] = []

    def check(name: str):
        def hook(_m: nn.Module, args: tuple) -> None:
            x = args[0]
            if x.shape[-1] * x.shape[-2] > 16 and not x.is_contiguous(memory_format=torch.channels_last):
                nchw_inputs.append(f"{name} {tuple(x.shape)}")

        return hook

    handles = [
        m.register_forward_pre_hook(check(f"{net}.{n}"))
        for net in nets
        for n, m in getattr(model, net).named_modules()
        if isinstance(m, (nn.Conv2d, ModulatedConv))
    ]
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    return nchw_inputs


def test_channels_last_super_resolution_matches_and_stays_nhwc(nhwc: Voodoo3D, frame: dict) -> None:
    raw = frame["out"].image_raw[:1]
    out: dict[str, torch.Tensor] = {}
    # maps up to 4 x 4 (the StyleGAN constant) may be in either format
    assert _nchw_conv_inputs(nhwc, ("superresolution",), lambda: out.update(sr=nhwc.super_resolve(raw))) == []
    assert _rel(out["sr"], frame["out"].image[:1]) < 1e-5
    assert (
        nhwc.superresolution.stylegan_decoder.style_convs[0]
        .modulated_conv.weight[0]
        .is_contiguous(memory_format=torch.channels_last)
    )


@pytest.mark.slow
def test_channels_last_encoders_match_and_stay_nhwc(reference: Voodoo3D, nhwc: Voodoo3D) -> None:
    gen = torch.Generator().manual_seed(0)
    source = torch.rand(1, 3, 512, 512, generator=gen) * 2 - 1
    driver = torch.rand(1, 3, 512, 512, generator=gen) * 2 - 1
    out: dict[str, torch.Tensor] = {}

    def run() -> None:
        cache = nhwc.prepare_source(source)
        out["planes"], _, out["delta"] = nhwc.drive(cache, driver)

    assert _nchw_conv_inputs(nhwc, ("triplane_encoder", "exp_transfer"), run) == []
    planes, _, delta = reference.drive(reference.prepare_source(source), driver)
    assert _rel(out["planes"], planes) < 1e-5 and _rel(out["delta"], delta) < 1e-5


def test_all_views_are_super_resolved_in_one_batch(reference: Voodoo3D, frame: dict) -> None:
    calls: list[int] = []
    handle = reference.superresolution.register_forward_pre_hook(lambda _m, a: calls.append(a[0].shape[0]))
    try:
        assert reference.sr_batch == 4  # CPU default: bounded memory
        batched = reference.super_resolve(frame["out"].image_raw)
    finally:
        handle.remove()
    assert calls == [2] and frame["sr_calls"] == [1, 1]
    assert _rel(batched, frame["out"].image) < 1e-5  # one batch == view by view


def test_recorder_sees_a_host_sync() -> None:
    with _SyncRecorder() as rec:
        x = torch.arange(4.0)
        float(x.sum())
        x[x > 1].sum()
        x[[0, 2]]
    assert "aten._local_scalar_dense" in rec.seen and "aten.index" in rec.seen
    assert "aten.lift_fresh" in rec.seen


def test_render_and_super_resolution_make_no_host_sync(frame: dict) -> None:
    assert frame["out"].image is not None and frame["out"].image.shape == (2, 3, 512, 512)
    assert frame["syncs"] == []


@pytest.mark.slow
def test_per_frame_stages_make_no_host_sync(reference: Voodoo3D) -> None:
    gen = torch.Generator().manual_seed(2)
    source = torch.rand(1, 3, 512, 512, generator=gen) * 2 - 1
    driver = torch.rand(1, 3, 512, 512, generator=gen) * 2 - 1
    cache = reference.prepare_source(source)  # once per call: not in the per-frame loop
    c2w = reference.canonical_cam2world.expand(3, 4, 4)
    k = reference.canonical_intrinsics.expand(3, 3, 3)
    with _SyncRecorder() as rec:
        planes, _, _ = reference.drive(cache, driver)
        out = reference.render(planes, c2w, k, super_resolve=True)
    assert out.image is not None and out.image.shape == (3, 3, 512, 512)
    assert rec.seen == []


def test_bench_counts_the_super_resolutions_arithmetic(reference: Voodoo3D, frame: dict) -> None:
    """The bench's FLOP count works on the inference-mode model (395.5 GFLOP of convolutions and
    matrix products per super-resolved view) and leaves the configuration as it was."""
    from pipeline.voodoo.bench import _count_flops

    config = reference.config
    flops = _count_flops(reference, lambda: reference.super_resolve(frame["out"].image_raw[:1]))
    assert 395e9 < flops < 396e9
    assert reference.config is config
