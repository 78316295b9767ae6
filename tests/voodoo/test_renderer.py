"""Unit tests of the tri-plane renderer on small shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pipeline.cameras import canonical_camera, eg3d_orbit_cam2world, stack_cameras
from pipeline.voodoo.renderer import (
    PLANE_AXES,
    RenderSettings,
    TriplaneDecoder,
    coarse_depths,
    generate_rays,
    importance_depths,
    march_rays,
    project_to_planes,
    render_triplanes,
    sample_triplanes,
)


def test_plane_projection_matches_plane_axes_inverse() -> None:
    pts = torch.tensor([[0.1, -0.2, 0.3], [0.4, 0.05, -0.45]])
    proj = project_to_planes(pts, box_warp=1.0)
    axes = torch.tensor(PLANE_AXES)
    for k in range(3):
        ref = (2 * pts) @ torch.linalg.inv(axes[k])
        assert torch.allclose(proj[k], ref[:, :2])
    # the third plane is (z, y), EG3D's ordering
    assert torch.allclose(proj[2, 0], torch.tensor([0.6, -0.4]))


def test_sample_triplanes_axes_and_averaging() -> None:
    """First plane coordinate indexes columns, second rows; planes are averaged; zero outside."""
    size = 8
    planes = torch.zeros(3, 2, size, size)
    cols = torch.arange(size, dtype=torch.float32)
    planes[:, 0] = cols.expand(size, size)  # channel 0 = column index
    planes[:, 1] = cols[:, None].expand(size, size)  # channel 1 = row index

    # texel centre of column c in world units: q = (c + 0.5) / size * 2 - 1, x = q * box_warp / 2
    def world(c: int) -> float:
        return ((c + 0.5) / size * 2 - 1) / 2

    p = torch.tensor([[world(5), world(2), world(1)]])
    out = sample_triplanes(planes, p)
    # plane XY: (col 5, row 2); XZ: (col 5, row 1); ZY: (col 1, row 2)
    assert torch.allclose(out[0], torch.tensor([(5 + 5 + 1) / 3, (2 + 1 + 2) / 3]), atol=1e-5)
    far = sample_triplanes(planes + 1, torch.tensor([[5.0, 5.0, 5.0]]))
    assert torch.equal(far, torch.zeros(1, 2))


def test_rays_of_the_canonical_camera() -> None:
    cam = canonical_camera()
    c2w, k = (torch.from_numpy(a) for a in stack_cameras([cam]))
    o, d = generate_rays(c2w, k, 4)
    assert o.shape == (1, 16, 3) and d.shape == (1, 16, 3)
    assert torch.allclose(d.norm(dim=-1), torch.ones(1, 16))
    assert torch.allclose(o[0, 0], torch.tensor([0.0, 0.0, 2.7]), atol=1e-6)
    # the frontal camera (rotation diag(1, -1, -1)) looks down -z, image right = world +x,
    # image down = world -y: pixel (row 0, col 3), the top-right, points to (+x, +y, -z)
    top_right = d[0, 3]
    assert top_right[0] > 0 and top_right[1] > 0 and top_right[2] < 0
    # direction of pixel (i, j) follows the normalised intrinsics exactly
    f = float(k[0, 0, 0])
    u, v = (3 + 0.5) / 4, (0 + 0.5) / 4
    expected = np.array([(u - 0.5) / f, -(v - 0.5) / f, -1.0])
    expected /= np.linalg.norm(expected)
    assert np.allclose(top_right.numpy(), expected, atol=1e-5)


def test_rays_follow_principal_point_shift() -> None:
    cam = canonical_camera()
    c2w, k = (torch.from_numpy(a) for a in stack_cameras([cam]))
    k2 = k.clone()
    k2[0, 0, 2] += 0.25
    _, d0 = generate_rays(c2w, k, 2)
    _, d1 = generate_rays(c2w, k2, 2)
    # a principal point further right turns every ray towards the image's left (world -x here)
    assert (d1[0, :, 0] < d0[0, :, 0]).all()


def test_coarse_depths_rules(generator: torch.Generator) -> None:
    s = RenderSettings()
    t = coarse_depths(3, s)
    delta = 1.05 / 95
    assert t.shape == (3, 96)
    assert torch.allclose(t[0], 2.25 + (torch.arange(96) + 0.5) * delta, atol=1e-6)
    assert torch.equal(t[0], t[2])
    st = RenderSettings(sampling="stochastic")
    a = coarse_depths(3, st, generator=torch.Generator().manual_seed(5))
    b = coarse_depths(3, st, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a[0], a[1])
    k = torch.arange(96)
    assert (a >= 2.25 + k * delta - 1e-6).all() and (a <= 2.25 + (k + 1) * delta + 1e-6).all()


def test_importance_sampling_concentrates_on_the_weight_peak() -> None:
    t = coarse_depths(2, RenderSettings())
    w = torch.zeros(2, 95)
    w[0, 40] = 1.0  # ray 0: all weight in interval 40
    u = torch.linspace(0, 1, 96).expand(2, 96)
    fine = importance_depths(t, w, u)
    bins = 0.5 * (t[0, :-1] + t[0, 1:])
    assert fine.shape == (2, 96)
    assert torch.all(fine[:, 1:] >= fine[:, :-1])  # sorted u gives sorted depths
    near = ((fine[0] >= bins[38]) & (fine[0] <= bins[42])).float().mean()
    assert near > 0.5  # the pooled peak (+0.01 floor elsewhere) attracts most samples
    # ray 1 has a flat pdf: samples spread evenly between the first and the 94th midpoint
    assert torch.allclose(fine[1, 0], bins[0]) and torch.allclose(fine[1, -1], bins[93], atol=1e-5)
    assert torch.allclose(torch.diff(fine[1]), torch.full((95,), float(bins[93] - bins[0]) / 95), atol=1e-4)


def test_march_rays_opaque_transparent_and_analytic() -> None:
    depths = torch.tensor([[1.0, 2.0, 3.0]]).expand(3, 3)
    feats = torch.tensor([[0.2], [0.6], [1.0]]).expand(3, 3, 1).contiguous()  # rays x samples x 1
    logits = torch.stack([torch.full((3,), 100.0), torch.full((3,), -100.0), torch.tensor([1.0, 1.0, 1.0])])
    composite, total, depth, weights = march_rays(depths, feats, logits)
    # opaque: everything stops in the first interval (mid colour 0.4, mid depth 1.5)
    assert torch.allclose(total[0], torch.tensor(1.0)) and torch.allclose(
        composite[0], torch.tensor([2 * 0.4 - 1])
    )
    assert torch.allclose(depth[0], torch.tensor(1.5))
    # transparent: black (-1), zero weight, depth NaN -> inf
    assert torch.allclose(composite[1], torch.tensor([-1.0]), atol=1e-6) and total[1] < 1e-6
    # analytic: sigma_mid = 1 -> density softplus(0) = ln 2, delta 1 -> alpha 0.5 per interval
    a = 1 - math.exp(-math.log(2.0))
    w = torch.tensor([a, (1 - a + 1e-10) * a])
    assert torch.allclose(weights[2], w)
    assert torch.allclose(composite[2], torch.tensor([2 * (w[0] * 0.4 + w[1] * 0.8) - 1]))
    assert torch.allclose(depth[2], (w[0] * 1.5 + w[1] * 2.5) / w.sum())


def test_decoder_scales_weights_at_run_time() -> None:
    dec = TriplaneDecoder()
    with torch.no_grad():
        for lin in dec.net.values():
            lin.weight.fill_(1.0)
            lin.bias.zero_()
        sigma, feats = dec(torch.ones(1, 32))
    h = math.log1p(math.exp(32 / math.sqrt(32)))
    assert torch.allclose(sigma, torch.tensor([64 * h / 8]))
    assert torch.allclose(feats, torch.full((1, 32), 1 / (1 + math.exp(-8 * h)) * 1.002 - 0.001))


def _scene(generator: torch.Generator) -> tuple[torch.Tensor, TriplaneDecoder]:
    planes = torch.randn(1, 3, 32, 16, 16, generator=generator)
    torch.manual_seed(0)
    dec = TriplaneDecoder()
    with torch.no_grad():
        dec.net["2"].bias[0] += 4
    return planes, dec


def test_render_is_batch_and_chunk_independent(generator: torch.Generator) -> None:
    planes, dec = _scene(generator)
    cams = [eg3d_orbit_cam2world(math.pi / 2 + a, math.pi / 2) for a in (-0.2, 0.0, 0.3)]
    c2w = torch.tensor(np.stack(cams), dtype=torch.float32)
    k = torch.from_numpy(stack_cameras([canonical_camera()])[1]).expand(3, 3, 3).contiguous()
    s = RenderSettings(resolution=8, depth_samples=12, importance_samples=12, ray_chunk=1000)
    with torch.no_grad():
        all_views = render_triplanes(planes, dec, c2w, k, s)
        small = render_triplanes(planes, dec, c2w, k, RenderSettings(**{**s.__dict__, "ray_chunk": 7}))
        one = render_triplanes(planes, dec, c2w[1:2], k[1:2], s)
        per_view = render_triplanes(planes.expand(3, -1, -1, -1, -1), dec, c2w, k, s)
    assert all_views.feature_image.shape == (3, 32, 8, 8) and all_views.depth.shape == (3, 1, 8, 8)
    assert torch.allclose(all_views.feature_image, small.feature_image, atol=1e-5)
    assert torch.allclose(all_views.feature_image[1:2], one.feature_image, atol=1e-5)
    assert torch.allclose(all_views.depth, per_view.depth, atol=1e-5)
    assert not torch.allclose(all_views.image_raw[0], all_views.image_raw[2])  # views differ
    assert (all_views.depth >= 2.25).all() and (all_views.depth <= 3.31).all()
    assert ((all_views.alpha >= 0) & (all_views.alpha <= 1 + 1e-5)).all()


def test_render_sampling_rules(generator: torch.Generator) -> None:
    planes, dec = _scene(generator)
    c2w, k = (torch.from_numpy(a) for a in stack_cameras([canonical_camera()]))
    det = RenderSettings(resolution=6, depth_samples=16, importance_samples=16)
    sto = RenderSettings(**{**det.__dict__, "sampling": "stochastic"})
    with torch.no_grad():
        a = render_triplanes(planes, dec, c2w, k, det)
        b = render_triplanes(planes, dec, c2w, k, det)
        c = render_triplanes(planes, dec, c2w, k, sto, torch.Generator().manual_seed(1))
        d = render_triplanes(planes, dec, c2w, k, sto, torch.Generator().manual_seed(2))
    assert torch.equal(a.feature_image, b.feature_image)  # no shimmer
    assert not torch.allclose(c.feature_image, d.feature_image)


def test_render_input_validation(generator: torch.Generator) -> None:
    planes, dec = _scene(generator)
    c2w, k = (torch.from_numpy(a) for a in stack_cameras([canonical_camera()] * 2))
    with pytest.raises(ValueError, match="tri-planes for 2 cameras"):
        render_triplanes(planes.expand(3, -1, -1, -1, -1), dec, c2w, k, RenderSettings(resolution=2))
    with pytest.raises(ValueError, match="cam2world"):
        render_triplanes(planes, dec, c2w[:, :3], k, RenderSettings(resolution=2))
    with pytest.raises(ValueError, match="sampling"):
        RenderSettings(sampling="random")  # type: ignore[arg-type]


def test_compile_flag_selects_the_chunk_function() -> None:
    from pipeline.voodoo import renderer

    eager = RenderSettings(resolution=2)
    assert renderer._chunk_function(eager) is renderer._render_chunk
    stochastic = RenderSettings(resolution=2, compile=True, sampling="stochastic")
    assert renderer._chunk_function(stochastic) is renderer._render_chunk  # generator: eager
    assert renderer._chunk_function(RenderSettings(resolution=2, compile=True)) is not renderer._render_chunk


@pytest.mark.slow
def test_compiled_render_equals_eager(generator: torch.Generator) -> None:
    planes, dec = _scene(generator)
    cams = [eg3d_orbit_cam2world(math.pi / 2 + a, math.pi / 2) for a in (-0.2, 0.3)]
    c2w = torch.tensor(np.stack(cams), dtype=torch.float32)
    k = torch.from_numpy(stack_cameras([canonical_camera()])[1]).expand(2, 3, 3).contiguous()
    s = RenderSettings(resolution=8, depth_samples=12, importance_samples=12, ray_chunk=32)
    with torch.inference_mode():
        eager = render_triplanes(planes, dec, c2w, k, s)
        compiled = render_triplanes(planes, dec, c2w, k, RenderSettings(**{**s.__dict__, "compile": True}))
    for name in ("feature_image", "depth", "alpha"):
        assert torch.allclose(getattr(eager, name), getattr(compiled, name), atol=1e-5, rtol=0), name
