"""``NeuralBackend``: VOODOO 3D behind the :class:`pipeline.avatar.AvatarBackend` interface.

* :meth:`NeuralBackend.prepare_source` encodes the aligned source crop once: tri-plane,
  frontal super-resolved render and the expression encoder's source features
  (:class:`NeuralSource`).
* :meth:`NeuralBackend.drive` turns a driver crop into the re-enacted tri-plane
  (:class:`NeuralScene`, with the driver's head-pose camera; ``to_arrays()`` for the wire).
* :meth:`NeuralBackend.render` ray-marches any cameras of a scene in one batch, optionally
  super-resolves, and returns display-ready uint8 views.

Crops are converted to model tensors exactly as the official preprocessing does
(``u8 / 255 * 2 - 1`` in float64, then float32), on the model's device. Crops and scene
tri-planes that arrive in host memory are uploaded through reused pinned buffers
(:class:`pipeline.voodoo.staging.HostStaging`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.avatar import AvatarBackend, FaceObservation, RenderedViews
from pipeline.cameras import Camera, stack_cameras
from pipeline.messages import array_field, camera_from_arrays, camera_to_arrays, scalar_field
from pipeline.voodoo.encoder import IMAGE_SIZE, PLANE_CHANNELS, PLANE_SIZE
from pipeline.voodoo.model import DType, ModelConfig, SourceCache, Voodoo3D
from pipeline.voodoo.staging import HostStaging, crop_u8_to_signed
from pipeline.wire import INT64_MAX, WireError

__all__ = ["NeuralBackend", "NeuralScene", "NeuralSource", "crop_to_signed", "load_backend", "signed_to_u8"]

_PLANES_SHAPE = (1, 3, PLANE_CHANNELS, PLANE_SIZE, PLANE_SIZE)


def _checked_crop(crop_rgb_u8: np.ndarray) -> np.ndarray:
    a = np.asarray(crop_rgb_u8)
    if a.dtype != np.uint8 or a.shape != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise ValueError(
            f"the neural avatar needs a {IMAGE_SIZE}x{IMAGE_SIZE}x3 uint8 crop, got {a.shape} {a.dtype}"
        )
    return a


def crop_to_signed(crop_rgb_u8: np.ndarray) -> torch.Tensor:
    """``512 x 512 x 3`` uint8 RGB -> ``1 x 3 x 512 x 512`` float32 in [-1, 1] (spec 10, step 7)."""
    a = _checked_crop(crop_rgb_u8)
    signed = (a.astype(np.float64) / 255.0 * 2.0 - 1.0).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(signed.transpose(2, 0, 1)))[None]


def signed_to_u8(images_signed: torch.Tensor) -> np.ndarray:
    """``N x 3 x H x W`` in ~[-1, 1] -> ``N x H x W x 3`` uint8 (clamped, rounded)."""
    x = ((images_signed.detach().float().clamp(-1, 1) + 1) * 127.5).round()
    return x.to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu().numpy()


@dataclass
class NeuralSource:
    """The prepared source photo (kept for the whole call).

    Attributes:
        cache: the model's source-only tensors (tri-plane, frontal render, features).
        camera: the source photo's head-pose camera.
        key: content hash of the source crop (identifies the source across processes).
    """

    cache: SourceCache
    camera: Camera
    key: str

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Tri-plane and frontal image for the wire (the features are recomputable)."""
        return {
            **camera_to_arrays(self.camera),
            "planes": self.cache.planes.detach().float().cpu().numpy(),
            "frontal_rgb_u8": signed_to_u8(self.cache.frontal.super_resolved()),
            "source_key": np.frombuffer(self.key.encode("ascii"), dtype=np.uint8).copy(),
        }


