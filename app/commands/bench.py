"""``voodoo-holo bench TARGET``: measure the speed of each stage on this machine."""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
from pathlib import Path

#: bench target -> module implementing ``bench(args) -> list[BenchRow]``.
TARGETS = {
    "model": "pipeline.accel.model_bench",  # pipeline.voodoo.bench, with --backend
    "tracker": "pipeline.tracking.bench",
    "render": "pipeline.mesh.bench",
    "pipeline": "app.live.bench",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", choices=sorted(TARGETS), help="what to measure")
    p.add_argument("--device", default="cpu", help="torch device for model benchmarks (cpu, cuda, cuda:1)")
    p.add_argument(
        "--quick", action="store_true", help="reduced sizes and repeats (a couple of minutes on CPU)"
    )
    p.add_argument(
        "--repeats", type=int, default=None, help="timed runs per stage (default depends on target)"
    )
    p.add_argument(
        "--views", default="1,6,24", help="comma-separated view counts to measure (default 1,6,24)"
    )
    p.add_argument(
        "--weights", type=Path, default=None, help="checkpoint for the model bench (default: random)"
    )
    p.add_argument(
        "--backend",
        choices=("torch", "auto", "tensorrt", "onnxruntime"),
        default="torch",
        help="model bench: networks in PyTorch (reference) or exported engines (see 'export')",
    )
    p.add_argument(
        "--kernel",
        choices=("torch", "triton"),
        default="torch",
        help="model bench: decode ray samples with PyTorch ops or the fused Triton kernel (CUDA)",
    )
    p.add_argument(
        "--cuda-graphs",
        action="store_true",
        help="model bench: replay the network stages from CUDA graphs (CUDA only)",
    )
    p.add_argument(
        "--dtype",
        choices=("float32", "bfloat16", "float16"),
        default="float32",
        help="model bench: precision of the networks (half precision: CUDA; see pipeline/voodoo/halfplan.py)",
    )
    p.add_argument(
        "--stages",
        default="networks,render,frame",
        help="model bench: row groups to measure, a comma-separated subset of networks,render,frame",
    )
    p.add_argument(
        "--random-planes",
        action="store_true",
        help="model bench: with --stages render, render a random tri-plane (no network runs; smoke runs)",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="model bench: torch.compile the super-resolution and the ray marching (CUDA; eager on failure)",
    )
    p.add_argument(
        "--json", type=Path, default=None, metavar="OUT.json", help="also write the results as JSON"
    )


def run(args: argparse.Namespace) -> int:
    from pipeline.benchutil import format_table

    try:
        args.view_counts = [int(v) for v in str(args.views).split(",") if v.strip()]
    except ValueError:
        print(f"--views must be comma-separated integers, got {args.views!r}", file=sys.stderr)
        return 2
    modname = TARGETS[args.target]
    try:
        mod = importlib.import_module(modname)
    except ModuleNotFoundError as e:
        if e.name and modname.startswith(e.name):
            print(f"voodoo-holo bench {args.target}: not implemented yet in this version.", file=sys.stderr)
            return 2
        raise
    print(
        f"voodoo-holo bench {args.target} on {platform.node() or 'this machine'} (device {args.device})",
        flush=True,
    )
    config_error = getattr(mod, "BenchConfigError", ())  # an option this machine cannot use
    try:
        rows = mod.bench(args)
    except config_error as e:
        print(f"voodoo-holo bench {args.target}: {e}", file=sys.stderr)
        return 2
    print(format_table(rows))
    if args.json:
        record = {
            "target": args.target,
            "device": args.device,
            "backend": args.backend,
            "kernel": args.kernel,
            "cuda_graphs": bool(args.cuda_graphs),
            "quick": bool(args.quick),
            "python": platform.python_version(),
            "machine": platform.machine(),
            **(mod.environment(args) if hasattr(mod, "environment") else {}),
            "rows": [r.to_json() for r in rows],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2))
        print(f"wrote {args.json}")
    return 0
