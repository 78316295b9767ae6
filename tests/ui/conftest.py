"""Fixtures of the UI tests: an Xvfb server, a folder of real photos, and a probe runner.

Windows are opened in a subprocess (pyglet picks its display when ``pyglet.window`` is
imported) that prints one JSON line; screenshots are written to the test's folder and, with
``VOODOO_HOLO_TEST_OUTPUT`` (default ``test-output/``), copied to ``ui/`` there to look at.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from ui_support import astronaut_rgb, grace_rgb, run_probe


@pytest.fixture(scope="module")
def xvfb_display(xvfb_server):
    """An Xvfb server (1024x768) for the module's windows."""
    with xvfb_server(1024, 768) as display:
        yield display


@pytest.fixture
def probe(xvfb_display):
    """``probe(script, *args, out=DIR)``: run a probe script under the module's Xvfb."""

    def run(script: str, *args: str, out: Path) -> dict:
        return run_probe(xvfb_display, script, *args, out=out)

    return run


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory) -> Path:
    """Real portraits and the bad photos a user's folder holds (no face, tiny face, damaged)."""
    import skimage.data

    d = tmp_path_factory.mktemp("photos")
    grace, astro = grace_rgb(), astronaut_rgb()
    Image.fromarray(grace).save(d / "grace.jpg")
    Image.fromarray(astro).save(d / "astronaut.png")
    dark = cv2.GaussianBlur((astro * 0.25).astype(np.uint8), (0, 0), 4)
    Image.fromarray(dark).save(d / "dark_blurry.png")
    Image.fromarray(cv2.resize(grace, (90, 105), interpolation=cv2.INTER_AREA)).save(d / "tiny.png")
    Image.fromarray(skimage.data.coffee()).save(d / "coffee.png")
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (d / "notes.txt").write_text("not a photo")
    return d


@pytest.fixture(scope="session")
def camera_frames(tmp_path_factory) -> Path:
    """A folder of frames standing in for a webcam (none exists on a test machine)."""
    d = tmp_path_factory.mktemp("camera")
    astro = astronaut_rgb()
    for i in range(3):
        Image.fromarray(np.roll(astro, 4 * i, axis=1)).save(d / f"frame{i:02d}.png")
    return d
