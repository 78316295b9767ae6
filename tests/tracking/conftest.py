"""Fixtures for the tracking tests: public-domain portraits and a small software rasteriser.

- ``grace_rgb``: Grace Hopper (matplotlib sample data, US Navy photo, 512 x 600).
- ``astronaut_rgb``: Eileen Collins (scikit-image, NASA, 512 x 512).
- ``render_face``: renders MediaPipe's canonical face, textured with a real face by a
  piecewise-affine warp of the photo's FaceMesh triangles, at a known camera. Painter's
  algorithm (far triangles first, back faces culled) with ``cv2.fillConvexPoly`` masks.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from pipeline.cameras import POSE_ESTIMATOR_FOCAL, Camera, look_at_cam2world, normalized_intrinsics
from pipeline.face_model import canonical_face_model


@pytest.fixture(scope="session")
def grace_rgb() -> np.ndarray:
    from matplotlib import cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
        return np.ascontiguousarray(np.asarray(im.convert("RGB")))


@pytest.fixture(scope="session")
def astronaut_rgb() -> np.ndarray:
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut())


@pytest.fixture(scope="session")
def photo_pre():
    """One photo pre-processor shared by the session (MediaPipe graphs are slow to open)."""
    from pipeline.tracking import PhotoPreprocessor

    pp = PhotoPreprocessor()
    yield pp
    pp.close()


@pytest.fixture(scope="session")
def grace_obs(photo_pre, grace_rgb):
    return photo_pre.prepare(grace_rgb, name="grace")


def _rasterise(
    texture_rgb: np.ndarray,
    texture_px: np.ndarray,
    camera: Camera,
    vertices: np.ndarray,
    background: tuple[int, int, int] = (96, 104, 112),
) -> np.ndarray:
    model = canonical_face_model()
    tris = model.triangles
    out = np.empty((camera.height, camera.width, 3), np.uint8)
    out[:] = background
    proj = camera.project(vertices)
    depth = (camera.world2cam[:3, :3] @ vertices.T).T[:, 2] + camera.world2cam[2, 3]
    order = np.argsort(-depth[tris].mean(axis=1))  # far first
    h, w = out.shape[:2]
    for ti in order:
        tri = tris[ti]
        dst = proj[tri].astype(np.float32)
        e1, e2 = dst[1] - dst[0], dst[2] - dst[0]
        if e1[0] * e2[1] - e1[1] * e2[0] >= 0:  # back-facing (the mesh is CCW seen from the front)
            continue
        src = texture_px[tri, :2].astype(np.float32)
        x0, y0 = np.floor(dst.min(axis=0)).astype(int)
        x1, y1 = np.ceil(dst.max(axis=0)).astype(int) + 1
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 <= x0 or y1 <= y0:
            continue
        a = cv2.getAffineTransform(src - 0.5, dst - np.array([x0, y0], np.float32) - 0.5)
        patch = cv2.warpAffine(
            texture_rgb, a, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(mask, np.round((dst - [x0, y0]) * 16).astype(np.int32), 1, cv2.LINE_AA, 4)
        region = out[y0:y1, x0:x1]
        region[mask > 0] = patch[mask > 0]
    return out


@pytest.fixture(scope="session")
def render_face(photo_pre, astronaut_rgb) -> Callable[[float, float], tuple[np.ndarray, Camera]]:
    """``render(yaw_deg, pitch_deg) -> (image 512 x 512 RGB, ground-truth camera)``.

    The canonical face (its vertices in BFM units, the frame of the pose fit), textured with
    the astronaut's face (upscaled x2), is seen from a camera at 10 BFM units from the BFM
    origin (the distance of the official pose convention) at the given yaw/pitch, looking at
    the origin; focal POSE_ESTIMATOR_FOCAL.
    """
    from pipeline.tracking.pose import head_model

    verts = head_model().vertices_bfm
    texture = cv2.resize(astronaut_rgb, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    tex_px = photo_pre.prepare(texture, name="astronaut").extras["landmarks_frame_px"]

    def render(yaw_deg: float, pitch_deg: float) -> tuple[np.ndarray, Camera]:
        y, p = math.radians(yaw_deg), math.radians(pitch_deg)
        d = 10.0
        origin = d * np.array([math.sin(y) * math.cos(p), math.sin(p), math.cos(y) * math.cos(p)])
        cam = Camera(
            look_at_cam2world(origin, (0.0, 0.0, 0.0)), normalized_intrinsics(POSE_ESTIMATOR_FOCAL), 512, 512
        )
        return _rasterise(texture, tex_px, cam, verts), cam

    return render
