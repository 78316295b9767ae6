"""``voodoo-holo preview --source PHOTO [--driver FILE]``: the single-view preview on a monitor.

Re-enacts PHOTO from the webcam (or a video file / folder of frames) in one process and shows
one view at a time; drag, the arrow keys or the wheel sweep through the views; the status line
shows the view, FPS and capture-to-display latency.
"""

from __future__ import annotations

import argparse
import sys

from app.options import add_avatar_flags, add_driver_flags, add_output_flags, add_source_flag, add_view_flags


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_flag(p)
    add_driver_flags(p)
    add_avatar_flags(p)
    add_view_flags(p, views=24, view_size=None, size_help="the window's height, at most 512")
    add_output_flags(p, windows=False)
    p.add_argument("--size", default="640x480", help="window size WxH (default 640x480)")


def run(args: argparse.Namespace) -> int:
    from app.commands.select import first_run_picker
    from app.compose import ChoiceError, choose_output, resolve_source
    from app.options import avatar_from_args, views_from_args
    from app.platform import display_available

    def err(message: str) -> int:
        print(f"voodoo-holo preview: {message}", file=sys.stderr)
        return 2

    if not display_available():
        return err("no display to open a window on (use 'voodoo-holo --headless' or 'voodoo-holo render')")
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
        source = resolve_source(args.source, pick=first_run_picker(args))
        avatar = avatar_from_args(args)
        output = choose_output("preview", args.calibration)
        plan = views_from_args(args, output, views=24, view_size=min(h, 512))
    except ChoiceError as e:
        return err(str(e))
    except ValueError as e:
        return err(f"bad --size/--views/--view-size ({e})")
    from app.ui.preview_app import LiveWorker, PreviewApp, PreviewOptions, PreviewStartError

    opts = PreviewOptions(source, args.driver, plan.views, not args.no_loop, (w, h))
    worker = LiveWorker(opts, lambda: avatar.build(progress=False))
    try:
        worker.start()
    except PreviewStartError as e:
        return err(str(e))
    print(f"preview: {source.name} driven by {worker.source_description} ({worker.backend_name} avatar)")
    PreviewApp(opts, worker).run()
    return 0
