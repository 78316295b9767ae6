"""``voodoo-holo prepare PHOTO [--out DIR]``: show what the model will see of a photo.

Writes into DIR (default: ``<photo name>-prepared`` beside the current folder):

- ``crop.png``: the aligned 512 x 512 crop, background kept;
- ``matte.png``: the matte (8-bit grey, white = person);
- ``matted.png``: the crop on black, exactly what the model receives;
- ``landmarks.png``: the crop with the landmarks and the five alignment points drawn;
- ``prepared.json``: ``cam2world``, ``intrinsics``, yaw/pitch/roll in degrees, the
  landmarks in crop pixels, ``crop_from_frame`` and the quality report.

Files already in DIR under these names are not replaced without ``--force``; that and whether
DIR can take files are checked before the photo is prepared.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("photo", type=Path, help="portrait photo (JPEG, PNG, ...)")
    p.add_argument(
        "--out", type=Path, default=None, metavar="DIR", help="output folder (default: PHOTO-prepared)"
    )
    p.add_argument("--keep-background", action="store_true", help="skip matting (matte = 1 everywhere)")
    p.add_argument("--force", action="store_true", help="replace files already in the output folder")


#: The files written into the output folder.
FILES = ("crop.png", "matte.png", "matted.png", "landmarks.png", "prepared.json")


def _landmark_overlay(obs):  # FaceObservation -> H x W x 3 uint8
    import cv2
    import numpy as np

    from pipeline.tracking.landmarks import five_points

    img = np.ascontiguousarray(obs.extras["crop_unmatted_rgb_u8"].copy())
    for x, y in obs.landmarks_px[:, :2]:
        cv2.circle(img, (int(x), int(y)), 1, (0, 255, 0), -1)
    for x, y in five_points(obs.landmarks_px):
        cv2.circle(img, (int(x), int(y)), 4, (255, 0, 0), 2)
    return img


def run(args: argparse.Namespace) -> int:
    import os

    # MediaPipe's native logging prints a page of warnings on start-up; keep errors only.
    os.environ.setdefault("GLOG_minloglevel", "2")
    import numpy as np
    from PIL import Image

    from app.outputs import OutputError, check_folder_writable, refuse_existing
    from app.text import signed
    from pipeline.tracking import PhotoConfig, PhotoError, PhotoPreprocessor, load_image

    config = PhotoConfig(matte=None) if args.keep_background else PhotoConfig()
    out = args.out if args.out is not None else Path(f"{args.photo.stem}-prepared")
    try:
        rgb = load_image(args.photo)  # fails fast, before the MediaPipe graphs are built
        check_folder_writable(out)
        if not args.force:
            refuse_existing([out / name for name in FILES])
        with PhotoPreprocessor(config) as pp:
            obs = pp.prepare(rgb, name=str(args.photo))
    except (PhotoError, OutputError) as e:
        print(f"voodoo-holo prepare: {e}", file=sys.stderr)
        return 1
    q = obs.extras["quality"]
    yaw, pitch, roll = obs.camera.yaw_pitch_roll_deg()
    record = {
        "photo": str(args.photo),
        "frame_size": list(obs.frame_size),
        "crop_size": int(obs.crop_rgb_u8.shape[0]),
        "cam2world": obs.camera.cam2world.tolist(),
        "intrinsics": obs.camera.intrinsics.tolist(),
        "yaw_deg": yaw,
        "pitch_deg": pitch,
        "roll_deg": roll,
        "crop_from_frame": np.asarray(obs.crop_from_frame).tolist(),
        "landmarks_crop_px": np.round(obs.landmarks_px.astype(np.float64), 3).tolist(),
        "quality": q.to_json(),
        "conventions": (
            "cam2world: 4x4 OpenCV axes (x right, y down, z forward) in the EG3D world (y up, head "
            "faces +z); intrinsics normalised by the image size; pixels: (0,0) is the corner of the "
            "top-left pixel; yaw>0: camera towards the subject's left, pitch>0: camera above."
        ),
        "files": list(FILES[:-1]),
    }
    try:
        out.mkdir(parents=True, exist_ok=True)
        Image.fromarray(obs.extras["crop_unmatted_rgb_u8"]).save(out / "crop.png")
        Image.fromarray(np.round(obs.matte * 255).astype(np.uint8)).save(out / "matte.png")
        Image.fromarray(obs.crop_rgb_u8).save(out / "matted.png")
        Image.fromarray(_landmark_overlay(obs)).save(out / "landmarks.png")
        (out / "prepared.json").write_text(json.dumps(record, indent=1))
    except OSError as e:
        print(f"voodoo-holo prepare: cannot write into {out}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(
        f"{args.photo}: face {q.face_size_px:.0f} px, yaw {signed(yaw)} deg, pitch {signed(pitch)} deg, "
        f"roll {signed(roll)} deg; wrote {out}/ (crop, matte, matted, landmarks, prepared.json)"
    )
    for w in q.warnings:
        print(f"  note: {w}")
    return 0
