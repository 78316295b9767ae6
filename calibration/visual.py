"""Looking Glass display calibration (``visual.json``): load, validate, write, derive.

Every unit is calibrated at the factory; the result is a small JSON file whose numbers are
wrapped as ``{"value": x}`` (``configVersion``, ``serial`` and ``subpixelCells`` are not).
:func:`parse_visual` accepts wrapped and bare numbers, checks every field for type and
plausible range, and raises :class:`CalibrationError` naming the field when something is wrong.

:meth:`Calibration.shader_params` derives the lenticular shader's inputs exactly as in the
display spec (section 2.2):

* pitch ``P = pitch * (W / DPI) * cos(atan(1 / slope))`` lens periods across the panel width,
* tilt ``T = H / (W * slope)`` (negated when ``flipImageX``),
* sub-pixel step ``S = 1 / (3 W)`` (negated when ``flipImageX``),
* ``center`` unchanged, red/blue sub-pixel order swapped when ``flipSubp``,
* Gen3 ``subpixelCells`` offsets divided once by ``(W, H)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "MAX_SUBPIXEL_CELLS",
    "Calibration",
    "CalibrationError",
    "ShaderParams",
    "SubpixelCell",
    "load_visual",
    "parse_visual",
]

#: The shader holds at most this many Gen3 cells (real panels use 1 to 4).
MAX_SUBPIXEL_CELLS = 16
_CELL_KEYS = ("ROffsetX", "ROffsetY", "GOffsetX", "GOffsetY", "BOffsetX", "BOffsetY")


class CalibrationError(ValueError):
    """A calibration file is missing, malformed or implausible; ``field`` names the culprit."""

    def __init__(self, field_name: str | None, message: str, source: str = "visual.json") -> None:
        self.field = field_name
        self.source = source
        self.message = message
        where = f"{source}: field '{field_name}'" if field_name else source
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class SubpixelCell:
    """One Gen3 sub-pixel cell: where R, G and B sit inside a pixel, in panel pixels."""

    r_offset_x_px: float
    r_offset_y_px: float
    g_offset_x_px: float
    g_offset_y_px: float
    b_offset_x_px: float
    b_offset_y_px: float

    def offsets_px(self) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
        """``((dx, dy) for R, G, B)`` in pixels."""
        return (
            (self.r_offset_x_px, self.r_offset_y_px),
            (self.g_offset_x_px, self.g_offset_y_px),
            (self.b_offset_x_px, self.b_offset_y_px),
        )


@dataclass(frozen=True)
class ShaderParams:
    """The lenticular shader's inputs derived from a calibration (spec section 2.2)."""

    screen_w_px: int
    screen_h_px: int
    pitch: float  # lens periods across the panel width (P)
    tilt: float  # T
    subp: float  # S, one sub-pixel in normalised u
    center: float  # phase offset in lens periods
    inv_view: bool
    red_slot: int  # which sub-pixel position the red channel uses (0, or 2 when BGR)
    blue_slot: int
    cell_pattern_mode: int
    #: Gen3 cells, each ``((dx/W, dy/H) for R, G, B)``: normalised exactly once.
    cells_norm: tuple[tuple[tuple[float, float], ...], ...] = ()

    @property
    def display_aspect(self) -> float:
        return self.screen_w_px / self.screen_h_px


#: Plausible ranges, generous around every shipped device (spec section 2.1).
_RANGES: dict[str, tuple[float, float]] = {
    "pitch": (5.0, 500.0),
    "slope": (-50.0, 50.0),
    "center": (-1000.0, 1000.0),
    "viewCone": (1.0, 180.0),
    "verticalAngle": (-90.0, 90.0),
    "DPI": (30.0, 2000.0),
    "screenW": (16, 16384),
    "screenH": (16, 16384),
    "fringe": (-1000.0, 1000.0),
}


