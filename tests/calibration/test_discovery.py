"""Discovery order (argument, Bridge, Gen1 HID, drive, settings), what it returns, and layering."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest
from standins import DATA, BridgeStandIn, bridge_display, gen1_bus

from calibration.discovery import NoCalibrationError, resolve_calibration, store_calibration
from calibration.visual import CalibrationError, load_visual

REPO = Path(__file__).resolve().parents[2]
PORTRAIT = json.loads((DATA / "portrait_visual.json").read_text())
GEN3 = json.loads((DATA / "gen3_visual.json").read_text())
SAMPLE = REPO / "assets" / "calibration" / "portrait_sample_visual.json"


def _drive(root: Path, data: dict) -> Path:
    p = root / "LKG-X" / "LKG_calibration" / "visual.json"
    p.parent.mkdir(parents=True)
    p.write_text(json.dumps(data))
    return p


def test_each_route_wins_over_the_ones_after_it(tmp_path):
    media = tmp_path / "media"
    _drive(media, GEN3)
    stored = store_calibration(load_visual(DATA / "gen3_visual.json"), tmp_path / "settings")
    bus = gen1_bus()
    with BridgeStandIn([bridge_display(PORTRAIT, hwid="LKG-P03996")]) as bridge:
        routes = dict(stored=stored, drive_roots=[media], bridge_url=bridge.url, hid=bus)
        assert resolve_calibration(SAMPLE, **routes).route == "argument"
        assert bridge.requests == []  # an explicit file asks nobody
        assert resolve_calibration(**routes).route == "bridge"
        assert bus.opened == []  # Bridge found it: the HID device is left alone
        assert resolve_calibration(**{**routes, "bridge_url": None}).route == "hid"
    found = resolve_calibration(**{**routes, "bridge_url": bridge.url})  # Bridge stopped now
    assert found.route == "hid"
    assert resolve_calibration(**{**routes, "bridge_url": None, "hid": None}).route == "drive"
    found = resolve_calibration(stored=stored, drive_roots=[tmp_path / "none"], bridge_url=None, hid=None)
    assert found.route == "settings" and found.path == stored
    assert [a.route for a in found.attempts] == ["bridge", "hid", "drive", "settings"]


def test_nothing_found_says_what_each_route_saw(tmp_path):
    with pytest.raises(NoCalibrationError) as e:
        resolve_calibration(drive_roots=[tmp_path], bridge_url=None, hid=None)
    msg = str(e.value)
    assert (
        "bridge: not asked" in msg and "drive: no mounted drive" in msg and "settings: no calibration" in msg
    )
    assert "--calibration PATH" in msg and "\n" not in msg
    assert [a.outcome for a in e.value.attempts] == ["skipped", "skipped", "none", "none"]


def test_a_stored_file_that_is_gone_is_reported_only_when_it_is_needed(tmp_path):
    gone = tmp_path / "gone.json"
    with pytest.raises(CalibrationError, match="remembered in your settings is gone"):
        resolve_calibration(stored=gone, drive_roots=[tmp_path], bridge_url=None, hid=None)
    drive = _drive(tmp_path / "media", GEN3)
    assert (
        resolve_calibration(stored=gone, drive_roots=[tmp_path / "media"], bridge_url=None, hid=None).path
        == drive
    )


def test_the_users_saved_adjustment_of_the_same_unit_is_kept(tmp_path):
    nudged = dataclasses.replace(load_visual(DATA / "portrait_visual.json"), center=0.123)
    stored = store_calibration(nudged, tmp_path)
    other = store_calibration(load_visual(DATA / "gen3_visual.json"), tmp_path / "other")
    with BridgeStandIn([bridge_display(PORTRAIT)]) as bridge:
        found = resolve_calibration(stored=stored, drive_roots=[], bridge_url=bridge.url, hid=None)
        assert found.route == "bridge" and found.adjusted_copy == stored
        assert found.calibration is not None and found.calibration.center == 0.123
        assert found.window_xy == (1920, 0)  # what Bridge knows is kept
        assert "with your saved adjustments" in found.describe()
        found = resolve_calibration(stored=other, drive_roots=[], bridge_url=bridge.url, hid=None)
        assert found.adjusted_copy is None and found.calibration.center == pytest.approx(0.431, abs=1e-3)
        assert found.attempts[-1].outcome == "skipped" and "LKG-J00001" in found.attempts[-1].detail


def test_the_sample_is_a_portrait_with_its_view_cone_and_marked_as_a_sample():
    found = resolve_calibration(SAMPLE)
    assert found.model == "Looking Glass Portrait" and found.serial == "LKG-PORT-SAMPLE"
    assert found.view_cone_deg == 40.0 and found.lenticular().screen_w_px == 1536
    assert "not a real display" in found.calibration.extra["_sample"]
    assert "Looking Glass Portrait LKG-PORT-SAMPLE via argument" in found.describe()


def _imported_modules(path: Path) -> set[str]:
    mods = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            mods.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mods.add(node.module)
    return mods


#: calibration/patterns.py draws with display.quilt and is being moved into display/.
MOVING_TO_DISPLAY = {"patterns.py"}


def test_calibration_imports_nothing_from_app_or_display():
    for path in sorted((REPO / "calibration").glob("*.py")):
        if path.name in MOVING_TO_DISPLAY:
            continue
        upward = {m for m in _imported_modules(path) if m.split(".")[0] in ("app", "display")}
        assert not upward, f"{path.name} imports {sorted(upward)}"


def test_the_app_side_remembers_and_finds_the_stored_copy(tmp_path):
    from app.calibration_settings import find_display, remember_calibration, stored_calibration_path
    from app.config import load_config
    from app.paths import user_paths

    assert stored_calibration_path() is None
    dest = remember_calibration(load_visual(SAMPLE))
    assert dest.parent == user_paths().calibration_dir and load_config()["looking_glass_calibration"] == str(
        dest
    )
    found = find_display(drive_roots=[tmp_path], bridge_url=None, hid=None)
    assert found.route == "settings" and found.path == dest and found.serial == "LKG-PORT-SAMPLE"
