"""Measure how the hologram's views hold a head, on a folder of portrait photos.

Every photo of the folder is re-enacted in turn (the source) by the next one (the driver,
the last by the first) with the weight-free mesh avatar, drawn from the cameras of
:func:`pipeline.reenact.sweep_cameras`, and every view is read back with the project's own
photo pre-processing (:class:`pipeline.tracking.PhotoPreprocessor`), as a user's photo would
be. Per source/driver pair it reports:

* **borders**: the share of the top row, and of the left and right columns down to the
  mouth, covered by the head (alpha > 0.5), the worst view of the sweep (below the mouth a
  collar or the shoulders may fill the width, as in any portrait);
* **eye drift**: how far the eye midpoint the tracker finds moves across the views, as a
  share of the view's width (zero for eyes on the zero-parallax plane);
* **yaw**: the head yaw read back in each view; whether it rises from view 0 to the last,
  and its span against the commanded view cone.

``--read toe-in`` first turns each off-axis view into the view of a camera at the same place
aimed at the focus point (:func:`pipeline.cameras.aimed_at`, an exact homography), the view
a rotated head gives, and reads that instead. ``--reads K`` averages K readings of each view
at sizes 4 % apart (one reading jitters by a good part of the step between views);
``--mirror`` also reads each view flipped left-right, flips the camera read from it back and
averages: the tracker reads a face turned one way differently from the same face turned the
other way, and that bias cancels.

Usage::

    python -m pipeline.viewcheck PHOTOS/ [--aspect 0.75] [--cone 35] [--reads 5 --mirror] [--out report/]

Exit status 0: every pair meets the targets (borders <= 2 %, eye drift <= 3 %, yaw rising
and within 15 % of the cone); 1: some pair does not; 2: unusable input.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pipeline.avatar import FaceObservation
from pipeline.cameras import Camera, aimed_at, focus_pivot, pixel_homography
from pipeline.reenact import ViewSettings, sweep_cameras

__all__ = ["PairReport", "Targets", "check_folder", "main", "measure_pair", "photo_files"]

ReadMode = Literal["view", "toe-in"]
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
#: FaceMesh ids of the eye corners (right eye 33/133, left eye 362/263) and the mouth corners.
EYE_CORNERS = (33, 133, 362, 263)
MOUTH_CORNERS = (61, 291)


@dataclass(frozen=True)
class Targets:
    """What a sweep must achieve.

    Attributes:
        border_max: largest share of a tile border (top; left and right above the mouth) the
            head may cover.
        eye_drift_max: largest movement of the eye midpoint across the views, as a share of
            the view's width.
        span_tolerance: largest relative difference between the yaw span read back and the
            commanded view cone.
    """

    border_max: float = 0.02
    eye_drift_max: float = 0.03
    span_tolerance: float = 0.15


@dataclass
class PairReport:
    """One source/driver pair's sweep, as measured (angles in degrees, shares in [0, 1])."""

    source: str
    driver: str
    view_cone_deg: float
    width_px: int
    driver_yaw_deg: float
    yaw_deg: list[float] = field(default_factory=list)
    eye_x_px: list[float] = field(default_factory=list)
    border_top: list[float] = field(default_factory=list)
    border_left: list[float] = field(default_factory=list)
    border_right: list[float] = field(default_factory=list)

    @property
    def yaw_span_deg(self) -> float:
        return self.yaw_deg[-1] - self.yaw_deg[0] if self.yaw_deg else math.nan

    @property
    def yaw_rising(self) -> bool:
        y = np.asarray(self.yaw_deg)
        return bool(len(y) > 1 and np.all(np.isfinite(y)) and np.all(np.diff(y) > 0))

    @property
    def eye_drift(self) -> float:
        x = np.asarray(self.eye_x_px)
        return float(np.ptp(x) / self.width_px) if len(x) and np.all(np.isfinite(x)) else math.nan

    @property
    def border_worst(self) -> tuple[float, float, float]:
        return max(self.border_top), max(self.border_left), max(self.border_right)

    def meets(self, t: Targets) -> bool:
        span_ok = abs(self.yaw_span_deg - self.view_cone_deg) <= t.span_tolerance * self.view_cone_deg
        return (
            max(self.border_worst) <= t.border_max
            and self.eye_drift <= t.eye_drift_max
            and self.yaw_rising
            and span_ok
        )

    def summary(self) -> dict[str, Any]:
        top, left, right = self.border_worst
        return {
            "source": self.source,
            "driver": self.driver,
            "driver_yaw_deg": round(self.driver_yaw_deg, 2),
            "border_top": round(top, 4),
            "border_left": round(left, 4),
            "border_right": round(right, 4),
            "eye_drift": round(self.eye_drift, 4),
            "yaw_span_deg": round(self.yaw_span_deg, 2),
            "yaw_rising": self.yaw_rising,
        }


