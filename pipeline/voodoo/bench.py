"""``voodoo-holo bench model``: per-stage times of the VOODOO 3D model on this device.

Uses ``--weights`` when given (else random weights of the real shapes: speed does not depend
on the values) at the real resolution: 512 inputs, 128 x 128 rays with 96 + 96 samples, 512
super-resolution. Rows: the once-per-call source preparation, the per-frame stages, and
rendering of each requested view count with and without super-resolution, with views/s and
the frame rate (``fps``: one driver frame -> N views) of each view count.

``--quick`` (CPU, a couple of minutes): one timed run per stage, rays at 32 x 32 with
24 + 24 samples (the networks keep their fixed real sizes), and the frame rows are the sum
of the measured stages (drive + render of N views + N x one-view super-resolution) instead
of a measured end-to-end frame. ``--kernel triton`` decodes the ray samples with the fused
Triton kernel (CUDA); ``--cuda-graphs`` replays the network stages from CUDA graphs.
``--backend`` runs the exported networks with TensorRT or
onnxruntime (see ``pipeline.accel``); unusable backends fall back to PyTorch and say why.
"""

from __future__ import annotations

import argparse
import dataclasses

import torch

from pipeline.benchutil import BenchRow, time_call
from pipeline.voodoo.renderer import RenderSettings

__all__ = ["QUICK_RENDER", "bench"]

#: Ray marching of ``--quick``: 32 x 32 rays, 24 + 24 samples (about 1/50 of the real work).
QUICK_RENDER = RenderSettings(resolution=32, depth_samples=24, importance_samples=24)


def _model(args: argparse.Namespace):
    from pipeline.voodoo.checkpoint import load_model
    from pipeline.voodoo.model import ModelConfig, Voodoo3D

    config = ModelConfig(device=args.device)
    render = QUICK_RENDER if args.quick else config.render
    kernel = getattr(args, "kernel", "torch")
    if kernel != "torch":
        from pipeline.voodoo.triton_decode import triton_status

        why = triton_status(args.device)
        print(f"  kernel: {kernel}" + (f" unavailable, using torch: {why}" if why else ""), flush=True)
        kernel = "torch" if why else kernel
    config = dataclasses.replace(
        config,
        render=dataclasses.replace(render, kernel=kernel),
        cuda_graphs=bool(getattr(args, "cuda_graphs", False)),
    )
    if args.weights is not None:
        model, _ = load_model(args.weights, config)
    else:
        model = Voodoo3D(config).init_random(0).place()
    backend = getattr(args, "backend", "torch")
    if backend != "torch":
        from pipeline.accel.backend import AccelConfig, accelerate
        from pipeline.accel.onnx_export import weights_identity

        report = accelerate(model, AccelConfig(backend=backend), weights_identity(args.weights))
        print(f"  backend: {report.summary()}", flush=True)
    return model


def _rates(row: BenchRow, views: int) -> BenchRow:
    row.extra["views/s"] = round(views * 1e3 / row.median_ms, 2)
    row.extra["fps"] = round(1e3 / row.median_ms, 3)
    return row


def bench(args: argparse.Namespace) -> list[BenchRow]:
    from pipeline.cameras import canonical_camera, stack_cameras, view_sweep

    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else None
    cpu = dev.type == "cpu"
    repeats = args.repeats or (1 if args.quick or cpu else 5)
    warmup = 0 if cpu else 1  # no autotuning on CPU; a warm-up run would only double the time
    views = sorted(set(args.view_counts))
    model = _model(args)
    gen = torch.Generator().manual_seed(0)
    source = torch.rand(1, 3, 512, 512, generator=gen) * 2 - 1
    driver = torch.rand(1, 3, 512, 512, generator=gen) * 2 - 1
    res = model.config.render.resolution
    info = {
        "device": str(dev),
        "backend": getattr(args, "backend", "torch"),
        "kernel": model.config.render.kernel,
        "graphs": "yes" if model.config.cuda_graphs and dev.type == "cuda" else "no",
        "rays": f"{res}^2",
    }

    def row(stage: str, fn, views: int | None = None) -> BenchRow:
        r = time_call(stage, fn, repeats=repeats, warmup=warmup, sync=sync, extra=dict(info))
        if views is not None:
            _rates(r, views)
        print(f"  {stage}: {r.median_ms:.0f} ms", flush=True)
        return r

    rows = []
    cache = model.prepare_source(source)
    rows.append(row("encoder (Lp3D, 512 -> tri-plane)", lambda: model.encode(driver)))
    rows.append(row("source preparation (once per call)", lambda: model.prepare_source(source)))
    rows.append(row("driver frontal (encode + 128 render)", lambda: model.frontalise_driver(driver)))
    drv = model.frontalise_driver(driver)
    rows.append(row("expression delta", lambda: model.expression_delta(cache, drv)))
    planes, _, _ = model.drive(cache, driver)
    drive_row = row("drive (new tri-plane per frame)", lambda: model.drive(cache, driver))
    rows.append(drive_row)
    image_raw = drv.frontal.image_raw
    sr_row = row("super-resolution 128 -> 512 (1 view)", lambda: model.super_resolve(image_raw), views=1)
    rows.append(sr_row)
    base = canonical_camera()
    for n in views:
        cams = view_sweep(base, n) if n > 1 else [base]
        c2w, k = (torch.from_numpy(a) for a in stack_cameras(cams))
        render_row = row(
            f"render {res}^2 x {n} view(s)", lambda c2w=c2w, k=k: model.render(planes, c2w, k), views=n
        )
        rows.append(render_row)
        if args.quick:  # frame = sum of measured stages (super-resolution scales per view)
            ms = drive_row.median_ms + render_row.median_ms + n * sr_row.median_ms
            p90 = drive_row.p90_ms + render_row.p90_ms + n * sr_row.p90_ms
            derived = BenchRow(
                f"frame: drive + {n} view(s) + SR (sum of stages)", ms, p90, ms, 1, {**info, "derived": "yes"}
            )
            rows.append(_rates(derived, n))
            continue
        rows.append(
            row(
                f"render + SR 512^2 x {n} view(s)",
                lambda c2w=c2w, k=k: model.render(planes, c2w, k, super_resolve=True),
                views=n,
            )
        )

        def frame(c2w=c2w, k=k) -> None:
            p, _, _ = model.drive(cache, driver)
            model.render(p, c2w, k, super_resolve=True)

        rows.append(row(f"frame: drive + {n} view(s) + SR (measured)", frame, views=n))
    return rows
