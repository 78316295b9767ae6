"""``voodoo-holo [live] --source me.jpg``: a live call on this machine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.options import add_avatar_flags, add_driver_flags, add_output_flags, add_source_flag, add_view_flags


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_flag(p)
    add_driver_flags(p)
    add_avatar_flags(p)
    p.add_argument(
        "--layout",
        default=None,
        help="process layout: seven-gpu, one-gpu, cpu or a JSON file (default: chosen from the GPUs present)",
    )
    add_view_flags(
        p,
        views=None,
        view_size=None,
        views_help="the layout's, 24",
        size_help="the layout's: 192 without a GPU",
    )
    add_output_flags(p)
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
        "--record",
        type=Path,
        default=None,
        metavar="FILE.mp4",
        help="record what the display shows as a quilt video, named by the quilt convention "
        "(call.mp4 -> call_qs6x4a0.75.mp4) so Looking Glass software can play it",
    )
    p.add_argument("--force", action="store_true", help="replace an existing --record file")
    p.add_argument(
        "--metrics-out",
        type=Path,
        default=None,
        metavar="FILE.json",
        help="write latency/FPS/restart metrics (rewritten twice a second; checked before the call starts)",
    )


def run(args: argparse.Namespace) -> int:
    from app.commands.select import first_run_picker
    from app.compose import ChoiceError, choose_avatar, resolve_source
    from app.live.launcher import CallSettings, Launcher
    from app.live.layouts import LayoutError, auto_layout, load_layout
    from app.options import output_from_args, views_from_args
    from app.platform import count_cuda_gpus

    def fail(message: str) -> int:
        print(f"voodoo-holo: {message}", file=sys.stderr)
        return 2

    if args.remote and not args.expose:
        return fail("--remote needs --expose HOST:PORT so the remote role can reach this machine")
    if args.metrics_out is not None:
        from app.outputs import OutputError, check_new_file

        try:
            check_new_file(args.metrics_out, flag="--metrics-out")
        except OutputError as e:
            return fail(str(e))
    try:
        source = resolve_source(args.source, pick=None if args.headless else first_run_picker(args))
        gpus = count_cuda_gpus()
        avatar = choose_avatar(args.backend, args.weights, precision=args.precision, count_gpus=lambda: gpus)
        layout = load_layout(args.layout) if args.layout else auto_layout(gpus)
        output = output_from_args(args, headless_hint="use --metrics-out to see what happens")
        plan = views_from_args(args, output, views=layout.num_views, view_size=layout.view_size)
    except (ChoiceError, LayoutError, ValueError) as e:
        return fail(str(e))
    for note in (avatar.note, output.note):
        if note:
            print(note)
    record = None
    if args.record is not None:
        from app.outputs import OutputError, check_new_file
        from display.quilt import quilt_filename

        given = args.record.expanduser()
        record = given.with_name(quilt_filename(given.stem, plan.quilt, given.suffix or ".mp4"))
        try:
            check_new_file(record, flag="--record", force=args.force)
        except OutputError as e:
            return fail(str(e))
        print(f"recording what is shown to {record}")
    driver = args.driver
    if driver is not None and not str(driver).isdigit():
        driver = str(Path(driver).expanduser().resolve())
    try:
        settings = CallSettings(
            source=source,
            driver=driver,
            avatar=avatar,
            output=output,
            plan=plan,
            duration_s=args.duration,
            metrics_out=args.metrics_out,
            loop_driver=not args.no_loop,
            expose=args.expose,
            remote_roles=tuple(args.remote),
            record=record,
        )
        launcher = Launcher(layout, settings)
    except ValueError as e:
        return fail(str(e))
    if args.expose:
        print(
            f"links on tcp at {args.expose}, encrypted (CURVE); this machine's key: {launcher.keypair.shareable}"
        )
    return launcher.run()
