"""Every GPU check of the neural path in one run; each result as JSON in ``--out``.

Started by ``tests/gpu/device_check.sh`` (see ``pipeline/accel/README.md``, "The one-GPU check").
On the GPU machine it uses that machine's Python, torch, numpy and Triton with this tree on
``PYTHONPATH`` (nothing is pip-installed from the project: its pins are for CPU machines), and
the packages that machine lacks from wheels carried in ``--carry``. Steps, in order of value per
second of device time, each with its own time limit inside the overall ``--budget``:

1. environment (GPU, driver, versions), carried wheels and GL libraries, an EGL context probe,
   the import audit (no step may need mediapipe but the live-call bench);
2. synthetic weights (the parity fixture's generator, seed 3) and the CUDA parity run;
3. ``voodoo-holo bench model`` at 1, 6 and 24 views for bfloat16 and float32, each with the
   PyTorch and the Triton decode, with and without CUDA graphs (one process per dtype);
4. ``pytest -m gpu``;
5. ``voodoo-holo bench pipeline`` (the ``one-gpu`` layout with the neural avatar, headless,
   OpenGL through EGL on the GPU; needs the carried mediapipe for tracking);
6. the precision tool (bfloat16 and float16 against float32, activation peaks), the float16
   bench configurations and a ``--compile`` configuration, as far as the budget allows.

A step that cannot get its minimum time is skipped and says so. ``--tiny`` (with ``--device
cpu``) is the dry run of the default test suite: the same plan, every command line checked
against the real parsers, a smoke-sized model bench and ``pytest -m gpu`` collection, with the
packages the GPU machine lacks made unimportable.

Files written to ``--out`` (rewritten after every step): ``summary.json`` (environment, every
step's command, status, time, reason, log tail), ``bench_model.json``, ``bench_pipeline.json``,
``pytest_gpu.json``, ``correctness.json`` (parity, precision, activation peaks), ``logs.txt``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from steprunner import HERE, ROOT, Check, StepResult

#: Digest of the seed-3 synthetic weights the parity fixture was recorded with.
FIXTURE_WEIGHTS_SHA256 = "baebe2f0abd0bfc40a50a25cf817a4d1ad7b8e791306834755b4e5c00bd664cc"
VIEWS = "1,6,24"
#: (dtype, kernel, graphs) in the order they run; stages: networks rows with the PyTorch kernel
#: (they do not depend on it), render rows for float32 without graphs (the renderer is float32
#: and not graphed), frame rows everywhere.
MATRIX = [
    (dtype, kernel, graphs)
    for dtype in ("bfloat16", "float32", "float16")
    for kernel, graphs in (("triton", True), ("torch", False), ("torch", True), ("triton", False))
]
#: Wheels carried in <carry>/wheels: installed for every step, and for the live-call bench only.
SHARED_WHEELS = ("pyzmq", "moderngl", "glcontext", "platformdirs")
LIVE_WHEELS = ("mediapipe", "protobuf")
#: Steps that use the synthetic weights (with --only, the weights step runs when one is chosen).
WEIGHTED_STEPS = {
    "parity_cuda",
    "bench_model_bfloat16",
    "bench_model_float32",
    "bench_model_float16",
    "bench_pipeline",
    "precision_cuda",
    "bench_model_compile",
}


# -- steps -------------------------------------------------------------------------------------
def step_environment(c: Check) -> None:
    t0 = time.monotonic()
    code = (
        "import json, platform, sys, numpy, torch\n"
        "d = {'python': sys.version.split()[0], 'numpy': numpy.__version__, 'torch': torch.__version__,\n"
        "     'cuda': torch.version.cuda, 'cuda_available': torch.cuda.is_available(), 'cpus': __import__('os').cpu_count()}\n"
        "try:\n    import triton; d['triton'] = triton.__version__\nexcept ImportError:\n    d['triton'] = None\n"
        "if torch.cuda.is_available():\n"
        "    p = torch.cuda.get_device_properties(0)\n"
        "    d.update(gpu=p.name, capability=f'{p.major}.{p.minor}', sms=p.multi_processor_count,\n"
        "             memory_gb=round(p.total_memory / 2**30, 1), cudnn=torch.backends.cudnn.version())\n"
        "print(json.dumps(d))\n"
    )
    proc = subprocess.run([c.py, "-c", code], capture_output=True, text=True, env=c.env(), timeout=120)
    env: dict = {"root": os.geteuid() == 0 if hasattr(os, "geteuid") else None}
    if proc.returncode == 0:
        env.update(json.loads(proc.stdout.strip().splitlines()[-1]))
    else:
        env["error"] = proc.stderr.strip()[-2000:]
    if shutil.which("nvidia-smi"):
        q = "name,driver_version,memory.total,memory.used,clocks.sm,clocks.mem,temperature.gpu,power.draw"
        smi = subprocess.run(
            ["nvidia-smi", f"--query-gpu={q}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        env["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
    c.environment = env
    ok = proc.returncode == 0 and (env.get("cuda_available") or c.args.device == "cpu")
    c.record(
        StepResult(
            "environment",
            "ok" if ok else "failed",
            round(time.monotonic() - t0, 1),
            reason=""
            if ok
            else "torch does not see a CUDA device"
            if proc.returncode == 0
            else "python failed",
        )
    )


def step_wheels(c: Check) -> None:
    wheels = sorted((c.carry / "wheels").glob("*.whl")) if (c.carry / "wheels").is_dir() else []
    if c.args.tiny or not wheels:
        c.skip(
            "wheels",
            "tiny dry run: this machine's packages" if c.args.tiny else f"no wheels in {c.carry}/wheels",
        )
        return

    def pick(names: tuple[str, ...]) -> list[str]:
        return [str(w) for w in wheels if w.name.split("-")[0].lower() in names]

    base = [c.py, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--no-cache-dir"]
    shared = pick(SHARED_WHEELS)
    live = pick(LIVE_WHEELS)
    cmd = " && ".join(
        " ".join([*base, "--target", str(target), *files])
        for target, files in ((c.work / "site", shared), (c.work / "site_live", live))
        if files
    )
    c.run("wheels", ["bash", "-c", cmd], 120, 20)


def step_gl(c: Check) -> None:
    debs = sorted((c.carry / "gl").glob("*.deb")) if (c.carry / "gl").is_dir() else []
    if c.args.device != "cuda" or not debs or os.geteuid() != 0:
        c.skip("gl_libraries", "only as root on the GPU machine with carried .deb files")
        return
    cmd = " && ".join([*(f"dpkg -x {d} /" for d in debs), "ldconfig"])
    c.run("gl_libraries", ["bash", "-c", cmd], 60, 10)


def step_egl(c: Check) -> None:
    if c.args.tiny:
        c.skip("egl_context", "tiny dry run (the gl test tier covers EGL on CPU machines)")
        return
    code = (
        "import json\nfrom app.platform import create_gl_context\nctx = create_gl_context()\n"
        "print(json.dumps({k: ctx.info[k] for k in ('GL_VENDOR', 'GL_RENDERER', 'GL_VERSION')}))\n"
    )
    r = c.run("egl_context", [c.py, "-c", code], 60, 10, c.env(VOODOO_HOLO_GL="egl", **_egl_vendor()))
    if r.status == "ok":
        try:
            r.data = json.loads(r.tail.strip().splitlines()[-1])
        except (ValueError, IndexError):
            pass
        c.save()


def _egl_vendor() -> dict[str, str]:
    """The NVIDIA EGL vendor file where the driver provides one (glvnd finds the driver through it)."""
    f = Path("/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json")
    return {"__EGL_VENDOR_LIBRARY_FILENAMES": str(f)} if f.is_file() else {}


def step_import_audit(c: Check) -> None:
    r = c.run("import_audit", [c.py, str(HERE / "import_audit.py")], 120, 10)
    try:
        start = r.tail.index("{")
        r.data = json.loads(r.tail[start:])
    except ValueError:
        pass
    c.save()


def step_weights(c: Check) -> Path | None:
    """The parity fixture's synthetic weights (seed 3), or None (random weights of the real shapes)."""
    maker, manifest = c.find("make_weights.py"), c.find("voodoo3d_state_dict.json")
    if c.args.tiny:
        c.skip("weights", "tiny dry run: random weights")
        return None
    if maker is None or manifest is None:
        c.skip("weights", f"make_weights.py or the manifest missing from {c.carry}: random weights")
        return None
    out = c.work / "weights_seed3.pt"
    r = c.run("weights", [c.py, str(maker), str(manifest), "--seed", "3", "--out", str(out)], 150, 30)
    m = re.search(r"sha256=([0-9a-f]{64})", r.tail)
    r.data = {"sha256": m.group(1) if m else None, "fixture_sha256": FIXTURE_WEIGHTS_SHA256}
    r.data["matches_fixture"] = bool(m and m.group(1) == FIXTURE_WEIGHTS_SHA256)
    c.save()
    return out if r.status == "ok" and out.is_file() else None


