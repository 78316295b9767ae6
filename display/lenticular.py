"""Lenticular interleaving: the maths shared by the GLSL shader and its numpy reference.

For each panel pixel ``(x, y)`` (y counted from the **bottom** row) and each colour channel
``c``, the display spec (section 3) gives the lens phase

    phi_c = (x_c + y_c * T) * P - center,   x_c = u + c*S (classic)  or  u + dx[k][c]/W (Gen3)
                                            y_c = v                  or  v + dy[k][c]/H
    u = (x + 0.5) / W,  v = (y + 0.5) / H

and the view ``n_c = floor(t_c * N)`` with ``t_c = 1 - fract(phi_c)`` (``fract`` when invView=0).
Channel ``c`` of the output is channel ``c`` of view ``n_c`` sampled at the same place in its tile.

Expanding, ``phi_c = x*a + y*b + o_kc + base`` with per-pixel steps ``a = P/W``, ``b = T*P/H``, a
per-cell, per-channel offset ``o_kc`` and a constant ``base = (a + b)/2 - center``. Only the
fractional part matters, so every term is stored as an unsigned 0.32 fixed-point fraction and
the sum is taken modulo 2**32. That arithmetic is exact and identical on the GPU (``uint`` in
GLSL, ``umulExtended`` for ``t*N``) and in numpy, so both paths pick the same view for every
sub-pixel; the phase is also more precise than 32-bit floats at ``P ~ 2000`` (32" panels). The
only approximation is rounding ``a``, ``b`` and the offsets to 2**-32 of a lens period.

Where a view sits in its tile depends on ``x`` or ``y`` alone, so it is tabulated once per
layout (:class:`TileLookup`): the tile's texel for nearest sampling (or -1 outside the image
when the quilt's aspect differs from the panel's and the view is letterboxed), and a continuous
texel position for bilinear sampling.

Filters: ``nearest`` shows exactly one view per sub-pixel (nearest texel); ``linear`` blends
the two nearest views by the phase's fraction (the spec's filter mode 1) and samples each tile
bilinearly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from calibration.visual import ShaderParams
from display.quilt import QuiltLayout

__all__ = [
    "FilterMode",
    "FitMode",
    "InterleaveParams",
    "TileLookup",
    "interleave_numpy",
    "interleave_params",
    "tile_lookup",
    "view_indices",
]

FilterMode = Literal["nearest", "linear"]
FitMode = Literal["fit", "fill"]
_Q32 = 1 << 32
_MASK = _Q32 - 1
#: Quilt names round the aspect to 2 decimals: closer than this counts as the panel's aspect.
ASPECT_MATCH_TOLERANCE = 0.01


def _q32(x: float) -> int:
    """The fractional part of ``x`` as a 0.32 fixed-point integer in ``[0, 2**32)``."""
    frac = x - math.floor(x)
    return int(round(frac * _Q32)) & _MASK


def cell_index(x: np.ndarray, y: np.ndarray, mode: int, num_cells: int) -> np.ndarray:
    """Gen3 cell of pixel ``(x, y)`` (bottom-up rows) for ``CellPatternMode`` 0..4."""
    if mode == 0:
        k = np.zeros(np.broadcast(x, y).shape, np.int64)
    elif mode == 1:
        k = (x + y) % 2
    elif mode == 2:
        k = np.broadcast_to(x % 2, np.broadcast(x, y).shape)
    elif mode == 3:
        k = (y + 2 * (x % 2)) % 4
    elif mode == 4:
        k = np.broadcast_to(y % 2, np.broadcast(x, y).shape)
    else:
        raise ValueError(f"CellPatternMode must be 0..4, got {mode}")
    return np.asarray(k, np.int64) % max(1, num_cells)


@dataclass(frozen=True)
class InterleaveParams:
    """Everything the interleaver needs per panel pixel, in exact fixed point.

    Attributes:
        width_px, height_px: panel size.
        num_views: N, views spread over one lens period.
        inv_view: ``t = 1 - fract(phi)`` (True on every known device) or ``t = fract(phi)``.
        step_x_q32, step_y_q32: phase per pixel column / row, 0.32 fixed point.
        base_q32: phase at pixel (0, 0), 0.32 fixed point.
        cell_mode: CellPatternMode (0 for classic panels).
        cell_offsets_q32: per cell, the phase offset of the R, G and B sub-pixels.
    """

    width_px: int
    height_px: int
    num_views: int
    inv_view: bool
    step_x_q32: int
    step_y_q32: int
    base_q32: int
    cell_mode: int
    cell_offsets_q32: tuple[tuple[int, int, int], ...]

    def __post_init__(self) -> None:
        if not 1 <= self.num_views <= 4096:
            raise ValueError(f"num_views must be 1..4096, got {self.num_views}")
        if not self.cell_offsets_q32:
            raise ValueError("at least one sub-pixel cell is needed")


def interleave_params(shader: ShaderParams, num_views: int) -> InterleaveParams:
    """Fixed-point form of the spec's phase formula for ``num_views`` views."""
    w, h = shader.screen_w_px, shader.screen_h_px
    a = shader.pitch / w  # phase per pixel column
    b = shader.tilt * shader.pitch / h  # phase per pixel row
    base = 0.5 * a + 0.5 * b - shader.center
    if shader.cells_norm:
        # Gen3: x_c = u + dx/W, y_c = v + dy/H, no c*S term.
        offsets = tuple(
            tuple(_q32((dxn * w) * a + (dyn * h) * b) for dxn, dyn in cell) for cell in shader.cells_norm
        )
    else:
        slots = (shader.red_slot, 1, shader.blue_slot)
        offsets = (tuple(_q32(s * shader.subp * shader.pitch) for s in slots),)
    return InterleaveParams(
        width_px=w,
        height_px=h,
        num_views=num_views,
        inv_view=shader.inv_view,
        step_x_q32=_q32(a),
        step_y_q32=_q32(b),
        base_q32=_q32(base),
        cell_mode=shader.cell_pattern_mode if shader.cells_norm else 0,
        cell_offsets_q32=offsets,  # type: ignore[arg-type]
    )


