"""The GPU check's dry run (CPU, default tier), so the script cannot rot between GPU loans.

``DEVICE=cpu TINY=1 bash tests/gpu/device_check.sh`` runs the same plan as on the GPU machine:
every command line parsed by the real parsers, the import audit with the packages the GPU
machine lacks made unimportable, a smoke-sized model bench through the same runner, and
``pytest -m gpu`` collection. The parsers of the results are checked on real output formats.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import device_check  # noqa: E402

STEPS = [
    "environment",
    "wheels",
    "gl_libraries",
    "egl_context",
    "import_audit",
    "weights",
    "parity_cuda",
    "bench_model_smoke",
    "pytest_gpu",
    "bench_pipeline",
    "precision_cuda",
    "bench_model_compile",
]


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("device_check_out")
    env = {
        **os.environ,
        "DEVICE": "cpu",
        "TINY": "1",
        "OUT": str(out),
        "PYTHON": sys.executable,
        "CARRY": str(out / "no-carry"),
    }
    t0 = time.monotonic()
    proc = subprocess.run(
        ["bash", "tests/gpu/device_check.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )
    return {"proc": proc, "out": out, "seconds": time.monotonic() - t0}


def test_dry_run_succeeds_and_bundles_at_most_eight_files(dry_run: dict) -> None:
    proc = dry_run["proc"]
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    files = sorted(p.name for p in dry_run["out"].iterdir())
    assert files == [
        "bench_model.json",
        "bench_pipeline.json",
        "correctness.json",
        "logs.txt",
        "pytest_gpu.json",
        "summary.json",
    ]
    assert "results in" in proc.stdout  # the closing table (what the device tool's reply shows)


def test_dry_run_plan_steps_and_checked_command_lines(dry_run: dict) -> None:
    summary = json.loads((dry_run["out"] / "summary.json").read_text())
    steps = {s["name"]: s for s in summary["steps"]}
    assert list(steps) == STEPS
    assert summary["plan_checked"] == {
        "command_lines": 16,
        "problems": [],
    }  # 12 + compile + pipeline + 2 tools
    assert {n for n, s in steps.items() if s["status"] == "ok"} == {
        "environment",
        "import_audit",
        "bench_model_smoke",
        "pytest_gpu",
    }
    assert all(
        s["status"] == "skipped" and s["reason"]
        for n, s in steps.items()
        if n not in ("environment", "import_audit", "bench_model_smoke", "pytest_gpu")
    )


def test_model_side_imports_nothing_the_gpu_machine_lacks(dry_run: dict) -> None:
    summary = json.loads((dry_run["out"] / "summary.json").read_text())
    audit = next(s for s in summary["steps"] if s["name"] == "import_audit")["data"]
    assert audit["model_path_problems"] == {}
    for name, entry in audit["model_path"].items():
        assert entry["error"] is None and "mediapipe" not in entry["imports"], name
    assert "zmq" in audit["live_path"]["live call roles"]["imports"]  # the audit sees real imports


def test_dry_run_bench_and_pytest_records(dry_run: dict) -> None:
    smoke = json.loads((dry_run["out"] / "bench_model.json").read_text())["configs"]["smoke"]
    assert smoke["rc"] == 0 and smoke["command"].startswith("voodoo-holo bench model --device cpu")
    record = smoke["record"]
    assert record["stages"] == "render" and record["dtype"] == "float32"
    (row,) = record["rows"]
    assert row["stage"] == "render 32^2 x 1 view(s)" and row["extra"]["planes"] == "random"
    assert row["median_ms"] > 0
    tests = json.loads((dry_run["out"] / "pytest_gpu.json").read_text())
    assert tests["counts"]["error"] == 0 and tests["counts"]["failure"] == 0
    assert tests["counts"]["skipped"] >= 10  # collected everywhere, skipped without a GPU
    assert "tests/voodoo/test_gpu_paths.py" in tests["files"]


def test_parity_lines_are_parsed_from_the_tools_own_format() -> None:
    from pipeline.voodoo.parity import CHECKS, CheckResult

    lines = "\n".join(
        CheckResult(c, 2.5e-6 if i else 0.3, 1e-5 if c.kind == "depth" else None, bool(i)).line()
        for i, c in enumerate(CHECKS)
    )
    found = device_check._PARITY_LINE.findall(lines)
    assert len(found) == len(CHECKS)
    assert found[0][0] == "FAIL" and float(found[0][4]) == 0.3 and found[1][0].strip() == "ok"


def test_junit_results_are_summarised(tmp_path: Path) -> None:
    xml = tmp_path / "r.xml"
    xml.write_text(
        '<testsuites><testsuite><testcase classname="a" name="t1" time="0.5"/>'
        '<testcase classname="a" name="t2" time="1"><failure message="boom"/></testcase>'
        '<testcase classname="b" name="t3" time="0"><skipped message="no CUDA GPU"/></testcase>'
        "</testsuite></testsuites>"
    )
    got = device_check._junit(xml)
    assert got["counts"] == {"passed": 1, "failure": 1, "error": 0, "skipped": 1}
    assert got["tests"][1] == {"test": "a::t2", "outcome": "failure", "seconds": 1.0, "message": "boom"}


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan waits to be reaped by whatever adopted it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_a_step_past_its_limit_is_stopped_with_its_children(tmp_path: Path) -> None:
    ns = argparse.Namespace(
        out=str(tmp_path / "o"),
        work=str(tmp_path / "w"),
        carry=None,
        device="cpu",
        tiny=True,
        budget=60.0,
        python=sys.executable,
    )
    c = device_check.Check(ns)
    r = c.run("sleeper", ["bash", "-c", "sleep 60 & echo child $!; wait"], limit_s=1.5, min_s=0)
    assert r.status == "timeout" and r.rc is None
    child = int(r.tail.split("child ")[1].split()[0])
    deadline = time.monotonic() + 5
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child)  # the whole process group was stopped, not only its leader
    late = c.run("late", ["true"], limit_s=10, min_s=10_000)
    assert late.status == "skipped" and "not started" in late.reason
