"""The photo-selection screen's pure core: per-photo checks, ranking, grid geometry, selection.

Nothing here touches pyglet, OpenGL or MediaPipe; the window shell feeds it scan results and
input events (keys by name, clicks in top-down window pixels) and draws what it says.

Ranking: usable photos first (no warning before some warnings), then by :func:`photo_score`,
then photos still being checked (by name), then unusable ones (no face, too small, unreadable).
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
    "Check",
    "GridLayout",
    "PhotoItem",
    "Rect",
    "SelectionState",
    "photo_checks",
    "photo_score",
    "rank_order",
]

Status = Literal["pending", "good", "fair", "unusable"]
Level = Literal["ok", "warn", "fail"]
ProblemKind = Literal["", "no_face", "too_small", "unreadable", "error"]
#: Names of the five checks shown as a badge on every thumbnail, in order.
CHECK_NAMES = ("face", "size", "pose", "sharpness", "lighting")


@dataclass(frozen=True)
class Check:
    name: str  # one of CHECK_NAMES
    level: Level
    text: str  # short, e.g. "face 240 px"


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
        return photo_checks(self.report, self.problem, thresholds)


def photo_checks(
    report: QualityReport | None, problem: str = "", thresholds: QualityThresholds | None = None
) -> list[Check]:
    """The five badge checks (face found, size, pose, sharpness, lighting) of one photo."""
    th = thresholds or QualityThresholds()
    if report is None:
        face = (
            Check("face", "fail", problem or "not checked") if problem else Check("face", "warn", "checking")
        )
        return [face] + [Check(n, "warn" if not problem else "fail", "-") for n in CHECK_NAMES[1:]]
    r = report
    face = Check("face", "ok" if r.faces_found == 1 else "warn", f"{r.faces_found} face(s)")
    size = Check(
        "size", "ok" if r.face_size_px >= th.good_face_px else "warn", f"face {r.face_size_px:.0f} px"
    )
    turned = abs(r.yaw_deg) > th.max_yaw_deg or abs(r.pitch_deg) > th.max_pitch_deg
    pose = Check("pose", "warn" if turned else "ok", f"yaw {r.yaw_deg:+.0f} pitch {r.pitch_deg:+.0f} deg")
    sharp = Check(
        "sharpness", "ok" if r.sharpness >= th.min_sharpness else "warn", f"sharpness {r.sharpness:.0f}"
    )
    lo, hi = th.exposure_range
    lit_ok = lo <= r.exposure <= hi and r.clipped_frac <= th.max_clipped_frac
    light = Check("lighting", "ok" if lit_ok else "warn", f"exposure {r.exposure:.2f}")
    return [face, size, pose, sharp, light]


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

    def max_scroll(self, count: int) -> int:
        rows = math.ceil(count / self.cols)
        return max(0, self.gap_px + rows * self.row_h - self.area.h)

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


ActionKind = Literal["select", "use", "camera", "capture", "quit"]


@dataclass(frozen=True)
class Action:
    """What the shell must do after an input event (``index`` into ``SelectionState.items``)."""

    kind: ActionKind
    index: int | None = None


@dataclass
class SelectionState:
    """The list of photos, the keyboard cursor, the selected photo and the scroll position.

    ``cursor`` is a *position* in the ranked order; ``selected`` is an *index* into ``items``
    (it stays on the same photo when the ranking changes).
    """

    items: list[PhotoItem] = field(default_factory=list)
    order: list[int] = field(default_factory=list)
    cursor: int = 0
    selected: int | None = None
    scroll_px: int = 0
    camera_available: bool = False
    camera_mode: bool = False
    #: False until the user moves the cursor: until then it stays on the best-ranked photo.
    touched: bool = False

    def add(self, item: PhotoItem) -> int:
        self.items.append(item)
        self._rerank()
        return len(self.items) - 1

    def update(self, index: int, item: PhotoItem) -> None:
        """Replace ``items[index]`` (a scan result arrived) and re-rank, keeping the cursor's photo."""
        self.items[index] = item
        self._rerank()

    def _rerank(self) -> None:
        current = self.order[self.cursor] if self.order and 0 <= self.cursor < len(self.order) else None
        self.order = rank_order(self.items)
        if current is not None and self.touched:
            self.cursor = self.order.index(current)

    @property
    def cursor_index(self) -> int | None:
        return self.order[self.cursor] if self.order else None

    def index_at(self, position: int) -> int:
        return self.order[position]

    def any_usable(self) -> bool:
        return any(it.usable for it in self.items)

    def move(self, delta: int, layout: GridLayout) -> None:
        if not self.order:
            return
        self.touched = True
        self.cursor = min(max(self.cursor + delta, 0), len(self.order) - 1)
        self.scroll_px = layout.scroll_to_show(self.cursor, self.scroll_px)

    def handle_key(self, name: str, layout: GridLayout) -> Action | None:
        """Keys by name: arrows, home/end, pageup/pagedown, enter/space, u, c, q/escape."""
        if name in ("q", "escape"):
            if self.camera_mode:
                self.camera_mode = False
                return Action("camera")  # leave the camera view
            return Action("quit")
        if name == "c" and self.camera_available:
            self.camera_mode = not self.camera_mode
            return Action("camera")
        if self.camera_mode:
            return Action("capture") if name in ("space", "enter") else None
        cols = layout.cols
        rows_per_page = max(1, layout.area.h // layout.row_h)
        moves = {
            "left": -1,
            "right": 1,
            "up": -cols,
            "down": cols,
            "pageup": -cols * rows_per_page,
            "pagedown": cols * rows_per_page,
            "home": -len(self.order),
            "end": len(self.order),
        }
        if name in moves:
            self.move(moves[name], layout)
            return None
        if name in ("enter", "space") and self.order:
            self.touched = True
            index = self.order[self.cursor]
            if self.selected == index and self.items[index].usable:
                return Action("use", index)
            self.selected = index
            return Action("select", index)
        if name == "u" and self.selected is not None and self.items[self.selected].usable:
            return Action("use", self.selected)
        return None

    def handle_click(
        self, px: float, py: float, layout: GridLayout, use_button: Rect | None, camera_button: Rect | None
    ) -> Action | None:
        if self.camera_mode and use_button is not None and use_button.contains(px, py):
            self.camera_mode = False  # the button reads "back to the photos" in camera mode
            return Action("camera")
        if camera_button is not None and self.camera_available and camera_button.contains(px, py):
            if self.camera_mode:
                return Action("capture")
            self.camera_mode = True
            return Action("camera")
        if use_button is not None and use_button.contains(px, py) and self.selected is not None:
            return Action("use", self.selected) if self.items[self.selected].usable else None
        pos = layout.hit(px, py, len(self.order), self.scroll_px)
        if pos is None:
            return None
        self.cursor, self.touched = pos, True
        self.selected = self.order[pos]
        if self.camera_mode:
            self.camera_mode = False
        return Action("select", self.selected)

    def scroll(self, dy_px: int, layout: GridLayout) -> None:
        self.scroll_px = min(max(self.scroll_px + dy_px, 0), layout.max_scroll(len(self.order)))
