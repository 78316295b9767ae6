"""Find the Looking Glass: its calibration, which route found it, and what else is known about it.

:func:`resolve_calibration` tries these routes in order and stops at the first that finds a display:

1. ``argument``: a ``visual.json`` the user names (``--calibration PATH``);
2. ``bridge``: Looking Glass Bridge's local HTTP API (:mod:`calibration.bridge`), which knows every
   current model, its default quilt and where it sits on the desktop;
3. ``hid``: the EEPROM of a first-generation unit over USB HID (:mod:`calibration.hid`; needs the
   optional ``hidapi`` package, skipped with a note saying what to install when it is missing);
4. ``drive``: the display's USB drive, ``LKG_calibration/visual.json`` on a mounted volume
   (Portrait and Go), looked for under ``/media/<user>/*``, ``/run/media/<user>/*``, ``/media/*``
   and ``/mnt/*`` on Linux, ``/Volumes/*`` on macOS and every drive letter on Windows;
5. ``settings``: the copy stored earlier in the user's settings (the caller passes its path).

When a device route finds a unit whose serial equals that of the stored copy, the stored copy's
numbers are used (the user adjusted ``center`` with ``voodoo-holo calibrate`` and saved it), and
:attr:`FoundCalibration.adjusted_copy` says so.

This package does not know where the user's settings live: the caller passes the stored path in
(``stored=``) and, to remember a calibration, calls :func:`store_calibration` with the folder and
records the returned path in its settings.
"""

from __future__ import annotations

import getpass
import os
import shutil
import string
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from calibration.bridge import (
    BridgeClient,
    BridgeDisplay,
    BridgeError,
    BridgeNotRunningError,
    bridge_url_from_environment,
)
from calibration.devices import DefaultQuilt, is_hololuminescent, model_for
from calibration.hid import (
    Gen1HidError,
    HidBackend,
    HidUnavailableError,
    find_gen1_devices,
    load_hidapi,
    read_gen1_calibration,
)
from calibration.visual import Calibration, CalibrationError, load_visual

__all__ = [
    "DRIVE_RELATIVE_PATH",
    "FoundCalibration",
    "NoCalibrationError",
    "NotLightFieldError",
    "Route",
    "RouteAttempt",
    "candidate_drive_roots",
    "find_drive_calibrations",
    "resolve_calibration",
    "store_calibration",
]

DRIVE_RELATIVE_PATH = Path("LKG_calibration") / "visual.json"

Route = Literal["argument", "bridge", "hid", "drive", "settings"]
Outcome = Literal["found", "none", "skipped", "failed"]


class NoCalibrationError(LookupError):
    """No display was found on any route; ``attempts`` says what each route saw."""

    def __init__(self, message: str, attempts: Sequence[RouteAttempt] = ()) -> None:
        super().__init__(message)
        self.attempts = tuple(attempts)


class NotLightFieldError(NoCalibrationError):
    """The display found is a Hololuminescent display: it shows 2D video, not a quilt."""


@dataclass(frozen=True)
class RouteAttempt:
    """What one discovery route saw.

    Attributes:
        route: which route.
        outcome: ``found`` a display, ``none`` there, ``skipped`` (not asked, or cannot be asked
            here: the note says why), or ``failed`` (something is there but unusable).
        detail: one line for the user.
        elapsed_ms: time the route took.
    """

    route: Route
    outcome: Outcome
    detail: str
    elapsed_ms: float = 0.0


