"""Typed payloads <-> wire messages (see :mod:`pipeline.wire` for the frame format).

One builder and one parser per message kind; process shells never build or read message
dicts by hand.

==============  ===============================  ==========================================
kind            build                            parse
==============  ===============================  ==========================================
driver_frame    :func:`driver_frame_to_message`  :func:`driver_frame_from_message`
source, scene   :func:`state_message`            :func:`state_from_message`, then the
                                                 backend's ``from_arrays`` (``MeshSource``,
                                                 ``MeshScene``, ``NeuralScene``)
views           :func:`views_to_message`         :func:`views_from_message`
heartbeat       :func:`heartbeat_message`        :func:`heartbeat_from_message`
control         :func:`ready_message`            :func:`ready_from_message` (renderer
                                                 credits: "this renderer is ready")
control         :func:`link_control_to_message`  :func:`link_control_from_message` (the call
                                                 link: hello/ping/pong/ack/bye/who)
audio           :func:`audio_to_message`         :func:`audio_from_message`
==============  ===============================  ==========================================

**Errors.** Every parser here (and every ``from_arrays`` of an avatar state, and
:func:`camera_from_arrays`) raises :class:`pipeline.wire.WireError` and nothing else, whatever
the message holds: wrong kind, missing or misshapen arrays, NaN where numbers must be finite,
values out of range, meta of the wrong JSON type. ``WireError.reason`` is a short counter key.
Consumers count the message (``malformed.<reason>`` or a name of their own) and drop it; one
bad message never ends a role or a call. Builders raise ``ValueError`` for payloads that
their own parser would refuse (a programming error of the sender).

The two ``control`` sub-protocols share the kind and are told apart by their meta: renderer
credits carry ``{"ready": <renderer name>}``, call-link messages ``{"type": <what>, ...}``.
Each travels on its own link, so a consumer calls the one parser of its link.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.avatar import FaceObservation, RenderedViews
from pipeline.cameras import Camera
from pipeline.wire import INT64_MAX, Message, WireError, require, short_value

__all__ = [
    "MAX_AUDIO_SAMPLES",
    "MAX_CROP_SIDE",
    "MAX_IMAGE_SIDE",
    "MAX_VIEWS",
    "Ack",
    "AudioBlock",
    "Bye",
    "Heartbeat",
    "Hello",
    "LinkControl",
    "Ping",
    "Pong",
    "StateMessage",
    "Who",
    "array_field",
    "audio_from_message",
    "audio_to_message",
    "camera_from_arrays",
    "camera_to_arrays",
    "driver_frame_from_message",
    "driver_frame_to_message",
    "heartbeat_from_message",
    "heartbeat_message",
    "link_control_from_message",
    "link_control_to_message",
    "ready_from_message",
    "ready_message",
    "scalar_field",
    "state_from_message",
    "state_message",
    "views_from_message",
    "views_to_message",
]

#: Largest side of any image carried by a message (crops, views, camera sizes).
MAX_IMAGE_SIDE = 16384
#: Largest side of a driver or source crop (the tracker's crops are 512).
MAX_CROP_SIDE = 4096
#: Most views one views message may carry, and the bound on a view id.
MAX_VIEWS = 4096
#: Longest audio block (one second at 48 kHz).
MAX_AUDIO_SAMPLES = 48000
#: Longest role, renderer or peer name kept.
MAX_NAME_CHARS = 64
#: Bound on coordinates, matrix entries and other geometry (world units, pixels).
MAX_ABS_COORD = 1e6

_KINDS_TEXT = {"b": "bool", "u": "unsigned integer", "i": "integer", "f": "float"}


# -- array checks shared by every parser -----------------------------------------------------
def array_field(
    arrays: Mapping[str, np.ndarray],
    name: str,
    shape: Sequence[int | None],
    kinds: str,
    *,
    what: str,
    finite: bool = False,
    max_abs: float | None = None,
    max_dim: int = MAX_IMAGE_SIDE,
    min_dim: int = 1,
) -> np.ndarray:
    """``arrays[name]`` checked before anything is computed from it.

    Args:
        shape: the expected shape; ``None`` is any size from ``min_dim`` (default 1) to ``max_dim``.
        kinds: allowed numpy dtype kinds (``"b"`` bool, ``"u"``/``"i"`` integers, ``"f"`` float).
        what: names the payload in the error.
        finite: float values must be finite.
        max_abs: when given, values must be finite and within ``[-max_abs, max_abs]``.

    Raises:
        WireError: ``missing_array`` or ``bad_array`` naming the array and what was found.
    """
    if name not in arrays:
        raise WireError("missing_array", f"{what}: array {name!r} is missing")
    a = arrays[name]
    if not isinstance(a, np.ndarray):
        raise WireError("bad_array", f"{what}: {name!r} is a {type(a).__name__}, not an array")
    want = " x ".join("N" if s is None else str(s) for s in shape) or "scalar"
    kinds_text = "/".join(_KINDS_TEXT[k] for k in kinds)
    ok_shape = a.ndim == len(shape) and all(
        (min_dim <= n <= max_dim) if s is None else n == s for n, s in zip(a.shape, shape, strict=True)
    )
    if not ok_shape or a.dtype.kind not in kinds:
        raise WireError(
            "bad_array", f"{what}: {name!r} must be {want} {kinds_text}, got {a.shape} {a.dtype.name}"
        )
    if a.size and a.dtype.kind == "f" and (finite or max_abs is not None) and not np.all(np.isfinite(a)):
        raise WireError("bad_array", f"{what}: {name!r} contains NaN or infinity")
    if a.size and max_abs is not None and a.dtype.kind != "b":
        if max(float(a.max()), -float(a.min())) > max_abs:
            raise WireError("bad_array", f"{what}: {name!r} has values beyond +-{max_abs:g}")
    return a


def scalar_field(
    arrays: Mapping[str, np.ndarray],
    name: str,
    kinds: str,
    *,
    what: str,
    lo: float | None = None,
    hi: float | None = None,
) -> int | float | bool:
    """A one-element array (shape ``(1,)`` or ``()``) as a Python scalar within ``[lo, hi]``.

    Raises:
        WireError: ``missing_array`` / ``bad_array``.
    """
    if name not in arrays:
        raise WireError("missing_array", f"{what}: array {name!r} is missing")
    a = arrays[name]
    if not isinstance(a, np.ndarray) or a.size != 1 or a.ndim > 1 or a.dtype.kind not in kinds:
        got = f"{a.shape} {a.dtype.name}" if isinstance(a, np.ndarray) else type(a).__name__
        raise WireError(
            "bad_array", f"{what}: {name!r} must be one {'/'.join(_KINDS_TEXT[k] for k in kinds)}, got {got}"
        )
    value = a.reshape(-1)[0].item()
    if isinstance(value, float) and not math.isfinite(value):
        raise WireError("bad_array", f"{what}: {name!r} is {value}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise WireError("bad_array", f"{what}: {name!r} = {value} is outside [{lo}, {hi}]")
    return value


def _meta_int(meta: Mapping[str, Any], key: str, what: str, lo: int = 0, hi: int = INT64_MAX) -> int:
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise WireError(
            "bad_meta", f"{what}: {key!r} must be an integer in [{lo}, {hi}], got {short_value(value)}"
        )
    return value


def _meta_str(meta: Mapping[str, Any], key: str, what: str, max_chars: int = MAX_NAME_CHARS) -> str:
    value = meta.get(key)
    if not isinstance(value, str) or not value or len(value) > max_chars:
        raise WireError(
            "bad_meta", f"{what}: {key!r} must be text of 1..{max_chars} characters, got {short_value(value)}"
        )
    return value


def _meta_bool(meta: Mapping[str, Any], key: str, what: str, default: bool | None = None) -> bool:
    if key not in meta and default is not None:
        return default
    value = meta.get(key)
    if not isinstance(value, bool):
        raise WireError("bad_meta", f"{what}: {key!r} must be true or false, got {short_value(value)}")
    return value


def _kind(msg: Message, *kinds: str) -> None:
    if msg.kind not in kinds:
        raise WireError("wrong_kind", f"expected {' or '.join(map(repr, kinds))}, got {msg.kind!r}")


# -- cameras ----------------------------------------------------------------------------------
def camera_to_arrays(camera: Camera, prefix: str = "cam") -> dict[str, np.ndarray]:
    return {
        f"{prefix}.cam2world": camera.cam2world.astype(np.float64),
        f"{prefix}.intrinsics": camera.intrinsics.astype(np.float64),
        f"{prefix}.size": np.array([camera.width, camera.height], dtype=np.int32),
    }


def camera_from_arrays(arrays: Mapping[str, np.ndarray], prefix: str = "cam") -> Camera:
    """The camera stored by :func:`camera_to_arrays`.

    Raises:
        WireError: ``missing_array``, ``bad_array`` or ``bad_camera`` (not a rigid pose, or
            focal lengths that are not positive).
    """
    what = f"camera {prefix!r}"
    c2w = array_field(arrays, f"{prefix}.cam2world", (4, 4), "f", what=what, max_abs=MAX_ABS_COORD)
    k = array_field(arrays, f"{prefix}.intrinsics", (3, 3), "f", what=what, max_abs=MAX_ABS_COORD)
    size = array_field(arrays, f"{prefix}.size", (2,), "iu", what=what)
    w, h = (int(v) for v in size)
    if not (1 <= w <= MAX_IMAGE_SIDE and 1 <= h <= MAX_IMAGE_SIDE):
        raise WireError("bad_camera", f"{what}: image size {w}x{h} is not within 1..{MAX_IMAGE_SIDE}")
    if not (k[0, 0] > 0 and k[1, 1] > 0 and np.allclose(k[2], (0.0, 0.0, 1.0))):
        raise WireError("bad_camera", f"{what}: intrinsics need positive focal lengths and a last row 0 0 1")
    try:
        return Camera(np.array(c2w, dtype=np.float64), np.array(k, dtype=np.float64), w, h)
    except ValueError as e:
        raise WireError("bad_camera", f"{what}: {e}") from e


# -- driver frames ----------------------------------------------------------------------------
def driver_frame_to_message(obs: FaceObservation) -> Message:
    """A tracked driver frame (the capture -> estimator link)."""
    arrays = {
        "crop_rgb_u8": obs.crop_rgb_u8,
        "matte_u8": np.clip(np.rint(obs.matte * 255.0), 0, 255).astype(np.uint8),
        "landmarks_px": obs.landmarks_px.astype(np.float32),
        "crop_from_frame": np.asarray(obs.crop_from_frame, dtype=np.float64),
        **camera_to_arrays(obs.camera),
    }
    meta = {"frame_size": [int(obs.frame_size[0]), int(obs.frame_size[1])], "tracked": bool(obs.tracked)}
    return Message("driver_frame", obs.seq, obs.timestamp_ns, arrays, meta)


def driver_frame_from_message(msg: Message) -> FaceObservation:
    """The :class:`FaceObservation` of a ``driver_frame`` message.

    Raises:
        WireError: see the module docstring.
    """
    what = "driver frame"
    a = require(msg, "driver_frame", ["crop_rgb_u8", "matte_u8", "landmarks_px", "crop_from_frame"])
    # 0 x 0 from a tracker that makes no crop image (TrackerConfig(crop=False): the mesh avatar)
    crop = array_field(a, "crop_rgb_u8", (None, None, 3), "u", what=what, max_dim=MAX_CROP_SIDE, min_dim=0)
    matte = array_field(a, "matte_u8", crop.shape[:2], "u", what=what)
    if crop.dtype != np.uint8 or matte.dtype != np.uint8:
        raise WireError("bad_array", f"{what}: the crop and the matte must be uint8")
    lm = a["landmarks_px"]
    lm_shape = (None, 2) if isinstance(lm, np.ndarray) and lm.ndim == 2 and lm.shape[1] == 2 else (None, 3)
    landmarks = array_field(a, "landmarks_px", lm_shape, "f", what=what, max_abs=MAX_ABS_COORD, max_dim=1024)
    crop_from_frame = array_field(a, "crop_from_frame", (3, 3), "f", what=what, max_abs=MAX_ABS_COORD)
    fs = msg.meta.get("frame_size", [0, 0])
    if not (
        isinstance(fs, list)
        and len(fs) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 1 << 16 for v in fs)
    ):
        raise WireError(
            "bad_meta", f"{what}: 'frame_size' must be two integers in 0..65536, got {short_value(fs)}"
        )
    camera = camera_from_arrays(a)
    tracked = _meta_bool(msg.meta, "tracked", what, default=True)
    try:
        return FaceObservation(
            crop_rgb_u8=np.asarray(crop),
            matte=matte.astype(np.float32) / 255.0,
            camera=camera,
            landmarks_px=np.asarray(landmarks),
            crop_from_frame=np.asarray(crop_from_frame, dtype=np.float64),
            frame_size=(fs[0], fs[1]),
            timestamp_ns=msg.t_capture_ns,
            seq=msg.seq,
            tracked=tracked,
        )
    except ValueError as e:  # FaceObservation's own checks (all covered above)
        raise WireError("bad_payload", f"{what}: {e}") from e


# -- avatar states ----------------------------------------------------------------------------
@dataclass(frozen=True)
class StateMessage:
    """A ``source`` or ``scene`` message, its envelope checked (the arrays are the backend's).

    Attributes:
        kind: ``source`` or ``scene``.
        seq / t_capture_ns: from the header.
        arrays: the state's named arrays (give them to the backend's ``from_arrays``).
        source_key: the source the state belongs to (``""`` when not given).
        shm: the shared-memory handle when the large arrays travel that way (a JSON object,
            checked by :mod:`pipeline.shm`), else ``None``.
    """

    kind: str
    seq: int
    t_capture_ns: int
    arrays: Mapping[str, np.ndarray]
    source_key: str = ""
    shm: Mapping[str, Any] | None = None


def state_message(
    kind: str, seq: int, t_capture_ns: int, arrays: Mapping[str, np.ndarray], **meta: Any
) -> Message:
    """A ``source`` or ``scene`` message from an avatar state's ``to_arrays()``."""
    if kind not in ("source", "scene"):
        raise ValueError(f"state_message kind must be 'source' or 'scene', got {kind!r}")
    return Message(kind, seq, t_capture_ns, dict(arrays), dict(meta))


