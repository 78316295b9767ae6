"""Start-up work is not held to the hang deadline: a real call (every role a process, mesh avatar,
headless) supervised with a 2 s hang timeout, shorter than the estimator needs to load its
avatar and prepare a 38-megapixel photo. Until its first unit of work a role has the start-up
deadline: no role is restarted, and complete frames come."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import cv2
import pytest

from app.compose import AvatarChoice, OutputChoice, plan_views
from app.live.launcher import CallSettings, Launcher
from app.live.layouts import load_layout

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "assets" / "samples"

pytestmark = [pytest.mark.net, pytest.mark.gl]


def _metrics(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _complete(m: dict | None) -> int:
    if m is None:
        return 0
    return int(m["roles"]["compositor"]["stats"].get("counters", {}).get("frames_complete", 0))


def test_a_role_still_starting_is_not_restarted_for_a_missed_heartbeat(tmp_path: Path) -> None:
    layout = load_layout("cpu")
    metrics = tmp_path / "metrics.json"
    photo = tmp_path / "astronaut_6144.png"  # seconds to decode: a long start-up for the estimator
    small = cv2.imread(str(SAMPLES / "astronaut.jpg"))
    cv2.imwrite(str(photo), cv2.resize(small, (6144, 6144), interpolation=cv2.INTER_CUBIC))
    settings = CallSettings(
        source=photo,
        driver=str(SAMPLES / "hopper_driver.mp4"),
        avatar=AvatarChoice("mesh"),
        output=OutputChoice(kind="headless"),
        plan=plan_views(layout.num_views, 96),
        duration_s=240,
        metrics_out=metrics,
        hang_timeout_s=2.0,
    )
    log: list[str] = []
    launcher = Launcher(layout, settings, log=log.append)

    def stop_after_frames() -> None:
        deadline = time.monotonic() + 200
        while time.monotonic() < deadline and _complete(_metrics(metrics)) < 3:
            time.sleep(0.2)
        launcher.request_stop("enough frames")

    watcher = threading.Thread(target=stop_after_frames, daemon=True)
    watcher.start()
    code = launcher.run()
    watcher.join(5)
    m = _metrics(metrics)
    assert code == 0 and m is not None, "\n".join(log)
    assert _complete(m) >= 3, "\n".join(log)
    gaps = {name: r["startup_gap_s"] for name, r in m["roles"].items()}
    if max(gaps.values()) <= settings.hang_timeout_s:
        pytest.skip(f"no role was silent for longer than the hang timeout while starting ({gaps})")
    restarts = {name: r["restarts"] for name, r in m["roles"].items()}
    assert restarts == dict.fromkeys(restarts, 0), "\n".join(log)
    assert not [line for line in log if "restarting" in line], "\n".join(log)
    print(f"longest silences while starting (s): {gaps}")
