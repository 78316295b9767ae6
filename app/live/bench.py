"""``voodoo-holo bench pipeline``: the whole live call, and the costs between its processes.

1. The live call, every role a real process, headless: the launcher runs on the bundled sample
   photo and the bundled driver clip for a fixed time, and the roles' statistics become
   rows: per-stage latency (median, p90), frames per second presented, glass-to-glass latency.
   It runs twice: with the clip played at its own frame rate, as a call gets it (``of driver``:
   the share of the clip's frames shown), and *unpaced*, each frame handed over as soon as the
   pipeline takes one: what the pipeline can deliver. With the mesh avatar the renderer alone
   draws the same views in this process, half its timed runs before the calls and half after,
   and ``live / alone`` compares the unpaced call's frame rate with it. ``--views`` picks the
   number of views (the largest of the list), ``--quick`` shortens it.
2. The tri-plane hop (estimator -> 4 renderers) over ZeroMQ ``ipc://`` (arrays in the message)
   and through shared memory (a handle in the message), with real processes; see
   :mod:`pipeline.accel.hop_bench`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Literal

from app.render import sample_driver, sample_source
from pipeline.benchutil import BenchRow, row_from_times, sample_times


def _live_rows(args: argparse.Namespace) -> list[BenchRow]:
    from app.compose import OutputChoice, choose_avatar, plan_views
    from app.live.launcher import CallSettings, Launcher
    from app.live.layouts import auto_layout, load_layout
    from app.platform import count_cuda_gpus

    num_gpus = count_cuda_gpus() if args.device != "cpu" else 0
    layout = auto_layout(num_gpus) if num_gpus else load_layout("cpu")
    views = max(args.view_counts) if args.view_counts else layout.num_views
    view_size = 96 if args.quick else layout.view_size
    layout = layout.with_views(views, view_size)
    avatar = choose_avatar("auto", args.weights, count_gpus=lambda: num_gpus)
    if avatar.note:
        print(avatar.note)
    backend = avatar.backend
    duration = 12.0 if args.quick else 30.0
    driver = sample_driver()
    plan = plan_views(views, view_size)

    def run(paced: bool) -> dict:
        with tempfile.TemporaryDirectory(prefix="voodoo-holo-bench-") as tmp:
            metrics = Path(tmp) / "metrics.json"
            settings = CallSettings(
                source=sample_source(),
                driver=str(driver),
                avatar=avatar,
                output=OutputChoice("headless"),
                plan=plan,
                duration_s=duration,
                metrics_out=metrics,
                pace_driver=paced,
            )
            how = (
                "at the clip's frame rate"
                if paced
                else "unpaced (each frame as soon as the pipeline takes it)"
            )
            print(
                f"running the live pipeline for {duration:.0f} s ({layout.name}, {views} views at "
                f"{view_size}px), driver {how}"
            )
            Launcher(layout, settings, log=lambda m: None).run()
            return json.loads(metrics.read_text())

    common = {"views": views, "view_px": view_size, "backend": backend}
    repeats = args.repeats or 30
    # The renderer alone is timed before and after the calls, half the runs each: the
    # machine's speed drifts over the minutes the calls take, and the ratio should not.
    alone_ms = _renderer_alone_ms(plan.views, max(1, repeats // 2)) if backend == "mesh" else []
    m = run(paced=True)
    rows: list[BenchRow] = []
    for name, role in m["roles"].items():
        for stage, lat in role["stats"].get("latency_ms", {}).items():
            if stage == "glass_to_glass":
                continue
            rows.append(
                BenchRow(f"{name}: {stage}", lat["p50"], lat["p90"], float("nan"), lat["n"], dict(common))
            )
    # (label, metrics, the clip's frame rate when the driver played at it, None unpaced)
    live = [
        ("glass to glass (capture -> present)", m, _clip_fps(driver)),
        ("unpaced driver: glass to glass", run(paced=False), None),
    ]
    for label, metrics, clip_fps in live:
        g2g = metrics["frames"]["glass_to_glass_ms"]
        comp = metrics["roles"]["compositor"]["stats"].get("counters", {})
        fps = float(metrics["frames"]["fps"])
        rows.append(
            BenchRow(
                label,
                g2g.get("p50", float("nan")),
                g2g.get("p90", float("nan")),
                float("nan"),
                int(g2g.get("n", 0)),
                {
                    **common,
                    "fps": round(fps, 2),
                    "views/s": round(fps * views, 1),
                    "complete": comp.get("frames_complete", 0),
                    "partial": comp.get("frames_partial", 0),
                },
            )
        )
        if clip_fps is not None:
            rows[-1].extra["of driver"] = round(fps / clip_fps, 2)
    if backend == "mesh":
        alone_ms += _renderer_alone_ms(plan.views, max(1, repeats - len(alone_ms)))
        alone = row_from_times(
            f"renderer alone: {views} views {plan.views.width_px}x{plan.views.height_px}", alone_ms
        )
        alone_fps = 1000.0 / alone.median_ms
        unpaced_fps = float(live[-1][1]["frames"]["fps"])
        alone.extra.update(
            {**common, "fps": round(alone_fps, 2), "live / alone": round(unpaced_fps / alone_fps, 2)}
        )
        rows.append(alone)
    return rows


def _clip_fps(path: Path) -> float:
    """The driver clip's own frame rate (what a paced live call can show at most)."""
    from pipeline.capture import open_source

    with open_source(path) as src:
        return float(src.fps)


