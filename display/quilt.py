"""Quilt layout: which tile holds which view, device presets, and the file naming convention.

A quilt is one image holding every view as a tile. View 0 (the left-most camera) is the
**bottom-left** tile; views run left to right, then rows bottom to top, so the last view is the
top-right tile. When the quilt size does not divide evenly, the tiles start at the bottom-left
and the leftover pixels sit at the right and top edges.

Images in this module are numpy arrays in file order (row 0 at the top), as PIL, OpenCV and
video files hold them. A tile's rectangle in such an image is :meth:`QuiltLayout.tile_rect_px`;
in OpenGL (y up) it is :meth:`QuiltLayout.tile_rect_gl_px`.

File names carry the layout so Looking Glass software can play our files:
``name_qs{cols}x{rows}a{aspect}.png`` (columns first; aspect = the view's width/height).

>>> layout = layout_for_views(24, display_aspect=0.75, tile_h_px=560)
>>> (layout.cols, layout.rows, layout.tile_w_px, layout.tile_h_px)
(6, 4, 420, 560)
>>> quilt_filename("head", layout, ".png")
'head_qs6x4a0.75.png'
>>> parse_quilt_filename("head_qs6x4a0.75.png")
(6, 4, 0.75)
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "PRESETS",
    "QuiltLayout",
    "QuiltPreset",
    "assemble_quilt",
    "layout_for_views",
    "near_square_grid",
    "parse_quilt_filename",
    "preset_for_serial",
    "quilt_for_views",
    "quilt_filename",
    "split_quilt",
]

#: Largest quilt side Looking Glass software accepts (and a common GL texture limit).
MAX_QUILT_SIDE_PX = 16384


@dataclass(frozen=True)
class QuiltLayout:
    """Geometry of a quilt.

    Attributes:
        cols, rows: tile grid, columns first.
        tile_w_px, tile_h_px: size of one tile (may be anamorphic w.r.t. ``aspect``).
        aspect: width/height the views were rendered at (the display aspect W/H).
        num_views: views actually used (<= cols * rows), counted from view 0.
        quilt_w_px, quilt_h_px: whole image size (>= the tile grid; leftovers right and top).
    """

    cols: int
    rows: int
    tile_w_px: int
    tile_h_px: int
    aspect: float
    num_views: int = 0
    quilt_w_px: int = 0
    quilt_h_px: int = 0

    def __post_init__(self) -> None:
        for name in ("cols", "rows"):
            v = getattr(self, name)
            if not isinstance(v, int) or not 1 <= v <= 64:
                raise ValueError(f"QuiltLayout.{name} must be an integer 1 to 64, got {v!r}")
        for name in ("tile_w_px", "tile_h_px"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"QuiltLayout.{name} must be a positive integer, got {v!r}")
        if not (
            isinstance(self.aspect, (int, float)) and math.isfinite(self.aspect) and 0.05 < self.aspect < 20
        ):
            raise ValueError(f"QuiltLayout.aspect must be a view width/height ratio, got {self.aspect!r}")
        if self.num_views == 0:
            object.__setattr__(self, "num_views", self.cols * self.rows)
        if not 1 <= self.num_views <= self.cols * self.rows:
            raise ValueError(
                f"QuiltLayout.num_views={self.num_views} does not fit a {self.cols}x{self.rows} quilt "
                f"(at most {self.cols * self.rows} views)"
            )
        if self.quilt_w_px == 0:
            object.__setattr__(self, "quilt_w_px", self.cols * self.tile_w_px)
        if self.quilt_h_px == 0:
            object.__setattr__(self, "quilt_h_px", self.rows * self.tile_h_px)
        if self.quilt_w_px < self.cols * self.tile_w_px or self.quilt_h_px < self.rows * self.tile_h_px:
            raise ValueError(
                f"quilt {self.quilt_w_px}x{self.quilt_h_px} px is smaller than its "
                f"{self.cols}x{self.rows} tiles of {self.tile_w_px}x{self.tile_h_px} px"
            )
        if max(self.quilt_w_px, self.quilt_h_px) > MAX_QUILT_SIDE_PX:
            raise ValueError(
                f"quilt {self.quilt_w_px}x{self.quilt_h_px} px exceeds {MAX_QUILT_SIDE_PX} px per side"
            )

    @classmethod
    def from_quilt_size(
        cls, quilt_w_px: int, quilt_h_px: int, cols: int, rows: int, aspect: float, num_views: int = 0
    ) -> QuiltLayout:
        """The layout of an existing quilt image: tiles are ``floor(size / count)``."""
        if quilt_w_px < cols or quilt_h_px < rows:
            raise ValueError(f"a {quilt_w_px}x{quilt_h_px} px image cannot hold {cols}x{rows} tiles")
        return cls(
            cols=cols,
            rows=rows,
            tile_w_px=quilt_w_px // cols,
            tile_h_px=quilt_h_px // rows,
            aspect=aspect,
            num_views=num_views,
            quilt_w_px=quilt_w_px,
            quilt_h_px=quilt_h_px,
        )

    @property
    def tile_count(self) -> int:
        return self.cols * self.rows

    @property
    def view_portion(self) -> tuple[float, float]:
        """Fraction of the texture covered by tiles (``cols*tw/QW``, ``rows*th/QH``)."""
        return (self.cols * self.tile_w_px / self.quilt_w_px, self.rows * self.tile_h_px / self.quilt_h_px)

    def tile_of_view(self, view: int) -> tuple[int, int]:
        """``(col, row_from_bottom)`` of ``view``."""
        if not 0 <= view < self.num_views:
            raise IndexError(f"view {view} is outside 0..{self.num_views - 1}")
        return view % self.cols, view // self.cols

    def tile_rect_gl_px(self, view: int) -> tuple[int, int, int, int]:
        """``(x, y, w, h)`` of the tile with y counted from the bottom (an OpenGL viewport)."""
        col, row = self.tile_of_view(view)
        return col * self.tile_w_px, row * self.tile_h_px, self.tile_w_px, self.tile_h_px

    def tile_rect_px(self, view: int) -> tuple[int, int, int, int]:
        """``(x, y_top, w, h)`` of the tile in a top-down image array or file."""
        col, row = self.tile_of_view(view)
        y_top = self.quilt_h_px - (row + 1) * self.tile_h_px
        return col * self.tile_w_px, y_top, self.tile_w_px, self.tile_h_px

    def with_num_views(self, num_views: int) -> QuiltLayout:
        return QuiltLayout(
            self.cols, self.rows, self.tile_w_px, self.tile_h_px, self.aspect, num_views,
            self.quilt_w_px, self.quilt_h_px,
        )  # fmt: skip


@dataclass(frozen=True)
class QuiltPreset:
    """A device's recommended quilt (display spec table 1.2) and its panel."""

    name: str
    serial_prefixes: tuple[str, ...]
    screen_w_px: int
    screen_h_px: int
    cols: int
    rows: int
    quilt_w_px: int
    quilt_h_px: int
    aspect: float
    view_cone_deg: float

    def layout(self) -> QuiltLayout:
        return QuiltLayout.from_quilt_size(
            self.quilt_w_px, self.quilt_h_px, self.cols, self.rows, self.aspect
        )


