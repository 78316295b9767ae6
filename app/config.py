"""The user's settings file (``config.json`` in the user config folder, see :mod:`app.paths`).

Holds *values* only: the chosen source photo, the Looking Glass calibration file, the preferred
backend, webcam intrinsics. Unknown keys are kept (a newer version may have written them); a
damaged file is reported and treated as empty, never silently overwritten.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from app.paths import ensure, user_paths

__all__ = ["ConfigError", "load_config", "save_config", "update_config"]


class ConfigError(RuntimeError):
    """The settings file exists but cannot be read."""


def _path() -> Path:
    return user_paths().config_file


def load_config() -> dict[str, Any]:
    p = _path()
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"settings file {p} is damaged ({e}); fix or delete it") from e
    if not isinstance(data, dict):
        raise ConfigError(f"settings file {p} must hold a JSON object")
    return data


def save_config(data: dict[str, Any]) -> Path:
    p = _path()
    ensure(p.parent)
    tmp = p.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, p)
    return p


def update_config(**values: Any) -> dict[str, Any]:
    """Set keys (``None`` removes a key) and save; returns the new settings."""
    data = load_config()
    for k, v in values.items():
        if v is None:
            data.pop(k, None)
        else:
            data[k] = v
    save_config(data)
    return data
