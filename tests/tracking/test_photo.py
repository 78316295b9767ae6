"""Source-photo pre-processing on real photos with real MediaPipe."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from pipeline.cameras import POSE_ESTIMATOR_FOCAL, canonical_camera, euler_from_rotation
from pipeline.tracking import (
    FaceTooSmallError,
    NoFaceError,
    PhotoError,
    UnreadablePhotoError,
    load_image,
)
from pipeline.tracking.align import CROP_SIZE, STANDARD_LM3D, fit_affine_camera, paste_into_frame
from pipeline.tracking.landmarks import five_points
from pipeline.tracking.pose import head_model, posed_canonical_world


def _ypr(obs) -> np.ndarray:
    return np.array(obs.camera.yaw_pitch_roll_deg())


def test_observation_shapes_and_ranges(grace_obs):
    o = grace_obs
    assert o.crop_rgb_u8.shape == (CROP_SIZE, CROP_SIZE, 3) and o.crop_rgb_u8.dtype == np.uint8
    assert o.matte.shape == (CROP_SIZE, CROP_SIZE) and o.matte.dtype == np.float32
    assert 0.0 <= o.matte.min() and o.matte.max() <= 1.0
    assert o.landmarks_px.shape == (478, 3)
    assert o.frame_size == (512, 600)
    np.testing.assert_allclose(o.camera.intrinsics[0, 0], POSE_ESTIMATOR_FOCAL)
    np.testing.assert_allclose(np.linalg.norm(o.camera.center), 2.7, atol=1e-9)


def test_crop_puts_face_where_the_model_expects(grace_obs):
    # The 5-point affine fit of the crop landmarks to the standard 3-D landmarks must give
    # the official target: 300 px per unit in the 1024 image = 300 * 512 / 700 in the crop,
    # with the model origin at the crop centre.
    p5 = five_points(grace_obs.landmarks_px) - 0.5
    p5[:, 1] = CROP_SIZE - 1 - p5[:, 1]
    s, t = fit_affine_camera(p5, STANDARD_LM3D)
    assert s == pytest.approx(300 * 512 / 700, rel=0.01)
    np.testing.assert_allclose(t, (255.5, 255.5), atol=1.5)
    # The eyes are level after alignment.
    lm = grace_obs.landmarks_px
    eye_r, eye_l = lm[[33, 133], :2].mean(0), lm[[362, 263], :2].mean(0)
    assert abs(math.degrees(math.atan2(eye_l[1] - eye_r[1], eye_l[0] - eye_r[0]))) < 1.0


def test_crop_matches_warp_of_frame(grace_obs, grace_rgb):
    # Pixels of the unmatted crop are the frame resampled through crop_from_frame.
    crop = grace_obs.extras["crop_unmatted_rgb_u8"]
    inv = np.linalg.inv(grace_obs.crop_from_frame)
    for cx, cy in [(256.5, 256.5), (200.5, 300.5), (330.5, 180.5)]:
        fx, fy, _ = inv @ (cx, cy, 1.0)
        src = grace_rgb[int(fy), int(fx)].astype(int)
        assert np.abs(crop[int(cy), int(cx)].astype(int) - src).max() < 40


def test_matte_black_background_soft_edges(grace_obs):
    m = grace_obs.matte
    # Face centre is person, the top corners of the crop are background.
    assert m[240:280, 230:280].mean() > 0.95
    assert m[:20, :20].mean() < 0.1 and m[:20, -20:].mean() < 0.1
    # Soft edge: intermediate values exist between the two.
    assert ((m > 0.1) & (m < 0.9)).sum() > 500
    crop, unmatted = grace_obs.crop_rgb_u8, grace_obs.extras["crop_unmatted_rgb_u8"]
    assert crop[:20, :20].max() < 30
    expected = (unmatted.astype(np.float32) * m[:, :, None]).astype(np.uint8)
    np.testing.assert_array_equal(crop, expected)


def test_landmarks_consistent_with_camera(grace_obs):
    # The posed canonical face projected through the camera lands on the landmarks.
    pts = posed_canonical_world(grace_obs.extras["head_pose"], grace_obs.camera)
    proj = grace_obs.camera.project(pts)
    err = np.linalg.norm(proj - grace_obs.landmarks_px[:468, :2], axis=1)
    ids = head_model().fit_ids
    assert np.median(err[ids]) < 12.0  # identity differences; the face is ~300 px wide here
    assert np.median(err) < 15.0


def test_paste_back_round_trip(grace_obs, grace_rgb):
    crop = grace_obs.extras["crop_unmatted_rgb_u8"]
    back = paste_into_frame(crop, np.zeros_like(grace_rgb), grace_obs.crop_from_frame)
    face = (slice(200, 330), slice(200, 320))
    diff = np.abs(back[face].astype(int) - grace_rgb[face].astype(int))
    assert np.median(diff) < 8


@pytest.mark.parametrize(
    ("yaw", "pitch"), [(0, 0), (10, 0), (-10, 0), (20, 0), (-20, 0), (0, 10), (0, -10), (-15, -8)]
)
def test_pose_recovered_from_synthetic_render(photo_pre, render_face, yaw, pitch):
    img, cam = render_face(yaw, pitch)
    obs = photo_pre.prepare(img, name="render")
    gt = np.array(cam.yaw_pitch_roll_deg())
    est = _ypr(obs)
    assert abs(est[0] - gt[0]) < 3.0, (est, gt)
    assert abs(est[1] - gt[1]) < 3.0, (est, gt)


@pytest.mark.parametrize("yaw", [30, -30])
def test_pose_recovered_from_a_strong_turn(photo_pre, render_face, yaw):
    # FaceMesh's outline points slide and its depth is compressed at strong turns; the fit
    # uses interior points and rescaled depth (a plain 3-D fit of all basis points read
    # 30 deg as 24 deg).
    img, cam = render_face(yaw, 0)
    est, gt = _ypr(photo_pre.prepare(img, name="render")), np.array(cam.yaw_pitch_roll_deg())
    assert abs(est[0] - gt[0]) < 3.0, (est, gt)
    assert abs(est[1] - gt[1]) < 3.0, (est, gt)


def test_frontal_render_gives_canonical_camera(photo_pre, render_face):
    obs = photo_pre.prepare(render_face(0, 0)[0], name="render")
    can = canonical_camera()
    rel = obs.camera.cam2world[:3, :3].T @ can.cam2world[:3, :3]
    angle = math.degrees(math.acos(np.clip((np.trace(rel) - 1) / 2, -1, 1)))
    assert angle < 3.0
    assert np.linalg.norm(obs.camera.center - can.center) < 0.15


@pytest.mark.parametrize("photo", ["grace_rgb", "astronaut_rgb"])
def test_mirrored_photo_gives_mirrored_pose(request, photo_pre, photo):
    img = request.getfixturevalue(photo)
    a = _ypr(photo_pre.prepare(img))
    b = _ypr(photo_pre.prepare(np.ascontiguousarray(img[:, ::-1])))
    assert abs(a[0] + b[0]) < 2.0, (a, b)
    assert abs(a[2] + b[2]) < 2.0, (a, b)
    assert abs(a[1] - b[1]) < 2.0, (a, b)


def test_rotated_photo_same_crop_pose(photo_pre, astronaut_rgb):
    base = photo_pre.prepare(astronaut_rgb)
    rot = photo_pre.prepare(np.ascontiguousarray(np.rot90(astronaut_rgb, k=-1)))
    # The alignment removes the 90 deg tilt; the pose in the crop is the same.
    assert abs(rot.extras["quality"].tilt_deg - base.extras["quality"].tilt_deg - 90.0) < 3.0
    np.testing.assert_allclose(_ypr(rot), _ypr(base), atol=2.0)


def test_two_faces_uses_largest_and_reports(photo_pre, grace_rgb, astronaut_rgb):
    canvas = np.zeros((600, 1024, 3), np.uint8)
    canvas[:512, :512] = astronaut_rgb
    canvas[:, 512:] = grace_rgb
    obs = photo_pre.prepare(canvas)
    q = obs.extras["quality"]
    assert q.faces_found == 2
    assert any("faces found" in w for w in q.warnings)
    inv = np.linalg.inv(obs.crop_from_frame)
    centre = inv @ (256, 256, 1)
    assert centre[0] > 512  # Grace's face (the larger one) was used


def test_no_face_error(photo_pre, astronaut_rgb):
    sky = np.ascontiguousarray(astronaut_rgb[:100, 300:])  # no face in this corner
    with pytest.raises(NoFaceError, match="no face found"):
        photo_pre.prepare(cv2.resize(sky, (400, 300)))
    with pytest.raises(NoFaceError):
        photo_pre.prepare(np.full((300, 300, 3), 128, np.uint8))


def test_small_face_error(photo_pre, grace_rgb):
    small = cv2.resize(grace_rgb, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 90, np.uint8)
    canvas[100 : 100 + small.shape[0], 200 : 200 + small.shape[1]] = small
    with pytest.raises(FaceTooSmallError, match="pixels") as ei:
        photo_pre.prepare(canvas)
    assert ei.value.face_size_px < 80
    assert isinstance(ei.value, PhotoError)


def test_occluded_mouth_is_hinted(photo_pre, grace_rgb, grace_obs):
    assert grace_obs.extras["quality"].ok, grace_obs.extras["quality"].warnings
    lm = grace_obs.extras["landmarks_frame_px"]
    img = grace_rgb.copy()
    x0, y0 = lm[61, :2].astype(int)
    x1, y1 = lm[291, :2].astype(int)
    img[y0 - 25 : lm[152, 1].astype(int) + 5, x0 - 15 : x1 + 15] = (40, 120, 200)  # a blue "mask"
    q = photo_pre.prepare(img).extras["quality"]
    assert any("mouth or chin" in w for w in q.warnings), q


def test_quality_flags_blur_and_darkness(photo_pre, grace_rgb, grace_obs):
    q0 = grace_obs.extras["quality"]
    blurred = cv2.GaussianBlur(grace_rgb, (0, 0), 4)
    q_blur = photo_pre.prepare(blurred).extras["quality"]
    assert q_blur.sharpness < q0.sharpness / 4
    assert any("blurry" in w for w in q_blur.warnings)
    dark = (grace_rgb.astype(np.float32) * 0.25).astype(np.uint8)
    q_dark = photo_pre.prepare(dark).extras["quality"]
    assert q_dark.exposure < 0.2 and any("dark" in w for w in q_dark.warnings)


def test_exif_rotated_file(tmp_path, photo_pre, grace_rgb):
    from PIL import Image

    stored = Image.fromarray(grace_rgb).transpose(Image.Transpose.ROTATE_90)  # stored sideways
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    p = tmp_path / "phone.jpg"
    stored.save(p, exif=exif, quality=95)
    rgb = load_image(p)
    assert rgb.shape == grace_rgb.shape
    assert np.abs(rgb.astype(int) - grace_rgb.astype(int)).mean() < 6
    obs = photo_pre.prepare(p)
    assert abs(obs.extras["quality"].tilt_deg) < 10


@pytest.mark.parametrize("kind", ["rgba", "gray", "gray16", "rgb16", "cmyk", "palette"])
def test_image_modes(tmp_path, grace_rgb, kind):
    from PIL import Image

    p = tmp_path / f"img_{kind}.png"
    if kind == "rgba":
        a = np.dstack([grace_rgb, np.full(grace_rgb.shape[:2], 255, np.uint8)])
        a[:50, :, 3] = 0  # a transparent band composites to black
        Image.fromarray(a, "RGBA").save(p)
    elif kind == "gray":
        Image.fromarray(grace_rgb).convert("L").save(p)
    elif kind == "gray16":
        g16 = cv2.cvtColor(grace_rgb, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257
        cv2.imwrite(str(p), g16)
    elif kind == "rgb16":
        cv2.imwrite(str(p), grace_rgb[:, :, ::-1].astype(np.uint16) * 257)
    elif kind == "cmyk":
        p = tmp_path / "img_cmyk.jpg"
        Image.fromarray(grace_rgb).convert("CMYK").save(p, quality=95)
    else:
        Image.fromarray(grace_rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(p)
    rgb = load_image(p)
    assert rgb.dtype == np.uint8 and rgb.shape == grace_rgb.shape
    if kind == "rgba":
        assert rgb[:50].max() == 0
        assert np.abs(rgb[50:].astype(int) - grace_rgb[50:]).max() == 0
    elif kind in ("gray", "gray16"):
        grey = cv2.cvtColor(grace_rgb, cv2.COLOR_RGB2GRAY).astype(int)
        assert np.abs(rgb[:, :, 0].astype(int) - grey).max() <= 1
    else:
        assert np.abs(rgb.astype(int) - grace_rgb.astype(int)).mean() < 8


def test_unreadable_files(tmp_path):
    with pytest.raises(UnreadablePhotoError, match="no such file"):
        load_image(tmp_path / "missing.jpg")
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is not an image")
    with pytest.raises(UnreadablePhotoError, match="not an image"):
        load_image(bad)
    trunc = tmp_path / "trunc.png"
    ok, buf = cv2.imencode(".png", np.zeros((64, 64, 3), np.uint8) + 100)
    trunc.write_bytes(buf.tobytes()[: len(buf) // 2])
    with pytest.raises(UnreadablePhotoError, match="damaged"):
        load_image(trunc)
    with pytest.raises(UnreadablePhotoError, match="folder"):
        load_image(tmp_path)


def test_euler_helper_agrees_with_camera(grace_obs):
    # The JSON/quality angles are the camera's angles.
    q = grace_obs.extras["quality"]
    assert (q.yaw_deg, q.pitch_deg, q.roll_deg) == pytest.approx(
        euler_from_rotation(grace_obs.camera.cam2world[:3, :3])
    )
