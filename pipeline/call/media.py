"""What crosses the network in a call: the driver stream, compressed, and the source once.

Built on the local pipeline's contract (:func:`pipeline.messages.driver_frame_to_message`):
the same ``driver_frame`` message, with the two images replaced by JPEG bytes and the
landmarks stored as fixed-point integers. :func:`unpack_driver_frame` restores a
:class:`FaceObservation` the receiver drives its local avatar with.

=================  =====================================  ===============================
array              network form                           restored as
=================  =====================================  ===============================
crop_rgb_u8        ``crop_jpeg`` (crop scaled to          512 x 512 x 3 uint8
                   ``crop_px``, JPEG ``quality``)
matte_u8           ``matte_jpeg`` (grey JPEG, half size)  512 x 512 uint8
landmarks_px       ``landmarks_q`` int16, 1/32 pixel      478 x 3 float32
camera, crop_from_frame: unchanged (a few hundred bytes)
=================  =====================================  ===============================

The source (the photo's prepared face) travels once as a ``source`` message with the same
layout at a higher quality and float32 landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.avatar import FaceObservation
from pipeline.messages import driver_frame_from_message, driver_frame_to_message
from pipeline.wire import Message, WireError, require

__all__ = [
    "CODEC",
    "MediaSettings",
    "pack_driver_frame",
    "pack_source",
    "unpack_driver_frame",
    "unpack_source",
]

CODEC = "jpeg-v1"
CROP_SIZE = 512
_LANDMARK_SCALE = 32.0  # int16 fixed point: 1/32 pixel, range +-1024 pixels


@dataclass(frozen=True)
class MediaSettings:
    """Compression of the driver stream.

    Attributes:
        crop_px: size the 512 crop is scaled to before JPEG (64..512).
        quality: JPEG quality of driver crops (10..100).
        source_quality: JPEG quality of the source crop (sent once).
    """

    crop_px: int = 256
    quality: int = 70
    source_quality: int = 95

    def __post_init__(self) -> None:
        if not 64 <= self.crop_px <= CROP_SIZE:
            raise ValueError(f"crop size must be 64..{CROP_SIZE} pixels, got {self.crop_px}")
        for name in ("quality", "source_quality"):
            if not 10 <= getattr(self, name) <= 100:
                raise ValueError(f"{name} must be 10..100, got {getattr(self, name)}")


def _jpeg(img: np.ndarray, size: int, quality: int) -> np.ndarray:
    if img.shape[0] != size:
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.reshape(-1)


def _jpeg_size(data: np.ndarray) -> tuple[int, int] | None:
    """``(width, height)`` from a JPEG's frame header (SOFn marker), None when there is none.
    Read before decoding, so a crop that declares a huge image is refused without allocating."""
    b = data.tobytes()
    if b[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 <= len(b):
        if b[i] != 0xFF:
            return None
        marker = b[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = int.from_bytes(b[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h = int.from_bytes(b[i + 5 : i + 7], "big")
            w = int.from_bytes(b[i + 7 : i + 9], "big")
            return w, h
        if length < 2:
            return None
        i += 2 + length
    return None


def _unjpeg(buf: np.ndarray, name: str, color: bool) -> np.ndarray:
    data = np.ascontiguousarray(buf, dtype=np.uint8).reshape(-1)
    if data.size == 0:
        raise WireError("bad_image", f"{name} is empty")
    size = _jpeg_size(data)
    if size is None:
        raise WireError("bad_image", f"{name} is not a JPEG")
    if size[0] != size[1] or not 16 <= size[0] <= CROP_SIZE:
        raise WireError(
            "bad_image", f"{name} declares {size[0]}x{size[1]} px, expected a square crop of 16..{CROP_SIZE}"
        )
    img = cv2.imdecode(data, cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise WireError("bad_image", f"{name} is not a readable JPEG")
    if img.shape[0] != img.shape[1] or not 16 <= img.shape[0] <= CROP_SIZE:
        raise WireError("bad_image", f"{name} is {img.shape[1]}x{img.shape[0]}, expected a square crop")
    if img.shape[0] != CROP_SIZE:
        img = cv2.resize(img, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if color else img


def _pack(msg: Message, size: int, quality: int, quantise_landmarks: bool) -> Message:
    a = msg.arrays
    crop = a.pop("crop_rgb_u8")
    matte = a.pop("matte_u8")
    a["crop_jpeg"] = _jpeg(crop, size, quality)
    # The matte is smooth: half the size is enough (it is upsampled on arrival).
    a["matte_jpeg"] = _jpeg(matte, size if size == CROP_SIZE else size // 2, max(quality, 85))
    if quantise_landmarks:
        lm = a.pop("landmarks_px")
        a["landmarks_q"] = np.clip(np.rint(lm * _LANDMARK_SCALE), -32767, 32767).astype(np.int16)
    msg.meta["codec"] = CODEC
    return msg


def _unpack(msg: Message, kind: str) -> FaceObservation:
    if msg.meta.get("codec") != CODEC:
        raise WireError("bad_codec", f"{kind} uses codec {msg.meta.get('codec')!r}, expected {CODEC!r}")
    a = dict(require(msg, kind, ["crop_jpeg", "matte_jpeg"]))
    a["crop_rgb_u8"] = _unjpeg(a.pop("crop_jpeg"), "crop_jpeg", color=True)
    a["matte_u8"] = _unjpeg(a.pop("matte_jpeg"), "matte_jpeg", color=False)
    if "landmarks_q" in a:
        q = np.asarray(a.pop("landmarks_q"))
        if q.dtype != np.int16:
            raise WireError("bad_payload", f"landmarks_q must be int16, got {q.dtype}")
        a["landmarks_px"] = q.astype(np.float32) / _LANDMARK_SCALE
    plain = Message("driver_frame", msg.seq, msg.t_capture_ns, a, dict(msg.meta), msg.t_sent_ns)
    try:
        return driver_frame_from_message(plain)
    except (ValueError, TypeError) as e:  # FaceObservation validates shapes
        raise WireError("bad_payload", f"{kind}: {e}") from e


def pack_driver_frame(obs: FaceObservation, settings: MediaSettings) -> Message:
    """A tracked frame as a compressed ``driver_frame`` message (a few kB)."""
    return _pack(driver_frame_to_message(obs), settings.crop_px, settings.quality, True)


def unpack_driver_frame(msg: Message) -> FaceObservation:
    """The inverse of :func:`pack_driver_frame`; raises :class:`WireError` on bad input."""
    return _unpack(msg, "driver_frame")


def pack_source(face: FaceObservation, settings: MediaSettings, name: str = "") -> Message:
    """The prepared source photo, sent once per connection (full size, float landmarks)."""
    msg = _pack(driver_frame_to_message(face), CROP_SIZE, settings.source_quality, False)
    msg.kind = "source"
    msg.meta["name"] = name
    return msg


def unpack_source(msg: Message) -> FaceObservation:
    return _unpack(msg, "source")