_PARITY_LINE = re.compile(r"^(ok  |FAIL)\s+(\S+)\s+vs\s+(\S+)\s+(\S+)\s+err=(\S+) tol=(\S+)", re.M)


def step_parity(c: Check, weights: Path | None) -> None:
    fixture = c.find("fixture.npz", "fixture_seed3.npz")
    if weights is None or fixture is None:
        c.skip("parity_cuda", "needs the synthetic weights and the parity fixture")
        return
    argv = [c.py, "-m", "pipeline.voodoo.parity", "--weights", str(weights), "--fixture", str(fixture)]
    r = c.run("parity_cuda", [*argv, "--device", c.args.device], 120, 30)
    checks = [
        {
            "ok": m[0].strip() == "ok",
            "output": m[1],
            "ref": m[2],
            "kind": m[3],
            "err": float(m[4]),
            "tol": float(m[5]),
        }
        for m in _PARITY_LINE.findall(r.tail)
    ]
    c.files["correctness.json"]["parity"] = {"status": r.status, "fixture": fixture.name, "checks": checks}
    c.save()


def bench_argv(
    c: Check, dtype: str, kernel: str, graphs: bool, weights: Path | None, json_path: Path
) -> list[str]:
    stages = ["frame"]
    if kernel == "torch":
        stages.insert(0, "networks")
    if dtype == "float32" and not graphs:
        stages.insert(0, "render")
    argv = [
        "bench",
        "model",
        "--device",
        c.args.device,
        "--views",
        VIEWS,
        "--dtype",
        dtype,
        "--kernel",
        kernel,
    ]
    argv += ["--stages", ",".join(stages), "--repeats", "5", "--json", str(json_path)]
    if graphs:
        argv.append("--cuda-graphs")
    if weights is not None:
        argv += ["--weights", str(weights)]
    return argv


