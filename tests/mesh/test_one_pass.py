"""All views in one instanced draw: the tile maths (pure) and the same pixels as the per-view reference (GL)."""

from __future__ import annotations

import dataclasses

import moderngl
import numpy as np
import pytest

from pipeline.avatar import FaceObservation
from pipeline.cameras import view_sweep
from pipeline.face_model import NUM_MESH_VERTICES, canonical_face_model
from pipeline.mesh.backend import MeshBackend
from pipeline.mesh.drawlist import (
    SURFACE_MOUTH,
    SURFACE_SHELL,
    SURFACE_SKIN,
    TileGrid,
    build_draw_geometry,
    plan_tiles,
    triangles_reaching_background,
)
from pipeline.mesh.renderer import MeshRenderer, RendererConfig
from pipeline.mesh.topology import mouth_triangle_mask


def test_tiles_stack_in_one_column_when_they_fit() -> None:
    ((start, grid),) = plan_tiles(24, 192, 192, 16384)
    assert start == 0 and (grid.cols, grid.rows) == (1, 24) and grid.size == (192, 4608)
    ((_, grid),) = plan_tiles(24, 512, 512, 8192)  # 16 a column: two columns
    assert (grid.cols, grid.rows) == (2, 12)
    passes = plan_tiles(24, 512, 512, 2048)  # 4 x 4 a pass
    assert [p[0] for p in passes] == [0, 16] and passes[0][1].capacity == 16 and passes[1][1].capacity >= 8
    with pytest.raises(ValueError, match="max_framebuffer_px"):
        plan_tiles(1, 600, 600, 512)


@pytest.mark.parametrize("cols_rows", [(1, 5), (3, 4)])
def test_clip_transform_lands_where_the_viewport_would(cols_rows: tuple[int, int]) -> None:
    """Tile transform in clip space == viewport of the tile with the view drawn upside down."""
    cols, rows = cols_rows
    grid = TileGrid(cols, rows, 40, 30)
    fb_w, fb_h = grid.size
    rng = np.random.default_rng(1)
    ndc = rng.uniform(-1, 1, (50, 2))
    for i, (sx, sy, cx, cy) in enumerate(grid.clip_transforms(grid.capacity)):
        moved = ndc * (sx, sy) + (cx, cy)
        win = (moved + 1.0) / 2.0 * (fb_w, fb_h)
        x0, y0, w, h = grid.viewport(i)
        expected = np.stack([x0 + (ndc[:, 0] + 1) / 2 * w, y0 + (1 - ndc[:, 1]) / 2 * h], axis=1)
        np.testing.assert_allclose(win, expected, atol=1e-4)


def test_split_returns_each_view_top_row_first() -> None:
    for grid in (TileGrid(1, 6, 8, 5), TileGrid(3, 2, 8, 5)):
        fb_w, fb_h = grid.size
        fb = np.zeros((fb_h, fb_w, 2), np.int32)  # as read back: row 0 = the framebuffer's bottom
        for i in range(grid.capacity):
            x0, y0, w, h = grid.viewport(i)
            fb[y0 : y0 + h, x0 : x0 + w, 0] = i
            # Drawn upside down: the view's top row is the tile's bottom row.
            fb[y0 : y0 + h, x0 : x0 + w, 1] = np.arange(h)[:, None]
        views = grid.split(fb, grid.capacity - 1)
        assert views.shape == (grid.capacity - 1, 5, 8, 2)
        for i, v in enumerate(views):
            assert (v[..., 0] == i).all()
            assert (v[:, 0, 1] == np.arange(5)).all()  # row 0 of the view = its top
    single = TileGrid(1, 4, 8, 5)
    fb = np.zeros((*single.size[::-1], 4), np.uint8)
    assert np.shares_memory(single.split(fb, 3), fb)  # one column: no copy


