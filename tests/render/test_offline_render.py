"""Offline render end to end: real driver inputs, the real tracker, the mesh avatar drawn with
OpenGL (EGL) and real H.264 files read back with ffmpeg."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from render_helpers import FFMPEG, clip_frames, decode_errors, mean_abs_diff, read_video, write_folder

from app.compose import plan_views
from app.render import RenderConfig, render_offline, sample_driver, sample_source
from display.quilt import split_quilt
from display.video import probe_video

pytestmark = pytest.mark.gl

REPO_ROOT = Path(__file__).resolve().parents[2]


def _quiet(_: str) -> None:
    pass


def test_image_folder_driver_with_faceless_frames_holds_the_pose(tmp_path: Path) -> None:
    """Frames 0-1 and 8-10 of the driver show no face: the output still has one frame per driver
    frame, those frames repeat the nearest pose (the first face's, or the last one seen), and the
    count is reported."""
    frames = clip_frames(40, 20)  # the mouth opens over these frames
    blank = np.full_like(frames[0], 90)
    faceless = [0, 1, 8, 9, 10]
    for i in faceless:
        frames[i] = blank
    folder = write_folder(tmp_path / "driver", frames)
    cfg = RenderConfig(
        plan=plan_views(6, 96), source=sample_source(), driver=folder, out=tmp_path / "out", image_fps=12.0
    )
    result = render_offline(cfg, progress=False, log_fn=_quiet)

    layout = plan_views(6, 96).quilt
    [path] = result.paths
    assert path.name == "astronaut_qs3x2a0.75.mp4"
    assert (result.frames_total, result.frames_without_face, result.interrupted) == (20, len(faceless), False)
    video, size, fps = read_video(path)
    assert len(video) == 20 and size == (layout.quilt_w_px, layout.quilt_h_px) == (216, 192) and fps == 12.0
    assert decode_errors(path) == ""
    # Every tile holds a lit head (not a black or empty view).
    for v, tile in enumerate(split_quilt(video[5], layout)):
        assert tile[24:72, 18:54].mean() > 60, f"view {v} looks empty"
    held = [mean_abs_diff(video[i], video[7]) for i in (8, 9, 10)]
    lead = [mean_abs_diff(video[i], video[2]) for i in (0, 1)]
    moving = mean_abs_diff(video[11], video[7])  # the mouth kept opening while the face was gone
    assert max(held + lead) < 0.6, (held, lead)
    assert moving > 4 * max(held + lead) and moving > 0.5, (moving, held, lead)


def test_views_format_writes_one_video_per_view(tmp_path: Path) -> None:
    cfg = RenderConfig(plan=plan_views(3, 64),
        source=sample_source(), driver=sample_driver(), out=tmp_path, format="views", max_frames=4,
    )  # fmt: skip
    result = render_offline(cfg, progress=False, log_fn=_quiet)
    assert [p.name for p in result.paths] == ["view_00.mp4", "view_01.mp4", "view_02.mp4"]
    assert all(p.parent == tmp_path / "astronaut_views" for p in result.paths)
    videos = []
    for p in result.paths:
        frames, size, fps = read_video(p)
        assert len(frames) == 4 and size == (48, 64) and fps == 25.0
        videos.append(frames)
    # Left-most and right-most cameras see the head differently.
    assert mean_abs_diff(videos[0][0], videos[2][0]) > 3.0


def _dominant_frequency_hz(path: Path, rate: int = 8000) -> tuple[float, float]:
    pcm = subprocess.run(
        [
            FFMPEG,
            "-v",
            "error",
            "-i",
            str(path),
            "-map",
            "0:a:0",
            "-ac",
            "1",
            "-ar",
            str(rate),
            "-f",
            "s16le",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    x = np.frombuffer(pcm, np.int16).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1.0 / rate)[spectrum.argmax()]), len(x) / rate


def test_side_by_side_keeps_the_driver_audio(tmp_path: Path) -> None:
    driver = tmp_path / "talk.mp4"
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-i", str(sample_driver()), "-f", "lavfi", "-i",
         "sine=frequency=440:sample_rate=44100:duration=3", "-map", "0:v", "-map", "1:a", "-frames:v", "20",
         "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(driver)],
        check=True,
    )  # fmt: skip
    assert probe_video(driver).has_audio
    cfg = RenderConfig(
        plan=plan_views(24, 96), source=sample_source(), driver=driver, out=tmp_path / "out", format="sbs"
    )
    result = render_offline(cfg, progress=False, log_fn=_quiet)
    [path] = result.paths
    assert path.name == "astronaut_sbs.mp4" and result.audio
    probe = probe_video(path)
    # source 96 x 96 | driver 96 x 96 | the centre view, 72 x 96 at the default 0.75 aspect
    assert probe.has_audio and probe.frames == 20 and (probe.width, probe.height) == (264, 96)
    freq, seconds = _dominant_frequency_hz(path)
    assert abs(freq - 440.0) < 5.0 and 0.6 < seconds < 1.2, (freq, seconds)

    video, _, _ = read_video(path)
    from pipeline.tracking import prepare_photo

    photo = prepare_photo(sample_source()).extras["crop_unmatted_rgb_u8"]
    source_panel = cv2.resize(photo, (96, 96), interpolation=cv2.INTER_AREA)
    driver_panel = cv2.resize(clip_frames(10, 1)[0], (96, 96), interpolation=cv2.INTER_AREA)
    frame = video[10]
    assert mean_abs_diff(frame[:, :96], source_panel) < 8.0
    assert mean_abs_diff(frame[:, 96:192], driver_panel) < 8.0
    result_panel = frame[:, 192:]
    assert result_panel.shape[:2] == (96, 72)
    assert (
        result_panel[24:72, 12:60].mean() > 60 and mean_abs_diff(result_panel, driver_panel[:, 12:84]) > 10.0
    )


def _render_cli(args: list[str], cwd: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), GLOG_minloglevel="2")
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "render", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT to a child process")
def test_ctrl_c_keeps_a_playable_file_and_resume_finishes_it(tmp_path: Path) -> None:
    frames = clip_frames(40, 50)  # open mouth, then the head turns: every frame differs
    folder = write_folder(tmp_path / "driver", frames)
    # Lossless H.264 (crf 0), so that the resumed file can be compared with an uninterrupted
    # render exactly: a new segment starts a new encoder, and lossy encodings would differ.
    args = ["--driver", str(folder), "--view-size", "96", "--crf", "0", "--out", str(tmp_path / "out")]
    expected = tmp_path / "out" / "astronaut_qs6x4a0.75.mp4"

    # 1. Ctrl-C once at least 15 frames are done (read from the progress bar).
    proc = _render_cli(args, tmp_path)
    seen = {"done": 0, "text": ""}

    def watch() -> None:
        assert proc.stderr is not None
        while chunk := proc.stderr.read(64):
            seen["text"] += chunk
            counts = re.findall(r"(\d+)/50", seen["text"][-400:])
            if counts:
                seen["done"] = int(counts[-1])

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    while proc.poll() is None and seen["done"] < 15:
        reader.join(0.05)
    assert proc.poll() is None, f"the render ended before it could be interrupted: {seen['text'][-300:]}"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    reader.join(30)  # the reader alone drains stderr (communicate() would race it for the last lines)
    assert proc.stdout is not None
    out = proc.stdout.read()
    assert proc.returncode == 130, (out, seen["text"][-500:])
    assert "interrupted" in seen["text"] and "--resume" in seen["text"] and "Traceback" not in seen["text"]
    partial = probe_video(expected)
    assert 15 <= partial.frames < 50, partial
    assert decode_errors(expected) == ""
    assert len(read_video(expected)[0]) == partial.frames

    # 2. --resume renders the rest into the same file.
    proc = _render_cli([*args, "--resume", "--quiet"], tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert f"resumed at frame {partial.frames}" in out
    video, size, fps = read_video(expected)
    assert len(video) == 50 and size == (1728 // 4, 1536 // 4) and fps == 25.0
    assert decode_errors(expected) == ""
    assert not list((tmp_path / "out").glob("*resume*")), "segment files left behind"

    # 3. The result is the uninterrupted render, frame for frame (not shifted, not restarted).
    ref = render_offline(
        RenderConfig(
            plan=plan_views(24, 96), source=sample_source(), driver=folder, out=tmp_path / "ref", crf=0
        ),
        progress=False,
        log_fn=_quiet,
    )
    reference, _, _ = read_video(ref.paths[0])
    k = partial.frames
    same = [mean_abs_diff(video[j], reference[j]) for j in range(50)]
    step = [mean_abs_diff(reference[j], reference[j - 1]) for j in range(k, 50)]
    assert max(same) < 0.1, np.round(same, 2).tolist()
    assert np.mean(step) > 0.5, step  # the frames move: a shifted or restarted resume would show

    # 4. A render killed while writing (the file ends inside a fragment) resumes the same way.
    crashed = tmp_path / "crash" / expected.name
    crashed.parent.mkdir()
    data = ref.paths[0].read_bytes()
    crashed.write_bytes(data[: int(len(data) * 0.6)])
    record = ref.paths[0].with_name(ref.paths[0].stem + ".render.json")  # written with the first frame
    (crashed.parent / record.name).write_bytes(record.read_bytes())
    survived = probe_video(crashed).frames
    assert 0 < survived < 50
    again = render_offline(
        RenderConfig(
            plan=plan_views(24, 96),
            source=sample_source(),
            driver=folder,
            out=crashed.parent,
            crf=0,
            resume=True,
        ),
        progress=False,
        log_fn=_quiet,
    )
    assert again.resumed_from == survived and again.frames_rendered == 50 - survived
    video, _, fps = read_video(crashed)
    assert len(video) == 50 and fps == 25.0 and decode_errors(crashed) == ""
    same = [mean_abs_diff(video[j], reference[j]) for j in range(50)]
    assert max(same) < 0.1, np.round(same, 2).tolist()


def test_driver_that_never_shows_a_face_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app import cli

    folder = write_folder(tmp_path / "empty-room", [np.full((240, 320, 3), 120, np.uint8)] * 3)
    rc = cli.main(["render", "--driver", str(folder), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "no face found in any of the 3 driver frames" in err, err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
