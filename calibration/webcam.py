"""Webcam intrinsics from a printed chessboard (OpenCV), stored for the pose estimator.

::

    board = ChessboardConfig(inner_corners=(9, 6), square_mm=25.0)
    collector = ViewCollector(board)
    for frame in frames:                      # H x W x 3 uint8 RGB
        collector.offer(frame)               # keeps views that show the board somewhere new
    intrinsics = collector.calibrate()       # WebcamIntrinsics (pixels) or CameraCalibrationError
    record = intrinsics.to_json()            # plain values; the app keeps them in its settings

Conventions: pixel coordinates with (0, 0) at the centre of the top-left pixel (OpenCV);
``fx_px``/``fy_px``/``cx_px``/``cy_px`` in pixels of a ``width_px x height_px`` image;
``distortion`` in OpenCV's order (k1, k2, p1, p2, k3). :meth:`WebcamIntrinsics.normalized`
gives the 3x3 intrinsics divided by the image size, the convention of :mod:`pipeline.cameras`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

__all__ = [
    "CameraCalibrationError",
    "ChessboardConfig",
    "ViewCollector",
    "WebcamIntrinsics",
    "board_points_mm",
    "calibrate_from_views",
    "find_chessboard",
]


class CameraCalibrationError(RuntimeError):
    """Calibration could not be done; the message says what to do."""


@dataclass(frozen=True)
class ChessboardConfig:
    """Attributes:
    inner_corners: corners where four squares meet, ``(columns, rows)``; a board of 10 x 7
        squares has 9 x 6.
    square_mm: side of one printed square (only the translation's scale depends on it).
    min_views: views needed before calibrating.
    max_views: views kept (more adds time, not accuracy).
    min_novelty: how far (as a fraction of the image diagonal) a new view's board centre or
        size must differ from every kept view to be kept.
    """

    inner_corners: tuple[int, int] = (9, 6)
    square_mm: float = 25.0
    min_views: int = 8
    max_views: int = 25
    min_novelty: float = 0.06

    def __post_init__(self) -> None:
        c, r = self.inner_corners
        if c < 3 or r < 3 or c == r:
            raise ValueError(
                f"inner_corners must be at least 3 x 3 and not square (so the board's orientation is known), got {c}x{r}"
            )
        if self.square_mm <= 0:
            raise ValueError(f"square_mm must be positive, got {self.square_mm}")
        if not 3 <= self.min_views <= self.max_views:
            raise ValueError("need 3 <= min_views <= max_views")


@dataclass(frozen=True)
class WebcamIntrinsics:
    width_px: int
    height_px: int
    fx_px: float
    fy_px: float
    cx_px: float
    cy_px: float
    distortion: tuple[float, ...]
    rms_px: float  # reprojection error
    views: int

    def k_px(self) -> np.ndarray:
        return np.array([[self.fx_px, 0.0, self.cx_px], [0.0, self.fy_px, self.cy_px], [0.0, 0.0, 1.0]])

    def normalized(self) -> np.ndarray:
        """Intrinsics divided by the image size (pixel corners convention: cx + 0.5)."""
        return np.array(
            [
                [self.fx_px / self.width_px, 0.0, (self.cx_px + 0.5) / self.width_px],
                [0.0, self.fy_px / self.height_px, (self.cy_px + 0.5) / self.height_px],
                [0.0, 0.0, 1.0],
            ]
        )

    def horizontal_fov_deg(self) -> float:
        return float(np.degrees(2.0 * np.arctan(self.width_px / (2.0 * self.fx_px))))

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["distortion"] = list(self.distortion)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> WebcamIntrinsics:
        try:
            return cls(
                int(d["width_px"]),
                int(d["height_px"]),
                float(d["fx_px"]),
                float(d["fy_px"]),
                float(d["cx_px"]),
                float(d["cy_px"]),
                tuple(float(v) for v in d["distortion"]),
                float(d["rms_px"]),
                int(d["views"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise CameraCalibrationError(
                f"the stored webcam intrinsics are damaged ({e}); run 'voodoo-holo calibrate webcam' again"
            ) from e


def board_points_mm(board: ChessboardConfig) -> np.ndarray:
    """The inner corners on the board plane (z = 0), row by row, ``N x 3`` float32 millimetres."""
    cols, rows = board.inner_corners
    grid = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2).astype(np.float32) * board.square_mm
    return np.hstack([grid, np.zeros((len(grid), 1), np.float32)])


def find_chessboard(rgb_u8: np.ndarray, board: ChessboardConfig) -> np.ndarray | None:
    """The inner corners (``N x 2`` float32 pixels) or None when the whole board is not seen."""
    grey = cv2.cvtColor(rgb_u8, cv2.COLOR_RGB2GRAY) if rgb_u8.ndim == 3 else rgb_u8
    found, corners = cv2.findChessboardCornersSB(
        grey, board.inner_corners, flags=cv2.CALIB_CB_NORMALIZE_IMAGE
    )
    if not found:
        return None
    return corners.reshape(-1, 2).astype(np.float32)


def calibrate_from_views(
    views: list[np.ndarray], image_size: tuple[int, int], board: ChessboardConfig
) -> WebcamIntrinsics:
    """Intrinsics from corner sets (``image_size`` = (width, height)); square pixels assumed."""
    if len(views) < board.min_views:
        raise CameraCalibrationError(
            f"only {len(views)} usable views of the chessboard, {board.min_views} needed: show the whole board, "
            "at different places and angles"
        )
    obj = board_points_mm(board)
    calibrate: Any = cv2.calibrateCamera  # its stubs do not accept None for the initial guesses
    rms, k, dist, _, _ = calibrate(
        [obj] * len(views),
        [v.reshape(-1, 1, 2) for v in views],
        image_size,
        None,
        None,
        flags=cv2.CALIB_FIX_ASPECT_RATIO | cv2.CALIB_FIX_K3,
    )
    if not np.isfinite(k).all() or k[0, 0] <= 0:
        raise CameraCalibrationError(
            "calibration did not converge; take views with the board tilted in different ways"
        )
    return WebcamIntrinsics(
        int(image_size[0]),
        int(image_size[1]),
        float(k[0, 0]),
        float(k[1, 1]),
        float(k[0, 2]),
        float(k[1, 2]),
        tuple(float(v) for v in np.ravel(dist)),
        float(rms),
        len(views),
    )


class ViewCollector:
    """Keeps chessboard views that add something new (position or size of the board)."""

    def __init__(self, board: ChessboardConfig) -> None:
        self.board = board
        self.views: list[np.ndarray] = []
        self.image_size: tuple[int, int] | None = None
        self._signatures: list[np.ndarray] = []
        self.frames_seen = 0
        self.frames_with_board = 0

    @property
    def enough(self) -> bool:
        return len(self.views) >= self.board.max_views

    def offer(self, rgb_u8: np.ndarray) -> bool:
        """Look for the board in a frame; True when the view was kept."""
        self.frames_seen += 1
        size = (int(rgb_u8.shape[1]), int(rgb_u8.shape[0]))
        if self.image_size is None:
            self.image_size = size
        elif size != self.image_size:
            raise CameraCalibrationError(
                f"frame size changed from {self.image_size[0]}x{self.image_size[1]} to {size[0]}x{size[1]}"
            )
        corners = find_chessboard(rgb_u8, self.board)
        if corners is None:
            return False
        self.frames_with_board += 1
        diag = float(np.hypot(*size))
        centre = corners.mean(axis=0) / diag
        extent = (corners.max(axis=0) - corners.min(axis=0)) / diag
        cols = self.board.inner_corners[0]
        tilt = (corners[cols - 1] - corners[0]) / diag  # the board's top edge: its rotation / foreshortening
        sig = np.concatenate([centre, extent, tilt])
        if any(np.abs(sig - s).max() < self.board.min_novelty for s in self._signatures):
            return False
        self._signatures.append(sig)
        self.views.append(corners)
        return True

    def calibrate(self) -> WebcamIntrinsics:
        if self.image_size is None:
            raise CameraCalibrationError("no frames were read from the camera")
        return calibrate_from_views(self.views, self.image_size, self.board)
