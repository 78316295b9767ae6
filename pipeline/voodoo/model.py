"""VOODOO 3D inference model, split into the stages the live pipeline calls.

Stages (each callable on its own, all under ``torch.inference_mode``):

=========================  =====================================================  =========
stage                      what                                                   how often
=========================  =====================================================  =========
:meth:`prepare_source`     Lp3D tri-plane of the source, its canonical render +    per call
                           super-resolution, and the expression encoder's source
                           features -> :class:`SourceCache`
:meth:`frontalise_driver`  Lp3D tri-plane of a driver frame + canonical 128 render per frame
:meth:`expression_delta`   residual Delta from cached source features + driver     per frame
:meth:`render`             N cameras of one tri-plane in one batch (+ optional SR) per frame
=========================  =====================================================  =========

Compared with the official forward pass this computes the source tri-plane once (the
official code encodes the source twice per frame and re-encodes it every frame), caches
everything that depends on the source only, and never runs the ResNet ``layer3``/``layer4``
whose outputs are discarded.

Precision: ``ModelConfig.dtype`` names the precision of the three networks (Lp3D encoder,
expression encoder, super-resolution), which :mod:`pipeline.voodoo.halfplan` turns into a
per-network plan with float32 islands; the renderer (rays, samples, tri-plane MLP,
compositing) always runs in float32. See ``pipeline/voodoo/README.md`` for which stages
tolerate float16/bfloat16 and why. CPU float32 is the reference.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pipeline.voodoo.compiled import CompiledCall
from pipeline.voodoo.cuda_graphs import GraphedCall
from pipeline.voodoo.encoder import IMAGE_SIZE, Lp3DEncoder
from pipeline.voodoo.expression import ExpressionEncoder
from pipeline.voodoo.halfplan import DTYPES, DType, PrecisionPlan, apply_plan, precision_plan
from pipeline.voodoo.renderer import (
    PLANE_AXES,
    RenderResult,
    RenderSettings,
    TriplaneDecoder,
    render_triplanes,
)
from pipeline.voodoo.superres import SuperResolution

__all__ = [
    "DType",
    "DriverFrontal",
    "ModelConfig",
    "Reenactment",
    "RenderedBatch",
    "SourceCache",
    "Voodoo3D",
    "canonical_buffers",
]

_DTYPES = DTYPES
#: Views super-resolved at once off CUDA when ``ModelConfig.sr_batch`` is None (~0.3 GB each).
CPU_SR_BATCH = 4


@dataclass(frozen=True)
class ModelConfig:
    """How the model runs.

    Attributes:
        device: torch device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        dtype: precision of the encoders and the super-resolution network, made into a
            :class:`~pipeline.voodoo.halfplan.PrecisionPlan` (``float16`` keeps the encoders
            and some super-resolution layers out of float16); half precision needs a CUDA
            device unless ``cpu_half`` is set. The renderer is always float32.
        render: ray-marching settings (sampling rule, chunk size...).
        channels_last: NHWC memory format for the conv-heavy networks (weights and inputs;
            tensor-core convolutions want it). None (default): on CUDA only.
        keep_unused: also keep the checkpoint weights that inference never uses (ResNet
            layer3/layer4, the style MLP, the U-Net toRGB heads; ~62 M parameters).
        sr_batch: views super-resolved at once (memory: ~0.3 GB per view in float32). None
            (default): every view of a render in one batch on CUDA, ``CPU_SR_BATCH`` off it.
        cpu_half: allow ``float16``/``bfloat16`` off CUDA. For measuring half-precision
            numerics on CPU (``python -m pipeline.voodoo.precision``), not for speed: CPU
            half-precision kernels are often slower than float32.
        cuda_graphs: replay the per-frame network stages (Lp3D encoder, expression encoder,
            super-resolution) from CUDA graphs recorded on first use per input shape (see
            :mod:`pipeline.voodoo.cuda_graphs`); eager where capture fails and off CUDA.
            Opt-in: not yet measured on a GPU.
        compile: on CUDA, run the super-resolution network and the ray-marching chunks
            through ``torch.compile`` (:mod:`pipeline.voodoo.compiled`: compiled on first use
            per shape, eager if compilation fails). Ignored off CUDA (``RenderSettings.compile``
            compiles the renderer on any device). Opt-in: not yet measured on a GPU.
        fp16_keep: module-name patterns (``fnmatch``, e.g. ``superresolution.conv_body_up.*``)
            kept in bfloat16 when ``dtype`` is ``float16``: the layers ``python -m
            pipeline.voodoo.precision --peaks-out`` finds near float16's largest value.
    """

    device: str = "cpu"
    dtype: DType = "float32"
    render: RenderSettings = field(default_factory=RenderSettings)
    channels_last: bool | None = None
    keep_unused: bool = False
    sr_batch: int | None = None
    cpu_half: bool = False
    cuda_graphs: bool = False
    compile: bool = False
    fp16_keep: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.sr_batch is not None and self.sr_batch < 1:
            raise ValueError(f"ModelConfig.sr_batch must be >= 1 (or None: automatic), got {self.sr_batch}")
        if isinstance(self.fp16_keep, str) or not all(isinstance(p, str) and p for p in self.fp16_keep):
            raise ValueError(
                f"ModelConfig.fp16_keep must be a tuple of module-name patterns, got {self.fp16_keep!r}"
            )
        if self.dtype not in _DTYPES:
            raise ValueError(f"ModelConfig.dtype must be one of {sorted(_DTYPES)}, got {self.dtype!r}")
        try:
            dev = torch.device(self.device)
        except RuntimeError as e:
            raise ValueError(f"ModelConfig.device {self.device!r} is not a torch device: {e}") from e
        if self.dtype != "float32" and dev.type != "cuda" and not self.cpu_half:
            raise ValueError(
                f"dtype {self.dtype} is only supported on CUDA; use float32 on {dev.type} "
                "(cpu_half=True allows it for numerical measurements)"
            )

    @property
    def torch_dtype(self) -> torch.dtype:
        return _DTYPES[self.dtype]

    @property
    def plan(self) -> PrecisionPlan:
        """The per-network precision plan of ``dtype``."""
        return precision_plan(self.dtype, self.fp16_keep)

    @property
    def on_cuda(self) -> bool:
        return torch.device(self.device).type == "cuda"

    @property
    def use_channels_last(self) -> bool:
        return self.on_cuda if self.channels_last is None else self.channels_last


@dataclass
class RenderedBatch:
    """Views rendered from one scene.

    Attributes:
        image_raw: ``N x 3 x R x R`` float32 RGB in ~[-1, 1] (the neural render).
        depth: ``N x 1 x R x R`` float32 distance along the ray.
        alpha: ``N x 1 x R x R`` float32 accumulated opacity.
        feature_image: ``N x 32 x R x R`` float32 signed features.
        image: ``N x 3 x 512 x 512`` float32 super-resolved RGB (unclamped), or None.
    """

    image_raw: Tensor
    depth: Tensor
    alpha: Tensor
    feature_image: Tensor
    image: Tensor | None = None

    def super_resolved(self) -> Tensor:
        """:attr:`image`, which every render with ``super_resolve=True`` has."""
        if self.image is None:
            raise ValueError("these views were rendered without super-resolution")
        return self.image


@dataclass
class SourceCache:
    """Everything derived from the source image alone (computed once per call).

    Attributes:
        planes: ``1 x 3 x 32 x 256 x 256`` float32 source tri-plane T_s.
        frontal: canonical-view render of T_s, super-resolved (``frontal.image``).
        source_feats: ``1 x 256 x 64 x 64`` expression-encoder features of ``(S_f + 1)/2``.
        triplane_feats: ``1 x 128 x 64 x 64`` expression-encoder descriptor of T_s.
    """

    planes: Tensor
    frontal: RenderedBatch
    source_feats: Tensor
    triplane_feats: Tensor


@dataclass
class DriverFrontal:
    """A driver frame's tri-plane and its canonical 128 render (``image_raw`` ~[-1, 1])."""

    planes: Tensor
    frontal: RenderedBatch


