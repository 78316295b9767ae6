"""Command-line flags shared by several commands, declared once, and turned into the typed
choices of :mod:`app.compose`.

Each ``add_*`` function adds one group of flags to a command's parser; the matching
``*_from_args`` function makes the choice from what was parsed. Commands differ only in the
defaults they pass (e.g. how many views when none are asked for).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from app.compose import (
    AvatarChoice,
    OutputChoice,
    ViewPlan,
    choose_avatar,
    choose_output,
    plan_views,
)

__all__ = [
    "add_avatar_flags",
    "add_driver_flags",
    "add_output_flags",
    "add_source_flag",
    "add_view_flags",
    "avatar_from_args",
    "output_from_args",
    "views_from_args",
]


def add_source_flag(
    p: argparse.ArgumentParser, help_default: str = "the photo chosen with 'voodoo-holo select'"
) -> None:
    p.add_argument("--source", type=Path, default=None, help=f"your portrait photo (default: {help_default})")


def add_driver_flags(p: argparse.ArgumentParser, *, loop: bool = True) -> None:
    p.add_argument(
        "--driver",
        default=None,
        help="what drives the avatar: a webcam index (default 0), a video file or a folder of frames",
    )
    if loop:
        p.add_argument(
            "--no-loop", action="store_true", help="end when a driver file ends (default: loop it)"
        )


def add_avatar_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        choices=["auto", "neural", "mesh"],
        default="auto",
        help="avatar: neural (VOODOO 3D, needs the weights; a GPU for live use), mesh (weight-free), "
        "auto (default: neural when the weights and a CUDA GPU are found, else mesh)",
    )
    p.add_argument(
        "--weights", type=Path, default=None, help="VOODOO 3D checkpoint (default: the user weights folder)"
    )
    p.add_argument(
        "--precision",
        choices=["float32", "bfloat16", "float16"],
        default="float32",
        help="neural avatar: network precision (half precision needs a CUDA GPU; default float32)",
    )


def avatar_from_args(args: argparse.Namespace) -> AvatarChoice:
    """Raises :class:`app.compose.ChoiceError`."""
    return choose_avatar(args.backend, args.weights, precision=args.precision)


def add_view_flags(
    p: argparse.ArgumentParser,
    *,
    views: int | None,
    view_size: int | None,
    views_help: str = "",
    size_help: str = "",
    aspect: bool = False,
) -> None:
    """``--views``, ``--view-size``, ``--sweep``, ``--focus`` (and ``--aspect`` where no display
    decides it)."""
    p.add_argument(
        "--views",
        type=int,
        default=views,
        help=f"number of views in the sweep (default: {views_help or views})",
    )
    p.add_argument(
        "--view-size",
        type=int,
        default=view_size,
        metavar="PX",
        help=f"longer side of each rendered view in pixels (default: {size_help or view_size})",
    )
    p.add_argument(
        "--sweep",
        choices=["offaxis", "orbit"],
        default="offaxis",
        help="view cameras: off-axis shifted frusta as Looking Glass prescribes (default) or an orbit",
    )
    p.add_argument(
        "--focus",
        type=float,
        default=0.0,
        metavar="CM",
        help="where the hologram is sharpest (the display's surface): centimetres in front of the eyes "
        "(default 0: through the eyes; 3: the nose tip; negative: into the head)",
    )
    if aspect:
        p.add_argument(
            "--aspect",
            type=float,
            default=None,
            help="width/height of each view, the display's aspect (default: the --calibration display's, "
            "else 0.75: Looking Glass Portrait)",
        )


def views_from_args(
    args: argparse.Namespace, output: OutputChoice, *, views: int, view_size: int
) -> ViewPlan:
    """The views for ``output`` (``views``/``view_size``: defaults when the flags were not given).
    Raises ValueError for impossible values."""
    return plan_views(
        views if args.views is None else args.views,  # 0 is refused, not taken for "the default"
        view_size if args.view_size is None else args.view_size,
        sweep=args.sweep,
        aspect=getattr(args, "aspect", None),
        focus_cm=args.focus,
        calibration=output.calibration,
        default_grid=output.default_grid,
    )


def add_output_flags(p: argparse.ArgumentParser, *, windows: bool = True) -> None:
    """``--headless`` / ``--preview`` (commands that open a window) and ``--calibration``."""
    if windows:
        out = p.add_mutually_exclusive_group()
        out.add_argument("--headless", action="store_true", help="no window (servers, benchmarks, tests)")
        out.add_argument(
            "--preview",
            action="store_true",
            help="single-view preview window even if a Looking Glass is connected",
        )
    found = "found automatically" if windows else "none"
    p.add_argument(
        "--calibration",
        type=Path,
        default=None,
        metavar="VISUAL.json",
        help=f"Looking Glass calibration (default: {found}); the views take its aspect, view cone and quilt",
    )


def output_from_args(args: argparse.Namespace, *, headless_hint: str = "") -> OutputChoice:
    """Raises :class:`app.compose.ChoiceError`."""
    if getattr(args, "headless", False):
        requested = "headless"
    elif getattr(args, "preview", False):
        requested = "preview"
    elif not hasattr(args, "headless"):
        requested = "headless"  # a command without windows (render)
    else:
        requested = "auto"
    return choose_output(requested, args.calibration, headless_hint=headless_hint)  # type: ignore[arg-type]