def _renderer_alone_ms(views: object, repeats: int) -> list[float]:
    """The same views of the sample drawn by the mesh renderer alone in this process, ``repeats``
    times after 3 untimed draws: what the live call's frame rate is compared with. Milliseconds."""
    from app.platform import create_gl_context
    from pipeline.mesh.backend import MeshBackend
    from pipeline.reenact import ViewSettings, sweep_cameras
    from pipeline.tracking import prepare_photo

    assert isinstance(views, ViewSettings)
    obs = prepare_photo(sample_source())
    be = MeshBackend(gl_context=create_gl_context)
    try:
        scene = be.drive(be.prepare_source(obs), obs)
        ids = list(range(views.num_views))
        cams = sweep_cameras(scene.camera, views, ids)
        return sample_times(lambda: be.render(scene, cams, ids), repeats=repeats, warmup=3)
    finally:
        be.close()


READERS = 4


def _hop_rows(args: argparse.Namespace) -> list[BenchRow]:
    import numpy as np

    from pipeline.accel.hop_bench import PLANES_SHAPE, measure_hop

    frames = args.repeats or (30 if args.quick else 150)
    mb = int(np.prod(PLANES_SHAPE)) * 2 / 1e6
    rows = []
    modes: tuple[tuple[Literal["zmq", "shm"], str], ...] = (
        ("zmq", "ZeroMQ ipc, arrays in the message"),
        ("shm", "shared memory + handle"),
    )
    for mode, label in modes:
        print(f"  tri-plane hop via {label}: {frames} frames at 30 FPS to {READERS} readers ...", flush=True)
        r = measure_hop(mode, readers=READERS, frames=frames, fps=30.0)
        a = np.asarray(r["hop_ms"], dtype=np.float64)
        if a.size == 0:
            raise RuntimeError(f"hop bench ({mode}): no frame reached all readers")
        rows.append(
            BenchRow(
                f"tri-plane hop {mb:.1f} MB fp16 -> {READERS} readers ({label})",
                float(np.median(a)),
                float(np.percentile(a, 90)),
                float(a.min()),
                int(a.size),
                {"readers": READERS, "stale": r["stale"], "fps": 30.0},
            )
        )
    return rows


def bench(args: argparse.Namespace) -> list[BenchRow]:
    return [*_live_rows(args), *_hop_rows(args)]
