"""``voodoo-holo prepare``: files written, JSON contents, one-line errors."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from app.cli import main


def test_prepare_writes_crop_matte_json(tmp_path, grace_rgb, capsys):
    photo = tmp_path / "grace.png"
    Image.fromarray(grace_rgb).save(photo)
    out = tmp_path / "out"
    assert main(["prepare", str(photo), "--out", str(out)]) == 0
    for name in ("crop.png", "matte.png", "matted.png", "landmarks.png", "prepared.json"):
        assert (out / name).is_file(), name
    crop = np.asarray(Image.open(out / "crop.png"))
    matted = np.asarray(Image.open(out / "matted.png"))
    matte = np.asarray(Image.open(out / "matte.png"))
    assert crop.shape == (512, 512, 3) and matte.shape == (512, 512)
    assert matted[:10, :10].max() < 30 and crop[:10, :10].max() > 60  # background removed
    rec = json.loads((out / "prepared.json").read_text())
    c2w = np.array(rec["cam2world"])
    assert c2w.shape == (4, 4) and abs(np.linalg.norm(c2w[:3, 3]) - 2.7) < 1e-6
    assert np.array(rec["intrinsics"]).shape == (3, 3)
    assert np.array(rec["landmarks_crop_px"]).shape == (478, 3)
    assert abs(rec["yaw_deg"]) < 10 and abs(rec["roll_deg"]) < 10
    assert rec["quality"]["faces_found"] == 1
    assert "yaw" in capsys.readouterr().out


def test_prepare_user_errors_are_one_line(tmp_path, capsys):
    missing = tmp_path / "nope.jpg"
    assert main(["prepare", str(missing)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("voodoo-holo prepare:") and "no such file" in err[-1]
    assert not any("Traceback" in line for line in err)
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((300, 300, 3), 200, np.uint8)).save(blank)
    assert main(["prepare", str(blank), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "no face found" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
