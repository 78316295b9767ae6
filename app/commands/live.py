"""``voodoo-holo [live] --source me.jpg``: a live call on this machine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--source",
        type=Path,
        help="your portrait photo (default: the photo chosen with 'voodoo-holo select')",
    )
    p.add_argument(
        "--driver",
        default=None,
        help="what drives the avatar: a webcam index (default 0), a video file or a folder of frames",
    )
    p.add_argument(
        "--no-loop", action="store_true", help="end the call when a driver file ends (default: loop it)"
    )
    p.add_argument(
        "--backend",
        choices=["auto", "neural", "mesh"],
        default="auto",
        help="avatar: neural (VOODOO 3D, needs the weights and a GPU), mesh (weight-free), auto (default)",
    )
    p.add_argument(
        "--weights", type=Path, default=None, help="VOODOO 3D checkpoint (default: the user weights folder)"
    )
    p.add_argument(
        "--layout",
        default=None,
        help="process layout: seven-gpu, one-gpu, cpu or a JSON file (default: chosen from the GPUs present)",
    )
    p.add_argument("--views", type=int, default=None, help="number of views (default: the layout's, 24)")
    p.add_argument("--view-size", type=int, default=None, help="size of each rendered view in pixels")
    p.add_argument(
        "--sweep",
        choices=["offaxis", "orbit"],
        default="offaxis",
        help="view cameras: off-axis shifted frusta as Looking Glass prescribes (default) or an orbit",
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument("--headless", action="store_true", help="no window (benchmarks, servers, tests)")
    out.add_argument(
        "--preview",
        action="store_true",
        help="single-view preview window even if a Looking Glass is connected",
    )
    p.add_argument(
        "--calibration",
        type=Path,
        default=None,
        help="Looking Glass visual.json (default: found automatically)",
    )
    p.add_argument(
        "--duration", type=float, default=None, metavar="SECONDS", help="end the call after this many seconds"
    )
    p.add_argument(
        "--expose",
        default=None,
        metavar="HOST:PORT",
        help="put the pipeline's links on tcp (CURVE-encrypted) so roles can run on other hosts",
    )
    p.add_argument(
        "--remote",
        action="append",
        default=[],
        metavar="ROLE",
        help="a role run elsewhere with 'voodoo-holo worker' (renderer-N or capture; repeatable)",
    )
    p.add_argument(
        "--metrics-out",
        type=Path,
        default=None,
        metavar="FILE.json",
        help="write latency/FPS/restart metrics",
    )


def run(args: argparse.Namespace) -> int:
    from app.session import LiveCallError, start_live_call

    try:
        return start_live_call(args)
    except LiveCallError as e:
        print(f"voodoo-holo: {e}", file=sys.stderr)
        return 2
