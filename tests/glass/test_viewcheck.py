"""``python -m pipeline.viewcheck`` on the bundled sample portraits (mesh avatar, EGL)."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.reenact import ViewSettings
from pipeline.viewcheck import Targets, check_folder, main

SAMPLES = ("astronaut.jpg", "grace_hopper.jpg")


def sample(name: str) -> Path:
    return Path(str(resources.files("assets.samples").joinpath(name)))


@pytest.mark.gl
def test_sample_pairs_are_framed_and_focused(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in SAMPLES:
        shutil.copy(sample(name), photos / name)
    Image.fromarray(np.full((300, 200, 3), 90, np.uint8)).save(photos / "wall.png")  # no face: skipped
    skipped: list[str] = []
    reports = check_folder(photos, ViewSettings(), out=tmp_path / "out", log=skipped.append)
    assert len(skipped) == 1 and "wall.png" in skipped[0]
    assert [(r.source, r.driver) for r in reports] == [
        ("astronaut.jpg", "grace_hopper.jpg"),
        ("grace_hopper.jpg", "astronaut.jpg"),
    ]
    t = Targets()
    for r in reports:
        assert len(r.yaw_deg) == 24 and np.all(np.isfinite(r.yaw_deg)), r.yaw_deg
        assert max(r.border_worst) <= t.border_max, r.summary()
        assert r.eye_drift <= t.eye_drift_max, r.summary()
        assert abs(r.yaw_span_deg - 35.0) <= t.span_tolerance * 35.0, r.summary()
        # The yaw follows the views from the left-most to the right-most.
        assert np.corrcoef(np.arange(24), r.yaw_deg)[0, 1] > 0.99
    data = json.loads((tmp_path / "out" / "viewcheck.json").read_text())
    assert len(data["pairs"]) == 2 and data["settings"]["view_cone_deg"] == 35.0
    sheet = np.asarray(Image.open(tmp_path / "out" / "pair00_astronaut.png"))
    assert sheet.shape == (4 * 384, 6 * 288, 3)


def test_unusable_folders_get_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'missing'} is not a folder of photos"
    shutil.copy(sample(SAMPLES[0]), tmp_path / SAMPLES[0])
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {tmp_path} holds 1 photo(s) with a usable face; at least 2 are needed"]
    assert main([str(tmp_path), "--reads", "0"]) == 2
    assert "--reads must be 1..9" in capsys.readouterr().err


@pytest.mark.gl
def test_a_mirrored_reading_is_flipped_back_into_the_views_world() -> None:
    """``--mirror`` also reads each view flipped left-right; the camera read from it, flipped
    back, turns the same way as the view itself (a sign error would average the sweep away)."""
    from pipeline.mesh.backend import MeshBackend
    from pipeline.tracking import PhotoConfig, PhotoPreprocessor
    from pipeline.viewcheck import measure_pair

    settings = ViewSettings(num_views=2, view_cone_deg=40.0)  # views at -20 and +20 deg
    with PhotoPreprocessor() as prep:
        face = prep.prepare(sample("astronaut.jpg"))
    backend = MeshBackend()
    try:
        with PhotoPreprocessor(PhotoConfig(matte=None, context_scale=1.0)) as reader:
            plain, _ = measure_pair(backend, reader, face, face, settings)
            both, _ = measure_pair(backend, reader, face, face, settings, mirror=True)
    finally:
        backend.close()
    assert abs(plain.yaw_span_deg - 40.0) <= 6.0, plain.yaw_deg
    assert abs(both.yaw_span_deg - 40.0) <= 6.0, both.yaw_deg
    np.testing.assert_allclose(both.yaw_deg, plain.yaw_deg, atol=3.0)