@dataclass
class Reenactment:
    """All intermediate and final tensors of one full re-enactment (parity, debugging)."""

    source: SourceCache
    driver: DriverFrontal
    delta: Tensor
    new_planes: Tensor
    output: RenderedBatch


class _PlaneAxesHolder(nn.Module):
    plane_axes: Tensor  # a buffer

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("plane_axes", torch.tensor(PLANE_AXES, dtype=torch.float32))


def canonical_buffers() -> dict[str, Tensor]:
    """The root buffers of the official model, from our camera conventions (float32)."""
    from pipeline.cameras import LOOKAT_POINT, canonical_camera

    cam = canonical_camera()
    return {
        "lookat_point": torch.tensor([LOOKAT_POINT], dtype=torch.float32),
        "canonical_cam2world": torch.tensor(cam.cam2world.tolist(), dtype=torch.float32)[None],
        "canonical_intrinsics": torch.tensor(cam.intrinsics.tolist(), dtype=torch.float32)[None],
    }


def _check_images(x: Tensor, name: str) -> None:
    if x.ndim != 4 or x.shape[1:] != (3, IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(
            f"{name} must be B x 3 x {IMAGE_SIZE} x {IMAGE_SIZE} in [-1, 1], got {tuple(x.shape)}"
        )


class Voodoo3D(nn.Module):
    """The inference model. Attribute names equal the official state-dict prefixes.

    Build it with :func:`pipeline.voodoo.checkpoint.load_model` (weights from a file) or
    directly for tests (random weights: call :meth:`init_random`).
    """

    # buffers (registered in __init__ from canonical_buffers)
    lookat_point: Tensor
    canonical_cam2world: Tensor
    canonical_intrinsics: Tensor

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or ModelConfig()
        keep = self.config.keep_unused
        for name, value in canonical_buffers().items():
            self.register_buffer(name, value)
        self.triplane_encoder = Lp3DEncoder(keep)
        self.renderer = _PlaneAxesHolder()
        self.decoder = TriplaneDecoder()
        self.superresolution = SuperResolution(keep)
        self.exp_transfer = ExpressionEncoder(keep)
        self._graphed: dict[tuple, GraphedCall] = {}
        self._compiled: dict[tuple, CompiledCall] = {}
        self._plan_hooks: list = []

    # -- setup ---------------------------------------------------------------------------
    def networks(self) -> tuple[nn.Module, ...]:
        """The modules that run in the compute dtype (everything but the tri-plane MLP)."""
        return (self.triplane_encoder, self.superresolution, self.exp_transfer)

    def place(self) -> Voodoo3D:
        """Move to ``config.device``, apply the precision plan and the memory format; returns self."""
        from pipeline.voodoo.superres import ModulatedConv

        dev = torch.device(self.config.device)
        self.to(dev)
        for h in self._plan_hooks:
            h.remove()
        self._plan_hooks = apply_plan(self, self.config.plan)
        if self.config.use_channels_last:
            for net in self.networks():
                for m in net.modules():
                    if isinstance(m, nn.Conv2d):
                        m.weight.data = m.weight.data.contiguous(memory_format=torch.channels_last)
                    elif isinstance(m, ModulatedConv):  # 1 x C_out x C_in x k x k: NHWC per [0]
                        w = m.weight.data[0].contiguous(memory_format=torch.channels_last)
                        m.weight.data = w[None]
        for m in self.modules():  # coordinate grids stay float32 and are cast on use
            if hasattr(m, "id_grid"):
                m.id_grid = m.id_grid.float()
        self._graphed.clear()
        self._compiled.clear()
        self.requires_grad_(False)  # inference only: no autograd bookkeeping on any weight
        return self.eval()

    @torch.no_grad()
    def init_random(self, seed: int = 0) -> Voodoo3D:
        """Small random weights (tests, benchmarks without a checkpoint)."""
        gen = torch.Generator().manual_seed(seed)
        for name, p in self.named_parameters():
            if p.ndim >= 2:
                fan_in = p[0].numel() if p.ndim != 5 else p[0, 0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) / fan_in**0.5)
            elif name.endswith("modulation.bias"):
                p.fill_(1.0)
            elif "norm" in name and name.endswith("weight"):
                p.fill_(1.0)
            else:
                p.copy_(0.02 * torch.randn(p.shape, generator=gen))
        for name, b in self.named_buffers():
            if ".noises.noise" in name:
                b.copy_(torch.randn(b.shape, generator=gen))
        return self

    @property
    def device(self) -> torch.device:
        return self.canonical_cam2world.device

    def _stage(self, attr: str, method: str | None = None, compile: bool = False):
        """The network stage ``self.<attr>[.<method>]``: compiled when ``compile`` and
        ``config.compile`` (CUDA), through a CUDA graph when configured."""
        owner = getattr(self, attr)
        fn = owner if method is None else getattr(owner, method)
        name = attr if method is None else f"{attr}.{method}"
        cuda = self.device.type == "cuda"
        key = (attr, method, id(owner))  # a swapped module (accel backends) gets new graphs
        if compile and self.config.compile and cuda and isinstance(owner, nn.Module):
            compiled = self._compiled.get(key)
            if compiled is None:
                compiled = self._compiled[key] = CompiledCall(fn, name)
            fn = compiled
        if not self.config.cuda_graphs or not cuda:
            return fn
        graphed = self._graphed.get(key)
        if graphed is None:
            graphed = self._graphed[key] = GraphedCall(fn, name)
        return graphed

    def _net_input(self, x: Tensor, network: str) -> Tensor:
        """``x`` on the device, in ``network``'s plan dtype and the configured memory format."""
        x = x.to(self.device, self.config.plan.network_dtype(network), non_blocking=True)
        if self.config.use_channels_last and x.ndim == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    # -- stages ----------------------------------------------------------------------------
    @torch.inference_mode()
    def encode(self, image_signed: Tensor) -> Tensor:
        """Lp3D: ``B x 3 x 512 x 512`` in [-1, 1] -> float32 tri-plane ``B x 3 x 32 x 256 x 256``."""
        _check_images(image_signed, "image_signed")
        return self._stage("triplane_encoder")(self._net_input(image_signed, "triplane_encoder")).float()

    @property
    def sr_batch(self) -> int | None:
        """Views per super-resolution batch (None: all views of a call at once)."""
        if self.config.sr_batch is not None:
            return self.config.sr_batch
        return None if self.device.type == "cuda" else CPU_SR_BATCH

    @torch.inference_mode()
    def super_resolve(self, image_raw: Tensor) -> Tensor:
        """GFPGAN: ``N x 3 x 128 x 128`` ~[-1, 1] -> float32 ``N x 3 x 512 x 512`` (unclamped).

        The views go through the network in batches of :attr:`sr_batch` (on CUDA, by
        default, all at once: one launch sequence whose convolutions share their weights
        across the views).
        """
        if image_raw.ndim != 4 or image_raw.shape[1] != 3:
            raise ValueError(f"image_raw must be N x 3 x H x W, got {tuple(image_raw.shape)}")
        n = image_raw.shape[0]
        step = self.sr_batch or n
        sr = self._stage("superresolution", compile=True)
        x = self._net_input(image_raw, "superresolution")
        if step >= n:
            return sr(x).float()
        return torch.cat([sr(x[i : i + step]).float() for i in range(0, n, step)])

    @torch.inference_mode()
    def render(
        self,
        planes: Tensor,
        cam2world: Tensor,
        intrinsics: Tensor,
        super_resolve: bool = False,
        generator: torch.Generator | None = None,
        settings: RenderSettings | None = None,
    ) -> RenderedBatch:
        """Render N cameras (``N x 4 x 4`` cam2world, ``N x 3 x 3`` intrinsics) of one tri-plane
        (``1 x 3 x 32 x 256 x 256``) or of one tri-plane per camera, in float32."""
        dev = self.device
        settings = settings or self.config.render
        if self.config.compile and dev.type == "cuda" and not settings.compile:
            settings = dataclasses.replace(settings, compile=True)
        out: RenderResult = render_triplanes(
            planes.to(dev, non_blocking=True),
            self.decoder,
            cam2world.to(dev, torch.float32, non_blocking=True),
            intrinsics.to(dev, torch.float32, non_blocking=True),
            settings,
            generator,
        )
        image = self.super_resolve(out.image_raw) if super_resolve else None
        return RenderedBatch(out.image_raw, out.depth, out.alpha, out.feature_image, image)

    def render_canonical(self, planes: Tensor, super_resolve: bool, generator=None) -> RenderedBatch:
        """Frontal render with the model's own canonical camera buffers."""
        b = planes.shape[0]
        c2w = self.canonical_cam2world.expand(b, 4, 4)
        k = self.canonical_intrinsics.expand(b, 3, 3)
        settings = self.config.render
        if settings.resolution != 128:  # the expression encoder was trained on 128 renders
            settings = dataclasses.replace(settings, resolution=128)
        return self.render(planes, c2w, k, super_resolve, generator, settings)

    @torch.inference_mode()
    def prepare_source(self, source_signed: Tensor, generator: torch.Generator | None = None) -> SourceCache:
        """Once per call: T_s, its frontal SR render and the expression encoder's source features."""
        planes = self.encode(source_signed)
        frontal = self.render_canonical(planes, super_resolve=True, generator=generator)
        source_rgb01 = (frontal.super_resolved() + 1) / 2  # not clamped (model convention)
        exp = self.exp_transfer
        source_feats = exp.source_features(self._net_input(source_rgb01, "exp_transfer"))
        triplane_feats = exp.triplane_features(self._net_input(planes, "exp_transfer"))
        return SourceCache(planes, frontal, source_feats, triplane_feats)

    @torch.inference_mode()
    def frontalise_driver(
        self, driver_signed: Tensor, generator: torch.Generator | None = None
    ) -> DriverFrontal:
        """Per frame: the driver's tri-plane and its canonical 128 render (no SR)."""
        planes = self.encode(driver_signed)
        return DriverFrontal(planes, self.render_canonical(planes, super_resolve=False, generator=generator))

    @torch.inference_mode()
    def expression_delta(self, source: SourceCache, driver: DriverFrontal) -> Tensor:
        """Per frame: Delta (float32, tri-plane shape) from cached source features + driver render."""
        up = F.interpolate(driver.frontal.image_raw, size=(IMAGE_SIZE, IMAGE_SIZE), mode="nearest")
        driver_rgb01 = (up + 1) / 2
        delta = self._stage("exp_transfer", "delta_from_features")(
            source.source_feats, source.triplane_feats, self._net_input(driver_rgb01, "exp_transfer")
        )
        return delta.float()

    @torch.inference_mode()
    def drive(
        self, source: SourceCache, driver_signed: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, DriverFrontal, Tensor]:
        """Per frame: (re-enacted tri-plane ``T_s + Delta``, driver frontal, Delta)."""
        driver = self.frontalise_driver(driver_signed, generator)
        delta = self.expression_delta(source, driver)
        return source.planes + delta, driver, delta

    @torch.inference_mode()
    def reenact(
        self,
        source_signed: Tensor,
        driver_signed: Tensor,
        cam2world: Tensor,
        intrinsics: Tensor,
        generator: torch.Generator | None = None,
    ) -> Reenactment:
        """The official forward pass (batch 1), keeping every intermediate."""
        source = self.prepare_source(source_signed, generator)
        new_planes, driver, delta = self.drive(source, driver_signed, generator)
        output = self.render(new_planes, cam2world, intrinsics, super_resolve=True, generator=generator)
        return Reenactment(source, driver, delta, new_planes, output)