@dataclass(frozen=True)
class FoundCalibration:
    """A Looking Glass that was found.

    Attributes:
        calibration: its ``visual.json``; None only for a Hololuminescent display reported without
            one.
        route: the route that found it.
        source: where exactly, for the user (a file, Bridge's address and display, a HID device).
        path: the file it came from (``argument``, ``drive``, ``settings``), else None.
        hardware_version: Bridge's model string ("" when not from Bridge).
        model: the model's name ("" when unknown).
        default_quilt: the display's own default quilt (from Bridge), None when not known.
        window_xy: the panel's top-left on the desktop (from Bridge), None when not known.
        is_hld: a Hololuminescent display (2D video only: offer the single-view output).
        adjusted_copy: the stored copy whose numbers were used instead of the device's (same serial).
        attempts: what every route tried saw, in order.
    """

    calibration: Calibration | None
    route: Route
    source: str
    path: Path | None = None
    hardware_version: str = ""
    model: str = ""
    default_quilt: DefaultQuilt | None = None
    window_xy: tuple[int, int] | None = None
    is_hld: bool = False
    adjusted_copy: Path | None = None
    attempts: tuple[RouteAttempt, ...] = field(default=(), compare=False)

    @property
    def serial(self) -> str:
        return self.calibration.serial if self.calibration is not None else ""

    @property
    def view_cone_deg(self) -> float | None:
        """The display's physical view cone (the calibration's ``viewCone``), None when unknown."""
        return self.calibration.view_cone_deg if self.calibration is not None else None

    def lenticular(self) -> Calibration:
        """The calibration to interleave quilts with; raises :class:`NotLightFieldError` for an HLD."""
        if self.is_hld or self.calibration is None:
            raise NotLightFieldError(
                f"the display found ({self.describe()}) is a Hololuminescent display: it shows 2D video, "
                "not a hologram from a quilt; use the single-view output (voodoo-holo preview, or "
                "voodoo-holo render --format views)",
                self.attempts,
            )
        return self.calibration

    def describe(self) -> str:
        """One line: model, serial, route, panel, view cone, default quilt, position."""
        c = self.calibration
        parts = [self.model or "Looking Glass (model unknown)"]
        if self.serial:
            parts.append(self.serial)
        head = " ".join(parts) + f" via {self.route} ({self.source})"
        bits = []
        if self.is_hld:
            bits.append("Hololuminescent display: 2D video only")
        if c is not None:
            bits.append(f"{c.screen_w_px}x{c.screen_h_px} px panel, view cone {c.view_cone_deg:g} deg")
        if self.default_quilt is not None:
            bits.append(f"default quilt {self.default_quilt.describe()}")
        if self.window_xy is not None:
            bits.append(f"at ({self.window_xy[0]}, {self.window_xy[1]}) on the desktop")
        if self.adjusted_copy is not None:
            bits.append(f"with your saved adjustments ({self.adjusted_copy})")
        return head + (": " + ", ".join(bits) if bits else "")


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


def store_calibration(calibration: Calibration, folder: Path) -> Path:
    """Write the calibration into ``folder`` as ``<serial>.json`` (atomically); returns the file.

    The caller records the path in its settings and passes it back as ``stored=`` later.
    """
    folder.mkdir(parents=True, exist_ok=True)
    name = "".join(ch for ch in calibration.serial if ch.isalnum() or ch in "-_") or "visual"
    dest = folder / f"{name}.json"
    tmp = dest.with_suffix(".json.tmp")
    tmp.write_text(calibration.to_json(), encoding="utf-8")
    shutil.move(str(tmp), dest)
    return dest


def _found_from_file(route: Route, path: Path, attempts: list[RouteAttempt]) -> FoundCalibration:
    cal = load_visual(path)
    model = model_for(serial=cal.serial)
    return FoundCalibration(
        cal,
        route,
        str(path),
        path=path,
        model=model.name if model else "",
        is_hld=is_hololuminescent(cal.serial),
        attempts=tuple(attempts),
    )


def _from_bridge(display: BridgeDisplay, url: str) -> FoundCalibration:
    model = model_for(display.hardware_version, display.serial)
    hld = is_hololuminescent(display.hardware_version, display.serial, display.hwid)
    ident = f", {display.hwid}" if display.hwid and display.hwid != display.serial else ""
    return FoundCalibration(
        display.calibration,
        "bridge",
        f"Looking Glass Bridge at {url}, display {display.index}{ident}",
        hardware_version=display.hardware_version,
        model=model.name if model else ("Hololuminescent display" if hld else display.hardware_version),
        default_quilt=display.default_quilt,
        window_xy=display.window_xy,
        is_hld=hld,
    )