def step_bench_dtype(c: Check, dtype: str, weights: Path | None, limit_s: float, min_s: float) -> None:
    items = []
    for d, kernel, graphs in MATRIX:
        if d != dtype:
            continue
        name = f"{d}-{kernel}-{'graphs' if graphs else 'eager'}"
        items.append(
            {"name": name, "argv": bench_argv(c, d, kernel, graphs, weights, c.work / f"bench_{name}.json")}
        )
    _bench_items(c, f"bench_model_{dtype}", items, limit_s, min_s)


def step_bench_smoke(c: Check) -> None:
    """The dry run's model bench: one smoke-sized configuration through the same runner (every
    command line of the real matrix is parsed by :func:`check_plan`)."""
    argv = ["bench", "model", "--device", c.args.device, "--quick", "--stages", "render", "--random-planes"]
    argv += ["--views", "1", "--repeats", "1", "--kernel", "triton", "--cuda-graphs"]
    argv += ["--json", str(c.work / "bench_smoke.json")]
    _bench_items(c, "bench_model_smoke", [{"name": "smoke", "argv": argv}], 120, 10)


def _bench_items(c: Check, step: str, items: list[dict], limit_s: float, min_s: float) -> None:
    plan, result = c.work / f"{step}_plan.json", c.work / f"{step}_result.json"
    plan.write_text(json.dumps(items))
    r = c.run(step, [c.py, str(HERE / "bench_matrix.py"), str(plan), str(result)], limit_s, min_s)
    outcome = json.loads(result.read_text()) if result.is_file() else {}
    for item in items:
        json_path = Path(item["argv"][item["argv"].index("--json") + 1])
        c.files["bench_model.json"]["configs"][item["name"]] = {
            "command": "voodoo-holo " + " ".join(item["argv"]),
            **outcome.get(item["name"], {"rc": None, "error": f"not reached ({r.status})"}),
            "record": json.loads(json_path.read_text()) if json_path.is_file() else None,
        }
    c.save()


