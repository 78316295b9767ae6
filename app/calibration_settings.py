"""The calibrations kept in the user's settings, and Looking Glass discovery with them filled in.

:mod:`calibration` knows nothing about where the user's files live; this module is the app's
side: the settings keys, the user's calibration folder (:mod:`app.paths`), and
:func:`find_display`, which is :func:`calibration.discovery.resolve_calibration` with the stored
calibration passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from app.config import load_config, update_config
from app.paths import user_paths
from calibration.discovery import FoundCalibration, resolve_calibration, store_calibration
from calibration.hid import HidBackend
from calibration.visual import Calibration

if TYPE_CHECKING:  # calibration.webcam loads OpenCV, which display discovery does not need
    from calibration.webcam import WebcamIntrinsics

__all__ = [
    "DISPLAY_KEY",
    "WEBCAM_KEY",
    "find_display",
    "load_intrinsics",
    "remember_calibration",
    "store_intrinsics",
    "stored_calibration_path",
]

#: Settings key holding the chosen visual.json path.
DISPLAY_KEY = "looking_glass_calibration"
#: Settings key holding the webcam's intrinsics.
WEBCAM_KEY = "webcam_intrinsics"


def stored_calibration_path() -> Path | None:
    """The calibration file stored in the user's settings, if any."""
    value = load_config().get(DISPLAY_KEY)
    return Path(value) if isinstance(value, str) and value else None


def remember_calibration(calibration: Calibration) -> Path:
    """Copy the calibration into the user's calibration folder and record it in the settings."""
    dest = store_calibration(calibration, user_paths().calibration_dir)
    update_config(**{DISPLAY_KEY: str(dest)})
    return dest


def find_display(
    explicit: str | Path | None = None,
    *,
    drive_roots: Sequence[Path] | None = None,
    bridge_url: str | Literal["auto"] | None = "auto",
    hid: HidBackend | Literal["auto"] | None = "auto",
    log: Callable[[str], None] | None = None,
) -> FoundCalibration:
    """:func:`calibration.discovery.resolve_calibration` with the stored calibration filled in."""
    return resolve_calibration(
        explicit,
        stored=stored_calibration_path(),
        drive_roots=drive_roots,
        bridge_url=bridge_url,
        hid=hid,
        log=log,
    )


def store_intrinsics(intrinsics: WebcamIntrinsics) -> None:
    """Record the webcam's intrinsics in the settings."""
    update_config(**{WEBCAM_KEY: intrinsics.to_json()})


def load_intrinsics() -> WebcamIntrinsics | None:
    """The stored intrinsics, or None when the webcam was never calibrated."""
    from calibration.webcam import WebcamIntrinsics

    value = load_config().get(WEBCAM_KEY)
    return None if value is None else WebcamIntrinsics.from_json(value)
