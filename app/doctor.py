"""What this machine can do: the probes behind ``voodoo-holo doctor``.

Every probe that could initialise a driver (CUDA, OpenGL, a window system, a webcam) runs in a
short-lived child process, so the caller never holds a CUDA context or a GL context and a
crashing driver cannot take the caller down. Probes run concurrently.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from app.calibration_settings import find_display
from app.paths import user_paths
from app.platform import CUDA_PROBE, run_probe
from calibration.discovery import FoundCalibration, NoCalibrationError
from calibration.hid import HidBackend
from calibration.visual import CalibrationError

#: Distributions whose versions are reported (name on PyPI).
PACKAGES = (
    "torch",
    "numpy",
    "mediapipe",
    "opencv-contrib-python",
    "opencv-python",
    "opencv-python-headless",
    "opencv-contrib-python-headless",
    "protobuf",
    "pyglet",
    "moderngl",
    "pyzmq",
    "imageio-ffmpeg",
    "onnx",
    "onnxruntime",
    "tensorrt",
    "triton",
)
OPENCV_DISTS = (
    "opencv-python",
    "opencv-contrib-python",
    "opencv-python-headless",
    "opencv-contrib-python-headless",
)

PROBE_TIMEOUT_S = 25.0


@dataclass
class Check:
    """One line of the report."""

    section: str
    name: str
    ok: bool | None  # None = informational
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


_TRT_PROBE = r"""
import json
try:
    import tensorrt as trt
    print(json.dumps({"version": trt.__version__}))
except Exception as e:
    print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
"""

_GL_PROBE = r"""
import json, sys
backend = sys.argv[1] if len(sys.argv) > 1 else None
try:
    import moderngl
    kw = {"backend": "egl"} if backend == "egl" else {}
    ctx = moderngl.create_standalone_context(**kw)
    info = ctx.info
    print(json.dumps({"renderer": info.get("GL_RENDERER"), "version": info.get("GL_VERSION"),
                      "vendor": info.get("GL_VENDOR"), "code": ctx.version_code}))
    ctx.release()
except Exception as e:
    print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
"""

_DISPLAY_PROBE = r"""
import json
try:
    import pyglet
    d = pyglet.display.get_display()
    screens = [{"x": s.x, "y": s.y, "width": s.width, "height": s.height,
                "name": str(getattr(s, "get_display_name", lambda: "")() or "")} for s in d.get_screens()]
    print(json.dumps({"screens": screens}))
except Exception as e:
    print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
"""

_WEBCAM_PROBE = r"""
import json, sys
import cv2
found = []
for idx in [int(a) for a in sys.argv[1:]]:
    cap = cv2.VideoCapture(idx)
    if cap.isOpened():
        ok, frame = cap.read()
        found.append({"index": idx, "reads": bool(ok),
                      "size": [int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))]})
    cap.release()
print(json.dumps({"webcams": found}))
"""

_MEDIAPIPE_PROBE = r"""
import json
try:
    import numpy as np
    import mediapipe as mp
    fm = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True)
    fm.process(np.zeros((64, 64, 3), np.uint8)); fm.close()
    print(json.dumps({"version": mp.__version__, "face_mesh": True}))
except Exception as e:
    print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
