"""Message contracts between the processes of a live call: one versioned encode/decode pair.

A message is a ZeroMQ multipart message::

    frame 0   header: b"VHOLO" + UTF-8 JSON {"v", "kind", "seq", "t_capture_ns", "t_sent_ns",
                                            "arrays": [{"name", "dtype", "shape"}...], "meta"}
    frame 1.. one raw C-contiguous buffer per array, in header order

Never pickle: the header is JSON, arrays are raw bytes whose dtype comes from a whitelist and
whose size must match the declared shape. :func:`decode` raises :class:`WireError` (with a
``reason`` usable as a counter key) for anything malformed, oversized or of another schema
version; receivers count and drop such messages and carry on.

``t_capture_ns`` is ``time.monotonic_ns()`` of the webcam frame a message derives from, shared
by every process on one host; ``t_sent_ns`` is when this message left its sender (same clock).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "KINDS",
    "MAGIC",
    "SCHEMA_VERSION",
    "Message",
    "WireError",
    "WireLimits",
    "decode",
    "encode",
]

SCHEMA_VERSION = 1
MAGIC = b"VHOLO"

#: Message kinds and what they carry.
KINDS = {
    "driver_frame": "tracked driver frame: aligned crop, matte, landmarks, head-pose camera",
    "source": "the source state of the avatar (sent once per call, and on change)",
    "scene": "per-frame avatar state from the estimator (tri-planes or mesh geometry + camera)",
    "views": "a batch of rendered views from one renderer",
    "heartbeat": "liveness and per-stage statistics of a role",
    "control": "commands from the launcher (stop, reload source, ...)",
    "audio": "a compressed block of microphone audio (two-party calls)",
}

_DTYPES = {
    "uint8": np.uint8,
    "int8": np.int8,
    "uint16": np.uint16,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "float16": np.float16,
    "float32": np.float32,
    "float64": np.float64,
    "bool": np.bool_,
}


class WireError(ValueError):
    """A message that cannot be decoded. ``reason`` is a short counter key."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class WireLimits:
    """Bounds a receiver enforces before it trusts a message."""

    max_header_bytes: int = 64 * 1024
    max_payload_bytes: int = 512 * 1024 * 1024
    max_arrays: int = 64
    max_ndim: int = 6

    def __post_init__(self) -> None:
        if min(self.max_header_bytes, self.max_payload_bytes, self.max_arrays, self.max_ndim) <= 0:
            raise ValueError("WireLimits must all be positive")


DEFAULT_LIMITS = WireLimits()


@dataclass
class Message:
    """A decoded (or to-be-encoded) message.

    Attributes:
        kind: one of :data:`KINDS`.
        seq: frame sequence number of the capture this derives from (monotonic per call).
        t_capture_ns: capture time on the ``time.monotonic_ns()`` clock.
        arrays: named arrays (any shape, whitelisted dtypes).
        meta: small JSON-serialisable values (role name, view ids, timings...).
        t_sent_ns: set by :func:`encode` when not given.
    """

    kind: str
    seq: int = 0
    t_capture_ns: int = 0
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    t_sent_ns: int = 0


def encode(msg: Message, *, now_ns: int | None = None) -> list[Any]:
    """Turn a message into multipart frames (header bytes, then one buffer per array).

    Arrays are passed as zero-copy buffers where they are already C-contiguous; the caller
    must not modify them until ZeroMQ has sent them (or send with ``copy=True``).
    """
    if msg.kind not in KINDS:
        raise ValueError(f"unknown message kind {msg.kind!r}; known: {sorted(KINDS)}")
    descs = []
    frames: list[Any] = []
    for name, arr in msg.arrays.items():
        a = np.ascontiguousarray(arr)
        dtype_name = a.dtype.name
        if dtype_name not in _DTYPES:
            raise ValueError(
                f"array {name!r}: dtype {dtype_name} cannot be sent (allowed: {sorted(_DTYPES)})"
            )
        descs.append({"name": name, "dtype": dtype_name, "shape": list(a.shape)})
        frames.append(memoryview(a.reshape(-1).view(np.uint8)) if a.size else b"")
    header = {
        "v": SCHEMA_VERSION,
        "kind": msg.kind,
        "seq": int(msg.seq),
        "t_capture_ns": int(msg.t_capture_ns),
        "t_sent_ns": int(msg.t_sent_ns or (now_ns if now_ns is not None else time.monotonic_ns())),
        "arrays": descs,
        "meta": msg.meta,
    }
    try:
        head = MAGIC + json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as e:
        raise ValueError(f"message meta is not JSON-serialisable: {e}") from e
    return [head, *frames]


