"""Measure half-precision error of the three networks against our float32 run.

Usage::

    python -m pipeline.voodoo.precision --weights W.pt --fixture fixture_seed3.npz \
        [--dtypes bfloat16,float16|none] [--peaks-out PEAKS.json] [--threads N]

Runs the fixture's full re-enactment (deterministic sampling rule) once in float32, then once
per half dtype with the Lp3D encoder, the expression encoder and the super-resolution network
in that dtype (the renderer stays float32, as in every configuration). Prints, per output,
the relative L2 error (float64; depth: relative to its spread, as in the parity tool), the
max |difference| and the count of non-finite values against the float32 outputs.

It also records the largest |activation| of every conv/linear layer and modulated convolution
of the three networks, and for each modulated convolution the largest demodulation sum of
squares (``sum (weight * style)^2``, what a network built wholly in float16 would compute in
float16): in float32, to show the headroom below float16's largest finite value (65504); in
half precision, the first layer whose output reaches it or is not finite (overflow).
``--peaks-out PEAKS.json`` writes the float32 peaks of every layer and the layers within a
factor ``--headroom`` of float16's largest value (give them to ``ModelConfig.fp16_keep``).
``--dtypes none`` runs float32 alone (the peaks without a half-precision run).

Off CUDA this needs ``ModelConfig.cpu_half`` (set here); ``--device cuda`` measures a GPU. CPU half-precision kernels
accumulate differently from GPU ones, so the numbers are indicative of the dtype's rounding,
not a bit-exact prediction of a GPU run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from pipeline.voodoo.halfplan import FP16_MAX, DType, layers_near_fp16_max

__all__ = [
    "FP16_MAX",
    "DEMOD_SUFFIX",
    "ActivationPeaks",
    "ErrorRow",
    "OUTPUTS",
    "compare_to_reference",
    "main",
    "record_peaks",
    "write_peaks",
]


#: Outputs compared (names of :func:`pipeline.voodoo.parity.run_model_on_fixture`).
OUTPUTS = (
    "source_triplane",
    "driver_triplane",
    "exp_delta",
    "new_triplane",
    "src_frontal_image_raw",
    "src_frontal_depth",
    "drv_frontal_image_raw",
    "drv_frontal_depth",
    "src_frontal_image",
    "out_image_raw",
    "out_depth",
    "out_image",
    "out_image_sr_only",
)
#: The final super-resolution run in the measured dtype on the float32 ``out_image_raw``
#: (isolates the super-resolution network's own error from the upstream error).
SR_ONLY = "out_image_sr_only"


@dataclass(frozen=True)
class ErrorRow:
    name: str
    rel_l2: float  # depth: centred (relative to the reference's spread)
    max_abs: float
    nonfinite: int

    def line(self, dtype: str) -> str:
        metric = "rel (centred)" if self.name.endswith("depth") else "rel L2"
        nf = f"  non-finite={self.nonfinite}" if self.nonfinite else ""
        return f"{dtype:9s} {self.name:22s} {metric:13s} {self.rel_l2:.2e}  max|d| {self.max_abs:.2e}{nf}"


def compare_to_reference(ours: Mapping[str, np.ndarray], ref: Mapping[str, np.ndarray]) -> list[ErrorRow]:
    """Error of ``ours`` against ``ref`` for every name of :data:`OUTPUTS` present in both."""
    rows = []
    for name in OUTPUTS:
        if name not in ours or name not in ref:
            continue
        a = np.asarray(ours[name], np.float64)
        b = np.asarray(ref[name], np.float64)
        if a.shape != b.shape:
            raise ValueError(f"{name}: shape {a.shape} differs from the reference's {b.shape}")
        finite = np.isfinite(a)
        nonfinite = int(a.size - np.count_nonzero(finite))
        if nonfinite:
            rows.append(ErrorRow(name, float("inf"), float("inf"), nonfinite))
            continue
        d = a - b
        scale = b - b.mean() if name.endswith("depth") else b
        rel = float(np.linalg.norm(d) / max(float(np.linalg.norm(scale)), 1e-30))
        rows.append(ErrorRow(name, rel, float(np.abs(d).max()), 0))
    return rows


@dataclass
class ActivationPeaks:
    """Largest |output| per layer, in call order, of the hooked networks."""

    peaks: dict[str, float] = field(default_factory=dict)

    def largest(self, prefix: str = "", demod: bool = False) -> tuple[str, float]:
        """The largest activation (``demod``: demodulation sum of squares) under ``prefix``."""
        items = [
            (k, v)
            for k, v in self.peaks.items()
            if k.startswith(prefix) and k.endswith(DEMOD_SUFFIX) == demod
        ]
        if not items:
            return ("", 0.0)
        return max(items, key=lambda kv: kv[1])

    def first_overflow(self, limit: float = FP16_MAX) -> str | None:
        """First layer (in call order) whose output reached ``limit`` or was not finite."""
        for k, v in self.peaks.items():
            if not v < limit:  # also catches nan
                return k
        return None


#: Suffix of the demodulation sum-of-squares entries in :class:`ActivationPeaks`.
DEMOD_SUFFIX = ".demod_sumsq"


def _peak(t: Tensor) -> float:
    v = float(t.detach().abs().amax().float())
    return float("inf") if v != v else v  # nan: keep it visible as non-finite


@contextmanager
def record_peaks(modules: Mapping[str, nn.Module]) -> Iterator[ActivationPeaks]:
    """Record max |output| of every Conv2d/Linear/ModulatedConv under ``modules`` (name
    prefix -> module), and each modulated conv's demodulation sum of squares
    (``<name>.demod_sumsq``, computed in float32 from its weight and style)."""
    from pipeline.voodoo.superres import ModulatedConv

    rec = ActivationPeaks()
    handles = []

    def keep(name: str, v: float) -> None:
        rec.peaks[name] = max(rec.peaks.get(name, 0.0), v)

    def hook(name: str):
        def fn(_m: nn.Module, _inp, out) -> None:
            if isinstance(out, Tensor) and out.numel():
                keep(name, _peak(out))

        return fn

    def demod_hook(name: str):
        def fn(m: ModulatedConv, inp, _out) -> None:
            if m.demodulate:
                style = m.modulation(inp[1]).float()
                w2 = m.weight[0].float().square().sum((2, 3))
                keep(name + DEMOD_SUFFIX, _peak(style.square() @ w2.t()))

        return fn

    for prefix, root in modules.items():
        for sub, m in root.named_modules():
            name = f"{prefix}.{sub}" if sub else prefix
            if isinstance(m, (nn.Conv2d, nn.Linear, ModulatedConv)):
                handles.append(m.register_forward_hook(hook(name)))
            if isinstance(m, ModulatedConv):
                handles.append(m.register_forward_hook(demod_hook(name)))
    try:
        yield rec
    finally:
        for h in handles:
            h.remove()


NETWORKS = ("triplane_encoder", "exp_transfer", "superresolution")
#: ``--dtypes`` words -> the half dtypes they measure.
_HALF_DTYPES: dict[str, DType] = {"bfloat16": "bfloat16", "float16": "float16"}


def _networks(model) -> dict[str, nn.Module]:
    return {name: getattr(model, name) for name in NETWORKS}


def _run(
    weights: Path,
    fixture: Mapping[str, np.ndarray],
    dtype: DType,
    device: str = "cpu",
    sr_input: np.ndarray | None = None,
):
    from pipeline.voodoo.checkpoint import load_model
    from pipeline.voodoo.model import ModelConfig
    from pipeline.voodoo.parity import run_model_on_fixture

    model, _ = load_model(weights, ModelConfig(device=device, dtype=dtype, cpu_half=True), progress=False)
    with record_peaks(_networks(model)) as peaks:
        t0 = time.perf_counter()
        outs = run_model_on_fixture(model, fixture)
        seconds = time.perf_counter() - t0
    outs = {k: v for k, v in outs.items() if k in OUTPUTS}
    if sr_input is not None:  # the super-resolution network alone, on the float32 render
        outs[SR_ONLY] = model.super_resolve(torch.from_numpy(sr_input)).cpu().numpy()
    del model
    return outs, peaks, seconds


def write_peaks(path: Path, peaks: ActivationPeaks, headroom: float, **meta: str) -> None:
    """The float32 peaks (call order) and the layers near float16's range as JSON."""
    record = {
        **meta,
        "fp16_max": FP16_MAX,
        "headroom": headroom,
        "near_fp16_max": layers_near_fp16_max(peaks.peaks, headroom),
        "largest": {p: dict(zip(("layer", "peak"), peaks.largest(p), strict=True)) for p in NETWORKS},
        "largest_demod_sumsq": dict(zip(("layer", "peak"), peaks.largest(demod=True), strict=True)),
        "peaks": {k: (v if math.isfinite(v) else str(v)) for k, v in peaks.peaks.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pipeline.voodoo.precision",
        description="Half-precision error of the VOODOO 3D networks against float32 (CPU).",
    )
    p.add_argument("--weights", type=Path, required=True, help="state dict (.pt/.pth) in the official layout")
    p.add_argument("--fixture", type=Path, required=True, help="parity fixture .npz (its inputs are used)")
    p.add_argument(
        "--dtypes", default="bfloat16,float16", help="comma-separated half dtypes to measure, or 'none'"
    )
    p.add_argument(
        "--peaks-out", type=Path, default=None, metavar="PEAKS.json", help="write every layer's float32 peak"
    )
    p.add_argument(
        "--headroom",
        type=float,
        default=16.0,
        help="a layer is near float16's range when its float32 peak times this reaches 65504 (default 16)",
    )
    p.add_argument("--device", default="cpu", help="torch device (default cpu; TF32 is disabled on CUDA)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pipeline.voodoo.checkpoint import CheckpointError
    from pipeline.voodoo.parity import FixtureError, load_fixture

    names = [d.strip() for d in args.dtypes.split(",") if d.strip() and d.strip() != "none"]
    bad = [d for d in names if d not in _HALF_DTYPES]
    if bad:
        print(f"precision: unknown half dtype(s) {', '.join(bad)}", file=sys.stderr)
        return 2
    dtypes = [_HALF_DTYPES[d] for d in names]
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        fixture = load_fixture(args.fixture)
        ref, ref_peaks, secs = _run(args.weights, fixture, "float32", args.device)
        ref[SR_ONLY] = ref["out_image"]
    except (FixtureError, CheckpointError, ValueError) as e:
        print(f"precision: {e}", file=sys.stderr)
        return 2
    print(f"float32   re-enactment {secs:.1f} s")
    for prefix in NETWORKS:
        layer, v = ref_peaks.largest(prefix)
        print(f"float32   peak |activation| {prefix:16s} {v:.3e} ({v / FP16_MAX:.1%} of fp16 max) at {layer}")
    layer, v = ref_peaks.largest("superresolution", demod=True)
    print(f"float32   peak demodulation sum of squares {v:.3e} ({v / FP16_MAX:.1%} of fp16 max) at {layer}")
    near = layers_near_fp16_max(ref_peaks.peaks, args.headroom)
    print(f"float32   layers within x{args.headroom:g} of fp16 max: {', '.join(near) or 'none'}")
    if args.peaks_out:
        write_peaks(args.peaks_out, ref_peaks, args.headroom, weights=args.weights.name, device=args.device)
        print(f"wrote {args.peaks_out}")
    for dtype in dtypes:
        outs, peaks, secs = _run(args.weights, fixture, dtype, args.device, ref["out_image_raw"])
        print(f"{dtype:9s} re-enactment {secs:.1f} s")
        limit = FP16_MAX if dtype == "float16" else float("inf")
        over = peaks.first_overflow(limit)
        what = "at/over fp16 max" if dtype == "float16" else "with a non-finite output"
        print(f"{dtype:9s} first layer {what}: {over or 'none'}")
        for row in compare_to_reference(outs, ref):
            print(row.line(dtype))
    return 0


if __name__ == "__main__":
    sys.exit(main())