def step_pytest(c: Check) -> None:
    files = sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "tests").rglob("test_*.py")
        if "mark.gpu" in p.read_text(errors="replace")
    )
    xml = c.work / "pytest_gpu.xml"
    argv = [
        c.py,
        "-m",
        "pytest",
        "-m",
        "gpu",
        "-q",
        "-p",
        "no:cacheprovider",
        "--continue-on-collection-errors",
    ]
    argv += [f"--junitxml={xml}", *files]
    r = c.run("pytest_gpu", argv, 200, 30)
    c.files["pytest_gpu.json"] = {"status": r.status, "files": files, **_junit(xml)}
    c.save()


def _junit(path: Path) -> dict:
    if not path.is_file():
        return {"tests": []}
    tests = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                outcome, message = tag, (el.get("message") or "")[:500]
                break
        tests.append(
            {
                "test": f"{case.get('classname')}::{case.get('name')}",
                "outcome": outcome,
                "seconds": float(case.get("time") or 0),
                "message": message,
            }
        )
    counts = {k: sum(t["outcome"] == k for t in tests) for k in ("passed", "failure", "error", "skipped")}
    return {"counts": counts, "tests": tests}


def pipeline_argv(c: Check, weights: Path | None, json_path: Path) -> list[str]:
    argv = ["bench", "pipeline", "--device", c.args.device, "--views", "24", "--json", str(json_path)]
    return argv + (["--weights", str(weights)] if weights is not None else [])


def step_pipeline(c: Check, weights: Path | None) -> None:
    json_path = c.work / "bench_pipeline.json"
    argv = pipeline_argv(c, weights, json_path)
    if c.args.tiny:
        c.skip(
            "bench_pipeline", "tiny dry run: needs mediapipe for tracking and a GPU (command line checked)"
        )
        return
    if weights is None:
        c.skip("bench_pipeline", "needs the synthetic weights (the neural avatar)")
        return
    env = c.env(live=True, VOODOO_HOLO_GL="egl", **_egl_vendor())
    r = c.run("bench_pipeline", [c.py, "-m", "app.cli", *argv], 180, 90, env)
    record = json.loads(json_path.read_text()) if json_path.is_file() else None
    c.files["bench_pipeline.json"] = {
        "status": r.status,
        "command": "voodoo-holo " + " ".join(argv),
        "record": record,
    }
    c.save()


def step_precision(c: Check, weights: Path | None) -> None:
    fixture = c.find("fixture.npz", "fixture_seed3.npz")
    if c.args.tiny or weights is None or fixture is None:
        c.skip("precision_cuda", "needs the synthetic weights and the parity fixture")
        return
    peaks = c.work / "peaks.json"
    argv = [c.py, "-m", "pipeline.voodoo.precision", "--weights", str(weights), "--fixture", str(fixture)]
    argv += ["--device", c.args.device, "--dtypes", "bfloat16,float16", "--peaks-out", str(peaks)]
    r = c.run("precision_cuda", argv, 150, 45)
    lines = [ln for ln in r.tail.splitlines() if ln.startswith(("float32", "bfloat16", "float16"))]
    c.files["correctness.json"]["precision"] = {
        "status": r.status,
        "lines": lines,
        "peaks": json.loads(peaks.read_text()) if peaks.is_file() else None,
    }
    c.save()


def step_compile(c: Check, weights: Path | None) -> None:
    if c.args.tiny:
        c.skip("bench_model_compile", "tiny dry run (command line checked)")
        return
    name = "bfloat16-torch-compile"
    argv = bench_argv(c, "bfloat16", "torch", False, weights, c.work / f"bench_{name}.json") + ["--compile"]
    _bench_items(c, "bench_model_compile", [{"name": name, "argv": argv}], 300, 120)


