"""``voodoo-holo``: the command-line entry point.

``voodoo-holo --source me.jpg`` starts a live call (the default action); every other action is
a subcommand. Subcommands are listed in :data:`COMMANDS`; each one is a module in
:mod:`app.commands` with ``add_arguments(parser)`` and ``run(args) -> int``. A subcommand
whose module does not exist yet says so and exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass

from app import __version__
from app.commands.keys import join_key_values
from app.config import ConfigError


@dataclass(frozen=True)
class Command:
    name: str
    module: str
    help: str
    description: str


COMMANDS: tuple[Command, ...] = (
    Command(
        "live",
        "app.commands.live",
        "start a live call on this machine (the default action)",
        "Re-enact SOURCE from the webcam (or --driver FILE) and show it on the Looking Glass, "
        "or in a preview window when no Looking Glass is connected.",
    ),
    Command(
        "preview",
        "app.commands.preview",
        "single-view preview on an ordinary monitor",
        "Show one view at a time in a regular window; drag or use the arrow keys to sweep the views.",
    ),
    Command(
        "select",
        "app.commands.select",
        "choose the source photo that represents you",
        "Browse a folder of photos ranked by how well they will work, and pick the one to use in calls.",
    ),
    Command(
        "prepare",
        "app.commands.prepare",
        "show what the model will see of a photo",
        "Align, crop and matte a portrait photo and estimate its head pose; write the crop, "
        "the matte and a JSON report.",
    ),
    Command(
        "render",
        "app.commands.render",
        "re-enact a photo from a video file, offline",
        "Render every frame of a driver video and write a quilt video for a Looking Glass, "
        "one video per view, or a side-by-side comparison.",
    ),
    Command(
        "lenticular",
        "app.commands.lenticular",
        "turn a quilt image into what a Looking Glass panel shows",
        "Interleave a quilt image with a display calibration (visual.json) and write the native panel image.",
    ),
    Command(
        "calibrate",
        "app.commands.calibrate",
        "check and adjust the Looking Glass calibration, or calibrate the webcam",
        "Show a test pattern on the Looking Glass and nudge its centre; 'calibrate webcam' measures "
        "webcam intrinsics from a printed chessboard.",
    ),
    Command(
        "call",
        "app.commands.call",
        "two-party call over the network",
        "Send your avatar to a peer and show theirs: 'call --listen' waits for a peer, 'call HOST' connects.",
    ),
    Command(
        "keys",
        "app.commands.keys",
        "show or create this machine's call keys",
        "Create and print this machine's public key (ZeroMQ CURVE) and list accepted peers.",
    ),
    Command(
        "worker",
        "app.commands.worker",
        "run one role of the live pipeline (for other hosts)",
        "Run a single pipeline role (capture, estimator, renderer, compositor) and connect it to a launcher.",
    ),
    Command(
        "bench",
        "app.commands.bench",
        "measure speed: model, tracker, render, pipeline",
        "Time each stage on this machine and print a table (median and p90 ms, views/s, FPS).",
    ),
    Command(
        "export",
        "app.commands.export",
        "export the neural model to ONNX or TensorRT",
        "Export the encoder, expression and super-resolution networks to ONNX, or build TensorRT engines.",
    ),
    Command(
        "doctor",
        "app.commands.doctor",
        "what this machine can do",
        "Report Python and package versions, GPUs, TensorRT, OpenGL, displays, webcams, and where "
        "weights and calibration are looked for.",
    ),
)

_BY_NAME = {c.name: c for c in COMMANDS}

EPILOG = """\
examples:
  voodoo-holo --source me.jpg              live call with your webcam
  voodoo-holo render                       offline render of the bundled sample (no GPU needed)
  voodoo-holo prepare me.jpg --out check/  see the crop, matte and pose the model will use
  voodoo-holo doctor                       what this machine can run

Run 'voodoo-holo COMMAND --help' for the options of a command.
The official VOODOO 3D weights (voodoo3d.pth) go in the folder 'voodoo-holo doctor' prints;
without them the weight-free mesh avatar is used.
"""


def _load(cmd: Command):
    try:
        return importlib.import_module(cmd.module)
    except ModuleNotFoundError as e:
        if e.name == cmd.module:
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voodoo-holo",
        description="One-photo 3D telepresence for Looking Glass displays (VOODOO 3D re-enactment).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"voodoo-holo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in COMMANDS:
        p = sub.add_parser(
            cmd.name,
            help=cmd.help,
            description=cmd.description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod = _load(cmd)
        if mod is not None and hasattr(mod, "add_arguments"):
            mod.add_arguments(p)
        else:
            p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    from app.platform import apply_thread_environment

    apply_thread_environment()  # before anything imports numpy
    argv = list(sys.argv[1:] if argv is None else argv)
    # The live call is the default action: 'voodoo-holo --source me.jpg' == 'voodoo-holo live ...'.
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["live", *argv]
    parser = build_parser()
    args = parser.parse_args(join_key_values(argv))
    cmd = _BY_NAME[args.command]
    mod = _load(cmd)
    if mod is None or not hasattr(mod, "run"):
        print(
            f"voodoo-holo {cmd.name}: not implemented yet in this version ({cmd.help}).",
            file=sys.stderr,
        )
        return 2
    try:
        return int(mod.run(args) or 0)
    except ConfigError as e:  # a damaged settings file, read by any command: say which, no traceback
        print(f"voodoo-holo {cmd.name}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