def state_from_message(msg: Message, kind: str | None = None) -> StateMessage:
    """Check a ``source``/``scene`` message's envelope (``kind`` when given must match).

    Raises:
        WireError: ``wrong_kind`` or ``bad_meta`` (a ``source_key`` that is not text, a
            ``shm`` handle that is not an object).
    """
    _kind(msg, *((kind,) if kind else ("source", "scene")))
    key = msg.meta.get("source_key", "")
    if not isinstance(key, str) or len(key) > 256:
        raise WireError("bad_meta", f"{msg.kind}: 'source_key' must be text, got {short_value(key)}")
    shm = msg.meta.get("shm")
    if shm is not None and not isinstance(shm, dict):
        raise WireError("bad_meta", f"{msg.kind}: 'shm' must be an object, got {short_value(shm)}")
    return StateMessage(msg.kind, msg.seq, msg.t_capture_ns, msg.arrays, key, shm)


# -- views ------------------------------------------------------------------------------------
def views_to_message(
    seq: int, t_capture_ns: int, views: RenderedViews, *, worker: str, **meta: Any
) -> Message:
    """One renderer's batch of views (renderer -> compositor link)."""
    return Message(
        "views",
        seq,
        t_capture_ns,
        {"rgb_u8": views.rgb_u8},
        {"view_ids": [int(v) for v in views.view_ids], "worker": worker, **meta},
    )


