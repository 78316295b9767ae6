"""Turn what the user typed into a running live call: source, backend, layout, output."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.config import ConfigError, load_config
from app.layouts import LayoutError, auto_layout, load_layout
from app.paths import user_paths

__all__ = ["LiveCallError", "choose_backend", "count_cuda_gpus", "start_live_call"]


class LiveCallError(RuntimeError):
    """A live call that cannot start; the message says what to do."""


def count_cuda_gpus() -> int:
    """CUDA devices visible to a child process (this process never initialises CUDA)."""
    from app.doctor import _CUDA_PROBE, _child

    res = _child(_CUDA_PROBE, timeout=60.0)
    return len(res.get("gpus", []))


def choose_backend(requested: str, weights: Path | None, num_gpus: int, log=print) -> tuple[str, str | None]:
    """``(backend, weights_path)`` for ``auto`` | ``neural`` | ``mesh``."""
    found = weights if weights is not None else user_paths().find_weights()
    if weights is not None and not weights.is_file():
        raise LiveCallError(f"weights file {weights} does not exist")
    if requested == "mesh":
        return "mesh", None
    if requested == "neural":
        if found is None:
            raise LiveCallError(
                "the neural avatar needs the VOODOO 3D weights: put voodoo3d.pth where 'voodoo-holo doctor' "
                "says, or pass --weights PATH (or use --backend mesh)"
            )
        if num_gpus == 0:
            log("note: no CUDA GPU; the neural avatar runs on the CPU at a few seconds per frame")
        return "neural", str(found)
    if found is not None and num_gpus > 0:
        return "neural", str(found)
    why = "no VOODOO 3D weights found" if found is None else "no CUDA GPU for the neural avatar"
    log(f"using the weight-free mesh avatar ({why}; see 'voodoo-holo doctor')")
    return "mesh", None


def resolve_source(
    source: Path | None,
    interactive: bool = True,
    photos_folder: Path | None = None,
    backend: str = "auto",
    weights: Path | None = None,
) -> Path:
    """The source photo: ``source``, else the stored one, else (first run, with a display and
    ``interactive``) the one the user picks in the selection window."""
    if source is None:
        try:
            chosen = load_config().get("source_photo")
        except ConfigError as e:
            raise LiveCallError(str(e)) from e
        if not chosen and interactive:
            from app.ui.glwindow import display_available

            if display_available():
                from app.commands.select import choose_photo

                print("no photo chosen yet: opening the photo selection (voodoo-holo select)")
                picked = choose_photo(photos_folder, backend=backend, weights=weights)
                if picked is None:
                    raise LiveCallError("no photo chosen: pick one in the window, or pass --source PHOTO")
                chosen = str(picked)
        if not chosen:
            raise LiveCallError(
                "no source photo: pass --source PHOTO, or choose one with 'voodoo-holo select' first"
            )
        source = Path(chosen)
    source = source.expanduser()
    if not source.is_file():
        raise LiveCallError(f"source photo {source} does not exist")
    return source.resolve()


def choose_sink(headless: bool, preview: bool, headless_hint: str = "") -> str:
    """``headless`` | ``preview`` | ``lookingglass`` (the display falls back to a preview window
    when no Looking Glass is connected); headless when there is no display at all."""
    from app.ui.glwindow import display_available

    if headless:
        return "headless"
    if preview:
        return "preview"
    if not display_available():
        print(f"no display found: running headless{f' ({headless_hint})' if headless_hint else ''}")
        return "headless"
    return "lookingglass"


def start_live_call(args: argparse.Namespace) -> int:
    from app.launcher import CallSettings, Launcher

    source = resolve_source(args.source, not args.headless, backend=args.backend, weights=args.weights)
    num_gpus = count_cuda_gpus()
    backend, weights = choose_backend(args.backend, args.weights, num_gpus)
    try:
        layout = load_layout(args.layout) if args.layout else auto_layout(num_gpus)
    except LayoutError as e:
        raise LiveCallError(str(e)) from e
    if args.views or args.view_size:
        layout = layout.with_views(args.views or layout.num_views, args.view_size)
    sink = choose_sink(args.headless, args.preview, "use --metrics-out to see what happens")
    driver = args.driver
    if driver is not None and not str(driver).isdigit():
        driver = str(Path(driver).expanduser().resolve())
    if args.remote and not args.expose:
        raise LiveCallError("--remote needs --expose HOST:PORT so the remote role can reach this machine")
    settings = CallSettings(
        source=str(source),
        driver=driver,
        backend=backend,
        weights=weights,
        sink=sink,
        duration_s=args.duration,
        metrics_out=args.metrics_out,
        loop_driver=not args.no_loop,
        expose=args.expose,
        remote_roles=tuple(args.remote),
        options={
            "sweep": args.sweep,
            "calibration": str(args.calibration) if args.calibration else None,
        },
    )
    try:
        launcher = Launcher(layout, settings)
    except ValueError as e:
        raise LiveCallError(str(e)) from e
    if settings.expose:
        print(
            f"links on tcp at {settings.expose}, encrypted (CURVE); this machine's key: {launcher.keypair.public_text}"
        )
    return launcher.run()
