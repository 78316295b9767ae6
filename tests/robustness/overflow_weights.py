"""Write a VOODOO 3D checkpoint that passes every check on the file but renders NaN.

Not a test (pytest does not collect it): a tool for checking that broken rendered output is
reported (``voodoo-holo render`` says so once and exits with status 1).

    python tests/robustness/overflow_weights.py --out overflow.pth

Every key of the official layout is there with its shape and a finite value (zeros, stored as
stride-0 tensors: the file is ~200 KB), so the file is accepted. One weight of the
super-resolution network's first layer is 3.4e38, the largest float32: any picture drives that
channel to infinity, and the zero weights after it turn infinity into NaN.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def overflow_state_dict() -> dict:
    import torch

    from pipeline.voodoo.checkpoint import _is_recomputable, expected_layout

    layout = {
        k: shape for k, (shape, _) in expected_layout(keep_unused=True).items() if not _is_recomputable(k)
    }
    state = {k: torch.zeros(1).expand(*shape) for k, shape in layout.items()}
    first = torch.zeros(layout["superresolution.conv_body_first.weight"])
    first[0, :] = 3.4e38
    state["superresolution.conv_body_first.weight"] = first
    return state


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="the checkpoint to write")
    args = ap.parse_args(argv)
    import torch

    torch.save(overflow_state_dict(), args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