def views_from_message(msg: Message, num_views: int | None = None) -> RenderedViews:
    """The views of a ``views`` message; ids must be distinct and below ``num_views`` when given.

    Raises:
        WireError: see the module docstring.
    """
    what = "views"
    a = require(msg, "views", ["rgb_u8"])
    rgb = array_field(a, "rgb_u8", (None, None, None, 3), "u", what=what)
    if rgb.dtype != np.uint8 or rgb.shape[0] > MAX_VIEWS:
        raise WireError("bad_array", f"{what}: 'rgb_u8' must be uint8 with at most {MAX_VIEWS} views")
    ids = msg.meta.get("view_ids")
    top = MAX_VIEWS if num_views is None else num_views
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and 0 <= i < top for i in ids
    ):
        raise WireError("bad_payload", f"views message needs integer 'view_ids' in 0..{top - 1}")
    if len(ids) != rgb.shape[0] or len(set(ids)) != len(ids):
        raise WireError("bad_payload", f"{len(ids)} view ids (distinct?) for {rgb.shape[0]} views")
    try:
        return RenderedViews(np.asarray(rgb), ids)
    except ValueError as e:  # RenderedViews' own checks (all covered above)
        raise WireError("bad_payload", f"{what}: {e}") from e


def view_ids_of(msg: Message) -> Sequence[int]:
    """The view ids of a views message, unchecked; prefer :func:`views_from_message`."""
    ids = msg.meta.get("view_ids", [])
    return list(ids) if isinstance(ids, list) else []