@dataclass(frozen=True)
class Calibration:
    """A validated ``visual.json``. Field names follow the file; units are in the docstrings.

    Attributes:
        pitch: lenticules per inch across the slanted lenses.
        slope: lens slant, pixels of rise per pixel of run (signed, never 0).
        center: lens phase offset, in lens periods.
        view_cone_deg: physical view cone.
        dpi: panel pixels per inch.
        screen_w_px, screen_h_px: native panel resolution.
        inv_view: view order reversed under the lens (1 on every known device).
        vertical_angle_deg: vertical frustum skew (0 in practice).
        flip_image_x, flip_image_y, flip_subp: 0/1 flags (``flip_subp``: BGR sub-pixels).
        fringe: legacy fringe correction (unused by current shaders).
        cell_pattern_mode: Gen3 cell selector 0..4 (0 for older panels).
        subpixel_cells: Gen3 cells (empty for older panels).
    """

    pitch: float
    slope: float
    center: float
    dpi: float
    screen_w_px: int
    screen_h_px: int
    view_cone_deg: float = 40.0
    inv_view: bool = True
    vertical_angle_deg: float = 0.0
    flip_image_x: bool = False
    flip_image_y: bool = False
    flip_subp: bool = False
    fringe: float = 0.0
    cell_pattern_mode: int = 0
    subpixel_cells: tuple[SubpixelCell, ...] = ()
    config_version: str = "3.0"
    serial: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checks = {
            "pitch": self.pitch,
            "slope": self.slope,
            "center": self.center,
            "viewCone": self.view_cone_deg,
            "verticalAngle": self.vertical_angle_deg,
            "DPI": self.dpi,
            "screenW": self.screen_w_px,
            "screenH": self.screen_h_px,
            "fringe": self.fringe,
        }
        for name, value in checks.items():
            lo, hi = _RANGES[name]
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise CalibrationError(name, f"must be a finite number, got {value!r}")
            if not lo <= value <= hi:
                raise CalibrationError(name, f"{value} is implausible (expected {lo:g} to {hi:g})")
        if abs(self.slope) < 0.05:
            raise CalibrationError("slope", f"{self.slope} is implausible: the lens slant cannot be ~0")
        for name, value in (("screenW", self.screen_w_px), ("screenH", self.screen_h_px)):
            if int(value) != value:
                raise CalibrationError(name, f"must be a whole number of pixels, got {value}")
        if self.cell_pattern_mode not in (0, 1, 2, 3, 4):
            raise CalibrationError("CellPatternMode", f"must be 0 to 4, got {self.cell_pattern_mode!r}")
        if len(self.subpixel_cells) > MAX_SUBPIXEL_CELLS:
            raise CalibrationError(
                "subpixelCells", f"{len(self.subpixel_cells)} cells; at most {MAX_SUBPIXEL_CELLS} supported"
            )

    @property
    def display_aspect(self) -> float:
        return self.screen_w_px / self.screen_h_px

    @property
    def is_gen3(self) -> bool:
        return len(self.subpixel_cells) > 0

    def shader_params(self) -> ShaderParams:
        """Derive the shader's pitch, tilt, sub-pixel step, centre and flips (spec 2.2)."""
        w, h = self.screen_w_px, self.screen_h_px
        sign = -1.0 if self.flip_image_x else 1.0
        pitch = self.pitch * (w / self.dpi) * math.cos(math.atan(1.0 / self.slope))
        tilt = sign * h / (w * self.slope)
        subp = sign / (3.0 * w)
        cells = tuple(tuple((dx / w, dy / h) for dx, dy in cell.offsets_px()) for cell in self.subpixel_cells)
        return ShaderParams(
            screen_w_px=w,
            screen_h_px=h,
            pitch=pitch,
            tilt=tilt,
            subp=subp,
            center=self.center,
            inv_view=self.inv_view,
            red_slot=2 if self.flip_subp else 0,
            blue_slot=0 if self.flip_subp else 2,
            cell_pattern_mode=self.cell_pattern_mode,
            cells_norm=cells,
        )

    def to_json_dict(self) -> dict[str, Any]:
        """The ``visual.json`` layout (numbers wrapped as ``{"value": x}``)."""

        def v(x: float | int) -> dict[str, float | int]:
            return {"value": x}

        out: dict[str, Any] = dict(self.extra)
        out.update(
            {
                "configVersion": self.config_version,
                "serial": self.serial,
                "pitch": v(self.pitch),
                "slope": v(self.slope),
                "center": v(self.center),
                "viewCone": v(self.view_cone_deg),
                "invView": v(int(self.inv_view)),
                "verticalAngle": v(self.vertical_angle_deg),
                "DPI": v(self.dpi),
                "screenW": v(self.screen_w_px),
                "screenH": v(self.screen_h_px),
                "flipImageX": v(int(self.flip_image_x)),
                "flipImageY": v(int(self.flip_image_y)),
                "flipSubp": v(int(self.flip_subp)),
                "fringe": v(self.fringe),
                "CellPatternMode": v(self.cell_pattern_mode),
                "subpixelCells": [
                    dict(zip(_CELL_KEYS, _cell_values(c), strict=True)) for c in self.subpixel_cells
                ],
            }
        )
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), indent=2)

    @classmethod
    def from_json_dict(cls, raw: Any) -> Calibration:
        """Inverse of :meth:`to_json_dict` (:func:`parse_visual`)."""
        return parse_visual(raw)


