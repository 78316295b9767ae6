"""Check our VOODOO 3D stages against a parity fixture of the official code.

Usage::

    python -m pipeline.voodoo.parity --weights W.pt --fixture fixture_seed3.npz [--save OUT.npz]

Reads the fixture's inputs (``in_source``, ``in_driver``, ``in_driver_cam2world``,
``in_driver_intrinsics``), runs the full re-enactment through our stages in float32 with the
deterministic sampling rule, and prints one line per output recorded in the fixture with
its error and tolerance (metric of the fixture format: relative L2 in float64; tri-planes
compared at the fixture's sampled indices and in full against the float16 copies; depth
relative to its spread, plus max |difference| <= 1e-4). Exit status: 0 all within
tolerance, 1 some exceeded, 2 bad arguments or files.

``--save OUT.npz`` writes our full-size float32 outputs under the fixture's names so an
independent checker can compare them.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["CHECKS", "Check", "CheckResult", "compare_outputs", "main", "run_model_on_fixture", "stats_lines"]

REQUIRED_INPUTS = ("in_source", "in_driver", "in_driver_cam2world", "in_driver_intrinsics")
DEPTH_MAX_ABS = 1e-4


@dataclass(frozen=True)
class Check:
    """One comparison: our output ``name`` against fixture array ``ref`` by ``kind``."""

    name: str
    ref: str
    kind: str  # "sampled" | "full" | "depth"
    tol: float


CHECKS: tuple[Check, ...] = (
    Check("source_triplane", "source_triplane_sampled", "sampled", 1e-4),
    Check("driver_triplane", "driver_triplane_sampled", "sampled", 1e-4),
    Check("exp_delta", "exp_delta_sampled", "sampled", 1e-4),
    Check("new_triplane", "new_triplane_sampled", "sampled", 1e-4),
    Check("source_triplane", "source_triplane_f16", "full", 1e-3),
    Check("exp_delta", "exp_delta_f16", "full", 1e-3),
    Check("src_frontal_image_raw", "src_frontal_image_raw", "full", 1e-4),
    Check("src_frontal_depth", "src_frontal_depth", "depth", 1e-3),
    Check("src_frontal_image", "src_frontal_image", "full", 2e-4),
    Check("drv_frontal_image_raw", "drv_frontal_image_raw", "full", 1e-4),
    Check("drv_frontal_depth", "drv_frontal_depth", "depth", 1e-3),
    Check("out_image_raw", "out_image_raw", "full", 1e-4),
    Check("out_depth", "out_depth", "depth", 1e-3),
    Check("out_image", "out_image", "full", 2e-4),
    Check("out_feature_image", "out_feature_image_f16", "full", 1e-3),
)


@dataclass(frozen=True)
class CheckResult:
    check: Check
    error: float
    max_abs: float | None
    ok: bool

    def line(self) -> str:
        c = self.check
        extra = f"  max|d|={self.max_abs:.2e} (<= {DEPTH_MAX_ABS:.0e})" if self.max_abs is not None else ""
        return (
            f"{'ok  ' if self.ok else 'FAIL'}  {c.name:22s} vs {c.ref:24s} {c.kind:7s} "
            f"err={self.error:.3e} tol={c.tol:.0e}{extra}"
        )


class FixtureError(ValueError):
    """The fixture file is missing, unreadable or lacks required arrays."""


def _rel_l2(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(float(np.linalg.norm(b)), 1e-30))


def compare_outputs(ours: Mapping[str, np.ndarray], fixture: Mapping[str, np.ndarray]) -> list[CheckResult]:
    """Every check whose reference is in ``fixture`` and whose output is in ``ours``."""
    results = []
    for c in CHECKS:
        if c.ref not in fixture or c.name not in ours:
            continue
        ref = np.asarray(fixture[c.ref])
        cand = np.asarray(ours[c.name])
        max_abs = None
        if c.kind == "sampled":
            if "triplane_sample_idx" not in fixture:
                raise FixtureError(f"fixture has {c.ref} but no triplane_sample_idx")
            idx = np.asarray(fixture["triplane_sample_idx"])
            if idx.size != ref.size or (idx.size and (idx.min() < 0 or idx.max() >= cand.size)):
                raise FixtureError(f"triplane_sample_idx does not fit our {c.name} of shape {cand.shape}")
            err = _rel_l2(cand.reshape(-1)[idx], ref)
        elif cand.size != ref.size:
            raise FixtureError(f"{c.ref} has shape {ref.shape} but our {c.name} has {cand.shape}")
        elif c.kind == "depth":
            ref64 = ref.astype(np.float64)
            diff = cand.reshape(ref.shape).astype(np.float64) - ref64
            err = float(np.linalg.norm(diff) / max(float(np.linalg.norm(ref64 - ref64.mean())), 1e-30))
            max_abs = float(np.abs(diff).max())
        else:
            err = _rel_l2(cand.reshape(ref.shape), ref)
        ok = bool(err <= c.tol) and (max_abs is None or max_abs <= DEPTH_MAX_ABS)
        results.append(CheckResult(c, err, max_abs, ok))
    return results


#: Fixture summary statistics (mean, std, L2 norm, min, max of the full tensor) -> our output.
STATS = {
    "source_triplane_stats": "source_triplane",
    "driver_triplane_stats": "driver_triplane",
    "exp_delta_stats": "exp_delta",
    "new_triplane_stats": "new_triplane",
}


def stats_lines(ours: Mapping[str, np.ndarray], fixture: Mapping[str, np.ndarray]) -> list[str]:
    """Informational lines: our full-tensor statistics against the fixture's (not graded)."""
    lines = []
    for ref_key, name in STATS.items():
        if ref_key not in fixture or name not in ours:
            continue
        a = np.asarray(ours[name], np.float64).reshape(-1)
        ref = np.asarray(fixture[ref_key], np.float64)
        mine = np.array([a.mean(), a.std(ddof=1), np.linalg.norm(a), a.min(), a.max()])
        rel = np.abs(mine - ref) / np.maximum(np.abs(ref), 1e-30)
        lines.append(
            f"info  {name:22s} stats rel. diff: mean {rel[0]:.1e} std {rel[1]:.1e} "
            f"L2 {rel[2]:.1e} min {rel[3]:.1e} max {rel[4]:.1e}"
        )
    return lines


