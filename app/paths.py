"""Where voodoo-holo keeps the user's files.

One root holds everything, platform-appropriate by default (via platformdirs), or
``$VOODOO_HOLO_HOME`` when set (then every folder below lives inside it):

==============  ======================================  ==========================================
what            default (Linux)                         with VOODOO_HOLO_HOME=H
==============  ======================================  ==========================================
config          ~/.config/voodoo-holo/config.json       H/config/config.json
weights         ~/.local/share/voodoo-holo/weights/     H/data/weights/
calibration     ~/.config/voodoo-holo/calibration/      H/config/calibration/
engines (TRT)   ~/.cache/voodoo-holo/engines/           H/cache/engines/
logs            ~/.cache/voodoo-holo/logs/ (state dir)  H/cache/logs/
==============  ======================================  ==========================================

Nothing is created on import; call :func:`ensure` before writing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "voodoo-holo"
ENV_HOME = "VOODOO_HOLO_HOME"
#: The file name of the official VOODOO 3D checkpoint.
WEIGHTS_FILENAME = "voodoo3d.pth"
ENV_WEIGHTS = "VOODOO_HOLO_WEIGHTS"


@dataclass(frozen=True)
class UserPaths:
    config_dir: Path
    data_dir: Path
    cache_dir: Path
    log_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.json"

    @property
    def weights_dir(self) -> Path:
        return self.data_dir / "weights"

    @property
    def calibration_dir(self) -> Path:
        return self.config_dir / "calibration"

    @property
    def engines_dir(self) -> Path:
        return self.cache_dir / "engines"

    @property
    def onnx_dir(self) -> Path:
        return self.cache_dir / "onnx"

    @property
    def keys_dir(self) -> Path:
        """This machine's CURVE keypair (calls, remote workers)."""
        return self.config_dir / "keys"

    @property
    def known_peers_file(self) -> Path:
        """Public keys of the peers this machine accepts."""
        return self.config_dir / "known_peers.json"

    def weights_candidates(self) -> list[Path]:
        """Where the official checkpoint is looked for, in order."""
        out = []
        env = os.environ.get(ENV_WEIGHTS)
        if env:
            out.append(Path(env).expanduser())
        out.append(self.weights_dir / WEIGHTS_FILENAME)
        return out

    def find_weights(self) -> Path | None:
        for p in self.weights_candidates():
            if p.is_file():
                return p
        return None


def user_paths() -> UserPaths:
    """The user's folders, honouring ``$VOODOO_HOLO_HOME``."""
    home = os.environ.get(ENV_HOME)
    if home:
        root = Path(home).expanduser().resolve()
        return UserPaths(root / "config", root / "data", root / "cache", root / "cache" / "logs")
    import platformdirs

    return UserPaths(
        Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
        Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
    )


def ensure(path: Path) -> Path:
    """Create ``path`` (a folder) if needed and return it."""
    path.mkdir(parents=True, exist_ok=True)
    return path
