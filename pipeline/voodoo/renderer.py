"""Tri-plane volume renderer (spec section 6): rays, samples, decoder MLP, ray marching.

Pure functions plus one tiny module (:class:`TriplaneDecoder`). Everything here runs in
float32 whatever the encoders use: depths span only ~0.01 around 2.7, the importance
sampler inverts a CDF and the transmittance is a long product, none of which survive
half precision.

Sampling rules (``RenderSettings.sampling``):

``"deterministic"`` (the default)
    every ray uses the coarse depths ``t_k = ray_start + (k + 0.5) * dt`` and the
    importance draws ``u = linspace(0, 1, N)``. This is the rule of the parity fixtures and
    the one used live: a still head renders identically from frame to frame (the random
    rule makes the image shimmer by ~1-2 % per frame for no gain at inference time).
``"stochastic"``
    the official rule: ``t_k = ray_start + (k + xi) * dt`` with ``xi ~ U[0, 1)`` per ray and
    sample, and ``u ~ U[0, 1)`` per ray. Pass a ``torch.Generator`` for repeatable draws.

Tensor layout: rays are flattened row-major (ray index ``i * R + j`` for pixel row ``i``,
column ``j``); "signed" features are in [-1, 1] after ``2 * composite - 1``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "PLANE_AXES",
    "RenderResult",
    "Kernel",
    "RenderSettings",
    "Sampling",
    "TriplaneDecoder",
    "coarse_depths",
    "generate_rays",
    "importance_depths",
    "march_rays",
    "march_weights",
    "project_to_planes",
    "render_triplanes",
    "sample_triplanes",
]

Sampling = Literal["deterministic", "stochastic"]
Kernel = Literal["torch", "triton"]

_log = logging.getLogger(__name__)

#: The renderer's ``plane_axes`` buffer: plane k maps a point q to the first two components
#: of ``q @ inverse(PLANE_AXES[k])`` -> (x, y), (x, z), (z, y).
PLANE_AXES = (
    ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, 1.0, 0.0)),
    ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0), (1.0, 0.0, 0.0)),
)
#: Which world axes (0 = x, 1 = y, 2 = z) give each plane's (column, row) coordinate.
_PLANE_COORDS = ((0, 1), (0, 2), (2, 1))


@dataclass(frozen=True)
class RenderSettings:
    """How the tri-plane is ray-marched.

    Attributes:
        resolution: rays per side of the neural image (128 in the model).
        depth_samples: stratified (coarse) samples per ray.
        importance_samples: importance (fine) samples per ray; 0 disables the fine pass.
        ray_start / ray_end: depth range in world units (distance along the unit ray).
        box_warp: side of the cube the tri-plane covers, centred at the origin.
        sampling: ``"deterministic"`` (default, parity rule, no shimmer) or ``"stochastic"``.
        ray_chunk: rays marched at once (bounds memory: ~40 kB per ray at 96+96 samples).
        compile: march each chunk through a ``torch.compile``-d copy of the chunk function
            (opt-in; the first render per chunk shape pays the compilation; the
            ``"stochastic"`` rule and ``kernel="triton"`` always run eagerly). See the README
            for measurements.
        kernel: how samples are decoded. ``"torch"`` (default): ``grid_sample`` and two
            matrix products. ``"triton"``: one fused Triton kernel per chunk (tri-plane
            gather + decoder MLP, no intermediates; :mod:`pipeline.voodoo.triton_decode`),
            on CUDA with Triton installed; elsewhere it falls back to ``"torch"`` with a
            logged warning. Both give the same numbers up to float rounding.
    """

    resolution: int = 128
    depth_samples: int = 96
    importance_samples: int = 96
    ray_start: float = 2.25
    ray_end: float = 3.3
    box_warp: float = 1.0
    sampling: Sampling = "deterministic"
    ray_chunk: int = 8192
    compile: bool = False
    kernel: Kernel = "torch"

    def __post_init__(self) -> None:
        if self.resolution < 1:
            raise ValueError(f"RenderSettings.resolution must be >= 1, got {self.resolution}")
        if self.depth_samples < 4:
            raise ValueError(f"RenderSettings.depth_samples must be >= 4, got {self.depth_samples}")
        if self.importance_samples < 0:
            raise ValueError(f"RenderSettings.importance_samples must be >= 0, got {self.importance_samples}")
        if not 0.0 < self.ray_start < self.ray_end:
            raise ValueError(f"need 0 < ray_start < ray_end, got {self.ray_start}, {self.ray_end}")
        if self.box_warp <= 0:
            raise ValueError(f"RenderSettings.box_warp must be > 0, got {self.box_warp}")
        if self.sampling not in ("deterministic", "stochastic"):
            raise ValueError(
                f"RenderSettings.sampling must be 'deterministic' or 'stochastic', got {self.sampling!r}"
            )
        if self.ray_chunk < 1:
            raise ValueError(f"RenderSettings.ray_chunk must be >= 1, got {self.ray_chunk}")
        if self.kernel not in ("torch", "triton"):
            raise ValueError(f"RenderSettings.kernel must be 'torch' or 'triton', got {self.kernel!r}")


@dataclass
class RenderResult:
    """Output of :func:`render_triplanes` for N cameras at resolution R.

    Attributes:
        feature_image: ``N x 32 x R x R`` signed features (``2 * composite - 1``); channels
            0-2 are the RGB image ``image_raw`` in ~[-1, 1], -1 (black) where transparent.
        depth: ``N x 1 x R x R`` distance along the ray, clamped to the view's sample range.
        alpha: ``N x 1 x R x R`` accumulated opacity (sum of the ray weights) in [0, 1].
    """

    feature_image: Tensor
    depth: Tensor
    alpha: Tensor

    @property
    def image_raw(self) -> Tensor:
        """``N x 3 x R x R`` RGB in ~[-1, 1]."""
        return self.feature_image[:, :3]


class TriplaneDecoder(nn.Module):
    """The tri-plane MLP: 32 features -> (density logit, 32 features in (-0.001, 1.001)).

    Weights are stored unscaled (equalised learning rate) and scaled by ``1/sqrt(fan_in)``
    at run time; softplus between the layers.
    """

    def __init__(self, in_features: int = 32, hidden: int = 64, out_features: int = 32) -> None:
        super().__init__()
        self.net = nn.ModuleDict(
            {"0": nn.Linear(in_features, hidden), "2": nn.Linear(hidden, 1 + out_features)}
        )

    def layers(self) -> tuple[nn.Linear, nn.Linear]:
        """The hidden and the output layer (``net.0`` and ``net.2``: the checkpoint's names)."""
        l0, l2 = self.net["0"], self.net["2"]
        if not isinstance(l0, nn.Linear) or not isinstance(l2, nn.Linear):
            raise TypeError(f"TriplaneDecoder layers must be nn.Linear, got {type(l0)} and {type(l2)}")
        return l0, l2

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """``K x 32`` -> (``K`` density logits, ``K x 32`` features)."""
        l0, l2 = self.layers()
        h = torch.addmm(l0.bias[None], features, (l0.weight * (1.0 / math.sqrt(l0.in_features))).t())
        h = F.softplus(h)
        out = torch.addmm(l2.bias[None], h, (l2.weight * (1.0 / math.sqrt(l2.in_features))).t())
        return out[:, 0], torch.sigmoid(out[:, 1:]) * (1 + 2 * 0.001) - 0.001


def generate_rays(cam2world: Tensor, intrinsics: Tensor, resolution: int) -> tuple[Tensor, Tensor]:
    """Pixel-centre rays of N cameras.

    Args:
        cam2world: ``N x 4 x 4`` OpenCV-axes camera-to-world.
        intrinsics: ``N x 3 x 3`` normalised intrinsics.
        resolution: R; pixel (i, j) has u = (j + 0.5)/R, v = (i + 0.5)/R.

    Returns:
        origins ``N x R*R x 3`` and unit directions ``N x R*R x 3`` (row-major rays).
    """
    n = cam2world.shape[0]
    dev, dt = cam2world.device, cam2world.dtype
    coords = torch.arange(resolution, dtype=dt, device=dev) * (1.0 / resolution) + (0.5 / resolution)
    v, u = torch.meshgrid(coords, coords, indexing="ij")
    u, v = u.reshape(1, -1), v.reshape(1, -1)
    fx, fy = intrinsics[:, 0, 0, None], intrinsics[:, 1, 1, None]
    cx, cy, sk = intrinsics[:, 0, 2, None], intrinsics[:, 1, 2, None], intrinsics[:, 0, 1, None]
    x_cam = (u - cx + cy * sk / fy - sk * v / fy) / fx
    y_cam = (v - cy) / fy
    ones = torch.ones_like(x_cam)
    cam_points = torch.stack((x_cam, y_cam, ones, ones), dim=1)  # N x 4 x M
    world = torch.bmm(cam2world, cam_points).permute(0, 2, 1)[..., :3]
    origins = cam2world[:, None, :3, 3].expand(n, world.shape[1], 3)
    directions = F.normalize(world - origins, dim=2)
    return origins, directions


def coarse_depths(
    num_rays: int,
    settings: RenderSettings,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> Tensor:
    """``num_rays x D`` stratified depths (float32) following ``settings.sampling``."""
    d = settings.depth_samples
    delta = (settings.ray_end - settings.ray_start) / (d - 1)
    base = torch.linspace(settings.ray_start, settings.ray_end, d, device=device)
    if settings.sampling == "deterministic":
        return (base + torch.full_like(base, 0.5) * delta).expand(num_rays, d)
    jitter = torch.rand((num_rays, d), generator=generator, device=device)
    return base + jitter * delta


def project_to_planes(points: Tensor, box_warp: float = 1.0) -> Tensor:
    """``K x 3`` world points -> ``3 x K x 2`` plane coordinates in [-1, 1] inside the box."""
    q = points * (2.0 / box_warp)
    # integer (not list) indices: a list index becomes a host tensor copied to the device,
    # which makes the host wait on CUDA
    return torch.stack([torch.stack((q[:, a], q[:, b]), dim=-1) for a, b in _PLANE_COORDS])


def sample_triplanes(planes: Tensor, points: Tensor, box_warp: float = 1.0) -> Tensor:
    """Bilinear tri-plane lookup, averaged over the planes.

    Args:
        planes: ``3 x C x H x W`` (planes XY, XZ, ZY).
        points: ``K x 3`` world points.

    Returns:
        ``K x C``; zeros outside the box (zero padding, align_corners=False).
    """
    grid = project_to_planes(points, box_warp)[:, None]  # 3 x 1 x K x 2
    sampled = F.grid_sample(planes, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return sampled[:, :, 0].mean(0).t()  # K x C (a transposed view; addmm reads it as is)


def march_weights(depths: Tensor, density_logits: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Mip-NeRF-style interval weights of sorted samples (interval averages, softplus(sigma - 1)).

    Args:
        depths: ``R x S`` ascending sample depths.
        density_logits: ``R x S`` raw density logits (averaged per interval *before* the
            activation).

    Returns:
        (``R`` total weight, ``R`` depth = ``sum(w t_mid) / sum(w)`` (NaN -> +inf, not yet
        clamped), ``R x (S-1)`` interval weights).
    """
    deltas = depths[:, 1:] - depths[:, :-1]
    sigma_mid = (density_logits[:, :-1] + density_logits[:, 1:]) / 2
    alpha = 1 - torch.exp(-F.softplus(sigma_mid - 1) * deltas)
    trans = torch.cumprod(torch.cat((torch.ones_like(alpha[:, :1]), 1 - alpha + 1e-10), dim=1), dim=1)
    weights = alpha * trans[:, :-1]
    total = weights.sum(1)
    t_mid = (depths[:, :-1] + depths[:, 1:]) / 2
    depth = torch.nan_to_num(torch.sum(weights * t_mid, dim=1) / total, nan=float("inf"))
    return total, depth, weights


def march_rays(
    depths: Tensor, features: Tensor, density_logits: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Mip-NeRF-style compositing of sorted samples (the weights of :func:`march_weights`).

    Args:
        depths: ``R x S`` ascending sample depths.
        features: ``R x S x C`` decoded features in ~[0, 1].
        density_logits: ``R x S`` raw density logits.

    Returns:
        (``R x C`` signed features ``2 * sum_k w_k (c_k + c_k+1)/2 - 1``, ``R`` total weight,
        ``R`` depth (NaN -> +inf, not yet clamped), ``R x (S-1)`` interval weights).
    """
    total, depth, weights = march_weights(depths, density_logits)
    composite = torch.bmm(sample_coefficients(weights)[:, None, :], features)[:, 0]
    return composite * 2 - 1, total, depth, weights


def sample_coefficients(weights: Tensor) -> Tensor:
    """Per-sample compositing coefficients ``R x S`` from interval weights ``R x (S-1)``.

    ``sum_k w_k (c_k + c_k+1) / 2 == sum_j a_j c_j`` with ``a_j = (w_j + w_j-1) / 2``: the
    composite becomes one batched matrix product, without the ``R x (S-1) x C`` interval
    colours.
    """
    zero = weights.new_zeros(weights.shape[0], 1)
    return (torch.cat((weights, zero), dim=1) + torch.cat((zero, weights), dim=1)) / 2


def importance_depths(coarse: Tensor, weights: Tensor, u: Tensor) -> Tensor:
    """Inverse-CDF importance samples from a coarse pass.

    Args:
        coarse: ``R x D`` coarse depths.
        weights: ``R x (D-1)`` coarse interval weights from :func:`march_weights`.
        u: ``R x N`` uniform draws in [0, 1] (sorted or not).

    Returns:
        ``R x N`` new depths (between the first and the (D-2)-th coarse midpoint).
    """
    w = F.max_pool1d(weights[:, None], 2, 1, padding=1)
    w = F.avg_pool1d(w, 2, 1)[:, 0] + 0.01  # R x (D-1)
    bins = 0.5 * (coarse[:, :-1] + coarse[:, 1:])  # R x (D-1) midpoints
    pdf = w[:, 1:-1] + 1e-5
    pdf = pdf / pdf.sum(-1, keepdim=True)
    cdf = torch.cat((torch.zeros_like(pdf[:, :1]), torch.cumsum(pdf, -1)), dim=-1)  # R x (D-2)
    u = u.contiguous()
    idx = torch.searchsorted(cdf, u, right=True)
    lo = torch.clamp_min(idx - 1, 0)
    hi = torch.clamp_max(idx, cdf.shape[-1] - 1)
    c_lo, c_hi = torch.gather(cdf, 1, lo), torch.gather(cdf, 1, hi)
    b_lo, b_hi = torch.gather(bins, 1, lo), torch.gather(bins, 1, hi)
    denom = c_hi - c_lo
    denom = torch.where(denom < 1e-5, torch.ones_like(denom), denom)
    return b_lo + (u - c_lo) / denom * (b_hi - b_lo)


def _decode(
    planes: Tensor, decoder: TriplaneDecoder, points: Tensor, box_warp: float, fused=None
) -> tuple[Tensor, Tensor]:
    if fused is not None:
        return fused(points)
    return decoder(sample_triplanes(planes, points, box_warp))


_kernel_warned: set[str] = set()


def _fused_decoder(planes: Tensor, decoder: TriplaneDecoder, settings: RenderSettings):
    """The Triton decoder of one ``3 x C x H x W`` tri-plane, or None (PyTorch path)."""
    if settings.kernel != "triton":
        return None
    from pipeline.voodoo.triton_decode import FusedTriplaneDecoder, triton_status

    why = triton_status(planes.device)
    if why is not None:
        if why not in _kernel_warned:
            _kernel_warned.add(why)
            _log.warning("kernel='triton' unavailable, decoding with PyTorch: %s", why)
        return None
    return FusedTriplaneDecoder(planes, decoder, settings.box_warp)


def _render_chunk(
    planes: Tensor,
    decoder: TriplaneDecoder,
    origins: Tensor,
    directions: Tensor,
    settings: RenderSettings,
    generator: torch.Generator | None,
    fused=None,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """March ``R`` rays (``R x 3`` origins/directions) through one ``3 x C x H x W`` tri-plane
    (decoded by ``fused``, a :class:`~pipeline.voodoo.triton_decode.FusedTriplaneDecoder`,
    when given)."""
    r = origins.shape[0]
    t = coarse_depths(r, settings, origins.device, generator)
    pts = (origins[:, None] + t[..., None] * directions[:, None]).reshape(-1, 3)
    sigma, feats = _decode(planes, decoder, pts, settings.box_warp, fused)
    sigma, feats = sigma.reshape(r, -1), feats.reshape(r, t.shape[1], -1)
    if settings.importance_samples > 0:
        _, _, weights = march_weights(t, sigma)
        n = settings.importance_samples
        if settings.sampling == "deterministic":
            u = torch.linspace(0.0, 1.0, n, device=origins.device).expand(r, n)
        else:
            u = torch.rand((r, n), generator=generator, device=origins.device)
        t_fine = importance_depths(t, weights, u)
        del weights
        pts = (origins[:, None] + t_fine[..., None] * directions[:, None]).reshape(-1, 3)
        sigma_f, feats_f = _decode(planes, decoder, pts, settings.box_warp, fused)
        del pts
        t, order = torch.sort(torch.cat((t, t_fine), dim=1), dim=1)
        sigma = torch.gather(torch.cat((sigma, sigma_f.reshape(r, -1)), dim=1), 1, order)
        del sigma_f
        total, depth, weights = march_weights(t, sigma)
        # composite without sorting the features: move each sorted sample's coefficient back
        # to its unsorted slot, then one product with the coarse and one with the fine features
        coef = torch.empty_like(t).scatter_(1, order, sample_coefficients(weights))
        d = feats.shape[1]
        composite = torch.bmm(coef[:, None, :d], feats) + torch.bmm(
            coef[:, None, d:], feats_f.reshape(r, n, -1)
        )
        return composite[:, 0] * 2 - 1, total, depth, t[:, 0], t[:, -1]
    composite, total, depth, _ = march_rays(t, feats, sigma)
    return composite, total, depth, t.amin(1), t.amax(1)


_compiled_chunk = None


def _chunk_function(settings: RenderSettings):
    """The chunk marcher: eager, or the lazily built compiled copy (``settings.compile``), which
    falls back to eager for good if compilation fails (:class:`~pipeline.voodoo.compiled.CompiledCall`)."""
    global _compiled_chunk
    if not settings.compile or settings.sampling != "deterministic" or settings.kernel != "torch":
        return _render_chunk
    if _compiled_chunk is None:
        from pipeline.voodoo.compiled import CompiledCall

        _compiled_chunk = CompiledCall(_render_chunk, "the ray-marching chunk")
    return _compiled_chunk


def render_triplanes(
    planes: Tensor,
    decoder: TriplaneDecoder,
    cam2world: Tensor,
    intrinsics: Tensor,
    settings: RenderSettings,
    generator: torch.Generator | None = None,
) -> RenderResult:
    """Render N cameras of one tri-plane (P = 1) or of one tri-plane per camera (P = N).

    Args:
        planes: ``P x 3 x C x H x W`` tri-planes (cast to float32 here).
        decoder: the tri-plane MLP.
        cam2world: ``N x 4 x 4``; intrinsics: ``N x 3 x 3`` (normalised).
        settings: sample counts, depth range and sampling rule.
        generator: random source for ``sampling="stochastic"``.

    The depth clamp uses each view's own sample range (the official code uses the range of
    the whole batch; identical for one view, and it keeps a view independent of its batch).
    """
    if planes.ndim != 5 or planes.shape[1] != 3:
        raise ValueError(f"planes must be P x 3 x C x H x W, got {tuple(planes.shape)}")
    if cam2world.ndim != 3 or cam2world.shape[1:] != (4, 4):
        raise ValueError(f"cam2world must be N x 4 x 4, got {tuple(cam2world.shape)}")
    if intrinsics.shape != (cam2world.shape[0], 3, 3):
        raise ValueError(f"intrinsics must be N x 3 x 3 matching cam2world, got {tuple(intrinsics.shape)}")
    n, p = cam2world.shape[0], planes.shape[0]
    if p not in (1, n):
        raise ValueError(f"{p} tri-planes for {n} cameras: pass one tri-plane or one per camera")
    planes = planes.float()
    res = settings.resolution
    origins, dirs = generate_rays(cam2world.float(), intrinsics.float(), res)
    # views as slices, not lists: a list index would be a host -> device copy the host waits for
    groups = [(0, slice(0, n))] if p == 1 else [(i, slice(i, i + 1)) for i in range(n)]
    m = res * res
    out_feat = torch.empty(n * m, planes.shape[2], device=planes.device)
    out_total = torch.empty(n * m, device=planes.device)
    out_depth = torch.empty(n * m, device=planes.device)
    t_min = torch.empty(n * m, device=planes.device)
    t_max = torch.empty(n * m, device=planes.device)
    march = _chunk_function(settings)
    for plane_index, views in groups:
        fused = _fused_decoder(planes[plane_index], decoder, settings)  # shared by the group's views
        o = origins[views].reshape(-1, 3)
        d = dirs[views].reshape(-1, 3)
        base = views.start * m  # views of a group are consecutive
        for start in range(0, o.shape[0], settings.ray_chunk):
            stop = min(start + settings.ray_chunk, o.shape[0])
            res_chunk = march(
                planes[plane_index], decoder, o[start:stop], d[start:stop], settings, generator, fused
            )
            sl = slice(base + start, base + stop)
            out_feat[sl], out_total[sl], out_depth[sl], t_min[sl], t_max[sl] = res_chunk
    lo = t_min.reshape(n, m).amin(1, keepdim=True)
    hi = t_max.reshape(n, m).amax(1, keepdim=True)
    depth = torch.minimum(torch.maximum(out_depth.reshape(n, m), lo), hi)
    return RenderResult(
        feature_image=out_feat.reshape(n, res, res, -1).permute(0, 3, 1, 2).contiguous(),
        depth=depth.reshape(n, 1, res, res),
        alpha=out_total.reshape(n, 1, res, res),
    )
