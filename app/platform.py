"""What this platform offers, decided in one place: GL contexts, windows, process links, GPUs.

* :func:`gl_backend` - how a standalone (headless) OpenGL context is made: EGL on Linux (no X
  server needed), GLX (``x11``) on Linux when EGL is missing but an X display is set, the
  platform's own default on macOS (CGL) and Windows (WGL). ``VOODOO_HOLO_GL=egl|x11|default``
  forces one. :func:`create_gl_context` makes such a context; the mesh avatar and the
  compositor both get theirs from here.
* :func:`display_available` - whether a window can be opened at all.
* :func:`link_transport` - how the processes of a live call talk: ``ipc://`` files where the
  platform has them (Linux, macOS), tcp on the loopback interface elsewhere (Windows: pyzmq's
  ipc support depends on how libzmq was built). ``VOODOO_HOLO_LINKS=ipc|tcp`` forces one.
* :data:`THREAD_ENVIRONMENT` - numpy's OpenBLAS gets one thread: our matrices are tiny (camera
  and landmark maths), and on a small CPU its idle threads spin between calls, taking a core
  from the renderers (tracking alone went from 100 to 22 ms of CPU per frame on 2 cores).
  torch uses MKL and its own threads, unaffected. Set for the app's process at start and for
  every process of a live call.
* :func:`count_cuda_gpus` - CUDA devices, probed in a child process (this process never
  initialises CUDA: the live call's roles are pinned to their GPUs before importing torch).

Every probe that could initialise a driver runs in a short-lived child (:func:`run_probe`), so a
crashing driver cannot take the caller down; ``voodoo-holo doctor`` uses the same probes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Literal

__all__ = [
    "CUDA_PROBE",
    "THREAD_ENVIRONMENT",
    "apply_thread_environment",
    "GLBackend",
    "LinkTransport",
    "count_cuda_gpus",
    "create_gl_context",
    "display_available",
    "gl_backend",
    "link_transport",
    "run_probe",
]

GLBackend = Literal["egl", "x11", "default"]
LinkTransport = Literal["ipc", "tcp"]

ENV_GL = "VOODOO_HOLO_GL"
ENV_LINKS = "VOODOO_HOLO_LINKS"
#: OpenGL version every context of the app needs (4.1 core: the compositor's shaders).
GL_VERSION_REQUIRED = 410


#: Environment every process of the app runs with (see the module docstring); a value the user
#: set already wins.
THREAD_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1"}


def apply_thread_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Set :data:`THREAD_ENVIRONMENT` in ``environ`` (default: this process's, which must happen
    before numpy is imported) where not set; returns ``environ``."""
    env: Any = os.environ if environ is None else environ
    for k, v in THREAD_ENVIRONMENT.items():
        env.setdefault(k, v)
    return env


def gl_backend(platform: str | None = None, environ: dict[str, str] | None = None) -> GLBackend:
    """The standalone-context backend for ``platform`` (default: this one); see the module doc."""
    env = os.environ if environ is None else environ
    forced = env.get(ENV_GL, "").strip().lower()
    if forced:
        if forced not in ("egl", "x11", "default"):
            raise ValueError(f"{ENV_GL}={forced!r} is not one of egl, x11, default")
        return forced  # type: ignore[return-value]
    platform = sys.platform if platform is None else platform
    if platform.startswith("linux"):
        return "egl"
    return "default"


def create_gl_context(require: int = GL_VERSION_REQUIRED) -> Any:
    """A standalone OpenGL context (``moderngl.Context``) made as :func:`gl_backend` says.

    On Linux, when EGL is unavailable and an X display is set, GLX is tried before giving up.
    Raises RuntimeError with what to install when no context can be made.
    """
    import moderngl

    backend = gl_backend()
    tries: list[GLBackend] = [backend]
    if backend == "egl" and not os.environ.get(ENV_GL) and os.environ.get("DISPLAY"):
        tries.append("x11")
    errors = []
    for b in tries:
        try:
            # moderngl's stub types every keyword setting as a dict; backend= is a string
            create: Any = moderngl.create_standalone_context
            ctx = create(require=require) if b == "default" else create(require=require, backend=b)
        except Exception as e:  # moderngl raises bare Exceptions for missing libraries
            errors.append(f"{b}: {e}")
            continue
        ctx.gc_mode = "context_gc"
        return ctx
    hint = (
        " (on Linux: apt-get install libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri)"
        if sys.platform.startswith("linux")
        else ""
    )
    raise RuntimeError(f"no OpenGL {require // 100}.{require % 100 // 10} context: {'; '.join(errors)}{hint}")


def display_available() -> bool:
    """True when a window can be opened (an X or Wayland display, or Windows / macOS)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in (
        "win32",
        "darwin",
    )


def link_transport(platform: str | None = None, environ: dict[str, str] | None = None) -> LinkTransport:
    """``ipc`` where the platform has Unix-domain sockets for ZeroMQ, else ``tcp`` (loopback)."""
    env = os.environ if environ is None else environ
    forced = env.get(ENV_LINKS, "").strip().lower()
    if forced:
        if forced not in ("ipc", "tcp"):
            raise ValueError(f"{ENV_LINKS}={forced!r} is not one of ipc, tcp")
        return forced  # type: ignore[return-value]
    platform = sys.platform if platform is None else platform
    if platform.startswith("win"):
        return "tcp"
    if platform is sys.platform:
        import zmq

        return "ipc" if zmq.has("ipc") else "tcp"
    return "ipc"


def run_probe(code: str, timeout: float = 25.0, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it prints one JSON object on its last line.

    Returns that object, or ``{"error": ...}`` when the child failed, printed nothing usable or
    ran out of time.
    """
    try:
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in out.stdout.strip().splitlines() if ln.strip()]
    if not lines:
        err = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": err[:300]}
    try:
        data = json.loads(lines[-1])
    except json.JSONDecodeError:
        return {"error": lines[-1][:300]}
    return data if isinstance(data, dict) else {"error": f"unexpected probe output {lines[-1][:100]}"}


CUDA_PROBE = r"""
import json
try:
    import torch
except Exception as e:
    print(json.dumps({"error": f"torch not importable: {e}"})); raise SystemExit
gpus = []
n = torch.cuda.device_count() if torch.cuda.is_available() else 0
for i in range(n):
    p = torch.cuda.get_device_properties(i)
    gpus.append({"index": i, "name": p.name, "memory_gib": round(p.total_memory / 2**30, 1),
                 "capability": f"{p.major}.{p.minor}"})
print(json.dumps({"torch": torch.__version__, "cuda_build": torch.version.cuda, "gpus": gpus}))
"""


def count_cuda_gpus() -> int:
    """CUDA devices visible to a child process (this process never initialises CUDA)."""
    return len(run_probe(CUDA_PROBE, timeout=60.0).get("gpus", []))
