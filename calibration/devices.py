"""What is known about a Looking Glass besides its calibration: model, default quilt, HLD or not.

* :func:`model_for` names the model from Looking Glass Bridge's ``hardwareVersion`` string, else
  from the serial's prefix (display spec section 1.2 and 2.3); ``None`` when neither is known.
* :class:`DefaultQuilt` is the quilt the display's own software plays: Bridge reports it per
  display as ``defaultQuilt`` (``quiltX, quiltY, tileX, tileY, quiltAspect``), 48-view Gen3
  presets included. It is plain data; the quilt maths live in :mod:`display.quilt`.
* :func:`is_hololuminescent` recognises a Hololuminescent Display (HLD). An HLD shows ordinary 2D
  video, not a quilt through a lens array, so a caller offers the single-view output for it.

The identifiers of HLD units were not available from any source (no Bridge answer from an HLD
was seen): a display counts as an HLD when ``HLD`` stands as a word, or "hololuminescent"
appears, in its ``hardwareVersion``, serial or ``hwid``. This is an assumption, not verified on
hardware.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MODELS",
    "DefaultQuilt",
    "DisplayModel",
    "is_hololuminescent",
    "model_for",
    "models_with_panel",
    "parse_default_quilt",
]


@dataclass(frozen=True)
class DisplayModel:
    """One Looking Glass model.

    Attributes:
        name: what a user calls it.
        serial_prefixes: serial numbers of this model start with one of these.
        hardware_versions: Bridge's ``hardwareVersion`` strings for it.
        screen_w_px, screen_h_px: native panel size.
    """

    name: str
    serial_prefixes: tuple[str, ...]
    hardware_versions: tuple[str, ...]
    screen_w_px: int
    screen_h_px: int


#: Every model in the display spec's table 1.2; ``hardwareVersion`` strings from its section 2.3.
MODELS: tuple[DisplayModel, ...] = (
    DisplayModel('Looking Glass 8.9" (Gen1)', ("LKG-2K",), ("standard",), 2560, 1600),
    DisplayModel('Looking Glass 15.6" (Gen1)', ("LKG-4K",), ("large", "pro"), 3840, 2160),
    DisplayModel("Looking Glass 8K (Gen1)", ("LKG-8K",), ("8k",), 7680, 4320),
    DisplayModel("Looking Glass Portrait", ("LKG-P",), ("portrait",), 1536, 2048),
    DisplayModel('Looking Glass 16" (Gen2)', ("LKG-A",), ("4k_gen2",), 3840, 2160),
    DisplayModel('Looking Glass 32" (Gen2)', ("LKG-B",), ("8k_gen2",), 7680, 4320),
    DisplayModel('Looking Glass 65" (Gen2)', ("LKG-D",), ("65_gen2",), 7680, 4320),
    DisplayModel("Looking Glass Go", ("LKG-E",), ("go_p",), 1440, 2560),
    DisplayModel('Looking Glass 16" Spatial Display (portrait)', ("LKG-H",), ("16_gen3_p",), 2160, 3840),
    DisplayModel('Looking Glass 16" Spatial Display (landscape)', ("LKG-J",), ("16_gen3_l",), 3840, 2160),
    DisplayModel('Looking Glass 32" Spatial Display (portrait)', ("LKG-K",), ("32_gen3_p",), 4320, 7680),
    DisplayModel('Looking Glass 32" Spatial Display (landscape)', ("LKG-L",), ("32_gen3_l",), 7680, 4320),
)

_HLD_WORD = re.compile(r"(?:^|[^a-z0-9])hld(?:$|[^a-z0-9])", re.IGNORECASE)


def model_for(hardware_version: str = "", serial: str = "") -> DisplayModel | None:
    """The model named by Bridge's ``hardwareVersion``, else by the longest matching serial prefix.

    >>> model_for(serial="LKG-PORT-02283").name
    'Looking Glass Portrait'
    >>> model_for(hardware_version="16_gen3_l").name
    'Looking Glass 16" Spatial Display (landscape)'
    """
    hw = hardware_version.strip().lower()
    if hw:
        for m in MODELS:
            if hw in m.hardware_versions:
                return m
    best: tuple[int, DisplayModel] | None = None
    s = serial.strip().upper()
    for m in MODELS:
        for prefix in m.serial_prefixes:
            if s.startswith(prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), m)
    return None if best is None else best[1]


def models_with_panel(width_px: int, height_px: int) -> list[DisplayModel]:
    """Models whose native panel is ``width_px x height_px`` (several share 3840x2160 and 8K)."""
    return [m for m in MODELS if (m.screen_w_px, m.screen_h_px) == (width_px, height_px)]


def is_hololuminescent(*identifiers: str) -> bool:
    """True when any identifier (``hardwareVersion``, serial, ``hwid``) marks an HLD (see module doc).

    >>> is_hololuminescent("portrait", "LKG-PORT-02283")
    False
    >>> is_hololuminescent("27_hld_l")
    True
    """
    for ident in identifiers:
        if ident and (_HLD_WORD.search(ident) or "hololuminescent" in ident.lower()):
            return True
    return False


@dataclass(frozen=True)
class DefaultQuilt:
    """A display's default quilt (Bridge's ``defaultQuilt``).

    Attributes:
        cols, rows: tiles across and up (Bridge's ``tileX``, ``tileY``).
        quilt_w_px, quilt_h_px: the whole quilt image (``quiltX``, ``quiltY``).
        aspect: the views' width/height (``quiltAspect``), the display aspect.
        views: views in the quilt, ``cols * rows``.
    """

    cols: int
    rows: int
    quilt_w_px: int
    quilt_h_px: int
    aspect: float

    def __post_init__(self) -> None:
        for name in ("cols", "rows"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 64:
                raise ValueError(f"{name} must be a whole number from 1 to 64, got {v!r}")
        for name in ("quilt_w_px", "quilt_h_px"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 16 <= v <= 16384:
                raise ValueError(f"{name} must be a whole number of pixels from 16 to 16384, got {v!r}")
        if not (
            isinstance(self.aspect, (int, float)) and math.isfinite(self.aspect) and 0.05 <= self.aspect <= 20
        ):
            raise ValueError(f"aspect must be a width/height ratio from 0.05 to 20, got {self.aspect!r}")

    @property
    def views(self) -> int:
        return self.cols * self.rows

    def describe(self) -> str:
        """e.g. ``8x6 (48 views), 3360x3360 px, aspect 0.75``."""
        return (
            f"{self.cols}x{self.rows} ({self.views} views), {self.quilt_w_px}x{self.quilt_h_px} px, "
            f"aspect {self.aspect:.4g}"
        )


def parse_default_quilt(raw: Any) -> DefaultQuilt:
    """A :class:`DefaultQuilt` from Bridge's ``defaultQuilt`` (a JSON string or an object).

    Raises ValueError saying what is wrong.
    """
    if isinstance(raw, (str, bytes)):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ValueError(f"defaultQuilt is not valid JSON ({e.msg})") from None
    if not isinstance(raw, Mapping):
        raise ValueError(f"defaultQuilt must be a JSON object, got {type(raw).__name__}")

    def whole(key: str) -> int:
        if key not in raw:
            raise ValueError(f"defaultQuilt has no '{key}'")
        v = raw[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v != int(v):
            raise ValueError(f"defaultQuilt '{key}' must be a whole number, got {v!r}")
        return int(v)

    aspect = raw.get("quiltAspect")
    if isinstance(aspect, bool) or not isinstance(aspect, (int, float)):
        raise ValueError(f"defaultQuilt 'quiltAspect' must be a number, got {aspect!r}")
    return DefaultQuilt(whole("tileX"), whole("tileY"), whole("quiltX"), whole("quiltY"), float(aspect))
