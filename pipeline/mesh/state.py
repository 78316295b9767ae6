"""States of the mesh avatar and their named-array form (``to_arrays`` / ``from_arrays``, no pickle).

:class:`MeshSource` is sent once to every renderer (textures, static geometry);
:class:`MeshScene` is the small per-frame part (driven face vertices + camera).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from pipeline.cameras import Camera
from pipeline.face_model import NUM_MESH_VERTICES
from pipeline.mesh.geometry import Similarity
from pipeline.mesh.shell import HeadShell, ShellLevel
from pipeline.messages import camera_from_arrays, camera_to_arrays

__all__ = ["MeshScene", "MeshSource"]

_KEY_LEN = 40


def _need(arrays: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    try:
        return np.asarray(arrays[name])
    except KeyError as e:
        raise ValueError(f"mesh state: array {name!r} is missing") from e


def _key_to_array(key: str) -> np.ndarray:
    return np.frombuffer(key.encode("ascii"), dtype=np.uint8).copy()


def _key_from_array(a: np.ndarray) -> str:
    key = bytes(np.asarray(a, dtype=np.uint8)).decode("ascii", errors="replace")
    if len(key) != _KEY_LEN:
        raise ValueError(f"mesh state: source key must be {_KEY_LEN} characters, got {len(key)}")
    return key


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
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> MeshSource:
        tolerances = [float(p) for p in np.asarray(arrays.get("shell_simplify_px", [0.0])).reshape(-1)]
        shell = HeadShell(
            vertices_world=_need(arrays, "shell_vertices_world").astype(np.float32),
            texcoords=_need(arrays, "shell_texcoords").astype(np.float32),
            triangles=_need(arrays, "shell_triangles").astype(np.int32),
            simplify_px=tolerances[0],
            coarser=tuple(
                ShellLevel(p, _need(arrays, f"shell_triangles_{i}").astype(np.int32))
                for i, p in enumerate(tolerances[1:], 1)
            ),
        )
        return cls(
            camera=camera_from_arrays(arrays),
            crop_rgb_u8=_need(arrays, "crop_rgb_u8"),
            atlas_rgb_u8=_need(arrays, "atlas_rgb_u8"),
            face_world=_need(arrays, "face_world").astype(np.float64),
            face_frontal_cm=_need(arrays, "face_frontal_cm").astype(np.float64),
            frontal_to_world=Similarity.from_matrix(_need(arrays, "frontal_to_world")),
            shell=shell,
            mouth_open_ratio=float(_need(arrays, "mouth_open_ratio").reshape(-1)[0]),
            crop_matte_u8=_need(arrays, "crop_matte_u8"),
        )


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
        return cls(
            seq=int(_need(arrays, "seq").reshape(-1)[0]),
            timestamp_ns=int(_need(arrays, "timestamp_ns").reshape(-1)[0]),
            camera=camera_from_arrays(arrays),
            face_world=_need(arrays, "face_world"),
            mouth_interior=float(_need(arrays, "mouth_interior").reshape(-1)[0]),
            source_key=_key_from_array(_need(arrays, "source_key")),
            expression_held=bool(_need(arrays, "expression_held").reshape(-1)[0]),
        )
