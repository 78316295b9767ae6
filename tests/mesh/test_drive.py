"""Driving the mesh avatar: expression offsets from the driver, pose from its camera, bad frames."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
from mesh_support import PhotoTracker, save_png

from pipeline.avatar import FaceObservation
from pipeline.cameras import Camera, view_sweep
from pipeline.face_model import canonical_face_model
from pipeline.mesh.backend import DriveConfig, MeshBackend, MeshBackendConfig
from pipeline.mesh.geometry import eye_openness, frontalize, mouth_opening_ratio
from pipeline.mesh.renderer import RendererConfig
from pipeline.mesh.shell import HeadShell

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


def chin_footprint(cam: Camera, face_world: np.ndarray, erode_px: int = 2) -> np.ndarray:
    """Pixels covered by the face mesh below the mouth (what the jaw moves), ``erode_px`` in."""
    px = cam.project(face_world)
    model = canonical_face_model()
    lower = model.vertices_cm[:, 1] < model.vertices_cm[14, 1]  # below the lower inner lip
    mask = np.zeros((cam.height, cam.width), np.uint8)
    for t in model.triangles[lower[model.triangles].all(axis=1)]:
        cv2.fillConvexPoly(mask, np.round((px[t] - 0.5) * 16).astype(np.int32), 1, shift=4)
    return cv2.erode(mask, np.ones((2 * erode_px + 1,) * 2, np.uint8)) > 0


def test_lowered_chin_is_drawn_over_the_head_shell(
    astronaut_obs: FaceObservation, clip_obs: dict[str, FaceObservation], out_dir: Path
) -> None:
    """No streaks of the head shell across the chin when the mouth opens (#18).

    The bundled driver clip opens its mouth; the tracker reads the jaw going down *and back*.
    The shell lies just behind the face and steps back under the jaw, so the lowered chin
    moves into it. Wherever the driven face below the mouth covers a pixel, the render must
    equal the same scene drawn without any shell. Without the renderer's face depth lift (the
    control), shell pixels break through the chin.
    """
    empty = HeadShell(np.zeros((0, 3), np.float32), np.zeros((0, 2), np.float32), np.zeros((0, 3), np.int32))
    streaks = {}
    for lift in (RendererConfig().face_depth_lift_world, 0.0):
        be = MeshBackend(MeshBackendConfig(renderer=RendererConfig(face_depth_lift_world=lift)))
        try:
            src = be.prepare_source(astronaut_obs)
            be.reset_neutral(clip_obs["neutral"])
            scene = be.drive(src, dataclasses.replace(clip_obs["open_mouth"], camera=src.camera))
            assert scene.mouth_interior > 0.9
            cams = [src.camera] + [c.with_size(384) for c in view_sweep(src.camera, 24)[::23]]
            with_shell = [be.render(scene, [c]).rgb_u8[0] for c in cams]
            bare = dataclasses.replace(src, shell=empty)
            be.load_source(bare)
            bare_scene = dataclasses.replace(scene, source_key=bare.key)
            without = [be.render(bare_scene, [c]).rgb_u8[0] for c in cams]
        finally:
            be.close()
        bad = []
        for cam, a, b in zip(cams, with_shell, without, strict=True):
            chin = chin_footprint(cam, scene.face_world)
            assert chin.sum() > 1000
            diff = np.abs(a.astype(int) - b.astype(int)).max(axis=2)
            bad.append(float((diff[chin] > 24).mean()))
        streaks[lift] = bad
        if lift:
            save_png(out_dir / "open_mouth_chin.png", with_shell[0][256:, 96:416])
    assert max(streaks[RendererConfig().face_depth_lift_world]) < 0.001, streaks
    assert max(streaks[0.0]) > 0.01, streaks  # the control: the test sees the streaks


def test_a_blink_closes_the_eyes(
    astronaut_obs: FaceObservation,
    clip_obs: dict[str, FaceObservation],
    tracker: PhotoTracker,
    out_dir: Path,
) -> None:
    """The bundled clip's blinks close the source's eyes; its open mouth leaves them open (#18).

    The tracker reads the clip's closed eyes at 0.67-0.76 of their open height, and the
    source's eyes open wider than the driver's: landmark offsets alone (the control, with the
    eye mapping switched off) only narrow them.
    """
    opened = {}
    for drive in (DriveConfig(), DriveConfig(eyes_closed_at=0.0, eyes_open_at=0.01)):
        be = MeshBackend(MeshBackendConfig(drive=drive))
        try:
            src = be.prepare_source(astronaut_obs)
            be.reset_neutral(clip_obs["neutral"])
            scenes = {
                k: be.drive(src, dataclasses.replace(clip_obs[k], camera=src.camera))
                for k in ("neutral", "blink", "blink2", "open_mouth")
            }
            rest = eye_openness(src.face_frontal_cm)
            opened[drive.eyes_closed_at] = {
                k: eye_openness(src.frontal_to_world.inverse_apply(s.face_world)) / rest
                for k, s in scenes.items()
            }
            if drive == DriveConfig():
                imgs = {k: be.render(scenes[k], [src.camera]).rgb_u8[0] for k in ("neutral", "blink")}
        finally:
            be.close()
    new, control = opened[DriveConfig().eyes_closed_at], opened[0.0]
    assert new["blink"].max() < 0.1 and new["blink2"].max() < 0.1, new
    assert new["open_mouth"].min() > 0.85 and new["neutral"].min() > 0.95, new
    assert control["blink"].max() > 0.5, control  # offsets alone leave the eyes half open
    # As the tracker sees the renders: closed as FaceMesh reads closed lids (0.41-0.54).
    save_png(
        out_dir / "blink.png", np.concatenate([imgs["neutral"][120:290], imgs["blink"][120:290]], axis=0)
    )
    seen = {k: tracker.observe(im) for k, im in imgs.items()}
    assert all(v is not None for v in seen.values())
    ratio = eye_openness(frontalize(seen["blink"].landmarks_px)[0]) / eye_openness(
        frontalize(seen["neutral"].landmarks_px)[0]
    )
    assert ratio.max() < 0.6, ratio
