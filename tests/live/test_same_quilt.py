"""Every front end shows the same display the same quilt: the live call (its processes on tcp
loopback links, the transport used where ``ipc://`` is missing, forced here), a call, the
offline render and ``lenticular`` are given one Looking Glass calibration and 24 views, and
each reports the quilt it used. The live call also records what it shows (``--record``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from display.quilt import parse_quilt_filename
from display.video import probe_video

pytestmark = [pytest.mark.net, pytest.mark.gl]

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "assets" / "samples"
PORTRAIT = REPO / "tests" / "data" / "looking_glass" / "portrait_visual.json"


def _cli(
    args: list[str], home: Path, cwd: Path, timeout: float = 240, **env: str
) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "VOODOO_HOLO_HOME": str(home),
        "VOODOO_HOLO_BRIDGE_URL": "off",
        "GLOG_minloglevel": "2",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], cwd=cwd, env=full_env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def test_live_call_render_call_and_lenticular_pick_the_same_quilt(tmp_path: Path) -> None:
    home = tmp_path / "home"
    common = ["--calibration", str(PORTRAIT), "--views", "24", "--view-size", "96"]

    render = _cli(
        ["render", "--frames", "1", "--quiet", "--out", str(tmp_path / "r"), *common], home, tmp_path
    )
    assert render.returncode == 0, render.stderr[-1500:]
    [video] = list((tmp_path / "r").glob("*.mp4"))
    render_grid = parse_quilt_filename(video)

    live_metrics = tmp_path / "live.json"
    live = _cli(
        ["--headless", "--source", str(SAMPLES / "astronaut.jpg"), "--driver", str(SAMPLES / "hopper_driver.mp4"),
         "--duration", "20", "--metrics-out", str(live_metrics), "--record", str(tmp_path / "rec.mp4"), *common],
        home, tmp_path, VOODOO_HOLO_LINKS="tcp",
    )  # fmt: skip
    assert live.returncode == 0, live.stderr[-1500:]
    m = json.loads(live_metrics.read_text())
    assert m["links"] == "tcp"
    assert m["roles"]["compositor"]["stats"]["counters"].get("frames_complete", 0) >= 1, m
    assert not any(r["restarts"] for r in m["roles"].values()), "a role restarted over tcp links"
    # --record wrote what the compositor showed, named by the quilt convention, in real time.
    rec = probe_video(tmp_path / "rec_qs6x4a0.75.mp4")
    shown_s = 20 - m["roles"]["compositor"]["startup_s"]
    assert (rec.width, rec.height) == (432, 384) and rec.frames >= 0.5 * 30 * shown_s, (rec, shown_s)
    assert "summary:" in live.stdout and "frames shown" in live.stdout, live.stdout

    call_metrics = tmp_path / "call.json"
    call = _cli(
        ["call", "--listen", "0", "--bind", "127.0.0.1", "--receive-only", "--headless", "--no-audio",
         "--duration", "2", "--metrics-out", str(call_metrics), *common],
        home, tmp_path,
    )  # fmt: skip
    assert call.returncode == 0, call.stderr[-1500:]
    c = json.loads(call_metrics.read_text())

    lent = _cli(
        ["lenticular", "--test-pattern", "--views", "24", "--out", str(tmp_path / "native.png"),
         "--calibration", str(PORTRAIT)],
        home, tmp_path,
    )  # fmt: skip
    assert lent.returncode == 0, lent.stderr[-1500:]
    found = re.search(r"quilt (\d+)x(\d+), 24 views, tiles (\d+)x(\d+) px", lent.stdout)
    assert found, lent.stdout

    live_q, call_q = m["quilt"], c["quilt"]
    assert live_q == call_q == {"cols": 6, "rows": 4, "tile_px": [72, 96], "aspect": 0.75, "views": 24}
    assert render_grid == (6, 4, 0.75)
    cols, rows, tw, th = (int(g) for g in found.groups())
    assert (cols, rows) == (6, 4) and abs(tw / th - 0.75) < 0.01
