"""Live tracker on synthetic streams made from a real portrait, and the One-Euro filter."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.tracking.filters import OneEuroConfig, OneEuroFilter
from pipeline.tracking.stream import StreamTracker, TrackerConfig

FPS = 30.0
FRAME_NS = int(1e9 / FPS)


def test_one_euro_removes_jitter_at_rest():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(OneEuroConfig(min_cutoff_hz=1.0, beta=0.05))
    raw = 100.0 + rng.normal(0, 1.0, size=(300, 4))
    out = np.array([f(x, i / FPS) for i, x in enumerate(raw)])
    assert out[60:].std(axis=0).max() < raw[60:].std(axis=0).min() / 2


def test_one_euro_follows_fast_motion_without_lag():
    # 600 px/s (20 px per frame at 30 fps): after a few frames the lag is a fraction of a frame.
    f = OneEuroFilter(OneEuroConfig(min_cutoff_hz=1.0, beta=0.05))
    t = np.arange(60) / FPS
    truth = 600.0 * t
    out = np.array([f(np.array([x]), ti)[0] for x, ti in zip(truth, t, strict=True)])
    assert np.abs(out[10:] - truth[10:]).max() < 10.0  # < half a frame's motion
    # A plain low-pass with the same rest cutoff lags by several frames.
    slow = OneEuroFilter(OneEuroConfig(min_cutoff_hz=1.0, beta=0.0))
    out_slow = np.array([slow(np.array([x]), ti)[0] for x, ti in zip(truth, t, strict=True)])
    assert np.abs(out_slow[10:] - truth[10:]).max() > 60.0


def test_one_euro_reset_and_repeated_timestamp():
    f = OneEuroFilter()
    f(np.array([0.0]), 0.0)
    assert f(np.array([10.0]), 0.0)[0] == 0.0  # repeated timestamp: state kept
    f.reset()
    assert f(np.array([10.0]), 1.0)[0] == 10.0


def _frame(face: np.ndarray, dx: int = 0, noise: float = 0.0, rng=None) -> np.ndarray:
    canvas = np.full((480, 640, 3), 70, np.uint8)
    small = face[::1, ::1][:400, 56:456]  # 400 x 400 head-and-shoulders part of the portrait
    x0 = 120 + dx
    canvas[40:440, x0 : x0 + 400] = small
    if noise:
        canvas = np.clip(canvas + rng.normal(0, noise, canvas.shape), 0, 255).astype(np.uint8)
    return canvas


@pytest.fixture(scope="module")
def tracker_factory():
    made = []

    def make(**kw):
        t = StreamTracker(TrackerConfig(**kw))
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


def test_stream_tracks_and_smooths_jitter(tracker_factory, grace_rgb):
    rng = np.random.default_rng(1)
    frames = [_frame(grace_rgb, noise=6.0, rng=rng) for _ in range(25)]
    smooth = tracker_factory(matte=None)
    raw = tracker_factory(matte=None, smoothing=None)
    nose_s, nose_r = [], []
    for i, fr in enumerate(frames):
        a, b = smooth.track(fr, i * FRAME_NS), raw.track(fr, i * FRAME_NS)
        assert a is not None and b is not None and a.tracked and a.seq == i
        nose_s.append(a.extras["landmarks_frame_px"][4, :2])
        nose_r.append(b.extras["landmarks_frame_px"][4, :2])
        yaw_a = a.camera.yaw_pitch_roll_deg()[0]
        assert abs(yaw_a) < 10
    js = np.linalg.norm(np.diff(np.array(nose_s[5:]), axis=0), axis=1).mean()
    jr = np.linalg.norm(np.diff(np.array(nose_r[5:]), axis=0), axis=1).mean()
    assert jr > 0.05  # the noise does make MediaPipe jitter
    assert js < jr / 2


def test_stream_follows_fast_motion(tracker_factory, grace_rgb):
    smooth = tracker_factory(matte=None)
    raw = tracker_factory(matte=None, smoothing=None)
    lags = []
    for i in range(16):
        dx = 0 if i < 4 else min(100, (i - 3) * 15)  # 15 px per frame = 450 px/s
        fr = _frame(grace_rgb, dx=dx)
        a, b = smooth.track(fr, i * FRAME_NS), raw.track(fr, i * FRAME_NS)
        lags.append(abs(a.extras["landmarks_frame_px"][4, 0] - b.extras["landmarks_frame_px"][4, 0]))
    assert max(lags[6:]) < 8.0  # about half a frame of motion at most


def test_stream_holds_pose_then_reports_loss(tracker_factory, grace_rgb):
    tr = tracker_factory(hold_ms=200.0)
    t = 0
    for _ in range(5):
        obs = tr.track(_frame(grace_rgb), t)
        t += FRAME_NS
    assert obs.tracked and tr.status.tracking
    assert obs.matte.shape == (512, 512) and obs.crop_rgb_u8[:8, :8].max() < 40  # matted
    good_camera = obs.camera
    blank = np.full((480, 640, 3), 70, np.uint8)
    held = tr.track(blank, t)
    assert held is not None and not held.tracked
    assert np.array_equal(held.camera.cam2world, good_camera.cam2world)
    assert tr.status.holding and not tr.status.tracking and tr.status.last_problem == "no face"
    t += 300 * 1_000_000  # past the hold time
    assert tr.track(blank, t) is None
    assert not tr.status.holding and tr.status.lost_frames == 2
    back = tr.track(_frame(grace_rgb), t + FRAME_NS)
    assert back is not None and back.tracked and tr.status.lost_since_ns is None


def test_stream_survives_bad_frames(tracker_factory, grace_rgb):
    tr = tracker_factory(matte=None, hold_ms=1000.0)
    assert tr.track(_frame(grace_rgb), 0).tracked
    for bad in (
        np.zeros((480, 640, 3), np.float32),
        np.zeros((4, 4, 3), np.uint8),
        np.zeros((480, 640), np.uint8),
    ):
        obs = tr.track(bad, FRAME_NS)
        assert obs is not None and not obs.tracked
        assert tr.status.last_problem.startswith("bad frame")
    assert tr.track(_frame(grace_rgb), 2 * FRAME_NS).tracked


def test_landmarks_and_pose_only_give_what_the_crop_did(tracker_factory, grace_rgb):
    """crop=False (a driver of the mesh avatar): the same landmarks and head pose, an empty crop
    and matte, and a driver message of a few kilobytes instead of a 512 px image."""
    from pipeline.messages import driver_frame_from_message, driver_frame_to_message
    from pipeline.wire import decode, encode

    with_crop = tracker_factory(matte=None)
    light = tracker_factory(matte=None, crop=False)
    for i in range(6):
        fr = _frame(grace_rgb, dx=8 * i)
        a, b = with_crop.track(fr, i * FRAME_NS), light.track(fr, i * FRAME_NS)
        assert a.crop_rgb_u8.shape == (512, 512, 3)
        assert b.crop_rgb_u8.shape == (0, 0, 3) and b.matte.shape == (0, 0)
        np.testing.assert_array_equal(a.landmarks_px, b.landmarks_px)
        np.testing.assert_array_equal(a.camera.cam2world, b.camera.cam2world)
        frames = encode(driver_frame_to_message(b))
        assert sum(len(f) for f in frames) < 16_000
        back = driver_frame_from_message(decode(frames))
        assert back.crop_rgb_u8.shape == (0, 0, 3)
        np.testing.assert_array_equal(back.landmarks_px, b.landmarks_px)


def test_tracker_config_validation():
    with pytest.raises(ValueError, match="matte=None"):
        TrackerConfig(crop=False)  # a matte is made on the crop
    with pytest.raises(ValueError, match="hold_ms"):
        TrackerConfig(hold_ms=-1)
    with pytest.raises(ValueError, match="matte_every_n_frames"):
        TrackerConfig(matte_every_n_frames=0)
    with pytest.raises(ValueError, match="beta"):
        OneEuroConfig(beta=-0.1)
