"""A neural render whose output is NaN says so once and exits with status 1: a real checkpoint in
the official layout that passes every check on the file (all values finite) but overflows in
the super-resolution network (``tests/robustness/overflow_weights.py``), rendered on the CPU
(about a minute a frame on 2 cores, hence ``slow``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_nan_in_the_rendered_views_is_reported_once(tmp_path: Path) -> None:
    weights = tmp_path / "overflow.pth"
    env = dict(os.environ, PYTHONPATH=str(REPO), GLOG_minloglevel="2")
    subprocess.run(
        [sys.executable, str(REPO / "tests" / "robustness" / "overflow_weights.py"), "--out", str(weights)],
        check=True, env=env, capture_output=True, timeout=300,
    )  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "render", "--backend", "neural", "--weights", str(weights),
         "--format", "sbs", "--frames", "2", "--view-size", "64", "--quiet", "--out", str(tmp_path / "o.mp4")],
        env=env, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    err = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith(("W0000", "I0000"))]
    assert proc.returncode == 1, proc.stderr[-2000:]
    warnings = [ln for ln in err if ln.startswith("warning: frame")]
    assert len(warnings) == 1 and "NaN or infinite values in the rendered coverage" in warnings[0], err
    assert err[-1].startswith("voodoo-holo render: 2 of 2 rendered frames are broken"), err
    assert "Traceback" not in proc.stderr