def check_plan(c: Check, weights: Path | None) -> None:
    """Parse every command line of the full plan with the real parsers (cheap; catches flag rot)."""
    sys.path.insert(0, str(ROOT))
    from app.cli import build_parser

    parser = build_parser()
    w = weights or c.work / "weights_seed3.pt"
    lines = [bench_argv(c, d, k, g, w, c.work / "x.json") for d, k, g in MATRIX]
    lines.append(bench_argv(c, "bfloat16", "torch", False, w, c.work / "x.json") + ["--compile"])
    lines.append(pipeline_argv(c, w, c.work / "x.json"))
    problems = []
    for argv in lines:
        try:
            parser.parse_args(argv)
        except SystemExit:
            problems.append(" ".join(argv))
    from pipeline.voodoo.parity import build_parser as parity_parser
    from pipeline.voodoo.precision import build_parser as precision_parser

    for p, argv in (
        (parity_parser(), ["--weights", "w", "--fixture", "f", "--device", "cuda"]),
        (
            precision_parser(),
            ["--weights", "w", "--fixture", "f", "--dtypes", "bfloat16,float16", "--peaks-out", "p"],
        ),
    ):
        try:
            p.parse_args(argv)
        except SystemExit:
            problems.append(" ".join(argv))
    c.plan_checked = {"command_lines": len(lines) + 2, "problems": problems}
    c.save()


_FRAME = re.compile(r"^frame: drive \+ (\d+) view")


def print_table(c: Check) -> None:
    print("\nstep                      status   seconds  note")
    for r in c.steps:
        print(f"{r.name:25s} {r.status:8s} {r.seconds:7.0f}  {r.reason}")
    configs = c.files["bench_model.json"]["configs"]
    if configs:
        print("\nframes/s (drive + N views + super-resolution, measured), per configuration")
        for name, entry in configs.items():
            rows = (entry.get("record") or {}).get("rows", [])
            fps = [(m.group(1), r["extra"].get("fps")) for r in rows if (m := _FRAME.match(r["stage"]))]
            text = (
                "  ".join(f"{n} views {v}" for n, v in fps)
                if fps
                else (entry.get("error") or "no frame rows")
            )
            print(f"  {name:26s} {text.splitlines()[0] if text else ''}")
    print(f"\nresults in {c.out}", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="folder for the JSON results")
    p.add_argument("--work", required=True, help="scratch folder (weights, logs)")
    p.add_argument("--carry", default=None, help="folder of carried inputs (default: .devcheck)")
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--tiny", action="store_true", help="smoke-sized dry run (CPU test suite)")
    p.add_argument("--budget", type=float, default=460.0, help="seconds for the whole run")
    p.add_argument("--python", default=sys.executable, help="interpreter for the steps")
    p.add_argument(
        "--only",
        default="",
        help="comma-separated step names to run (a rerun of what failed); the setup steps always run",
    )
    args = p.parse_args(argv)
    c = Check(args)
    only = {n.strip() for n in args.only.split(",") if n.strip()} if args.only else None

    def want(name: str) -> bool:
        if only is None or name in only:
            return True
        c.skip(name, "not selected (--only)")
        return False

    step_environment(c)  # setup steps always run
    step_wheels(c)
    step_gl(c)
    if want("egl_context"):
        step_egl(c)
    if want("import_audit"):
        step_import_audit(c)
    needs_weights = only is None or bool(only & WEIGHTED_STEPS)
    weights = None
    if needs_weights:
        weights = step_weights(c)
    else:
        c.skip("weights", "no selected step needs them")
    check_plan(c, weights)
    if want("parity_cuda"):
        step_parity(c, weights)
    if args.tiny:
        if want("bench_model_smoke"):
            step_bench_smoke(c)
    else:
        for dtype in ("bfloat16", "float32"):
            if want(f"bench_model_{dtype}"):
                step_bench_dtype(c, dtype, weights, 110, 40)
    if want("pytest_gpu"):
        step_pytest(c)
    if want("bench_pipeline"):
        step_pipeline(c, weights)
    if want("precision_cuda"):
        step_precision(c, weights)
    if not args.tiny and want("bench_model_float16"):
        step_bench_dtype(c, "float16", weights, 100, 40)
    if want("bench_model_compile"):
        step_compile(c, weights)
    print_table(c)
    bad = [r.name for r in c.steps if r.status in ("failed", "timeout")]
    return 1 if bad or c.plan_checked.get("problems") else 0


if __name__ == "__main__":
    sys.exit(main())
