"""The views on the glass, in pure camera maths (no GL, no weights): framing, focus plane,
view cone, and the cameras the neural renderer receives (enclosing square, crop, shift)."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest

from app.compose import plan_views
from app.options import add_view_flags, views_from_args
from calibration.visual import Calibration
from pipeline import cameras as C
from pipeline.reenact import ViewSettings, sweep_cameras

ASPECTS = {"portrait": 0.75, "go": 0.5625, "landscape": 16 / 9, "square": 1.0}


def head_pose_camera(yaw_deg: float, pitch_deg: float) -> C.Camera:
    """A driver head-pose camera: on the 2.7 sphere, aimed at the look-at point."""
    y, p = math.radians(yaw_deg), math.radians(pitch_deg)
    origin = 2.7 * np.array([math.sin(y) * math.cos(p), math.sin(p), math.cos(y) * math.cos(p)])
    return C.Camera(
        C.look_at_cam2world(origin, C.LOOKAT_POINT), C.normalized_intrinsics(C.POSE_ESTIMATOR_FOCAL)
    )


@pytest.mark.parametrize("aspect", ASPECTS.values(), ids=ASPECTS.keys())
@pytest.mark.parametrize("cone", [35.0, 40.0, 54.0])
@pytest.mark.parametrize("sweep", ["offaxis", "orbit"])
def test_every_view_holds_the_head_with_its_margins(aspect: float, cone: float, sweep: str) -> None:
    s = ViewSettings(aspect=aspect, view_cone_deg=cone, sweep=sweep)  # type: ignore[arg-type]
    f = C.Framing()
    pts = C.HEAD_VOLUME.surface_points()
    lo_x, hi_x = np.inf, -np.inf
    lo_y, hi_y = np.inf, -np.inf
    for yaw, pitch in f.poses_deg:
        for cam in sweep_cameras(head_pose_camera(yaw, pitch), s):
            assert (cam.width, cam.height) == (s.width_px, s.height_px)
            px = cam.project(pts)
            lo_x, hi_x = min(lo_x, px[:, 0].min()), max(hi_x, px[:, 0].max())
            lo_y, hi_y = min(lo_y, px[:, 1].min()), max(hi_y, px[:, 1].max())
    w, h = s.width_px, s.height_px
    eps = 1e-6 * max(w, h)
    assert lo_x >= f.side_margin * w - eps and hi_x <= (1 - f.side_margin) * w + eps
    assert lo_y >= f.headroom * h - eps and hi_y <= (1 - f.chin_margin) * h + eps
    # The zoom is no smaller than it must be: the head fills the width or the height.
    fill_w = (hi_x - lo_x) / (w * (1 - 2 * f.side_margin))
    fill_h = (hi_y - lo_y) / (h * (1 - f.headroom - f.chin_margin))
    assert max(fill_w, fill_h) == pytest.approx(1.0, abs=1e-6)
    # The head's top sits at the headroom line: headroom, not a head floating mid-view.
    assert lo_y == pytest.approx(f.headroom * h, abs=1e-6 * h)


def test_framing_is_one_zoom_for_every_head_pose() -> None:
    s = ViewSettings()
    a = sweep_cameras(head_pose_camera(0.0, 0.0), s, [5])[0]
    b = sweep_cameras(head_pose_camera(12.0, -7.0), s, [5])[0]
    np.testing.assert_allclose(a.intrinsics, b.intrinsics)
    assert not np.allclose(a.cam2world, b.cam2world)
    # Square pixels.
    assert a.K_px[0, 0] == pytest.approx(a.K_px[1, 1])


@pytest.mark.parametrize("focus_cm", [0.0, 3.0, -6.0])
def test_the_focus_plane_lands_on_the_same_pixels_in_every_view(focus_cm: float) -> None:
    base = head_pose_camera(-9.0, 4.0)
    cams = sweep_cameras(base, ViewSettings(focus_cm=focus_cm))
    pivot = C.focus_pivot(base, focus_cm)
    # The pivot is the eyes moved focus_cm towards the camera.
    np.testing.assert_allclose(pivot, np.asarray(C.FACE_EYES_POINT) - focus_cm * C.EG3D_PER_CM * base.forward)
    # Points of the plane through the pivot, facing the camera: zero parallax.
    right, down = base.cam2world[:3, 0], base.cam2world[:3, 1]
    plane = pivot + np.array([[0, 0], [0.2, 0.1], [-0.15, 0.25], [0.1, -0.3]]) @ np.stack([right, down])
    first = cams[0].project(plane)
    for cam in cams[1:]:
        np.testing.assert_allclose(cam.project(plane), first, atol=1e-9)
    # A point 5 cm nearer the viewer moves against the camera's motion, one 5 cm further with it.
    near = cams[0].project([pivot - 5 * C.EG3D_PER_CM * base.forward])[0, 0]
    far = cams[0].project([pivot + 5 * C.EG3D_PER_CM * base.forward])[0, 0]
    near_end = cams[-1].project([pivot - 5 * C.EG3D_PER_CM * base.forward])[0, 0]
    far_end = cams[-1].project([pivot + 5 * C.EG3D_PER_CM * base.forward])[0, 0]
    assert near_end < near and far_end > far


def test_the_default_focus_goes_through_the_eyes_of_the_pose_fit() -> None:
    """FACE_EYES_POINT is where the pose fit puts the standard face's eye midpoint."""
    from pipeline.tracking.pose import EG3D_FROM_BFM_OFFSET, EG3D_PER_BFM, head_model

    hm = head_model()
    v = hm.vertices_bfm
    eyes = (
        EG3D_PER_BFM * 0.5 * (v[[33, 133]].mean(axis=0) + v[[362, 263]].mean(axis=0)) + EG3D_FROM_BFM_OFFSET
    )
    # The normalisation onto the 2.7 sphere moves the face 2-6 % of its distance towards the camera.
    assert abs(eyes[0] - C.FACE_EYES_POINT[0]) < 0.005 and abs(eyes[1] - C.FACE_EYES_POINT[1]) < 0.01
    assert 0.0 <= eyes[2] - C.FACE_EYES_POINT[2] < 0.02
    assert C.EG3D_PER_CM == pytest.approx(EG3D_PER_BFM * hm.bfm_per_cm, rel=0.01)


