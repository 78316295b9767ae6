"""Message contracts between the processes of a live call: one versioned encode/decode pair.

A message is a ZeroMQ multipart message::

    frame 0   header: b"VHOLO" + UTF-8 JSON {"v", "kind", "seq", "t_capture_ns", "t_sent_ns",
                                            "arrays": [{"name", "dtype", "shape"}...], "meta"}
    frame 1.. one raw C-contiguous buffer per array, in header order

Never pickle: the header is JSON, arrays are raw bytes whose dtype comes from a whitelist and
whose size must match the declared shape. :func:`decode` raises :class:`WireError` (with a
``reason`` usable as a counter key) for anything malformed, oversized or of another schema
version, and nothing else, whatever the bytes; receivers count and drop such messages and
carry on. Everything is bounded before it is parsed or allocated (:class:`WireLimits`): the
header's size and JSON nesting depth, every JSON number (integers fit in int64, floats are
finite), the number of arrays, their rank, each dimension and the total payload.
:mod:`pipeline.messages` builds and parses the payload of each message kind on top of this.

``seq``, ``t_capture_ns`` and ``t_sent_ns`` are integers in ``[0, 2**63)``.
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
    "INT64_MAX",
    "KINDS",
    "MAGIC",
    "SCHEMA_VERSION",
    "Message",
    "WireError",
    "WireLimits",
    "decode",
    "encode",
    "json_depth",
    "require",
    "short_value",
]

SCHEMA_VERSION = 1
MAGIC = b"VHOLO"
#: Largest ``seq`` / timestamp (and JSON integer) a message may carry.
INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)
_INT_DIGITS = 19  # len(str(INT64_MAX))

#: Message kinds and what they carry.
KINDS = {
    "driver_frame": "tracked driver frame: aligned crop, matte, landmarks, head-pose camera",
    "source": "the source state of the avatar (sent once per call, and on change)",
    "scene": "per-frame avatar state from the estimator (tri-planes or mesh geometry + camera)",
    "views": "a batch of rendered views from one renderer",
    "heartbeat": "liveness and per-stage statistics of a role",
    "control": "renderer credits (ready) and the call link's ping/pong/ack/bye/who/hello",
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
    """Bounds a receiver enforces before it trusts a message.

    Attributes:
        max_header_bytes: size of the header frame (magic + JSON).
        max_payload_bytes: sum of the declared sizes of all arrays.
        max_arrays: arrays per message.
        max_ndim: rank of one array.
        max_dim: one dimension of one array (also bounds empty arrays, whose size is 0).
        max_json_depth: nesting of JSON arrays and objects in the header.
        max_name_chars: length of an array name.
    """

    max_header_bytes: int = 64 * 1024
    max_payload_bytes: int = 512 * 1024 * 1024
    max_arrays: int = 64
    max_ndim: int = 6
    max_dim: int = 1 << 24
    max_json_depth: int = 32
    max_name_chars: int = 256

    def __post_init__(self) -> None:
        values = (
            self.max_header_bytes,
            self.max_payload_bytes,
            self.max_arrays,
            self.max_ndim,
            self.max_dim,
            self.max_json_depth,
            self.max_name_chars,
        )
        if min(values) <= 0:
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


def _check_stamp(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= INT64_MAX:
        raise ValueError(f"message {name} must be an integer in [0, 2**63), got {value!r}")
    return int(value)


def encode(msg: Message, *, now_ns: int | None = None) -> list[Any]:
    """Turn a message into multipart frames (header bytes, then one buffer per array).

    Arrays are passed as zero-copy buffers where they are already C-contiguous; the caller
    must not modify them until ZeroMQ has sent them (or send with ``copy=True``).

    Raises:
        ValueError: a message this module would refuse to decode (unknown kind, a dtype that
            cannot be sent, ``seq``/timestamps outside ``[0, 2**63)``, meta that is not a
            JSON object). These are programming errors of the sender.
    """
    if msg.kind not in KINDS:
        raise ValueError(f"unknown message kind {msg.kind!r}; known: {sorted(KINDS)}")
    if not isinstance(msg.meta, dict):
        raise ValueError(f"message meta must be a dict, got {type(msg.meta).__name__}")
    descs = []
    frames: list[Any] = []
    for name, arr in msg.arrays.items():
        a = np.ascontiguousarray(arr)
        dtype_name = a.dtype.name
        if dtype_name not in _DTYPES:
            raise ValueError(
                f"array {name!r}: dtype {dtype_name} cannot be sent (allowed: {sorted(_DTYPES)})"
            )
        descs.append({"name": str(name), "dtype": dtype_name, "shape": list(a.shape)})
        frames.append(memoryview(a.reshape(-1).view(np.uint8).data) if a.size else b"")
    sent = msg.t_sent_ns or (now_ns if now_ns is not None else time.monotonic_ns())
    header = {
        "v": SCHEMA_VERSION,
        "kind": msg.kind,
        "seq": _check_stamp("seq", msg.seq),
        "t_capture_ns": _check_stamp("t_capture_ns", msg.t_capture_ns),
        "t_sent_ns": _check_stamp("t_sent_ns", sent),
        "arrays": descs,
        "meta": msg.meta,
    }
    try:
        head = MAGIC + json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError, RecursionError) as e:
        raise ValueError(f"message meta is not JSON-serialisable: {e}") from e
    return [head, *frames]


def _buffer(frame: Any) -> memoryview:
    """Bytes-like view of a frame (bytes, memoryview, or a zmq.Frame)."""
    try:
        return memoryview(getattr(frame, "buffer", frame))
    except TypeError as e:
        raise WireError("bad_frame", f"a frame of type {type(frame).__name__} is not a buffer") from e


_OPEN = np.zeros(256, np.int8)
_OPEN[[ord("["), ord("{")]] = 1
_OPEN[[ord("]"), ord("}")]] = -1


def json_depth(text: bytes) -> int:
    """The deepest nesting of arrays/objects in JSON ``text``, without parsing it.

    Brackets inside strings (quotes escaped by an odd run of backslashes do not end a string)
    are not counted. Exact for valid JSON; for invalid JSON exact up to the first syntax
    error, which is as far as a parser gets. Linear time, no recursion.

    >>> json_depth(b'{"a": [1, "]]]", {"b": []}]}')
    4
    """
    a = np.frombuffer(text, dtype=np.uint8)
    if a.size == 0:
        return 0
    idx = np.arange(a.size)
    # Index of the last byte that is not a backslash, at or before each position.
    last_other = np.maximum.accumulate(np.where(a == ord("\\"), -1, idx))
    prev_other = np.concatenate(([-1], last_other[:-1]))
    backslashes_before = idx - 1 - prev_other
    quote = (a == ord('"')) & (backslashes_before % 2 == 0)
    outside = np.cumsum(quote) % 2 == 0
    step = np.where(outside, _OPEN[a], 0)
    return int(np.cumsum(step, dtype=np.int64).max(initial=0))


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > _INT_DIGITS:
        raise WireError("bad_number", f"an integer of {len(text)} characters (the limit is int64)")
    value = int(text)
    if not _INT64_MIN <= value <= INT64_MAX:
        raise WireError("bad_number", f"the integer {text} does not fit in int64")
    return value


def _json_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise WireError("bad_number", f"the number {text[:40]} is not finite")
    return value


def _json_constant(text: str) -> float:
    raise WireError("bad_number", f"{text} is not a JSON number")


def _loads_header(body: bytes, limits: WireLimits) -> Any:
    # Nesting depth first: deep nesting would exhaust the parser's recursion.
    if body.count(b"[") + body.count(b"{") > limits.max_json_depth:
        depth = json_depth(body)
        if depth > limits.max_json_depth:
            raise WireError("too_deep", f"header nests {depth} levels (the limit is {limits.max_json_depth})")
    try:
        text = body.decode("utf-8")
        return json.loads(text, parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WireError("bad_header", f"header is not JSON: {e}") from e
    except RecursionError as e:  # only with a max_json_depth above the interpreter's recursion limit
        raise WireError("too_deep", "header nests too deeply") from e


def _stamp(header: Mapping[str, Any], key: str, required: bool = True) -> int:
    if key not in header:
        if required:
            raise WireError("bad_header", f"missing field {key!r}")
        return 0
    value = header[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT64_MAX:
        raise WireError("bad_header", f"{key!r} must be an integer in [0, 2**63), got {short_value(value)}")
    return value


def short_value(value: Any, limit: int = 60) -> str:
    """A bounded description of a JSON value for error messages."""
    if isinstance(value, (list, dict)):
        return f"a JSON {'list' if isinstance(value, list) else 'object'} of {len(value)} items"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _descriptor(desc: Any, limits: WireLimits) -> tuple[str, np.dtype, tuple[int, ...]]:
    if not isinstance(desc, dict):
        raise WireError("bad_header", f"an array descriptor is {short_value(desc)}, not an object")
    name, dtype_name, shape = desc.get("name"), desc.get("dtype"), desc.get("shape")
    if not isinstance(name, str) or not 0 < len(name) <= limits.max_name_chars:
        raise WireError("bad_header", f"array name must be text of 1..{limits.max_name_chars} characters")
    if not isinstance(dtype_name, str) or dtype_name not in _DTYPES:
        raise WireError("bad_dtype", f"array {name!r} has dtype {short_value(dtype_name)}")
    if not isinstance(shape, list) or len(shape) > limits.max_ndim:
        raise WireError(
            "bad_shape", f"array {name!r}: shape must be a list of at most {limits.max_ndim} sizes"
        )
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= limits.max_dim:
            raise WireError(
                "bad_shape", f"array {name!r}: dimension {short_value(s)} is not in 0..{limits.max_dim}"
            )
    return name, np.dtype(_DTYPES[dtype_name]), tuple(shape)


def decode(frames: Sequence[Any], *, limits: WireLimits = DEFAULT_LIMITS, copy: bool = False) -> Message:
    """Parse multipart frames into a :class:`Message`, validating everything.

    With ``copy=False`` arrays are read-only views on the received buffers (keep the frames
    alive while using them); ``copy=True`` returns owned, writeable arrays.

    Raises:
        WireError: for any malformed input, and nothing else.
    """
    if not frames:
        raise WireError("empty", "no frames")
    head = _buffer(frames[0])
    if head.nbytes > limits.max_header_bytes:
        raise WireError("oversized", f"header of {head.nbytes} bytes > {limits.max_header_bytes}")
    head_b = head.tobytes()
    if not head_b.startswith(MAGIC):
        raise WireError("bad_magic", "not a voodoo-holo message")
    header = _loads_header(head_b[len(MAGIC) :], limits)
    if not isinstance(header, dict):
        raise WireError("bad_header", "header is not a JSON object")
    version = header.get("v")
    if isinstance(version, bool) or version != SCHEMA_VERSION:
        raise WireError(
            "version", f"schema version {short_value(version)}, this build speaks {SCHEMA_VERSION}"
        )
    kind = header.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise WireError("bad_kind", f"unknown kind {short_value(kind)}")
    seq = _stamp(header, "seq")
    t_cap = _stamp(header, "t_capture_ns")
    t_sent = _stamp(header, "t_sent_ns", required=False)
    if "arrays" not in header:
        raise WireError("bad_header", "missing field 'arrays'")
    descs, meta = header["arrays"], header.get("meta", {})
    if not isinstance(descs, list) or not isinstance(meta, dict):
        raise WireError("bad_header", "'arrays' must be a list and 'meta' an object")
    if len(descs) > limits.max_arrays:
        raise WireError("oversized", f"{len(descs)} arrays > {limits.max_arrays}")
    if len(descs) != len(frames) - 1:
        raise WireError("frame_count", f"header declares {len(descs)} arrays, got {len(frames) - 1} frames")
    parsed = [_descriptor(d, limits) for d in descs]
    if len({name for name, _, _ in parsed}) != len(parsed):
        raise WireError("bad_header", "two arrays have the same name")
    total = 0
    for _, dtype, shape in parsed:
        count = 1
        for s in shape:
            count *= s
        total += count * dtype.itemsize
        if total > limits.max_payload_bytes:
            raise WireError("oversized", f"payload exceeds {limits.max_payload_bytes} bytes")
    arrays: dict[str, np.ndarray] = {}
    for (name, dtype, shape), frame in zip(parsed, frames[1:], strict=True):
        buf = _buffer(frame)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if buf.nbytes != nbytes:
            raise WireError(
                "size_mismatch", f"array {name!r}: {buf.nbytes} bytes for shape {shape} {dtype.name}"
            )
        if nbytes:
            try:
                a = np.frombuffer(buf, dtype=dtype).reshape(shape)
            except (ValueError, TypeError) as e:  # a buffer that is not one contiguous block
                raise WireError("bad_frame", f"array {name!r}: {e}") from e
        else:
            a = np.zeros(shape, dtype)
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