def _buffer(frame: Any) -> memoryview:
    """Bytes-like view of a frame (bytes, memoryview, or a zmq.Frame)."""
    buf = getattr(frame, "buffer", frame)
    return memoryview(buf)


def decode(frames: Sequence[Any], *, limits: WireLimits = DEFAULT_LIMITS, copy: bool = False) -> Message:
    """Parse multipart frames into a :class:`Message`, validating everything.

    With ``copy=False`` arrays are read-only views on the received buffers (keep the frames
    alive while using them); ``copy=True`` returns owned, writeable arrays.
    """
    if not frames:
        raise WireError("empty", "no frames")
    head = _buffer(frames[0])
    if len(head) > limits.max_header_bytes:
        raise WireError("oversized", f"header of {len(head)} bytes > {limits.max_header_bytes}")
    head_b = bytes(head)
    if not head_b.startswith(MAGIC):
        raise WireError("bad_magic", "not a voodoo-holo message")
    try:
        header = json.loads(head_b[len(MAGIC) :].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WireError("bad_header", f"header is not JSON: {e}") from e
    if not isinstance(header, dict):
        raise WireError("bad_header", "header is not a JSON object")
    version = header.get("v")
    if version != SCHEMA_VERSION:
        raise WireError("version", f"schema version {version!r}, this build speaks {SCHEMA_VERSION}")
    kind = header.get("kind")
    if kind not in KINDS:
        raise WireError("bad_kind", f"unknown kind {kind!r}")
    try:
        seq = int(header["seq"])
        t_cap = int(header["t_capture_ns"])
        t_sent = int(header.get("t_sent_ns", 0))
        descs = header["arrays"]
        meta = header.get("meta", {})
    except (KeyError, TypeError, ValueError) as e:
        raise WireError("bad_header", f"missing or invalid field: {e}") from e
    if not isinstance(descs, list) or not isinstance(meta, dict):
        raise WireError("bad_header", "'arrays' must be a list and 'meta' an object")
    if len(descs) > limits.max_arrays:
        raise WireError("oversized", f"{len(descs)} arrays > {limits.max_arrays}")
    if len(descs) != len(frames) - 1:
        raise WireError("frame_count", f"header declares {len(descs)} arrays, got {len(frames) - 1} frames")
    arrays: dict[str, np.ndarray] = {}
    total = 0
    for desc, frame in zip(descs, frames[1:], strict=True):
        try:
            name, dtype_name, shape = str(desc["name"]), desc["dtype"], tuple(int(s) for s in desc["shape"])
        except (KeyError, TypeError, ValueError) as e:
            raise WireError("bad_header", f"bad array descriptor {desc!r}") from e
        if dtype_name not in _DTYPES:
            raise WireError("bad_dtype", f"array {name!r} has dtype {dtype_name!r}")
        if len(shape) > limits.max_ndim or any(s < 0 for s in shape):
            raise WireError("bad_shape", f"array {name!r} has shape {shape}")
        dtype = np.dtype(_DTYPES[dtype_name])
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        total += nbytes
        if total > limits.max_payload_bytes:
            raise WireError("oversized", f"payload exceeds {limits.max_payload_bytes} bytes")
        buf = _buffer(frame)
        if len(buf) != nbytes:
            raise WireError(
                "size_mismatch", f"array {name!r}: {len(buf)} bytes for shape {shape} {dtype_name}"
            )
        a = np.frombuffer(buf, dtype=dtype).reshape(shape) if nbytes else np.zeros(shape, dtype)
        arrays[name] = a.copy() if copy else a
    return Message(kind, seq, t_cap, arrays, meta, t_sent)


def require(msg: Message, kind: str, names: Sequence[str]) -> Mapping[str, np.ndarray]:
    """Check a decoded message has ``kind`` and every array in ``names``; return its arrays."""
    if msg.kind != kind:
        raise WireError("wrong_kind", f"expected {kind!r}, got {msg.kind!r}")
    missing = [n for n in names if n not in msg.arrays]
    if missing:
        raise WireError("missing_array", f"{kind} message lacks {missing}")
    return msg.arrays
