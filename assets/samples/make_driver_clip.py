"""Make the sample driver clip ``hopper_driver.mp4`` from ``grace_hopper.jpg``.

The clip is Grace Hopper's photo animated through the weight-free mesh avatar with a scripted
performance: a smile, a blink, an open mouth, a head turn to each side and a second blink.
``voodoo-holo render`` uses it, with ``astronaut.jpg`` as the source, when no driver is given;
a different identity than the source makes the re-enactment easy to see.

How a frame is made:

1. the photo is pre-processed once (``prepare_photo``): aligned crop, FaceMesh landmarks,
   head-pose camera;
2. the landmarks are *frontalised* (the canonical face model's frame, centimetres, y up,
   head pose removed); the script adds expression offsets there (mouth corners up and out,
   upper eyelids down onto the lower ones, lower lip and jaw down) and maps the result back
   to crop pixels with the face's own fit, so the avatar frontalises them back to the
   scripted offsets (up to a shift of about a millimetre: the jaw carries a few of the
   points the pose fit uses);
3. the head turn orbits the observation's camera about the head's vertical axis
   (``pipeline.cameras.rotation_about_axis``): the mesh avatar takes the head pose from the
   driver's camera, and the frontal render below is drawn through that camera;
4. the mesh avatar of the photo is driven with the edited observation and rendered as one
   view, and the frames are encoded to H.264.

Run from the repository root::

    python -m assets.samples.make_driver_clip            # writes assets/samples/hopper_driver.mp4
    python -m assets.samples.make_driver_clip --out /tmp/clip.mp4 --size 384
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from pipeline.avatar import FaceObservation
from pipeline.cameras import LOOKAT_POINT, Camera, rotation_about_axis
from pipeline.mesh.geometry import frontalize

__all__ = ["ClipConfig", "Pose", "expression_offsets_cm", "make_clip", "performance", "turned_camera"]

# FaceMesh landmark rings around the eyes (MediaPipe's mesh annotations): the upper lid, the
# two rings of eyelid skin above it, and the lower lid, for the subject's right and left eye.
_EYES = (
    (
        (246, 161, 160, 159, 158, 157, 173),
        (247, 30, 29, 27, 28, 56, 190),
        (113, 225, 224, 223, 222, 221, 189),
        (33, 7, 163, 144, 145, 153, 154, 155, 133),
    ),
    (
        (466, 388, 387, 386, 385, 384, 398),
        (467, 260, 259, 257, 258, 286, 414),
        (342, 445, 444, 443, 442, 441, 413),
        (263, 249, 390, 373, 374, 380, 381, 382, 362),
    ),
)
_MOUTH_CORNERS = (61, 291)
# The inner lip line (MediaPipe's lipsUpperInner / lipsLowerInner without the shared corners).
_UPPER_INNER_LIP_RING = (191, 80, 81, 82, 13, 312, 311, 310, 415)
_LOWER_INNER_LIP_RING = (95, 88, 178, 87, 14, 317, 402, 318, 324)
_INNER_LIP_CORNERS = (78, 308)


@dataclass(frozen=True)
class ClipConfig:
    """Attributes:
    fps: frame rate of the clip.
    duration_s: length of the scripted performance.
    size_px: side of the (square) frames.
    crf: x264 quality (lower = better, bigger).
    """

    fps: float = 25.0
    duration_s: float = 4.4
    size_px: int = 512
    crf: int = 24

    def __post_init__(self) -> None:
        if not 1.0 <= self.fps <= 120.0:
            raise ValueError(f"fps must be in 1..120, got {self.fps}")
        if not 0.5 <= self.duration_s <= 60.0:
            raise ValueError(f"duration_s must be in 0.5..60 s, got {self.duration_s}")
        if not 64 <= self.size_px <= 2048 or self.size_px % 2:
            raise ValueError(f"size_px must be even and in 64..2048, got {self.size_px}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be 0..51, got {self.crf}")

    @property
    def num_frames(self) -> int:
        return round(self.duration_s * self.fps)


@dataclass(frozen=True)
class Pose:
    """The performance at one instant: expression weights in [0, 1] and head angles in degrees."""

    smile: float = 0.0
    blink: float = 0.0
    mouth_open: float = 0.0
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0


def _ramp(t: float, t0: float, t1: float) -> float:
    x = min(max((t - t0) / (t1 - t0), 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def _hold(t: float, rise: tuple[float, float], fall: tuple[float, float]) -> float:
    """0 -> 1 over ``rise``, 1 until ``fall`` starts, back to 0 by its end."""
    return _ramp(t, *rise) * (1.0 - _ramp(t, *fall))


def _blink(t: float, t0: float, length_s: float = 0.28) -> float:
    x = (t - t0) / length_s
    return math.sin(math.pi * x) ** 2 if 0.0 <= x <= 1.0 else 0.0


def performance(t: float) -> Pose:
    """The scripted performance at ``t`` seconds (4.4 s long)."""
    turn = t - 2.75
    yaw = 16.0 * math.sin(2.0 * math.pi * turn / 1.5) if 0.0 <= turn <= 1.5 else 0.0
    return Pose(
        smile=_hold(t, (0.3, 0.7), (1.3, 1.6)),
        blink=max(_blink(t, 0.95), _blink(t, 3.95)),
        mouth_open=_hold(t, (1.7, 2.0), (2.35, 2.65)),
        yaw_deg=yaw,
        pitch_deg=-3.0 * math.sin(math.pi * turn / 1.5) if 0.0 <= turn <= 1.5 else 0.0,
    )


def _eyelid_offsets(frontal: np.ndarray, amount: float) -> np.ndarray:
    """Upper eyelids down onto the lower ones (``amount`` 1 = closed)."""
    off = np.zeros_like(frontal)
    for upper, skin1, skin2, lower in _EYES:
        low = frontal[list(lower)]
        order = np.argsort(low[:, 0])
        lx, ly = low[order, 0], low[order, 1]
        drop = {}
        for i in upper:
            gap = float(np.interp(frontal[i, 0], lx, ly)) - frontal[i, 1]  # negative: downwards
            drop[i] = 0.92 * gap * amount
            off[i, 1] = drop[i]
        for ring, share in ((skin1, 0.55), (skin2, 0.2)):
            for j, i in zip(ring, upper, strict=True):
                off[j, 1] = share * drop[i]
        for i in lower:  # the lower lid rises a little
            off[i, 1] += 0.08 * amount
    return off


def _smile_offsets(frontal: np.ndarray, amount: float) -> np.ndarray:
    """Mouth corners up and outwards, fading out over ~1.5 cm."""
    off = np.zeros_like(frontal)
    for c in _MOUTH_CORNERS:
        d2 = ((frontal[:, :2] - frontal[c, :2]) ** 2).sum(axis=1)
        w = np.exp(-d2 / (2.0 * 0.9**2))
        side = math.copysign(1.0, frontal[c, 0])
        off[:, 0] += w * side * 0.45 * amount
        off[:, 1] += w * 0.75 * amount
    return off


def _jaw_offsets(frontal: np.ndarray, amount: float, drop_cm: float = 1.5) -> np.ndarray:
    """Lower lip and jaw down: everything below the upper inner lip, fading out over 3.5 mm
    below it and towards the ears. The lower inner lip moves fully even where it touches the
    upper one (a closed mouth); the corners move half as much."""
    upper = frontal[list(_UPPER_INNER_LIP_RING)]
    order = np.argsort(upper[:, 0])
    y_line = np.interp(frontal[:, 0], upper[order, 0], upper[order, 1])
    below = np.clip((y_line - frontal[:, 1]) / 0.35, 0.0, 1.0)
    below[list(_UPPER_INNER_LIP_RING)] = 0.0
    below[list(_LOWER_INNER_LIP_RING)] = 1.0
    below[list(_INNER_LIP_CORNERS)] = 0.5
    sideways = np.clip(1.0 - np.abs(frontal[:, 0]) / 8.0, 0.0, 1.0)
    off = np.zeros_like(frontal)
    off[:, 1] = -drop_cm * amount * below * sideways
    return off


def expression_offsets_cm(frontal: np.ndarray, pose: Pose) -> np.ndarray:
    """Offsets (468 x 3, frontal frame, cm) of the scripted expression for a face ``frontal``."""
    return (
        _smile_offsets(frontal, pose.smile)
        + _eyelid_offsets(frontal, pose.blink)
        + _jaw_offsets(frontal, pose.mouth_open)
    )


def turned_camera(camera: Camera, yaw_deg: float, pitch_deg: float = 0.0) -> Camera:
    """``camera`` orbited about the head (the world's look-at point): the head appears turned.

    Positive yaw moves the camera towards the camera's own right, so the face turns towards
    the viewer's left; positive pitch moves it up.
    """
    c2w = camera.cam2world
    pivot = np.asarray(LOOKAT_POINT, dtype=np.float64)
    rot = rotation_about_axis(-c2w[:3, 1], math.radians(yaw_deg))
    rot = rotation_about_axis(c2w[:3, 0], -math.radians(pitch_deg)) @ rot
    m = np.eye(4)
    m[:3, :3] = rot @ c2w[:3, :3]
    m[:3, 3] = rot @ (c2w[:3, 3] - pivot) + pivot
    return Camera(m, camera.intrinsics, camera.width, camera.height)


def driver_observation(face: FaceObservation, pose: Pose, seq: int, t_ns: int) -> FaceObservation:
    """``face`` with the scripted expression in its landmarks and the head turn in its camera."""
    frontal, fit = frontalize(face.landmarks_px)
    lm = np.array(face.landmarks_px, dtype=np.float32, copy=True)
    lm[: len(frontal)] = fit.apply(frontal + expression_offsets_cm(frontal, pose))
    return dataclasses.replace(
        face,
        landmarks_px=lm,
        camera=turned_camera(face.camera, pose.yaw_deg, pose.pitch_deg),
        seq=seq,
        timestamp_ns=t_ns,
        tracked=True,
    )


def make_clip(photo: str | Path, out: str | Path, config: ClipConfig | None = None) -> tuple[Path, int]:
    """Animate ``photo`` and write the clip to ``out``; returns ``(path, frames)``."""
    import imageio_ffmpeg

    from pipeline.mesh.backend import MeshBackend
    from pipeline.tracking import prepare_photo

    cfg = config or ClipConfig()
    face = prepare_photo(photo)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    backend = MeshBackend()
    try:
        source = backend.prepare_source(face)
        backend.reset_neutral(face)
        writer = imageio_ffmpeg.write_frames(
            str(out),
            (cfg.size_px, cfg.size_px),
            fps=cfg.fps,
            codec="libx264",
            pix_fmt_in="rgb24",
            pix_fmt_out="yuv420p",
            macro_block_size=2,
            quality=None,
            output_params=["-crf", str(cfg.crf), "-preset", "slow", "-movflags", "+faststart"],
        )
        writer.send(None)
        try:
            for i in range(cfg.num_frames):
                t = i / cfg.fps
                obs = driver_observation(face, performance(t), i, round(t * 1e9))
                scene = backend.drive(source, obs)
                view = backend.render(scene, [scene.camera.with_size(cfg.size_px)]).rgb_u8[0]
                writer.send(np.ascontiguousarray(view))
        finally:
            writer.close()
    finally:
        backend.close()
    return out, cfg.num_frames


def main(argv: list[str] | None = None) -> int:
    here = resources.files("assets.samples")
    p = argparse.ArgumentParser(description="Make the sample driver clip from grace_hopper.jpg.")
    p.add_argument("--photo", type=Path, default=Path(str(here.joinpath("grace_hopper.jpg"))))
    p.add_argument("--out", type=Path, default=Path(str(here.joinpath("hopper_driver.mp4"))))
    p.add_argument("--size", type=int, default=ClipConfig.size_px, help="frame side in pixels")
    p.add_argument("--fps", type=float, default=ClipConfig.fps)
    args = p.parse_args(argv)
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        cfg = ClipConfig(fps=args.fps, size_px=args.size)
    except ValueError as e:
        print(f"make_driver_clip: {e}", file=sys.stderr)
        return 2
    path, n = make_clip(args.photo, args.out, cfg)
    print(
        f"wrote {path} ({n} frames, {cfg.size_px}x{cfg.size_px}, {cfg.fps:g} fps, {path.stat().st_size} bytes)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
