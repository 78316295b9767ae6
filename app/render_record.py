"""What a render's video was made from, in a small JSON file beside it, so that ``render --resume``
continues a video only with the same source photo, driver and settings.

The record of ``me_qs6x4a0.75.mp4`` is ``me_qs6x4a0.75.render.json``; the record of a
``--format views`` folder is ``render.json`` in it. It holds the SHA-256 of the source photo and
of the driver (a video file's bytes, or a folder's image names and bytes), and every setting that
changes the pixels or the encoding: format, views and quilt, avatar, frame rate, crf, preset.
``--frames`` and ``--no-audio`` are not recorded: resuming with more frames is what resuming is for.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RECORD_VERSION", "RecordError", "RenderRecord", "file_sha256", "folder_sha256"]

#: Version of the record's layout (a record of another version is not compared).
RECORD_VERSION = 1
#: A record is a few hundred bytes; anything much larger is not one.
MAX_RECORD_BYTES = 1 << 16

#: How each recorded setting is named to the user, with the flags that set it.
_WHAT = {
    "source": "source photo (--source)",
    "driver": "driver (--driver)",
    "format": "format (--format)",
    "plan": "views (--views, --view-size, --aspect, --sweep, --calibration)",
    "avatar": "avatar (--backend, --weights, --precision)",
    "fps": "frame rate (--fps, or the driver's)",
    "crf": "quality (--crf)",
    "preset": "x264 preset",
}


class RecordError(ValueError):
    """A record that cannot be read; the message says which file and why."""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def folder_sha256(folder: Path, suffixes: tuple[str, ...]) -> str:
    """One digest of the names and bytes of the files with ``suffixes``, in name order."""
    h = hashlib.sha256()
    for p in sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes and p.is_file()):
        h.update(p.name.encode("utf-8", "surrogateescape") + b"\0")
        h.update(file_sha256(p).encode())
    return h.hexdigest()


@dataclass(frozen=True)
class RenderRecord:
    """What a render was made from (see the module docstring).

    Attributes:
        source: ``{"name", "sha256"}`` of the source photo.
        driver: ``{"name", "sha256"}`` of the driver file or folder.
        settings: ``format``, ``plan``, ``avatar``, ``fps``, ``crf``, ``preset``.
    """

    source: dict[str, str]
    driver: dict[str, str]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"record": RECORD_VERSION, "source": self.source, "driver": self.driver, **self.settings}

    def write(self, path: Path) -> None:
        """Write atomically (a killed render leaves the old record or the new one, never half)."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n")
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> RenderRecord:
        """Raises :class:`RecordError` for a file that is missing, too large or not a record."""
        try:
            if path.stat().st_size > MAX_RECORD_BYTES:
                raise RecordError(f"{path} is not a render record (too large)")
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise RecordError(f"{path} is missing") from e
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
            raise RecordError(f"{path} cannot be read ({type(e).__name__})") from e
        if not isinstance(data, dict) or data.get("record") != RECORD_VERSION:
            raise RecordError(f"{path} is not a render record of this version")
        source, driver = data.get("source"), data.get("driver")
        if not isinstance(source, dict) or not isinstance(driver, dict):
            raise RecordError(f"{path} is not a render record (no source or driver)")
        settings = {k: v for k, v in data.items() if k not in ("record", "source", "driver")}
        return cls(source, driver, settings)

    def differences(self, other: RenderRecord) -> list[str]:
        """What differs between two records, in the user's words (empty: the same render)."""
        out = []
        if self.source.get("sha256") != other.source.get("sha256"):
            out.append(_WHAT["source"])
        if self.driver.get("sha256") != other.driver.get("sha256"):
            out.append(_WHAT["driver"])
        for key in sorted(set(self.settings) | set(other.settings)):
            if self.settings.get(key) != other.settings.get(key):
                out.append(_WHAT.get(key, key))
        return out
