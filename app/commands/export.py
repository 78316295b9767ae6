"""``voodoo-holo export onnx|trt``: the neural model's networks as ONNX files or TensorRT engines.

``export onnx`` writes ``encoder.onnx``, ``expression.onnx`` and ``superres.onnx`` (plus
``manifest.json``) and checks each file against PyTorch with onnxruntime on CPU, printing
the max abs error. ``export trt`` builds fp16 TensorRT engines from those files into the
engine cache (keyed by GPU, TensorRT version, shapes and ONNX hash); renderer workers then
pick them up. Both need the official weights (``--weights``, or the checkpoint
``voodoo-holo doctor`` finds); ``--random-weights`` exports random weights of the real
shapes for testing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("format", choices=("onnx", "trt"), help="what to produce")
    p.add_argument("--weights", type=Path, default=None, help="voodoo3d.pth (default: the installed one)")
    p.add_argument(
        "--random-weights", action="store_true", help="export random weights of the real shapes (testing)"
    )
    p.add_argument(
        "--out", type=Path, default=None, help="ONNX folder (default: the user cache, per weights)"
    )
    p.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    p.add_argument(
        "--networks",
        default="encoder,expression,superres",
        help="comma-separated subset of encoder,expression,superres",
    )
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime comparison")
    p.add_argument("--device", default=None, help="torch device (onnx: cpu; trt: cuda)")
    p.add_argument("--precision", choices=("fp16", "bf16", "fp32"), default="fp16", help="TensorRT precision")
    p.add_argument("--sr-max-batch", type=int, default=8, help="largest super-resolution batch of the engine")


def _weights(args: argparse.Namespace) -> tuple[Path | None, str] | None:
    from app.paths import user_paths
    from pipeline.accel.onnx_export import weights_identity

    if args.random_weights:
        if args.weights is not None:
            print("export: give --weights or --random-weights, not both", file=sys.stderr)
            return None
        return None, weights_identity(None, 0)
    path = args.weights or user_paths().find_weights()
    if path is None or not Path(path).is_file():
        where = args.weights or user_paths().weights_candidates()[-1]
        print(
            f"export: no VOODOO 3D checkpoint at {where}. Pass --weights voodoo3d.pth "
            "(or --random-weights to export random weights for testing).",
            file=sys.stderr,
        )
        return None
    return Path(path), weights_identity(path)


def _model(path: Path | None, device: str):
    from pipeline.voodoo.checkpoint import load_model
    from pipeline.voodoo.model import ModelConfig, Voodoo3D

    config = ModelConfig(device=device)
    if path is None:
        return Voodoo3D(config).init_random(0).place()
    return load_model(path, config)[0]


def run(args: argparse.Namespace) -> int:
    from app.paths import user_paths
    from pipeline.accel.networks import NETWORK_NAMES

    names = [n.strip() for n in args.networks.split(",") if n.strip()]
    bad = [n for n in names if n not in NETWORK_NAMES]
    if bad or not names:
        print(f"export: --networks takes {','.join(NETWORK_NAMES)}, got {args.networks!r}", file=sys.stderr)
        return 2
    if args.format == "trt":
        from pipeline.accel.tensorrt import tensorrt_available

        ok, why = tensorrt_available()
        if not ok:
            print(f"export trt: {why}", file=sys.stderr)
            return 1
    found = _weights(args)
    if found is None:
        return 2
    path, wid = found
    out = args.out or user_paths().onnx_dir / wid
    if args.format == "onnx":
        return _onnx(args, path, wid, out, names)
    return _trt(args, path, wid, out, names)


def _onnx(args: argparse.Namespace, path: Path | None, wid: str, out: Path, names: list[str]) -> int:
    from pipeline.accel.onnx_export import export_onnx

    print(f"loading the model ({'random weights' if path is None else path}) ...", flush=True)
    model = _model(path, args.device or "cpu")
    manifest = export_onnx(
        model,
        out,
        names=names,
        opset=args.opset,
        weights_id=wid,
        check=not args.no_check,
        progress=lambda m: print(m, flush=True),
    )
    for name in names:
        e = manifest.networks[name]
        err = "not checked" if e.max_abs_err is None else f"max abs error {e.max_abs_err:.3g}"
        print(f"{name:<11} {out / e.file}  {err}")
    print(f"wrote {out / 'manifest.json'}")
    return 0


def _trt(args: argparse.Namespace, path: Path | None, wid: str, out: Path, names: list[str]) -> int:
    from app.paths import user_paths
    from pipeline.accel.backend import AccelConfig, accelerate
    from pipeline.accel.onnx_export import read_manifest

    try:
        read_manifest(out)
    except FileNotFoundError:
        print(f"export trt: no ONNX export in {out}; run 'voodoo-holo export onnx' first", file=sys.stderr)
        return 2
    device = args.device or "cuda"
    print(f"loading the model ({'random weights' if path is None else path}) on {device} ...", flush=True)
    model = _model(path, device)
    config = AccelConfig(
        backend="tensorrt",
        networks=tuple(names),
        onnx_dir=out,
        engines_dir=user_paths().engines_dir,
        precision=args.precision,
        sr_max_batch=args.sr_max_batch,
    )
    report = accelerate(model, config, wid)
    print(report.summary())
    return 0 if all(report.used[n] == "tensorrt" for n in names) else 1