"""


def _code_with_args(code: str, *args: str) -> str:
    return f"import sys; sys.argv = {['probe', *args]!r}\n" + code


def looks_like_looking_glass(width: int, height: int, name: str = "") -> str | None:
    """A model name when a screen looks like a Looking Glass (by name, then by native panel size)."""
    from calibration.devices import models_with_panel

    if "lkg" in name.lower() or "looking glass" in name.lower():
        return name or "Looking Glass"
    models = models_with_panel(width, height)
    return " or ".join(m.name for m in models) if models else None


def installed_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def video_device_indices() -> list[int]:
    """Webcam indices worth probing (on Linux the /dev/video* nodes; elsewhere 0-2)."""
    if sys.platform.startswith("linux"):
        devs = sorted(Path("/dev").glob("video*"))
        idx = []
        for d in devs:
            suffix = d.name[len("video") :]
            if suffix.isdigit():
                idx.append(int(suffix))
        return idx
    return [0, 1, 2]


def run_checks() -> list[Check]:
    """Run every probe and return the report lines."""
    checks: list[Check] = []
    vers = installed_versions()
    checks.append(
        Check(
            "system",
            "python",
            sys.version_info[:2] >= (3, 10),
            f"{platform.python_version()} ({sys.executable})",
        )
    )
    checks.append(
        Check("system", "platform", None, f"{platform.system()} {platform.release()} {platform.machine()}")
    )
    checks.append(Check("system", "cpu cores", None, str(os.cpu_count())))

    required = ("torch", "numpy", "mediapipe", "pyglet", "moderngl", "pyzmq", "imageio-ffmpeg")
    for name in PACKAGES:
        if name in OPENCV_DISTS:
            continue
        v = vers[name]
        ok: bool | None = (v is not None) if name in required else None
        checks.append(Check("packages", name, ok, v or "not installed"))
    cv = [d for d in OPENCV_DISTS if vers[d]]
    cv_detail = ", ".join(f"{d} {vers[d]}" for d in cv) or "not installed"
    if len(cv) > 1:
        cv_detail += "  <- several OpenCV distributions share one cv2 folder; keep only opencv-contrib-python"
    checks.append(Check("packages", "opencv", len(cv) == 1, cv_detail))

    webcam_idx = video_device_indices()
    probes = {
        "cuda": (CUDA_PROBE, 60.0),
        "tensorrt": (_TRT_PROBE, PROBE_TIMEOUT_S),
        "egl": (_code_with_args(_GL_PROBE, "egl"), PROBE_TIMEOUT_S),
        "mediapipe": (_MEDIAPIPE_PROBE, 60.0),
    }
    if os.environ.get("DISPLAY") or sys.platform in ("win32", "darwin"):
        probes["glx"] = (_code_with_args(_GL_PROBE, "default"), PROBE_TIMEOUT_S)
        probes["displays"] = (_DISPLAY_PROBE, PROBE_TIMEOUT_S)
    if webcam_idx:
        probes["webcams"] = (_code_with_args(_WEBCAM_PROBE, *map(str, webcam_idx)), PROBE_TIMEOUT_S)
    with ThreadPoolExecutor(max_workers=len(probes)) as pool:
        futs = {k: pool.submit(run_probe, code, t) for k, (code, t) in probes.items()}
        res = {k: f.result() for k, f in futs.items()}

    mp_res = res["mediapipe"]
    checks.append(
        Check(
            "tracking",
            "mediapipe face mesh",
            "error" not in mp_res,
            mp_res.get("error") or f"{mp_res['version']}: FaceMesh with bundled models runs offline",
        )
    )

    cuda = res["cuda"]
    gpus = cuda.get("gpus", [])
    if "error" in cuda:
        checks.append(Check("gpu", "cuda", False, cuda["error"]))
    elif not gpus:
        build = f"CUDA {cuda['cuda_build']} build" if cuda.get("cuda_build") else "CPU-only build"
        checks.append(
            Check("gpu", "cuda", None, f"no CUDA GPU (torch {cuda['torch']}, {build})", {"gpus": []})
        )
    else:
        for g in gpus:
            checks.append(
                Check(
                    "gpu",
                    f"cuda:{g['index']}",
                    True,
                    f"{g['name']}, {g['memory_gib']} GiB, sm {g['capability']}",
                    g,
                )
            )
    trt = res["tensorrt"]
    checks.append(
        Check(
            "gpu",
            "tensorrt",
            None,
            f"TensorRT {trt['version']}"
            if "version" in trt
            else "not available (optional: pip install 'voodoo-holo[trt]')",
        )
    )

    egl = res["egl"]
    checks.append(
        Check(
            "opengl",
            "EGL (headless)",
            "error" not in egl,
            egl.get("error") or f"{egl['renderer']} | {egl['version']}",
            egl,
        )
    )
    if "glx" in res:
        glx = res["glx"]
        checks.append(
            Check(
                "opengl",
                "window system",
                "error" not in glx,
                glx.get("error") or f"{glx['renderer']} | {glx['version']}",
            )
        )
    else:
        checks.append(
            Check("opengl", "window system", None, "no display (DISPLAY unset): windows unavailable")
        )

    lkg_checks, found = looking_glass_checks()
    screens = res.get("displays", {}).get("screens", [])
    if "displays" in res and "error" in res["displays"]:
        checks.append(Check("displays", "screens", False, res["displays"]["error"]))
    for i, s in enumerate(screens):
        lkg = looks_like_looking_glass(s["width"], s["height"], s.get("name", ""))
        tag = f"  <- looks like a {lkg}" if lkg else ""
        if found is not None and found.window_xy == (s["x"], s["y"]):
            tag = f"  <- the {found.model or 'Looking Glass'} (Looking Glass Bridge places it here)"
        checks.append(
            Check(
                "displays",
                f"screen {i}",
                None,
                f"{s['width']}x{s['height']} at ({s['x']},{s['y']}) {s.get('name', '')}{tag}",
                s,
            )
        )
    if not screens:
        checks.append(
            Check(
                "displays",
                "looking glass",
                None,
                "none found (the preview window or offline render work without)",
            )
        )

    cams = res.get("webcams", {}).get("webcams", [])
    if cams:
        for c in cams:
            checks.append(
                Check("webcams", f"camera {c['index']}", c["reads"], f"{c['size'][0]}x{c['size'][1]}")
            )
    else:
        checks.append(
            Check("webcams", "webcam", None, "none found (use --driver FILE to drive from a video)")
        )

    paths = user_paths()
    weights_line = weights_check(paths.find_weights(), paths.weights_candidates())
    weights = weights_line.ok is True
    checks.append(weights_line)
    checks.extend(lkg_checks)
    checks.append(Check("files", "config", None, str(paths.config_file)))
    checks.append(Check("files", "engine cache", None, str(paths.engines_dir)))
    checks.append(Check("files", "logs", None, str(paths.log_dir)))

    # What can run here.
    have_core = all(vers[p] for p in ("torch", "numpy", "mediapipe", "moderngl")) and "error" not in mp_res
    gl_ok = "error" not in egl or ("glx" in res and "error" not in res["glx"])
    modes = []
    if have_core and gl_ok and vers["imageio-ffmpeg"]:
        modes.append("offline render (mesh avatar)")
        if weights:
            modes.append("offline render (neural avatar)" + ("" if gpus else ", slow on CPU"))
    if have_core and gl_ok:
        live = "neural avatar" if (weights and gpus) else "mesh avatar"
        sink = (
            "Looking Glass"
            if any(looks_like_looking_glass(s["width"], s["height"], s.get("name", "")) for s in screens)
            else ("preview window" if screens else "headless")
        )
        src = "webcam" if any(c["reads"] for c in cams) else "driver video file"
        modes.append(f"live call ({live}, {src}, {sink})")
    checks.append(
        Check("summary", "can run", bool(modes), "; ".join(modes) or "nothing: fix the failed lines above")
    )
    return checks


def weights_check(weights: Path | None, candidates: list[Path]) -> Check:
    """The weights line: the file found at the weights path, checked key by key and shape by
    shape against the official layout without loading it (memory-mapped; values are read only
    when the model loads them). ``ok``: True = usable, False = present but refused, None = none."""
    name = "VOODOO 3D weights"
    if weights is None:
        where = " or ".join(str(p) for p in candidates)
        return Check("files", name, None, f"not found (looked for {where}); the mesh avatar will be used")
    try:
        from pipeline.voodoo.checkpoint import CheckpointError, validate_checkpoint_file
    except ImportError as e:
        return Check("files", name, False, f"{weights} cannot be checked: {e}; the mesh avatar will be used")
    try:
        report = validate_checkpoint_file(weights)
    except CheckpointError as e:
        return Check("files", name, False, f"{e}; the mesh avatar will be used", {"path": str(weights)})
    if not report.ok:
        why = report.error_message(str(weights))
        return Check("files", name, False, f"{why}; the mesh avatar will be used", {"path": str(weights)})
    size_mb = weights.stat().st_size / 1e6
    extra = f", {len(report.extra)} unknown key(s) ignored" if report.extra else ""
    return Check(
        "files",
        name,
        True,
        f"{weights} ({size_mb:.0f} MB): every key in the official layout with the right shape{extra}",
        {"path": str(weights), "extra_keys": len(report.extra), "rebuilt": len(report.rebuilt)},
    )


def looking_glass_checks(
    bridge_url: str | Literal["auto"] | None = "auto",
    hid: HidBackend | Literal["auto"] | None = "auto",
    drive_roots: list[Path] | None = None,
) -> tuple[list[Check], FoundCalibration | None]:
    """``(report lines, FoundCalibration or None)``: every discovery route and what it found.

    ``bridge_url``, ``hid`` and ``drive_roots`` are passed to the discovery (tests point them at
    stand-ins; ``VOODOO_HOLO_BRIDGE_URL`` does the same for the command).
    """
    section = "looking glass"
    found = None
    try:
        found = find_display(bridge_url=bridge_url, hid=hid, drive_roots=drive_roots)
        attempts = found.attempts
        problem = None
    except NoCalibrationError as e:
        attempts, problem = e.attempts, None
    except CalibrationError as e:
        attempts, problem = (), str(e)
    names = {"bridge": "Bridge", "hid": "Gen1 USB (HID)", "drive": "USB drive", "settings": "settings"}
    mark = {"found": True, "failed": False, "none": None, "skipped": None}
    lines = []
    for a in attempts:
        if a.route == "argument":
            continue
        took = f" ({a.elapsed_ms:.0f} ms)" if a.route in ("bridge", "hid") else ""
        lines.append(Check(section, names[a.route], mark[a.outcome], f"{a.outcome}: {a.detail}{took}"))
    if problem is not None:
        lines.append(Check(section, "calibration", False, problem))
    elif found is None:
        lines.append(
            Check(
                section, "calibration", None, "none found: the preview window and offline render work without"
            )
        )
    elif found.is_hld:
        lines.append(
            Check(
                section,
                "calibration",
                None,
                f"{found.describe()}; it shows 2D video, not quilts: use voodoo-holo preview or "
                "voodoo-holo render --format views",
                {"route": found.route},
            )
        )
    else:
        lines.append(Check(section, "calibration", True, found.describe(), {"route": found.route}))
    return lines, found


def _calibration_check() -> Check:
    """The summary line of :func:`looking_glass_checks`."""
    return looking_glass_checks()[0][-1]


def format_report(checks: list[Check]) -> str:
    mark = {True: "ok", False: "FAIL", None: "--"}
    w_name = max(len(c.name) for c in checks)
    lines = []
    section = None
    for c in checks:
        if c.section != section:
            section = c.section
            lines.append(f"\n[{section}]")
        lines.append(f"  {mark[c.ok]:<4}  {c.name:<{w_name}}  {c.detail}")
    return "\n".join(lines).lstrip("\n")
