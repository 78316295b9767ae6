"""``voodoo-holo calibrate webcam``: chessboard views rendered through a known camera are fed as a
folder of frames; the focal length and principal point must come back."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from PIL import Image

from app.calibration_settings import load_intrinsics
from app.cli import main
from app.config import load_config
from calibration.webcam import (
    CameraCalibrationError,
    ChessboardConfig,
    ViewCollector,
    WebcamIntrinsics,
)

W, H = 640, 480
K = np.array([[620.0, 0.0, 323.0], [0.0, 620.0, 236.0], [0.0, 0.0, 1.0]])
SQUARE_PX, MARGIN_PX, SQUARE_MM = 40, 40, 25.0


def board_texture(cols: int = 9, rows: int = 6) -> np.ndarray:
    """(cols+1) x (rows+1) squares on a white margin, top-left square black."""
    tw, th = (cols + 1) * SQUARE_PX + 2 * MARGIN_PX, (rows + 1) * SQUARE_PX + 2 * MARGIN_PX
    tex = np.full((th, tw), 255, np.uint8)
    for j in range(rows + 1):
        for i in range(cols + 1):
            if (i + j) % 2 == 0:
                y, x = MARGIN_PX + j * SQUARE_PX, MARGIN_PX + i * SQUARE_PX
                tex[y : y + SQUARE_PX, x : x + SQUARE_PX] = 0
    return tex


def render_view(tex: np.ndarray, rvec: np.ndarray, tvec_mm: np.ndarray) -> np.ndarray:
    """The board seen by camera K: texture px -> board mm -> image px (a homography)."""
    off = MARGIN_PX + SQUARE_PX  # texture pixel of inner corner (0, 0)
    tex_to_mm = np.array(
        [
            [SQUARE_MM / SQUARE_PX, 0, -off * SQUARE_MM / SQUARE_PX],
            [0, SQUARE_MM / SQUARE_PX, -off * SQUARE_MM / SQUARE_PX],
            [0, 0, 1],
        ]
    )
    r, _ = cv2.Rodrigues(rvec)
    h = K @ np.column_stack([r[:, 0], r[:, 1], tvec_mm]) @ tex_to_mm
    img = cv2.warpPerspective(tex, h, (W, H), flags=cv2.INTER_AREA, borderValue=150)
    img = cv2.GaussianBlur(img, (0, 0), 0.7)
    return np.repeat(img[:, :, None], 3, axis=2)


@pytest.fixture(scope="module")
def chessboard_frames(tmp_path_factory):
    rng = np.random.default_rng(7)
    tex = board_texture()
    d = tmp_path_factory.mktemp("chessboard")
    centre_mm = np.array([112.5, 62.5, 0.0])  # the middle of the 9x6 inner corners
    n = 0
    while n < 14:
        tilt = np.radians(rng.uniform(-35, 35, size=3) * np.array([1.0, 1.0, 0.4]))
        r, _ = cv2.Rodrigues(tilt)
        dist = rng.uniform(380, 650)
        shift = rng.uniform(-0.18, 0.18, size=2) * dist
        t = np.array([shift[0], shift[1], dist]) - r @ centre_mm
        img = render_view(tex, tilt, t)
        Image.fromarray(img).save(d / f"frame{n:03d}.png")
        n += 1
    return d


def test_intrinsics_recovered_from_synthetic_chessboard_views(chessboard_frames, capsys):
    assert main(["calibrate", "webcam", "--driver", str(chessboard_frames), "--views", "12"]) == 0
    out = capsys.readouterr().out
    assert "stored in your settings" in out
    intr = load_intrinsics()
    assert intr is not None and (intr.width_px, intr.height_px) == (W, H)
    assert intr.views >= 8
    assert intr.fx_px == pytest.approx(620.0, rel=0.02) and intr.fy_px == pytest.approx(620.0, rel=0.02)
    assert intr.cx_px == pytest.approx(323.0, abs=8) and intr.cy_px == pytest.approx(236.0, abs=8)
    assert intr.rms_px < 0.5
    fov = math.degrees(2 * math.atan(W / (2 * 620.0)))
    assert intr.horizontal_fov_deg() == pytest.approx(fov, rel=0.02)
    stored = load_config()["webcam_intrinsics"]
    assert WebcamIntrinsics.from_json(stored) == intr
    k = intr.normalized()
    assert k[0, 0] == pytest.approx(intr.fx_px / W) and k[0, 2] == pytest.approx((intr.cx_px + 0.5) / W)


def test_repeated_views_of_the_same_pose_are_not_kept(chessboard_frames):
    col = ViewCollector(ChessboardConfig())
    first = np.asarray(Image.open(sorted(chessboard_frames.iterdir())[0]))
    assert col.offer(first) is True
    assert col.offer(first) is False
    assert col.frames_with_board == 2 and len(col.views) == 1
    with pytest.raises(CameraCalibrationError, match="only 1 usable views"):
        col.calibrate()


def test_frames_without_a_board_give_a_one_line_error(tmp_path, capsys):
    for i in range(3):
        Image.fromarray(np.full((120, 160, 3), 90 + i, np.uint8)).save(tmp_path / f"f{i}.png")
    assert main(["calibrate", "webcam", "--driver", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "only 0 usable views" in err[0] and "whole board" in err[0]
    assert "webcam_intrinsics" not in load_config()


def test_missing_driver_and_bad_board_are_reported(tmp_path, capsys):
    assert main(["calibrate", "webcam", "--driver", str(tmp_path / "nope.mp4")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["calibrate", "webcam", "--board", "6x6", "--driver", str(tmp_path)]) == 2
    assert "not square" in capsys.readouterr().err