# -- heartbeats -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Heartbeat:
    """Liveness and statistics of one role (every role -> launcher).

    Attributes:
        role: the role's unique name (``renderer-2``).
        pid: its process id.
        seq: heartbeat number (from the header).
        latency_ms: stage -> ``{"p50", "p90", "p99", "n"}``.
        counters: counter -> value.
        rates_hz: event -> rate.
        extra: the other values the role reported (``status``, ``last_seq``, ``views``...).
    """

    role: str
    pid: int
    seq: int = 0
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=dict)
    rates_hz: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def window_closed(self) -> bool:
        """The compositor's window was closed by the user (the call should end)."""
        return self.extra.get("window_closed") is True

    @property
    def driver_ended(self) -> bool:
        """The capture's driver file ended."""
        return self.extra.get("driver_ended") is True

    @property
    def stats(self) -> dict[str, Any]:
        """Everything as one JSON-ready dict (the layout :func:`heartbeat_message` sends)."""
        return {
            "latency_ms": self.latency_ms,
            "counters": self.counters,
            "rates_hz": self.rates_hz,
            **self.extra,
        }


def heartbeat_message(role: str, pid: int, stats: Mapping[str, Any], seq: int = 0) -> Message:
    """Liveness + statistics of one role (every role -> launcher)."""
    return Message("heartbeat", seq, 0, {}, {"role": role, "pid": int(pid), "stats": dict(stats)})


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _number_map(value: Any, key: str) -> dict[str, float]:
    if not isinstance(value, dict) or not all(_number(v) for v in value.values()):
        raise WireError("bad_meta", f"heartbeat: stats {key!r} must map names to numbers")
    return value


