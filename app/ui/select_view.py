"""Drawing the photo-selection screen's 2-D parts into an RGBA image (PIL; pure, no GL).

The window shell uploads the image as one texture and draws the moving parts (the orbiting
3D preview, the live camera) on top, in :attr:`ScreenLayout.orbit`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from app.ui.photo_grid import GridLayout, PhotoItem, Rect, SelectionState

__all__ = ["PanelInfo", "ScreenLayout", "draw_select", "screen_layout"]

BG = (24, 26, 30)
PANEL_BG = (34, 37, 43)
TEXT = (235, 235, 235)
DIM = (150, 155, 165)
LEVEL_COLOURS = {"ok": (70, 190, 95), "warn": (235, 170, 40), "fail": (220, 60, 60)}
STATUS_BADGE = {
    "good": ("GOOD", (70, 190, 95)),
    "fair": ("OK", (235, 170, 40)),
    "pending": ("...", (120, 125, 135)),
    "unusable": ("UNUSABLE", (220, 60, 60)),
}
UNUSABLE_LABELS = {"no_face": "NO FACE", "too_small": "FACE TOO SMALL", "unreadable": "UNREADABLE"}
CURSOR = (255, 255, 255)
SELECTED = (80, 150, 255)


@functools.lru_cache(maxsize=8)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


@dataclass(frozen=True)
class ScreenLayout:
    """Regions of the selection window (top-down pixels)."""

    size: tuple[int, int]
    header: Rect
    footer: Rect
    grid: GridLayout
    panel: Rect
    crop: Rect
    matte: Rect
    orbit: Rect
    details: Rect
    use_button: Rect
    camera_button: Rect


def screen_layout(width: int, height: int, tile_px: int = 128) -> ScreenLayout:
    header_h, footer_h, pad = 40, 26, 12
    panel_w = max(260, int(width * 0.38))
    body_h = height - header_h - footer_h
    grid = GridLayout(Rect(0, header_h, width - panel_w, body_h), tile_px=tile_px)
    px = width - panel_w
    small = min((panel_w - 3 * pad) // 2, max(64, body_h // 5))
    crop = Rect(px + (panel_w - 2 * small - pad) // 2, header_h + pad + 22, small, small)
    matte = Rect(crop.x + small + pad, crop.y, small, small)
    button_h = 34
    buttons_top = height - footer_h - pad - 2 * button_h - pad
    orbit_top = crop.y + small + pad + 20
    details_h = 5 * 17 + 8
    side = max(32, min(panel_w - 2 * pad, buttons_top - orbit_top - details_h - pad))
    orbit = Rect(px + (panel_w - side) // 2, orbit_top, side, side)
    details = Rect(px + pad, orbit.y + side + 6, panel_w - 2 * pad, details_h)
    use = Rect(px + pad, buttons_top, panel_w - 2 * pad, button_h)
    camera = Rect(px + pad, buttons_top + button_h + pad, panel_w - 2 * pad, button_h)
    return ScreenLayout(
        (width, height),
        Rect(0, 0, width, header_h),
        Rect(0, height - footer_h, width, footer_h),
        grid,
        Rect(px, header_h, panel_w, body_h),
        crop,
        matte,
        orbit,
        details,
        use,
        camera,
    )


@dataclass
class PanelInfo:
    """What the right-hand panel shows besides the selected item's own data."""

    folder: str = ""
    progress: str = ""
    crop_rgb_u8: np.ndarray | None = None
    matte_u8: np.ndarray | None = None
    orbit_message: str = ""  # shown where the 3D preview goes while it is not there
    empty_message: str = ""  # shown over the grid when nothing is usable
    notes: list[str] = field(default_factory=list)


def _box(d: ImageDraw.ImageDraw, r: Rect, fill, outline=None, width: int = 1, radius: int = 0) -> None:
    d.rounded_rectangle([r.x, r.y, r.x + r.w - 1, r.y + r.h - 1], radius, fill, outline, width)