def test_draw_geometry_is_one_list(astronaut_obs: FaceObservation) -> None:
    src = MeshBackend().prepare_source(astronaut_obs)
    cam = src.camera
    uv = cam.project(src.face_world) / np.array([cam.width, cam.height])
    geo = build_draw_geometry(uv, src.shell)
    mouth = int(mouth_triangle_mask().sum())
    n_face = geo.num_dynamic
    assert n_face > NUM_MESH_VERTICES and np.all(
        geo.face_rows[:NUM_MESH_VERTICES] == np.arange(NUM_MESH_VERTICES)
    )
    assert geo.triangle_counts == {
        SURFACE_SHELL: len(src.shell.triangles),
        SURFACE_SKIN: len(canonical_face_model().triangles) - mouth,
        SURFACE_MOUTH: mouth,
    }
    tri = geo.triangles
    assert tri.min() >= 0 and tri.max() < geo.num_vertices
    # Each triangle lies on one surface; shell first, then skin, then the mouth's copies.
    surf = geo.surface[tri]
    assert (surf == surf[:, :1]).all()
    order = surf[:, 0]
    assert list(dict.fromkeys(order.tolist())) == [SURFACE_SHELL, SURFACE_SKIN, SURFACE_MOUTH]
    # The mouth's copies sit on the face vertices they copy (driven together).
    copies = np.unique(tri[order == SURFACE_MOUTH])
    assert copies.min() >= NUM_MESH_VERTICES and copies.max() < n_face
    # With the matte: the skin inside it, the mouth inside it, then the face reaching
    # background (the renderer's four draws after the shell).
    sorted_geo = build_draw_geometry(uv, src.shell, None, src.crop_matte_u8)
    n_shell, n_edge = sorted_geo.triangle_counts[SURFACE_SHELL], sorted_geo.face_edge_count
    n_mouth = sorted_geo.mouth_inside_count
    face = sorted_geo.surface[sorted_geo.triangles[n_shell:, 0]]
    n_skin = len(face) - n_mouth - n_edge
    assert 0 < n_mouth <= mouth and 0 < n_edge and n_skin > 0
    assert (face[:n_skin] == SURFACE_SKIN).all() and (face[n_skin : n_skin + n_mouth] == SURFACE_MOUTH).all()
    assert geo.mouth_inside_count == 0  # without a matte every face triangle is tested
    # Coarser shell levels give fewer triangles over the same vertices.
    counts = [len(build_draw_geometry(uv, src.shell, t).triangles) for _, t in src.shell.levels()]
    assert counts == sorted(counts, reverse=True) and counts[-1] < counts[0]


def test_triangles_reaching_background_are_told_apart() -> None:
    """A 100 x 100 crop whose matte is a person in the square 20..80: triangles wholly inside
    (more than the margin from its edge) need no matte test; any that come near it or cross
    it, or leave the crop, do."""
    matte = np.zeros((100, 100), np.uint8)
    matte[20:80, 20:80] = 255
    tri = np.array(
        [
            [[30, 30], [50, 30], [30, 50]],  # well inside
            [[60, 60], [74, 60], [60, 74]],  # inside, its corner 6 px from the edge
            [[60, 60], [77, 60], [60, 77]],  # inside, but within the 4 px margin
            [[70, 40], [90, 40], [70, 60]],  # across the edge
            [[2, 2], [10, 2], [2, 10]],  # background
            [[50, 50], [60, 50], [50, 120]],  # leaves the crop
        ],
        np.float64,
    )
    got = triangles_reaching_background(tri / 100.0, matte, margin_px=4)
    assert got.tolist() == [False, False, True, True, True, True]
    assert triangles_reaching_background(tri[:3] / 100.0, matte, margin_px=0).tolist() == [
        False,
        False,
        False,
    ]


