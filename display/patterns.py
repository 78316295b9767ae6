"""Test patterns for checking a Looking Glass calibration by eye.

:func:`numbered_views` gives every view a distinct colour and its number in large digits.
Shown through the lenticular shader, a correct calibration and window placement show **one**
number filling the screen, counting up as the viewer's head moves to the right; numbers running
down mean the view order is inverted; several numbers or colours mixed across the screen mean
the calibration (or the window's position and size) is wrong.
"""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

from display.quilt import QuiltLayout, assemble_quilt

__all__ = ["numbered_views", "view_colour"]


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


def numbered_views(layout: QuiltLayout) -> np.ndarray:
    """A top-down quilt image with every used view numbered (see the module docstring)."""
    views = np.stack(
        [
            numbered_view(v, layout.num_views, layout.tile_w_px, layout.tile_h_px)
            for v in range(layout.num_views)
        ]
    )
    return assemble_quilt(views, layout)