@pytest.mark.parametrize("aspect", ASPECTS.values(), ids=ASPECTS.keys())
def test_neural_cameras_square_crop_and_shift(aspect: float) -> None:
    """What NeuralBackend.render does with a view camera: draw the enclosing square, crop it."""
    s = ViewSettings(aspect=aspect, view_cone_deg=40.0, focus_cm=2.0)
    base = head_pose_camera(6.0, -3.0)
    cams = sweep_cameras(base, s)
    squares = [c.enclosing_square() for c in cams]
    side = max(s.width_px, s.height_px)
    pivot = C.focus_pivot(base, s.focus_cm)
    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.4, 0.4, (40, 3))
    y0, x0 = (side - s.height_px) // 2, (side - s.width_px) // 2
    pivot_px = squares[0].project([pivot])[0]
    for cam, sq, yaw in zip(cams, squares, C.view_yaws_deg(s.num_views, s.view_cone_deg), strict=True):
        assert (sq.width, sq.height) == (side, side)
        np.testing.assert_allclose(sq.cam2world, cam.cam2world)
        # Cropping the square back gives the view's own camera and the view's own pixels.
        back = sq.cropped(x0, y0, s.width_px, s.height_px)
        np.testing.assert_allclose(back.intrinsics, cam.intrinsics, atol=1e-12)
        np.testing.assert_allclose(sq.project(pts) - (x0, y0), cam.project(pts), atol=1e-9)
        # Off-axis: same orientation as the base, moved along its x, principal point shifted.
        np.testing.assert_allclose(sq.cam2world[:3, :3], base.cam2world[:3, :3], atol=1e-12)
        depth = float(np.dot(pivot - base.center, base.forward))
        shift = sq.center - base.center
        np.testing.assert_allclose(
            shift, base.cam2world[:3, 0] * depth * math.tan(math.radians(yaw)), atol=1e-12
        )
        assert sq.K_px[0, 2] - squares[0].K_px[0, 2] == pytest.approx(
            sq.K_px[0, 0]
            * (math.tan(math.radians(yaw)) - math.tan(math.radians(C.view_yaws_deg(24, 40.0)[0])))
        )
        # The focus point lands on one pixel of every square.
        np.testing.assert_allclose(sq.project([pivot])[0], pivot_px, atol=1e-9)
        # What the network receives round-trips.
        packed = C.to_eg3d_conditioning(sq)
        np.testing.assert_allclose(
            C.from_eg3d_conditioning(packed, side, side).intrinsics, sq.intrinsics, atol=1e-5
        )