def _fit_text(text: str, f, max_w: int) -> str:
    if f.getlength(text) <= max_w:
        return text
    while text and f.getlength(text + "...") > max_w:
        text = text[:-1]
    return text + "..."


def _wrap(text: str, f, max_w: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and f.getlength(lines[-1] + " " + word) <= max_w:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _paste(canvas: Image.Image, rgb: np.ndarray, r: Rect) -> None:
    img = Image.fromarray(np.ascontiguousarray(rgb))
    if img.size != (r.w, r.h):
        img = img.resize((r.w, r.h), Image.Resampling.BILINEAR)
    canvas.paste(img, (r.x, r.y))


def _draw_tile(
    canvas: Image.Image, d: ImageDraw.ImageDraw, item: PhotoItem, cell: Rect, rank: int, grid: GridLayout
) -> None:
    if item.thumb_rgb_u8 is not None:
        _paste(canvas, item.thumb_rgb_u8, cell)
    else:
        _box(d, cell, (45, 48, 55))
    label, colour = STATUS_BADGE[item.status]
    if item.status == "unusable":
        label = UNUSABLE_LABELS.get(item.problem_kind, "UNUSABLE")
    f = font(12)
    tag = f"#{rank + 1} {label}" if item.usable else label
    tw = int(f.getlength(tag)) + 10
    _box(d, Rect(cell.x + 4, cell.y + 4, tw, 18), colour, radius=4)
    d.text((cell.x + 9, cell.y + 6), tag, fill=(0, 0, 0), font=f)
    # The five checks as coloured dots under the thumbnail, then the file name.
    y = cell.y + cell.h + 5
    for k, check in enumerate(item.checks()):
        x = cell.x + 4 + k * 14
        d.ellipse([x, y, x + 9, y + 9], fill=LEVEL_COLOURS[check.level])
    d.text((cell.x + 4, y + 13), _fit_text(item.path.name, f, grid.tile_px - 4), fill=DIM, font=f)


def draw_select(ui: ScreenLayout, state: SelectionState, info: PanelInfo) -> np.ndarray:
    """The whole window as ``H x W x 4`` uint8 RGBA (opaque), top row first."""
    w, h = ui.size
    canvas = Image.new("RGB", (w, h), BG)
    d = ImageDraw.Draw(canvas)
    # Header and footer.
    title = "Choose the photo that represents you"
    d.text((12, 8), title, fill=TEXT, font=font(18))
    right = _fit_text(f"{info.folder}  {info.progress}", font(13), int(w - 48 - font(18).getlength(title)))
    d.text((w - 12 - font(13).getlength(right), 13), right, fill=DIM, font=font(13))
    hints = "arrows: move   Enter: show / use   U: use this photo   "
    hints += "C: camera   " if state.camera_available else ""
    d.text((12, ui.footer.y + 6), hints + "Q: quit", fill=DIM, font=font(13))
    # Grid (clipped to its area by drawing on a sub-canvas).
    g = ui.grid
    sub = Image.new("RGB", (g.area.w, g.area.h), BG)
    sd = ImageDraw.Draw(sub)
    local = GridLayout(Rect(0, 0, g.area.w, g.area.h), g.tile_px, g.gap_px, g.caption_px)
    for pos, index in enumerate(state.order):
        cell = local.cell(pos, state.scroll_px)
        if cell.y + cell.h + local.caption_px < 0 or cell.y > g.area.h:
            continue
        _draw_tile(sub, sd, state.items[index], cell, pos, local)
        if index == state.selected:
            _box(
                sd,
                Rect(cell.x - 4, cell.y - 4, cell.w + 8, cell.h + local.caption_px + 6),
                None,
                SELECTED,
                3,
                6,
            )
        if pos == state.cursor and not state.camera_mode:
            _box(
                sd,
                Rect(cell.x - 2, cell.y - 2, cell.w + 4, cell.h + local.caption_px + 2),
                None,
                CURSOR,
                2,
                4,
            )
    if info.empty_message:
        rows = -(-len(state.order) // local.cols)
        y = max(local.gap_px, local.gap_px + rows * local.row_h + 10 - state.scroll_px)
        for line in _wrap(info.empty_message, font(16), g.area.w - 60):
            sd.text((30, y), line, fill=TEXT, font=font(16))
            y += 22
    canvas.paste(sub, (g.area.x, g.area.y))
    _draw_panel(canvas, d, ui, state, info)
    rgba = np.empty((h, w, 4), np.uint8)
    rgba[..., :3] = np.asarray(canvas)
    rgba[..., 3] = 255
    return rgba


def _draw_panel(
    canvas: Image.Image, d: ImageDraw.ImageDraw, ui: ScreenLayout, state: SelectionState, info: PanelInfo
) -> None:
    p = ui.panel
    _box(d, p, PANEL_BG)
    f, small = font(15), font(13)
    if state.camera_mode:
        d.text((p.x + 12, p.y + 8), "Camera: look into it, press Space", fill=TEXT, font=f)
        _box(d, ui.orbit, (0, 0, 0))
        if info.orbit_message:
            d.text(
                (ui.orbit.x + 8, ui.orbit.y + 8),
                _fit_text(info.orbit_message, small, ui.orbit.w - 16),
                fill=DIM,
                font=small,
            )
        _button(d, ui.camera_button, "Take the photo (Space)", True)
        _button(d, ui.use_button, "Back to the photos (Esc)", True)
        return
    item = state.items[state.selected] if state.selected is not None else None
    if item is None:
        msg = "Select a photo (click it, or arrows + Enter) to see how your avatar will look."
        y = p.y + 12
        for line in _wrap(msg, f, p.w - 24):
            d.text((p.x + 12, y), line, fill=DIM, font=f)
            y += 20
    else:
        d.text((ui.crop.x, p.y + 6), _fit_text(item.path.name, f, p.w - 24), fill=TEXT, font=f)
        for r, img, label in (
            (ui.crop, info.crop_rgb_u8, "aligned crop"),
            (ui.matte, info.matte_u8, "matte"),
        ):
            if img is not None:
                _paste(canvas, img if img.ndim == 3 else np.repeat(img[:, :, None], 3, axis=2), r)
            else:
                _box(d, r, (45, 48, 55))
            d.text((r.x, r.y + r.h + 3), label, fill=DIM, font=small)
        _box(d, ui.orbit, (0, 0, 0))
        if info.orbit_message:
            y = ui.orbit.y + ui.orbit.h // 2 - 10
            for line in _wrap(info.orbit_message, small, ui.orbit.w - 16):
                d.text((ui.orbit.x + 8, y), line, fill=DIM, font=small)
                y += 17
        y = ui.details.y
        if item.status == "unusable":
            for line in _wrap(item.problem, small, ui.details.w)[:5]:
                d.text((ui.details.x, y), line, fill=LEVEL_COLOURS["fail"], font=small)
                y += 17
        else:
            for check in item.checks():
                colour = LEVEL_COLOURS[check.level]
                d.ellipse([ui.details.x, y + 3, ui.details.x + 9, y + 12], fill=colour)
                d.text((ui.details.x + 16, y), f"{check.name}: {check.text}", fill=TEXT, font=small)
                y += 17
        _button(d, ui.use_button, "Use this photo (Enter)", item.usable)
    if state.camera_available:
        _button(d, ui.camera_button, "Take a photo with the webcam (C)", True)


def _button(d: ImageDraw.ImageDraw, r: Rect, label: str, enabled: bool) -> None:
    fill = (60, 120, 220) if enabled else (60, 63, 70)
    _box(d, r, fill, radius=6)
    f = font(15)
    d.text((r.x + (r.w - f.getlength(label)) / 2, r.y + 8), label, fill=TEXT if enabled else DIM, font=f)
