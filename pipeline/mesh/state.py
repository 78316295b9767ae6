"""States of the mesh avatar and their named-array form (``to_arrays`` / ``from_arrays``, no pickle).

:class:`MeshSource` is sent once to every renderer (textures, static geometry);
:class:`MeshScene` is the small per-frame part (driven face vertices + camera).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from pipeline.cameras import Camera
from pipeline.face_model import NUM_MESH_VERTICES
from pipeline.mesh.geometry import Similarity
from pipeline.mesh.shell import HeadShell, ShellLevel
from pipeline.messages import MAX_ABS_COORD, array_field, camera_from_arrays, camera_to_arrays, scalar_field
from pipeline.wire import INT64_MAX, WireError

__all__ = ["MeshScene", "MeshSource"]

_KEY_LEN = 40
#: Most shell vertices / triangles a source may carry.
_MAX_SHELL = 1 << 20
_T = TypeVar("_T")


def _key_to_array(key: str) -> np.ndarray:
    return np.frombuffer(key.encode("ascii"), dtype=np.uint8).copy()


def _key_from_array(arrays: Mapping[str, np.ndarray], what: str) -> str:
    a = array_field(arrays, "source_key", (_KEY_LEN,), "u", what=what)
    if a.dtype != np.uint8 or int(a.max()) > 127:
        raise WireError("bad_array", f"{what}: 'source_key' must be {_KEY_LEN} ASCII bytes")
    return bytes(a).decode("ascii")


def _built(what: str, make: Callable[[], _T]) -> _T:
    """``make()``, its ValueError (the dataclass's own checks) turned into a WireError."""
    try:
        return make()
    except ValueError as e:
        raise WireError("bad_payload", f"{what}: {e}") from e


@dataclass
class MeshSource:
    """Everything the mesh avatar keeps about the source photo.

    Attributes:
        camera: the source's head-pose camera (the crop was seen through it).
        crop_rgb_u8: ``H x W x 3`` the aligned, matted source crop (texture of the shell).
        atlas_rgb_u8: ``A x A x 3`` the face texture in canonical UV layout.
        crop_matte_u8: ``H x W`` the source matte (255 = person). The renderer draws a
            surface point only where the matte at its position in the source crop is at least
            one half.
        face_world: ``468 x 3`` the source's face mesh in world units.
        face_frontal_cm: ``468 x 3`` the same face in the frontal (canonical) frame.
        frontal_to_world: similarity from the frontal frame to the world.
        shell: the head shell behind the face.
        mouth_open_ratio: inner-lip gap over mouth width in the source photo.
    """

    camera: Camera
    crop_rgb_u8: np.ndarray
    atlas_rgb_u8: np.ndarray
    face_world: np.ndarray
    face_frontal_cm: np.ndarray
    frontal_to_world: Similarity
    shell: HeadShell
    mouth_open_ratio: float
    crop_matte_u8: np.ndarray
    key: str = field(init=False)

    def __post_init__(self) -> None:
        for name in ("crop_rgb_u8", "atlas_rgb_u8"):
            a = getattr(self, name)
            if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
                raise ValueError(f"MeshSource.{name} must be H x W x 3 uint8, got {a.shape} {a.dtype}")
        m = self.crop_matte_u8
        if m.dtype != np.uint8 or m.shape != self.crop_rgb_u8.shape[:2]:
            raise ValueError(
                f"MeshSource.crop_matte_u8 must be {self.crop_rgb_u8.shape[:2]} uint8, got {m.shape} {m.dtype}"
            )
        for name in ("face_world", "face_frontal_cm"):
            a = getattr(self, name)
            if a.shape != (NUM_MESH_VERTICES, 3) or not np.all(np.isfinite(a)):
                raise ValueError(f"MeshSource.{name} must be finite {NUM_MESH_VERTICES} x 3, got {a.shape}")
        sh = self.shell
        if sh.vertices_world.ndim != 2 or sh.vertices_world.shape[1] != 3:
            raise ValueError(f"shell vertices must be V x 3, got {sh.vertices_world.shape}")
        if sh.texcoords.shape != (len(sh.vertices_world), 2):
            raise ValueError("shell texcoords must be V x 2, one per vertex")
        if sh.triangles.ndim != 2 or sh.triangles.shape[1] != 3:
            raise ValueError(f"shell triangles must be T x 3, got {sh.triangles.shape}")
        for _, tri in sh.levels():
            if tri.ndim != 2 or tri.shape[1] != 3:
                raise ValueError(f"shell triangles must be T x 3, got {tri.shape}")
            if len(tri) and (tri.min() < 0 or tri.max() >= len(sh.vertices_world)):
                raise ValueError("shell triangles index outside the shell's vertices")
        h = hashlib.sha1()
        for a in (
            self.atlas_rgb_u8,
            self.crop_rgb_u8,
            self.crop_matte_u8,
            self.face_world,
            sh.vertices_world,
        ):
            h.update(np.ascontiguousarray(a).tobytes())
        self.key = h.hexdigest()

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            **camera_to_arrays(self.camera),
            "crop_rgb_u8": self.crop_rgb_u8,
            "atlas_rgb_u8": self.atlas_rgb_u8,
            "crop_matte_u8": self.crop_matte_u8,
            "face_world": self.face_world.astype(np.float64),
            "face_frontal_cm": self.face_frontal_cm.astype(np.float64),
            "frontal_to_world": self.frontal_to_world.matrix(),
            "shell_vertices_world": self.shell.vertices_world.astype(np.float32),
            "shell_texcoords": self.shell.texcoords.astype(np.float32),
            "shell_triangles": self.shell.triangles.astype(np.int32),
            "shell_simplify_px": np.array([p for p, _ in self.shell.levels()], dtype=np.float32),
            **{
                f"shell_triangles_{i}": c.triangles.astype(np.int32)
                for i, c in enumerate(self.shell.coarser, 1)
            },
            "mouth_open_ratio": np.array([self.mouth_open_ratio], dtype=np.float64),
            "source_key": _key_to_array(self.key),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> MeshSource:
        """The inverse of :meth:`to_arrays`.

        Raises:
            pipeline.wire.WireError: any missing, misshapen or implausible array.
        """
        what = "mesh source"
        geo: dict[str, Any] = {"what": what, "max_abs": MAX_ABS_COORD}
        vertices = array_field(arrays, "shell_vertices_world", (None, 3), "f", max_dim=_MAX_SHELL, **geo)
        texcoords = array_field(arrays, "shell_texcoords", (len(vertices), 2), "f", **geo)
        triangles = array_field(arrays, "shell_triangles", (None, 3), "iu", max_dim=_MAX_SHELL, **geo)
        crop = array_field(arrays, "crop_rgb_u8", (None, None, 3), "u", what=what)
        atlas = array_field(arrays, "atlas_rgb_u8", (None, None, 3), "u", what=what)
        matte = array_field(arrays, "crop_matte_u8", crop.shape[:2], "u", what=what)
        face_world = array_field(arrays, "face_world", (NUM_MESH_VERTICES, 3), "f", **geo)
        face_frontal = array_field(arrays, "face_frontal_cm", (NUM_MESH_VERTICES, 3), "f", **geo)
        frontal_to_world = array_field(arrays, "frontal_to_world", (4, 4), "f", **geo)
        mouth = scalar_field(arrays, "mouth_open_ratio", "f", what=what, lo=0.0, hi=MAX_ABS_COORD)
        camera = camera_from_arrays(arrays)
        if "shell_simplify_px" in arrays:
            levels = array_field(arrays, "shell_simplify_px", (None,), "f", max_dim=16, what=what, max_abs=1e4)
            tolerances = [float(p) for p in levels.reshape(-1)] or [0.0]
        else:
            tolerances = [0.0]
        shell = HeadShell(
            vertices_world=vertices.astype(np.float32),
            texcoords=texcoords.astype(np.float32),
            triangles=triangles.astype(np.int32),
            simplify_px=tolerances[0],
            coarser=tuple(
                ShellLevel(
                    p,
                    array_field(
                        arrays, f"shell_triangles_{i}", (None, 3), "iu", max_dim=_MAX_SHELL, **geo
                    ).astype(np.int32),
                )
                for i, p in enumerate(tolerances[1:], 1)
            ),
        )
        source = _built(
            what,
            lambda: cls(
                camera=camera,
                crop_rgb_u8=np.asarray(crop),
                atlas_rgb_u8=np.asarray(atlas),
                face_world=face_world.astype(np.float64),
                face_frontal_cm=face_frontal.astype(np.float64),
                frontal_to_world=Similarity.from_matrix(frontal_to_world),
                shell=shell,
                mouth_open_ratio=float(mouth),
                crop_matte_u8=np.asarray(matte),
            ),
        )
        if "source_key" in arrays and _key_from_array(arrays, what) != source.key:
            raise WireError("bad_array", f"{what}: 'source_key' does not match the source's content")
        return source


@dataclass
class MeshScene:
    """One driven frame of the mesh avatar.

    Attributes:
        seq / timestamp_ns: the driver frame this scene derives from.
        camera: the driver's head-pose camera (render the view sweep around it).
        face_world: ``468 x 3`` float32 driven face vertices in world units.
        mouth_interior: 0..1, how much the mouth-opening triangles show the mouth interior
            instead of the source photo's lips.
        source_key: :attr:`MeshSource.key` of the source this scene was driven from.
        expression_held: True when the driver frame was unusable and the previous expression
            was kept (the pose still follows the driver's camera).
    """

    seq: int
    timestamp_ns: int
    camera: Camera
    face_world: np.ndarray
    mouth_interior: float
    source_key: str
    expression_held: bool = False

    def __post_init__(self) -> None:
        fw = np.asarray(self.face_world, dtype=np.float32)
        if fw.shape != (NUM_MESH_VERTICES, 3) or not np.all(np.isfinite(fw)):
            raise ValueError(f"MeshScene.face_world must be finite {NUM_MESH_VERTICES} x 3, got {fw.shape}")
        if not 0.0 <= self.mouth_interior <= 1.0:
            raise ValueError(f"MeshScene.mouth_interior must be in [0, 1], got {self.mouth_interior}")
        if len(self.source_key) != _KEY_LEN:
            raise ValueError("MeshScene.source_key must be a MeshSource.key")
        self.face_world = fw

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            **camera_to_arrays(self.camera),
            "face_world": self.face_world,
            "mouth_interior": np.array([self.mouth_interior], dtype=np.float32),
            "source_key": _key_to_array(self.source_key),
            "seq": np.array([self.seq], dtype=np.int64),
            "timestamp_ns": np.array([self.timestamp_ns], dtype=np.int64),
            "expression_held": np.array([self.expression_held], dtype=np.bool_),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> MeshScene:
        """The inverse of :meth:`to_arrays`.

        Raises:
            pipeline.wire.WireError: any missing, misshapen or implausible array.
        """
        what = "mesh scene"
        face_world = array_field(
            arrays, "face_world", (NUM_MESH_VERTICES, 3), "f", what=what, max_abs=MAX_ABS_COORD
        )
        seq = scalar_field(arrays, "seq", "iu", what=what, lo=0, hi=INT64_MAX)
        timestamp_ns = scalar_field(arrays, "timestamp_ns", "iu", what=what, lo=0, hi=INT64_MAX)
        mouth = scalar_field(arrays, "mouth_interior", "f", what=what, lo=0.0, hi=1.0)
        held = scalar_field(arrays, "expression_held", "b", what=what)
        key = _key_from_array(arrays, what)
        camera = camera_from_arrays(arrays)
        return _built(
            what,
            lambda: cls(
                seq=int(seq),
                timestamp_ns=int(timestamp_ns),
                camera=camera,
                face_world=face_world,
                mouth_interior=float(mouth),
                source_key=key,
                expression_held=bool(held),
            ),
        )
