"""The re-enactment stages every front end shares (live call, offline render, preview, calls).

The live pipeline runs these stages in separate processes (capture: :func:`track_frame`,
estimator: :meth:`Stages.drive`, renderers: :meth:`Stages.render_views`); the offline renderer
and the preview run them in one process through :class:`Reenactor`. There is no second
implementation of any stage.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pipeline.avatar import AvatarBackend, FaceObservation, RenderedViews, SceneState, SourceState
from pipeline.cameras import DEFAULT_VIEW_CONE_DEG, Camera, SweepMode, view_sweep

__all__ = [
    "BackendName",
    "Reenactor",
    "ReenactSettings",
    "create_backend",
    "scene_from_arrays",
    "source_from_arrays",
    "sweep_cameras",
]

log = logging.getLogger(__name__)

BackendName = Literal["mesh", "neural"]


@dataclass(frozen=True)
class ReenactSettings:
    """How views are drawn.

    Attributes:
        num_views: views in the whole sweep (view 0 = left-most).
        view_size: rendered size of each view in pixels (square).
        sweep: ``offaxis`` (Looking Glass rig, default) or ``orbit``.
        view_cone_deg: angle spanned by the sweep.
    """

    num_views: int = 24
    view_size: int = 512
    sweep: SweepMode = "offaxis"
    view_cone_deg: float = DEFAULT_VIEW_CONE_DEG

    def __post_init__(self) -> None:
        if self.num_views < 1:
            raise ValueError(f"num_views must be >= 1, got {self.num_views}")
        if not 16 <= self.view_size <= 2048:
            raise ValueError(f"view_size must be 16..2048 pixels, got {self.view_size}")
        if self.sweep not in ("offaxis", "orbit"):
            raise ValueError(f"sweep must be 'offaxis' or 'orbit', got {self.sweep!r}")


def create_backend(
    name: BackendName,
    *,
    weights: str | Path | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    progress: bool = True,
) -> AvatarBackend:
    """Build a backend by name. The neural one needs ``weights`` (raises CheckpointError)."""
    if name == "mesh":
        from pipeline.mesh.backend import MeshBackend

        return MeshBackend()
    if name == "neural":
        if weights is None:
            raise ValueError("the neural backend needs a weights file (voodoo3d.pth)")
        if device.startswith("cuda"):
            # TensorRT engines built beforehand ('voodoo-holo export trt') are used when present;
            # anything missing runs in PyTorch, the reference path.
            from pipeline.accel.backend import AccelConfig, load_accelerated_backend

            backend, _ = load_accelerated_backend(
                weights, device=device, config=AccelConfig(build_missing=False)
            )
            return backend
        from pipeline.voodoo.backend import load_backend

        return load_backend(weights, device=device, dtype=dtype, progress=progress)  # type: ignore[arg-type]
    raise ValueError(f"unknown backend {name!r} (mesh or neural)")


def source_from_arrays(backend: AvatarBackend, arrays: Mapping[str, np.ndarray]) -> None:
    """Give a renderer process the source it needs (mesh: texture + geometry; neural: nothing)."""
    if backend.name == "mesh":
        from pipeline.mesh.state import MeshSource

        backend.load_source(MeshSource.from_arrays(arrays))  # type: ignore[attr-defined]


def scene_from_arrays(backend: AvatarBackend, arrays: Mapping[str, np.ndarray]) -> SceneState:
    if backend.name == "mesh":
        from pipeline.mesh.state import MeshScene

        return MeshScene.from_arrays(arrays)
    from pipeline.voodoo.backend import NeuralScene

    return NeuralScene.from_arrays(arrays)


def scene_source_key(arrays: Mapping[str, np.ndarray]) -> str | None:
    """The source a mesh scene was driven from (None for neural scenes, which need none)."""
    key = arrays.get("source_key")
    return None if key is None else bytes(np.asarray(key, dtype=np.uint8)).decode("ascii", "replace")


def sweep_cameras(
    base: Camera, settings: ReenactSettings, views: Sequence[int] | None = None
) -> list[Camera]:
    """The cameras of ``views`` (default all) around the driver's head-pose camera."""
    return view_sweep(
        base.with_size(settings.view_size),
        num_views=settings.num_views,
        view_cone_deg=settings.view_cone_deg,
        mode=settings.sweep,
        views=views,
    )


class Reenactor:
    """All stages in one process: photo -> source; driver frame -> scene -> views.

    Frames where the tracker finds no face keep the last scene (``held`` counts them); a
    driver that never shows a face raises ``NoDriverFaceError`` from :meth:`step` callers'
    point of view via ``None`` results.
    """

    def __init__(self, backend: AvatarBackend, settings: ReenactSettings) -> None:
        self.backend = backend
        self.settings = settings
        self.source: SourceState | None = None
        self.source_face: FaceObservation | None = None
        self.last_scene: SceneState | None = None
        self.frames_without_face = 0
        self._tracker: Any = None

    def set_source(self, photo: str | Path | np.ndarray | FaceObservation) -> FaceObservation:
        """Pre-process the source photo (if needed) and prepare the avatar's source state."""
        if isinstance(photo, FaceObservation):
            face = photo
        else:
            from pipeline.tracking import prepare_photo

            face = prepare_photo(photo)
        self.source = self.backend.prepare_source(face)
        self.source_face = face
        self.last_scene = None
        return face

    def track(self, frame_rgb_u8: np.ndarray, t_ns: int) -> FaceObservation | None:
        """Track one driver frame (video mode, smoothed)."""
        if self._tracker is None:
            from pipeline.tracking import StreamTracker

            self._tracker = StreamTracker()
        return self._tracker.track(frame_rgb_u8, t_ns)

    def drive(self, driver: FaceObservation | None) -> SceneState | None:
        """A new scene from a tracked frame, or the last scene when there is no face."""
        if self.source is None:
            raise RuntimeError("Reenactor.drive: call set_source first")
        if driver is None:
            self.frames_without_face += 1
            return self.last_scene
        if not driver.tracked:
            self.frames_without_face += 1
        try:
            self.last_scene = self.backend.drive(self.source, driver)
        except ValueError as e:
            # An unusable frame (e.g. no expression yet): keep the previous scene.
            log.warning("driver frame %d skipped: %s", driver.seq, e)
            self.frames_without_face += 1
        return self.last_scene

    def render(self, scene: SceneState, views: Sequence[int] | None = None) -> RenderedViews:
        ids = list(range(self.settings.num_views)) if views is None else list(views)
        cams = sweep_cameras(scene.camera, self.settings, ids)
        out = self.backend.render(scene, cams, ids)  # type: ignore[call-arg]
        return out

    def step(
        self, frame_rgb_u8: np.ndarray, t_ns: int, views: Sequence[int] | None = None
    ) -> RenderedViews | None:
        """Track + drive + render one driver frame; None until a first face has been seen."""
        scene = self.drive(self.track(frame_rgb_u8, t_ns))
        return None if scene is None else self.render(scene, views)

    def close(self) -> None:
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()
