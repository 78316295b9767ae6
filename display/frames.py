"""Assembling frames from view batches: the compositor's pure core (no OpenGL).

Renderers send batches of views (any subset, any order) tagged with the driver frame's ``seq``
and capture time. :class:`FrameAssembler` keeps them until a frame is **complete** (every view
present) and hands out the newest complete frame, dropping older ones (a live call never
queues). When one renderer falls behind or dies, frames stop completing; once more than
``stale_after_frames`` newer frames are waiting for their missing views, the assembler hands
out a **mixed** frame built from each view's newest tile, and marks the views whose tile is
older than the newest ``seq`` (or missing) as stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["AssemblerConfig", "AssemblerStats", "Frame", "FrameAssembler", "Tile"]


@dataclass(frozen=True)
class AssemblerConfig:
    """Attributes:
    num_views: views per frame.
    tile_w_px, tile_h_px: size every view must have.
    max_pending_frames: incomplete frames kept at once (older ones are dropped).
    stale_after_frames: how many newer incomplete frames may wait for their missing views
        before a mixed frame with stale views is shown.
    """

    num_views: int
    tile_w_px: int
    tile_h_px: int
    max_pending_frames: int = 4
    stale_after_frames: int = 3

    def __post_init__(self) -> None:
        if self.num_views < 1 or self.tile_w_px < 1 or self.tile_h_px < 1:
            raise ValueError(f"num_views and tile size must be positive, got {self}")
        if self.max_pending_frames < 1 or self.stale_after_frames < 1:
            raise ValueError("max_pending_frames and stale_after_frames must be >= 1")


@dataclass(frozen=True)
class Tile:
    view: int
    seq: int
    t_capture_ns: int
    rgb_u8: np.ndarray  # th x tw x 3, top-down


@dataclass(frozen=True)
class Frame:
    """What to show: ``tiles`` maps view -> tile to upload; ``stale_views`` are marked."""

    seq: int
    t_capture_ns: int
    tiles: dict[int, Tile]
    complete: bool
    stale_views: tuple[int, ...] = ()


@dataclass
class AssemblerStats:
    frames_complete: int = 0
    frames_mixed: int = 0
    frames_dropped: int = 0  # incomplete frames discarded, or superseded before being shown
    batches_late: int = 0  # batches for a frame older than the one already shown


@dataclass
class _Pending:
    t_capture_ns: int
    tiles: dict[int, Tile] = field(default_factory=dict)


class FrameAssembler:
    """Collect view batches into frames (see the module docstring). Not thread-safe."""

    def __init__(self, config: AssemblerConfig) -> None:
        self.config = config
        self.stats = AssemblerStats()
        self._pending: dict[int, _Pending] = {}
        self._latest: dict[int, Tile] = {}
        self._last_shown_seq: int | None = None

    @property
    def last_shown_seq(self) -> int | None:
        return self._last_shown_seq

    def submit(self, seq: int, view_ids: Sequence[int], rgb_u8: np.ndarray, t_capture_ns: int) -> None:
        """Add a batch: ``rgb_u8`` is ``len(view_ids) x th x tw x 3`` uint8, top-down."""
        cfg = self.config
        if rgb_u8.dtype != np.uint8 or rgb_u8.ndim != 4 or rgb_u8.shape[3] != 3:
            raise ValueError(f"views must be N x H x W x 3 uint8, got {rgb_u8.shape} {rgb_u8.dtype}")
        if rgb_u8.shape[1:3] != (cfg.tile_h_px, cfg.tile_w_px):
            raise ValueError(
                f"views are {rgb_u8.shape[2]}x{rgb_u8.shape[1]} px, the quilt's tiles {cfg.tile_w_px}x{cfg.tile_h_px} px"
            )
        if len(view_ids) != rgb_u8.shape[0]:
            raise ValueError(f"{len(view_ids)} view ids for {rgb_u8.shape[0]} views")
        for v in view_ids:
            if not 0 <= int(v) < cfg.num_views:
                raise ValueError(f"view id {v} is outside 0..{cfg.num_views - 1}")
        if self._last_shown_seq is not None and seq <= self._last_shown_seq:
            self.stats.batches_late += 1
            return
        pending = self._pending.setdefault(seq, _Pending(int(t_capture_ns)))
        for v, img in zip(view_ids, rgb_u8, strict=True):
            tile = Tile(int(v), seq, int(t_capture_ns), img.copy())
            pending.tiles[int(v)] = tile
            old = self._latest.get(int(v))
            if old is None or old.seq <= seq:
                self._latest[int(v)] = tile
        while len(self._pending) > cfg.max_pending_frames:
            del self._pending[min(self._pending)]
            self.stats.frames_dropped += 1

    def take(self) -> Frame | None:
        """The frame to show now, or None when nothing newer is ready."""
        n = self.config.num_views
        complete = [s for s, p in self._pending.items() if len(p.tiles) == n]
        if complete:
            seq = max(complete)
            pending = self._pending[seq]
            self._forget_up_to(seq)
            self.stats.frames_complete += 1
            return Frame(seq, pending.t_capture_ns, dict(pending.tiles), True)
        if not self._pending:
            return None
        newest = max(self._pending)
        # Count frames waiting, not seq distance: seqs are capture numbers and jump when the
        # pipeline publishes only some captured frames.
        if len(self._pending) <= self.config.stale_after_frames:
            return None
        t_capture = self._pending[newest].t_capture_ns
        self._forget_up_to(newest)
        stale = tuple(v for v in range(n) if v not in self._latest or self._latest[v].seq < newest)
        self.stats.frames_mixed += 1
        return Frame(newest, t_capture, dict(self._latest), False, stale)

    def latest_tiles(self) -> dict[int, Tile]:
        """Each view's newest tile (for redrawing after a test pattern, for example)."""
        return dict(self._latest)

    def _forget_up_to(self, seq: int) -> None:
        for s in [s for s in self._pending if s <= seq]:
            if s < seq:
                self.stats.frames_dropped += 1
            del self._pending[s]
        self._last_shown_seq = seq