@pytest.mark.gl
def test_face_triangles_inside_the_matte_draw_the_same_pixels_untested(
    astronaut_obs: FaceObservation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The face triangles sorted out as wholly inside the matte skip the matte test: the
    views are those of a renderer that tests every face triangle."""
    import pipeline.mesh.renderer as renderer_module

    be = MeshBackend()
    src = be.prepare_source(astronaut_obs)
    be.reset_neutral(None)
    scene = be.drive(src, astronaut_obs)
    cams = [c.with_size(160) for c in view_sweep(scene.camera, 6)]
    with MeshRenderer() as split:
        split.load_source(src)
        geo = split.geometry(160)
        n_face = len(geo.triangles) - geo.triangle_counts[SURFACE_SHELL]
        assert 0 < geo.face_edge_count < 0.5 * n_face  # most of the face skips the test
        fast = split.render(scene, cams)
        original = renderer_module.build_draw_geometry
        monkeypatch.setattr(
            renderer_module,
            "build_draw_geometry",
            lambda uv, shell, tri=None, matte=None: original(uv, shell, tri),  # every triangle tested
        )
        with MeshRenderer(ctx=split.ctx) as tested:
            tested.load_source(src)
            assert tested.geometry(160).face_edge_count == n_face
            slow = tested.render(scene, cams)
    diff = np.abs(fast.rgb_u8.astype(int) - slow.rgb_u8.astype(int))
    assert (diff > 0).mean() < 1e-3, (diff > 0).mean()
    assert (
        np.array_equal(fast.alpha > 0.5, slow.alpha > 0.5)
        or ((fast.alpha > 0.5) != (slow.alpha > 0.5)).mean() < 1e-3
    )


class DrawCounter:
    """Counts ``VertexArray.render`` calls (the real calls are made)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = moderngl.VertexArray.render

        def counted(vao: moderngl.VertexArray, *args: object, **kwargs: object) -> None:
            self.calls += 1
            original(vao, *args, **kwargs)

        monkeypatch.setattr(moderngl.VertexArray, "render", counted)


@pytest.mark.gl
def test_one_pass_draws_what_the_per_view_reference_draws(
    astronaut_obs: FaceObservation, monkeypatch: pytest.MonkeyPatch
) -> None:
    be = MeshBackend()
    src = be.prepare_source(astronaut_obs)
    be.reset_neutral(None)
    scene = dataclasses.replace(be.drive(src, astronaut_obs), mouth_interior=0.6)
    with MeshRenderer(RendererConfig()) as first:
        samples = sorted({0, min(4, first.ctx.max_samples)})
        for msaa in samples:
            for size, n in ((96, 24), (256, 5)):
                cams = [c.with_size(size) for c in view_sweep(scene.camera, n)]
                out = {}
                for strategy in ("one_pass", "per_view"):
                    cfg = RendererConfig(strategy=strategy, msaa_samples=msaa)
                    with MeshRenderer(cfg, ctx=first.ctx) as r:
                        r.load_source(src)
                        counter = DrawCounter(monkeypatch)
                        out[strategy] = r.render(scene, cams)
                        monkeypatch.undo()
                        # Four draws (the skin and the mouth inside the matte, the face reaching
                        # background, the shell behind them) for all the views, or for each view.
                        assert counter.calls == (4 if strategy == "one_pass" else 4 * n)
                        assert r.count_primitives(scene, cams) == n * len(r.geometry(size).triangles)
                a, b = out["one_pass"], out["per_view"]
                diff = np.abs(a.rgb_u8.astype(int) - b.rgb_u8.astype(int))
                # The same pixels; llvmpipe's rounding differs for a few edge pixels.
                assert (diff > 0).mean() < 2e-3 and (diff > 16).mean() < 1e-5, (msaa, size, diff.max())
                assert np.abs(a.alpha - b.alpha).mean() < 1e-3
                # A real render: faces in every view, the views differ from each other.
                assert all(0.2 < (al > 0.5).mean() < 0.95 for al in a.alpha)
                assert np.abs(a.rgb_u8[0].astype(int) - a.rgb_u8[-1].astype(int)).mean() > 3
        assert not first.ctx.error or first.ctx.error == "GL_NO_ERROR"


@pytest.mark.gl
def test_smaller_views_draw_a_coarser_shell(astronaut_obs: FaceObservation) -> None:
    src = MeshBackend().prepare_source(astronaut_obs)
    with MeshRenderer() as r:
        r.load_source(src)
        tris = {px: len(r.geometry(px).triangles) for px in (64, 192, 512, 1024, 4096)}
    assert tris[4096] >= tris[1024] >= tris[512] > tris[192] >= tris[64], tris
    assert tris[4096] == len(src.shell.triangles) + len(canonical_face_model().triangles)


@pytest.mark.gl
def test_more_samples_than_the_gl_allows_is_a_clear_error() -> None:
    with MeshRenderer() as r:
        most = r.ctx.max_samples
    if most >= 8:
        pytest.skip(f"this OpenGL allows {most} samples")
    with pytest.raises(ValueError, match="more than this OpenGL allows"):
        MeshRenderer(RendererConfig(msaa_samples=8))
