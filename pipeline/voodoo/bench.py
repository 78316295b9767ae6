"""``voodoo-holo bench model``: per-stage times of the VOODOO 3D model on this device.

Uses ``--weights`` when given (else random weights of the real shapes: speed does not depend
on the values) at the real resolution: 512 inputs, 128 x 128 rays with 96 + 96 samples, 512
super-resolution. Rows: the once-per-call source preparation, the per-frame stages, and
rendering of each requested view count with and without super-resolution.
"""

from __future__ import annotations

import argparse

import torch

from pipeline.benchutil import BenchRow, time_call

__all__ = ["bench"]


def _model(args: argparse.Namespace):
    from pipeline.voodoo.checkpoint import load_model
    from pipeline.voodoo.model import ModelConfig, Voodoo3D

    config = ModelConfig(device=args.device)
    if args.weights is not None:
        model, _ = load_model(args.weights, config)
        return model
    return Voodoo3D(config).init_random(0).place()


def bench(args: argparse.Namespace) -> list[BenchRow]:
    from pipeline.cameras import canonical_camera, stack_cameras, view_sweep

    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else None
    cpu = dev.type == "cpu"
    repeats = args.repeats or (1 if args.quick or cpu else 5)
    warmup = 0 if cpu else 1  # no autotuning on CPU; a warm-up run would only double the time
    views = [1] if args.quick else sorted(set(args.view_counts))
    model = _model(args)
    gen = torch.Generator().manual_seed(0)
    source = torch.rand(1, 3, 512, 512, generator=gen) * 2 - 1
    driver = torch.rand(1, 3, 512, 512, generator=gen) * 2 - 1
    info = {"device": str(dev)}

    def row(stage: str, fn, **extra) -> BenchRow:
        r = time_call(stage, fn, repeats=repeats, warmup=warmup, sync=sync, extra={**info, **extra})
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
    rows.append(row("drive (new tri-plane per frame)", lambda: model.drive(cache, driver)))
    image_raw = drv.frontal.image_raw
    rows.append(row("super-resolution 128 -> 512 (1 view)", lambda: model.super_resolve(image_raw)))
    base = canonical_camera()
    for n in views:
        cams = view_sweep(base, n) if n > 1 else [base]
        c2w, k = (torch.from_numpy(a) for a in stack_cameras(cams))
        rows.append(
            row(f"render 128^2 x {n} view(s)", lambda c2w=c2w, k=k: model.render(planes, c2w, k), views=n)
        )
        rows.append(
            row(
                f"render + SR 512^2 x {n} view(s)",
                lambda c2w=c2w, k=k: model.render(planes, c2w, k, super_resolve=True),
                views=n,
            )
        )
    c2w1, k1 = (torch.from_numpy(a) for a in stack_cameras([base]))

    def frame() -> None:
        p, _, _ = model.drive(cache, driver)
        model.render(p, c2w1, k1, super_resolve=True)

    rows.append(row("new driver frame -> 1 view 512 (drive + render + SR)", frame, views=1))
    return rows
