"""visual.json: parsing, validation errors that name the field, derived shader uniforms, storage."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest

from calibration.discovery import (
    find_drive_calibrations,
    resolve_calibration,
    store_calibration,
)
from calibration.visual import CalibrationError, load_visual, parse_visual

DATA = Path(__file__).resolve().parents[1] / "data" / "looking_glass"


def raw(name: str, **changes):
    data = json.loads((DATA / f"{name}_visual.json").read_text())
    data = copy.deepcopy(data)
    for k, v in changes.items():
        if v is None:
            data.pop(k, None)
        else:
            data[k] = v
    return data


def test_portrait_file_parses_every_field():
    cal = load_visual(DATA / "portrait_visual.json")
    assert cal.serial == "LKG-PORT-02283"
    assert (cal.screen_w_px, cal.screen_h_px) == (1536, 2048)
    assert cal.dpi == 324.0 and cal.inv_view is True and cal.flip_subp is False
    assert cal.view_cone_deg == 40.0 and cal.vertical_angle_deg == 0.0
    assert not cal.is_gen3 and cal.cell_pattern_mode == 0


def test_gen3_cells_and_pattern_mode_are_kept_and_normalised_once():
    cal = parse_visual(raw("gen3"))
    assert cal.is_gen3 and cal.cell_pattern_mode == 3 and len(cal.subpixel_cells) == 4
    sp = cal.shader_params()
    # G of cell 0 sits a third of a pixel right: divided by W exactly once.
    assert sp.cells_norm[0][1] == pytest.approx((0.3333 / 3840, 0.0))
    assert sp.cells_norm[2][0] == pytest.approx((0.0, 0.5 / 2160))
    # Reading the derived values twice must not divide again.
    assert cal.shader_params().cells_norm == sp.cells_norm


def test_lowercase_cell_pattern_mode_is_accepted():
    data = raw("gen3")
    data["cellPatternMode"] = data.pop("CellPatternMode")
    assert parse_visual(data).cell_pattern_mode == 3


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # (calibration fields, (P, T, S)) worked values from the display spec, table 2.2
        ({}, (246.85, -0.18404, 2.170e-4)),
        (
            {"pitch": 42, "slope": -6, "DPI": 280, "screenW": 7680, "screenH": 4320},
            (1136.3, -0.09375, 4.34e-5),
        ),
        (
            {"pitch": 80.745, "slope": -6.659, "DPI": 491, "screenW": 1440, "screenH": 2560},
            (234.18, -0.26698, 2.315e-4),
        ),
        (
            {"pitch": 49.83, "slope": 5.216, "DPI": 338, "screenW": 2560, "screenH": 1600},
            (370.6, 0.1198, 1.30e-4),
        ),
    ],
)
def test_derived_uniforms_match_the_worked_values(changes, expected):
    data = raw("portrait", **{k: {"value": v} for k, v in changes.items()})
    sp = parse_visual(data).shader_params()
    p, t, s = expected
    assert sp.pitch == pytest.approx(p, rel=2e-4)
    assert sp.tilt == pytest.approx(t, rel=2e-3)
    assert sp.subp == pytest.approx(s, rel=3e-3)


def test_pitch_uses_cos_atan_of_inverse_slope():
    cal = parse_visual(raw("portrait"))
    sp = cal.shader_params()
    factor = sp.pitch / (cal.pitch * cal.screen_w_px / cal.dpi)
    assert 0.98 < factor < 1.0  # cos(atan(1/slope)), not cos(atan(slope)) ~ 0.14
    assert factor == pytest.approx(abs(cal.slope) / math.sqrt(1 + cal.slope**2))


def test_flips_negate_tilt_and_subpixel_step_and_swap_red_blue():
    base = parse_visual(raw("portrait")).shader_params()
    flipped = parse_visual(raw("portrait", flipImageX={"value": 1}, flipSubp={"value": 1})).shader_params()
    assert flipped.tilt == pytest.approx(-base.tilt) and flipped.subp == pytest.approx(-base.subp)
    assert (base.red_slot, base.blue_slot) == (0, 2)
    assert (flipped.red_slot, flipped.blue_slot) == (2, 0)


def test_bare_numbers_and_round_trip():
    data = {k: (v["value"] if isinstance(v, dict) else v) for k, v in raw("gen3").items()}
    cal = parse_visual(data)
    again = parse_visual(json.loads(cal.to_json()))
    assert again == cal
    assert json.loads(cal.to_json())["pitch"] == {"value": cal.pitch}


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"pitch": None}, "pitch", "missing"),
        ({"pitch": {"value": "abc"}}, "pitch", "number"),
        ({"slope": {"val": -7}}, "slope", '"value"'),
        ({"slope": {"value": 0.0}}, "slope", "implausible"),
        ({"center": {"value": None}}, "center", "number"),
        ({"DPI": {"value": -324}}, "DPI", "implausible"),
        ({"screenW": {"value": 1536.5}}, "screenW", "whole"),
        ({"screenH": {"value": 100000}}, "screenH", "implausible"),
        ({"invView": {"value": 2}}, "invView", "0 or 1"),
        ({"flipSubp": {"value": True}}, "flipSubp", "number"),
        ({"viewCone": {"value": 400}}, "viewCone", "implausible"),
        ({"CellPatternMode": {"value": 7}}, "CellPatternMode", "0 to 4"),
        ({"subpixelCells": "none"}, "subpixelCells", "list"),
        ({"subpixelCells": [{"ROffsetX": 0}]}, "subpixelCells[0].ROffsetY", "missing"),
        (
            {
                "subpixelCells": [
                    dict.fromkeys(("ROffsetX", "ROffsetY", "GOffsetX", "GOffsetY", "BOffsetX"), 0)
                    | {"BOffsetY": 40}
                ]
            },
            "subpixelCells[0].BOffsetY",
            "implausible",
        ),  # fmt: skip
        ({"serial": {"value": 3}}, "serial", "text"),
    ],
)
def test_malformed_fields_are_named(changes, field, words):
    with pytest.raises(CalibrationError) as e:
        parse_visual(raw("portrait", **changes), source="my_visual.json")
    assert e.value.field == field
    assert f"field '{field}'" in str(e.value) and "my_visual.json" in str(e.value)
    assert words in str(e.value)


def test_unreadable_files_say_why(tmp_path):
    with pytest.raises(CalibrationError, match="not found"):
        load_visual(tmp_path / "missing.json")
    bad = tmp_path / "visual.json"
    bad.write_text('{"pitch": {"value": 52.5},')
    with pytest.raises(CalibrationError, match=r"not valid JSON \(line 1"):
        load_visual(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(CalibrationError, match="JSON object"):
        load_visual(bad)


def _drive(root: Path, label: str, data: dict) -> Path:
    p = root / label / "LKG_calibration" / "visual.json"
    p.parent.mkdir(parents=True)
    p.write_text(json.dumps(data))
    return p


def test_drive_is_found_under_mount_roots(tmp_path):
    media = tmp_path / "media" / "someone"
    (media / "USB-STICK").mkdir(parents=True)
    path = _drive(media, "LKG-P00671", raw("portrait"))
    assert find_drive_calibrations([media, tmp_path / "absent"]) == [path]
    found = resolve_calibration(drive_roots=[media], bridge_url=None, hid=None)
    assert found.route == "drive" and found.path == path and found.calibration.serial == "LKG-PORT-02283"
    assert found.model == "Looking Glass Portrait"


def test_store_writes_the_serial_named_file_atomically(tmp_path):
    folder = tmp_path / "calibration"
    stored = store_calibration(parse_visual(raw("gen3")), folder)
    assert stored == folder / "LKG-J00001.json" and load_visual(stored) == parse_visual(raw("gen3"))
    assert sorted(p.name for p in folder.iterdir()) == ["LKG-J00001.json"]  # no temporary left behind
