"""``voodoo-holo render``: re-enact a photo from a driver video, offline, and write a video.

With no ``--source``/``--driver`` it renders the bundled samples (``astronaut.jpg`` driven by
``hopper_driver.mp4``) with the weight-free mesh avatar: no GPU, display, webcam or weights
needed. See :mod:`app.render` for what is written and how interruptions and ``--resume``
work.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROG = "voodoo-holo render"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from app.options import add_avatar_flags, add_output_flags, add_view_flags
    from app.render import DEFAULT_IMAGE_FPS
    from pipeline.reenact import DEFAULT_VIEW_SIZE

    p.add_argument(
        "--source", type=Path, default=None, help="portrait photo to re-enact (default: the bundled sample)"
    )
    p.add_argument(
        "--driver",
        type=Path,
        default=None,
        help="video file or folder of images that drives the face (default: the bundled sample clip)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("."),
        metavar="PATH",
        help="output folder (default: the current folder), or the .mp4 file to write for --format quilt/sbs "
        "(used as given; Looking Glass software reads a quilt's layout from a name like me_qs6x4a0.75.mp4)",
    )
    p.add_argument(
        "--format",
        choices=["quilt", "views", "sbs"],
        default="quilt",
        help="quilt: one Looking Glass quilt video (default); views: one video per view; "
        "sbs: source | driver | result side by side",
    )
    add_avatar_flags(p)
    add_view_flags(p, views=24, view_size=DEFAULT_VIEW_SIZE, aspect=True)
    add_output_flags(p, windows=False)
    p.add_argument(
        "--fps",
        type=float,
        default=DEFAULT_IMAGE_FPS,
        help=f"frame rate of a folder of images (default {DEFAULT_IMAGE_FPS:g}; a video keeps its own)",
    )
    p.add_argument(
        "--frames", type=int, default=None, metavar="N", help="render only the first N driver frames"
    )
    p.add_argument("--crf", type=int, default=20, help="H.264 quality, 0-51, lower is better (default 20)")
    p.add_argument("--no-audio", action="store_true", help="do not copy the driver's audio track")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted render: keep the frames already in the output and render the rest "
        "(only with the same source, driver and settings as before)",
    )
    p.add_argument("--force", action="store_true", help="replace outputs that already exist")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's start-up chatter
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # a bad driver file gets our one line only
    from app.compose import ChoiceError
    from app.options import avatar_from_args, output_from_args, views_from_args
    from app.render import RenderConfig, RenderError, render_offline, sample_driver, sample_source
    from app.still import is_still_driver, render_still
    from app.text import plural

    source = args.source if args.source is not None else sample_source()
    driver = args.driver if args.driver is not None else sample_driver()
    if args.source is None or args.driver is None:
        used = [
            f"{w} {p.name}"
            for w, p, given in (("source", source, args.source), ("driver", driver, args.driver))
            if given is None
        ]
        print(f"using the bundled sample {' and '.join(used)}")
    try:
        avatar = avatar_from_args(args)
        output = output_from_args(args)
        plan = views_from_args(args, output, views=24, view_size=args.view_size)
        config = RenderConfig(
            source=source,
            driver=driver,
            plan=plan,
            avatar=avatar,
            out=args.out,
            format=args.format,
            image_fps=args.fps,
            max_frames=args.frames,
            crf=args.crf,
            resume=args.resume,
            force=args.force,
            audio=not args.no_audio,
        )
    except (ChoiceError, ValueError) as e:  # a bad option value or a missing weights file
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    if avatar.note:
        print(avatar.note)
    try:
        if is_still_driver(config.driver):
            result = render_still(config, progress=not args.quiet)
        else:
            result = render_offline(config, progress=not args.quiet)
    except RenderError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"{PROG}: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1

    where = result.paths[0] if len(result.paths) == 1 else result.paths[0].parent
    w, h = result.frame_size
    if result.interrupted and result.frames_in_output == 0:
        print("interrupted before the first frame was written; nothing was saved", file=sys.stderr)
        return 130
    if result.interrupted:
        print(
            f"interrupted: {where} holds the first {plural(result.frames_in_output, 'frame')} and plays as it is; "
            "run the same command with --resume to finish it",
            file=sys.stderr,
        )
        return 130
    if result.still:
        print(f"wrote {where.resolve()}: a still, {w}x{h}; rendered in {result.elapsed_s:.0f} s")
        return 0
    secs = result.frames_total / result.fps
    print(
        f"wrote {where.resolve()}: {plural(result.frames_total, 'frame')}, {w}x{h}, {result.fps:.3g} fps ({secs:.1f} s)"
        + (", with the driver's audio" if result.audio else "")
        + (f"; resumed at frame {result.resumed_from}" if result.resumed_from else "")
        + f"; rendered in {result.elapsed_s:.0f} s"
    )
    if result.frames_without_face:
        print(
            f"note: no face in {result.frames_without_face} of {plural(result.frames_total, 'driver frame')}; "
            "the last pose was held there"
        )
    if result.frames_not_finite:
        print(
            f"{PROG}: {result.frames_not_finite} of {result.frames_rendered} rendered frames are broken "
            f"({result.not_finite_reason}); check the weights with 'voodoo-holo doctor', or use --precision float32",
            file=sys.stderr,
        )
        return 1
    return 0
