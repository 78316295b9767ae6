"""A renderer on "another host": tcp links with CURVE, a worker joining with an accepted key.

Both sides run on this machine over loopback with separate user folders (separate keys).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.security import KnownPeers, load_or_create_keypair

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "assets" / "samples"

pytestmark = [pytest.mark.net, pytest.mark.gl]


def _free_port_block(n: int = 7) -> int:
    for base in range(23000, 60000, 97):
        socks = []
        try:
            for i in range(n):
                s = socket.socket()
                s.bind(("127.0.0.1", base + i))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port block")


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "VOODOO_HOLO_HOME": str(home)}


def _metrics(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def test_remote_renderer_joins_over_curve_and_strangers_are_refused(tmp_path):

    home_launcher, home_worker, home_stranger = (tmp_path / n for n in ("launcher", "worker", "stranger"))
    launcher_key = load_or_create_keypair(home_launcher / "config" / "keys")
    worker_key = load_or_create_keypair(home_worker / "config" / "keys")
    peers = KnownPeers.load(home_launcher / "config" / "known_peers.json")
    peers.add(worker_key.public_text, name="render box")

    clip = SAMPLES / "hopper_driver.mp4"

    port = _free_port_block()
    metrics = tmp_path / "m.json"
    launcher = subprocess.Popen(
        [
            sys.executable, "-m", "app.cli",
            "--source", str(SAMPLES / "astronaut.jpg"), "--driver", str(clip),
            "--backend", "mesh", "--layout", "cpu", "--view-size", "96", "--headless",
            "--expose", f"127.0.0.1:{port}", "--remote", "renderer-1",
            "--duration", "240", "--metrics-out", str(metrics),
        ],
        env=_env(home_launcher), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    worker = None
    try:
        worker_cmd = [
            sys.executable, "-m", "app.cli", "worker", "--launcher", f"127.0.0.1:{port}",
            "--server-key", launcher_key.public_text, "--name", "renderer-1", "--timeout", "60",
        ]  # fmt: skip
        worker = subprocess.Popen(worker_cmd, env=_env(home_worker), cwd=tmp_path, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)  # fmt: skip
        deadline = time.monotonic() + 120
        m = None
        while time.monotonic() < deadline:
            m = _metrics(metrics)
            if m and m["roles"]["compositor"]["stats"].get("counters", {}).get("frames_complete", 0) >= 3:
                break
            assert launcher.poll() is None and worker.poll() is None
            time.sleep(0.2)
        else:
            raise AssertionError(f"no complete frames with a remote renderer: {json.dumps(m)[:1500]}")
        r1 = m["roles"]["renderer-1"]
        assert r1["host"] == "remote" and r1["alive"] and r1["pid"] == worker.pid
        assert r1["stats"]["counters"]["batches_sent"] > 0

        # A machine whose key was never accepted gets nothing.
        stranger = subprocess.run(
            [*worker_cmd[:-2], "--timeout", "3"], env=_env(home_stranger), cwd=tmp_path,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert stranger.returncode == 2
        assert "did not answer" in stranger.stderr and "keys --accept" in stranger.stderr
        # A wrong server key (a man in the middle, or a typo) is refused too.
        wrong = subprocess.run(
            [*worker_cmd[:6], "--server-key", worker_key.public_text, *worker_cmd[8:-2], "--timeout", "3"],
            env=_env(home_worker), cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert wrong.returncode == 2 and "did not answer" in wrong.stderr
    finally:
        launcher.send_signal(signal.SIGINT)
        out, _ = launcher.communicate(timeout=30)
        if worker is not None:
            worker.terminate()
            worker.communicate(timeout=30)
    assert launcher.returncode == 0, out
    assert "renderer-1 joined from another host" in out
