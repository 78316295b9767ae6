"""Typed payloads <-> wire messages (see :mod:`pipeline.wire` for the frame format).

One pair of functions per payload type; process shells never build message dicts by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pipeline.avatar import FaceObservation, RenderedViews
from pipeline.cameras import Camera
from pipeline.wire import Message, WireError, require

__all__ = [
    "camera_from_arrays",
    "camera_to_arrays",
    "driver_frame_from_message",
    "driver_frame_to_message",
    "heartbeat_message",
    "state_message",
    "views_from_message",
    "views_to_message",
]


def camera_to_arrays(camera: Camera, prefix: str = "cam") -> dict[str, np.ndarray]:
    return {
        f"{prefix}.cam2world": camera.cam2world.astype(np.float64),
        f"{prefix}.intrinsics": camera.intrinsics.astype(np.float64),
        f"{prefix}.size": np.array([camera.width, camera.height], dtype=np.int32),
    }


def camera_from_arrays(arrays: Mapping[str, np.ndarray], prefix: str = "cam") -> Camera:
    try:
        size = arrays[f"{prefix}.size"]
        return Camera(
            np.array(arrays[f"{prefix}.cam2world"]),
            np.array(arrays[f"{prefix}.intrinsics"]),
            int(size[0]),
            int(size[1]),
        )
    except KeyError as e:
        raise WireError("missing_array", f"camera array {e} missing") from e
    except (ValueError, IndexError) as e:
        raise WireError("bad_camera", str(e)) from e


def driver_frame_to_message(obs: FaceObservation) -> Message:
    """A tracked driver frame (the capture -> estimator link)."""
    arrays = {
        "crop_rgb_u8": obs.crop_rgb_u8,
        "matte_u8": np.clip(np.rint(obs.matte * 255.0), 0, 255).astype(np.uint8),
        "landmarks_px": obs.landmarks_px.astype(np.float32),
        "crop_from_frame": np.asarray(obs.crop_from_frame, dtype=np.float64),
        **camera_to_arrays(obs.camera),
    }
    meta = {"frame_size": list(obs.frame_size), "tracked": bool(obs.tracked)}
    return Message("driver_frame", obs.seq, obs.timestamp_ns, arrays, meta)


def driver_frame_from_message(msg: Message) -> FaceObservation:
    a = require(msg, "driver_frame", ["crop_rgb_u8", "matte_u8", "landmarks_px", "crop_from_frame"])
    try:
        fs = msg.meta.get("frame_size", [0, 0])
        return FaceObservation(
            crop_rgb_u8=np.asarray(a["crop_rgb_u8"]),
            matte=np.asarray(a["matte_u8"], dtype=np.float32) / 255.0,
            camera=camera_from_arrays(a),
            landmarks_px=np.asarray(a["landmarks_px"]),
            crop_from_frame=np.asarray(a["crop_from_frame"]),
            frame_size=(int(fs[0]), int(fs[1])),
            timestamp_ns=msg.t_capture_ns,
            seq=msg.seq,
            tracked=bool(msg.meta.get("tracked", True)),
        )
    except (ValueError, TypeError, IndexError) as e:
        raise WireError("bad_payload", f"driver frame: {e}") from e


def state_message(
    kind: str, seq: int, t_capture_ns: int, arrays: Mapping[str, np.ndarray], **meta: Any
) -> Message:
    """A ``source`` or ``scene`` message from an avatar state's ``to_arrays()``."""
    if kind not in ("source", "scene"):
        raise ValueError(f"state_message kind must be 'source' or 'scene', got {kind!r}")
    return Message(kind, seq, t_capture_ns, dict(arrays), dict(meta))


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


def views_from_message(msg: Message) -> RenderedViews:
    a = require(msg, "views", ["rgb_u8"])
    ids = msg.meta.get("view_ids")
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        raise WireError("bad_payload", "views message needs integer 'view_ids'")
    try:
        return RenderedViews(np.asarray(a["rgb_u8"]), ids)
    except ValueError as e:
        raise WireError("bad_payload", f"views: {e}") from e


def heartbeat_message(role: str, pid: int, stats: Mapping[str, Any], seq: int = 0) -> Message:
    """Liveness + statistics of one role (every role -> launcher)."""
    return Message("heartbeat", seq, 0, {}, {"role": role, "pid": int(pid), "stats": dict(stats)})


def view_ids_of(msg: Message) -> Sequence[int]:
    return list(msg.meta.get("view_ids", []))
