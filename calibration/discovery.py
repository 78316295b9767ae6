"""Where a Looking Glass calibration comes from, and remembering the user's choice.

Order used by :func:`resolve_calibration`:

1. a file the user names (``--calibration PATH``);
2. the calibration stored earlier in the user's settings (``looking_glass_calibration``);
3. a connected Looking Glass that exposes its calibration drive: ``LKG_calibration/visual.json``
   on a mounted volume (Portrait and Go do; other models may not). Looked for under
   ``/media/<user>/*``, ``/run/media/<user>/*``, ``/media/*`` and ``/mnt/*`` on Linux,
   ``/Volumes/*`` on macOS and every drive letter on Windows.

Looking Glass Bridge (which knows the calibration of every model) is not queried here.
"""

from __future__ import annotations

import getpass
import os
import shutil
import string
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from calibration.visual import Calibration, CalibrationError, load_visual

__all__ = [
    "CONFIG_KEY",
    "FoundCalibration",
    "NoCalibrationError",
    "candidate_drive_roots",
    "find_drive_calibrations",
    "resolve_calibration",
    "store_calibration",
    "stored_calibration_path",
]

#: Key in the user's settings file (app.config) that holds the chosen visual.json path.
CONFIG_KEY = "looking_glass_calibration"
DRIVE_RELATIVE_PATH = Path("LKG_calibration") / "visual.json"


class NoCalibrationError(LookupError):
    """No calibration was given, stored or found on a connected display."""


@dataclass(frozen=True)
class FoundCalibration:
    calibration: Calibration
    path: Path
    origin: str  # "argument", "settings" or "drive"


def candidate_drive_roots(platform: str | None = None) -> list[Path]:
    """Folders whose sub-folders (or which themselves) may be a mounted Looking Glass drive."""
    platform = sys.platform if platform is None else platform
    if platform.startswith("win"):
        return [Path(f"{letter}:\\") for letter in string.ascii_uppercase]
    if platform == "darwin":
        return [Path("/Volumes")]
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = os.environ.get("USER", "")
    roots = [Path("/media") / user, Path("/run/media") / user] if user else []
    return [*roots, Path("/media"), Path("/mnt")]


def find_drive_calibrations(roots: Sequence[Path] | None = None) -> list[Path]:
    """Every ``LKG_calibration/visual.json`` directly in, or one level below, ``roots``."""
    found: list[Path] = []
    for root in candidate_drive_roots() if roots is None else roots:
        for base in _self_and_children(root):
            candidate = base / DRIVE_RELATIVE_PATH
            try:
                if candidate.is_file() and candidate not in found:
                    found.append(candidate)
            except OSError:
                continue  # an unreadable mount point (e.g. an empty card reader) is not a drive
    return found


def _self_and_children(root: Path) -> Iterable[Path]:
    yield root
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        return
    yield from children


def stored_calibration_path() -> Path | None:
    """The calibration file stored in the user's settings, if any."""
    from app.config import load_config

    value = load_config().get(CONFIG_KEY)
    return Path(value) if isinstance(value, str) and value else None


def store_calibration(calibration: Calibration) -> Path:
    """Copy the calibration into the user's calibration folder and remember it in the settings."""
    from app.config import update_config
    from app.paths import ensure, user_paths

    folder = ensure(user_paths().calibration_dir)
    name = "".join(ch for ch in calibration.serial if ch.isalnum() or ch in "-_") or "visual"
    dest = folder / f"{name}.json"
    tmp = dest.with_suffix(".json.tmp")
    tmp.write_text(calibration.to_json(), encoding="utf-8")
    shutil.move(str(tmp), dest)
    update_config(**{CONFIG_KEY: str(dest)})
    return dest


def resolve_calibration(
    explicit: str | Path | None = None, drive_roots: Sequence[Path] | None = None
) -> FoundCalibration:
    """Pick the calibration (see the module docstring); raises :class:`CalibrationError` for a
    bad file and :class:`NoCalibrationError` when there is none."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        return FoundCalibration(load_visual(path), path, "argument")
    stored = stored_calibration_path()
    if stored is not None:
        if not stored.is_file():
            raise CalibrationError(
                None,
                "the calibration remembered in your settings is gone; pass --calibration PATH to choose another",
                str(stored),
            )
        return FoundCalibration(load_visual(stored), stored, "settings")
    drives = find_drive_calibrations(drive_roots)
    if drives:
        return FoundCalibration(load_visual(drives[0]), drives[0], "drive")
    raise NoCalibrationError(
        "no Looking Glass calibration: none was given (--calibration PATH), none is stored in your "
        "settings, and no connected Looking Glass drive (LKG_calibration/visual.json) was found. "
        "Copy visual.json from the display's USB drive, or export it from Looking Glass Bridge."
    )
