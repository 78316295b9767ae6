"""``MeshBackend``: the weight-free avatar behind the :class:`pipeline.avatar.AvatarBackend` interface.

* :meth:`MeshBackend.prepare_source` lifts the source's FaceMesh into the world along the
  source camera's rays, bakes the face texture (occluded parts mirrored) and builds the head
  shell (on the tracker's context crop when there is one, so the hair above the aligned crop
  and the shoulders around it are part of the head).
* :meth:`MeshBackend.drive` frontalises the driver's landmarks, takes their offsets from the
  driver's *neutral* frame (the first frame it sees, or the one set by
  :meth:`MeshBackend.reset_neutral`) and adds them, mapped to the source's size and
  orientation, to the source face; the eyelids close by the driver's eye opening relative
  to its neutral one (:class:`DriveConfig`). The head pose comes from the driver's camera
  (``scene.camera``): render the view sweep around it, as with the neural backend.
* :meth:`MeshBackend.render` draws the scene with a :class:`MeshRenderer`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import moderngl
import numpy as np

from pipeline.avatar import AvatarBackend, FaceObservation, RenderedViews
from pipeline.cameras import Camera
from pipeline.face_model import canonical_face_model
from pipeline.mesh.geometry import (
    close_eyes,
    expression_region_weights,
    eye_openness,
    frontalize,
    lift_landmarks_to_world,
    mouth_opening_ratio,
    similarity_fit,
    validate_landmarks,
)
from pipeline.mesh.renderer import MeshRenderer, RendererConfig
from pipeline.mesh.shell import ShellConfig, build_head_shell
from pipeline.mesh.state import MeshScene, MeshSource
from pipeline.mesh.texture import bake_face_atlas, own_texture_weight

__all__ = ["DriveConfig", "MeshBackend", "MeshBackendConfig"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DriveConfig:
    """How driver expressions are transferred.

    Attributes:
        expression_gain: multiplier on the driver's landmark offsets (0..3; 1 = as measured).
        mouth_interior_start / mouth_interior_full: extra mouth opening (inner-lip gap over
            mouth width, beyond the source photo's own) at which the mouth interior starts to
            show and is fully shown.
        eyes_closed_at / eyes_open_at: the driver's eye opening, as a fraction of its neutral
            face's, at which the source's eyes are drawn closed / no more closed than the
            landmark offsets make them (linear in between). A blink is taken from the
            more closed of the driver's eyes and closes both. FaceMesh never reads a closed
            eye as closed: on renders of fully closed lids it reads 0.41-0.54 of the open
            eye (0.91 for an eye behind glasses), on the bundled driver clip's blinks
            0.67-0.76, and at least 0.87 elsewhere in that clip (turns, smile, open mouth).
    """

    expression_gain: float = 1.0
    mouth_interior_start: float = 0.01
    mouth_interior_full: float = 0.08
    eyes_closed_at: float = 0.72
    eyes_open_at: float = 0.88

    def __post_init__(self) -> None:
        if not 0.0 <= self.expression_gain <= 3.0:
            raise ValueError(f"DriveConfig.expression_gain must be in [0, 3], got {self.expression_gain}")
        if not 0.0 <= self.mouth_interior_start < self.mouth_interior_full:
            raise ValueError("DriveConfig needs 0 <= mouth_interior_start < mouth_interior_full")
        if not 0.0 <= self.eyes_closed_at < self.eyes_open_at <= 1.0:
            raise ValueError("DriveConfig needs 0 <= eyes_closed_at < eyes_open_at <= 1")


@dataclass(frozen=True)
class MeshBackendConfig:
    """Configuration of the mesh avatar.

    Attributes:
        atlas_size_px: side of the face texture in canonical UV layout (64..8192).
        face_depth_gain: factor on FaceMesh's depth when the source's landmarks are lifted
            into the world (0.5..2). FaceMesh under-reads depth: on renders of the canonical
            face at 0 and +-20 deg its z over the interior landmarks is 0.83-0.95 of the true
            depth relative to x (mean 0.90; ``tests/mesh/test_render.py`` measures it), so
            the lifted face would be that much flatter than the person's and turn less.
        shell / drive / renderer: see :class:`ShellConfig`, :class:`DriveConfig`,
            :class:`RendererConfig`.
    """

    atlas_size_px: int = 1024
    face_depth_gain: float = 1.1
    shell: ShellConfig = field(default_factory=ShellConfig)
    drive: DriveConfig = field(default_factory=DriveConfig)
    renderer: RendererConfig = field(default_factory=RendererConfig)

    def __post_init__(self) -> None:
        if not 64 <= self.atlas_size_px <= 8192:
            raise ValueError(f"MeshBackendConfig.atlas_size_px must be in 64..8192, got {self.atlas_size_px}")
        if not 0.5 <= self.face_depth_gain <= 2.0:
            raise ValueError(
                f"MeshBackendConfig.face_depth_gain must be in 0.5..2, got {self.face_depth_gain}"
            )


def _smoothstep(e0: float, e1: float, x: float) -> float:
    t = min(max((x - e0) / (e1 - e0), 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


def _with_context(
    source: FaceObservation, landmarks_px: np.ndarray
) -> tuple[np.ndarray, np.ndarray, Camera, np.ndarray]:
    """The image, matte, camera and landmarks the head shell is built on: the source's context
    crop when the tracker made one (``extras["context_*"]``: the hair above and the shoulders
    around the aligned crop), with the aligned crop and its matte in its middle; else the crop."""
    ctx, ctx_matte, pad = (
        source.extras.get(k) for k in ("context_rgb_u8", "context_matte", "context_pad_px")
    )
    h, w = source.crop_rgb_u8.shape[:2]
    if ctx is None or ctx_matte is None or not isinstance(pad, int) or pad <= 0:
        return source.crop_rgb_u8, np.asarray(source.matte, np.float32), source.camera, landmarks_px
    if ctx.shape != (h + 2 * pad, w + 2 * pad, 3) or ctx_matte.shape != ctx.shape[:2]:
        raise ValueError(f"source context is {ctx.shape}, expected the {w}x{h} crop plus {pad} px a side")
    rgb = np.array(ctx, dtype=np.uint8)
    matte = np.array(ctx_matte, dtype=np.float32)
    rgb[pad : pad + h, pad : pad + w] = source.crop_rgb_u8
    matte[pad : pad + h, pad : pad + w] = source.matte
    cam = source.camera.cropped(-pad, -pad, w + 2 * pad, h + 2 * pad)
    return rgb, matte, cam, landmarks_px + np.array([pad, pad, 0.0])


class MeshBackend(AvatarBackend[MeshSource, MeshScene]):
    """The ``mesh`` avatar. Holds the driver's neutral face and (lazily) one renderer."""

    name = "mesh"

    def __init__(
        self,
        config: MeshBackendConfig = MeshBackendConfig(),
        gl_context: Callable[[], moderngl.Context] | None = None,
    ) -> None:
        """``gl_context`` makes the OpenGL context to draw with (created on the first render and
        released by :meth:`close`); by default the renderer makes its own (EGL)."""
        self.config = config
        self._gl_context = gl_context
        self._renderer: MeshRenderer | None = None
        self._sources: dict[str, MeshSource] = {}
        self._driver_neutral_cm: np.ndarray | None = None
        self._absolute = False
        self._last_offsets_cm: np.ndarray | None = None

    # -- source -------------------------------------------------------------------------
    def prepare_source(self, source: FaceObservation) -> MeshSource:
        """Build the textured head of the source photo."""
        crop = source.crop_rgb_u8
        lm = validate_landmarks(source.landmarks_px, "source photo")
        if crop.shape[:2] != (source.camera.height, source.camera.width):
            raise ValueError(
                f"source crop is {crop.shape[1]}x{crop.shape[0]} but its camera is "
                f"{source.camera.width}x{source.camera.height}"
            )
        face_world = lift_landmarks_to_world(lm, source.camera, self.config.face_depth_gain)
        frontal, _ = frontalize(lm)
        to_world = similarity_fit(frontal, face_world)
        weight = own_texture_weight(face_world, source.camera)
        atlas = bake_face_atlas(crop, lm, weight, self.config.atlas_size_px)
        shell_rgb, shell_matte, shell_cam, shell_lm = _with_context(source, lm)
        shell = build_head_shell(shell_matte, shell_lm, face_world, shell_cam, self.config.shell)
        src = MeshSource(
            camera=shell_cam,
            crop_rgb_u8=np.ascontiguousarray(shell_rgb),
            atlas_rgb_u8=atlas,
            face_world=face_world,
            face_frontal_cm=frontal,
            frontal_to_world=to_world,
            shell=shell,
            mouth_open_ratio=mouth_opening_ratio(frontal),
            crop_matte_u8=np.clip(np.rint(shell_matte * 255.0), 0, 255).astype(np.uint8),
        )
        self._sources = {src.key: src}
        return src

    def load_source(self, source: MeshSource) -> None:
        """Make a source received from another process available to :meth:`render`."""
        self._sources = {source.key: source}

    def has_source(self, key: str | None) -> bool:
        return key is not None and key in self._sources

    def adopt_source(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.load_source(MeshSource.from_arrays(arrays))

    def scene_from_arrays(self, arrays: Mapping[str, np.ndarray]) -> MeshScene:
        return MeshScene.from_arrays(arrays)

    # -- driving ------------------------------------------------------------------------
    def reset_neutral(self, driver: FaceObservation | None = None, *, absolute: bool = False) -> None:
        """Use ``driver`` as the neutral face (None: the next driven frame becomes neutral).

        ``absolute``: the driver has no neutral frame (one photo). Its expression is then read
        against MediaPipe's canonical face, which is neutral (mouth closed, eyes open), and only
        around the mouth, the eyes and the brows, so that the driver's face shape, which the
        canonical face does not share, does not reshape the source.
        """
        if absolute:
            self._driver_neutral_cm = canonical_face_model().vertices_cm.astype(np.float64)
        else:
            self._driver_neutral_cm = None if driver is None else frontalize(driver.landmarks_px)[0]
        self._absolute = absolute
        self._last_offsets_cm = None

    def drive(self, source: MeshSource, driver: FaceObservation) -> MeshScene:
        """Re-enact ``source`` with the driver's expression; the pose is ``driver.camera``."""
        held = False
        try:
            if not driver.tracked:
                raise ValueError("the tracker lost the driver's face in this frame")
            frontal_d, _ = frontalize(driver.landmarks_px)
            if self._driver_neutral_cm is None:
                self._driver_neutral_cm = frontal_d
            offsets = self._expression_offsets(source, frontal_d, self._driver_neutral_cm)
            self._last_offsets_cm = offsets
        except ValueError as e:
            if self._last_offsets_cm is None:
                raise ValueError(f"mesh avatar: cannot drive from frame {driver.seq}: {e}") from e
            log.warning("mesh avatar: frame %d unusable (%s); keeping the previous expression", driver.seq, e)
            offsets, held = self._last_offsets_cm, True
        face_world = source.face_world + offsets @ source.frontal_to_world.linear.T
        extra = mouth_opening_ratio(source.face_frontal_cm + offsets) - source.mouth_open_ratio
        d = self.config.drive
        interior = _smoothstep(d.mouth_interior_start, d.mouth_interior_full, extra)
        return MeshScene(
            seq=driver.seq,
            timestamp_ns=driver.timestamp_ns,
            camera=driver.camera,
            face_world=face_world,
            mouth_interior=interior,
            source_key=source.key,
            expression_held=held,
        )

    def _expression_offsets(
        self, source: MeshSource, frontal_d: np.ndarray, neutral_d: np.ndarray
    ) -> np.ndarray:
        """Offsets (468 x 3, frontal frame, cm) that give ``source`` the driver's expression.

        The driver's landmark offsets from its neutral face, then the eyelids closed by the
        driver's eye opening relative to its neutral one (offsets alone cannot close a source
        whose eyes open wider than the driver's, and FaceMesh under-reads a blink).
        """
        d = self.config.drive
        offsets = (frontal_d - neutral_d) * d.expression_gain
        if self._absolute:
            offsets = offsets * expression_region_weights()[:, None]
        ratio = eye_openness(frontal_d) / np.maximum(eye_openness(neutral_d), 1e-6)
        k = (float(ratio.min()) - d.eyes_closed_at) / (d.eyes_open_at - d.eyes_closed_at)
        if k < 1.0:
            driven = close_eyes(source.face_frontal_cm + offsets, source.face_frontal_cm, k)
            offsets = driven - source.face_frontal_cm
        return offsets

    # -- rendering ----------------------------------------------------------------------
    def render(
        self, scene: MeshScene, cameras: Sequence[Camera], view_ids: Sequence[int] | None = None
    ) -> RenderedViews:
        """Draw ``scene`` for every camera (one batch)."""
        if self._renderer is None:
            if self._gl_context is None:
                self._renderer = MeshRenderer(self.config.renderer)
            else:
                self._renderer = MeshRenderer(self.config.renderer, ctx=self._gl_context(), owns_ctx=True)
        if self._renderer.source_key != scene.source_key:
            src = self._sources.get(scene.source_key)
            if src is None:
                raise ValueError(
                    "MeshBackend.render: unknown source for this scene; call prepare_source or "
                    "load_source with the scene's source first"
                )
            self._renderer.load_source(src)
        return self._renderer.render(scene, cameras, view_ids)

    def close(self) -> None:
        """Release the renderer's GL resources."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
