"""Shared-memory transport for large per-frame tensors between processes on one host.

The estimator produces one tri-plane per driver frame (``3 x 32 x 256 x 256``: 12.6 MB in
float16, 25 MB in float32) and every renderer on the host needs it. Sending it over ZeroMQ
copies it once per renderer through the kernel; here the writer copies it once into a ring
of shared-memory slots and sends only a small JSON *handle* over ZeroMQ. Each reader copies
the slot out of shared memory into its own memory.

API::

    ring = SharedTensorRing(slots=4, slot_bytes=32 << 20)   # writer: creates and owns
    handle = ring.write({"planes": planes_f16})            # -> JSON-able dict
    sock.send_multipart(encode(handle_message(seq, t_capture_ns, handle)))
    ...
    reader = SharedTensorReader()                          # any process on the host
    arrays = reader.read(handle_from_message(msg))         # dict of arrays, or None (stale)
    reader.close(); ring.close()                           # ring.close() also unlinks

Consistency: each slot has a generation counter (a seqlock). The writer makes it odd while
it copies and even again when done; the handle carries the even value. A reader checks the
counter before and after its copy and returns ``None`` when the slot was rewritten (the
reader was more than ``slots - 1`` frames late): it never returns a torn tensor. The
counter is an aligned 8-byte word, written and read with single stores/loads; this relies
on the total store order of x86-64 (on weaker memory models a torn read is still detected
in practice, but not guaranteed).

Lifetime and crashes:

* The writer creates the segment (name ``vholo_<pid>_<random>``) and unlinks it in
  :meth:`SharedTensorRing.close` (also on garbage collection and at interpreter exit).
* Readers only map the segment read-only (they never unlink); their ``close()`` only
  unmaps. They bypass Python's resource tracker, so a reader exiting cannot remove a
  segment the writer still uses. POSIX only (Linux, macOS).
* If the writer is killed, Python's resource tracker (a helper process of the writer's
  process tree) unlinks the segment when it notices, printing a "leaked shared_memory"
  warning. If the whole tree is killed (SIGKILL to the process group), the segment stays in
  ``/dev/shm``: :func:`sweep_orphans` removes every ``vholo_<pid>_*`` segment whose writer
  process no longer exists (the launcher calls it at start-up).
* A reader that still maps a segment after the writer unlinked it keeps valid memory until
  it closes; new handles name the new segment and the reader re-attaches by itself.
"""

from __future__ import annotations

import _posixshmem  # the POSIX shm_open behind multiprocessing.shared_memory
import contextlib
import math
import mmap
import os
import secrets
import weakref
from collections.abc import Mapping
from multiprocessing import shared_memory
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.wire import Message

__all__ = [
    "HANDLE_VERSION",
    "SEGMENT_PREFIX",
    "SharedTensorReader",
    "SharedTensorRing",
    "ShmError",
    "handle_from_message",
    "handle_message",
    "sweep_orphans",
]

HANDLE_VERSION = 1
#: Name prefix of every segment this module creates (followed by ``<pid>_<random>``).
SEGMENT_PREFIX = "vholo_"
_PAGE = 4096
_CTRL_WORD = 64  # one cache line per slot counter (no false sharing between slots)
_MAX_SLOTS = _PAGE // _CTRL_WORD
_ALIGN = 64
_DTYPES = ("uint8", "int8", "uint16", "int16", "int32", "int64", "float16", "float32", "float64", "bool")


class ShmError(ValueError):
    """A malformed handle, or arrays that do not fit a slot."""


def _round_up(n: int, k: int) -> int:
    return (n + k - 1) // k * k


