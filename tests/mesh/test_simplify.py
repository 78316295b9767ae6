"""The adaptive triangulation of the head shell's depth grid (pure numpy) and its effect on the shell."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.avatar import FaceObservation
from pipeline.mesh.backend import MeshBackend, MeshBackendConfig
from pipeline.mesh.geometry import camera_depth
from pipeline.mesh.shell import ShellConfig
from pipeline.mesh.simplify import adaptive_grid_triangles, locality_order, regular_grid_triangles
from pipeline.mesh.topology import FACE_OVAL_LOOP


def smooth_field(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:n, 0:n] / (n - 1)
    z = 0.3 * x - 0.2 * y
    for _ in range(6):
        cx, cy, s, a = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.3), rng.uniform(-1, 1)
        z += a * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s))
    return z


def interpolated(tri: np.ndarray, z: np.ndarray) -> np.ndarray:
    """The triangulated surface sampled at every grid point (each point inside/on a triangle)."""
    n = z.shape[0]
    out = np.full(z.shape, np.nan)
    for t in tri:
        r, c = np.divmod(t, n)
        p = np.stack([c, r], axis=1).astype(float)
        lo, hi = p.min(axis=0).astype(int), p.max(axis=0).astype(int)
        yy, xx = np.mgrid[lo[1] : hi[1] + 1, lo[0] : hi[0] + 1]
        m = np.array([p[1] - p[0], p[2] - p[0]]).T
        uv = np.linalg.solve(m, np.stack([xx.ravel() - p[0, 0], yy.ravel() - p[0, 1]]))
        w = np.vstack([1 - uv.sum(axis=0), uv])
        inside = (w >= -1e-9).all(axis=0)
        vals = w.T @ z[r, c]
        out[yy.ravel()[inside], xx.ravel()[inside]] = vals[inside]
    return out


def test_a_plane_takes_two_triangles() -> None:
    y, x = np.mgrid[0:33, 0:33]
    tri = adaptive_grid_triangles(0.5 * x - 0.25 * y + 3.0, np.full((33, 33), 1e-6))
    assert tri.shape == (2, 3)


def test_adaptive_triangulation_is_conforming_and_within_tolerance() -> None:
    n, tol = 65, 0.004
    z = smooth_field(n)
    tri = adaptive_grid_triangles(z, np.full((n, n), tol))
    full = regular_grid_triangles(n, n)
    assert 20 < len(tri) < len(full) / 3
    # It tiles the square: the areas add up and every grid point is covered.
    r, c = np.divmod(tri, n)
    area = 0.5 * np.abs((c[:, 1] - c[:, 0]) * (r[:, 2] - r[:, 0]) - (c[:, 2] - c[:, 0]) * (r[:, 1] - r[:, 0]))
    assert area.sum() == (n - 1) ** 2
    surface = interpolated(tri, z)
    assert np.isfinite(surface).all()
    # No T-junctions: no vertex lies inside another triangle's edge (that would be a crack).
    used = set(np.unique(tri).tolist())
    for t in tri:
        for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])):
            (ra, ca), (rb, cb) = divmod(int(a), n), divmod(int(b), n)
            steps = max(abs(ra - rb), abs(ca - cb))
            for k in range(1, steps):
                p = (ra + (rb - ra) * k // steps) * n + ca + (cb - ca) * k // steps
                assert p not in used, (a, b, p)
    # The surface stays near the field: every split test held, and errors along a chain of
    # splits add up to a small multiple of the tolerance at most.
    err = np.abs(surface - z)
    assert err.max() < 2.0 * tol, err.max()
    # A looser tolerance gives fewer triangles.
    assert len(adaptive_grid_triangles(z, np.full((n, n), 4 * tol))) < len(tri)


def test_drawn_cells_limit_and_cover() -> None:
    n = 33
    z = smooth_field(n, seed=1)
    yy, xx = np.mgrid[0 : n - 1, 0 : n - 1]
    drawn = (xx - 15.5) ** 2 + (yy - 15.5) ** 2 < 10.0**2  # a disc of cells
    tri = adaptive_grid_triangles(z, np.full((n, n), np.inf), drawn_cells=drawn, max_mixed_cells=2)
    r, c = np.divmod(tri, n)
    covered = np.zeros_like(drawn)
    for rr, cc in zip(r, c, strict=True):
        covered[rr.min() : rr.max(), cc.min() : cc.max()] = True
    assert covered[drawn].all()  # every drawn cell lies under a triangle's box
    # Triangles straddling the disc's edge are small; none lies wholly outside it.
    legs = np.maximum(r.max(axis=1) - r.min(axis=1), c.max(axis=1) - c.min(axis=1))
    straddling = [
        drawn[rr.min() : rr.max(), cc.min() : cc.max()].mean() < 1 for rr, cc in zip(r, c, strict=True)
    ]
    assert legs[np.asarray(straddling)].max() <= 2
    assert all(drawn[rr.min() : rr.max(), cc.min() : cc.max()].any() for rr, cc in zip(r, c, strict=True))


def test_bad_grids_are_refused() -> None:
    with pytest.raises(ValueError, match="2\\^k"):
        adaptive_grid_triangles(np.zeros((6, 6)), np.ones((6, 6)))
    with pytest.raises(ValueError, match="> 0"):
        adaptive_grid_triangles(np.zeros((5, 5)), np.zeros((5, 5)))


def test_simplified_shell_keeps_its_shape(astronaut_obs: FaceObservation) -> None:
    """The default shell has a fraction of the full grid's triangles and the same surface.

    Both shells are triangulations of one depth grid (one cell per ``grid_step_px`` of the source's context crop). At
    every drawn grid point outside the face (inside it the shell is hidden behind the face
    mesh and only has to stay behind it), the simplified surface is compared with the grid's
    depth, as the shift the difference makes in a view turned 30 deg.
    """
    cam = astronaut_obs.camera
    full = MeshBackend(MeshBackendConfig(shell=ShellConfig(simplify_px=0.0))).prepare_source(astronaut_obs)
    tol_px = ShellConfig().simplify_px
    simple = MeshBackend().prepare_source(astronaut_obs)
    assert len(simple.shell.triangles) < 0.4 * len(full.shell.triangles)

    n = simple.camera.width // ShellConfig().grid_step_px + 1  # the grid spans the context crop

    def grid_index(shell):
        rc = np.rint(shell.texcoords[:, ::-1] * (n - 1)).astype(int)
        return rc[:, 0] * n + rc[:, 1]

    # The depth grid, from both shells' vertices (the same field at the same grid points).
    z = np.full(n * n, np.nan)
    z[grid_index(simple.shell)] = camera_depth(simple.shell.vertices_world, cam)
    at_full = grid_index(full.shell)
    d_full = camera_depth(full.shell.vertices_world, cam)
    both = np.isfinite(z[at_full])
    np.testing.assert_allclose(z[at_full][both], d_full[both], atol=1e-5)
    z[at_full] = d_full
    z = z.reshape(n, n)
    simple_tri = grid_index(simple.shell)[simple.shell.triangles]
    surface = interpolated(simple_tri, np.nan_to_num(z))
    drawn = np.zeros(n * n, bool)
    drawn[grid_index(full.shell)[full.shell.triangles].reshape(-1)] = True
    oval = np.zeros((n, n), np.uint8)
    lm = astronaut_obs.landmarks_px[:, :2] * (n - 1) / 512.0
    cv2.fillPoly(oval, [np.round(lm[list(FACE_OVAL_LOOP)]).astype(np.int32)], 1)
    check = drawn.reshape(n, n) & (cv2.dilate(oval, np.ones((3, 3), np.uint8)) == 0)
    assert check.sum() > 3000 and np.isfinite(surface[check]).all()
    parallax_px = np.abs(surface - z)[check] * cam.K_px[0, 0] / z[check] * 0.5
    assert parallax_px.max() < 2.0 * tol_px, np.percentile(parallax_px, [50, 99, 100])
    # Inside the face the simplified shell still lies behind the face.
    from test_geometry import shell_depth_image

    d_simple = shell_depth_image(simple.shell, cam)
    face_d = camera_depth(simple.face_world, cam)
    for i in (10, 50, 280, 152):
        x, y = np.floor(astronaut_obs.landmarks_px[i, :2]).astype(int)
        assert d_simple[y, x] > face_d[i], i


def test_locality_order_keeps_the_triangles_and_groups_neighbours() -> None:
    n = 33
    tri = regular_grid_triangles(n, n)
    y, x = np.divmod(np.arange(n * n), n)
    pts = np.stack([x, y], axis=1)
    shuffled = tri[np.random.default_rng(0).permutation(len(tri))]
    ordered = locality_order(shuffled, pts)
    assert sorted(map(tuple, ordered.tolist())) == sorted(map(tuple, tri.tolist()))

    def step(t: np.ndarray) -> float:  # mean distance from one triangle to the next
        return float(np.linalg.norm(np.diff(pts[t].mean(axis=1), axis=0), axis=1).mean())

    assert step(ordered) < 0.1 * step(shuffled)
    assert locality_order(np.zeros((0, 3), np.int64), pts).shape == (0, 3)
