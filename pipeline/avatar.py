"""One interface, two avatars.

Both backends (``neural``: VOODOO 3D with the official weights; ``mesh``: the weight-free
FaceMesh avatar) subclass :class:`AvatarBackend` and implement all of it::

    source = backend.prepare_source(source_face)     # once per call (cached by the caller)
    scene  = backend.drive(source, driver_face)      # per driver frame
    views  = backend.render(scene, cameras, ids)     # N cameras (any size), one batch
    backend.reset_neutral()                          # a new driver: forget its neutral face
    backend.close()

In the live pipeline the estimator runs ``prepare_source``/``drive`` and sends states to the
renderer processes, which rebuild them with :meth:`AvatarBackend.adopt_source` (once per source,
when :meth:`AvatarBackend.has_source` says it is missing) and
:meth:`AvatarBackend.scene_from_arrays`. Callers never branch on the backend's name.

``source_face`` and ``driver_face`` are :class:`FaceObservation` objects produced by the
tracker (``pipeline.tracking``): an aligned 512x512 crop with black background, its matte,
the head-pose camera and the landmarks. Cameras are :class:`pipeline.cameras.Camera`.

States cross process boundaries (estimator -> renderers), so each state can turn itself into
named numpy arrays and back (``to_arrays`` / ``from_arrays``) for the wire format; no pickle.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar, runtime_checkable

import numpy as np

from pipeline.cameras import Camera

__all__ = ["AvatarBackend", "FaceObservation", "RenderedViews", "SceneState", "SourceState"]

#: Side of the aligned face crop the models see.
CROP_SIZE = 512


@dataclass
class FaceObservation:
    """What the tracker saw of one face in one image (a source photo or a driver frame).

    Attributes:
        crop_rgb_u8: ``512 x 512 x 3`` uint8 RGB, aligned as the model expects (spec section
            10), background matted to black; ``0 x 0 x 3`` from a tracker asked for landmarks
            and pose only (``TrackerConfig(crop=False)``: a driver of the mesh avatar).
        matte: ``512 x 512`` float32 in [0, 1] (1 = person), the matte applied to the crop
            (``0 x 0`` with an empty crop).
        camera: head-pose camera in the EG3D convention for the crop (``width = height = 512``).
        landmarks_px: ``478 x 3`` float32 FaceMesh landmarks in crop pixels (x right, y down;
            z in the same pixel scale, negative towards the camera as MediaPipe reports it).
        crop_from_frame: ``3 x 3`` float64 matrix mapping homogeneous frame pixels to crop
            pixels (its inverse pastes a crop back into the frame).
        frame_size: ``(width, height)`` of the image the face was found in.
        timestamp_ns: capture time, ``time.monotonic_ns()`` clock (0 for still photos).
        seq: frame number within its stream (0 for still photos).
        tracked: False when the tracker lost the face and this observation holds the last
            good pose (see ``pipeline.tracking``).
        extras: backend- or tracker-specific optional data (e.g. a quality report).
    """

    crop_rgb_u8: np.ndarray
    matte: np.ndarray
    camera: Camera
    landmarks_px: np.ndarray
    crop_from_frame: np.ndarray = field(default_factory=lambda: np.eye(3))
    frame_size: tuple[int, int] = (CROP_SIZE, CROP_SIZE)
    timestamp_ns: int = 0
    seq: int = 0
    tracked: bool = True
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.crop_rgb_u8.dtype != np.uint8 or self.crop_rgb_u8.ndim != 3 or self.crop_rgb_u8.shape[2] != 3:
            raise ValueError(
                f"FaceObservation.crop_rgb_u8 must be H x W x 3 uint8, got {self.crop_rgb_u8.shape} "
                f"{self.crop_rgb_u8.dtype}"
            )
        if self.matte.shape != self.crop_rgb_u8.shape[:2]:
            raise ValueError(
                f"matte shape {self.matte.shape} does not match crop {self.crop_rgb_u8.shape[:2]}"
            )
        if self.landmarks_px.ndim != 2 or self.landmarks_px.shape[1] not in (2, 3):
            raise ValueError(f"landmarks_px must be N x 2 or N x 3, got {self.landmarks_px.shape}")


@dataclass
class RenderedViews:
    """A batch of rendered views.

    Attributes:
        rgb_u8: ``N x H x W x 3`` uint8 RGB, black background (display-ready).
        view_ids: the sweep index of each view (view 0 = left-most).
        depth: optional ``N x H x W`` float32 distance along the ray (inf/0 where empty).
        alpha: optional ``N x H x W`` float32 coverage in [0, 1].
    """

    rgb_u8: np.ndarray
    view_ids: Sequence[int]
    depth: np.ndarray | None = None
    alpha: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.rgb_u8.dtype != np.uint8 or self.rgb_u8.ndim != 4 or self.rgb_u8.shape[3] != 3:
            raise ValueError(f"RenderedViews.rgb_u8 must be N x H x W x 3 uint8, got {self.rgb_u8.shape}")
        if len(self.view_ids) != self.rgb_u8.shape[0]:
            raise ValueError(f"{len(self.view_ids)} view ids for {self.rgb_u8.shape[0]} views")


@runtime_checkable
class SourceState(Protocol):
    """Everything a backend keeps about the source photo for a whole call.

    ``key`` identifies the source in every process: scenes name it, and a renderer adopts
    (fetches and uploads) a source once per key.
    """

    key: str

    def to_arrays(self) -> Mapping[str, np.ndarray]: ...


@runtime_checkable
class SceneState(Protocol):
    """What one driver frame produced: enough for any renderer to draw any camera."""

    seq: int
    timestamp_ns: int
    camera: Camera

    def to_arrays(self) -> Mapping[str, np.ndarray]: ...


SourceT = TypeVar("SourceT", bound=SourceState)
SceneT = TypeVar("SceneT", bound=SceneState)


class AvatarBackend(abc.ABC, Generic[SourceT, SceneT]):
    """The interface both avatars implement (see the module docstring), generic in the
    backend's own source and scene types."""

    #: ``"mesh"`` or ``"neural"``: for messages to the user, never for branching.
    name: ClassVar[str]

    @abc.abstractmethod
    def prepare_source(self, source: FaceObservation) -> SourceT:
        """Everything the avatar keeps about the source photo (once per call)."""

    @abc.abstractmethod
    def has_source(self, key: str | None) -> bool:
        """Whether scenes driven from the source ``key`` can be rendered here without
        :meth:`adopt_source` first (a backend whose scenes are self-contained says True)."""

    @abc.abstractmethod
    def adopt_source(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Make a source prepared in another process (``SourceState.to_arrays()``) renderable
        here. Raises ``pipeline.wire.WireError`` or ``ValueError`` for malformed arrays."""

    @abc.abstractmethod
    def drive(self, source: SourceT, driver: FaceObservation) -> SceneT:
        """The source re-enacted with the driver's expression; ``scene.camera`` is its head pose.
        Raises ``ValueError`` for a driver frame that cannot be used."""

    @abc.abstractmethod
    def scene_from_arrays(self, arrays: Mapping[str, np.ndarray]) -> SceneT:
        """Inverse of ``SceneState.to_arrays()`` (renderer processes)."""

    @abc.abstractmethod
    def render(self, scene: SceneT, cameras: Sequence[Camera], view_ids: Sequence[int]) -> RenderedViews:
        """Draw ``scene`` from every camera in one batch, each at its own ``width x height``."""

    @abc.abstractmethod
    def reset_neutral(self, driver: FaceObservation | None = None, *, absolute: bool = False) -> None:
        """Take ``driver`` as the driver's neutral face (None: the next driven frame), e.g. when
        another person starts driving; ``absolute``: this driver has no neutral frame (a single
        photo), so expressions are read against a neutral face of the backend's own. A backend
        whose expressions are always absolute ignores it."""

    def close(self) -> None:
        """Release GPU / GL resources; the backend is unusable afterwards."""