@dataclass
class NeuralScene:
    """One driver frame's re-enacted tri-plane and head pose.

    Attributes:
        seq / timestamp_ns: the driver frame's sequence number and capture time.
        camera: the driver's head-pose camera (render the view sweep around it).
        planes: ``1 x 3 x 32 x 256 x 256`` float32 tri-plane ``T_s + Delta``.
    """

    seq: int
    timestamp_ns: int
    camera: Camera
    planes: torch.Tensor

    def __post_init__(self) -> None:
        if tuple(self.planes.shape) != _PLANES_SHAPE:
            raise ValueError(f"NeuralScene.planes must be {_PLANES_SHAPE}, got {tuple(self.planes.shape)}")

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            **camera_to_arrays(self.camera),
            "planes": self.planes.detach().float().cpu().numpy(),
            "seq": np.array([self.seq], dtype=np.int64),
            "timestamp_ns": np.array([self.timestamp_ns], dtype=np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> NeuralScene:
        """The inverse of :meth:`to_arrays`.

        Raises:
            pipeline.wire.WireError: a missing or misshapen array, non-finite planes.
        """
        what = "neural scene"
        planes = array_field(arrays, "planes", _PLANES_SHAPE, "f", what=what, finite=True)
        seq = scalar_field(arrays, "seq", "iu", what=what, lo=0, hi=INT64_MAX)
        timestamp_ns = scalar_field(arrays, "timestamp_ns", "iu", what=what, lo=0, hi=INT64_MAX)
        camera = camera_from_arrays(arrays)
        with np.errstate(over="ignore"):  # float64 beyond float32's range is refused just below
            planes32 = np.array(planes, dtype=np.float32)  # an owned copy (the message may be a view)
        if not np.all(np.isfinite(planes32)):  # float64 values beyond float32's range
            raise WireError("bad_array", f"{what}: 'planes' has values beyond float32's range")
        return cls(
            seq=int(seq), timestamp_ns=int(timestamp_ns), camera=camera, planes=torch.from_numpy(planes32)
        )


class NeuralBackend(AvatarBackend[NeuralSource, NeuralScene]):
    """The ``neural`` avatar around a loaded :class:`Voodoo3D`.

    Scenes carry the whole re-enacted tri-plane, so a renderer process needs no source state,
    and expressions come from each driver crop on its own (there is no neutral frame).

    Args:
        model: the placed model (see :func:`load_backend`).
        super_resolve: render 128 neural images and super-resolve them to 512 (the model's
            output); False returns the 128 renders upsampled to the camera size (faster).
    """

    name = "neural"

    def __init__(self, model: Voodoo3D, super_resolve: bool = True) -> None:
        self.model = model
        self.super_resolve = super_resolve
        self.staging = HostStaging(model.device)

    def _signed(self, crop_rgb_u8: np.ndarray) -> torch.Tensor:
        """:func:`crop_to_signed`, computed on the model's device from the uploaded bytes."""
        return crop_u8_to_signed(_checked_crop(crop_rgb_u8), self.staging)

    def prepare_source(self, source: FaceObservation) -> NeuralSource:
        crop = np.ascontiguousarray(source.crop_rgb_u8)
        cache = self.model.prepare_source(self._signed(crop))
        return NeuralSource(cache, source.camera, hashlib.sha1(crop.tobytes()).hexdigest())

    def has_source(self, key: str | None) -> bool:
        return True

    def adopt_source(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Nothing to keep: every scene is self-contained."""

    def scene_from_arrays(self, arrays: Mapping[str, np.ndarray]) -> NeuralScene:
        return NeuralScene.from_arrays(arrays)

    def reset_neutral(self, driver: FaceObservation | None = None, *, absolute: bool = False) -> None:
        """VOODOO 3D transfers each driver frame's expression as it is: nothing to reset."""

    def drive(self, source: NeuralSource, driver: FaceObservation) -> NeuralScene:
        if not isinstance(source, NeuralSource):
            raise TypeError(f"NeuralBackend.drive needs a NeuralSource, got {type(source).__name__}")
        if driver.crop_rgb_u8.size == 0:
            raise ValueError(
                "the neural avatar reads the driver's face crop, and this driver frame has none "
                "(tracked with TrackerConfig(crop=False), which only the mesh avatar can drive from)"
            )
        planes, _, _ = self.model.drive(source.cache, self._signed(driver.crop_rgb_u8))
        return NeuralScene(driver.seq, driver.timestamp_ns, driver.camera, planes)

    def render(
        self, scene: NeuralScene, cameras: Sequence[Camera], view_ids: Sequence[int] | None = None
    ) -> RenderedViews:
        """All ``cameras`` of ``scene`` in one batch -> ``N x H x W x 3`` uint8 at the cameras' size.

        The model draws square images: a ``W x H`` camera is drawn as the centred square of side
        ``max(W, H)`` around it (:meth:`Camera.enclosing_square`) and cropped back.
        """
        if not cameras:
            raise ValueError("NeuralBackend.render needs at least one camera")
        h, w = cameras[0].height, cameras[0].width
        if any((c.height, c.width) != (h, w) for c in cameras):
            raise ValueError("NeuralBackend.render: all cameras of one batch must share one image size")
        square = [c.enclosing_square() for c in cameras]
        side = square[0].width
        c2w, k = stack_cameras(square)
        planes = scene.planes
        if planes.device != self.model.device and planes.device.type == "cpu":
            planes = self.staging.upload(planes.numpy())  # pinned, asynchronous on CUDA
        out = self.model.render(
            planes, torch.from_numpy(c2w), torch.from_numpy(k), super_resolve=self.super_resolve
        )
        image = out.image if out.image is not None else out.image_raw
        size = (side, side)
        if tuple(image.shape[-2:]) != size:
            image = F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)
        depth = F.interpolate(out.depth, size=size, mode="nearest")[:, 0]
        alpha = F.interpolate(out.alpha, size=size, mode="bilinear", align_corners=False)[:, 0]
        y0, x0 = (side - h) // 2, (side - w) // 2
        crop = (slice(y0, y0 + h), slice(x0, x0 + w))
        ids = list(range(len(cameras))) if view_ids is None else list(view_ids)
        return RenderedViews(
            rgb_u8=np.ascontiguousarray(signed_to_u8(image)[:, crop[0], crop[1]]),
            view_ids=ids,
            depth=depth[:, crop[0], crop[1]].cpu().numpy().astype(np.float32),
            alpha=alpha[:, crop[0], crop[1]].clamp(0, 1).cpu().numpy().astype(np.float32),
        )


def load_backend(
    weights_path: str | os.PathLike[str],
    device: str = "cpu",
    dtype: DType = "float32",
    super_resolve: bool = True,
    progress: bool = True,
) -> NeuralBackend:
    """Load ``voodoo3d.pth`` (progress bar) and wrap it as a :class:`NeuralBackend`.

    Raises:
        pipeline.voodoo.checkpoint.CheckpointError: unreadable or incompatible checkpoint.
        ValueError: bad device/dtype combination (half precision needs CUDA).
    """
    from pipeline.voodoo.checkpoint import load_model

    if torch.device(device).type == "cuda":
        # A call runs fixed shapes: cuDNN times its kernels once per shape and keeps the fastest.
        torch.backends.cudnn.benchmark = True
    model, _ = load_model(weights_path, ModelConfig(device=device, dtype=dtype), progress=progress)
    return NeuralBackend(model, super_resolve=super_resolve)
