"""``bench render`` reports every stage it names (speed is reported, never asserted)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from pipeline.avatar import FaceObservation
from pipeline.cameras import view_sweep
from pipeline.mesh.backend import MeshBackend
from pipeline.mesh.renderer import MeshRenderer, RendererConfig


@pytest.mark.gl
def test_bench_render_rows() -> None:
    from pipeline.mesh.bench import bench

    rows = {r.stage: r for r in bench(argparse.Namespace(quick=True, repeats=2, view_counts=[1, 3]))}
    for n in (1, 3):
        render, fill = rows[f"render {n} x 192px"], rows[f"fill-only {n} x 192px"]
        assert render.extra["x fill"] == pytest.approx(render.median_ms / fill.median_ms)
        assert render.extra["tris/view"] > 1000 and fill.extra["tris/view"] == 2
    # The geometry alone, timed with the largest count only, against that count's fill.
    flat = rows["untextured 3 x 192px"]
    assert "untextured 1 x 192px" not in rows
    assert flat.extra["tris/view"] == rows["render 3 x 192px"].extra["tris/view"]
    assert flat.extra["x fill"] == pytest.approx(flat.median_ms / rows["fill-only 3 x 192px"].median_ms)
    assert "render 192px: cost per view (fit)" in rows and "render 192px: fixed cost per frame (fit)" in rows
    assert {f"render 3 x 192px msaa {s}" for s in (0, 2)} <= set(rows)
    assert all(r.median_ms > 0 for name, r in rows.items() if "(fit)" not in name)


@pytest.mark.gl
def test_untextured_draws_the_same_triangles_flat(astronaut_obs: FaceObservation) -> None:
    """The untextured renderer covers the geometry (the shell uncut by the matte) in one grey."""
    be = MeshBackend()
    src = be.prepare_source(astronaut_obs)
    scene = be.drive(src, astronaut_obs)
    cams = [c.with_size(128) for c in view_sweep(scene.camera, 4)]
    with MeshRenderer() as textured, MeshRenderer(RendererConfig(untextured=True)) as flat:
        for r in (textured, flat):
            r.load_source(src)
        a, b = textured.render(scene, cams), flat.render(scene, cams)
        assert flat.count_primitives(scene, cams) == textured.count_primitives(scene, cams)
    covered = b.alpha > 0.5
    assert set(np.unique(b.rgb_u8[covered]).tolist()) == {128}
    # Every textured pixel lies on the geometry; the matte cuts some of the geometry away.
    assert not ((a.alpha > 0.5) & ~covered).any()
    assert covered.mean() > (a.alpha > 0.5).mean()
