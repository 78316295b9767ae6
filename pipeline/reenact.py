"""The re-enactment stages every front end shares (live call, offline render, preview, calls).

:class:`ViewSettings` says which views are drawn and :func:`sweep_cameras` makes their cameras;
:func:`create_backend` builds an avatar. The live pipeline runs the stages in separate processes
(tracking in the capture role, ``backend.drive`` in the estimator, ``backend.render`` of
:func:`sweep_cameras` in the renderers); the offline render, calls and the preview run them in
one process through :class:`Reenactor`. There is no second implementation of any stage.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pipeline.avatar import AvatarBackend, FaceObservation, RenderedViews, SceneState, SourceState
from pipeline.cameras import DEFAULT_VIEW_CONE_DEG, Camera, SweepMode, focus_pivot, framed_camera, view_sweep

__all__ = [
    "DEFAULT_VIEW_ASPECT",
    "DEFAULT_VIEW_SIZE",
    "FOCUS_LIMIT_CM",
    "BackendName",
    "Reenactor",
    "ViewSettings",
    "create_backend",
    "sweep_cameras",
    "view_size_px",
]

log = logging.getLogger(__name__)

BackendName = Literal["mesh", "neural"]

#: Width/height of a view when no display says otherwise: the Looking Glass Portrait's 3:4
#: (portrait-shaped heads fill it; 24 views then tile as a near-square 6 x 4 quilt).
DEFAULT_VIEW_ASPECT = 0.75
#: Longer side of a view in pixels when nothing else says (a layout, a command-line flag).
DEFAULT_VIEW_SIZE = 384
#: Farthest the zero-parallax plane may be moved from the eyes, in centimetres (a head is
#: about 22 cm deep, 3 of them in front of the eyes).
FOCUS_LIMIT_CM = 20.0


def view_size_px(long_side_px: int, aspect: float) -> tuple[int, int]:
    """``(width, height)`` of a view whose longer side is ``long_side_px`` at ``aspect`` = w/h;
    the shorter side is rounded to an even number of pixels (video encoders need even sizes).

    >>> view_size_px(384, 0.75), view_size_px(384, 16 / 9), view_size_px(256, 1.0)
    ((288, 384), (384, 216), (256, 256))
    """
    if aspect <= 1.0:
        return min(long_side_px, max(2, 2 * round(long_side_px * aspect / 2))), long_side_px
    return long_side_px, min(long_side_px, max(2, 2 * round(long_side_px / aspect / 2)))


@dataclass(frozen=True)
class ViewSettings:
    """The views every front end draws (live call, calls, offline render, preview).

    Attributes:
        num_views: views in the whole sweep (view 0 = left-most).
        view_size: longer side of each view in pixels.
        aspect: width/height of each view: the display's aspect (a quilt tile).
        sweep: ``offaxis`` (Looking Glass rig, default) or ``orbit``.
        view_cone_deg: angle spanned by the sweep (the display's view cone when it is known).
        focus_cm: where the zero-parallax plane (the display's surface, where the hologram
            is sharpest) crosses the head: 0 = through the eyes, positive = that many
            centimetres towards the viewer (nose tip about +3), negative = into the head.
    """

    num_views: int = 24
    view_size: int = DEFAULT_VIEW_SIZE
    aspect: float = DEFAULT_VIEW_ASPECT
    sweep: SweepMode = "offaxis"
    view_cone_deg: float = DEFAULT_VIEW_CONE_DEG
    focus_cm: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= self.num_views <= 256:
            raise ValueError(f"the number of views must be 1..256, got {self.num_views}")
        if not 16 <= self.view_size <= 2048:
            raise ValueError(f"the view size must be 16..2048 pixels, got {self.view_size}")
        if not (math.isfinite(self.aspect) and 0.2 <= self.aspect <= 5.0):
            raise ValueError(f"the view aspect must be a width/height ratio in 0.2..5, got {self.aspect}")
        if self.sweep not in ("offaxis", "orbit"):
            raise ValueError(f"sweep must be 'offaxis' or 'orbit', got {self.sweep!r}")
        if not (math.isfinite(self.view_cone_deg) and 0.0 <= self.view_cone_deg <= 120.0):
            raise ValueError(f"the view cone must be 0..120 degrees, got {self.view_cone_deg}")
        if not (math.isfinite(self.focus_cm) and -FOCUS_LIMIT_CM <= self.focus_cm <= FOCUS_LIMIT_CM):
            raise ValueError(
                f"the focus must be -{FOCUS_LIMIT_CM:g}..{FOCUS_LIMIT_CM:g} cm from the eyes, got {self.focus_cm}"
            )

    @property
    def width_px(self) -> int:
        return view_size_px(self.view_size, self.aspect)[0]

    @property
    def height_px(self) -> int:
        return view_size_px(self.view_size, self.aspect)[1]

    def with_views(self, num_views: int) -> ViewSettings:
        return dataclasses.replace(self, num_views=num_views)


def create_backend(
    name: BackendName,
    *,
    weights: str | Path | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    progress: bool = True,
    onnx_root: Path | None = None,
    engines_dir: Path | None = None,
    gl_context: Callable[[], Any] | None = None,
) -> AvatarBackend[Any, Any]:
    """Build a backend by name.

    Args:
        name: ``mesh`` or ``neural`` (needs ``weights``; raises CheckpointError for a bad file).
        device / dtype: where and in which precision the neural networks run.
        onnx_root / engines_dir: exported networks and TensorRT engines to use on CUDA when
            present (anything missing runs in PyTorch, the reference path).
        gl_context: makes the OpenGL context the mesh avatar draws with (default: EGL).
    """
    if name == "mesh":
        from pipeline.mesh.backend import MeshBackend

        return MeshBackend(gl_context=gl_context)
    if name == "neural":
        if weights is None:
            raise ValueError("the neural backend needs a weights file (voodoo3d.pth)")
        if device.startswith("cuda") and dtype == "float32":
            from pipeline.accel.backend import AccelConfig, load_accelerated_backend

            config = AccelConfig(onnx_root=onnx_root, engines_dir=engines_dir, build_missing=False)
            backend, _ = load_accelerated_backend(weights, device=device, config=config)
            return backend
        from pipeline.voodoo.backend import load_backend

        return load_backend(weights, device=device, dtype=dtype, progress=progress)  # type: ignore[arg-type]
    raise ValueError(f"unknown backend {name!r} (mesh or neural)")


def sweep_cameras(base: Camera, settings: ViewSettings, views: Sequence[int] | None = None) -> list[Camera]:
    """The cameras of ``views`` (default all) around the driver's head-pose camera ``base``,
    each ``settings.width_px x settings.height_px``.

    The centre camera keeps ``base``'s pose and is framed around the head
    (:func:`pipeline.cameras.framed_camera`: the whole head with headroom and side margins in
    every view); the sweep pivots on the focus point (:func:`pipeline.cameras.focus_pivot`:
    the eyes, moved by ``settings.focus_cm``), whose plane lands on the same pixels in every
    view. Both avatars draw these cameras as they are (the neural one through the enclosing
    square, cropped back).
    """
    s = settings
    centre = framed_camera(
        base, s.width_px, s.height_px, num_views=s.num_views, view_cone_deg=s.view_cone_deg, mode=s.sweep,
        focus_cm=s.focus_cm,
    )  # fmt: skip
    return view_sweep(
        centre, s.num_views, s.view_cone_deg, mode=s.sweep, pivot=focus_pivot(base, s.focus_cm), views=views
    )


class Reenactor:
    """All stages in one process: photo -> source; driver frame -> scene -> views.

    Frames where the tracker finds no face keep the last scene (``held`` counts them); a
    driver that never shows a face raises ``NoDriverFaceError`` from :meth:`step` callers'
    point of view via ``None`` results.
    """

    def __init__(self, backend: AvatarBackend[Any, Any], settings: ViewSettings) -> None:
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
        return self.backend.render(scene, cams, ids)

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
        self.backend.close()