def test_toe_in_camera_and_homography() -> None:
    base = head_pose_camera(0.0, 0.0)
    s = ViewSettings()
    pivot = C.focus_pivot(base)
    rng = np.random.default_rng(1)
    pts = rng.uniform(-0.3, 0.3, (30, 3))
    for cam, yaw in zip(sweep_cameras(base, s), C.view_yaws_deg(), strict=True):
        toe = C.aimed_at(cam, pivot)
        np.testing.assert_allclose(toe.center, cam.center)
        np.testing.assert_allclose(toe.project([pivot])[0], (toe.width / 2, toe.height / 2), atol=1e-9)
        # The toe-in camera is the off-axis one turned by the view's yaw.
        assert toe.yaw_pitch_roll_deg()[0] - base.yaw_pitch_roll_deg()[0] == pytest.approx(yaw, abs=0.2)
        h = C.pixel_homography(cam, toe)
        p = np.c_[cam.project(pts), np.ones(len(pts))] @ h.T
        np.testing.assert_allclose(p[:, :2] / p[:, 2:], toe.project(pts), atol=1e-8)
    with pytest.raises(ValueError, match="centre"):
        C.pixel_homography(base, C.canonical_camera())


def test_plan_views_takes_the_displays_view_cone() -> None:
    cal = Calibration(
        pitch=52.0, slope=-7.0, center=0.5, dpi=324.0, screen_w_px=1536, screen_h_px=2048, view_cone_deg=40.0
    )
    plan = plan_views(24, 384, calibration=cal)
    assert plan.views.view_cone_deg == 40.0 and plan.views.aspect == 0.75
    assert plan_views(24, 384).views.view_cone_deg == C.DEFAULT_VIEW_CONE_DEG == 35.0


def test_focus_flag() -> None:
    from app.compose import OutputChoice

    p = argparse.ArgumentParser()
    add_view_flags(p, views=24, view_size=384, aspect=True)
    assert views_from_args(p.parse_args([]), OutputChoice(), views=24, view_size=384).views.focus_cm == 0.0
    plan = views_from_args(p.parse_args(["--focus", "3"]), OutputChoice(), views=24, view_size=384)
    assert plan.views.focus_cm == 3.0
    with pytest.raises(ValueError, match=r"focus must be -20\.\.20 cm"):
        views_from_args(p.parse_args(["--focus", "50"]), OutputChoice(), views=24, view_size=384)


def test_framing_refuses_a_head_behind_the_camera() -> None:
    with pytest.raises(ValueError, match="Framing.headroom"):
        C.Framing(headroom=0.5)
    with pytest.raises(ValueError, match="positive radii"):
        C.HeadVolume((0.0, 0.0, 0.0), (0.1, 0.0, 0.1))
    with pytest.raises(ValueError, match="behind"):
        C.framed_camera(
            head_pose_camera(0, 0),
            100,
            100,
            view_cone_deg=120.0,
            framing=C.Framing(head=C.HeadVolume((0.0, 0.0, 0.0), (3.0, 0.3, 3.0))),
        )
