"""``voodoo-holo lenticular``: both backends write the same panel image; user errors are one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app import cli

DATA = Path(__file__).resolve().parents[1] / "data" / "looking_glass"


def small_calibration(tmp_path: Path, name: str = "portrait", w: int = 150, h: int = 200) -> Path:
    raw = json.loads((DATA / f"{name}_visual.json").read_text())
    raw["screenW"], raw["screenH"] = {"value": w}, {"value": h}
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps(raw))
    return p


def test_numpy_backend_writes_the_reference_image(tmp_path, capsys):
    from calibration.visual import load_visual
    from display.lenticular import interleave_numpy
    from display.quilt import QuiltLayout

    cal_path = small_calibration(tmp_path)
    rng = np.random.default_rng(3)
    quilt = rng.integers(0, 256, (4 * 30, 6 * 24, 3), dtype=np.uint8)
    src = tmp_path / "rand_qs6x4a0.75.png"
    Image.fromarray(quilt).save(src)
    out = tmp_path / "out" / "native.png"
    rc = cli.main(
        ["lenticular", str(src), "--calibration", str(cal_path), "--out", str(out), "--backend", "numpy"]
    )
    assert rc == 0
    assert "6x4, 24 views" in capsys.readouterr().out
    native = np.asarray(Image.open(out))
    layout = QuiltLayout.from_quilt_size(144, 120, 6, 4, 0.75)
    expected = interleave_numpy(quilt, layout, load_visual(cal_path).shader_params())
    np.testing.assert_array_equal(native, expected)


@pytest.mark.gl
@pytest.mark.parametrize("name", ["portrait", "gen3"])
@pytest.mark.parametrize("filter_mode", ["nearest", "linear"])
def test_gl_and_numpy_backends_agree(tmp_path, name, filter_mode):
    cal_path = small_calibration(tmp_path, name, 160, 90) if name == "gen3" else small_calibration(tmp_path)
    outs = {}
    for backend in ("gl", "numpy"):
        outs[backend] = tmp_path / f"{backend}.png"
        args = ["lenticular", "--test-pattern", "--calibration", str(cal_path), "--out", str(outs[backend])]
        assert cli.main([*args, "--backend", backend, "--filter", filter_mode, "--views", "20"]) == 0
    a, b = (np.asarray(Image.open(outs[k])).astype(int) for k in ("gl", "numpy"))
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= (0 if filter_mode == "nearest" else 1)


def test_fewer_views_than_tiles_and_layout_overrides(tmp_path):
    cal_path = small_calibration(tmp_path)
    src = tmp_path / "plain.png"
    Image.fromarray(np.zeros((60, 80, 3), np.uint8)).save(src)
    base = [
        "lenticular",
        str(src),
        "--calibration",
        str(cal_path),
        "--out",
        str(tmp_path / "n.png"),
        "--backend",
        "numpy",
    ]
    assert cli.main([*base, "--cols", "4", "--rows", "3", "--aspect", "0.75", "--views", "10"]) == 0
    assert cli.main([*base, "--cols", "4", "--rows", "3", "--aspect", "0.75", "--views", "13"]) == 2


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda d: ["missing.png"], "file not found"),
        (lambda d: [str(d / "plain.png")], "--cols, --rows and --aspect"),
        (lambda d: [str(d / "notimage_qs2x2a1.png")], "not a readable image"),
        (lambda d: [], "--test-pattern"),
    ],
)
def test_user_errors_are_one_clear_line(tmp_path, capsys, make, words):
    cal_path = small_calibration(tmp_path)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "plain.png")
    (tmp_path / "notimage_qs2x2a1.png").write_text("hello")
    rc = cli.main(
        ["lenticular", *make(tmp_path), "--calibration", str(cal_path), "--out", str(tmp_path / "o.png")]
    )
    err = capsys.readouterr().err
    assert rc == 2 and words in err and "Traceback" not in err


def test_malformed_calibration_names_the_field(tmp_path, capsys):
    raw = json.loads((DATA / "portrait_visual.json").read_text())
    raw["slope"] = {"value": "steep"}
    bad = tmp_path / "visual.json"
    bad.write_text(json.dumps(raw))
    rc = cli.main(
        ["lenticular", "--test-pattern", "--calibration", str(bad), "--out", str(tmp_path / "o.png")]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "field 'slope'" in err and str(bad) in err


def test_remember_stores_the_calibration_for_later_runs(tmp_path, capsys):
    cal_path = small_calibration(tmp_path)
    out = tmp_path / "o.png"
    common = ["lenticular", "--test-pattern", "--out", str(out), "--backend", "numpy"]
    assert cli.main([*common, "--calibration", str(cal_path), "--remember"]) == 0
    cal_path.unlink()
    assert cli.main([*common, "--force"]) == 0  # no --calibration: the stored copy is used
    assert "calibration from settings" in capsys.readouterr().out