#: Official default quilts, keyed by a short device name. Prefer a live Bridge's
#: ``defaultQuilt`` when one is available: some Gen3 entries disagree between sources.
PRESETS: dict[str, QuiltPreset] = {
    p.name: p
    for p in (
        QuiltPreset("gen1-8.9", ("LKG-2K",), 2560, 1600, 5, 9, 4096, 4096, 1.6, 40),
        QuiltPreset("gen1-15.6", ("LKG-4K",), 3840, 2160, 5, 9, 4096, 4096, 16 / 9, 40),
        QuiltPreset("gen1-32", ("LKG-8K",), 7680, 4320, 5, 9, 8192, 8192, 16 / 9, 40),
        QuiltPreset("portrait", ("LKG-P",), 1536, 2048, 8, 6, 3360, 3360, 0.75, 40),
        QuiltPreset("gen2-16", ("LKG-A",), 3840, 2160, 5, 9, 4096, 4096, 16 / 9, 40),
        QuiltPreset("gen2-32", ("LKG-B",), 7680, 4320, 5, 9, 8192, 8192, 16 / 9, 40),
        QuiltPreset("gen2-65", ("LKG-D",), 7680, 4320, 8, 9, 8192, 8192, 16 / 9, 40),
        QuiltPreset("go", ("LKG-E",), 1440, 2560, 11, 6, 4092, 4092, 0.5625, 54),
        QuiltPreset("gen3-16-portrait", ("LKG-H",), 2160, 3840, 11, 6, 5995, 6000, 0.5625, 50),
        QuiltPreset("gen3-16-landscape", ("LKG-J",), 3840, 2160, 8, 6, 7680, 4320, 16 / 9, 50),
        QuiltPreset("gen3-32-portrait", ("LKG-K",), 4320, 7680, 11, 6, 8184, 8184, 0.5625, 54),
        QuiltPreset("gen3-32-landscape", ("LKG-L",), 7680, 4320, 7, 7, 8190, 8190, 16 / 9, 50),
    )
}