def _bridge_summary(displays: list[BridgeDisplay]) -> str:
    out = []
    for d in displays:
        what = d.hardware_version or "unknown model"
        state = f", state {d.state}" if d.state and d.state != "ok" else ""
        problem = f" ({d.calibration_problem})" if d.calibration is None else ""
        out.append(f"display {d.index}: {what}{state}{problem}")
    return "; ".join(out)


def _ask_bridge(url: str | None) -> tuple[FoundCalibration | None, RouteAttempt]:
    t0 = time.perf_counter()

    def attempt(outcome: Outcome, detail: str) -> RouteAttempt:
        return RouteAttempt("bridge", outcome, detail, (time.perf_counter() - t0) * 1e3)

    if url is None:
        return None, attempt("skipped", "not asked (VOODOO_HOLO_BRIDGE_URL=off)")
    try:
        displays = BridgeClient(url).displays()
    except ValueError as e:
        return None, attempt("failed", str(e))
    except BridgeError as e:
        return None, attempt("none" if isinstance(e, BridgeNotRunningError) else "failed", str(e))
    if not displays:
        return None, attempt("none", f"Looking Glass Bridge at {url} reports no display connected")
    usable = [d for d in displays if d.calibration is not None and d.state in ("ok", "")]
    light_field = [d for d in usable if not is_hololuminescent(d.hardware_version, d.serial, d.hwid)]
    hld = [d for d in displays if is_hololuminescent(d.hardware_version, d.serial, d.hwid)]
    candidates = light_field or usable or hld
    chosen = candidates[0] if candidates else None
    if chosen is None:
        return None, attempt(
            "failed", f"Looking Glass Bridge at {url}: no usable display ({_bridge_summary(displays)})"
        )
    others = (
        f" (also: {_bridge_summary([d for d in displays if d is not chosen])})" if len(displays) > 1 else ""
    )
    return _from_bridge(chosen, url), attempt("found", f"display {chosen.index}{others}")


def _ask_hid(hid: HidBackend | Literal["auto"] | None) -> tuple[FoundCalibration | None, RouteAttempt]:
    t0 = time.perf_counter()

    def attempt(outcome: Outcome, detail: str) -> RouteAttempt:
        return RouteAttempt("hid", outcome, detail, (time.perf_counter() - t0) * 1e3)

    if hid is None:
        return None, attempt("skipped", "not asked")
    try:
        backend = load_hidapi() if hid == "auto" else hid
    except HidUnavailableError as e:
        return None, attempt("skipped", f"Gen1 displays cannot be read: {e}")
    assert not isinstance(backend, str)
    try:
        devices = find_gen1_devices(backend)
    except OSError as e:
        return None, attempt("failed", f"cannot list USB HID devices ({e})")
    if not devices:
        return None, attempt("none", "no Gen1 Looking Glass (HoloPlay USB HID device) connected")
    problems = []
    for info in devices:
        try:
            cal = read_gen1_calibration(backend, info)
        except Gen1HidError as e:
            problems.append(str(e))
            continue
        model = model_for(serial=cal.serial)
        found = FoundCalibration(
            cal,
            "hid",
            f"Gen1 HID EEPROM ({info.product or 'HoloPlay'}{', ' + info.serial if info.serial else ''})",
            model=model.name if model else "Looking Glass (Gen1)",
            is_hld=is_hololuminescent(cal.serial),
        )
        return found, attempt("found", found.source)
    return None, attempt("failed", "; ".join(problems))


