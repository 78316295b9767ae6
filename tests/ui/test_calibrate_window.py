"""``voodoo-holo calibrate``: the numbered pattern on a (fake, Xvfb) Looking Glass, nudged and saved."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.ui.calibrate_app import CenterNudge

DATA = Path(__file__).resolve().parents[1] / "data" / "looking_glass"


def test_nudge_keys_steps_and_save_state():
    n = CenterNudge(original=0.25, num_views=24)
    assert n.handle_key("right") == "changed" and n.center == pytest.approx(0.26)
    assert n.handle_key("left", shift=True) == "changed" and n.center == pytest.approx(0.259)
    assert n.handle_key("up") == "changed" and n.center == pytest.approx(0.259 + 1 / 24)
    assert n.dirty
    assert n.handle_key("r") == "changed" and n.center == 0.25 and not n.dirty
    n.handle_key("down")
    assert n.handle_key("s") == "save"
    n.saved()
    assert not n.dirty and n.original == pytest.approx(0.25 - 1 / 24)
    assert n.handle_key("escape") == "quit" and n.handle_key("x") is None


@pytest.mark.window
@pytest.mark.gl
def test_pattern_on_the_looking_glass_nudged_and_saved(tmp_path, xvfb_server):
    from ui_support import run_probe

    from app.config import load_config
    from calibration.visual import load_visual

    raw = json.loads((DATA / "gen3_visual.json").read_text())
    raw["screenW"], raw["screenH"] = {"value": 480}, {"value": 360}  # the Xvfb screen is the panel
    visual = tmp_path / "visual.json"
    visual.write_text(json.dumps(raw))
    original = load_visual(visual).center
    out = tmp_path / "out"
    out.mkdir()
    with xvfb_server(480, 360) as display:
        r = run_probe(display, "calibrate_probe.py", str(visual), str(out), out=out)
    assert r["mode"] == "lenticular"
    assert r["diff_before"] <= 1  # the window shows the interleaved numbered pattern
    assert r["center"] == pytest.approx(original + 5 * 0.01 - 0.001)
    assert f"{r['center']:.4f}" in r["caption"] and "not saved" in r["caption"]
    assert r["diff_after"] <= 1 and r["changed_pixels"] > 0.2  # the nudged centre is what is shown
    assert r["closed"] is True
    stored = load_config()["looking_glass_calibration"]
    assert r["saved_to"] == stored and load_visual(stored).center == pytest.approx(r["center"])
    shot = np.asarray(Image.open(out / "calibrate_pattern.png"))
    assert shot.shape == (360, 480, 3) and len(np.unique(shot.reshape(-1, 3), axis=0)) > 20


def test_calibrate_without_any_calibration_says_where_to_find_one(capsys):
    from app.cli import main

    assert main(["calibrate"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "visual.json" in err[0] and "--calibration PATH" in err[0]


def test_calibrate_with_a_bad_file_names_the_field(tmp_path, capsys):
    from app.cli import main

    raw = json.loads((DATA / "gen3_visual.json").read_text())
    raw["pitch"] = {"value": -3}
    bad = tmp_path / "visual.json"
    bad.write_text(json.dumps(raw))
    assert main(["calibrate", "--calibration", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'pitch'" in err[0]