class SharedTensorRing:
    """The writer side: a shared-memory segment of ``slots`` slots of ``slot_bytes`` each.

    Args:
        slots: slots in the ring (2..64). With R readers that each copy within F frame
            periods, ``slots >= F + 1`` keeps every read fresh; 4 is plenty at 30 FPS.
        slot_bytes: capacity of one slot (all arrays of one :meth:`write`, 64-byte aligned).
    """

    def __init__(self, slots: int = 4, slot_bytes: int = 32 << 20) -> None:
        if not 2 <= slots <= _MAX_SLOTS:
            raise ValueError(f"SharedTensorRing slots must be in 2..{_MAX_SLOTS}, got {slots}")
        if slot_bytes < 1:
            raise ValueError(f"SharedTensorRing slot_bytes must be >= 1, got {slot_bytes}")
        self.slots = slots
        self.slot_bytes = _round_up(slot_bytes, _PAGE)
        size = _PAGE + slots * self.slot_bytes
        name = f"{SEGMENT_PREFIX}{os.getpid()}_{secrets.token_hex(6)}"
        self._shm: shared_memory.SharedMemory | None = shared_memory.SharedMemory(
            name=name, create=True, size=size
        )
        self.name = self._shm.name
        self._next = 0
        self._finalizer = weakref.finalize(self, _release, self._shm, True)

    @property
    def closed(self) -> bool:
        return self._shm is None

    def write(self, arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """Copy ``arrays`` into the next slot; returns the handle (a JSON-serialisable dict)."""
        if self._shm is None:
            raise RuntimeError("SharedTensorRing is closed")
        descs, offset = [], 0
        prepared = []
        for name, arr in arrays.items():
            a = np.asarray(arr)
            if a.dtype.name not in _DTYPES:
                raise ShmError(f"array {name!r}: dtype {a.dtype.name} cannot be shared (allowed: {_DTYPES})")
            offset = _round_up(offset, _ALIGN)
            descs.append({"name": str(name), "dtype": a.dtype.name, "shape": list(a.shape), "offset": offset})
            prepared.append((a, offset))
            offset += a.nbytes
        if offset > self.slot_bytes:
            raise ShmError(f"{offset} bytes do not fit a slot of {self.slot_bytes} bytes")
        slot = self._next
        self._next = (slot + 1) % self.slots
        buf = self._shm.buf
        # views on the segment are short-lived: an exported buffer would block close()
        ctrl: np.ndarray = np.ndarray((self.slots,), dtype=np.uint64, buffer=buf, strides=(_CTRL_WORD,))
        gen = int(ctrl[slot])
        ctrl[slot] = gen + 1  # odd: being written
        base = _PAGE + slot * self.slot_bytes
        for a, off in prepared:
            if a.nbytes:
                dst: np.ndarray = np.ndarray(a.shape, dtype=a.dtype, buffer=buf, offset=base + off)
                np.copyto(dst, a, casting="no")
                del dst
        ctrl[slot] = gen + 2  # even: complete
        del ctrl
        return {
            "v": HANDLE_VERSION,
            "name": self.name,
            "slots": self.slots,
            "slot_bytes": self.slot_bytes,
            "slot": slot,
            "gen": gen + 2,
            "arrays": descs,
        }

    def close(self) -> None:
        """Unmap and unlink the segment (idempotent). Readers holding handles get ``None`` or
        re-attach to the next ring named in a handle."""
        if self._shm is None:
            return
        self._finalizer()
        self._shm = None

    def __enter__(self) -> SharedTensorRing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _release(shm: shared_memory.SharedMemory, unlink: bool) -> None:
    shm.close()
    if unlink:
        with contextlib.suppress(FileNotFoundError):  # already removed by a sweep: nothing to do
            shm.unlink()


class SharedTensorReader:
    """The reader side: attaches by name to the segment a handle names (re-attaches when a
    handle names another segment, e.g. after the writer restarted)."""

    def __init__(self) -> None:
        self._map: mmap.mmap | None = None
        self._name: str | None = None
        self.stale = 0  #: reads that returned None because the slot was rewritten

    def _attach(self, name: str, size: int) -> None:
        # Mapped read-only straight from shm_open, not through SharedMemory: in Python < 3.13
        # an attachment registers with the resource tracker, which would unlink the writer's
        # segment when this reader exits (or fail when reader and writer share a tracker).
        self.close()
        try:
            fd = _posixshmem.shm_open("/" + name, os.O_RDONLY, mode=0o600)
        except FileNotFoundError as e:
            raise ShmError(f"shared-memory segment {name!r} does not exist (writer gone?)") from e
        try:
            have = os.fstat(fd).st_size
            if have < size:
                raise ShmError(f"segment {name!r} has {have} bytes, the handle needs {size}")
            self._map = mmap.mmap(fd, size, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        self._name = name

    def read(self, handle: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
        """Copy the arrays a handle names out of shared memory.

        Returns:
            owned, writeable arrays; ``None`` when the slot was rewritten before or during
            the copy (the frame is stale: drop it, a newer handle is on its way).

        Raises:
            ShmError: malformed handle or a segment that does not exist.
        """
        name, slots, slot_bytes, slot, gen, descs = _check_handle(handle)
        if self._map is None or self._name != name:
            self._attach(name, _PAGE + slots * slot_bytes)
        assert self._map is not None
        buf = self._map
        ctrl: np.ndarray = np.ndarray((slots,), dtype=np.uint64, buffer=buf, strides=(_CTRL_WORD,))
        if int(ctrl[slot]) != gen:
            self.stale += 1
            return None
        base = _PAGE + slot * slot_bytes
        out = {}
        for d_name, dtype, shape, off in descs:
            src: np.ndarray = np.ndarray(shape, dtype=dtype, buffer=buf, offset=base + off)
            out[d_name] = src.copy()
            del src
        ok = int(ctrl[slot]) == gen
        del ctrl
        if not ok:
            self.stale += 1
            return None
        return out

    def close(self) -> None:
        """Unmap the current segment (never unlinks it)."""
        if self._map is not None:
            self._map.close()
        self._map, self._name = None, None

    def __enter__(self) -> SharedTensorReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_handle(h: Mapping[str, Any]) -> tuple[str, int, int, int, int, list]:
    if not isinstance(h, Mapping):
        raise ShmError(f"shm handle must be a JSON object, got {type(h).__name__}")
    if h.get("v") != HANDLE_VERSION:
        raise ShmError(f"shm handle version {h.get('v')!r}, this build reads {HANDLE_VERSION}")
    try:
        name = str(h["name"])
        slots, slot_bytes, slot, gen = (int(h[k]) for k in ("slots", "slot_bytes", "slot", "gen"))
        raw = list(h["arrays"])
    except (KeyError, TypeError, ValueError) as e:
        raise ShmError(f"shm handle lacks or mistypes a field: {e}") from e
    if not name.startswith(SEGMENT_PREFIX) or "/" in name:
        raise ShmError(f"shm handle names a foreign segment {name!r}")
    if not (2 <= slots <= _MAX_SLOTS and 0 <= slot < slots and slot_bytes > 0 and gen % 2 == 0):
        raise ShmError(f"shm handle has inconsistent slot fields: {dict(h)}")
    descs = []
    for d in raw:
        try:
            d_name, dtype = str(d["name"]), str(d["dtype"])
            shape = tuple(int(s) for s in d["shape"])
            off = int(d["offset"])
        except (KeyError, TypeError, ValueError) as e:
            raise ShmError(f"bad array descriptor in shm handle: {d!r}") from e
        if dtype not in _DTYPES or any(s < 0 for s in shape) or off < 0:
            raise ShmError(f"bad array descriptor in shm handle: {d!r}")
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        if off + nbytes > slot_bytes:
            raise ShmError(f"array {d_name!r} of the shm handle reaches past its slot")
        descs.append((d_name, np.dtype(dtype), shape, off))
    return name, slots, slot_bytes, slot, gen, descs


def handle_message(
    seq: int,
    t_capture_ns: int,
    handle: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray] | None = None,
    kind: str = "scene",
    **meta: Any,
) -> Message:
    """A wire message carrying a shm handle in ``meta["shm"]`` (plus optional small arrays
    sent inline, e.g. the camera)."""
    return Message(kind, seq, t_capture_ns, dict(arrays or {}), {**meta, "shm": dict(handle)})


def handle_from_message(msg: Message) -> dict[str, Any] | None:
    """The shm handle of a message, or ``None`` when its arrays travel inline (remote hosts)."""
    h = msg.meta.get("shm")
    if h is None:
        return None
    if not isinstance(h, dict):
        raise ShmError("message meta 'shm' is not a JSON object")
    return h


def sweep_orphans(shm_dir: str | os.PathLike[str] = "/dev/shm") -> list[str]:
    """Unlink segments of this module whose writer process is gone; returns their names.

    Linux only (POSIX shared memory appears under ``/dev/shm``); elsewhere returns ``[]``.
    """
    root = Path(shm_dir)
    if not root.is_dir():
        return []
    removed = []
    for p in sorted(root.glob(f"{SEGMENT_PREFIX}*")):
        parts = p.name[len(SEGMENT_PREFIX) :].split("_")
        if len(parts) != 2 or not parts[0].isdigit():
            continue
        pid = int(parts[0])
        if pid == os.getpid() or _alive(pid):
            continue
        with contextlib.suppress(FileNotFoundError):  # removed concurrently by another sweep
            p.unlink()
            removed.append(p.name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
