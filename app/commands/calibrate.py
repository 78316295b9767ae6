"""``voodoo-holo calibrate [display|webcam]``.

* ``calibrate`` (or ``calibrate display``): show the Looking Glass calibration that was found
  (or ask for its ``visual.json``), put the numbered test pattern on the Looking Glass and
  nudge ``center`` with the arrow keys; ``s`` saves it in your settings.
* ``calibrate webcam``: hold a printed chessboard in front of the webcam (or give frames with
  ``--driver``); the intrinsics are estimated with OpenCV and stored (``webcam_intrinsics``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "what",
        nargs="?",
        choices=["display", "webcam"],
        default="display",
        help="what to calibrate (default: display)",
    )
    p.add_argument(
        "--calibration",
        type=Path,
        default=None,
        help="display: the Looking Glass visual.json (default: found through Looking Glass Bridge, a Gen1 USB "
        "link, the display's drive, else your settings)",
    )
    p.add_argument(
        "--driver",
        default=None,
        help="webcam: a webcam index (default 0), a video file or a folder of frames",
    )
    p.add_argument(
        "--board", default="9x6", help="webcam: inner corners of the chessboard, COLSxROWS (default 9x6)"
    )
    p.add_argument(
        "--square-mm", type=float, default=25.0, help="webcam: side of one printed square in mm (default 25)"
    )
    p.add_argument(
        "--views", type=int, default=15, help="webcam: distinct board views to collect (default 15)"
    )
    p.add_argument(
        "--max-seconds", type=float, default=120.0, help="webcam: give up after this long (default 120)"
    )


def _err(message: str) -> int:
    print(f"voodoo-holo calibrate: {message}", file=sys.stderr)
    return 2


def run_display(args: argparse.Namespace) -> int:
    from app.calibration_settings import find_display
    from app.platform import display_available
    from calibration.discovery import NoCalibrationError, NotLightFieldError
    from calibration.visual import CalibrationError

    try:
        found = find_display(args.calibration)
        calibration = found.lenticular()
    except (CalibrationError, NotLightFieldError) as e:
        return _err(str(e))
    except NoCalibrationError as e:
        if not sys.stdin.isatty():
            return _err(f"{e} Then run: voodoo-holo calibrate --calibration PATH")
        print(e)
        answer = input("Path to the display's visual.json (empty to stop): ").strip()
        if not answer:
            return 2
        try:
            found = find_display(answer)
            calibration = found.lenticular()
        except (CalibrationError, NoCalibrationError) as e2:
            return _err(str(e2))
    c = calibration
    print(f"Looking Glass: {found.describe()}")
    print(f"calibration: pitch {c.pitch:.4f}, slope {c.slope:.4f}, center {c.center:.4f}")
    if not display_available():
        return _err(
            "no display to show the test pattern on (connect the Looking Glass and run this on its desktop)"
        )
    from app.ui.calibrate_app import CalibrateApp

    print("arrows: nudge center (Shift: finer, up/down: one view)   r: revert   s: save   q: quit")
    saved = CalibrateApp(calibration, window_xy=found.window_xy).run()
    if saved is None and found.route != "settings" and found.adjusted_copy is None:
        print("not saved; 'voodoo-holo calibrate' again and press s to keep this calibration")
    return 0


def run_webcam(args: argparse.Namespace) -> int:
    import time

    from app.calibration_settings import store_intrinsics
    from calibration.webcam import CameraCalibrationError, ChessboardConfig, ViewCollector
    from pipeline.capture import CaptureError, open_source

    try:
        cols, rows = (int(v) for v in args.board.lower().split("x"))
        board = ChessboardConfig(
            (cols, rows), args.square_mm, min_views=min(8, args.views), max_views=args.views
        )
    except ValueError as e:
        return _err(f"--board must look like 9x6 and --views be >= 3 ({e})")
    collector = ViewCollector(board)
    print(
        f"show the {cols + 1}x{rows + 1}-square chessboard to the camera: whole board visible, at different places, "
        "distances and tilts"
    )
    deadline = time.monotonic() + args.max_seconds
    try:
        with open_source(args.driver, loop=False) as src:
            while not collector.enough and time.monotonic() < deadline:
                frame = src.read()
                if frame is None:
                    break
                if collector.offer(frame.rgb_u8):
                    print(f"  view {len(collector.views)}/{board.max_views}")
        intr = collector.calibrate()
    except (CaptureError, CameraCalibrationError) as e:
        return _err(str(e))
    store_intrinsics(intr)
    print(
        f"webcam {intr.width_px}x{intr.height_px}: fx {intr.fx_px:.1f} px, fy {intr.fy_px:.1f} px, "
        f"centre ({intr.cx_px:.1f}, {intr.cy_px:.1f}), horizontal field of view {intr.horizontal_fov_deg():.1f} deg, "
        f"reprojection error {intr.rms_px:.2f} px from {intr.views} views; stored in your settings"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    return run_webcam(args) if args.what == "webcam" else run_display(args)