def resolve_calibration(
    explicit: str | Path | None = None,
    *,
    stored: str | Path | None = None,
    drive_roots: Sequence[Path] | None = None,
    bridge_url: str | Literal["auto"] | None = "auto",
    hid: HidBackend | Literal["auto"] | None = "auto",
    log: Callable[[str], None] | None = None,
) -> FoundCalibration:
    """Find the Looking Glass (see the module docstring for the order).

    Args:
        explicit: the file the user named; when given, no other route is tried.
        stored: the calibration file stored in the user's settings, if any.
        drive_roots: where mounted drives are looked for (default: the platform's mount points).
        bridge_url: Bridge's address; ``"auto"``: ``$VOODOO_HOLO_BRIDGE_URL`` or the default
            address; None: do not ask Bridge.
        hid: how Gen1 HID devices are reached; ``"auto"``: the hidapi package when installed;
            None: do not look.
        log: called with one line per route tried (optional).

    Raises :class:`CalibrationError` for a bad file (given, or stored and needed), and
    :class:`NoCalibrationError` (with ``attempts``) when no route finds a display.
    """
    attempts: list[RouteAttempt] = []

    def note(a: RouteAttempt) -> None:
        attempts.append(a)
        if log is not None:
            log(f"{a.route}: {a.outcome}: {a.detail}")

    if explicit is not None:
        path = Path(explicit).expanduser()
        note(RouteAttempt("argument", "found", str(path)))
        return _found_from_file("argument", path, attempts)

    found, a = _ask_bridge(bridge_url_from_environment() if bridge_url == "auto" else bridge_url)
    note(a)
    if found is None:
        found, a = _ask_hid(hid)
        note(a)
    if found is None:
        t0 = time.perf_counter()
        drives = find_drive_calibrations(drive_roots)
        elapsed = (time.perf_counter() - t0) * 1e3
        if drives:
            note(RouteAttempt("drive", "found", str(drives[0]), elapsed))
            found = _found_from_file("drive", drives[0], attempts)
        else:
            note(
                RouteAttempt(
                    "drive", "none", f"no mounted drive holds {DRIVE_RELATIVE_PATH.as_posix()}", elapsed
                )
            )

    stored_path = Path(stored).expanduser() if stored else None
    if found is not None:
        found = _with_adjusted_copy(found, stored_path, note)
        return replace(found, attempts=tuple(attempts))
    if stored_path is None:
        note(RouteAttempt("settings", "none", "no calibration stored in your settings"))
        raise NoCalibrationError(_nothing_found(attempts), attempts)
    if not stored_path.is_file():
        note(RouteAttempt("settings", "failed", f"{stored_path} is gone"))
        raise CalibrationError(
            None,
            "the calibration remembered in your settings is gone; pass --calibration PATH to choose another",
            str(stored_path),
        )
    note(RouteAttempt("settings", "found", str(stored_path)))
    return _found_from_file("settings", stored_path, attempts)


def _with_adjusted_copy(
    found: FoundCalibration, stored: Path | None, note: Callable[[RouteAttempt], None]
) -> FoundCalibration:
    """Use the stored copy's numbers when it is this very unit's calibration (same serial)."""
    if stored is None or found.calibration is None or not found.serial or found.path == stored:
        return found
    try:
        mine = load_visual(stored)
    except CalibrationError as e:
        note(RouteAttempt("settings", "failed", f"not used: {e}"))
        return found
    if mine.serial != found.serial:
        note(RouteAttempt("settings", "skipped", f"{stored} is for {mine.serial or 'another display'}"))
        return found
    note(RouteAttempt("settings", "found", f"your saved adjustments of {found.serial}: {stored}"))
    return replace(found, calibration=mine, adjusted_copy=stored)


def _nothing_found(attempts: Sequence[RouteAttempt]) -> str:
    said = "; ".join(f"{a.route}: {a.detail}" for a in attempts)
    return (
        "no Looking Glass found (" + said + "). Connect the display and start Looking Glass Bridge, or "
        "pass --calibration PATH with the display's visual.json (from its USB drive, LKG_calibration/)."
    )
