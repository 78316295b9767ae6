"""Layouts: which role of the live pipeline runs on which GPU. Data files, not code.

A layout is a JSON file (the bundled ones are in ``assets/layouts/``)::

    {"name": "...", "description": "...", "num_views": 24, "view_size": 512,
     "capture": {"gpu": 0}, "estimator": {"gpu": 1},
     "renderers": [{"gpu": 2, "views": [0, 1, 2, 3, 4, 5]}, ...],
     "compositor": {"gpu": 6}}

``gpu`` is a CUDA device index or ``null`` for CPU. The renderers' ``views`` must cover
``0 .. num_views-1`` exactly once. GPU pinning: each role's process is started with
``CUDA_VISIBLE_DEVICES`` set to its GPU (or to an empty string for CPU roles) *before* it
imports torch, so inside the process the device is always ``cuda:0`` (or the CPU).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["Layout", "LayoutError", "RoleSpec", "auto_layout", "bundled_layouts", "load_layout"]

ROLE_NAMES = ("capture", "estimator", "renderer", "compositor")


class LayoutError(ValueError):
    """A layout file that is missing or malformed; the message names the field."""


@dataclass(frozen=True)
class RoleSpec:
    """One process of the graph: its role, its GPU (None = CPU) and, for renderers, its views."""

    role: str
    gpu: int | None
    views: tuple[int, ...] = ()
    index: int = 0

    @property
    def name(self) -> str:
        return f"renderer-{self.index}" if self.role == "renderer" else self.role

    def env(self) -> dict[str, str]:
        """Environment that pins this role to its device (set before torch is imported)."""
        return {"CUDA_VISIBLE_DEVICES": "" if self.gpu is None else str(self.gpu)}

    @property
    def device(self) -> str:
        """The torch device *inside* the pinned process."""
        return "cpu" if self.gpu is None else "cuda:0"


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    num_views: int
    view_size: int
    capture: RoleSpec
    estimator: RoleSpec
    renderers: tuple[RoleSpec, ...]
    compositor: RoleSpec

    def __post_init__(self) -> None:
        if not 1 <= self.num_views <= 256:
            raise LayoutError(f"layout {self.name}: num_views must be 1..256, got {self.num_views}")
        if not 16 <= self.view_size <= 2048:
            raise LayoutError(f"layout {self.name}: view_size must be 16..2048, got {self.view_size}")
        if not self.renderers:
            raise LayoutError(f"layout {self.name}: needs at least one renderer")
        seen: list[int] = []
        for r in self.renderers:
            if not r.views:
                raise LayoutError(f"layout {self.name}: {r.name} has no views")
            seen.extend(r.views)
        if sorted(seen) != list(range(self.num_views)):
            raise LayoutError(
                f"layout {self.name}: renderers' views must cover 0..{self.num_views - 1} exactly once, got {sorted(seen)}"
            )

    @property
    def roles(self) -> tuple[RoleSpec, ...]:
        return (self.capture, self.estimator, *self.renderers, self.compositor)

    @property
    def gpus(self) -> set[int]:
        return {r.gpu for r in self.roles if r.gpu is not None}

    def with_views(self, num_views: int, view_size: int | None = None) -> Layout:
        """The same roles with ``num_views`` spread evenly over the renderers."""
        n_r = min(len(self.renderers), num_views)
        per = [num_views // n_r + (1 if i < num_views % n_r else 0) for i in range(n_r)]
        start = 0
        renderers = []
        for i, k in enumerate(per):
            src = self.renderers[i]
            renderers.append(RoleSpec("renderer", src.gpu, tuple(range(start, start + k)), i))
            start += k
        return Layout(
            self.name,
            self.description,
            num_views,
            view_size or self.view_size,
            self.capture,
            self.estimator,
            tuple(renderers),
            self.compositor,
        )


def _role(role: str, obj: Any, where: str, views: tuple[int, ...] = (), index: int = 0) -> RoleSpec:
    if isinstance(obj, dict):
        extra = set(obj) - {"gpu", "views"}
        if extra:
            raise LayoutError(f"{where}: unknown field(s) {sorted(extra)} (known: gpu, views)")
    return RoleSpec(role, _gpu(obj, where), views, index)


def _gpu(obj: Any, where: str) -> int | None:
    if not isinstance(obj, dict):
        raise LayoutError(f'{where} must be an object like {{"gpu": 0}}')
    g = obj.get("gpu", None)
    if g is None:
        return None
    if isinstance(g, bool) or not isinstance(g, int) or g < 0:
        raise LayoutError(f"{where}.gpu must be a GPU index >= 0 or null, got {g!r}")
    return g


def layout_from_dict(d: Any, source: str = "layout") -> Layout:
    if not isinstance(d, dict):
        raise LayoutError(f"{source}: a layout is a JSON object")
    for key in ("name", "num_views", "view_size", "capture", "estimator", "renderers", "compositor"):
        if key not in d:
            raise LayoutError(f"{source}: missing field '{key}'")
    unknown = set(d) - {
        "name",
        "description",
        "num_views",
        "view_size",
        "capture",
        "estimator",
        "renderers",
        "compositor",
    }
    if unknown:
        raise LayoutError(f"{source}: unknown field(s) {sorted(unknown)}")
    if not isinstance(d["renderers"], list):
        raise LayoutError(f"{source}: 'renderers' must be a list")
    renderers = []
    for i, r in enumerate(d["renderers"]):
        views = r.get("views") if isinstance(r, dict) else None
        if not isinstance(views, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in views
        ):
            raise LayoutError(f"{source}: renderers[{i}].views must be a list of view indices")
        renderers.append(_role("renderer", r, f"renderers[{i}]", tuple(views), i))
    for key in ("num_views", "view_size"):
        if isinstance(d[key], bool) or not isinstance(d[key], int):
            raise LayoutError(f"{source}: '{key}' must be an integer")
    return Layout(
        str(d["name"]),
        str(d.get("description", "")),
        d["num_views"],
        d["view_size"],
        _role("capture", d["capture"], "capture"),
        _role("estimator", d["estimator"], "estimator"),
        tuple(renderers),
        _role("compositor", d["compositor"], "compositor"),
    )


def bundled_layouts() -> dict[str, Layout]:
    out = {}
    for entry in resources.files("assets.layouts").iterdir():
        if entry.name.endswith(".json"):
            lay = layout_from_dict(json.loads(entry.read_text()), entry.name)
            out[lay.name] = lay
    return out


#: A layout file is a few hundred bytes; anything far larger is not one.
MAX_LAYOUT_BYTES = 1 << 20


def load_layout(name_or_path: str | Path) -> Layout:
    """A bundled layout by name (``seven-gpu``, ``one-gpu``, ``cpu``) or a JSON file."""
    bundled = bundled_layouts()
    if str(name_or_path) in bundled:
        return bundled[str(name_or_path)]
    p = Path(name_or_path).expanduser()
    if not p.is_file():
        raise LayoutError(
            f"no layout named {str(name_or_path)!r} (bundled: {', '.join(sorted(bundled))}) and no such file"
        )
    if p.stat().st_size > MAX_LAYOUT_BYTES:
        raise LayoutError(f"{p}: not a layout file (over {MAX_LAYOUT_BYTES // 1024} KB)")
    try:
        data = json.loads(p.read_text())
    except RecursionError as e:  # nesting deeper than the parser's stack
        raise LayoutError(f"{p}: not a layout file (JSON nested too deeply)") from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LayoutError(f"{p}: not a readable JSON file ({e})") from e
    except ValueError as e:  # an integer of more than 4300 digits
        raise LayoutError(f"{p}: not a layout file (a number with thousands of digits)") from e
    return layout_from_dict(data, str(p))


def auto_layout(num_gpus: int) -> Layout:
    """The bundled layout for a machine with ``num_gpus`` CUDA devices."""
    bundled = bundled_layouts()
    if num_gpus >= 7:
        return bundled["seven-gpu"]
    if num_gpus >= 1:
        return bundled["one-gpu"]
    return bundled["cpu"]
