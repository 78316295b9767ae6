"""``voodoo-holo bench model``: per-stage times of the VOODOO 3D model on this device.

Uses ``--weights`` when given (else random weights of the real shapes: speed does not depend
on the values) at the real resolution: 512 inputs, 128 x 128 rays with 96 + 96 samples, 512
super-resolution. ``--stages`` picks the row groups (default all three):

``networks``
    the once-per-call source preparation and the per-frame network stages (encoder,
    driver frontal, expression delta, drive), and super-resolution of 1 and of N views in
    one batch. They depend on ``--dtype``, ``--cuda-graphs`` and ``--compile``.
``render``
    ray marching of N views (float32 whatever ``--dtype``); depends on ``--kernel``.
``frame``
    one driver frame end to end: drive + render of N views + their super-resolution.

Each row has views/s and the frame rate where it applies, and, on CUDA or without
``--quick``, ``GFLOP`` (matrix products and convolutions counted by PyTorch's
``FlopCounterMode`` in one eager run with the PyTorch decode kernel; element-wise work is not
counted) and the achieved ``TFLOP/s`` of the timed runs.

``--random-planes`` (with ``--stages render`` alone) renders a random tri-plane instead of the
encoder's, so no network runs at all (smoke runs).

``--quick`` (CPU, a couple of minutes): one timed run per stage, rays at 32 x 32 with
24 + 24 samples (the networks keep their fixed real sizes), and the frame rows are the sum
of the measured stages instead of a measured end-to-end frame. ``--kernel triton`` decodes
the ray samples with the fused Triton kernel (CUDA); ``--cuda-graphs`` replays the network
stages from CUDA graphs; ``--dtype`` runs the networks in a half-precision plan
(:mod:`pipeline.voodoo.halfplan`, CUDA); ``--compile`` compiles the super-resolution and the
ray marching (CUDA). ``--backend`` runs the exported networks with TensorRT or onnxruntime;
unusable backends fall back to PyTorch and say why. That part lives in
:mod:`pipeline.accel.model_bench` (the command's entry point), which hands :func:`bench` the
step that swaps the networks: this module never imports ``pipeline.accel``.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from pipeline.benchutil import BenchRow, time_call
from pipeline.voodoo.renderer import Kernel, RenderSettings

if TYPE_CHECKING:
    from pipeline.voodoo.model import Voodoo3D

__all__ = [
    "QUICK_RENDER",
    "STAGES",
    "Accelerate",
    "BenchConfigError",
    "bench",
    "environment",
    "parse_stages",
]

#: Ray marching of ``--quick``: 32 x 32 rays, 24 + 24 samples (about 1/50 of the real work).
QUICK_RENDER = RenderSettings(resolution=32, depth_samples=24, importance_samples=24)
#: Row groups of ``--stages``.
STAGES = ("networks", "render", "frame")
#: Swaps the networks of a placed model for another backend's (``--backend``); returns a
#: one-line summary of what each network got.
Accelerate = Callable[["Voodoo3D"], str]


class BenchConfigError(ValueError):
    """A model-bench option that cannot be used on this machine (one line, for the user)."""


def parse_stages(text: str) -> list[str]:
    """``"networks,frame"`` -> the stage names, validated."""
    stages = [s.strip() for s in str(text).split(",") if s.strip()]
    bad = [s for s in stages if s not in STAGES]
    if bad or not stages:
        raise BenchConfigError(f"--stages takes a comma-separated subset of {','.join(STAGES)}, got {text!r}")
    return stages


def _kernel(args: argparse.Namespace) -> Kernel:
    name = getattr(args, "kernel", "torch")
    if name not in ("torch", "triton"):
        raise BenchConfigError(f"--kernel takes torch or triton, got {name!r}")
    return "triton" if name == "triton" else "torch"


def _model(args: argparse.Namespace, accelerate: Accelerate | None) -> Voodoo3D:
    from pipeline.voodoo.checkpoint import load_model
    from pipeline.voodoo.model import ModelConfig, Voodoo3D

    kernel = _kernel(args)
    if kernel != "torch":
        from pipeline.voodoo.triton_decode import triton_status

        why = triton_status(args.device)
        print(f"  kernel: {kernel}" + (f" unavailable, using torch: {why}" if why else ""), flush=True)
        kernel = "torch" if why else kernel
    try:
        config = ModelConfig(
            device=args.device,
            dtype=getattr(args, "dtype", "float32"),
            cuda_graphs=bool(getattr(args, "cuda_graphs", False)),
            compile=bool(getattr(args, "compile", False)),
        )
    except ValueError as e:
        raise BenchConfigError(str(e)) from e
    render = QUICK_RENDER if args.quick else config.render
    config = dataclasses.replace(config, render=dataclasses.replace(render, kernel=kernel))
    if args.weights is not None:
        model, _ = load_model(args.weights, config)
    else:
        model = Voodoo3D(config).init_random(0).place()
    if accelerate is not None:
        print(f"  backend: {accelerate(model)}", flush=True)
    return model


def _rates(row: BenchRow, views: int) -> BenchRow:
    row.extra["views/s"] = round(views * 1e3 / row.median_ms, 2)
    row.extra["fps"] = round(1e3 / row.median_ms, 3)
    return row


def _count_flops(model, fn: Callable[[], Any]) -> float:
    """FLOPs of one eager run of ``fn`` (graphs, compilation and the Triton kernel off: their
    work is invisible to the counter; the arithmetic is the same)."""
    from torch.utils.flop_counter import FlopCounterMode

    config = model.config
    model.config = dataclasses.replace(
        config,
        cuda_graphs=False,
        compile=False,
        render=dataclasses.replace(config.render, kernel="torch", compile=False),
    )
    try:
        with FlopCounterMode(display=False) as counter:
            fn()
        return float(counter.get_total_flops())
    except Exception as e:  # counting is a bonus: a counter failure must not lose the timings
        print(f"  (FLOP count failed: {type(e).__name__}: {e})", flush=True)
        return float("nan")
    finally:
        model.config = config


def environment(args: argparse.Namespace) -> dict[str, Any]:
    """What the numbers were measured on (for the JSON record)."""
    env: dict[str, Any] = {
        "torch": torch.__version__,
        "dtype": getattr(args, "dtype", "float32"),
        "compile": bool(getattr(args, "compile", False)),
        "stages": getattr(args, "stages", ",".join(STAGES)),
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
    }
    if torch.device(args.device).type == "cuda" and torch.cuda.is_available():
        dev = torch.device(args.device)
        props = torch.cuda.get_device_properties(dev)
        env.update(
            gpu=props.name,
            gpu_memory_gb=round(props.total_memory / 2**30, 1),
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            cudnn_benchmark=torch.backends.cudnn.benchmark,
            tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
            tf32_conv=torch.backends.cudnn.allow_tf32,
            max_memory_allocated_gb=round(torch.cuda.max_memory_allocated(dev) / 2**30, 2),
        )
    return env


def bench(args: argparse.Namespace, accelerate: Accelerate | None = None) -> list[BenchRow]:
    """The rows of ``voodoo-holo bench model``; ``accelerate`` swaps the networks for
    ``--backend`` (:mod:`pipeline.accel.model_bench` gives it; without it, PyTorch only)."""
    from pipeline.cameras import canonical_camera, stack_cameras, view_sweep

    backend = getattr(args, "backend", "torch")
    if backend != "torch" and accelerate is None:
        raise BenchConfigError(
            f"--backend {backend}: the exported networks are benched by pipeline.accel.model_bench"
        )
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    stages = parse_stages(getattr(args, "stages", ",".join(STAGES)))
    if getattr(args, "random_planes", False) and stages != ["render"]:
        raise BenchConfigError(
            "--random-planes is for --stages render alone (the other stages make their own)"
        )
    if cuda:
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
    sync = torch.cuda.synchronize if cuda else None
    cpu = dev.type == "cpu"
    repeats = args.repeats or (1 if args.quick or cpu else 5)
    warmup = 0 if cpu else 2  # CPU: no autotuning; CUDA: cuDNN autotuning, graph capture, compilation
    count_flops = cuda or not args.quick
    views = sorted(set(args.view_counts))
    model = _model(args, accelerate)
    gen = torch.Generator().manual_seed(0)
    source = torch.rand(1, 3, 512, 512, generator=gen) * 2 - 1
    driver = torch.rand(1, 3, 512, 512, generator=gen) * 2 - 1
    res = model.config.render.resolution
    info = {
        "device": str(dev),
        "backend": backend,
        "dtype": model.config.dtype,
        "kernel": model.config.render.kernel,
        "graphs": "yes" if model.config.cuda_graphs and cuda else "no",
        "compile": "yes" if model.config.compile and cuda else "no",
        "rays": f"{res}^2",
    }

    def row(stage: str, fn, views: int | None = None) -> BenchRow:
        r = time_call(stage, fn, repeats=repeats, warmup=warmup, sync=sync, extra=dict(info))
        if views is not None:
            _rates(r, views)
        if count_flops:
            flops = _count_flops(model, fn)
            if flops == flops:  # not nan
                r.extra["GFLOP"] = round(flops / 1e9, 1)
                r.extra["TFLOP/s"] = round(flops / (r.median_ms * 1e-3) / 1e12, 2)
        print(f"  {stage}: {r.median_ms:.1f} ms", flush=True)
        return r

    rows: list[BenchRow] = []
    sr_rows: dict[int, BenchRow] = {}
    need_source = "networks" in stages or "frame" in stages
    cameras = {}
    for n in views:
        cams = view_sweep(canonical_camera(), n) if n > 1 else [canonical_camera()]
        cameras[n] = tuple(torch.from_numpy(a).to(dev) for a in stack_cameras(cams))
    if need_source:
        cache = model.prepare_source(source)
        planes, _, _ = model.drive(cache, driver)
    elif getattr(args, "random_planes", False):  # smoke runs: no network at all
        planes = torch.randn(1, 3, 32, 256, 256, generator=gen).to(dev)
        info["planes"] = "random"
    else:  # the renderer alone needs only a tri-plane
        planes = model.encode(driver)
    if "networks" in stages:
        rows.append(row("encoder (Lp3D, 512 -> tri-plane)", lambda: model.encode(driver)))
        rows.append(row("source preparation (once per call)", lambda: model.prepare_source(source)))
        rows.append(row("driver frontal (encode + 128 render)", lambda: model.frontalise_driver(driver)))
        drv = model.frontalise_driver(driver)
        rows.append(row("expression delta", lambda: model.expression_delta(cache, drv)))
        rows.append(row("drive (new tri-plane per frame)", lambda: model.drive(cache, driver)))
        raw = drv.frontal.image_raw
        for n in sorted({1, *views}):
            batch = raw.expand(n, -1, -1, -1).contiguous()
            sr_rows[n] = row(
                f"super-resolution 128 -> 512 x {n} view(s)", lambda b=batch: model.super_resolve(b), n
            )
            sr_rows[n].extra["sr_batch"] = min(model.sr_batch or n, n)
            rows.append(sr_rows[n])
    drive_row = next((r for r in rows if r.stage.startswith("drive")), None)
    for n in views:
        c2w, k = cameras[n]
        render_row = None
        if "render" in stages:
            render_row = row(
                f"render {res}^2 x {n} view(s)", lambda c2w=c2w, k=k: model.render(planes, c2w, k), views=n
            )
            rows.append(render_row)
        if "frame" not in stages:
            continue
        if args.quick:  # frame = sum of measured stages
            if drive_row is None or render_row is None or n not in sr_rows:
                raise BenchConfigError(
                    "--quick frame rows are sums of stages: add networks,render to --stages"
                )
            sr_row = sr_rows[n]
            ms = drive_row.median_ms + render_row.median_ms + sr_row.median_ms
            p90 = drive_row.p90_ms + render_row.p90_ms + sr_row.p90_ms
            derived = BenchRow(
                f"frame: drive + {n} view(s) + SR (sum of stages)", ms, p90, ms, 1, {**info, "derived": "yes"}
            )
            rows.append(_rates(derived, n))
            continue

        def frame(c2w=c2w, k=k) -> None:
            p, _, _ = model.drive(cache, driver)
            model.render(p, c2w, k, super_resolve=True)

        rows.append(row(f"frame: drive + {n} view(s) + SR (measured)", frame, views=n))
    return rows
