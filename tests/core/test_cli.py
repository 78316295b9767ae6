"""The command-line surface: help, default action, unimplemented subcommands, doctor."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app import cli


def test_help_lists_every_planned_subcommand(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for name in ("preview", "select", "render", "calibrate", "bench", "doctor", "export", "prepare"):
        assert name in out
    assert "--source me.jpg" in out


def test_live_call_is_the_default_action(monkeypatch):
    seen = {}

    def fake_dispatch(argv):
        seen["argv"] = argv
        raise SystemExit(0)

    parser = cli.build_parser()
    monkeypatch.setattr(parser, "parse_args", fake_dispatch)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    with pytest.raises(SystemExit):
        cli.main(["--source", "me.jpg"])
    assert seen["argv"][:3] == ["live", "--source", "me.jpg"]


def test_unimplemented_subcommand_exits_nonzero(monkeypatch, capsys):
    ghost = cli.Command("ghost", "app.commands._does_not_exist", "a planned command", "planned")
    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, ghost))
    monkeypatch.setitem(cli._BY_NAME, "ghost", ghost)
    assert cli.main(["ghost"]) == 2
    assert "not implemented" in capsys.readouterr().err


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("voodoo-holo ")


def test_doctor_reports_and_exits_zero_when_something_can_run():
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "doctor"], capture_output=True, text=True, timeout=180
    )
    assert "[packages]" in out.stdout and "[opengl]" in out.stdout and "can run" in out.stdout
    assert "VOODOO 3D weights" in out.stdout
    can_run = [ln for ln in out.stdout.splitlines() if "can run" in ln][0]
    assert out.returncode == (0 if can_run.split()[0] == "ok" else 1)


def test_doctor_finds_weights_in_voodoo_holo_home(tmp_path, monkeypatch):
    from app.doctor import run_checks  # noqa: F401 - imported to ensure the module loads
    from app.paths import user_paths

    monkeypatch.setenv("VOODOO_HOLO_HOME", str(tmp_path))
    p = user_paths()
    assert p.weights_dir == tmp_path / "data" / "weights"
    assert p.find_weights() is None
    p.weights_dir.mkdir(parents=True)
    (p.weights_dir / "voodoo3d.pth").write_bytes(b"x")
    assert p.find_weights() == p.weights_dir / "voodoo3d.pth"


def test_only_one_opencv_distribution_installed():
    from app.doctor import OPENCV_DISTS, installed_versions

    vers = installed_versions()
    present = [d for d in OPENCV_DISTS if vers[d]]
    assert present == ["opencv-contrib-python"], present
    import cv2

    assert hasattr(cv2, "VideoCapture")


def test_doctor_reports_the_stored_calibration():
    from pathlib import Path

    from app.calibration_settings import remember_calibration
    from app.doctor import _calibration_check
    from calibration.visual import load_visual

    assert "none" in _calibration_check().detail
    sample = Path(__file__).resolve().parents[1] / "data" / "looking_glass" / "portrait_visual.json"
    remember_calibration(load_visual(sample))
    check = _calibration_check()
    assert check.ok and "via settings" in check.detail and "1536x2048" in check.detail
