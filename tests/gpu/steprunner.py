"""Runs the GPU check's steps against one deadline and keeps their results on disk.

Each step is a command in its own process group (stopped whole at its limit, its output in a
log); a step that cannot get its minimum time left is recorded as skipped, with the reason.
After every step the result files are rewritten, so a run stopped from outside keeps what
finished. Used by ``device_check.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
#: Packages absent on the GPU machine that no step carries (see import_audit.py).
ABSENT = "mediapipe,sounddevice,pyglet,imageio_ffmpeg,hid,tensorrt"
LOG_CAP = 200_000


@dataclass
class StepResult:
    name: str
    status: str  # ok | failed | timeout | skipped
    seconds: float = 0.0
    command: list[str] | None = None
    rc: int | None = None
    reason: str = ""
    tail: str = ""
    data: dict = field(default_factory=dict)


class Check:
    """Runs the steps against one deadline and keeps the results on disk."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out = Path(args.out)
        self.work = Path(args.work)
        self.carry = Path(args.carry) if args.carry else ROOT / ".devcheck"
        self.py = args.python
        self.t0 = time.monotonic()
        self.deadline = self.t0 + args.budget
        self.steps: list[StepResult] = []
        self.files: dict[str, dict] = {
            "bench_model.json": {"configs": {}},
            "bench_pipeline.json": {},
            "pytest_gpu.json": {},
            "correctness.json": {},
        }
        self.environment: dict = {}
        self.plan_checked: dict = {}
        self.logs: list[str] = []
        self.out.mkdir(parents=True, exist_ok=True)
        self.work.mkdir(parents=True, exist_ok=True)
        self.home = self.work / "home"
        self.home.mkdir(exist_ok=True)
        inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(ROOT)]
        self.pythonpath = [str(ROOT), *inherited]
        if args.tiny:
            self.pythonpath.insert(0, str(HERE / "emulate"))

    # -- bookkeeping -----------------------------------------------------------------------
    def left(self) -> float:
        return self.deadline - time.monotonic()

    def env(self, live: bool = False, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        path = list(self.pythonpath)
        if live and (self.work / "site_live").is_dir():
            path.append(str(self.work / "site_live"))
        if (self.work / "site").is_dir():
            path.append(str(self.work / "site"))
        env.update(
            PYTHONPATH=os.pathsep.join(path),
            PYTHONUNBUFFERED="1",
            VOODOO_HOLO_HOME=str(self.home),
            VOODOO_HOLO_BRIDGE_URL="off",
            MPLBACKEND="Agg",
        )
        if self.args.tiny:  # behave like the GPU machine's package set; never touch a local GPU
            env["DEVICE_CHECK_ABSENT"] = ABSENT
            env["CUDA_VISIBLE_DEVICES"] = ""
        env.update(extra)
        return env

    def record(self, r: StepResult) -> StepResult:
        self.steps.append(r)
        mark = {"ok": "ok ", "skipped": "-- ", "timeout": "TO ", "failed": "!! "}.get(r.status, "?? ")
        print(
            f"[{time.monotonic() - self.t0:6.0f}s] {mark}{r.name} ({r.seconds:.0f} s) {r.reason}", flush=True
        )
        self.save()
        return r

    def skip(self, name: str, reason: str) -> StepResult:
        return self.record(StepResult(name, "skipped", reason=reason))

    def save(self) -> None:
        summary = {
            "device": self.args.device,
            "tiny": self.args.tiny,
            "budget_s": self.args.budget,
            "elapsed_s": round(time.monotonic() - self.t0, 1),
            "environment": self.environment,
            "plan_checked": self.plan_checked,
            "steps": [r.__dict__ for r in self.steps],
        }
        (self.out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
        for name, data in self.files.items():
            (self.out / name).write_text(json.dumps(data, indent=1, default=str))
        (self.out / "logs.txt").write_text("\n".join(self.logs))

    def run(
        self,
        name: str,
        argv: list[str],
        limit_s: float,
        min_s: float,
        env: dict[str, str] | None = None,
    ) -> StepResult:
        """Run ``argv`` (its own process group, killed whole at the limit) if ``min_s`` is left."""
        left = self.left() - 5  # keep a moment to write the results
        if left < min_s:
            return self.skip(
                name, f"not started: {max(left, 0):.0f} s left of the budget, needs {min_s:.0f} s"
            )
        timeout = min(limit_s, left)
        t0 = time.monotonic()
        log_path = self.work / f"{name}.log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env or self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                rc = proc.wait(timeout=timeout)
                status = "ok" if rc == 0 else "failed"
                reason = "" if rc == 0 else f"exit status {rc}"
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                rc, status, reason = None, "timeout", f"stopped at its {timeout:.0f} s limit"
        text = log_path.read_text(errors="replace")
        self.logs.append(f"===== {name}: {' '.join(argv)}\n{text[-LOG_CAP:]}")
        return self.record(
            StepResult(name, status, round(time.monotonic() - t0, 1), argv, rc, reason, text[-3000:])
        )

    # -- inputs ----------------------------------------------------------------------------
    def find(self, *names: str) -> Path | None:
        """A carried input (<carry>/NAME), else the specs folder beside the repository."""
        for name in names:
            for base in (self.carry, ROOT.parent / "shared" / "parity", ROOT.parent / "shared" / "spec"):
                p = base / name
                if p.is_file():
                    return p
        return None


def _kill_group(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue
