"""Drawing the photo-selection screen's 2-D parts into an RGBA image (PIL; pure, no GL).

The window shell uploads the image as one texture and draws the moving parts (the orbiting
3D preview, the live camera) on top, in :attr:`ScreenLayout.orbit`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from app.ui.folders import FolderChooser
from app.ui.photo_grid import (
    CHECK_LABELS,
    CHECK_NAMES,
    GridLayout,
    PhotoItem,
    Rect,
    SelectionState,
    short_reason,
)

__all__ = ["ChooserLayout", "PanelInfo", "ScreenLayout", "chooser_layout", "draw_select", "screen_layout"]

BG = (24, 26, 30)
PANEL_BG = (34, 37, 43)
BAR_BG = (16, 17, 20)
TEXT = (235, 235, 235)
DIM = (150, 155, 165)
LEVEL_COLOURS = {"ok": (70, 190, 95), "warn": (235, 170, 40), "fail": (220, 60, 60), "none": (95, 100, 110)}
LEVEL_WORDS = {"ok": "good", "warn": "could be better", "fail": "a problem", "none": "not checked"}
BADGE_COLOURS = {
    "good": (70, 190, 95),
    "fair": (235, 170, 40),
    "pending": (120, 125, 135),
    "unusable": (220, 60, 60),
}
#: The one highlight: the selected photo, the focused folder or field.
HIGHLIGHT = (80, 150, 255)
CHECK_MEANING = {
    "face": "one face in the photo",
    "size": "big enough",
    "pose": "facing the camera",
    "sharpness": "in focus",
    "lighting": "evenly lit",
}
FOOTER_HINTS = "arrows: choose   Enter: use it   O: other folder   C: webcam   Q: quit"
CHOOSER_HINTS = "type a folder   Tab: complete   up/down, Enter: open   Esc: "


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
    header_h, footer_h, pad = 40, 28, 12
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


@dataclass(frozen=True)
class ChooserLayout:
    """Where the folder chooser draws (in the grid's part of the window): its message lines,
    the path field, and one row per listed folder."""

    area: Rect
    message: list[str]
    message_y: int
    field: Rect
    error_y: int
    list_y: int
    entries: list[Rect]


def chooser_layout(area: Rect, chooser: FolderChooser) -> ChooserLayout:
    x, w = area.x + 20, area.w - 40
    y = area.y + 16 + 30  # below the title
    lines = _wrap(chooser.message, font(15), w) if chooser.message else []
    message_y = y
    y += 20 * len(lines) + (8 if lines else 0) + 22  # the message, then "type a folder..."
    field_rect = Rect(x, y, w, 30)
    error_y = y + 34
    list_y = error_y + 24
    entries = [Rect(x, list_y + 22 + 36 * i, w, 32) for i in range(len(chooser.entries))]
    return ChooserLayout(area, lines, message_y, field_rect, error_y, list_y, entries)


@dataclass
class PanelInfo:
    """What the window shows besides the photos' own data."""

    folder: str = ""
    progress: str = ""
    crop_rgb_u8: np.ndarray | None = None
    matte_u8: np.ndarray | None = None
    orbit_message: str = ""  # shown where the 3D preview goes while it is not there
    empty_message: str = ""  # shown below the grid when nothing is usable
    notice: str = ""  # a passing message (e.g. no webcam), until the next key or click
    chooser: FolderChooser | None = None  # the folder chooser replaces the grid while set
    camera_note: str = ""  # why there is no webcam, for its (disabled) button
    notes: list[str] = field(default_factory=list)


def empty_message_h(info: PanelInfo, grid: GridLayout) -> int:
    """Height of the message drawn below the last row (scrolling must reach it)."""
    if not info.empty_message:
        return 0
    return 10 + 22 * len(_wrap(info.empty_message, font(16), grid.area.w - 60)) + grid.gap_px


def _box(d: ImageDraw.ImageDraw, r: Rect, fill, outline=None, width: int = 1, radius: int = 0) -> None:
    d.rounded_rectangle([r.x, r.y, r.x + r.w - 1, r.y + r.h - 1], radius, fill, outline, width)


def _highlight(d: ImageDraw.ImageDraw, r: Rect) -> None:
    """The one highlight style: a blue rounded frame just outside ``r``."""
    _box(d, Rect(r.x - 4, r.y - 4, r.w + 8, r.h + 8), None, HIGHLIGHT, 3, 6)


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


def _dot(d: ImageDraw.ImageDraw, x: float, y: float, level: str) -> None:
    d.ellipse([x, y, x + 9, y + 9], fill=LEVEL_COLOURS[level])


def _draw_tile(
    canvas: Image.Image, d: ImageDraw.ImageDraw, item: PhotoItem, cell: Rect, rank: int, grid: GridLayout
) -> None:
    if item.thumb_rgb_u8 is not None:
        _paste(canvas, item.thumb_rgb_u8, cell)
    else:
        _box(d, cell, (45, 48, 55))
    f = font(12)
    reason = short_reason(item)
    tag = _fit_text(f"#{rank + 1} {reason}" if item.usable else reason, f, cell.w - 18)
    tw = int(f.getlength(tag)) + 10
    _box(d, Rect(cell.x + 4, cell.y + 4, tw, 18), BADGE_COLOURS[item.status], radius=4)
    d.text((cell.x + 9, cell.y + 6), tag, fill=(0, 0, 0), font=f)
    # The five checks as coloured dots under the thumbnail, then the file name.
    y = cell.y + cell.h + 5
    for k, check in enumerate(item.checks()):
        _dot(d, cell.x + 4 + k * 14, y, check.level)
    d.text((cell.x + 4, y + 13), _fit_text(item.path.name, f, grid.tile_px - 4), fill=DIM, font=f)


def draw_select(ui: ScreenLayout, state: SelectionState, info: PanelInfo) -> np.ndarray:
    """The whole window as ``H x W x 4`` uint8 RGBA (opaque), top row first."""
    w, h = ui.size
    canvas = Image.new("RGB", (w, h), BG)
    d = ImageDraw.Draw(canvas)
    title = "Choose the photo that represents you"
    d.text((12, 8), title, fill=TEXT, font=font(18))
    if info.chooser is None:
        right = _fit_text(
            f"{info.folder}  {info.progress}", font(13), int(w - 48 - font(18).getlength(title))
        )
        d.text((w - 12 - font(13).getlength(right), 13), right, fill=DIM, font=font(13))
    g = ui.grid
    sub = Image.new("RGB", (g.area.w, g.area.h), BG)
    sd = ImageDraw.Draw(sub)
    local_area = Rect(0, 0, g.area.w, g.area.h)
    if info.chooser is not None:
        _draw_chooser(sd, chooser_layout(local_area, info.chooser), info.chooser)
    else:
        _draw_grid(sub, sd, GridLayout(local_area, g.tile_px, g.gap_px, g.caption_px), state, info)
    if info.notice:
        _draw_notice(sd, info.notice, local_area)
    canvas.paste(sub, (g.area.x, g.area.y))
    _draw_footer(d, ui, state, info)
    _draw_panel(canvas, d, ui, state, info)
    rgba = np.empty((h, w, 4), np.uint8)
    rgba[..., :3] = np.asarray(canvas)
    rgba[..., 3] = 255
    return rgba


def _draw_grid(
    sub: Image.Image, sd: ImageDraw.ImageDraw, local: GridLayout, state: SelectionState, info: PanelInfo
) -> None:
    for pos, index in enumerate(state.order):
        cell = local.cell(pos, state.scroll_px)
        if cell.y + cell.h + local.caption_px < 0 or cell.y > local.area.h:
            continue
        _draw_tile(sub, sd, state.items[index], cell, pos, local)
        if index == state.selected and not state.camera_mode:
            _highlight(sd, Rect(cell.x, cell.y, cell.w, cell.h + local.caption_px - 2))
    if info.empty_message:
        y = local.content_h(len(state.order)) + 10 - state.scroll_px
        for line in _wrap(info.empty_message, font(16), local.area.w - 60):
            sd.text((30, y), line, fill=TEXT, font=font(16))
            y += 22


def _draw_notice(sd: ImageDraw.ImageDraw, text: str, area: Rect) -> None:
    f = font(14)
    lines = _wrap(text, f, area.w - 60)
    box_h = 20 * len(lines) + 16
    r = Rect(16, area.h - box_h - 10, area.w - 32, box_h)
    _box(sd, r, BAR_BG, LEVEL_COLOURS["warn"], 2, 6)
    for k, line in enumerate(lines):
        sd.text((r.x + 14, r.y + 8 + 20 * k), line, fill=TEXT, font=f)


def _draw_chooser(sd: ImageDraw.ImageDraw, lay: ChooserLayout, chooser: FolderChooser) -> None:
    x = lay.field.x
    sd.text((x, lay.area.y + 14), "Where are your photos?", fill=TEXT, font=font(18))
    for k, line in enumerate(lay.message):
        sd.text((x, lay.message_y + 20 * k), line, fill=TEXT, font=font(15))
    f, small = font(14), font(13)
    sd.text((x, lay.field.y - 20), "Type a folder (Tab completes it):", fill=DIM, font=small)
    _box(sd, lay.field, (14, 15, 18), (90, 95, 105), 1, 4)
    shown = _fit_text(chooser.path_field.text[::-1], f, lay.field.w - 24)[::-1]  # keep the end in view
    sd.text((lay.field.x + 8, lay.field.y + 7), shown, fill=TEXT, font=f)
    if chooser.focus == -1:
        caret_x = lay.field.x + 9 + f.getlength(shown)
        sd.line([caret_x, lay.field.y + 6, caret_x, lay.field.y + 24], fill=TEXT, width=1)
        _highlight(sd, lay.field)
    if chooser.error:
        sd.text(
            (x, lay.error_y),
            _fit_text(chooser.error, small, lay.field.w),
            fill=LEVEL_COLOURS["warn"],
            font=small,
        )
    if lay.entries:
        sd.text((x, lay.list_y), "Or open one of these:", fill=DIM, font=small)
    for i, (entry, r) in enumerate(zip(chooser.entries, lay.entries, strict=True)):
        _box(sd, r, PANEL_BG, radius=4)
        sd.text((r.x + 10, r.y + 8), entry.label, fill=TEXT, font=f)
        note_x = r.x + 20 + f.getlength(entry.label)
        sd.text(
            (note_x, r.y + 9), _fit_text(entry.note, small, int(r.x + r.w - note_x - 8)), fill=DIM, font=small
        )
        if i == chooser.focus:
            _highlight(sd, r)


def _draw_footer(d: ImageDraw.ImageDraw, ui: ScreenLayout, state: SelectionState, info: PanelInfo) -> None:
    fr = ui.footer
    d.rectangle([fr.x, fr.y, fr.x + fr.w - 1, fr.y + fr.h - 1], fill=BAR_BG)
    d.line([fr.x, fr.y, fr.x + fr.w - 1, fr.y], fill=(60, 64, 72))
    f = font(13)
    hints = FOOTER_HINTS
    if info.chooser is not None:
        hints = CHOOSER_HINTS + ("back" if info.chooser.can_go_back else "quit")
    if state.camera_mode:
        hints = "Space: take the photo   Esc: back to the photos"
    d.text((12, fr.y + 7), _fit_text(hints, f, fr.w - 24), fill=DIM, font=f)


def _draw_legend(d: ImageDraw.ImageDraw, x: int, y: int, w: int) -> int:
    """How to read the dots under each photo; returns the y below it."""
    f, small = font(14), font(13)
    d.text((x, y), "Under each photo, five dots:", fill=TEXT, font=f)
    y += 24
    col = 18 + int(max(small.getlength(label) for label in CHECK_LABELS.values())) + 12
    for name in CHECK_NAMES:
        _dot(d, x + 2, y + 3, "ok")
        d.text((x + 18, y), CHECK_LABELS[name], fill=TEXT, font=small)
        d.text((x + col, y), _fit_text(CHECK_MEANING[name], small, w - col), fill=DIM, font=small)
        y += 18
    y += 8
    cx = x
    for level in ("ok", "warn", "fail", "none"):
        word = LEVEL_WORDS[level]
        if cx > x and cx + 16 + small.getlength(word) > x + w:
            cx, y = x, y + 18
        _dot(d, cx + 2, y + 3, level)
        d.text((cx + 16, y), word, fill=DIM, font=small)
        cx += int(16 + small.getlength(word) + 14)
    y += 26
    for line in _wrap("The badge names the main problem of a photo; the best ones come first.", small, w):
        d.text((x, y), line, fill=DIM, font=small)
        y += 17
    return y


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
    item = state.items[state.selected] if state.selected is not None and info.chooser is None else None
    if info.chooser is not None:
        msg = (
            "Pick a folder with a few photos of you. A good photo: one face, looking at the camera, "
            "sharp, evenly lit, the face at least 100 px tall. Your photos stay on this computer."
        )
        y = p.y + 12
        for line in _wrap(msg, f, p.w - 24):
            d.text((p.x + 12, y), line, fill=DIM, font=f)
            y += 20
    elif item is None:
        y = p.y + 12
        for line in _wrap(
            "Click a photo, or press an arrow key, to see how your avatar will look.", f, p.w - 24
        ):
            d.text((p.x + 12, y), line, fill=TEXT, font=f)
            y += 20
        if y + 190 < ui.use_button.y:
            _draw_legend(d, p.x + 12, y + 14, p.w - 24)
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
        if item.status == "unusable":  # no 3D preview: why, in the space it would take
            y = ui.orbit.y
            why = item.problem[:1].upper() + item.problem[1:]
            for line in _wrap(f"This photo cannot be used. {why}", f, ui.details.w):
                d.text((ui.details.x, y), line, fill=LEVEL_COLOURS["fail"], font=f)
                y += 20
        else:
            _box(d, ui.orbit, (0, 0, 0))
            if info.orbit_message:
                y = ui.orbit.y + ui.orbit.h // 2 - 10
                for line in _wrap(info.orbit_message, small, ui.orbit.w - 16):
                    d.text((ui.orbit.x + 8, y), line, fill=DIM, font=small)
                    y += 17
            y = ui.details.y
            for check in item.checks():
                _dot(d, ui.details.x, y + 3, check.level)
                text = _fit_text(f"{check.label}: {check.text}", small, ui.details.w - 16)
                d.text((ui.details.x + 16, y), text, fill=TEXT, font=small)
                y += 17
        _button(d, ui.use_button, "Use this photo (Enter)", item.usable)
    if state.camera_available:
        key = "" if info.chooser is not None else " (C)"  # C types a letter in the chooser
        _button(d, ui.camera_button, f"Take a photo with the webcam{key}", True)
    else:
        _button(d, ui.camera_button, "No webcam found", False)


def _button(d: ImageDraw.ImageDraw, r: Rect, label: str, enabled: bool) -> None:
    fill = (60, 120, 220) if enabled else (60, 63, 70)
    _box(d, r, fill, radius=6)
    f = font(15)
    label = _fit_text(label, f, r.w - 12)
    d.text((r.x + (r.w - f.getlength(label)) / 2, r.y + 8), label, fill=TEXT if enabled else DIM, font=f)