def _cell_values(c: SubpixelCell) -> tuple[float, ...]:
    return (
        c.r_offset_x_px,
        c.r_offset_y_px,
        c.g_offset_x_px,
        c.g_offset_y_px,
        c.b_offset_x_px,
        c.b_offset_y_px,
    )


_KNOWN = {
    "configVersion",
    "serial",
    "pitch",
    "slope",
    "center",
    "viewCone",
    "invView",
    "verticalAngle",
    "DPI",
    "screenW",
    "screenH",
    "flipImageX",
    "flipImageY",
    "flipSubp",
    "fringe",
    "CellPatternMode",
    "cellPatternMode",
    "subpixelCells",
}


#: Largest visual.json read (real ones are about 1 kB).
MAX_VISUAL_BYTES = 1 << 20
#: Most digits of an integer in a visual.json (no calibration value needs more).
_MAX_INT_DIGITS = 30


def _describe(value: Any, limit: int = 60) -> str:
    """A short, always-computable description of a decoded JSON value for messages."""
    if isinstance(value, Mapping):
        return f"an object with {len(value)} key(s)"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} item(s)"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**_MAX_INT_DIGITS:
        return "an integer with too many digits"
    text = "null" if value is None else json.dumps(value) if isinstance(value, (bool, str)) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _number(raw: Mapping[str, Any], key: str, source: str, default: float | None = None) -> float:
    if key not in raw:
        if default is None:
            raise CalibrationError(key, "is missing (every Looking Glass visual.json has it)", source)
        return default
    value = raw[key]
    if isinstance(value, Mapping):
        if "value" not in value:
            raise CalibrationError(key, f'expected {{"value": <number>}}, got {_describe(value)}', source)
        value = value["value"]
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise CalibrationError(
                key, f"expected a number, got the text {_describe(value)}", source
            ) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CalibrationError(key, f"expected a number, got {_describe(value)}", source)
    try:
        value = float(value)
    except OverflowError:
        raise CalibrationError(key, f"expected a plausible number, got {_describe(value)}", source) from None
    if not math.isfinite(value):
        raise CalibrationError(key, f"expected a finite number, got {value}", source)
    return value


def _flag(raw: Mapping[str, Any], key: str, source: str, default: bool) -> bool:
    x = _number(raw, key, source, float(default))
    if x not in (0.0, 1.0):
        raise CalibrationError(key, f"must be 0 or 1, got {x:g}", source)
    return x == 1.0


def _integer(raw: Mapping[str, Any], key: str, source: str, default: int | None = None) -> int:
    x = _number(raw, key, source, None if default is None else float(default))
    if x != int(x):
        raise CalibrationError(key, f"must be a whole number, got {x:g}", source)
    return int(x)


