"""Run the commands with bad inputs and count what goes wrong.

Not a test (pytest does not collect it): a tool to run by hand or in CI.

    python tests/robustness/cli_cases.py [--only render,prepare,lenticular,live,doctor] [--show] [--json OUT.json]

Each case is one real run of ``voodoo-holo`` (a child process with its own temporary folder and
settings) with one bad input: missing, empty, damaged or hostile files (text named .jpg/.mp4,
a 20000x20000 PNG, a cut-off video, deeply nested or 5000-digit JSON, a pickled checkpoint),
folders where files are expected, impossible numbers, outputs that already exist, outputs in
folders that cannot take files, a ``--resume`` of another photo's video. A case counts as:

- **crash**: a Python traceback, or an exit status that is neither 0, 1, 2 nor 130;
- **unclear**: a refusal whose message is not one line starting with ``voodoo-holo`` (live
  calls print their start-up lines too: only the last line is judged), or that lacks the
  words the case expects (what is wrong, or how to fix it);
- **accepted**: a bad input that was not refused (exit status 0);
- **lost or changed**: a file that was there before the run and is missing or different after;
- **left behind**: a new file or folder in the case's folder after a refused run, or a run
  folder (``voodoo-holo-*``) left in its temporary folder.

The exit status is 0 when no case counted anything, 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "assets" / "samples"
CALIBRATION = REPO / "assets" / "calibration" / "portrait_sample_visual.json"
SMALL_RENDER = ["--view-size", "32", "--frames", "3", "--quiet"]


@dataclass
class Case:
    command: str
    name: str
    args: list[str]
    expect: tuple[str, ...] = ()  # words the refusal must contain
    env: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 180.0


@dataclass
class Outcome:
    case: str
    status: int
    seconds: float
    problems: list[str]
    last_line: str


# -- inputs ----------------------------------------------------------------------------------
def make_inputs(d: Path) -> None:
    """The bad (and a few good) inputs every case draws from, in ``d``."""
    from PIL import Image

    shutil.copy(SAMPLES / "astronaut.jpg", d / "photo.jpg")
    shutil.copy(SAMPLES / "grace_hopper.jpg", d / "other.jpg")
    shutil.copy(SAMPLES / "hopper_driver.mp4", d / "clip.mp4")
    (d / "text.jpg").write_text("not a photo\n")
    (d / "text.mp4").write_text("not a video\n")
    (d / "text_qs6x4a0.75.png").write_text("not a quilt\n")
    (d / "empty.png").write_bytes(b"")
    (d / "cut.mp4").write_bytes((SAMPLES / "hopper_driver.mp4").read_bytes()[:4000])
    Image.new("1", (20000, 20000)).save(d / "bomb.png")  # ~50 KB on disk, 400 Mpx decoded
    shutil.copy(d / "bomb.png", d / "bomb_qs6x4a0.75.png")
    Image.new("RGB", (320, 240), (128, 128, 128)).save(d / "wall.png")  # no face
    Image.new("RGB", (600, 800), (40, 90, 160)).save(d / "quilt_noname.png")
    (d / "folder").mkdir()
    (d / "no_images").mkdir()
    (d / "no_images" / "readme.txt").write_text("nothing here\n")
    (d / "fake_frames").mkdir()
    for i in range(3):
        (d / "fake_frames" / f"f{i}.png").write_text("not an image\n")
    (d / "nested_visual.json").write_text("[" * 200_000 + "]" * 200_000)
    (d / "digits_visual.json").write_text('{"pitch": ' + "9" * 5000 + "}")
    (d / "wrong_visual.json").write_text('{"serial": "x", "pitch": "fast"}')
    (d / "nested_layout.json").write_text("{" + '"a":{' * 50_000 + "}" * 50_001)
    (d / "digits_layout.json").write_text('{"name": "x", "num_views": ' + "9" * 5000 + "}")
    (d / "text.pth").write_text("not weights\n")
    (d / "pickled.pth").write_bytes(pickle.dumps({"state_dict": _Evil()}))
    (d / "file").write_text("a file where a folder is expected\n")
    home = d / "broken-home" / "config"
    home.mkdir(parents=True)
    (home / "config.json").write_text('{"source_photo": ' + "[" * 100_000)


class _Evil:
    """A pickle that would run a command when loaded (it must be refused, never loaded)."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, ("echo pwned > /tmp/voodoo-holo-pwned",))