def photo_files(folder: Path) -> list[Path]:
    """The photos of ``folder`` (by suffix), in name order."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)


def turn_about_deg(rotation: np.ndarray, axis: np.ndarray) -> float:
    """The angle (degrees, right-handed) by which the 3x3 ``rotation`` turns about the unit
    ``axis``: the twist part of its swing-twist split, the whole angle for a rotation about
    ``axis`` itself.

    >>> from pipeline.cameras import rotation_about_axis as rot
    >>> up = np.array([0.0, 1.0, 0.0])
    >>> round(turn_about_deg(rot(up, math.radians(-12.0)) @ rot((1, 0, 0), 0.3), up), 6)
    -12.0
    """
    r = np.asarray(rotation, dtype=np.float64)
    w = 0.5 * math.sqrt(max(1.0 + r[0, 0] + r[1, 1] + r[2, 2], 0.0))
    if w < 1e-6:
        raise ValueError("turn_about_deg: a half turn has no defined twist")
    # The unit quaternion (w, q) of the rotation; its twist about ``axis`` is 2 atan2(q . axis, w).
    q = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]]) / (4.0 * w)
    return math.degrees(2.0 * math.atan2(float(np.dot(q, axis)), w))


def _warp_to(image: np.ndarray, src: Camera, dst: Camera) -> np.ndarray:
    """``image`` (seen by ``src``) as ``dst`` sees it; both cameras share one centre."""
    import cv2

    # pixel_homography works in corner coordinates, OpenCV in pixel-centre ones.
    to_corner = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    h = np.linalg.inv(to_corner) @ pixel_homography(src, dst) @ to_corner
    return cv2.warpPerspective(image, h, (dst.width, dst.height), flags=cv2.INTER_LINEAR)


def _read_scales(reads: int) -> list[float]:
    """Sizes at which a view is read: 1 first, then pairs about it, 4 % apart."""
    return [1.0] + [1.0 + (0.04 if k % 2 == 0 else -0.04) * (1 + k // 2) for k in range(reads - 1)]


def _rescaled(image: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    if scale == 1.0:
        return image
    h, w = image.shape[:2]
    return cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_LINEAR)


#: Flips x of the world and of a camera: a mirrored image's camera rotation, mirrored back.
_MIRROR_X = np.diag([-1.0, 1.0, 1.0])


def _read_view(
    reader: Any,
    image: np.ndarray,
    camera: Camera,
    pivot: np.ndarray,
    mode: ReadMode,
    scale: float = 1.0,
    *,
    flip: bool = False,
) -> Any:
    """The tracker's observation of one view, drawn ``scale`` times its size (None when it
    finds no face there); ``flip``: of the view (as read) flipped left-right."""
    from pipeline.tracking import PhotoError

    if scale != 1.0:
        camera = Camera(camera.cam2world, camera.intrinsics, image.shape[1], image.shape[0])
    if mode == "toe-in":
        pad = max(camera.width, camera.height) // 2
        toe = aimed_at(camera, pivot)
        toe = toe.cropped(-pad, -pad, toe.width + 2 * pad, toe.height + 2 * pad)
        image = _warp_to(image, camera, toe)
    if flip:
        image = image[:, ::-1]
    try:
        return reader.prepare(np.ascontiguousarray(image))
    except PhotoError:
        return None


def measure_pair(
    backend: Any,
    reader: Any,
    source: FaceObservation,
    driver: FaceObservation,
    settings: ViewSettings,
    *,
    names: tuple[str, str] = ("source", "driver"),
    read: ReadMode = "view",
    reads: int = 1,
    mirror: bool = False,
) -> tuple[PairReport, np.ndarray]:
    """Render ``source`` driven by ``driver`` (mesh avatar) and measure every view.

    Returns the report and the views (``N x H x W x 3`` uint8)."""
    src = backend.prepare_source(source)
    backend.reset_neutral(None)
    scene = backend.drive(src, driver)
    cams = sweep_cameras(scene.camera, settings)
    views = backend.render(scene, cams)
    pivot = focus_pivot(scene.camera, settings.focus_cm)
    rep = PairReport(
        names[0], names[1], settings.view_cone_deg, settings.width_px, scene.camera.yaw_pitch_roll_deg()[0]
    )
    base_rot = scene.camera.cam2world[:3, :3]
    sweep_axis = -base_rot[:, 1]
    for img, alpha, cam in zip(views.rgb_u8, views.alpha, cams, strict=True):
        head = alpha > 0.5
        mouth_y = float(cam.project(scene.face_world[list(MOUTH_CORNERS)])[:, 1].max())
        mouth = int(np.clip(round(mouth_y), 1, cam.height))
        rep.border_top.append(float(head[0].mean()))
        rep.border_left.append(float(head[:mouth, 0].mean()))
        rep.border_right.append(float(head[:mouth, -1].mean()))
        seen = _read_view(reader, img, cam, pivot, "view")
        rep.eye_x_px.append(
            math.nan
            if seen is None
            else float(seen.extras["landmarks_frame_px"][list(EYE_CORNERS), 0].mean())
        )
        # The turn about the sweep's axis (the driver camera's up) from the driver camera to
        # the one the tracker reads: the view's yaw as commanded, whatever the head's pitch.
        # Averaged over ``reads`` readings of the view at slightly different sizes.
        # With ``mirror``, each view is also read flipped left-right, its camera flipped back:
        # the tracker's left/right bias cancels in the mean.
        turns = []
        for scale in _read_scales(reads):
            if read != "view" or scale != 1.0:
                seen = _read_view(reader, _rescaled(img, scale), cam, pivot, read, scale)
            if seen is not None:
                turns.append(turn_about_deg(seen.camera.cam2world[:3, :3] @ base_rot.T, sweep_axis))
            if mirror:
                flipped = _read_view(reader, _rescaled(img, scale), cam, pivot, read, scale, flip=True)
                if flipped is not None:
                    unflipped = _MIRROR_X @ flipped.camera.cam2world[:3, :3] @ _MIRROR_X
                    turns.append(turn_about_deg(unflipped @ base_rot.T, sweep_axis))
        expected = len(_read_scales(reads)) * (2 if mirror else 1)
        rep.yaw_deg.append(float(np.mean(turns)) if len(turns) == expected else math.nan)
    return rep, views.rgb_u8


def contact_sheet(views: np.ndarray, cols: int = 6) -> np.ndarray:
    """The views side by side, view 0 top-left, row by row."""
    n, h, w, _ = views.shape
    rows = math.ceil(n / cols)
    sheet = np.zeros((rows * h, cols * w, 3), np.uint8)
    for i, v in enumerate(views):
        r, c = divmod(i, cols)
        sheet[r * h : (r + 1) * h, c * w : (c + 1) * w] = v
    return sheet


def check_folder(
    folder: Path,
    settings: ViewSettings,
    *,
    out: Path | None = None,
    read: ReadMode = "view",
    reads: int = 1,
    mirror: bool = False,
    log: Any = print,
) -> list[PairReport]:
    """Measure every source/driver pair of the photos in ``folder`` (see the module notes).

    Raises:
        ValueError: the folder holds fewer than two photos with a usable face.
    """
    from PIL import Image

    from pipeline.mesh.backend import MeshBackend
    from pipeline.tracking import PhotoConfig, PhotoError, PhotoPreprocessor

    faces: list[tuple[str, FaceObservation]] = []
    with PhotoPreprocessor() as prep:
        for p in photo_files(folder):
            try:
                faces.append((p.name, prep.prepare(p)))
            except PhotoError as e:
                log(f"skipped {p.name}: {e}")
    if len(faces) < 2:
        raise ValueError(f"{folder} holds {len(faces)} photo(s) with a usable face; at least 2 are needed")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    reports: list[PairReport] = []
    backend = MeshBackend()
    try:
        with PhotoPreprocessor(PhotoConfig(matte=None, context_scale=1.0)) as reader:
            for k, (name, face) in enumerate(faces):
                d_name, d_face = faces[(k + 1) % len(faces)]
                pair = (name, d_name)
                rep, views = measure_pair(
                    backend, reader, face, d_face, settings, names=pair, read=read, reads=reads, mirror=mirror
                )
                reports.append(rep)
                if out is not None:
                    Image.fromarray(contact_sheet(views)).save(out / f"pair{k:02d}_{Path(name).stem}.png")
    finally:
        backend.close()
    if out is not None:
        data = {
            "settings": asdict(settings),
            "read": read,
            "reads": reads,
            "mirror": mirror,
            "pairs": [{**r.summary(), "yaw_deg": [round(y, 2) for y in r.yaw_deg]} for r in reports],
        }
        (out / "viewcheck.json").write_text(json.dumps(data, indent=1))
    return reports


def _table(reports: Sequence[PairReport], targets: Targets) -> str:
    lines = [
        f"{'source <- driver':40s} {'drv yaw':>7s} {'top':>6s} {'left':>6s} {'right':>6s} "
        f"{'eyes':>6s} {'span':>6s} {'rising':>6s}  ok"
    ]
    for r in reports:
        top, left, right = r.border_worst
        pair = f"{r.source} <- {r.driver}"
        lines.append(
            f"{pair[:40]:40s} {r.driver_yaw_deg:7.1f} {top:6.1%} {left:6.1%} {right:6.1%} "
            f"{r.eye_drift:6.1%} {r.yaw_span_deg:6.1f} {'yes' if r.yaw_rising else 'NO':>6s}  "
            f"{'yes' if r.meets(targets) else 'NO'}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m pipeline.viewcheck",
        description="Measure the hologram's views (framing, focus, yaw read back) on a folder of photos.",
    )
    p.add_argument("folder", type=Path, help="a folder of portrait photos (two or more)")
    p.add_argument("--views", type=int, default=24, help="views in the sweep (default 24)")
    p.add_argument(
        "--view-size", type=int, default=384, metavar="PX", help="longer side of a view (default 384)"
    )
    p.add_argument("--aspect", type=float, default=0.75, help="view width/height (default 0.75: Portrait)")
    p.add_argument("--cone", type=float, default=35.0, metavar="DEG", help="view cone (default 35)")
    p.add_argument("--focus", type=float, default=0.0, metavar="CM", help="focus, cm in front of the eyes")
    p.add_argument(
        "--sweep", choices=["offaxis", "orbit"], default="offaxis", help="camera rig (default offaxis)"
    )
    p.add_argument(
        "--read",
        choices=["view", "toe-in"],
        default="view",
        help="read the yaw from each view as drawn (default) or turned to face the focus point",
    )
    p.add_argument(
        "--reads",
        type=int,
        default=1,
        metavar="K",
        help="read each view K times at sizes 4 %% apart and average the yaw (default 1)",
    )
    p.add_argument(
        "--mirror",
        action="store_true",
        help="also read every view flipped left-right and average (cancels the tracker's left/right bias)",
    )
    p.add_argument("--out", type=Path, default=None, help="folder for the views (PNG) and viewcheck.json")
    args = p.parse_args(argv)
    if not args.folder.is_dir():
        print(f"error: {args.folder} is not a folder of photos", file=sys.stderr)
        return 2
    try:
        settings = ViewSettings(
            num_views=args.views, view_size=args.view_size, aspect=args.aspect, sweep=args.sweep,
            view_cone_deg=args.cone, focus_cm=args.focus,
        )  # fmt: skip
        if not 1 <= args.reads <= 9:
            raise ValueError(f"--reads must be 1..9, got {args.reads}")
        reports = check_folder(
            args.folder, settings, out=args.out, read=args.read, reads=args.reads, mirror=args.mirror
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    targets = Targets()
    print(
        f"{settings.num_views} views {settings.width_px}x{settings.height_px}, cone {settings.view_cone_deg:g} deg, "
        f"{settings.sweep}, focus {settings.focus_cm:g} cm, yaw read from the {args.read} "
        f"({args.reads} reading{'s' if args.reads > 1 else ''} a view{', and as many mirrored' if args.mirror else ''})"
    )
    print(_table(reports, targets))
    spans = [r.yaw_span_deg for r in reports]
    print(
        f"worst border {max(max(r.border_worst) for r in reports):.1%}, worst eye drift "
        f"{max(r.eye_drift for r in reports):.1%}, yaw span {min(spans):.1f}..{max(spans):.1f} deg, "
        f"rising in {sum(r.yaw_rising for r in reports)}/{len(reports)}"
    )
    return 0 if all(r.meets(targets) for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
