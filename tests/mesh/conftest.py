"""Fixtures of the mesh-avatar tests: real portraits run through real MediaPipe.

Observations come from the tracker (``pipeline.tracking.PhotoPreprocessor``). Where the tracker
package is not importable, a stand-in builds them the same way in outline: FaceMesh on the
photo, a square crop around the face resized to 512, FaceMesh again on the crop, MediaPipe's
selfie segmentation as the matte, and a head-pose camera from a weighted Procrustes fit of the
canonical face model (orbiting the world origin at the canonical radius).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from mesh_support import REPO_ROOT, PhotoTracker, astronaut_rgb, grace_hopper_rgb

from pipeline.avatar import FaceObservation


@pytest.fixture(scope="session")
def tracker() -> PhotoTracker:
    t = PhotoTracker()
    yield t
    t.close()


@pytest.fixture(scope="session")
def astronaut_obs(tracker: PhotoTracker) -> FaceObservation:
    obs = tracker.observe(astronaut_rgb())
    assert obs is not None, "no face found in the astronaut photo"
    return obs


@pytest.fixture(scope="session")
def hopper_obs(tracker: PhotoTracker) -> FaceObservation:
    obs = tracker.observe(grace_hopper_rgb())
    assert obs is not None, "no face found in the Grace Hopper photo"
    return obs


#: Frames of the bundled driver clip (``assets/samples/make_driver_clip.py``): neutral, the
#: first blink's closed eyes, the open mouth, the second blink.
CLIP_FRAMES = {"neutral": 0, "blink": 27, "open_mouth": 55, "blink2": 102}


@pytest.fixture(scope="session")
def clip_obs(tracker: PhotoTracker) -> dict[str, FaceObservation]:
    """Observations of frames of the bundled driver clip, each tracked on its own."""
    cap = cv2.VideoCapture(str(REPO_ROOT / "assets" / "samples" / "hopper_driver.mp4"))
    frames: dict[int, np.ndarray] = {}
    i = 0
    try:
        while i <= max(CLIP_FRAMES.values()):
            ok, bgr = cap.read()
            if not ok:
                break
            if i in CLIP_FRAMES.values():
                frames[i] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            i += 1
    finally:
        cap.release()
    out = {}
    for name, index in CLIP_FRAMES.items():
        assert index in frames, f"the driver clip has no frame {index}"
        obs = tracker.observe(frames[index])
        assert obs is not None, f"no face in frame {index} of the driver clip"
        out[name] = obs
    return out


@pytest.fixture(scope="session")
def mesh_backend():
    """One backend (one GL context) shared by the GL tests of a session."""
    from pipeline.mesh.backend import MeshBackend

    be = MeshBackend()
    yield be
    be.close()


@pytest.fixture(scope="session")
def out_dir() -> Path:
    """Where the tests save renders to look at (``test-output/mesh`` unless overridden)."""
    d = Path(os.environ.get("VOODOO_HOLO_TEST_OUTPUT", REPO_ROOT / "test-output")) / "mesh"
    d.mkdir(parents=True, exist_ok=True)
    return d
