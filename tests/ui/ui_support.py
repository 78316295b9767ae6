"""Helpers of the UI tests: a runner for the probe scripts and the photos they open.

Windows are opened in a subprocess (pyglet picks its display when ``pyglet.window`` is
imported) that prints one JSON line; the PNGs it writes are copied to
``$VOODOO_HOLO_TEST_OUTPUT/ui`` (default ``test-output/ui``) to be looked at.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]


def out_dir() -> Path:
    d = Path(os.environ.get("VOODOO_HOLO_TEST_OUTPUT", REPO_ROOT / "test-output")) / "ui"
    d.mkdir(parents=True, exist_ok=True)
    return d


def run_probe(display: str, script: str, *args: str, out: Path, timeout: float = 240.0) -> dict:
    """Run ``tests/ui/<script>`` under ``display``; returns its JSON report, keeps its PNGs."""
    env = {**os.environ, "DISPLAY": display, "GLOG_minloglevel": "2"}
    res = subprocess.run(
        [sys.executable, str(Path(__file__).with_name(script)), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert res.returncode == 0, res.stderr[-4000:]
    for png in out.glob("*.png"):
        shutil.copy(png, out_dir() / png.name)
    return json.loads(res.stdout.strip().splitlines()[-1])


def grace_rgb() -> np.ndarray:
    from matplotlib import cbook

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
        return np.asarray(im.convert("RGB"))


def astronaut_rgb() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()
