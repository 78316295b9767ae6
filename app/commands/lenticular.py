"""``voodoo-holo lenticular``: interleave a quilt image into the native Looking Glass panel image.

``--out`` (and ``--save-quilt``) are not replaced when they exist unless ``--force``; that and
whether their folders take files are checked before any work.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DEFAULT_TEST_PATTERN_VIEWS = 24


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "quilt",
        nargs="?",
        metavar="QUILT_IMAGE",
        help="quilt image (PNG/JPEG); its layout is read from a name like 'head_qs6x4a0.75.png'",
    )
    p.add_argument(
        "--calibration",
        metavar="PATH",
        help="the display's visual.json (default: found through Looking Glass Bridge, a Gen1 USB link, the "
        "display's drive, else the copy stored in your settings)",
    )
    p.add_argument("--out", metavar="PNG", required=True, help="where to write the native panel image")
    p.add_argument("--cols", type=int, help="quilt columns (overrides the file name)")
    p.add_argument("--rows", type=int, help="quilt rows (overrides the file name)")
    p.add_argument("--aspect", type=float, help="view aspect width/height (overrides the file name)")
    p.add_argument("--views", type=int, help="views used when fewer than cols x rows tiles hold one")
    p.add_argument(
        "--filter",
        choices=("nearest", "linear"),
        default="nearest",
        help="nearest: each sub-pixel shows exactly one view; linear: blend neighbouring views (default nearest)",
    )
    p.add_argument(
        "--fit",
        choices=("fit", "fill"),
        default="fit",
        help="when the views' aspect differs from the panel's: letterbox (fit) or crop (fill)",
    )
    p.add_argument(
        "--backend",
        choices=("auto", "gl", "numpy"),
        default="auto",
        help="OpenGL shader (EGL, no window needed) or the numpy reference (default: gl when available)",
    )
    p.add_argument(
        "--test-pattern",
        action="store_true",
        help="interleave a numbered-views test pattern instead of QUILT_IMAGE (to check a calibration by eye)",
    )
    p.add_argument("--save-quilt", metavar="PNG", help="also write the quilt that was interleaved")
    p.add_argument(
        "--force", action="store_true", help="replace --out / --save-quilt files that already exist"
    )
    p.add_argument(
        "--remember", action="store_true", help="store this calibration in your settings for later runs"
    )


def _fail(message: str) -> int:
    print(f"voodoo-holo lenticular: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from PIL import Image

    from app.calibration_settings import find_display, remember_calibration
    from app.compose import plan_views
    from calibration.discovery import NoCalibrationError
    from calibration.visual import CalibrationError
    from display.patterns import numbered_views
    from display.quilt import QuiltLayout, parse_quilt_filename
    from pipeline.tracking.errors import PhotoError
    from pipeline.tracking.image_io import read_image

    if args.quilt is None and not args.test_pattern:
        return _fail("give a QUILT_IMAGE, or --test-pattern to interleave a numbered test pattern")
    if args.views is not None and args.views < 1:
        return _fail(f"--views must be at least 1, got {args.views}")
    problem = _check_outputs(args)
    if problem:
        return _fail(problem)
    try:
        found = find_display(args.calibration)
        cal = found.lenticular()
    except (CalibrationError, NoCalibrationError) as e:
        return _fail(str(e))
    shader = cal.shader_params()

    try:
        if args.test_pattern:
            views = DEFAULT_TEST_PATTERN_VIEWS if args.views is None else args.views
            size = max(64, min(512, max(cal.screen_w_px, cal.screen_h_px) // 4))
            grid = (found.default_quilt.cols, found.default_quilt.rows) if found.default_quilt else None
            layout = plan_views(views, size, calibration=cal, default_grid=grid).quilt
            quilt = numbered_views(layout)
        else:
            path = Path(args.quilt)
            if not path.exists():
                return _fail(f"{path}: file not found")
            try:
                quilt = read_image(path, what="quilt image")
            except PhotoError as e:
                return _fail(str(e))
            parsed = parse_quilt_filename(path)
            # A flag given wins over the name, even when it is 0 (then refused below).
            cols = args.cols if args.cols is not None else (parsed[0] if parsed else None)
            rows = args.rows if args.rows is not None else (parsed[1] if parsed else None)
            aspect = args.aspect if args.aspect is not None else (parsed[2] if parsed else None)
            if cols is None or rows is None or aspect is None:
                return _fail(
                    f"{path.name}: the quilt layout is not in the file name (like 'name_qs6x4a0.75.png'); "
                    "pass --cols, --rows and --aspect"
                )
            if cols < 1 or rows < 1:
                return _fail(f"the quilt needs at least 1 column and 1 row, got --cols {cols} --rows {rows}")
            layout = QuiltLayout.from_quilt_size(
                quilt.shape[1], quilt.shape[0], cols, rows, aspect, num_views=args.views or 0
            )
    except ValueError as e:
        return _fail(str(e))

    t0 = time.perf_counter()
    backend = args.backend
    if backend in ("auto", "gl"):
        try:
            native = _interleave_gl(quilt, layout, shader, args.filter, args.fit, cal.flip_image_y)
            backend = "gl"
        except RuntimeError as e:
            if backend == "gl":
                return _fail(str(e))
            print(f"note: OpenGL unavailable, using the numpy reference ({e})", file=sys.stderr)
            backend = "numpy"
    if backend == "numpy":
        from display.lenticular import interleave_numpy

        native = interleave_numpy(quilt, layout, shader, args.filter, args.fit, cal.flip_image_y)
    elapsed_ms = (time.perf_counter() - t0) * 1e3

    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(native).save(out)
        if args.save_quilt:
            Image.fromarray(quilt).save(args.save_quilt)
    except (OSError, ValueError) as e:
        return _fail(f"cannot write {out}: {e}")
    if args.remember:
        stored = remember_calibration(cal)
        print(f"calibration stored: {stored}")
    print(
        f"{out}: {cal.screen_w_px}x{cal.screen_h_px} px for {cal.serial or 'unnamed display'} "
        f"(calibration from {found.route}: {found.source}); quilt {layout.cols}x{layout.rows}, "
        f"{layout.num_views} views, tiles {layout.tile_w_px}x{layout.tile_h_px} px; "
        f"{args.filter} filter; {backend} backend, {elapsed_ms:.0f} ms"
    )
    return 0


def _check_outputs(args: argparse.Namespace) -> str:
    """Why the output files cannot be written ('' when they can)."""
    import os

    from app.outputs import OutputError, check_new_file

    outs = [("--out", Path(args.out))] + (
        [("--save-quilt", Path(args.save_quilt))] if args.save_quilt else []
    )
    inputs = [Path(args.quilt)] if args.quilt and not args.test_pattern else []
    for flag, path in outs:
        if any(p.exists() and path.exists() and os.path.samefile(p, path) for p in inputs):
            return f"{flag} {path} is the quilt image being read; choose another {flag}"
        try:
            check_new_file(path, flag=flag, force=args.force)
        except OutputError as e:
            return str(e)
    if args.save_quilt and Path(args.save_quilt).absolute() == Path(args.out).absolute():
        return "--out and --save-quilt name the same file; give two names"
    return ""


def _interleave_gl(quilt, layout, shader, filter_mode, fit, flip_y):
    """Interleave through the GLSL shader in a headless context (raises RuntimeError without GL)."""
    from app.platform import create_gl_context
    from display.gl import LenticularPass, QuiltTexture, check_gl_error
    from display.sinks import OffscreenSink

    ctx = create_gl_context()
    try:
        sink = OffscreenSink(ctx, shader.screen_w_px, shader.screen_h_px)
        tex = QuiltTexture(ctx, layout)
        lens = LenticularPass(ctx)
        try:
            tex.upload_quilt(quilt)
            lens.configure(shader, layout, fit, flip_y)
            sink.begin()
            lens.render(tex, filter_mode)
            native = sink.read_rgb()
            check_gl_error(ctx, "interleaving")
        finally:
            lens.release()
            tex.release()
            sink.release()
        return native
    finally:
        ctx.release()
