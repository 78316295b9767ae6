"""Kill the processes of a real headless live call and measure how it recovers.

Not a test (pytest does not collect it): a tool to run by hand or in CI.

    python tests/robustness/live_faults.py [--roles capture,estimator,renderer-0,renderer-1,compositor]
                                           [--rounds 1] [--pause 11] [--warmup 15] [--launcher] [--json OUT.json]

It starts ``voodoo-holo --headless`` on the bundled photo and driver clip (``cpu`` layout, mesh
avatar, 96 px views, every role its own process) and, once complete 24-view frames are shown:

1. SIGKILLs each role in turn (``--rounds`` times, ``--pause`` seconds apart) and measures the *recovery*: the time from the kill until the
   compositor reports a complete frame that the replacement took part in (the new process has
   sent its output, and a complete frame newer than any shown at that moment has been
   presented). The call's metrics file is the only view into the call: the moment taken is
   when the compositor's heartbeat that first reported that frame arrived (``heartbeat_at_s``,
   on the same monotonic clock as the kill), so each figure includes up to one heartbeat
   interval (0.5 s) of reporting delay.
2. Checks that only the killed role was restarted, that frames were never presented out of
   order, and that no role was restarted for a missed heartbeat while it was starting up.
3. Ends the call with Ctrl-C: exit status 0, every process it ever ran gone, its run folder
   (with the ipc sockets) removed.
4. ``--launcher``: SIGKILLs the launcher of a second call: its roles must exit by themselves,
   and the run folder it left must be removed by the next call's start.

The exit status is 0 when every check held, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "assets" / "samples"
ROLES = ("capture", "estimator", "renderer-0", "renderer-1", "compositor")
#: What each role counts when it has sent its output (in its heartbeat's counters).
OUTPUT_COUNTER = {
    "capture": "frames_sent",
    "estimator": "scenes_sent",
    "renderer": "batches_sent",
    "compositor": "frames_complete",
}


def read_metrics(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def counters(m: dict[str, Any], role: str) -> dict[str, Any]:
    return m["roles"][role]["stats"].get("counters", {})


def last_complete(m: dict[str, Any]) -> int:
    return int(counters(m, "compositor").get("last_complete_seq", -1))


def alive(pid: int) -> bool:
    """A running process (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def wait_for(
    path: Path, pred: Callable[[dict[str, Any]], bool], timeout_s: float, poll_s: float = 0.05
) -> tuple[dict[str, Any] | None, float]:
    """The first metrics snapshot for which ``pred`` holds and when it was read (monotonic s),
    or ``(last snapshot, deadline)`` when none did within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        m = read_metrics(path)
        if m is not None:
            last = m
            try:
                if pred(m):
                    return m, time.monotonic()
            except (KeyError, TypeError, ValueError):
                pass
        time.sleep(poll_s)
    return last, deadline


@dataclass
class LiveCall:
    """``voodoo-holo --headless`` as a child process, seen through its metrics file."""

    folder: Path
    duration_s: float = 600.0
    view_size: int = 96
    proc: subprocess.Popen[str] | None = None
    pids_seen: set[int] = field(default_factory=set)

    @property
    def metrics_path(self) -> Path:
        return self.folder / "metrics.json"

    @property
    def log_path(self) -> Path:
        return self.folder / "call.log"

    def start(self) -> None:
        cmd = [
            sys.executable, "-m", "app.cli", "--source", str(SAMPLES / "astronaut.jpg"),
            "--driver", str(SAMPLES / "hopper_driver.mp4"), "--backend", "mesh", "--layout", "cpu",
            "--view-size", str(self.view_size), "--headless", "--duration", str(self.duration_s),
            "--metrics-out", str(self.metrics_path),
        ]  # fmt: skip
        env = dict(os.environ, PYTHONPATH=str(REPO), GLOG_minloglevel="2")
        log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            cmd, cwd=self.folder, stdout=log, stderr=subprocess.STDOUT, text=True, env=env
        )
        log.close()

    def wait_complete(self, n: int = 3, timeout_s: float = 180.0) -> dict[str, Any]:
        m, _ = wait_for(
            self.metrics_path, lambda m: counters(m, "compositor").get("frames_complete", 0) >= n, timeout_s
        )
        if m is None or counters(m, "compositor").get("frames_complete", 0) < n:
            raise RuntimeError(f"no complete frames within {timeout_s:.0f} s; log:\n{self.log()[-2000:]}")
        self.note_pids(m)
        return m

    def note_pids(self, m: dict[str, Any]) -> None:
        self.pids_seen.update(int(r["pid"]) for r in m["roles"].values() if r.get("pid"))

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout_s: float = 30.0) -> int:
        """Ctrl-C; returns the exit status (killed after ``timeout_s``: -9)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -9


@dataclass
class Recovery:
    role: str
    recovered: bool
    seconds: float
    restarts: int
    exit_codes: list[int]
    others_restarted: list[str]
    startup_s: float | None = None
    detail: str = ""


def kill_and_measure(call: LiveCall, role: str, timeout_s: float = 60.0) -> Recovery:
    """SIGKILL ``role`` of ``call``; wait for a complete frame the replacement took part in."""
    m = read_metrics(call.metrics_path)
    assert m is not None
    before = {n: (int(r["restarts"]), r["pid"]) for n, r in m["roles"].items()}
    old_pid = int(m["roles"][role]["pid"])
    kind = m["roles"][role]["role"]
    os.kill(old_pid, signal.SIGKILL)
    t_kill = time.monotonic()

    def replacement_sent(m: dict[str, Any]) -> bool:
        r = m["roles"][role]
        return (
            r["pid"] not in (None, old_pid)
            and r["alive"]
            and counters(m, role).get(OUTPUT_COUNTER[kind], 0) > 0
        )

    m1, _ = wait_for(call.metrics_path, replacement_sent, timeout_s)
    if m1 is None or not replacement_sent(m1):
        return Recovery(role, False, float("nan"), -1, [], [], detail="the replacement never sent anything")
    call.note_pids(m1)
    if kind == "compositor":
        m2 = m1
    else:
        seen = last_complete(m1)
        m2, _ = wait_for(call.metrics_path, lambda m: last_complete(m) > seen, timeout_s)
        if m2 is None or last_complete(m2) <= seen:
            return Recovery(
                role, False, float("nan"), -1, [], [], detail=f"no complete frame after seq {seen}"
            )
    call.note_pids(m2)
    t2 = float(m2["roles"]["compositor"]["heartbeat_at_s"])
    others = [
        n for n, (restarts, pid) in before.items() if n != role and m2["roles"][n]["restarts"] != restarts
    ]
    r = m2["roles"][role]
    n_restarts = int(r["restarts"]) - before[role][0]
    return Recovery(role, True, t2 - t_kill, n_restarts, list(r["exit_codes"]), others, r.get("startup_s"))


def role_faults(
    work: Path, roles: list[str], report: dict[str, Any], warmup_s: float = 0.0, pause_s: float = 0.0
) -> bool:
    ok = True
    recoveries: dict[str, list[float]] = {}
    call = LiveCall(work / "call-1")
    call.folder.mkdir(parents=True, exist_ok=True)
    call.start()
    try:
        m = call.wait_complete()
        run_dir = Path(m["run_dir"])
        time.sleep(warmup_s)
        for k, role in enumerate(roles):
            if k:
                time.sleep(pause_s)  # a role healthy for 10 s gets the first backoff again
            call.wait_complete(
                n=counters(read_metrics(call.metrics_path) or m, "compositor").get("frames_complete", 0) + 2
            )
            rec = kill_and_measure(call, role)
            good = (
                rec.recovered
                and rec.restarts == 1
                and rec.exit_codes[-1:] == [-signal.SIGKILL]
                and not rec.others_restarted
            )
            ok &= good
            report["kills"].append(rec.__dict__)
            recoveries.setdefault(role, []).append(rec.seconds)
            print(
                f"SIGKILL {role:11s}: {'recovered' if rec.recovered else 'NOT RECOVERED'} in {rec.seconds:5.2f} s "
                f"(its new process started in {rec.startup_s} s); restarts {rec.restarts}, "
                f"exit codes {rec.exit_codes}, others restarted {rec.others_restarted or 'none'}"
                + (f" ({rec.detail})" if rec.detail else ""),
                flush=True,
            )
        final = read_metrics(call.metrics_path) or {}
    finally:
        code = call.stop()
    final = read_metrics(call.metrics_path) or final
    out_of_order = int(counters(final, "compositor").get("out_of_order", 0)) if final else -1
    log = call.log()
    startup_restarts = log.count("sent no heartbeat") + log.count("did not finish starting")
    left = sorted(p for p in call.pids_seen if alive(p))
    checks = {
        "exit status 0 after Ctrl-C": code == 0,
        "no frame presented out of order": out_of_order == 0,
        "no restart for a missed heartbeat": startup_restarts == 0,
        "no process left": not left,
        "run folder removed": not run_dir.exists(),
    }
    report["call"] = {"exit_status": code, "out_of_order": out_of_order, "heartbeat_restarts": startup_restarts,
                      "processes_left": left, "run_dir_left": run_dir.exists()}  # fmt: skip
    for role, times in recoveries.items():
        report["recovery_s"][role] = {
            "median": round(statistics.median(times), 2),
            "max": round(max(times), 2),
        }
        print(f"  {role}: recovered in {statistics.median(times):.2f} s median, {max(times):.2f} s max "
              f"({len(times)} kill(s))")  # fmt: skip
    for what, held in checks.items():
        print(f"  {'ok  ' if held else 'FAIL'} {what}", flush=True)
        ok &= held
    return ok


def launcher_fault(work: Path, report: dict[str, Any]) -> bool:
    call = LiveCall(work / "call-2")
    call.folder.mkdir(parents=True, exist_ok=True)
    call.start()
    try:
        m = call.wait_complete()
    except RuntimeError:
        call.stop()
        raise
    assert call.proc is not None
    run_dir = Path(m["run_dir"])
    role_pids = [int(r["pid"]) for r in m["roles"].values()]
    call.proc.kill()
    call.proc.wait()
    t0 = time.monotonic()
    while any(alive(p) for p in role_pids) and time.monotonic() - t0 < 30:
        time.sleep(0.05)
    roles_gone_s = time.monotonic() - t0
    orphans = [p for p in role_pids if alive(p)]
    left_after_kill = run_dir.exists()
    # The next call's start removes the folder the killed launcher left.
    nxt = LiveCall(work / "call-3")
    nxt.folder.mkdir(parents=True, exist_ok=True)
    nxt.start()
    try:
        m3 = nxt.wait_complete(n=1)
        swept = not run_dir.exists()
        own_alive = Path(m3["run_dir"]).exists()
    finally:
        code = nxt.stop()
    checks = {
        f"roles exit when the launcher is SIGKILLed ({roles_gone_s:.1f} s)": not orphans,
        "the killed launcher's run folder is there until the next start": left_after_kill,
        "the next call's start removes it": swept,
        "the next call's own run folder is left alone while it runs": own_alive,
        "the next call ends with status 0": code == 0,
    }
    report["launcher"] = {"roles_gone_s": round(roles_gone_s, 2), "orphans": orphans, "swept": swept}
    ok = True
    for what, held in checks.items():
        print(f"  {'ok  ' if held else 'FAIL'} {what}", flush=True)
        ok &= held
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--roles", default=",".join(ROLES), help="roles to kill, in order (comma-separated)")
    ap.add_argument("--rounds", type=int, default=1, help="kill every role this many times")
    ap.add_argument(
        "--pause",
        type=float,
        default=11.0,
        metavar="S",
        help="wait between kills (a role healthy for 10 s restarts after the first backoff again)",
    )
    ap.add_argument("--launcher", action="store_true", help="also SIGKILL a launcher and check the clean-up")
    ap.add_argument(
        "--warmup",
        type=float,
        default=15.0,
        metavar="S",
        help="let the call run this long before the first kill",
    )
    ap.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    args = ap.parse_args(argv)
    roles = [r for r in args.roles.split(",") if r]
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        ap.error(f"unknown roles {unknown}; the cpu layout has {list(ROLES)}")
    report: dict[str, Any] = {"kills": [], "recovery_s": {}}
    with tempfile.TemporaryDirectory(prefix="live-faults-") as tmp:
        ok = True
        if roles:
            ok &= role_faults(Path(tmp), roles * args.rounds, report, args.warmup, args.pause)
        if args.launcher:
            ok &= launcher_fault(Path(tmp), report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    print("all checks held" if ok else "some checks FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
