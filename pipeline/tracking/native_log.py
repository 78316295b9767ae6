"""Keep MediaPipe's native start-up chatter off the user's terminal.

MediaPipe's C++ graphs (through absl and TensorFlow Lite) write informational lines straight
to file descriptor 2 while a graph starts and during its first inference: "Created TensorFlow
Lite XNNPACK delegate", "Feedback manager requires a model with a single signature", "Using
NORM_RECT without IMAGE_DIMENSIONS"... They say nothing a user can act on and break progress
bars. Python cannot reach those loggers, so while a *quiet window* is open fd 2 points at a
pipe, and a thread forwards what arrives to the real stderr at once, minus those notices.

Windows are not timed: a graph's window opens before the graph is created and closes when its
first complete inference has returned (:class:`QuietWindow`; MediaPipe's ``process()`` waits
until the graph is idle, so by then every calculator has been opened and has run once, and
has written what it writes). :func:`filter_native_stderr` is the same for one block.

* Everything else gets through, as it is written: Python's own output, progress bars (a notice
  glued to the end of a bar line is cut out of it), native errors (``E``/``F`` lines).
* When the last window closes, fd 2 is the real stderr again, and the lines still in the pipe
  are written out first, so the order of what a user sees is kept.
* A child process started while a window is open inherits the pipe; its output is forwarded
  (filtered) for as long as this process lives.

``VOODOO_HOLO_NATIVE_LOGS=1`` turns the filter off (everything goes straight through).
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["QuietWindow", "filter_native_stderr", "is_native_notice", "strip_native_notices"]

#: absl INFO/WARNING lines ("W0000 00:00:1795593891.018339    7581 file.cc:186] ...") and the
#: fixed start-up notices of absl and TensorFlow Lite. Errors (E/F lines) are kept.
_NOTICE_TEXT = (
    r"(?:[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w./-]+:\d+\] [^\n]*"
    r"|INFO: Created TensorFlow Lite [^\n]*"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called[^\n]*)"
)
_NOTICE = re.compile(r"^" + _NOTICE_TEXT)
_NOTICE_BYTES = re.compile(_NOTICE_TEXT.encode() + rb"\n")
#: A line end that may be the first part of an absl notice still being written (leniently:
#: holding back a little too much only delays it until the next write).
_ABSL_PREFIX = re.compile(
    rb"[IW](?:\d{1,4}(?: (?:\d{1,2}(?::(?:\d{1,2}(?::(?:[\d.]+(?:\s+(?:\d+(?: (?:[\w./-]+"
    rb"(?::(?:\d+(?:\][^\n]*)?)?)?)?)?)?)?)?)?)?)?)?)?)?\Z"
)
_FIXED_STARTS = (b"INFO: Created TensorFlow Lite ", b"WARNING: All log messages before absl::")
_DRAIN = b"\x00voodoo-holo:native-log:drained\x00"
_HOLD_S = 0.5  # a held line end that gets no continuation within this is written as it is


def _held_from(data: bytes) -> int:
    """Where the possible start of an unfinished notice begins in ``data`` (``len(data)``: none).

    TensorFlow Lite writes "INFO: ", the message and the newline in separate writes, so a
    notice can arrive in pieces."""
    start = data.rfind(b"\n") + 1
    for p in range(start, len(data)):
        tail = data[p:]
        if _ABSL_PREFIX.match(tail) or any(f.startswith(tail) or tail.startswith(f) for f in _FIXED_STARTS):
            return p
    return len(data)


def is_native_notice(line: str) -> bool:
    """True for the native informational lines the filter drops."""
    return bool(_NOTICE.match(line))


def strip_native_notices(data: bytes) -> bytes:
    """``data`` without the notice lines in it, wherever they start (a notice written right
    after a progress bar's line, which has no newline, starts in the middle of a line)."""
    return _NOTICE_BYTES.sub(b"", data)


class _Forwarder:
    """fd 2 -> a pipe while windows are open; a thread writes what comes out to the real stderr."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.out_lock = threading.Lock()  # guards real_fd while the thread writes to it
        self.real_fd = os.dup(2)  # fd 2 as it was when the last window opened
        self.read_fd, self.write_fd = os.pipe()  # never closed: children may still hold it
        self.drained = threading.Condition()
        self.drains_seen = 0
        self.thread = threading.Thread(target=self._run, name="native-log-filter", daemon=True)
        self.thread.start()

    # -- the thread ------------------------------------------------------------------------
    def _run(self) -> None:
        pending = b""
        while True:
            if pending and not self._more_within(_HOLD_S):
                self._write(strip_native_notices(pending))  # not a notice after all
                pending = b""
            try:
                data = os.read(self.read_fd, 65536)
            except OSError:
                return
            if not data:
                return
            pending += data
            while _DRAIN in pending:  # everything written before the drain request: out now
                head, pending = pending.split(_DRAIN, 1)
                self._write(strip_native_notices(head))
                with self.drained:
                    self.drains_seen += 1
                    self.drained.notify_all()
            cut = _held_from(pending)  # hold a notice's first part back until its newline
            self._write(strip_native_notices(pending[:cut]))
            pending = pending[cut:]

    def _more_within(self, seconds: float) -> bool:
        """Whether the pipe has data within ``seconds`` (always True where pipes cannot be
        polled: there a held line end waits for the next write or the window's end)."""
        if os.name != "posix":
            return True
        import select

        return bool(select.select([self.read_fd], [], [], seconds)[0])

    def _write(self, data: bytes) -> None:
        with self.out_lock:
            while data:
                try:
                    n = os.write(self.real_fd, data)
                except OSError:  # the terminal went away: nothing to tell it
                    return
                data = data[n:]

    # -- windows ---------------------------------------------------------------------------
    def _fd2_is_pipe(self) -> bool:
        try:
            a, b = os.fstat(2), os.fstat(self.write_fd)
        except OSError:
            return False
        return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)

    def begin(self) -> None:
        with self.lock:
            self.users += 1
            # The first window redirects fd 2; a later one does too when fd 2 was pointed
            # elsewhere meanwhile (a test harness capturing it while a graph kept its window).
            if self.users == 1 or not self._fd2_is_pipe():
                _flush_python_stderr()
                # fd 2 may have been pointed elsewhere since (a test harness capturing it):
                # forward to where it points now.
                current = os.dup(2)
                with self.out_lock:
                    old, self.real_fd = self.real_fd, current
                os.close(old)
                os.dup2(self.write_fd, 2)

    def end(self) -> None:
        with self.lock:
            if self.users == 0:
                return
            self.users -= 1
            _flush_python_stderr()
            if self.users == 0:
                os.dup2(self.real_fd, 2)
        # Also when other windows stay open: what this window's owner wrote is out when it
        # closes (a caller reading stderr right after its block must find it there).
        self._drain()

    def _drain(self, timeout_s: float = 5.0) -> None:
        """Wait until what was written to the pipe so far is on the real stderr."""
        with self.drained:
            target = self.drains_seen + 1
            os.write(self.write_fd, _DRAIN)
            self.drained.wait_for(lambda: self.drains_seen >= target, timeout_s)


_forwarder: _Forwarder | None = None
_start_lock = threading.Lock()


def _flush_python_stderr() -> None:
    try:
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def _enabled() -> bool:
    return os.environ.get("VOODOO_HOLO_NATIVE_LOGS", "") in ("", "0")


def _get_forwarder() -> _Forwarder | None:
    global _forwarder
    with _start_lock:
        if _forwarder is None:
            try:
                _forwarder = _Forwarder()
            except OSError:  # no fd 2 to redirect: nothing to filter
                return None
        return _forwarder


class QuietWindow:
    """Native notices are filtered from :meth:`open` until :meth:`close` (both idempotent).

    A graph opens one before it is created and closes it when its first complete inference
    has returned (or when the graph is closed). Windows of several graphs, in any threads,
    overlap freely: fd 2 is the pipe while any of them is open.
    """

    def __init__(self) -> None:
        self._open = False
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self._open

    def open(self) -> QuietWindow:
        with self._lock:
            if self._open or not _enabled():
                return self
            forwarder = _get_forwarder()
            if forwarder is None:
                return self
            forwarder.begin()
            self._open = True
        return self

    def close(self) -> None:
        with self._lock:
            if not self._open:
                return
            self._open = False
        if _forwarder is not None:
            _forwarder.end()


@contextmanager
def filter_native_stderr() -> Iterator[None]:
    """Drop native INFO/WARNING notices written to fd 2 inside the block; keep the rest.

    Does nothing when ``VOODOO_HOLO_NATIVE_LOGS`` is set or fd 2 cannot be redirected.
    """
    window = QuietWindow().open()
    try:
        yield
    finally:
        window.close()


@atexit.register
def _restore_at_exit() -> None:
    forwarder = _forwarder
    if forwarder is None:
        return
    with forwarder.lock:
        if forwarder.users == 0:
            return
        forwarder.users = 1
    forwarder.end()
