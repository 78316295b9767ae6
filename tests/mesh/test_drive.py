"""Driving the mesh avatar: expression offsets from the driver, pose from its camera, bad frames."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from conftest import PhotoTracker, save_png

from pipeline.avatar import FaceObservation
from pipeline.cameras import view_sweep
from pipeline.mesh.backend import MeshBackend
from pipeline.mesh.geometry import frontalize, mouth_opening_ratio

pytestmark = pytest.mark.gl


def with_open_mouth(obs: FaceObservation, drop_cm: float = 1.6) -> FaceObservation:
    """The same driver frame with the jaw dropped by ``drop_cm`` (landmarks edited in the frontal frame).

    No open-mouth photo ships with the project, so the open-mouth driver is made from a real
    FaceMesh of a real photo: everything from the lower lip down moves down, fading out
    towards the ears; the result is mapped back to crop pixels with the face's own fit.
    """
    frontal, fit = frontalize(obs.landmarks_px)
    y_lip = frontal[14, 1]
    below = np.clip((frontal[13, 1] - frontal[:, 1]) / max(frontal[13, 1] - y_lip, 1e-6), 0.0, 1.0)
    sideways = np.clip(1.0 - np.abs(frontal[:, 0]) / 8.0, 0.0, 1.0)
    moved = frontal.copy()
    moved[:, 1] -= drop_cm * below * sideways
    lm = np.array(obs.landmarks_px, dtype=np.float32).copy()
    lm[:468] = fit.apply(moved)
    return dataclasses.replace(obs, landmarks_px=lm, seq=obs.seq + 1)


def measured_mouth_ratio(tracker: PhotoTracker, img: np.ndarray) -> float:
    seen = tracker.observe(img)
    assert seen is not None, "the tracker found no face in the render"
    return mouth_opening_ratio(frontalize(seen.landmarks_px)[0])


def test_open_mouth_driver_opens_the_source_mouth(
    astronaut_obs: FaceObservation, hopper_obs: FaceObservation, tracker: PhotoTracker, out_dir: Path
) -> None:
    be = MeshBackend()
    try:
        src = be.prepare_source(hopper_obs)
        be.reset_neutral(astronaut_obs)
        neutral = be.drive(src, astronaut_obs)
        opened = be.drive(src, with_open_mouth(astronaut_obs))
        assert neutral.mouth_interior == 0.0 and opened.mouth_interior > 0.9
        # Render both through the source's own camera so only the expression differs.
        cam = hopper_obs.camera
        imgs = be.render(neutral, [cam]).rgb_u8[0], be.render(opened, [cam]).rgb_u8[0]
        save_png(out_dir / "drive_open_mouth.png", np.concatenate([hopper_obs.crop_rgb_u8, *imgs], axis=1))
        r_closed, r_open = (measured_mouth_ratio(tracker, im) for im in imgs)
        assert r_open > r_closed + 0.15, (r_closed, r_open)
        # The opening is filled (the mouth interior), not a hole onto the black background.
        lips = cam.project(opened.face_world[[13, 14]])
        mid = np.round(lips.mean(axis=0)).astype(int)
        patch = imgs[1][mid[1] - 2 : mid[1] + 3, mid[0] - 2 : mid[0] + 3].reshape(-1, 3)
        assert np.all(patch.max(axis=1) > 10) and patch.mean() < 80, patch.mean(axis=0)
        # Upper teeth show just under the upper lip, brighter than the cavity.
        upper, lower = lips
        tx, ty = np.round(upper + 0.15 * (lower - upper)).astype(int)
        teeth = imgs[1][ty - 1 : ty + 2, tx - 2 : tx + 3].reshape(-1, 3).astype(float)
        assert teeth.mean() > 120 and teeth.mean() > 2 * patch.mean(), (
            teeth.mean(axis=0),
            patch.mean(axis=0),
        )
    finally:
        be.close()


def test_identity_drive_and_pose_from_the_driver_camera(
    astronaut_obs: FaceObservation, tracker: PhotoTracker
) -> None:
    be = MeshBackend()
    try:
        src = be.prepare_source(astronaut_obs)
        scene = be.drive(src, astronaut_obs)
        np.testing.assert_allclose(scene.face_world, src.face_world, atol=1e-6)
        assert scene.mouth_interior == 0.0 and scene.camera is astronaut_obs.camera
        # The driver turns its head: the scene's camera is the driver's, the avatar turns.
        turned_cam = view_sweep(astronaut_obs.camera, 2, 40.0, mode="orbit")[1]
        turned = be.drive(src, dataclasses.replace(astronaut_obs, camera=turned_cam, seq=5))
        assert turned.seq == 5 and turned.camera is turned_cam
        imgs = be.render(turned, [scene.camera, turned.camera]).rgb_u8
        yaws = []
        for im in imgs:
            seen = tracker.observe(im)
            assert seen is not None
            yaws.append(seen.camera.yaw_pitch_roll_deg()[0])
        assert yaws[1] > yaws[0] + 10.0, yaws
    finally:
        be.close()


def test_bad_driver_frames_do_not_stop_the_stream(astronaut_obs: FaceObservation) -> None:
    be = MeshBackend()
    src = be.prepare_source(astronaut_obs)
    nan_lm = np.array(astronaut_obs.landmarks_px, copy=True)
    nan_lm[10] = np.nan
    bad = dataclasses.replace(astronaut_obs, landmarks_px=nan_lm, seq=3)
    with pytest.raises(ValueError, match="cannot drive from frame 3.*NaN"):
        be.drive(src, bad)  # nothing to fall back on yet: a clear error
    opened = be.drive(src, astronaut_obs)  # neutral
    opened = be.drive(src, with_open_mouth(astronaut_obs))
    held = be.drive(src, bad)
    assert held.expression_held and held.seq == 3
    np.testing.assert_array_equal(held.face_world, opened.face_world)
    lost = be.drive(src, dataclasses.replace(astronaut_obs, tracked=False, seq=4))
    assert lost.expression_held
