"""``voodoo-holo bench render``: the mesh avatar's stages on this machine.

The bundled astronaut goes through the tracker once; then ``prepare_source`` and ``drive``
are timed, and for each view size (192 px, the CPU live layout's, and 512 px; ``--quick``:
192 only) and each view count (``--views``, default 1,6,24):

- ``render N x S``: :meth:`MeshRenderer.render` of N views, timed side by side with
- ``fill-only N x S``: the same pixels drawn as textured quads in one draw, through the
  shell's program (one texture lookup and the matte cut a pixel), the same framebuffers and
  read-back (:meth:`MeshRenderer.render_fill_reference`): what the rasteriser costs for these
  pixels. ``x fill`` is the ratio of the two;
- ``untextured N x S`` (largest count only, in the same interleaved timing): the same
  triangles with a flat fragment program, no texture lookup and no matte cut
  (``RendererConfig(untextured=True)``): what the geometry alone costs the rasteriser,
  against the same fill-only reference.

``tris/view`` is what the GL drew per view (a primitives query) and ``verts/view`` the
vertices those triangles use. ``t(N) = fixed + N * per view`` is fitted to the view counts
by least squares (a fixed cost within the timing noise can come out slightly negative), and
``x 1 view`` compares the largest count with one view. For the largest count, the
anti-aliasing options (MSAA 0, 2, 4, 8 where the GL allows, and no MSAA with a cheap
post-filter, :func:`edge_blur`) are timed side by side with their PSNR against a
16-samples-a-pixel render, and so is the per-view reference renderer (one draw call per view).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
from importlib import resources

import cv2
import numpy as np

from pipeline.benchutil import BenchRow, time_call, time_interleaved
from pipeline.cameras import view_sweep
from pipeline.mesh.backend import MeshBackend
from pipeline.mesh.renderer import MeshRenderer, RendererConfig
from pipeline.mesh.state import MeshScene, MeshSource
from pipeline.tracking import prepare_photo

SIZES = (192, 512)
QUICK_SIZES = (192,)
_NAN = float("nan")


def edge_blur(rgb_u8: np.ndarray, threshold: int = 48) -> np.ndarray:
    """A cheap anti-aliasing post-filter: a 3 x 3 box blur where the luma changes sharply."""
    n, h, w, _ = rgb_u8.shape
    rows = np.ascontiguousarray(rgb_u8).reshape(n * h, w, 3)
    luma = cv2.cvtColor(rows, cv2.COLOR_RGB2GRAY)
    edge = cv2.morphologyEx(luma, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > threshold
    out = rows.copy()
    out[edge] = cv2.blur(rows, (3, 3))[edge]
    return out.reshape(n, h, w, 3)


def _psnr_db(a: np.ndarray, b: np.ndarray) -> float:
    d = a.astype(np.float64) - b.astype(np.float64)
    return float(10.0 * np.log10(255.0**2 / max(float(np.mean(d * d)), 1e-12)))


def bench(args: argparse.Namespace) -> list[BenchRow]:
    repeats = args.repeats or (5 if args.quick else 15)
    counts = sorted({int(n) for n in args.view_counts if int(n) >= 1}) or [1, 6, 24]
    photo = resources.files("assets.samples").joinpath("astronaut.jpg")
    with resources.as_file(photo) as path:
        obs = prepare_photo(path)
    be = MeshBackend()
    rows: list[BenchRow] = []
    renderers: list[MeshRenderer] = []
    try:
        rows.append(time_call("prepare_source (mesh)", lambda: be.prepare_source(obs), repeats=repeats))
        src = be.prepare_source(obs)
        rows.append(time_call("drive (mesh)", lambda: be.drive(src, obs), repeats=repeats))
        scene = be.drive(src, obs)
        config = be.config.renderer
        renderer = MeshRenderer(config)
        renderers.append(renderer)
        renderer.load_source(src)
        untextured = MeshRenderer(dataclasses.replace(config, untextured=True), ctx=renderer.ctx)
        renderers.append(untextured)
        untextured.load_source(src)
        msaa = config.msaa_samples
        for size in QUICK_SIZES if args.quick else SIZES:
            medians = {}
            for n in counts:
                cams = [c.with_size(size) for c in view_sweep(scene.camera, n)]
                tris = renderer.count_primitives(scene, cams) / n
                verts = len(np.unique(renderer.geometry(size).triangles))
                name, fill = f"render {n} x {size}px", f"fill-only {n} x {size}px"
                stages = {
                    name: functools.partial(renderer.render, scene, cams),
                    fill: functools.partial(renderer.render_fill_reference, n, size, size),
                }
                if n == max(counts):
                    stages[f"untextured {n} x {size}px"] = functools.partial(untextured.render, scene, cams)
                r, f, *flat = time_interleaved(stages, repeats=repeats)
                medians[n] = r.median_ms
                r.extra = {
                    "views": n,
                    "px": size,
                    "msaa": msaa,
                    "tris/view": round(tris),
                    "verts/view": verts,
                    "x fill": r.median_ms / f.median_ms,
                }
                f.extra = {"views": n, "px": size, "msaa": msaa, "tris/view": 2, "verts/view": 4}
                for u in flat:
                    u.extra = {**r.extra, "x fill": u.median_ms / f.median_ms}
                for row in (r, f, *flat):
                    row.extra["views/s"] = n / (row.median_ms / 1e3)
                rows += [r, f, *flat]
            if len(medians) >= 2:
                n_a = np.array(list(medians), dtype=np.float64)
                per_view, fixed = np.polyfit(n_a, np.array(list(medians.values())), 1)
                rows.append(
                    BenchRow(
                        f"render {size}px: fixed cost per frame (fit)", float(fixed), _NAN, _NAN, len(n_a)
                    )
                )
                rows.append(
                    BenchRow(f"render {size}px: cost per view (fit)", float(per_view), _NAN, _NAN, len(n_a))
                )
                if 1 in medians:
                    rows[-1].extra["x 1 view"] = medians[max(medians)] / medians[1]
            rows += _options(scene, src, size, max(counts), repeats, config, renderers)
    finally:
        for made in reversed(renderers):  # the first one owns the GL context
            made.close()
        be.close()
    return rows


def _options(
    scene: MeshScene,
    src: MeshSource,
    size: int,
    n: int,
    repeats: int,
    config: RendererConfig,
    renderers: list[MeshRenderer],
) -> list[BenchRow]:
    """Anti-aliasing options and the per-view reference, side by side, for ``n`` views.

    Quality is the PSNR against a reference drawn at twice the size with 4x MSAA and
    averaged down (16 samples a pixel).
    """
    ctx = renderers[0].ctx
    cams = [c.with_size(size) for c in view_sweep(scene.camera, n)]
    fine = MeshRenderer(dataclasses.replace(config, msaa_samples=min(4, ctx.max_samples)), ctx=ctx)
    renderers.append(fine)
    fine.load_source(src)
    big = fine.render(scene, [c.with_size(2 * size) for c in cams]).rgb_u8.astype(np.float64)
    reference = big.reshape(n, size, 2, size, 2, 3).mean(axis=(2, 4))
    options = [s for s in (0, 2, 4, 8) if s <= ctx.max_samples]
    variants = {
        f"render {n} x {size}px msaa {s}": dataclasses.replace(config, msaa_samples=s) for s in options
    }
    filtered = f"render {n} x {size}px msaa 0 + edge blur"
    variants[filtered] = dataclasses.replace(config, msaa_samples=0)
    variants[f"render {n} x {size}px per-view reference"] = dataclasses.replace(config, strategy="per_view")
    stages, quality = {}, {}
    for name, cfg in variants.items():
        r = MeshRenderer(cfg, ctx=ctx)
        renderers.append(r)
        r.load_source(src)
        if name == filtered:
            quality[name] = _psnr_db(edge_blur(r.render(scene, cams).rgb_u8), reference)
            stages[name] = lambda r=r: edge_blur(r.render(scene, cams).rgb_u8)
        else:
            quality[name] = _psnr_db(r.render(scene, cams).rgb_u8, reference)
            stages[name] = lambda r=r: r.render(scene, cams)
    rows = time_interleaved(stages, repeats=repeats)
    for row, cfg in zip(rows, variants.values(), strict=True):
        row.extra = {"views": n, "px": size, "msaa": cfg.msaa_samples, "PSNR dB": quality[row.stage]}
        row.extra["views/s"] = n / (row.median_ms / 1e3)
    return rows
