"""``voodoo-holo select [FOLDER]``: choose the source photo that represents you.

Opens a window with the photos of FOLDER (default: your Pictures folder) ranked by how well
they will work; selecting one shows its aligned crop, matte and an orbiting 3D preview from the
avatar backend; "use this photo" stores it in your settings (``source_photo``) so that a plain
``voodoo-holo`` starts a call with it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "folder", nargs="?", type=Path, default=None, help="folder of photos (default: your Pictures folder)"
    )
    p.add_argument(
        "--camera",
        default="auto",
        help="webcam for 'take a photo': an index, 'none', or a video file / folder of frames (default: auto)",
    )
    p.add_argument(
        "--backend",
        choices=["auto", "neural", "mesh"],
        default="auto",
        help="avatar of the 3D preview (default: neural with weights and a GPU, else mesh)",
    )
    p.add_argument(
        "--weights", type=Path, default=None, help="VOODOO 3D checkpoint (default: the user weights folder)"
    )


def default_photos_folder() -> Path:
    import platformdirs

    return Path(platformdirs.user_pictures_dir())


def detect_camera(spec: str) -> str | None:
    """The camera for 'take a photo': ``auto`` finds webcam 0 when one is present."""
    if spec == "none":
        return None
    if spec != "auto":
        return spec
    if sys.platform.startswith("linux"):
        return "0" if any(Path("/dev").glob("video*")) else None
    import cv2

    cap = cv2.VideoCapture(0)
    try:
        return "0" if cap.isOpened() else None
    finally:
        cap.release()


def backend_factory(requested: str, weights: Path | None):
    """A function that builds the avatar backend (called in the preview's own thread)."""

    def make():
        from app.paths import user_paths
        from app.session import choose_backend, count_cuda_gpus
        from pipeline.reenact import create_backend

        found = weights if weights is not None else user_paths().find_weights()
        gpus = count_cuda_gpus() if requested != "mesh" and found is not None else 0
        name, w = choose_backend(requested, weights, gpus, log=lambda m: print(f"select: {m}"))
        return create_backend(name, weights=w, device="cuda" if gpus else "cpu", progress=False)  # type: ignore[arg-type]

    return make


def choose_photo(
    folder: Path | None, camera: str = "auto", backend: str = "auto", weights: Path | None = None
) -> Path | None:
    """Open the selection window; the chosen photo (already stored in the settings) or None."""
    from app.ui.select_app import SelectApp, SelectOptions

    opts = SelectOptions(
        folder=(folder or default_photos_folder()).expanduser(), camera=detect_camera(camera)
    )
    return SelectApp(opts, backend_factory(backend, weights)).run()


def run(args: argparse.Namespace) -> int:
    from app.ui.glwindow import display_available

    if args.folder is not None and not args.folder.expanduser().is_dir():
        print(f"voodoo-holo select: {args.folder} is not a folder; give a folder of photos", file=sys.stderr)
        return 2
    if not display_available():
        print(
            "voodoo-holo select: no display to open a window on; pass a photo directly: voodoo-holo --source PHOTO",
            file=sys.stderr,
        )
        return 2
    chosen = choose_photo(args.folder, args.camera, args.backend, args.weights)
    if chosen is None:
        print("no photo chosen; your settings are unchanged")
        return 1
    print(f"your photo: {chosen}\nstart a call with: voodoo-holo")
    return 0
