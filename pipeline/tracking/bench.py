"""``voodoo-holo bench tracker``: per-frame cost of the live tracker at 640 x 480.

Frames are a real portrait (Grace Hopper, matplotlib sample data) on a 640 x 480 canvas,
moved by a few pixels each frame so MediaPipe's video mode really tracks. The process is
pinned to one CPU core while measuring (where the OS allows it), since the live capture
process shares the machine with the renderers. Stages:

- ``landmarks``: FaceMesh video mode only;
- ``landmarks+pose+crop``: the tracker without matting (smoothing, alignment, 512 crop, pose);
- ``tracker (matte every N)``: the default live configuration;
- ``matte``: selfie segmentation + guided filter on a 512 crop;
- ``photo prepare``: a whole source photo (static mode, Lanczos crop, matte, quality report).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from pipeline.benchutil import BenchRow, time_call


def _frames(n: int) -> list[np.ndarray]:
    from matplotlib import cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
        face = np.asarray(im.convert("RGB"))[:400, 56:456]
    out = []
    for i in range(n):
        canvas = np.full((480, 640, 3), 70, np.uint8)
        x0 = 120 + int(round(8 * np.sin(i / 5.0)))
        canvas[40:440, x0 : x0 + 400] = face
        out.append(canvas)
    return out


def _pin_one_core() -> set[int] | None:
    if not hasattr(os, "sched_getaffinity"):
        return None
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    return before


def bench(args: argparse.Namespace) -> list[BenchRow]:
    from pipeline.tracking.landmarks import DetectorConfig, FaceMeshDetector
    from pipeline.tracking.matting import Matter
    from pipeline.tracking.photo import PhotoPreprocessor
    from pipeline.tracking.stream import StreamTracker, TrackerConfig

    repeats = args.repeats or (30 if args.quick else 200)
    frames = _frames(64)
    before = _pin_one_core()
    cores = "1" if before is not None else "all"
    rows: list[BenchRow] = []
    try:
        state = {"i": 0}

        def next_frame() -> tuple[np.ndarray, int]:
            state["i"] += 1
            return frames[state["i"] % len(frames)], state["i"] * 33_333_333

        def fps_row(row: BenchRow) -> BenchRow:
            row.extra["fps"] = round(1000.0 / row.median_ms, 1)
            row.extra["cores"] = cores
            row.extra["frame"] = "640x480"
            return row

        with FaceMeshDetector(DetectorConfig(video=True, max_faces=1)) as det:
            rows.append(
                fps_row(
                    time_call("landmarks", lambda: det.detect(next_frame()[0]), repeats=repeats, warmup=5)
                )
            )
        with StreamTracker(TrackerConfig(matte=None)) as tr:
            rows.append(
                fps_row(
                    time_call(
                        "landmarks+pose+crop", lambda: tr.track(*next_frame()), repeats=repeats, warmup=5
                    )
                )
            )
        cfg = TrackerConfig()
        with StreamTracker(cfg) as tr:
            rows.append(
                fps_row(
                    time_call(
                        f"tracker (matte every {cfg.matte_every_n_frames})",
                        lambda: tr.track(*next_frame()),
                        repeats=repeats,
                        warmup=5,
                    )
                )
            )
        crop = np.ascontiguousarray(np.pad(frames[0][:, 64:576], ((16, 16), (0, 0), (0, 0))))
        with Matter(cfg.matte) as m:
            rows.append(
                fps_row(time_call("matte (512 crop)", lambda: m.matte(crop), repeats=repeats, warmup=3))
            )
        with PhotoPreprocessor() as pp:
            photo = frames[0]
            rows.append(
                time_call(
                    "photo prepare",
                    lambda: pp.prepare(photo),
                    repeats=max(3, repeats // 20),
                    warmup=1,
                    extra={"cores": cores, "frame": "640x480"},
                )
            )
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)
    return rows
