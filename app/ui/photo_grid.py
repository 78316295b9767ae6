"""The photo-selection screen's pure core: per-photo checks, ranking, grid geometry, selection.

Nothing here touches pyglet, OpenGL or MediaPipe; the window shell feeds it scan results and
input events (keys by name, clicks in top-down window pixels) and draws what it says.

Ranking: usable photos first (no warning before some warnings), then by :func:`photo_score`,
then photos still being checked (by name), then unusable ones (no face, too small, unreadable).

Selection: one highlight. The selected photo is the one the arrows move and the panel shows;
until the user picks one nothing is highlighted, and the first arrow key picks the best photo.
Enter or U uses the selected photo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from pipeline.tracking.quality import QualityReport, QualityThresholds

__all__ = [
    "Action",
    "CHECK_LABELS",
    "Check",
    "GridLayout",
    "PhotoItem",
    "Rect",
    "SelectionState",
    "photo_checks",
    "photo_score",
    "rank_order",
    "short_reason",
]

Status = Literal["pending", "good", "fair", "unusable"]
#: ``none``: the check could not be made (no face to measure, or not checked yet).
Level = Literal["ok", "warn", "fail", "none"]
ProblemKind = Literal["", "no_face", "too_blurry", "too_small", "unreadable", "error"]
#: Names of the five checks shown as dots under every thumbnail, in order.
CHECK_NAMES = ("face", "size", "pose", "sharpness", "lighting")
#: How the legend and the details panel name them.
CHECK_LABELS = {
    "face": "Face found",
    "size": "Size",
    "pose": "Pose",
    "sharpness": "Sharpness",
    "lighting": "Lighting",
}
_NUMBER_WORDS = {2: "two", 3: "three", 4: "four"}


@dataclass(frozen=True)
class Check:
    name: str  # one of CHECK_NAMES
    level: Level
    text: str  # plain words, e.g. "face 240 px tall", "too blurry"

    @property
    def label(self) -> str:
        return CHECK_LABELS[self.name]


@dataclass
class PhotoItem:
    """One photo of the folder and what the tracker said about it.

    Attributes:
        path: the file.
        status: ``pending`` (not checked yet), ``good`` (no warning), ``fair`` (usable with
            warnings) or ``unusable``.
        thumb_rgb_u8: square thumbnail (the aligned face crop when a face was found).
        report: the tracker's quality report (None until checked, or when unusable).
        problem: why the photo is unusable (one sentence), empty otherwise.
        problem_kind: ``no_face``, ``too_small``, ``unreadable`` or ``error`` when unusable.
        score: ranking score (higher is better; see :func:`photo_score`).
    """

    path: Path
    status: Status = "pending"
    thumb_rgb_u8: np.ndarray | None = None
    report: QualityReport | None = None
    problem: str = ""
    score: float = 0.0
    problem_kind: ProblemKind = ""

    @property
    def usable(self) -> bool:
        return self.status in ("good", "fair")

    def checks(self, thresholds: QualityThresholds | None = None) -> list[Check]:
        return photo_checks(self.report, self.problem_kind, thresholds, pending=self.status == "pending")


def _people(n: int) -> str:
    return f"{_NUMBER_WORDS.get(n, n)} people"


def photo_checks(
    report: QualityReport | None,
    problem_kind: ProblemKind = "",
    thresholds: QualityThresholds | None = None,
    pending: bool = False,
) -> list[Check]:
    """The five checks (face found, size, pose, sharpness, lighting) of one photo, in plain words.

    Without a report (the photo is being checked, or it cannot be used), the checks that
    could not be made are ``none``; the ones that failed say why.
    """
    th = thresholds or QualityThresholds()
    if report is None:
        unknown = "checking..." if pending else "not checked"
        checks = {n: Check(n, "none", unknown) for n in CHECK_NAMES}
        if problem_kind == "unreadable":
            checks["face"] = Check("face", "fail", "the file cannot be opened")
        elif problem_kind == "too_blurry":
            checks["face"] = Check("face", "fail", "none: the photo is too blurry")
            checks["sharpness"] = Check("sharpness", "fail", "too blurry")
        elif problem_kind == "too_small":
            checks["face"] = Check("face", "ok", "yes")
            checks["size"] = Check("size", "fail", "too small")
        elif problem_kind == "no_face":
            checks["face"] = Check("face", "fail", "no face found")
        elif problem_kind == "error":
            checks["face"] = Check("face", "fail", "could not be checked")
        return [checks[n] for n in CHECK_NAMES]
    r = report
    if r.faces_found == 1:
        face = Check("face", "ok", "one face")
    else:
        face = Check("face", "warn", f"{_people(r.faces_found)}: the largest face is used")
    small = r.face_size_px < th.good_face_px
    size = Check(
        "size",
        "warn" if small else "ok",
        f"face {r.face_size_px:.0f} px tall" + (": small, looks soft" if small else ""),
    )
    if abs(r.yaw_deg) > th.max_yaw_deg:
        pose = Check("pose", "warn", f"turned too far ({abs(r.yaw_deg):.0f}° to the side)")
    elif abs(r.pitch_deg) > th.max_pitch_deg:
        pose = Check("pose", "warn", f"looking too far up or down ({abs(r.pitch_deg):.0f}°)")
    else:
        pose = Check("pose", "ok", "facing the camera")
    sharp = (
        Check("sharpness", "ok", "sharp")
        if r.sharpness >= th.min_sharpness
        else Check("sharpness", "warn", "too blurry")
    )
    lo, hi = th.exposure_range
    if r.exposure < lo:
        light = Check("lighting", "warn", "too dark")
    elif r.exposure > hi:
        light = Check("lighting", "warn", "too bright")
    elif r.clipped_frac > th.max_clipped_frac:
        light = Check("lighting", "warn", "harsh: patches of pure black or white")
    else:
        light = Check("lighting", "ok", "even")
    return [face, size, pose, sharp, light]


_UNUSABLE_REASONS = {
    "no_face": "NO FACE",
    "too_blurry": "TOO BLURRY",
    "too_small": "FACE TOO SMALL",
    "unreadable": "CANNOT OPEN",
    "error": "CANNOT CHECK",
}


def short_reason(item: PhotoItem, thresholds: QualityThresholds | None = None) -> str:
    """The badge text of a photo: GOOD, the main thing wrong with it in two or three words
    ("TOO BLURRY", "TURNED TOO FAR", "TWO PEOPLE"), or "..." while it is checked."""
    if item.status == "pending":
        return "..."
    if item.status == "unusable":
        return _UNUSABLE_REASONS.get(item.problem_kind, "UNUSABLE")
    if item.status == "good" or item.report is None:
        return "GOOD"
    th = thresholds or QualityThresholds()
    r = item.report
    lo, hi = th.exposure_range
    for wrong, text in (
        (r.faces_found > 1, _people(r.faces_found).upper()),
        (r.sharpness < th.min_sharpness, "TOO BLURRY"),
        (abs(r.yaw_deg) > th.max_yaw_deg, "TURNED TOO FAR"),
        (abs(r.pitch_deg) > th.max_pitch_deg, "LOOKING UP/DOWN"),
        (r.exposure < lo, "TOO DARK"),
        (r.exposure > hi, "TOO BRIGHT"),
        (r.clipped_frac > th.max_clipped_frac, "HARSH LIGHT"),
        (r.face_size_px < th.good_face_px, "FACE SMALL"),
        (r.out_of_frame_frac > th.max_out_of_frame_frac, "AT THE EDGE"),
    ):
        if wrong:
            return text
    return "OK"


def photo_score(report: QualityReport, thresholds: QualityThresholds | None = None) -> float:
    """Higher is better: large, frontal, sharp, well-exposed faces; each warning costs a point."""
    th = thresholds or QualityThresholds()
    size = min(1.0, math.log(max(report.face_size_px, 1.0) / th.min_face_px + 1.0) / math.log(4.0))
    frontal = max(0.0, 1.0 - math.hypot(report.yaw_deg / th.max_yaw_deg, report.pitch_deg / th.max_pitch_deg))
    sharp = min(1.0, report.sharpness / (4.0 * th.min_sharpness))
    exposure = max(0.0, 1.0 - abs(report.exposure - 0.5) / 0.5)
    return size + frontal + sharp + exposure - float(len(report.warnings))


_STATUS_RANK = {"good": 0, "fair": 1, "pending": 2, "unusable": 3}


def rank_order(items: list[PhotoItem]) -> list[int]:
    """Indices of ``items``, best candidates first (see the module docstring)."""
    return sorted(
        range(len(items)),
        key=lambda i: (_STATUS_RANK[items[i].status], -items[i].score, items[i].path.name.lower()),
    )


@dataclass(frozen=True)
class Rect:
    """A rectangle in top-down window pixels."""

    x: int
    y: int
    w: int
    h: int

    def contains(self, px: float, py: float) -> bool:
        return self.x <= px < self.x + self.w and self.y <= py < self.y + self.h


@dataclass(frozen=True)
class GridLayout:
    """Where the thumbnails go: ``area`` holds a scrolling grid of square tiles with captions.

    Attributes:
        area: the grid's part of the window (top-down pixels).
        tile_px: thumbnail side.
        gap_px: space between tiles.
        caption_px: height under each thumbnail for its name and badge.
    """

    area: Rect
    tile_px: int = 128
    gap_px: int = 12
    caption_px: int = 34

    def __post_init__(self) -> None:
        if self.tile_px < 16 or self.gap_px < 0 or self.caption_px < 0:
            raise ValueError("GridLayout needs tile_px >= 16 and non-negative gap and caption")

    @property
    def cols(self) -> int:
        return max(1, (self.area.w - self.gap_px) // (self.tile_px + self.gap_px))

    @property
    def row_h(self) -> int:
        return self.tile_px + self.caption_px + self.gap_px

    def cell(self, position: int, scroll_px: int = 0) -> Rect:
        """The thumbnail square of the ``position``-th tile (captions go below it)."""
        r, c = divmod(position, self.cols)
        x = self.area.x + self.gap_px + c * (self.tile_px + self.gap_px)
        y = self.area.y + self.gap_px + r * self.row_h - scroll_px
        return Rect(x, y, self.tile_px, self.tile_px)

    def hit(self, px: float, py: float, count: int, scroll_px: int = 0) -> int | None:
        """The position of the tile (thumbnail or caption) under a point, if any."""
        if not self.area.contains(px, py):
            return None
        c = int((px - self.area.x - self.gap_px) // (self.tile_px + self.gap_px))
        r = int((py - self.area.y - self.gap_px + scroll_px) // self.row_h)
        if not 0 <= c < self.cols or r < 0:
            return None
        pos = r * self.cols + c
        cell = self.cell(pos, scroll_px)
        inside = Rect(cell.x, cell.y, cell.w, cell.h + self.caption_px).contains(px, py)
        return pos if inside and pos < count else None

    def content_h(self, count: int) -> int:
        """Height of ``count`` tiles from the top of the grid to below the last caption."""
        return self.gap_px + math.ceil(count / self.cols) * self.row_h

    def max_scroll(self, count: int, extra_px: int = 0) -> int:
        """Scroll that shows the last row whole (and ``extra_px`` below it, e.g. a message)."""
        return max(0, self.content_h(count) + extra_px - self.area.h)

    def scroll_to_show(self, position: int, scroll_px: int) -> int:
        """The smallest scroll change that shows the whole tile at ``position``."""
        cell = self.cell(position, 0)
        top = cell.y - self.area.y - self.gap_px
        bottom = cell.y - self.area.y + self.row_h
        if top < scroll_px:
            return max(0, top)
        if bottom > scroll_px + self.area.h:
            return bottom - self.area.h
        return scroll_px


ActionKind = Literal["select", "use", "camera", "capture", "quit", "no_camera", "folders"]


@dataclass(frozen=True)
class Action:
    """What the shell must do after an input event (``index`` into ``SelectionState.items``)."""

    kind: ActionKind
    index: int | None = None


@dataclass
class SelectionState:
    """The list of photos, the selected photo and the scroll position.

    ``selected`` is an *index* into ``items`` (it stays on the same photo when the ranking
    changes) or None before the user picked one; ``cursor`` is its *position* in the ranked
    order (0, the best photo, while nothing is selected).
    """

    items: list[PhotoItem] = field(default_factory=list)
    order: list[int] = field(default_factory=list)
    cursor: int = 0
    selected: int | None = None
    scroll_px: int = 0
    camera_available: bool = False
    camera_mode: bool = False

    def add(self, item: PhotoItem) -> int:
        self.items.append(item)
        self._rerank()
        return len(self.items) - 1

    def update(self, index: int, item: PhotoItem) -> None:
        """Replace ``items[index]`` (a scan result arrived) and re-rank, keeping the selected photo."""
        self.items[index] = item
        self._rerank()

    def _rerank(self) -> None:
        self.order = rank_order(self.items)
        self.cursor = self.order.index(self.selected) if self.selected is not None else 0

    @property
    def cursor_index(self) -> int | None:
        return self.order[self.cursor] if self.order else None

    def index_at(self, position: int) -> int:
        return self.order[position]

    def any_usable(self) -> bool:
        return any(it.usable for it in self.items)

    def select_position(self, position: int, layout: GridLayout) -> Action | None:
        """Select the photo at ``position`` of the ranked order (and scroll to show it)."""
        if not self.order:
            return None
        self.cursor = min(max(position, 0), len(self.order) - 1)
        self.scroll_px = layout.scroll_to_show(self.cursor, self.scroll_px)
        index = self.order[self.cursor]
        if index == self.selected:
            return None
        self.selected = index
        return Action("select", index)

    def move(self, delta: int, layout: GridLayout) -> Action | None:
        """Arrows: move the selection; the first one selects the best photo."""
        if self.selected is None:
            return self.select_position(0, layout)
        return self.select_position(self.cursor + delta, layout)

    def handle_key(self, name: str, layout: GridLayout) -> Action | None:
        """Keys by name: arrows, home/end, pageup/pagedown, enter/space, u, c, o, q/escape."""
        if name in ("q", "escape"):
            if self.camera_mode:
                self.camera_mode = False
                return Action("camera")  # leave the camera view
            return Action("quit")
        if name == "c":
            if not self.camera_available:
                return Action("no_camera")
            self.camera_mode = not self.camera_mode
            return Action("camera")
        if self.camera_mode:
            return Action("capture") if name in ("space", "enter") else None
        if name == "o":
            return Action("folders")
        cols = layout.cols
        rows_per_page = max(1, layout.area.h // layout.row_h)
        moves = {
            "left": -1,
            "right": 1,
            "up": -cols,
            "down": cols,
            "pageup": -cols * rows_per_page,
            "pagedown": cols * rows_per_page,
        }
        if name in moves:
            return self.move(moves[name], layout)
        if name in ("home", "end"):
            return self.select_position(0 if name == "home" else len(self.order) - 1, layout)
        if name in ("enter", "space") and self.order:
            if self.selected is None:
                return self.select_position(self.cursor, layout)
            return Action("use", self.selected) if self.items[self.selected].usable else None
        if name == "u" and self.selected is not None and self.items[self.selected].usable:
            return Action("use", self.selected)
        return None

    def handle_click(
        self, px: float, py: float, layout: GridLayout, use_button: Rect | None, camera_button: Rect | None
    ) -> Action | None:
        if self.camera_mode and use_button is not None and use_button.contains(px, py):
            self.camera_mode = False  # the button reads "back to the photos" in camera mode
            return Action("camera")
        if camera_button is not None and camera_button.contains(px, py):
            if not self.camera_available:
                return Action("no_camera")
            if self.camera_mode:
                return Action("capture")
            self.camera_mode = True
            return Action("camera")
        if use_button is not None and use_button.contains(px, py) and self.selected is not None:
            return Action("use", self.selected) if self.items[self.selected].usable else None
        pos = layout.hit(px, py, len(self.order), self.scroll_px)
        if pos is None:
            return None
        was_camera, self.camera_mode = self.camera_mode, False
        action = self.select_position(pos, layout)
        if action is None and was_camera:  # back from the camera to the photo already selected
            return Action("select", self.order[pos])
        return action

    def scroll(self, dy_px: int, layout: GridLayout, extra_px: int = 0) -> None:
        self.scroll_px = min(max(self.scroll_px + dy_px, 0), layout.max_scroll(len(self.order), extra_px))
