"""``voodoo-holo select [FOLDER]``: choose the source photo that represents you.

Opens a window with the photos of FOLDER (default: your Pictures folder) ranked by how well
they will work; selecting one shows its aligned crop, matte and an orbiting 3D preview from the
avatar backend; "use this photo" stores it in your settings (``source_photo``) so that a plain
``voodoo-holo`` starts a call with it. Without photos there (a first run), the window offers the
bundled sample photos, the folders of this computer that hold photos, and a path to type.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from app.compose import AvatarChoice
from app.options import add_avatar_flags, avatar_from_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "folder", nargs="?", type=Path, default=None, help="folder of photos (default: your Pictures folder)"
    )
    p.add_argument(
        "--camera",
        default="auto",
        help="webcam for 'take a photo': an index, 'none', or a video file / folder of frames (default: auto)",
    )
    add_avatar_flags(p)


def default_photos_folder() -> Path:
    import platformdirs

    return Path(platformdirs.user_pictures_dir())


def sample_photos_folder() -> Path:
    """The bundled sample portraits (``assets/samples``), offered on a first run."""
    from importlib import resources

    return Path(str(resources.files("assets.samples")))


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


def no_camera_note(spec: str) -> str:
    """What the window says when C is pressed and there is no camera."""
    if spec == "none":
        return "The webcam is off (--camera none). Start 'voodoo-holo select' without it to take a photo."
    where = " (no /dev/video* device)" if sys.platform.startswith("linux") else ""
    return (
        f"No webcam was found{where}. Connect one and open this window again, or give a video "
        "or a folder of frames with --camera FILE."
    )


def choose_photo(folder: Path | None, avatar: AvatarChoice, camera: str = "auto") -> Path | None:
    """Open the selection window (its 3D preview uses ``avatar``); the chosen photo (already
    stored in the settings) or None."""
    from app.paths import user_paths
    from app.ui.select_app import SelectApp, SelectOptions

    pictures = default_photos_folder()
    captures = user_paths().data_dir / "photos"  # where the window saves webcam photos
    opts = SelectOptions(
        folder=(folder or pictures).expanduser(),
        camera=detect_camera(camera),
        camera_note=no_camera_note(camera),
        samples=sample_photos_folder(),
        extra_folders=((pictures, "Pictures"), (captures, "Webcam photos")),
    )
    return SelectApp(opts, lambda: avatar.build(progress=False)).run()


def first_run_picker(args: argparse.Namespace) -> Callable[[], Path | None] | None:
    """For commands given no photo on the first run: a function opening the picker (with the
    avatar of ``args``), or None when no window can be shown."""
    from app.platform import display_available

    if not display_available():
        return None

    def pick() -> Path | None:
        print("no photo chosen yet: opening the photo selection (voodoo-holo select)")
        return choose_photo(None, avatar_from_args(args))

    return pick


def run(args: argparse.Namespace) -> int:
    from app.compose import ChoiceError
    from app.platform import display_available

    if args.folder is not None and not args.folder.expanduser().is_dir():
        print(f"voodoo-holo select: {args.folder} is not a folder; give a folder of photos", file=sys.stderr)
        return 2
    if not display_available():
        print(
            "voodoo-holo select: no display to open a window on; pass a photo directly: voodoo-holo --source PHOTO",
            file=sys.stderr,
        )
        return 2
    try:
        chosen = choose_photo(args.folder, avatar_from_args(args), args.camera)
    except ChoiceError as e:
        print(f"voodoo-holo select: {e}", file=sys.stderr)
        return 2
    if chosen is None:
        print("no photo chosen; your settings are unchanged")
        return 1
    print(f"your photo: {chosen}\nstart a call with: voodoo-holo")
    return 0
