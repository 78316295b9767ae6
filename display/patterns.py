"""Test patterns for checking a Looking Glass calibration by eye.

:func:`numbered_views` gives every view a distinct colour and its number in large digits.
Shown through the lenticular shader, a correct calibration and window placement show **one**
number filling the screen, counting up as the viewer's head moves to the right; numbers running
down mean the view order is inverted; several numbers or colours mixed across the screen mean
the calibration (or the window's position and size) is wrong.
"""

from __future__ import annotations

import colorsys
import re

import cv2
import numpy as np

from display.quilt import QuiltLayout, assemble_quilt

__all__ = ["notice_tile", "notice_views", "numbered_views", "view_colour"]


def view_colour(view: int, num_views: int) -> tuple[int, int, int]:
    """A saturated RGB colour per view, walking the hue circle (red = view 0)."""
    hue = (view / max(1, num_views)) * 0.85  # stop short of wrapping back to red
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.9)
    return round(r * 255), round(g * 255), round(b * 255)


def numbered_view(view: int, num_views: int, width_px: int, height_px: int) -> np.ndarray:
    """One ``height x width x 3`` uint8 RGB tile: flat colour, big number, thin white frame."""
    tile = np.empty((height_px, width_px, 3), np.uint8)
    tile[:] = view_colour(view, num_views)
    text = str(view)
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, 2)
    scale = 0.6 * min(width_px / tw, height_px / th)
    thickness = max(1, round(scale * 2.5))
    (tw, th), base = cv2.getTextSize(text, font, scale, thickness)
    org = ((width_px - tw) // 2, (height_px + th) // 2)
    cv2.putText(tile, text, org, font, scale, (0, 0, 0), thickness + max(2, thickness // 2), cv2.LINE_AA)
    cv2.putText(tile, text, org, font, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    border = max(1, min(width_px, height_px) // 100)
    cv2.rectangle(tile, (0, 0), (width_px - 1, height_px - 1), (255, 255, 255), border)
    return tile


def notice_tile(text: str, width_px: int, height_px: int) -> np.ndarray:
    """``text`` in white on black, wrapped and centred in a ``height x width x 3`` uint8 tile."""
    tile = np.zeros((height_px, width_px, 3), np.uint8)
    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, 1
    scale = max(0.3, width_px / 640.0)
    # A number and its unit stay on one line: "(12 s)" is one word here.
    words, lines, line = re.findall(r"\(\S+ \w+\)|\S+", text), [], ""
    for w in words:
        trial = f"{line} {w}".strip()
        if cv2.getTextSize(trial, font, scale, thickness)[0][0] > width_px * 0.9 and line:
            lines.append(line)
            line = w
        else:
            line = trial
    lines.append(line)
    step = int(cv2.getTextSize("Ag", font, scale, thickness)[0][1] * 1.8) + 2
    y = (height_px - step * len(lines)) // 2 + step
    for ln in lines:
        (tw, _), _ = cv2.getTextSize(ln, font, scale, thickness)
        cv2.putText(tile, ln, ((width_px - tw) // 2, y), font, scale, (235, 235, 235), thickness, cv2.LINE_AA)
        y += step
    return tile


def notice_views(layout: QuiltLayout, text: str) -> np.ndarray:
    """A top-down quilt whose every view is the same text: on a Looking Glass it reads as flat
    text on the glass (zero parallax), as a message should."""
    tile = notice_tile(text, layout.tile_w_px, layout.tile_h_px)
    return assemble_quilt(np.repeat(tile[None], layout.num_views, axis=0), layout)


def numbered_views(layout: QuiltLayout) -> np.ndarray:
    """A top-down quilt image with every used view numbered (see the module docstring)."""
    views = np.stack(
        [
            numbered_view(v, layout.num_views, layout.tile_w_px, layout.tile_h_px)
            for v in range(layout.num_views)
        ]
    )
    return assemble_quilt(views, layout)
