"""Reading a source photo: any common file, upright, as ``H x W x 3`` uint8 RGB.

- EXIF orientation is applied (phone photos are stored sideways with a rotation tag).
- Modes: RGB, RGBA / LA / palette with transparency (composited over **black**, the
  background the model expects), grayscale (8, 16 and 32 bit, float), CMYK, YCbCr, 1-bit.
  Images with more than 8 bits per channel are rescaled by their type's full range, not by
  their own maximum, so exposure is kept.
- Size is checked from the file's header before anything is decoded: an image of more than
  :data:`MAX_IMAGE_PIXELS` pixels is refused with a one-line message (a small file can declare
  a huge image: 20000 x 20000 pixels fit in a few hundred kB of PNG and would need 1.2 GB).

Every problem raises :class:`~pipeline.tracking.errors.UnreadablePhotoError` with a sentence
that says what to do; nothing else escapes for any file content.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from pipeline.tracking.errors import UnreadablePhotoError

__all__ = ["MAX_IMAGE_PIXELS", "load_image", "read_image", "to_rgb_u8"]

_SUPPORTED_HINT = "Use a JPEG, PNG, WebP, BMP or TIFF photo."
#: Largest image read (width x height): 120 megapixels, above every phone camera's output.
MAX_IMAGE_PIXELS = 120_000_000


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


def read_image(
    path: str | os.PathLike[str], *, max_pixels: int = MAX_IMAGE_PIXELS, what: str = "image"
) -> np.ndarray:
    """Read any image file upright as ``H x W x 3`` uint8 RGB, refusing huge ones before decoding.

    Args:
        what: how the file is named in messages ("photo", "quilt image", ...).

    Raises:
        UnreadablePhotoError: the file does not exist, is a folder, is not an image, is
            damaged, or has more than ``max_pixels`` pixels.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path)
    if not p.exists():
        raise UnreadablePhotoError(f"{p}: no such file. Check the path to your {what}.")
    if p.is_dir():
        raise UnreadablePhotoError(f"{p} is a folder, not a {what}. Give the path of one image file.")
    too_big = (
        f"{p} is too large to read: over {max_pixels / 1e6:.0f} megapixels. "
        f"Resize it (e.g. to 4000 pixels on the long side) and try again."
    )
    try:
        # Pillow warns (above ~89 MP) or refuses (above ~179 MP) while opening; the size is
        # checked here instead, so its warning is not shown, nor its warnings about damaged
        # metadata (the outcome is what counts). catch_warnings is process-wide: a concurrent
        # reader may see such a warning once, nothing worse.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module="PIL")
            with Image.open(p) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise UnreadablePhotoError(too_big.replace("over", f"{w}x{h} pixels, over"))
                im.load()
                upright = ImageOps.exif_transpose(im)
                rgb = to_rgb_u8(upright)
    except Image.DecompressionBombError as e:
        raise UnreadablePhotoError(too_big) from e
    except UnidentifiedImageError as e:
        raise UnreadablePhotoError(
            f"{p} is not an image, or not a readable image format. {_SUPPORTED_HINT}"
        ) from e
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as e:
        # Truncated or corrupt files raise OSError/SyntaxError/EOFError from the decoders.
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise UnreadablePhotoError(
            f"{p} could not be decoded ({first}). The file may be damaged; export it again. {_SUPPORTED_HINT}"
        ) from e
    return rgb


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a source photo ``path`` upright as ``H x W x 3`` uint8 RGB (see :func:`read_image`).

    Raises:
        UnreadablePhotoError: the file does not exist, is not an image, is damaged, is too
            large, or is smaller than 16 pixels on a side.
    """
    p = Path(path)
    rgb = read_image(p, what="photo")
    if rgb.shape[0] < 16 or rgb.shape[1] < 16:
        raise UnreadablePhotoError(
            f"{p} is only {rgb.shape[1]}x{rgb.shape[0]} pixels. Use a portrait photo of at least 256x256."
        )
    return rgb
