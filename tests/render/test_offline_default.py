"""The README's first command: ``voodoo-holo render`` with no arguments renders the bundled
samples into the current folder (a few minutes on a 2-core CPU, hence ``slow``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from render_helpers import decode_errors, read_video

from app.compose import plan_views
from display.quilt import split_quilt
from pipeline.mesh.geometry import frontalize, mouth_opening_ratio

pytestmark = [pytest.mark.gl, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_default_render_writes_the_sample_quilt_video_here(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "render"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    path = tmp_path / "astronaut_qs6x4a0.75.mp4"
    assert f"wrote {path}" in proc.stdout and "110 frames, 1728x1536, 25 fps" in proc.stdout, proc.stdout
    assert re.search(r"\d+/110 \[\d\d:\d\d<\d\d:\d\d", proc.stderr), proc.stderr[-500:]  # progress with ETA
    frames, size, fps = read_video(path)
    assert len(frames) == 110 and size == (1728, 1536) and fps == 25.0
    assert decode_errors(path) == ""

    # The astronaut re-enacts the clip: her mouth opens when Grace Hopper's does (t = 2.2 s).
    from pipeline.tracking import PhotoError, PhotoPreprocessor

    layout = plan_views(24, 384).quilt
    ratios = []
    with PhotoPreprocessor() as pp:
        for i in (0, 55):
            centre = split_quilt(frames[i], layout)[12]
            try:
                obs = pp.prepare(centre)
            except PhotoError as e:
                pytest.fail(f"no face found in the centre view of frame {i}: {e}")
            ratios.append(mouth_opening_ratio(frontalize(obs.landmarks_px)[0]))
    assert ratios[1] > ratios[0] + 0.1, ratios
