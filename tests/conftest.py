"""Test tiers.

- default: CPU only, no display, no webcam, no weights (what ``pytest`` runs).
- ``slow``: long CPU tests (full-size neural parity...); run with ``--runslow`` or VOODOO_HOLO_SLOW=1.
- ``gpu``: needs CUDA; skipped when torch sees no GPU.
- ``gl``: needs OpenGL through EGL; skipped with a reason when no EGL context can be made.
- ``window``: opens a real window under Xvfb; skipped when Xvfb is not installed.
- ``camera`` / ``interactive``: a real webcam / a person; never run automatically.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Triton bundles its own LLVM; loading it after Mesa's llvmpipe (software OpenGL, which links
# the system's LLVM) has made a context crashes the process, while the other order works.
# torch imports Triton lazily (torch.compile, ONNX export), so load it before any GL test.
try:
    import triton  # noqa: F401
except ImportError:
    pass

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The specs and fixtures folder beside the repository (may be absent in a bare clone).
SHARED_DIR = REPO_ROOT.parent / "shared"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")
    parser.addoption("--device", default="cpu", help="torch device for model tests (default cpu)")


def _egl_available() -> tuple[bool, str]:
    try:
        from app.platform import create_gl_context

        ctx = create_gl_context()
        ctx.release()
        return True, ""
    except Exception as e:  # any failure here means "no EGL": report it as the skip reason
        return False, f"no EGL OpenGL context: {type(e).__name__}: {e}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    runslow = config.getoption("--runslow") or os.environ.get("VOODOO_HOLO_SLOW") == "1"
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    skip_never = pytest.mark.skip(reason="needs real hardware or a person (camera/interactive)")
    gpu_ok = None
    gl_state: tuple[bool, str] | None = None
    for item in items:
        if item.get_closest_marker("slow") and not runslow:
            item.add_marker(skip_slow)
        if item.get_closest_marker("camera") or item.get_closest_marker("interactive"):
            item.add_marker(skip_never)
        if item.get_closest_marker("gpu"):
            if gpu_ok is None:
                import torch

                gpu_ok = torch.cuda.is_available()
            if not gpu_ok:
                item.add_marker(pytest.mark.skip(reason="no CUDA GPU"))
        if item.get_closest_marker("gl"):
            if gl_state is None:
                gl_state = _egl_available()
            if not gl_state[0]:
                item.add_marker(pytest.mark.skip(reason=gl_state[1]))
        if item.get_closest_marker("window") and shutil.which("Xvfb") is None:
            item.add_marker(pytest.mark.skip(reason="Xvfb is not installed (apt-get install xvfb)"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared folder with specs and parity fixtures; skips when absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"specs folder {SHARED_DIR.name}/ not found beside the repository")
    return SHARED_DIR


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read or write the real user's config, weights or caches."""
    home = tmp_path_factory.mktemp("voodoo_home")
    monkeypatch.setenv("VOODOO_HOLO_HOME", str(home))
    monkeypatch.delenv("VOODOO_HOLO_WEIGHTS", raising=False)
    monkeypatch.setenv("VOODOO_HOLO_BRIDGE_URL", "off")  # never a real Looking Glass Bridge


@contextlib.contextmanager
def _xvfb(width: int = 1024, height: int = 768) -> Iterator[str]:
    """An Xvfb server with one ``width x height`` screen at (0, 0); yields its DISPLAY name."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
        pass_fds=[write_fd],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        number = f.readline().strip()  # written once the server accepts clients
    try:
        if not number:
            pytest.skip("Xvfb did not start")
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait()


@pytest.fixture(scope="session")
def xvfb_server() -> Callable[..., contextlib.AbstractContextManager[str]]:
    """``with xvfb_server(width, height) as display:`` an Xvfb server for windowed tests."""
    return _xvfb