def preset_for_serial(serial: str) -> QuiltPreset | None:
    """The preset whose serial prefix is the longest match for ``serial`` (None if unknown)."""
    best: tuple[int, QuiltPreset] | None = None
    s = serial.upper()
    for preset in PRESETS.values():
        for prefix in preset.serial_prefixes:
            if s.startswith(prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), preset)
    return None if best is None else best[1]


def near_square_grid(num_views: int, display_aspect: float) -> tuple[int, int]:
    """``(cols, rows)`` with ``cols * rows == num_views`` keeping the quilt closest to square
    (``cols * aspect / rows ~ 1``): 24 views give 6x4 on portrait-shaped panels, 4x6 on
    landscape ones."""
    if num_views < 1:
        raise ValueError(f"num_views must be >= 1, got {num_views}")
    best: tuple[float, int, int] | None = None
    for cols in range(1, num_views + 1):
        if num_views % cols:
            continue
        rows = num_views // cols
        score = abs(math.log(cols * display_aspect / rows))
        if best is None or score < best[0] - 1e-12:
            best = (score, cols, rows)
    assert best is not None
    return best[1], best[2]


def quilt_for_views(
    num_views: int,
    tile_w_px: int,
    tile_h_px: int,
    display_aspect: float,
    preferred_grid: tuple[int, int] | None = None,
) -> QuiltLayout:
    """The quilt holding ``num_views`` views of ``tile_w x tile_h`` px rendered at ``display_aspect``.

    The grid is ``preferred_grid`` (a display's own default quilt) when it has exactly
    ``num_views`` tiles, else :func:`near_square_grid`. This is the one quilt rule of the app:
    the live call, calls, the offline render, calibration and ``lenticular`` all use it.
    """
    if tile_w_px < 2 or tile_h_px < 2:
        raise ValueError(f"tiles must be at least 2x2 px, got {tile_w_px}x{tile_h_px}")
    if preferred_grid is not None and preferred_grid[0] * preferred_grid[1] == num_views:
        cols, rows = preferred_grid
    else:
        cols, rows = near_square_grid(num_views, display_aspect)
    return QuiltLayout(cols, rows, tile_w_px, tile_h_px, float(display_aspect), num_views)