def _cells(raw: Any, source: str) -> tuple[SubpixelCell, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
        raise CalibrationError("subpixelCells", f"expected a list of cells, got {type(raw).__name__}", source)
    if len(raw) > MAX_SUBPIXEL_CELLS:
        raise CalibrationError(
            "subpixelCells", f"{len(raw)} cells; at most {MAX_SUBPIXEL_CELLS} supported", source
        )
    cells = []
    for i, cell in enumerate(raw):
        name = f"subpixelCells[{i}]"
        if not isinstance(cell, Mapping):
            raise CalibrationError(name, f"expected an object with {', '.join(_CELL_KEYS)}", source)
        values = []
        for k in _CELL_KEYS:
            try:
                x = _number(cell, k, source, None)
            except CalibrationError as e:
                raise CalibrationError(f"{name}.{k}", e.message, source) from None
            if abs(x) > 4.0:
                raise CalibrationError(
                    f"{name}.{k}",
                    f"{x:g} px is implausible (sub-pixel offsets lie within a few pixels)",
                    source,
                )
            values.append(x)
        cells.append(SubpixelCell(*values))
    return tuple(cells)


def parse_visual(raw: Any, source: str = "visual.json") -> Calibration:
    """Validate a decoded ``visual.json`` object; raise :class:`CalibrationError` naming the field."""
    if not isinstance(raw, Mapping):
        raise CalibrationError(
            None, f"expected a JSON object at the top level, got {type(raw).__name__}", source
        )
    cfg_version = raw.get("configVersion", "")
    serial = raw.get("serial", "")
    for key, value in (("configVersion", cfg_version), ("serial", serial)):
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise CalibrationError(key, f"expected text, got {_describe(value)}", source)
        if isinstance(value, int) and abs(value) >= 10**_MAX_INT_DIGITS:
            raise CalibrationError(key, f"expected text, got {_describe(value)}", source)
    mode_key = "CellPatternMode" if "CellPatternMode" in raw else "cellPatternMode"
    try:
        return Calibration(
            pitch=_number(raw, "pitch", source),
            slope=_number(raw, "slope", source),
            center=_number(raw, "center", source),
            dpi=_number(raw, "DPI", source),
            screen_w_px=_integer(raw, "screenW", source),
            screen_h_px=_integer(raw, "screenH", source),
            view_cone_deg=_number(raw, "viewCone", source, 40.0),
            inv_view=_flag(raw, "invView", source, True),
            vertical_angle_deg=_number(raw, "verticalAngle", source, 0.0),
            flip_image_x=_flag(raw, "flipImageX", source, False),
            flip_image_y=_flag(raw, "flipImageY", source, False),
            flip_subp=_flag(raw, "flipSubp", source, False),
            fringe=_number(raw, "fringe", source, 0.0),
            cell_pattern_mode=_integer(raw, mode_key, source, 0),
            subpixel_cells=_cells(raw.get("subpixelCells"), source),
            config_version=str(cfg_version),
            serial=str(serial),
            extra={k: v for k, v in raw.items() if k not in _KNOWN},
        )
    except CalibrationError as e:
        if e.source != source:
            raise CalibrationError(e.field, e.message, source) from None
        raise


class _TooManyDigits(ValueError):
    """A JSON integer longer than :data:`_MAX_INT_DIGITS` (raised while parsing)."""


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise _TooManyDigits(text)
    return int(text)


def load_visual(path: str | Path) -> Calibration:
    """Read and validate a ``visual.json`` file.

    Raises:
        CalibrationError: for any problem (missing, unreadable, too large, not JSON, nested
            too deeply, numbers with too many digits, invalid fields), and nothing else.
    """
    p = Path(path)
    if not p.is_file():
        raise CalibrationError(None, "file not found", str(p))
    try:
        size = p.stat().st_size
        if size > MAX_VISUAL_BYTES:
            raise CalibrationError(
                None,
                f"{size} bytes is too large for a visual.json (about 1 kB); is it the right file?",
                str(p),
            )
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise CalibrationError(None, f"cannot read the file: {e}", str(p)) from e
    try:
        raw = json.loads(text, parse_int=_bounded_int)
    except json.JSONDecodeError as e:
        raise CalibrationError(
            None, f"not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})", str(p)
        ) from e
    except _TooManyDigits as e:
        raise CalibrationError(
            None, f"not a visual.json: it holds a number of {len(str(e))} digits", str(p)
        ) from None
    except RecursionError:
        # The file is at most MAX_VISUAL_BYTES, so the parser stops at its recursion limit.
        raise CalibrationError(None, "not a visual.json: its JSON is nested too deeply", str(p)) from None
    return parse_visual(raw, source=str(p))