def make_rendered(d: Path, env: dict[str, str]) -> None:
    """A real 3-frame render with its record (for the resume and overwrite cases)."""
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "render", *SMALL_RENDER, "--source", "photo.jpg",
         "--driver", "clip.mp4", "--out", "video.mp4"],
        cwd=d, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"the reference render failed: {proc.stderr[-1000:]}")
    shutil.copy(d / "video.mp4", d / "norecord.mp4")
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "prepare", "photo.jpg", "--out", "prepared"],
        cwd=d, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"the reference prepare failed: {proc.stderr[-1000:]}")
    Image = __import__("PIL.Image", fromlist=["Image"])
    Image.new("RGB", (1536, 2048)).save(d / "native.png")
    Image.new("RGB", (864, 768)).save(d / "quilt_qs6x4a0.75.png")


# -- cases -----------------------------------------------------------------------------------
def cases() -> list[Case]:
    r = ["render", *SMALL_RENDER]
    fix_out = ("choose another",)
    out: list[Case] = [
        Case("render", "source missing", [*r, "--source", "missing.jpg"], ("does not exist",)),
        Case("render", "source is a folder", [*r, "--source", "folder"], ("is a folder",)),
        Case("render", "source is text", [*r, "--source", "text.jpg", "--out", "o1"], ("text.jpg",)),
        Case("render", "source is empty", [*r, "--source", "empty.png", "--out", "o2"], ("empty.png",)),
        Case("render", "source 20000x20000", [*r, "--source", "bomb.png", "--out", "o3"], ("bomb.png",)),
        Case("render", "source without a face", [*r, "--source", "wall.png", "--out", "o4"], ("face",)),
        Case("render", "driver missing", [*r, "--driver", "missing.mp4"], ("does not exist",)),
        Case("render", "driver is text", [*r, "--driver", "text.mp4"], ("text.mp4",)),
        Case("render", "driver cut off", [*r, "--driver", "cut.mp4", "--out", "o5"], ("cut.mp4",)),
        Case("render", "driver is a photo", [*r, "--driver", "photo.jpg"], ("single image",)),
        Case("render", "driver folder without images", [*r, "--driver", "no_images"], ("no images",)),
        Case("render", "driver folder of text", [*r, "--driver", "fake_frames", "--out", "o6"], ("f0.png",)),
        Case("render", "driver without a face", [*r, "--driver", "wall.png"], ("single image",)),
        Case("render", "view size 8", [*r, "--view-size", "8"], ("view size",)),
        Case("render", "0 views", [*r, "--views", "0"], ("views",)),
        Case("render", "fps 0", [*r, "--driver", "fake_frames", "--fps", "0"], ("frame rate",)),
        Case("render", "frames -1", ["render", "--frames", "-1"], ("frames",)),
        Case("render", "crf 99", [*r, "--crf", "99"], ("crf",)),
        Case("render", "aspect nan", [*r, "--aspect", "nan"], ("aspect",)),
        Case(
            "render",
            "calibration nested",
            [*r, "--calibration", "nested_visual.json"],
            ("nested_visual.json",),
        ),
        Case(
            "render",
            "calibration 5000 digits",
            [*r, "--calibration", "digits_visual.json"],
            ("digits_visual",),
        ),
        Case(
            "render", "calibration wrong types", [*r, "--calibration", "wrong_visual.json"], ("wrong_visual",)
        ),
        Case("render", "calibration missing", [*r, "--calibration", "missing.json"], ("missing.json",)),
        Case("render", "neural without weights", [*r, "--backend", "neural"], ("weights",)),
        Case(
            "render", "weights are text", [*r, "--backend", "neural", "--weights", "text.pth"], ("text.pth",)
        ),
        Case(
            "render",
            "weights pickled",
            [*r, "--backend", "neural", "--weights", "pickled.pth"],
            ("pickled.pth",),
        ),
        Case("render", "views into a .mp4", [*r, "--format", "views", "--out", "x.mp4"], ("output folder",)),
        Case(
            "render",
            "out exists",
            [*r, "--out", "video.mp4", "--source", "other.jpg"],
            ("already exists", "--force"),
        ),
        Case("render", "out quilt tag wrong", [*r, "--out", "v_qs8x3a0.75.mp4"], ("_qs",)),
        Case(
            "render",
            "resume another photo",
            [*r, "--out", "video.mp4", "--resume", "--source", "other.jpg"],
            ("cannot resume", "source photo"),
        ),
        Case(
            "render",
            "resume other views",
            [*r, "--out", "video.mp4", "--resume", "--view-size", "48"],
            ("cannot resume", "views"),
        ),
        Case(
            "render",
            "resume without record",
            [*r, "--out", "norecord.mp4", "--resume"],
            ("cannot resume", "--force"),
        ),
        Case("render", "resume and force", [*r, "--out", "video.mp4", "--resume", "--force"], ("give one",)),
        Case("render", "out under a file", [*r, "--out", "file/x.mp4"], ("is a file", *fix_out)),
        Case(
            "render", "out unwritable", [*r, "--out", "/proc/voodoo-holo/x.mp4"], ("cannot write", *fix_out)
        ),
        Case("prepare", "photo missing", ["prepare", "missing.jpg"], ("missing.jpg",)),
        Case("prepare", "photo is a folder", ["prepare", "folder"], ("is a folder",)),
        Case("prepare", "photo is text", ["prepare", "text.jpg", "--out", "p1"], ("text.jpg",)),
        Case("prepare", "photo is empty", ["prepare", "empty.png", "--out", "p2"], ("empty.png",)),
        Case("prepare", "photo 20000x20000", ["prepare", "bomb.png", "--out", "p3"], ("bomb.png",)),
        Case("prepare", "photo without a face", ["prepare", "wall.png", "--out", "p4"], ("face",)),
        Case(
            "prepare",
            "out exists",
            ["prepare", "other.jpg", "--out", "prepared"],
            ("already exist", "--force"),
        ),
        Case("prepare", "out is a file", ["prepare", "photo.jpg", "--out", "file"], ("is a file", *fix_out)),
        Case(
            "prepare",
            "out unwritable",
            ["prepare", "photo.jpg", "--out", "/proc/voodoo-holo"],
            ("cannot write",),
        ),
    ]
    lc = ["lenticular", "--backend", "numpy", "--calibration", str(CALIBRATION)]
    out += [
        Case(
            "lenticular", "quilt missing", [*lc, "missing_qs6x4a0.75.png", "--out", "n1.png"], ("not found",)
        ),
        Case("lenticular", "quilt is a folder", [*lc, "folder", "--out", "n2.png"], ("is a folder",)),
        Case(
            "lenticular",
            "quilt is text",
            [*lc, "text_qs6x4a0.75.png", "--out", "n3.png"],
            ("text_qs6x4a0.75",),
        ),
        Case("lenticular", "quilt 20000x20000", [*lc, "bomb_qs6x4a0.75.png", "--out", "n4.png"], ("bomb",)),
        Case(
            "lenticular", "layout not in the name", [*lc, "quilt_noname.png", "--out", "n5.png"], ("--cols",)
        ),
        Case(
            "lenticular",
            "cols 0",
            [*lc, "quilt_noname.png", "--cols", "0", "--rows", "4", "--aspect", "0.75", "--out", "n6.png"],
            ("col",),
        ),
        Case(
            "lenticular",
            "calibration nested",
            ["lenticular", "--test-pattern", "--calibration", "nested_visual.json", "--out", "n7.png"],
            ("nested_visual",),
        ),
        Case(
            "lenticular",
            "calibration 5000 digits",
            ["lenticular", "--test-pattern", "--calibration", "digits_visual.json", "--out", "n8.png"],
            ("digits_visual",),
        ),
        Case(
            "lenticular",
            "out exists",
            [*lc, "quilt_qs6x4a0.75.png", "--out", "native.png"],
            ("already exists", "--force"),
        ),
        Case(
            "lenticular",
            "out is the quilt",
            [*lc, "quilt_qs6x4a0.75.png", "--out", "quilt_qs6x4a0.75.png", "--force"],
            ("being read",),
        ),
        Case(
            "lenticular",
            "save-quilt exists",
            [*lc, "--test-pattern", "--out", "n9.png", "--save-quilt", "quilt_qs6x4a0.75.png"],
            ("already exists", "--save-quilt"),
        ),
        Case(
            "lenticular",
            "out unwritable",
            [*lc, "--test-pattern", "--out", "/proc/voodoo-holo/n.png"],
            ("cannot write",),
        ),
    ]
    common = [
        "--headless",
        "--backend",
        "mesh",
        "--view-size",
        "64",
        "--duration",
        "60",
        "--driver",
        "clip.mp4",
    ]
    lv = [*common, "--layout", "cpu"]
    out += [
        Case("live", "source missing", [*lv, "--source", "missing.jpg"], ("does not exist",)),
        Case("live", "source is a folder", [*lv, "--source", "folder"], ("is a folder",)),
        Case("live", "source is text", [*lv, "--source", "text.jpg"], ("text.jpg",)),
        Case("live", "source 20000x20000", [*lv, "--source", "bomb.png"], ("bomb.png",)),
        Case("live", "source without a face", [*lv, "--source", "wall.png"], ("face",)),
        Case("live", "driver missing", [*lv, "--source", "photo.jpg", "--driver", "missing.mp4"], ("missing.mp4",)),
        Case("live", "driver is text", [*lv, "--source", "photo.jpg", "--driver", "text.mp4"], ("text.mp4",)),
        Case("live", "metrics-out unwritable", [*lv, "--source", "photo.jpg", "--metrics-out", "/proc/voodoo-holo/m.json"], ("--metrics-out", "cannot write")),
        Case("live", "metrics-out is a folder", [*lv, "--source", "photo.jpg", "--metrics-out", "folder"], ("--metrics-out", "folder")),
        Case("live", "metrics-out under a file", [*lv, "--source", "photo.jpg", "--metrics-out", "file/m.json"], ("--metrics-out", "is a file")),
        Case("live", "layout nested", [*common, "--source", "photo.jpg", "--layout", "nested_layout.json"], ("nested_layout",)),
        Case("live", "layout missing", [*common, "--source", "photo.jpg", "--layout", "missing.json"], ("missing.json",)),
        Case("live", "layout 5000 digits", [*common, "--source", "photo.jpg", "--layout", "digits_layout.json"], ("digits_layout",)),
        Case("live", "view size 8", [*lv, "--source", "photo.jpg", "--view-size", "8"], ("view size",)),
        Case("live", "calibration nested", [*lv, "--source", "photo.jpg", "--calibration", "nested_visual.json"], ("nested_visual",)),
        Case("live", "settings file damaged", lv, ("config.json",), env={"VOODOO_HOLO_HOME": "broken-home"}),
        Case("live", "remote without expose", [*lv, "--source", "photo.jpg", "--remote", "renderer-0"], ("--expose",)),
        Case("doctor", "weights are text", ["doctor"], ("text.pth", "the mesh avatar will be used"), env={"VOODOO_HOLO_WEIGHTS": "text.pth"}),
        Case("doctor", "weights pickled", ["doctor"], ("pickled.pth", "refused", "the mesh avatar will be used"), env={"VOODOO_HOLO_WEIGHTS": "pickled.pth"}),
    ]  # fmt: skip
    # A render that is not refused would write into the case's folder: give each its own --out,
    # so that no case meets another's output (the cases about existing outputs name theirs).
    for k, c in enumerate(out):
        if c.command == "render" and "--out" not in c.args:
            c.args += ["--out", f"out-{k}"]
    return out