def load_fixture(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise FixtureError(f"fixture {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as e:
        raise FixtureError(f"fixture {path} is not a readable .npz file: {e}") from e
    missing = [k for k in REQUIRED_INPUTS if k not in data]
    if missing:
        raise FixtureError(f"fixture {path} lacks the input array(s) {', '.join(missing)}")
    return data


def run_model_on_fixture(model, fixture: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Full re-enactment of the fixture's inputs; returns our outputs under the fixture's names."""
    import torch

    def t(key: str) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(fixture[key], dtype=np.float32))

    r = model.reenact(t("in_source"), t("in_driver"), t("in_driver_cam2world"), t("in_driver_intrinsics"))
    outs = {
        "source_triplane": r.source.planes,
        "driver_triplane": r.driver.planes,
        "exp_delta": r.delta,
        "new_triplane": r.new_planes,
        "src_frontal_image": r.source.frontal.image,
        "src_frontal_image_raw": r.source.frontal.image_raw,
        "src_frontal_depth": r.source.frontal.depth,
        "drv_frontal_image_raw": r.driver.frontal.image_raw,
        "drv_frontal_depth": r.driver.frontal.depth,
        "out_image_raw": r.output.image_raw,
        "out_depth": r.output.depth,
        "out_image": r.output.image,
        "out_feature_image": r.output.feature_image,
    }
    return {k: v.detach().float().cpu().numpy() for k, v in outs.items()}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pipeline.voodoo.parity",
        description="Compare our VOODOO 3D stages with a parity fixture of the official code.",
    )
    p.add_argument("--weights", type=Path, required=True, help="state dict (.pt/.pth) in the official layout")
    p.add_argument("--fixture", type=Path, required=True, help="parity fixture .npz")
    p.add_argument("--save", type=Path, default=None, metavar="OUT.npz", help="write our outputs here")
    p.add_argument("--device", default="cpu", help="torch device (default cpu; TF32 is disabled on CUDA)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from pipeline.voodoo.checkpoint import CheckpointError, load_model
    from pipeline.voodoo.model import ModelConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        fixture = load_fixture(args.fixture)
        model, report = load_model(args.weights, ModelConfig(device=args.device))
    except (FixtureError, CheckpointError, ValueError) as e:
        print(f"parity: {e}", file=sys.stderr)
        return 2
    if report.extra:
        print(f"note: {len(report.extra)} extra key(s) ignored: {', '.join(report.extra[:8])}")
    if report.rebuilt:
        print(f"note: rebuilt buffer(s): {', '.join(report.rebuilt)}")
    t0 = time.perf_counter()
    ours = run_model_on_fixture(model, fixture)
    print(f"re-enactment ran in {time.perf_counter() - t0:.1f} s on {args.device}")
    del model
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        np.savez(args.save, **ours)
        print(f"wrote {args.save}")
    try:
        results = compare_outputs(ours, fixture)
    except FixtureError as e:
        print(f"parity: {e}", file=sys.stderr)
        return 2
    if not results:
        print("parity: the fixture records none of the known outputs", file=sys.stderr)
        return 2
    for line in stats_lines(ours, fixture):
        print(line)
    for r in results:
        print(r.line())
    failed = sum(not r.ok for r in results)
    print(f"{len(results) - failed}/{len(results)} within tolerance")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
