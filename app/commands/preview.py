"""``voodoo-holo preview --source PHOTO [--driver FILE]``: the single-view preview on a monitor.

Re-enacts PHOTO from the webcam (or a video file / folder of frames) in one process and shows
one view at a time; drag, the arrow keys or the wheel sweep through the views; the status line
shows the view, FPS and capture-to-display latency.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--source",
        type=Path,
        default=None,
        help="your portrait photo (default: the photo chosen with 'voodoo-holo select')",
    )
    p.add_argument(
        "--driver", default=None, help="a webcam index (default 0), a video file or a folder of frames"
    )
    p.add_argument("--no-loop", action="store_true", help="stop when a driver file ends (default: loop it)")
    p.add_argument(
        "--backend",
        choices=["auto", "neural", "mesh"],
        default="auto",
        help="avatar (default: neural with weights and a GPU, else mesh)",
    )
    p.add_argument(
        "--weights", type=Path, default=None, help="VOODOO 3D checkpoint (default: the user weights folder)"
    )
    p.add_argument("--views", type=int, default=24, help="views in the sweep (default 24)")
    p.add_argument(
        "--view-size",
        type=int,
        default=None,
        help="rendered size of the view (default: the window's height, at most 512)",
    )
    p.add_argument(
        "--sweep", choices=["offaxis", "orbit"], default="offaxis", help="view cameras (default offaxis)"
    )
    p.add_argument("--size", default="640x480", help="window size WxH (default 640x480)")


def run(args: argparse.Namespace) -> int:
    from app.commands.select import backend_factory
    from app.session import LiveCallError, resolve_source
    from app.ui.glwindow import display_available
    from pipeline.reenact import ReenactSettings

    def err(message: str) -> int:
        print(f"voodoo-holo preview: {message}", file=sys.stderr)
        return 2

    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
        settings = ReenactSettings(args.views, args.view_size or min(h, 512), args.sweep)
    except ValueError as e:
        return err(f"bad --size/--views/--view-size ({e})")
    if not display_available():
        return err("no display to open a window on (use 'voodoo-holo --headless' or 'voodoo-holo render')")
    try:
        source = resolve_source(args.source, backend=args.backend, weights=args.weights)
    except LiveCallError as e:
        return err(str(e))
    from app.ui.preview_app import LiveWorker, PreviewApp, PreviewOptions, PreviewStartError

    opts = PreviewOptions(source, args.driver, settings, not args.no_loop, (w, h))
    worker = LiveWorker(opts, backend_factory(args.backend, args.weights))
    try:
        worker.start()
    except PreviewStartError as e:
        return err(str(e))
    print(f"preview: {source.name} driven by {worker.source_description} ({worker.backend_name} avatar)")
    PreviewApp(opts, worker).run()
    return 0
