from __future__ import annotations

import json

import pytest

from app.config import ConfigError, load_config, update_config
from app.paths import user_paths


def test_config_roundtrip_in_voodoo_holo_home():
    assert load_config() == {}
    update_config(source_photo="/photos/me.jpg", backend="mesh")
    assert load_config() == {"source_photo": "/photos/me.jpg", "backend": "mesh"}
    update_config(backend=None)
    assert load_config() == {"source_photo": "/photos/me.jpg"}
    assert json.loads(user_paths().config_file.read_text())["source_photo"] == "/photos/me.jpg"


def test_damaged_config_is_reported_not_overwritten():
    p = user_paths().config_file
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("{broken")
    with pytest.raises(ConfigError, match="damaged"):
        load_config()
    assert p.read_text() == "{broken"