def layout_for_views(num_views: int, display_aspect: float, tile_h_px: int) -> QuiltLayout:
    """:func:`quilt_for_views` with tiles ``tile_h_px`` high at the display aspect (the width
    rounded to an even number of pixels)."""
    if tile_h_px < 2:
        raise ValueError(f"tile_h_px must be >= 2, got {tile_h_px}")
    tile_w = max(2, 2 * round(tile_h_px * display_aspect / 2))
    return quilt_for_views(num_views, tile_w, tile_h_px, display_aspect)


_NAME_RE = re.compile(r"_qs(\d+)x(\d+)a(\d+(?:\.\d*)?|\.\d+)", re.IGNORECASE)


def parse_quilt_filename(path: str | Path) -> tuple[int, int, float] | None:
    """``(cols, rows, aspect)`` from a ``..._qs{cols}x{rows}a{aspect}...`` name, or None."""
    matches = list(_NAME_RE.finditer(Path(path).name))
    if not matches:
        return None
    m = matches[-1]
    cols, rows, aspect = int(m.group(1)), int(m.group(2)), float(m.group(3))
    if cols < 1 or rows < 1 or aspect <= 0:
        return None
    return cols, rows, aspect


def format_aspect(aspect: float) -> str:
    """The aspect as Looking Glass file names write it: two decimals, trailing zeros dropped."""
    text = f"{aspect:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def quilt_filename(stem: str, layout: QuiltLayout, suffix: str) -> str:
    """``{stem}_qs{cols}x{rows}a{aspect}{suffix}``; an existing ``_qs..`` tag in ``stem`` is replaced."""
    stem = _NAME_RE.sub("", stem)
    if not suffix.startswith("."):
        suffix = "." + suffix
    return f"{stem}_qs{layout.cols}x{layout.rows}a{format_aspect(layout.aspect)}{suffix}"


def _check_views(views: np.ndarray, layout: QuiltLayout) -> None:
    if views.dtype != np.uint8 or views.ndim != 4 or views.shape[3] not in (3, 4):
        raise ValueError(f"views must be N x H x W x 3 uint8, got {views.shape} {views.dtype}")
    if views.shape[1:3] != (layout.tile_h_px, layout.tile_w_px):
        raise ValueError(
            f"views are {views.shape[2]}x{views.shape[1]} px but the quilt's tiles are "
            f"{layout.tile_w_px}x{layout.tile_h_px} px"
        )


def assemble_quilt(
    views: np.ndarray, layout: QuiltLayout, view_ids: Sequence[int] | None = None
) -> np.ndarray:
    """Place views (``N x th x tw x 3`` uint8, top-down) into a top-down quilt image.

    ``view_ids`` gives each view's sweep index (default ``0..N-1``); unused tiles stay black.
    """
    _check_views(views, layout)
    ids = list(range(views.shape[0])) if view_ids is None else [int(v) for v in view_ids]
    if len(ids) != views.shape[0]:
        raise ValueError(f"{len(ids)} view ids for {views.shape[0]} views")
    quilt = np.zeros((layout.quilt_h_px, layout.quilt_w_px, views.shape[3]), np.uint8)
    for img, v in zip(views, ids, strict=True):
        x, y, w, h = layout.tile_rect_px(v)
        quilt[y : y + h, x : x + w] = img
    return quilt


def split_quilt(quilt: np.ndarray, layout: QuiltLayout) -> np.ndarray:
    """The views of a top-down quilt image, ``num_views x th x tw x C``, view 0 first."""
    if quilt.ndim != 3 or quilt.shape[:2] != (layout.quilt_h_px, layout.quilt_w_px):
        raise ValueError(
            f"quilt image is {quilt.shape[1]}x{quilt.shape[0]} px, layout expects "
            f"{layout.quilt_w_px}x{layout.quilt_h_px} px"
        )
    out = np.empty((layout.num_views, layout.tile_h_px, layout.tile_w_px, quilt.shape[2]), quilt.dtype)
    for v in range(layout.num_views):
        x, y, w, h = layout.tile_rect_px(v)
        out[v] = quilt[y : y + h, x : x + w]
    return out
