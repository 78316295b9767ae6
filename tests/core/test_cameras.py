"""Camera conventions pinned against spec/voodoo3d-model.md section 6.1."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pipeline import cameras as C

# Exact float32 values of the official buffers (spec manifest, deterministic_buffer_values).
CANONICAL_CAM2WORLD = np.array(
    [
        [1.0, 2.228623517081343e-15, 4.720829949178551e-08, -1.1802075050582062e-07],
        [0.0, -1.0, 4.720829949178551e-08, -1.1802075050582062e-07],
        [4.720829949178551e-08, -4.720829949178551e-08, -1.0, 2.700000047683716],
        [0.0, 0.0, 0.0, 1.0],
    ]
)
CANONICAL_FOCAL = 4.263391017913818


def test_fov_to_focal_matches_eg3d():
    assert C.fov_to_focal(18.837) == pytest.approx(CANONICAL_FOCAL, abs=1e-6)
    assert C.focal_to_fov_deg(C.fov_to_focal(25.0)) == pytest.approx(25.0, abs=1e-9)
    # The actual vertical FOV of the canonical camera is about 13.38 degrees.
    assert math.degrees(2 * math.atan(0.5 / CANONICAL_FOCAL)) == pytest.approx(13.38, abs=0.01)


def test_pose_estimator_focal():
    assert pytest.approx(4.264700, abs=1e-6) == C.POSE_ESTIMATOR_FOCAL


def test_canonical_camera_matches_official_buffers():
    cam = C.canonical_camera()
    np.testing.assert_allclose(cam.cam2world, CANONICAL_CAM2WORLD, atol=1e-12)
    np.testing.assert_allclose(
        cam.intrinsics, [[CANONICAL_FOCAL, 0, 0.5], [0, CANONICAL_FOCAL, 0.5], [0, 0, 1]], atol=1e-7
    )


def test_canonical_camera_matches_spec_manifest(shared_dir):
    manifest = json.loads((shared_dir / "spec" / "voodoo3d_state_dict.json").read_text())
    values = manifest["deterministic_buffer_values"]
    cam = C.canonical_camera()
    np.testing.assert_allclose(cam.cam2world, np.array(values["canonical_cam2world"][0]), atol=1e-12)
    np.testing.assert_allclose(cam.intrinsics, np.array(values["canonical_intrinsics"][0]), atol=1e-7)


def test_canonical_camera_geometry():
    cam = C.canonical_camera()
    np.testing.assert_allclose(cam.center, [0, 0, 2.7], atol=1e-6)
    # Looks down -z at the look-at point, which is 2.5 away and projects to the image centre.
    np.testing.assert_allclose(cam.forward, [0, 0, -1], atol=1e-6)
    np.testing.assert_allclose(cam.project(np.array([C.LOOKAT_POINT])), [[256, 256]], atol=1e-4)
    # Image down is world -y; image right is world +x.
    p = cam.project(np.array([[0.1, 0.0, 0.2], [0.0, 0.1, 0.2]]))
    assert p[0, 0] > 256 and p[1, 1] < 256
    assert cam.yaw_pitch_roll_deg() == pytest.approx((0.0, 0.0, 0.0), abs=1e-4)


def test_orbit_direction():
    # Increasing the horizontal angle moves the camera towards +x (spec 6.1).
    c2w = C.eg3d_orbit_cam2world(math.pi / 2 + math.radians(10), math.pi / 2)
    assert c2w[0, 3] == pytest.approx(2.7 * math.sin(math.radians(10)), abs=1e-9)
    yaw, pitch, roll = C.euler_from_rotation(c2w[:3, :3])
    assert yaw > 9.0 and abs(roll) < 1e-6


def test_pitch_sign_camera_above_is_positive():
    c2w = C.look_at_cam2world([0.0, 1.0, 2.5], [0.0, 0.0, 0.0])
    _, pitch, _ = C.euler_from_rotation(c2w[:3, :3])
    assert pitch == pytest.approx(math.degrees(math.atan2(1.0, 2.5)), abs=1e-6)


def test_euler_roundtrip():
    rng = np.random.default_rng(0)
    for _ in range(20):
        yaw, pitch, roll = rng.uniform(-40, 40, 3)
        r = (
            C.rotation_about_axis([0, 1, 0], math.radians(yaw))
            @ C.rotation_about_axis([1, 0, 0], math.radians(-pitch))
            @ C.rotation_about_axis([0, 0, 1], math.radians(roll))
            @ np.diag([1.0, -1.0, -1.0])
        )
        assert C.euler_from_rotation(r) == pytest.approx((yaw, pitch, roll), abs=1e-9)


def test_view_yaws():
    y = C.view_yaws_deg()
    assert len(y) == 24
    assert y[0] == pytest.approx(-17.5) and y[-1] == pytest.approx(17.5)
    np.testing.assert_allclose(np.diff(y), 35 / 23)
    assert C.view_yaws_deg(1).tolist() == [0.0]
    with pytest.raises(ValueError):
        C.view_yaws_deg(0)


@pytest.mark.parametrize("mode", ["offaxis", "orbit"])
def test_view_sweep_view0_is_leftmost(mode):
    base = C.canonical_camera()
    views = C.view_sweep(base, mode=mode)
    xs = [v.center[0] for v in views]
    assert all(np.diff(xs) > 0), "camera x must increase from view 0 (left) to view 23 (right)"
    assert xs[0] < 0 < xs[-1]
    # The pivot (by default the eyes) stays on one pixel in every view.
    at = base.project(np.array([C.FACE_EYES_POINT]))
    for v in views:
        np.testing.assert_allclose(v.project(np.array([C.FACE_EYES_POINT])), at, atol=1e-6)


def test_offaxis_keeps_orientation_and_shifts_principal_point():
    base = C.canonical_camera()
    views = C.view_sweep(base, mode="offaxis")
    d = 2.7 - C.FACE_EYES_POINT[2]  # distance to the focal plane through the eyes
    for v, yaw in zip(views, C.view_yaws_deg(), strict=True):
        np.testing.assert_allclose(v.cam2world[:3, :3], base.cam2world[:3, :3])
        assert v.center[0] == pytest.approx(d * math.tan(math.radians(yaw)), abs=1e-6)
        assert v.intrinsics[0, 2] == pytest.approx(0.5 + base.intrinsics[0, 0] * math.tan(math.radians(yaw)))


def test_orbit_yaws_match_sweep():
    base = C.canonical_camera()
    views = C.view_sweep(base, mode="orbit", views=[0, 12, 23])
    yaws = [v.yaw_pitch_roll_deg()[0] for v in views]
    np.testing.assert_allclose(yaws, C.view_yaws_deg()[[0, 12, 23]], atol=1e-5)


def test_view_sweep_subset_and_errors():
    base = C.canonical_camera()
    sub = C.view_sweep(base, views=[6, 7])
    full = C.view_sweep(base)
    np.testing.assert_allclose(sub[1].cam2world, full[7].cam2world)
    with pytest.raises(IndexError):
        C.view_sweep(base, views=[24])
    with pytest.raises(ValueError):
        C.view_sweep(base, mode="toe-in")  # type: ignore[arg-type]


def test_camera_validation():
    with pytest.raises(ValueError, match="4x4"):
        C.Camera(np.eye(3))
    with pytest.raises(ValueError, match="rotation"):
        C.Camera(np.diag([1.0, 1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="NaN"):
        C.Camera(np.full((4, 4), np.nan))
    cam = C.canonical_camera()
    with pytest.raises(ValueError):
        cam.cam2world[0, 0] = 2.0  # read-only


def test_eg3d_conditioning_roundtrip():
    cam = C.view_sweep(C.canonical_camera(), views=[3])[0]
    c = C.to_eg3d_conditioning(cam)
    assert c.shape == (25,) and c.dtype == np.float32
    back = C.from_eg3d_conditioning(c)
    np.testing.assert_allclose(back.cam2world, cam.cam2world, atol=1e-6)
    c2w, k = C.stack_cameras([cam, cam])
    assert c2w.shape == (2, 4, 4) and k.shape == (2, 3, 3)


def test_opengl_matrices_agree_with_opencv_projection():
    rng = np.random.default_rng(1)
    for cam in C.view_sweep(C.canonical_camera(width=320, height=240), mode="offaxis", views=[0, 11, 23]):
        view = C.opencv_cam2world_to_opengl_view(cam.cam2world)
        proj = C.opengl_projection_from_intrinsics(cam.intrinsics, 0.1, 10.0)
        pts = rng.uniform(-0.3, 0.3, (50, 3))
        clip = (proj @ view @ np.c_[pts, np.ones(50)].T).T
        ndc = clip[:, :2] / clip[:, 3:4]
        # NDC -> pixels: x right, y *up* in GL, so flip to OpenCV's y down.
        px = np.c_[(ndc[:, 0] + 1) / 2 * cam.width, (1 - ndc[:, 1]) / 2 * cam.height]
        np.testing.assert_allclose(px, cam.project(pts), atol=1e-6)