_FLAGS = ("window_closed", "driver_ended", "starting")


def heartbeat_from_message(msg: Message) -> Heartbeat:
    """The :class:`Heartbeat` of a ``heartbeat`` message.

    Raises:
        WireError: see the module docstring (e.g. ``stats`` that is not an object).
    """
    what = "heartbeat"
    _kind(msg, "heartbeat")
    role = _meta_str(msg.meta, "role", what)
    pid = _meta_int(msg.meta, "pid", what, lo=1, hi=2**32)
    stats = msg.meta.get("stats", {})
    if not isinstance(stats, dict):
        raise WireError("bad_meta", f"{what}: 'stats' must be an object, got {short_value(stats)}")
    latency = stats.get("latency_ms", {})
    if not isinstance(latency, dict) or not all(isinstance(v, dict) for v in latency.values()):
        raise WireError("bad_meta", f"{what}: stats 'latency_ms' must map stages to objects")
    for stage in latency.values():
        _number_map(stage, "latency_ms")
    extra = {k: v for k, v in stats.items() if k not in ("latency_ms", "counters", "rates_hz")}
    for flag in _FLAGS:
        if flag in extra and not isinstance(extra[flag], bool):
            raise WireError("bad_meta", f"{what}: stats {flag!r} must be true or false")
    return Heartbeat(
        role=role,
        pid=pid,
        seq=msg.seq,
        latency_ms=latency,
        counters=_number_map(stats.get("counters", {}), "counters"),
        rates_hz=_number_map(stats.get("rates_hz", {}), "rates_hz"),
        extra=extra,
    )