# -- running ---------------------------------------------------------------------------------
def snapshot(d: Path) -> dict[str, str]:
    """``relative path -> sha256`` of every file under ``d`` (folders as ``/``)."""
    out = {}
    for p in sorted(d.rglob("*")):
        rel = str(p.relative_to(d))
        if p.is_dir():
            out[rel + "/"] = "dir"
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def run_case(case: Case, d: Path, base_env: dict[str, str]) -> Outcome:
    env = dict(base_env)
    for k, v in case.env.items():
        env[k] = str(d / v) if k in ("VOODOO_HOLO_HOME", "VOODOO_HOLO_WEIGHTS") else v
    tmp = Path(env["TMPDIR"])
    before = snapshot(d)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "app.cli", *case.args],
            cwd=d, env=env, capture_output=True, text=True, errors="replace", timeout=case.timeout_s, check=False,
        )  # fmt: skip
        status, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:
        status, stdout, stderr = -999, str(e.stdout or ""), str(e.stderr or "")
    seconds = time.monotonic() - t0
    after = snapshot(d)
    problems = []
    text = stdout + stderr
    noise = ("W0000", "I0000", "INFO:", "WARNING: All log messages", "E0000")
    err_lines = [ln for ln in stderr.strip().splitlines() if ln.strip() and not ln.startswith(noise)]
    out_lines = [ln for ln in stdout.strip().splitlines() if ln.strip()]
    if "Traceback (most recent call last)" in text or status not in (0, 1, 2, 130):
        problems.append(f"crash (exit {status})")
    if case.command == "doctor":
        shown = [ln for ln in out_lines if "VOODOO 3D weights" in ln]
        message = shown[0] if shown else ""
        if not all(w in message for w in case.expect):
            problems.append("unclear: the weights line does not say what is wrong")
    elif status == 0:
        problems.append("accepted")
    else:
        lines = err_lines if case.command != "live" else (err_lines or out_lines)[-1:]
        message = lines[-1] if lines else ""
        if len(lines) != 1 or not message.startswith("voodoo-holo"):
            problems.append(f"unclear: {len(lines)} lines on stderr")
        missing = [w for w in case.expect if w not in message]
        if missing:
            problems.append(f"unclear: no {missing!r} in the message")
    lost = [p for p, h in before.items() if after.get(p) != h]
    if lost:
        problems.append(f"lost or changed: {lost[:3]}")
    new = [p for p in after if p not in before]
    if new and status != 0:
        problems.append(f"left behind: {new[:3]}")
    runs = [p.name for p in tmp.glob("voodoo-holo-*")]
    if runs:
        problems.append(f"left behind: run folder(s) {runs}")
        for p in tmp.glob("voodoo-holo-*"):
            shutil.rmtree(p, ignore_errors=True)
    last = (err_lines or out_lines or [""])[-1]
    return Outcome(f"{case.command}: {case.name}", status, round(seconds, 2), problems, last[:300])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help="commands to run (comma-separated); default: all")
    ap.add_argument("--show", action="store_true", help="print every case's last line")
    ap.add_argument("--json", type=Path, default=None, help="write every outcome to this file")
    args = ap.parse_args(argv)
    only = {c for c in args.only.split(",") if c}
    selected = [c for c in cases() if not only or c.command in only]
    pwned = Path("/tmp/voodoo-holo-pwned")
    pwned.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="cli-cases-") as tmpdir:
        work = Path(tmpdir) / "work"
        child_tmp = Path(tmpdir) / "tmp"
        work.mkdir()
        child_tmp.mkdir()
        env = dict(
            os.environ, PYTHONPATH=str(REPO), TMPDIR=str(child_tmp), GLOG_minloglevel="2",
            VOODOO_HOLO_HOME=str(Path(tmpdir) / "home"), VOODOO_HOLO_BRIDGE_URL="off",
        )  # fmt: skip
        env.pop("VOODOO_HOLO_WEIGHTS", None)
        make_inputs(work)
        make_rendered(work, env)
        outcomes = []
        for case in selected:
            o = run_case(case, work, env)
            outcomes.append(o)
            mark = "ok  " if not o.problems else "FAIL"
            print(
                f"{mark} {o.case:45s} exit {o.status:3d} {o.seconds:5.1f} s  {'; '.join(o.problems)}",
                flush=True,
            )
            if args.show or o.problems:
                print(f"       {o.last_line}", flush=True)
    counts = {
        k: sum(any(p.startswith(k) for p in o.problems) for o in outcomes)
        for k in ("crash", "unclear", "accepted", "lost or changed", "left behind")
    }
    if pwned.exists():
        counts["code run from a checkpoint"] = 1
    print(f"{len(outcomes)} runs: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    if args.json:
        args.json.write_text(
            json.dumps({"counts": counts, "cases": [o.__dict__ for o in outcomes]}, indent=1)
        )
    return 0 if not any(counts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
