"""Reading a source photo: any common file, upright, as ``H x W x 3`` uint8 RGB.

- EXIF orientation is applied (phone photos are stored sideways with a rotation tag).
- Modes: RGB, RGBA / LA / palette with transparency (composited over **black**, the
  background the model expects), grayscale (8, 16 and 32 bit, float), CMYK, YCbCr, 1-bit.
  Images with more than 8 bits per channel are rescaled by their type's full range, not by
  their own maximum, so exposure is kept.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pipeline.tracking.errors import UnreadablePhotoError

__all__ = ["load_image", "to_rgb_u8"]

_SUPPORTED_HINT = "Use a JPEG, PNG, WebP, BMP or TIFF photo."


def to_rgb_u8(image) -> np.ndarray:
    """Convert a PIL image in any mode to a C-contiguous ``H x W x 3`` uint8 RGB array."""

    mode = image.mode
    if mode == "RGB":
        return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(image)
        if mode.startswith("I;16"):
            g = a.astype(np.float64) / 65535.0
        elif mode == "I":
            # 32-bit integer images usually carry 16-bit data (PIL opens some 16-bit PNGs so).
            full = 65535.0 if a.max(initial=0) <= 65535 else float(np.iinfo(np.int32).max)
            g = a.astype(np.float64) / full
        else:
            # Float images: [0, 1] by convention; anything larger is taken as 0..255.
            g = a.astype(np.float64)
            g = g / 255.0 if np.nanmax(g, initial=0.0) > 1.0 else g
        g = np.nan_to_num(np.clip(g, 0.0, 1.0))
        u8 = np.round(g * 255.0).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(u8[:, :, None], 3, axis=2))
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
        alpha = rgba[:, :, 3:4] / 255.0
        return np.ascontiguousarray(np.round(rgba[:, :, :3] * alpha).astype(np.uint8))
    if mode == "CMYK":
        # PIL's CMYK -> RGB is the naive formula; Adobe JPEGs store inverted CMYK.
        rgb = image.convert("RGB")
        return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read ``path`` upright as ``H x W x 3`` uint8 RGB.

    Raises:
        UnreadablePhotoError: the file does not exist, is not an image, or is damaged.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path)
    if not p.exists():
        raise UnreadablePhotoError(f"{p}: no such file. Check the path to your photo.")
    if p.is_dir():
        raise UnreadablePhotoError(f"{p} is a folder, not a photo. Give the path of one image file.")
    try:
        with Image.open(p) as im:
            im.load()
            upright = ImageOps.exif_transpose(im)
            rgb = to_rgb_u8(upright)
    except UnidentifiedImageError as e:
        raise UnreadablePhotoError(f"{p} is not an image this program can read. {_SUPPORTED_HINT}") from e
    except (OSError, SyntaxError, ValueError) as e:
        # Truncated or corrupt files raise OSError/SyntaxError from the decoders.
        raise UnreadablePhotoError(
            f"{p} could not be decoded ({e}). The file may be damaged; export the photo again. "
            f"{_SUPPORTED_HINT}"
        ) from e
    if rgb.shape[0] < 16 or rgb.shape[1] < 16:
        raise UnreadablePhotoError(
            f"{p} is only {rgb.shape[1]}x{rgb.shape[0]} pixels. Use a portrait photo of at least 256x256."
        )
    return rgb