def view_indices(p: InterleaveParams, y0: int = 0, y1: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """View index ``n`` and blend fraction ``f`` for rows ``y0..y1`` (bottom-up): two
    ``rows x W x 3`` arrays (int64, float64)."""
    y1 = p.height_px if y1 is None else y1
    x = np.arange(p.width_px, dtype=np.uint64)[None, :]
    y = np.arange(y0, y1, dtype=np.uint64)[:, None]
    mask = np.uint64(_MASK)
    phase_xy = (x * np.uint64(p.step_x_q32) + y * np.uint64(p.step_y_q32) + np.uint64(p.base_q32)) & mask
    offsets = np.array(p.cell_offsets_q32, np.uint64)  # cells x 3
    k = cell_index(x.astype(np.int64), y.astype(np.int64), p.cell_mode, len(offsets))
    phase = (phase_xy[..., None] + offsets[k]) & mask  # rows x W x 3
    t = (~phase & mask) if p.inv_view else phase
    scaled = t * np.uint64(p.num_views)
    n = (scaled >> np.uint64(32)).astype(np.int64)
    f = (scaled & mask).astype(np.float64) / float(_Q32)
    return n, f


def textbook_view_indices(shader: ShaderParams, num_views: int) -> tuple[np.ndarray, np.ndarray]:
    """The spec's formula evaluated directly in float64 (bottom-up rows); for cross-checks.

    Returns the view index per sub-pixel (``H x W x 3``) and ``t*N`` (to find boundary cases).
    """
    w, h = shader.screen_w_px, shader.screen_h_px
    x = np.arange(w, dtype=np.float64)[None, :, None]
    y = np.arange(h, dtype=np.float64)[:, None, None]
    u, v = (x + 0.5) / w, (y + 0.5) / h
    c = np.arange(3, dtype=np.float64)[None, None, :]
    if shader.cells_norm:
        cells = np.array(shader.cells_norm, np.float64)  # cells x 3 x 2
        k = cell_index(
            x[..., 0].astype(np.int64), y[..., 0].astype(np.int64), shader.cell_pattern_mode, len(cells)
        )
        xc = u + cells[k, :, 0]
        yc = v + cells[k, :, 1]
    else:
        slots = np.array([shader.red_slot, 1, shader.blue_slot], np.float64)[None, None, :]
        xc = u + slots * shader.subp + 0.0 * c
        yc = v + 0.0 * c
    phi = (xc + yc * shader.tilt) * shader.pitch - shader.center
    t = phi - np.floor(phi)
    if shader.inv_view:
        t = 1.0 - t
    t = np.clip(t, 1e-5, 1 - 1e-6)
    return np.floor(t * num_views).astype(np.int64), t * num_views


@dataclass(frozen=True)
class TileLookup:
    """Where each panel column / row samples inside a tile.

    Attributes:
        x, y: ``W x 2`` and ``H x 2`` float32 tables: ``[:, 0]`` the continuous texel position
            (texel centres at integers, for bilinear sampling), ``[:, 1]`` the nearest texel
            (-1 outside the image: letterbox bars are black). ``y`` is bottom-up.
    """

    x: np.ndarray
    y: np.ndarray


def _axis_table(n_px: int, tile_px: int, scale: float, flip: bool) -> np.ndarray:
    centre = (np.arange(n_px, dtype=np.float64) + 0.5) / n_px
    a = (centre - 0.5) * scale + 0.5
    if flip:
        a = 1.0 - a
    inside = (a >= 0.0) & (a < 1.0)
    nearest = np.where(inside, np.clip(np.floor(a * tile_px), 0, tile_px - 1), -1.0)
    pos = a * tile_px - 0.5
    return np.stack([pos, nearest], axis=1).astype(np.float32)


def tile_lookup(
    shader: ShaderParams, layout: QuiltLayout, fit: FitMode = "fit", flip_y: bool = False
) -> TileLookup:
    """Tabulate the tile lookup (spec section 3, step 8).

    When the views' aspect ``q`` differs from the panel's ``d``, ``fit`` letterboxes (the whole
    view visible, black bars) and ``fill`` crops. ``flip_y`` is the legacy ``flipImageY`` UV flip.
    """
    if fit not in ("fit", "fill"):
        raise ValueError(f"fit must be 'fit' or 'fill', got {fit!r}")
    d = shader.display_aspect
    q = layout.aspect
    sx = sy = 1.0
    if abs(q / d - 1.0) > ASPECT_MATCH_TOLERANCE:
        narrower = q < d
        if (fit == "fit") == narrower:
            sx = d / q  # view narrower than panel (fit) or wider (fill): scale u
        else:
            sy = q / d
    return TileLookup(
        x=_axis_table(shader.screen_w_px, layout.tile_w_px, sx, False),
        y=_axis_table(shader.screen_h_px, layout.tile_h_px, sy, flip_y),
    )


def _bilinear_axis(pos: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = pos.astype(np.float64)
    i0 = np.floor(p)
    w = p - i0
    lo = np.clip(i0, 0, size - 1).astype(np.int64)
    hi = np.clip(i0 + 1, 0, size - 1).astype(np.int64)
    return lo, hi, w


def _bilinear(
    qf: np.ndarray,
    layout: QuiltLayout,
    view: np.ndarray,
    xs: tuple[np.ndarray, np.ndarray, np.ndarray],
    ys: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """Bilinear sample of channel c of ``view[..., c]`` (same arithmetic as the shader)."""
    xl, xh, wx = xs[0][None, :, None], xs[1][None, :, None], xs[2][None, :, None]
    yl, yh, wy = ys[0][:, None, None], ys[1][:, None, None], ys[2][:, None, None]
    ox = (view % layout.cols) * layout.tile_w_px
    oy = (view // layout.cols) * layout.tile_h_px
    chan = np.arange(3)[None, None, :]
    c00 = qf[oy + yl, ox + xl, chan]
    c10 = qf[oy + yl, ox + xh, chan]
    c01 = qf[oy + yh, ox + xl, chan]
    c11 = qf[oy + yh, ox + xh, chan]
    top = c00 + (c10 - c00) * wx
    bottom = c01 + (c11 - c01) * wx
    return top + (bottom - top) * wy


def interleave_numpy(
    quilt_rgb_u8: np.ndarray,
    layout: QuiltLayout,
    shader: ShaderParams,
    filter_mode: FilterMode = "nearest",
    fit: FitMode = "fit",
    flip_y: bool = False,
    rows_per_chunk: int = 128,
) -> np.ndarray:
    """The panel image (``H x W x 3`` uint8, top-down like a file) for a top-down quilt image."""
    if filter_mode not in ("nearest", "linear"):
        raise ValueError(f"filter must be 'nearest' or 'linear', got {filter_mode!r}")
    if quilt_rgb_u8.dtype != np.uint8 or quilt_rgb_u8.ndim != 3 or quilt_rgb_u8.shape[2] < 3:
        raise ValueError(f"quilt must be H x W x 3 uint8, got {quilt_rgb_u8.shape} {quilt_rgb_u8.dtype}")
    if quilt_rgb_u8.shape[:2] != (layout.quilt_h_px, layout.quilt_w_px):
        raise ValueError(
            f"quilt image is {quilt_rgb_u8.shape[1]}x{quilt_rgb_u8.shape[0]} px, layout says "
            f"{layout.quilt_w_px}x{layout.quilt_h_px} px"
        )
    q = quilt_rgb_u8[::-1, :, :3]  # bottom-up, like the GL texture
    qf = q.astype(np.float32) if filter_mode == "linear" else q
    p = interleave_params(shader, layout.num_views)
    lut = tile_lookup(shader, layout, fit, flip_y)
    w, h = shader.screen_w_px, shader.screen_h_px
    tw, th = layout.tile_w_px, layout.tile_h_px
    out = np.zeros((h, w, 3), np.uint8)
    chan = np.arange(3)[None, None, :]
    x_near = lut.x[:, 1].astype(np.int64)
    for y0 in range(0, h, rows_per_chunk):
        y1 = min(h, y0 + rows_per_chunk)
        n, f = view_indices(p, y0, y1)
        y_near = lut.y[y0:y1, 1].astype(np.int64)
        valid = (y_near[:, None] >= 0) & (x_near[None, :] >= 0)
        if filter_mode == "nearest":
            tx = (n % layout.cols) * tw + np.maximum(x_near, 0)[None, :, None]
            ty = (n // layout.cols) * th + np.maximum(y_near, 0)[:, None, None]
            val = q[ty, tx, chan]
        else:
            xs = _bilinear_axis(lut.x[:, 0], tw)
            ys = _bilinear_axis(lut.y[y0:y1, 0], th)
            n2 = np.minimum(n + 1, layout.num_views - 1)
            blended = _bilinear(qf, layout, n, xs, ys) * (1.0 - f) + _bilinear(qf, layout, n2, xs, ys) * f
            val = np.clip(np.floor(blended + 0.5), 0, 255).astype(np.uint8)
        out[y0:y1] = np.where(valid[..., None], val, 0)
    return out[::-1]
