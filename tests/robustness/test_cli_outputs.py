"""No file is lost: ``prepare`` and ``lenticular`` refuse to replace their outputs without
``--force``, outputs that cannot be written are named before any work, a live call with an
unwritable ``--metrics-out`` does not start, and ``doctor`` says what is wrong with a weights
file instead of "found". Real commands on real files."""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from app import cli
from app.doctor import weights_check
from pipeline.voodoo.checkpoint import _is_recomputable, expected_layout

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "assets" / "samples"
CALIBRATION = REPO / "assets" / "calibration" / "portrait_sample_visual.json"


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()
    }


def _one_line(err: str, prog: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith(("W0000", "I0000"))]
    assert len(lines) == 1 and lines[0].startswith(prog) and "Traceback" not in err, err
    return lines[0]


def test_prepare_keeps_an_earlier_output_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "check"
    assert cli.main(["prepare", str(SAMPLES / "astronaut.jpg"), "--out", str(out)]) == 0
    capsys.readouterr()
    before = _digest(out)
    assert sorted(before) == ["crop.png", "landmarks.png", "matte.png", "matted.png", "prepared.json"]

    rc = cli.main(["prepare", str(SAMPLES / "grace_hopper.jpg"), "--out", str(out)])
    line = _one_line(capsys.readouterr().err, "voodoo-holo prepare:")
    assert rc == 1 and "crop.png and 4 more already exist" in line and "--force" in line
    assert _digest(out) == before

    assert cli.main(["prepare", str(SAMPLES / "grace_hopper.jpg"), "--out", str(out), "--force"]) == 0
    after = _digest(out)
    assert after.keys() == before.keys() and after["crop.png"] != before["crop.png"]
    assert "grace_hopper.jpg" in (out / "prepared.json").read_text()


def test_prepare_names_an_output_that_cannot_be_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes").write_text("eggs\n")
    rc = cli.main(["prepare", str(SAMPLES / "astronaut.jpg"), "--out", str(tmp_path / "notes" / "check")])
    line = _one_line(capsys.readouterr().err, "voodoo-holo prepare:")
    assert rc == 1 and "notes is a file, not a folder" in line
    assert (tmp_path / "notes").read_text() == "eggs\n"


def _lenticular(*args: str) -> int:
    return cli.main(["lenticular", "--backend", "numpy", "--calibration", str(CALIBRATION), *args])


def test_lenticular_keeps_existing_images_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    native, quilt = tmp_path / "native.png", tmp_path / "pattern_qs6x4a0.75.png"
    assert _lenticular("--test-pattern", "--out", str(native), "--save-quilt", str(quilt)) == 0
    capsys.readouterr()
    before = _digest(tmp_path)

    assert _lenticular("--test-pattern", "--out", str(native)) == 2
    line = _one_line(capsys.readouterr().err, "voodoo-holo lenticular:")
    assert "native.png already exists" in line and "--force" in line
    assert _lenticular("--test-pattern", "--out", str(tmp_path / "new.png"), "--save-quilt", str(quilt)) == 2
    line = _one_line(capsys.readouterr().err, "voodoo-holo lenticular:")
    assert "already exists" in line and "choose another --save-quilt" in line
    assert _lenticular(str(quilt), "--out", str(quilt), "--force") == 2
    assert "is the quilt image being read" in _one_line(capsys.readouterr().err, "voodoo-holo lenticular:")
    assert _digest(tmp_path) == before  # nothing replaced, nothing added

    assert _lenticular(str(quilt), "--out", str(native), "--force", "--filter", "linear") == 0
    assert _digest(tmp_path)["native.png"] != before["native.png"]  # blended views: another image


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs a folder no one can write in (/proc)")
def test_lenticular_names_an_unwritable_output_before_any_work(capsys: pytest.CaptureFixture[str]) -> None:
    assert _lenticular("--test-pattern", "--out", "/proc/voodoo-holo/native.png") == 2
    line = _one_line(capsys.readouterr().err, "voodoo-holo lenticular:")
    assert "--out /proc/voodoo-holo/native.png: cannot write in /proc" in line


@pytest.mark.parametrize("where", ["folder", "under-a-file"])
def test_a_live_call_with_an_unwritable_metrics_file_does_not_start(tmp_path: Path, where: str) -> None:
    (tmp_path / "notes").write_text("eggs\n")
    metrics = tmp_path if where == "folder" else tmp_path / "notes" / "m.json"
    run_tmp = tmp_path / "tmp"
    run_tmp.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "--source", str(SAMPLES / "astronaut.jpg"), "--headless",
         "--backend", "mesh", "--layout", "cpu", "--duration", "30", "--metrics-out", str(metrics)],
        capture_output=True, text=True, timeout=120, check=False,
        env=dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(run_tmp)),
    )  # fmt: skip
    line = _one_line(proc.stderr, "voodoo-holo:")
    assert proc.returncode == 2 and "--metrics-out" in line
    assert ("is a folder" if where == "folder" else "notes is a file") in line
    assert "starting" not in proc.stdout
    assert list(run_tmp.iterdir()) == []  # no run folder was made


def test_doctor_says_what_is_wrong_with_the_weights_file(tmp_path: Path) -> None:
    missing = weights_check(None, [tmp_path / "voodoo3d.pth"])
    assert missing.ok is None and "not found" in missing.detail

    text = tmp_path / "text.pth"
    text.write_text("these are not weights\n")
    check = weights_check(text, [text])
    assert check.ok is False and "cannot be read" in check.detail and "found" not in check.detail

    pickled = tmp_path / "pickled.pth"
    pickled.write_bytes(pickle.dumps({"state_dict": {"a": _Evil()}}))
    check = weights_check(pickled, [pickled])
    assert check.ok is False and "refused" in check.detail

    layout = {
        k: shape for k, (shape, _) in expected_layout(keep_unused=True).items() if not _is_recomputable(k)
    }
    # Stride-0 tensors: the official layout's shapes in a file of a few hundred kilobytes.
    state = {k: torch.zeros(1).expand(*shape) for k, shape in layout.items()}
    good = tmp_path / "voodoo3d.pth"
    torch.save(state, good)
    check = weights_check(good, [good])
    assert check.ok is True and "every key in the official layout" in check.detail

    first = next(iter(layout))
    torch.save({**state, first: torch.zeros(2, 2)}, tmp_path / "reshaped.pth")
    check = weights_check(tmp_path / "reshaped.pth", [])
    assert check.ok is False and f"{first} expected" in check.detail and "found [2, 2]" in check.detail
    del state[first]
    torch.save(state, tmp_path / "short.pth")
    check = weights_check(tmp_path / "short.pth", [])
    assert check.ok is False and f"1 missing key(s): {first}" in check.detail


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo loaded > /dev/null",))