# -- control: renderer credits ----------------------------------------------------------------
def ready_message(worker: str) -> Message:
    """A renderer's credit: it has finished its views and can take the next scene."""
    if not isinstance(worker, str) or not 0 < len(worker) <= MAX_NAME_CHARS:
        raise ValueError(f"renderer name must be text of 1..{MAX_NAME_CHARS} characters, got {worker!r}")
    return Message("control", meta={"ready": worker})


def ready_from_message(msg: Message) -> str:
    """The renderer name of a credit (``control`` with ``{"ready": name}``).

    Raises:
        WireError: ``wrong_kind``, or ``bad_meta`` when ``ready`` is absent or not a name.
    """
    _kind(msg, "control")
    return _meta_str(msg.meta, "ready", "renderer credit")


# -- control: the call link -------------------------------------------------------------------
@dataclass(frozen=True)
class Hello:
    """Introduces a peer (sent on connect and answered by the listener).

    ``name`` is cut to :data:`MAX_NAME_CHARS` characters.
    """

    name: str
    session: str
    sends: bool
    receives: bool


@dataclass(frozen=True)
class Ping:
    """Liveness and clock probe; answered by a :class:`Pong`."""

    id: int


@dataclass(frozen=True)
class Pong:
    """Answer to a ping: ``t0`` the ping's ``t_sent_ns``, ``t1`` when it arrived (peer clock)."""

    id: int
    t0: int
    t1: int


@dataclass(frozen=True)
class Ack:
    """Receipt of the driver frame ``seq`` (frees one credit of the sender)."""

    seq: int


@dataclass(frozen=True)
class Bye:
    """The peer hangs up."""


@dataclass(frozen=True)
class Who:
    """ "Introduce yourself": asks the peer for a :class:`Hello`."""


LinkControl = Hello | Ping | Pong | Ack | Bye | Who


def link_control_to_message(ctl: LinkControl) -> Message:
    """A call-link control message (``control`` with ``{"type": ...}``)."""
    if isinstance(ctl, Hello):
        meta = {
            "type": "hello",
            "name": ctl.name,
            "session": ctl.session,
            "sends": ctl.sends,
            "receives": ctl.receives,
        }
        return Message("control", meta=meta)
    if isinstance(ctl, Ping):
        return Message("control", meta={"type": "ping", "id": int(ctl.id)})
    if isinstance(ctl, Pong):
        return Message(
            "control", meta={"type": "pong", "id": int(ctl.id), "t0": int(ctl.t0), "t1": int(ctl.t1)}
        )
    if isinstance(ctl, Ack):
        return Message("control", int(ctl.seq), meta={"type": "ack"})
    if isinstance(ctl, Bye):
        return Message("control", meta={"type": "bye"})
    if isinstance(ctl, Who):
        return Message("control", meta={"type": "who"})
    raise ValueError(f"not a call-link control message: {ctl!r}")


