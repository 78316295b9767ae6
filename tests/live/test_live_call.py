"""End to end: every role as a real process on CPU (mesh avatar, headless), ZeroMQ between them.

Starts ``voodoo-holo live --headless`` on the bundled driver clip, waits for complete 24-view frames,
SIGKILLs one renderer, checks it is restarted and complete frames resume within 5 s, then
interrupts the call and checks that no process and no ipc file is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "assets" / "samples"

pytestmark = [pytest.mark.net, pytest.mark.gl]


@pytest.fixture(scope="module")
def driver_clip() -> Path:
    """The bundled driver clip: Grace Hopper smiling, blinking, talking and turning (4.4 s)."""
    return SAMPLES / "hopper_driver.mp4"


def _read_metrics(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _wait_for(path: Path, pred, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        m = _read_metrics(path)
        if m is not None:
            last = m
            if pred(m):
                return m
        time.sleep(0.1)
    raise AssertionError(
        f"condition not reached within {timeout_s} s; last metrics: {json.dumps(last)[:2000]}"
    )


def _counters(m: dict, role: str) -> dict:
    return m["roles"][role]["stats"].get("counters", {})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); check its state.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_live_call_survives_a_killed_renderer_and_shuts_down_cleanly(tmp_path, driver_clip):
    metrics = tmp_path / "metrics.json"
    cmd = [
        sys.executable,
        "-m",
        "app.cli",
        "--source",
        str(SAMPLES / "astronaut.jpg"),
        "--driver",
        str(driver_clip),
        "--backend",
        "mesh",
        "--layout",
        "cpu",
        "--view-size",
        "96",
        "--headless",
        "--duration",
        "240",
        "--metrics-out",
        str(metrics),
    ]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        m = _wait_for(metrics, lambda m: _counters(m, "compositor").get("frames_complete", 0) >= 3, 120)
        assert m["num_views"] == 24 and m["layout"] == "cpu"
        # Each renderer fetched the source photo's state once, not once a frame.
        m = _wait_for(metrics, lambda m: _counters(m, "renderer-0").get("batches_sent", 0) >= 3, 30)
        assert _counters(m, "renderer-0").get("sources_adopted") == 1
        pids = {name: r["pid"] for name, r in m["roles"].items()}
        assert len(set(pids.values())) == 5 and os.getpid() not in pids.values()
        run_dir = Path(m["run_dir"])
        assert any(run_dir.iterdir()), "ipc endpoints live in the run folder"

        victim = "renderer-1"
        seq_at_kill = _counters(m, "compositor")["last_complete_seq"]
        os.kill(pids[victim], signal.SIGKILL)
        t_kill = time.monotonic()
        m = _wait_for(
            metrics,
            lambda m: (
                m["roles"][victim]["restarts"] >= 1
                and _counters(m, "compositor").get("last_complete_seq", -1) > seq_at_kill + 0
                and m["roles"][victim]["pid"] != pids[victim]
                and m["roles"][victim]["heartbeats"] > 0
                and _counters(m, victim).get("batches_sent", 0) >= 1
            ),
            30,
        )
        recovered_s = time.monotonic() - t_kill
        assert recovered_s < 5.0, f"complete frames resumed only after {recovered_s:.1f} s"
        assert m["roles"][victim]["exit_codes"] == [-signal.SIGKILL]
        assert _counters(m, victim).get("sources_adopted") == 1  # the new process fetched it anew
        # The other roles went on: same processes, no restarts.
        for name in ("capture", "estimator", "renderer-0", "compositor"):
            assert m["roles"][name]["restarts"] == 0 and m["roles"][name]["pid"] == pids[name]
        comp = _counters(m, "compositor")
        assert comp.get("out_of_order", 0) == 0, "frames were presented out of order"
        new_pid = m["roles"][victim]["pid"]
        all_pids = [*pids.values(), new_pid]

        proc.send_signal(signal.SIGINT)  # Ctrl-C
        t_int = time.monotonic()
        out, _ = proc.communicate(timeout=30)
        stop_s = time.monotonic() - t_int
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert "call ended: interrupted" in out
    print(f"recovered in {recovered_s:.2f} s, stopped in {stop_s:.2f} s")
    assert stop_s < 2.0, f"shutdown took {stop_s:.1f} s"
    leftovers = [p for p in all_pids if _alive(p)]
    assert not leftovers, f"processes left behind: {leftovers}"
    assert not run_dir.exists(), "the ipc run folder was not removed"
    final = json.loads(metrics.read_text())
    assert final["end_reason"] == "interrupted"
    assert final["frames"]["presented"] >= 3 and final["frames"]["glass_to_glass_ms"]["n"] > 0
    assert final["roles"][victim]["restarts"] == 1
    # CPU time per shown frame, each role's own process (start-up and the killed process
    # excluded; the restarted one counts again from its first metrics after frames resumed).
    cpu = final["frames"]["cpu_ms_per_frame"]
    assert set(pids) - {victim} <= set(cpu) <= set(pids) and all(v > 0 for v in cpu.values()), cpu


def test_missing_source_face_ends_the_call_with_a_clear_message(tmp_path, driver_clip):
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((400, 400, 3), 128, np.uint8))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "--source",
            str(blank),
            "--driver",
            str(driver_clip),
            "--backend",
            "mesh",
            "--layout",
            "cpu",
            "--headless",
            "--duration",
            "120",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    text = out.stdout + out.stderr
    assert "source photo" in text and "estimator cannot run" in text
