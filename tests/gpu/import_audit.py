"""Which third-party packages each entry point of the GPU checks imports (run by device_check.py).

The GPU machine has torch, numpy 2, Triton, OpenCV (headless), onnx and onnxruntime, but not
mediapipe, pyglet, sounddevice, imageio-ffmpeg or the project's pins; pyzmq, moderngl,
glcontext and platformdirs travel as wheels. The model bench, the parity and precision tools
and ``pytest -m gpu`` must therefore not import mediapipe (or the other absent packages) when
their modules load.

Usage: ``python tests/gpu/import_audit.py`` prints one JSON object: for each entry point, the
watched packages it brings into ``sys.modules`` (the model-side entry points in one fresh
interpreter, the live-call ones in another; building the CLI's parser imports every command
module). Exit status 1 when a model-side entry point needs a package the GPU machine lacks.
"""

from __future__ import annotations

import json
import subprocess
import sys

#: Packages worth knowing about (absent on the GPU machine, carried, or heavy).
WATCHED = (
    "mediapipe",
    "sounddevice",
    "pyglet",
    "imageio_ffmpeg",
    "hid",
    "tensorrt",
    "zmq",
    "moderngl",
    "glcontext",
    "platformdirs",
    "cv2",
    "PIL",
    "onnx",
    "onnxruntime",
    "matplotlib",
)
#: Packages the GPU machine lacks and no step carries (mediapipe travels for the live-call bench only).
ABSENT_ON_DEVICE = ("mediapipe", "sounddevice", "pyglet", "imageio_ffmpeg", "hid", "tensorrt")

#: Entry points of the model-side checks: none of them may need an absent package.
MODEL_PATH = {
    "voodoo-holo CLI (parser: every command module)": "import app.cli; app.cli.build_parser()",
    "bench model": "import pipeline.accel.model_bench, app.commands.bench",
    "parity tool": "import pipeline.voodoo.parity",
    "precision tool": "import pipeline.voodoo.precision",
    "neural backend": "import pipeline.voodoo.backend",
    "accel (ONNX, TensorRT)": "import pipeline.accel.backend, pipeline.accel.onnx_export",
}
#: Entry points of the live call (they may need the carried packages, never an absent one).
LIVE_PATH = {
    "live call roles": "import app.live.roles, app.live.launcher",
    "bench pipeline": "import app.live.bench",
}

_PROBE = """
import json, sys
watched = {watched!r}
first = {{}}
for name, code in {entries!r}.items():
    before = set(m for m in watched if m in sys.modules)
    try:
        exec(code)
    except Exception as e:
        first[name] = {{"imports": None, "error": f"{{type(e).__name__}}: {{e}}"}}
        continue
    first[name] = {{"imports": sorted(m for m in watched if m in sys.modules and m not in before), "error": None}}
print(json.dumps(first))
"""


def audit(entries: dict[str, str], python: str = sys.executable) -> dict[str, dict]:
    """``{entry: {"imports": [...], "error": str | None}}``: the watched packages each entry point
    imports first (entries run in order in one fresh interpreter; a package an earlier entry
    already loaded is listed under that entry)."""
    proc = subprocess.run(
        [python, "-c", _PROBE.format(watched=WATCHED, entries=entries)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {name: {"imports": None, "error": last} for name in entries}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    model = audit(MODEL_PATH)
    live = audit(LIVE_PATH)
    bad = {
        name: sorted(set(r["imports"] or []) & set(ABSENT_ON_DEVICE)) or r["error"]
        for name, r in model.items()
        if r["error"] or set(r["imports"]) & set(ABSENT_ON_DEVICE)
    }
    print(json.dumps({"model_path": model, "live_path": live, "model_path_problems": bad}, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
