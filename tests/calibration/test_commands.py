"""``doctor``, ``calibrate`` and ``lenticular`` say which route found the display (stand-ins for
Bridge and a Gen1 unit), and the README's sample-calibration commands work without a display."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from standins import DATA, BridgeStandIn, bridge_display, gen1_bus

from app import cli

REPO = Path(__file__).resolve().parents[2]
PORTRAIT = json.loads((DATA / "portrait_visual.json").read_text())
PORTRAIT_QUILT = {"quiltAspect": 0.75, "quiltX": 3360, "quiltY": 3360, "tileX": 8, "tileY": 6}


@pytest.fixture
def bridge():
    with BridgeStandIn([bridge_display(PORTRAIT, default_quilt=PORTRAIT_QUILT)]) as b:
        yield b


def _line(out: str, name: str) -> str:
    (line,) = [ln for ln in out.splitlines() if re.match(rf"\s+\S+\s+{re.escape(name)}\s", ln)]
    return line


def test_doctor_finds_the_display_through_the_bridge_stand_in(bridge, tmp_path):
    env = {**os.environ, "VOODOO_HOLO_BRIDGE_URL": bridge.url, "VOODOO_HOLO_HOME": str(tmp_path)}
    env.pop("DISPLAY", None)
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "doctor"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=REPO,
    ).stdout
    assert "[looking glass]" in out
    assert _line(out, "Bridge").split()[0] == "ok" and "found: display 0" in _line(out, "Bridge")
    cal = _line(out, "calibration")
    assert cal.split()[0] == "ok"
    assert "Looking Glass Portrait LKG-PORT-02283 via bridge" in cal and "view cone 40 deg" in cal
    assert "default quilt 8x6 (48 views), 3360x3360 px" in cal and "at (1920, 0)" in cal
    assert "USB drive" not in out  # the routes after the one that found it are not tried


def test_doctor_finds_the_display_through_the_gen1_hid_stand_in(tmp_path):
    from app.doctor import format_report, looking_glass_checks

    lines, found = looking_glass_checks(bridge_url=None, hid=gen1_bus(), drive_roots=[tmp_path])
    report = format_report(lines)
    assert found is not None and found.route == "hid"
    assert _line(report, "Gen1 USB (HID)").split()[0] == "ok"
    assert "via hid (Gen1 HID EEPROM (HoloPlay, 00A1))" in _line(report, "calibration")
    assert _line(report, "Bridge").split()[:2] == ["--", "Bridge"] and "not asked" in report


def test_doctor_says_what_to_install_for_gen1_without_hidapi(monkeypatch, tmp_path):
    from app.doctor import format_report, looking_glass_checks

    monkeypatch.setitem(sys.modules, "hid", None)
    report = format_report(looking_glass_checks(bridge_url=None, drive_roots=[tmp_path])[0])
    assert "skipped: Gen1 displays cannot be read" in report and "pip install 'voodoo-holo[hid]'" in report
    assert "none found" in _line(report, "calibration")


def test_calibrate_says_which_route_found_the_display(bridge, monkeypatch, capsys):
    monkeypatch.setenv("VOODOO_HOLO_BRIDGE_URL", bridge.url)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert cli.main(["calibrate"]) == 2  # no window system here: stops before opening a window
    out, err = capsys.readouterr()
    assert out.startswith(
        "Looking Glass: Looking Glass Portrait LKG-PORT-02283 via bridge (Looking Glass Bridge at"
    )
    assert "view cone 40 deg, default quilt 8x6 (48 views)" in out
    assert "no display to show the test pattern on" in err


def test_a_hololuminescent_display_gets_a_one_line_pointer_to_the_single_view_output(
    bridge, monkeypatch, capsys
):
    monkeypatch.setenv("VOODOO_HOLO_BRIDGE_URL", bridge.url)
    bridge.displays = [bridge_display(None, hardware_version="27_hld_l", hwid="LKG-HLD-00042")]
    for args in (["calibrate"], ["lenticular", "--test-pattern", "--out", "x.png"]):
        assert cli.main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "Hololuminescent display" in err[0] and "voodoo-holo preview" in err[0]


def _readme_lenticular_commands() -> list[list[str]]:
    text = (REPO / "README.md").read_text()
    cmds = [ln.strip() for ln in text.splitlines() if ln.startswith("voodoo-holo lenticular ")]
    return [shlex.split(c)[1:] for c in cmds]


def test_the_readme_lenticular_examples_work_with_the_sample(tmp_path, monkeypatch, capsys):
    cmds = _readme_lenticular_commands()
    assert len(cmds) == 2 and all("assets/calibration/portrait_sample_visual.json" in c for c in cmds)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "assets").symlink_to(REPO / "assets")
    for args in cmds:
        assert cli.main([*args, "--backend", "numpy"]) == 0
    out = capsys.readouterr().out
    assert out.count("1536x2048 px for LKG-PORT-SAMPLE (calibration from argument") == 2
    native = np.asarray(Image.open(tmp_path / "lkg_test.png"))
    assert native.shape == (2048, 1536, 3)
    quilt = np.asarray(Image.open(tmp_path / "pattern_qs6x4a0.75.png"))
    assert quilt.shape == (4 * 512, 6 * 384, 3)
    # Interleaving the saved quilt gives the same panel image as the test pattern itself.
    assert np.array_equal(native, np.asarray(Image.open(tmp_path / "native.png")))


def test_calibrate_with_the_sample_names_it(monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    sample = REPO / "assets" / "calibration" / "portrait_sample_visual.json"
    assert cli.main(["calibrate", "--calibration", str(sample)]) == 2
    out = capsys.readouterr().out
    assert "Looking Glass Portrait LKG-PORT-SAMPLE via argument" in out and "view cone 40 deg" in out
