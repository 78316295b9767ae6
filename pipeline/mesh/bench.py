"""``voodoo-holo bench render``: the mesh avatar's stages on this machine.

Uses a bundled sample portrait through the tracker, then times ``prepare_source``, ``drive``
and ``render`` of N views (``--views``) at 512 x 512 and at a preview size.
"""

from __future__ import annotations

import argparse
from importlib import resources

from pipeline.benchutil import BenchRow, time_call
from pipeline.cameras import view_sweep

PREVIEW_PX = 256


def bench(args: argparse.Namespace) -> list[BenchRow]:
    from pipeline.mesh.backend import MeshBackend
    from pipeline.tracking import prepare_photo

    repeats = args.repeats or (3 if args.quick else 10)
    photo = resources.files("assets.samples").joinpath("astronaut.jpg")
    with resources.as_file(photo) as path:
        obs = prepare_photo(path)
    be = MeshBackend()
    rows: list[BenchRow] = []
    try:
        rows.append(time_call("prepare_source (mesh)", lambda: be.prepare_source(obs), repeats=repeats))
        src = be.prepare_source(obs)
        rows.append(time_call("drive (mesh)", lambda: be.drive(src, obs), repeats=repeats))
        scene = be.drive(src, obs)
        sizes = [PREVIEW_PX] if args.quick else [512, PREVIEW_PX]
        for size in sizes:
            for n in args.view_counts:
                cams = [c.with_size(size) for c in view_sweep(scene.camera, n)]
                row = time_call(
                    f"render {n} views {size}x{size} (mesh)",
                    lambda cams=cams: be.render(scene, cams),
                    repeats=repeats,
                    extra={
                        "views": n,
                        "px": size,
                        "msaa": be.config.renderer.msaa_samples,
                    },
                )
                row.extra["views/s"] = n / (row.median_ms / 1e3)
                rows.append(row)
    finally:
        be.close()
    return rows
