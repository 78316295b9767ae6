"""The bundled driver clip: the tracker follows the face in every frame and sees the scripted
performance (smile, blink, open mouth, head turn); the script's edits survive frontalisation."""

from __future__ import annotations

import numpy as np
import pytest
from render_helpers import read_video

from app.render import sample_driver
from assets.samples.make_driver_clip import ClipConfig, Pose, driver_observation, performance
from pipeline.mesh.geometry import frontalize, mouth_opening_ratio


def _eye_gap(frontal: np.ndarray) -> float:
    return (
        float(np.linalg.norm(frontal[159] - frontal[145]) + np.linalg.norm(frontal[386] - frontal[374])) / 2
    )


def _corner_lift(frontal: np.ndarray) -> float:
    """Mouth corners' height above the lips' centre (cm): up when smiling."""
    return float((frontal[61, 1] + frontal[291, 1]) / 2 - (frontal[13, 1] + frontal[14, 1]) / 2)


@pytest.fixture(scope="module")
def tracked_clip() -> list[tuple[float, float, float, float] | None]:
    """Per frame: (mouth ratio, eye gap, corner lift, yaw) as the stream tracker sees them."""
    from pipeline.tracking import StreamTracker

    frames, size, fps = read_video(sample_driver())
    assert size == (512, 512) and fps == 25.0 and len(frames) == ClipConfig().num_frames == 110
    out: list[tuple[float, float, float, float] | None] = []
    with StreamTracker() as tracker:
        for i, f in enumerate(frames):
            obs = tracker.track(f, round(i * 1e9 / fps))
            if obs is None or not obs.tracked:
                out.append(None)
                continue
            fr, _ = frontalize(obs.landmarks_px)
            out.append(
                (mouth_opening_ratio(fr), _eye_gap(fr), _corner_lift(fr), obs.camera.yaw_pitch_roll_deg()[0])
            )
    return out


def test_tracker_finds_the_face_in_every_frame(tracked_clip) -> None:
    missing = [i for i, m in enumerate(tracked_clip) if m is None]
    assert not missing, f"no face tracked in frames {missing}"


def test_tracker_sees_the_scripted_performance(tracked_clip) -> None:
    m = np.array(tracked_clip, dtype=np.float64)
    mouth, eyes, lift, yaw = m.T
    rest = slice(0, 6)  # t < 0.25 s: neutral
    # open mouth 2.0-2.35 s (frames 50-58)
    assert mouth[50:59].min() > mouth[rest].max() + 0.2, (mouth[rest], mouth[50:59])
    # blinks at 0.95 s and 3.95 s: eyes at least 20 % more closed at the blinks' middles
    assert eyes[26:29].min() < 0.8 * np.median(eyes[rest]), (eyes[rest], eyes[26:29])
    assert eyes[101:104].min() < 0.8 * np.median(eyes[rest])
    # smile 0.7-1.3 s: the mouth corners rise
    assert np.median(lift[18:32]) > np.median(lift[rest]) + 0.25
    # head turn 2.75-4.25 s: to one side, then the other
    assert yaw[72:84].max() > 6.0 and yaw[88:102].min() < -6.0, yaw[70:104]


def test_scripted_edits_are_what_the_avatar_frontalises(hopper_face) -> None:
    """The clip's landmarks are the photo's with offsets added in the frontal frame: frontalising
    them gives back the photo's frontal face plus those offsets, up to the small shift of the pose
    fit that moving the jaw causes; the head pose is carried by the camera."""
    from assets.samples.make_driver_clip import expression_offsets_cm

    neutral, _ = frontalize(hopper_face.landmarks_px)
    pose = Pose(smile=0.6, blink=1.0, mouth_open=0.8, yaw_deg=12.0, pitch_deg=-2.0)
    obs = driver_observation(hopper_face, pose, seq=7, t_ns=280_000_000)
    edited, _ = frontalize(obs.landmarks_px)
    expected = expression_offsets_cm(neutral, pose)
    residual = edited - neutral - expected
    rms = lambda a: float(np.sqrt((a**2).sum(axis=1).mean()))  # noqa: E731
    assert rms(expected) > 0.3 and rms(residual) < 0.35 * rms(expected), (rms(expected), rms(residual))
    assert mouth_opening_ratio(edited) > mouth_opening_ratio(neutral) + 0.12
    assert _eye_gap(edited) < 0.4 * _eye_gap(neutral)
    assert _corner_lift(edited) > _corner_lift(neutral) + 0.2
    yaw, pitch, _ = obs.camera.yaw_pitch_roll_deg()
    yaw0, pitch0, _ = hopper_face.camera.yaw_pitch_roll_deg()
    assert yaw - yaw0 == pytest.approx(12.0, abs=1.0) and pitch - pitch0 == pytest.approx(-2.0, abs=1.0)
    assert performance(0.0) == Pose() and performance(2.2).mouth_open == 1.0
