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
    """The settings file exists but cannot be read; the message is one line saying what to do."""


#: Largest settings file read (a real one is well under 10 kB).
MAX_CONFIG_BYTES = 1 << 20
_MAX_INT_DIGITS = 30


class _TooManyDigits(ValueError):
    """A JSON integer longer than any setting needs (raised while parsing)."""


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise _TooManyDigits(text)
    return int(text)


def _path() -> Path:
    return user_paths().config_file


def load_config() -> dict[str, Any]:
    """The settings (``{}`` when there is no file).

    Raises:
        ConfigError: the file cannot be read or is not a settings file (damaged JSON, too
            large, nested too deeply, a number with too many digits, not an object); nothing
            else, whatever it holds. The file is left as it is.
    """
    p = _path()
    if not p.is_file():
        return {}
    fix = "fix it or delete it (the settings are then reset)"
    try:
        size = p.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"settings file {p} is damaged ({size} bytes, far too large); {fix}")
        data = json.loads(p.read_text(encoding="utf-8"), parse_int=_bounded_int)
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"settings file {p} cannot be read ({e}); {fix}") from e
    except json.JSONDecodeError as e:
        raise ConfigError(
            f"settings file {p} is damaged (not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}); {fix}"
        ) from e
    except _TooManyDigits as e:
        raise ConfigError(f"settings file {p} is damaged (a number of {len(str(e))} digits); {fix}") from None
    except RecursionError:
        # The file is at most MAX_CONFIG_BYTES, so the parser stops at its recursion limit.
        raise ConfigError(f"settings file {p} is damaged (JSON nested too deeply); {fix}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"settings file {p} must hold a JSON object, not {type(data).__name__}; {fix}")
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
