"""Keep MediaPipe's native start-up chatter off the user's terminal.

MediaPipe's C++ graphs (through absl and TensorFlow Lite) write informational lines straight
to file descriptor 2 when a graph starts and on its first inference: "Created TensorFlow
Lite XNNPACK delegate", "Feedback manager requires a model with a single signature",
"Using NORM_RECT without IMAGE_DIMENSIONS"... They say nothing a user can act on and
interleave with progress bars. Python cannot reach those loggers, so
:func:`filter_native_stderr` redirects the descriptor for the duration of a block, then
writes back every line that is not such a notice (errors and anything else printed in the
meantime, Python's own output included, come out after the block, in order).

``VOODOO_HOLO_NATIVE_LOGS=1`` turns the filter off (everything goes straight through).
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["filter_native_stderr", "is_native_notice"]

#: absl INFO/WARNING lines ("W0000 00:00:1795593891.018339    7581 file.cc:186] ...") and the
#: fixed start-up notices of absl and TensorFlow Lite. Errors (E/F lines) are kept.
_NOTICE = re.compile(
    r"^(?:[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w./-]+:\d+\] "
    r"|INFO: Created TensorFlow Lite "
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called)"
)

_lock = threading.Lock()
_users = 0
_saved: int | None = None
_capture = None


def is_native_notice(line: str) -> bool:
    """True for the native informational lines the filter drops."""
    return bool(_NOTICE.match(line))


def _begin() -> None:
    global _users, _saved, _capture
    with _lock:
        _users += 1
        if _users > 1:
            return
        try:
            sys.stderr.flush()
            capture = tempfile.TemporaryFile()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):
            return
        try:
            os.dup2(capture.fileno(), 2)
        except OSError:
            os.close(saved)
            capture.close()
            return
        _saved, _capture = saved, capture


def _end() -> None:
    global _users, _saved, _capture
    with _lock:
        _users = max(0, _users - 1)  # a lingering timer may fire after the exit hook restored
        if _users > 0 or _saved is None or _capture is None:
            return
        saved, capture = _saved, _capture
        _saved = _capture = None
        try:
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):
            pass
        os.dup2(saved, 2)
        os.close(saved)
        capture.seek(0)
        text = capture.read().decode("utf-8", "replace")
        capture.close()
        kept = [ln for ln in text.splitlines(keepends=True) if not is_native_notice(ln)]
        if kept:
            os.write(2, "".join(kept).encode("utf-8", "replace"))


@contextmanager
def filter_native_stderr(linger: float = 0.0) -> Iterator[None]:
    """Drop native INFO/WARNING notices written to fd 2 inside the block; keep the rest.

    Args:
        linger: keep filtering this many seconds after the block ends. MediaPipe's graph
            threads start their models in the background, so some notices arrive just
            after the call that started a graph has returned.

    Blocks may nest and overlap across threads: the descriptor is redirected while any block
    (or lingering window) is open and restored, with the kept lines written, when the last
    one closes (at the latest when the interpreter exits). Does nothing when fd 2 cannot be
    redirected or ``VOODOO_HOLO_NATIVE_LOGS`` is set.
    """
    if os.environ.get("VOODOO_HOLO_NATIVE_LOGS", "") not in ("", "0"):
        yield
        return
    _begin()
    try:
        yield
    finally:
        if linger > 0:
            timer = threading.Timer(linger, _end)
            timer.daemon = True
            timer.start()
        else:
            _end()


@atexit.register
def _restore_at_exit() -> None:
    global _users
    with _lock:
        if _saved is None:
            return
        _users = 1
    _end()
