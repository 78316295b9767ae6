"""A photo as the driver: one still (PNG quilt, views, side by side) with that photo's expression,
the mesh avatar reading it against the canonical neutral face."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from app.cli import main
from app.compose import plan_views
from display.quilt import parse_quilt_filename, split_quilt
from pipeline.face_model import canonical_face_model
from pipeline.mesh.backend import MeshBackend
from pipeline.mesh.geometry import expression_region_weights, frontalize, mouth_opening_ratio

REPO = Path(__file__).resolve().parents[2]
CLIP = REPO / "assets" / "samples" / "hopper_driver.mp4"


def _frame(i: int, path: Path) -> Path:
    cap = cv2.VideoCapture(str(CLIP))
    cap.set(cv2.CAP_PROP_POS_FRAMES, i)
    ok, f = cap.read()
    cap.release()
    assert ok
    cv2.imwrite(str(path), f)
    return path


def test_region_weights_keep_the_face_shape_out() -> None:
    w = expression_region_weights()
    assert w[13] == w[14] == 1.0 and w[159] == w[386] == 1.0  # lips, upper lids
    assert w[1] == w[152] == w[10] == w[234] == 0.0  # nose tip, chin, forehead, cheek


def test_absolute_mode_reads_the_canonical_face_as_no_expression() -> None:
    from app.render import sample_source
    from pipeline.tracking import prepare_photo

    be = MeshBackend()
    src = be.prepare_source(prepare_photo(sample_source()))
    be.reset_neutral(absolute=True)
    canonical = canonical_face_model().vertices_cm[:468]
    offsets = be._expression_offsets(src, canonical.astype(np.float64), be._driver_neutral_cm)
    assert np.abs(offsets).max() < 1e-9


@pytest.mark.gl
def test_a_photo_driver_gives_a_still_with_its_expression(tmp_path: Path) -> None:
    from pipeline.tracking import PhotoError, prepare_photo

    ratios = {}
    for name, index in (("closed", 0), ("open", 55)):  # the clip opens its mouth at 2.2 s
        driver = _frame(index, tmp_path / f"{name}.png")
        out = tmp_path / name
        assert (
            main(["render", "--driver", str(driver), "--out", str(out), "--view-size", "256", "--quiet"]) == 0
        )
        [png] = list(out.glob("*.png"))
        assert parse_quilt_filename(png) == (6, 4, 0.75)
        quilt = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB)
        centre = split_quilt(quilt, plan_views(24, 256).quilt)[12]
        try:
            ratios[name] = mouth_opening_ratio(frontalize(prepare_photo(centre).landmarks_px)[0])
        except PhotoError as e:
            pytest.fail(f"no face in the centre view of the {name}-mouth still: {e}")
    assert ratios["open"] > ratios["closed"] + 0.1, ratios
    # A second run into the same folder needs --force; the side-by-side still is one image.
    assert (
        main(["render", "--driver", str(tmp_path / "open.png"), "--out", str(tmp_path / "open"), "--quiet"])
        == 2
    )
    sbs = tmp_path / "sbs.png"
    assert (
        main(
            [
                "render",
                "--driver",
                str(tmp_path / "open.png"),
                "--format",
                "sbs",
                "--out",
                str(sbs),
                "--quiet",
            ]
        )
        == 0
    )
    assert cv2.imread(str(sbs)).shape[:2] == (384, 384 + 384 + 288)