def link_control_from_message(msg: Message) -> LinkControl:
    """The call-link control message in ``msg``.

    Raises:
        WireError: ``wrong_kind``, ``unknown_control`` (a ``type`` this build does not know)
            or ``bad_meta``.
    """
    _kind(msg, "control")
    m = msg.meta
    kind = m.get("type")
    what = f"control {kind!r}" if isinstance(kind, str) else "control"
    if kind == "hello":
        name = m.get("name", "")
        if not isinstance(name, str):
            raise WireError("bad_meta", f"{what}: 'name' must be text")
        return Hello(
            name[:MAX_NAME_CHARS],
            _meta_str(m, "session", what, max_chars=256),
            _meta_bool(m, "sends", what),
            _meta_bool(m, "receives", what),
        )
    if kind == "ping":
        return Ping(_meta_int(m, "id", what))
    if kind == "pong":
        return Pong(_meta_int(m, "id", what), _meta_int(m, "t0", what), _meta_int(m, "t1", what))
    if kind == "ack":
        return Ack(msg.seq)
    if kind == "bye":
        return Bye()
    if kind == "who":
        return Who()
    raise WireError("unknown_control", f"control message of type {short_value(kind)}")


# -- audio ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AudioBlock:
    """One block of compressed microphone audio (two-party calls).

    Attributes:
        seq: block number; t_capture_ns: when its first sample was captured.
        codes: ``N`` uint8 codes of ``codec`` (one per sample for mu-law).
        codec: the codec's name; rate: samples per second.
    """

    seq: int
    t_capture_ns: int
    codes: np.ndarray
    codec: str
    rate: int


def audio_to_message(block: AudioBlock) -> Message:
    codes = np.asarray(block.codes)
    if codes.dtype != np.uint8 or codes.ndim != 1 or codes.size > MAX_AUDIO_SAMPLES:
        raise ValueError(
            f"audio codes must be at most {MAX_AUDIO_SAMPLES} uint8 values, got {codes.shape} {codes.dtype}"
        )
    meta = {"codec": block.codec, "rate": int(block.rate)}
    return Message("audio", block.seq, block.t_capture_ns, {"pcm": codes}, meta)


def audio_from_message(
    msg: Message, *, codec: str | None = None, rate: int | None = None, samples: int | None = None
) -> AudioBlock:
    """The :class:`AudioBlock` of an ``audio`` message; ``codec``, ``rate`` and ``samples``,
    when given, must match (a block this receiver cannot play is refused here).

    Raises:
        WireError: see the module docstring; ``audio_format`` for a block of another format.
    """
    what = "audio"
    _kind(msg, "audio")
    codes = array_field(msg.arrays, "pcm", (None,), "u", what=what, max_dim=MAX_AUDIO_SAMPLES)
    if codes.dtype != np.uint8:
        raise WireError("bad_array", f"{what}: 'pcm' must be uint8, got {codes.dtype.name}")
    got_codec = _meta_str(msg.meta, "codec", what, max_chars=32)
    got_rate = _meta_int(msg.meta, "rate", what, lo=1, hi=384000)
    for name, want, got in (
        ("codec", codec, got_codec),
        ("rate", rate, got_rate),
        ("samples", samples, codes.size),
    ):
        if want is not None and want != got:
            raise WireError("audio_format", f"{what}: {name} {got!r}, this receiver plays {want!r}")
    return AudioBlock(msg.seq, msg.t_capture_ns, codes, got_codec, got_rate)
