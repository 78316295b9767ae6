"""The parity tool: metric logic (fast) and the full run on the shared fixture (slow)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.voodoo.parity import CHECKS, compare_outputs, main


def _fake_fixture(rng: np.random.Generator) -> dict[str, np.ndarray]:
    planes = rng.standard_normal((1, 3, 32, 8, 8)).astype(np.float32)
    idx = np.sort(rng.choice(planes.size, 100, replace=False))
    depth = (2.7 + 0.01 * rng.standard_normal((1, 1, 4, 4))).astype(np.float32)
    return {
        "triplane_sample_idx": idx,
        "source_triplane_sampled": planes.reshape(-1)[idx],
        "source_triplane_f16": planes.astype(np.float16),
        "out_image_raw": rng.standard_normal((1, 3, 4, 4)).astype(np.float32),
        "out_depth": depth,
    }


def _by_name(results) -> dict[str, list]:
    out: dict[str, list] = {}
    for r in results:
        out.setdefault(r.check.ref, []).append(r)
    return out


def test_compare_outputs_passes_exact_and_fails_perturbed() -> None:
    rng = np.random.default_rng(0)
    fx = _fake_fixture(rng)
    planes = fx["source_triplane_f16"].astype(np.float32)
    planes.reshape(-1)[fx["triplane_sample_idx"]] = fx["source_triplane_sampled"]
    ours = {"source_triplane": planes, "out_image_raw": fx["out_image_raw"], "out_depth": fx["out_depth"]}
    res = _by_name(compare_outputs(ours, fx))
    assert set(res) == {"source_triplane_sampled", "source_triplane_f16", "out_image_raw", "out_depth"}
    assert all(r.ok for rs in res.values() for r in rs)
    assert res["source_triplane_sampled"][0].error == 0.0

    bad = dict(ours)
    bad["out_image_raw"] = ours["out_image_raw"] * (1 + 2e-4)  # relative L2 2e-4 > 1e-4
    bad["out_depth"] = ours["out_depth"] + 2e-4  # small vs spread but max|d| > 1e-4
    res = _by_name(compare_outputs(bad, fx))
    assert not res["out_image_raw"][0].ok and res["out_image_raw"][0].error == pytest.approx(2e-4, rel=1e-3)
    depth = res["out_depth"][0]
    assert not depth.ok and depth.max_abs == pytest.approx(2e-4, rel=1e-2)


def test_depth_is_measured_against_its_spread() -> None:
    rng = np.random.default_rng(1)
    fx = _fake_fixture(rng)
    ref = fx["out_depth"]
    shifted = ref + 0.1 * (ref - ref.mean())  # 10 % of the spread, max abs << 1e-2
    (r,) = compare_outputs({"out_depth": shifted}, fx)
    assert r.error == pytest.approx(0.1, rel=1e-3) and not r.ok


def test_every_output_name_of_the_fixture_format_is_checked() -> None:
    names = {c.name for c in CHECKS}
    assert names >= {
        "source_triplane",
        "driver_triplane",
        "exp_delta",
        "new_triplane",
        "src_frontal_image",
        "src_frontal_image_raw",
        "src_frontal_depth",
        "drv_frontal_image_raw",
        "drv_frontal_depth",
        "out_image_raw",
        "out_depth",
        "out_image",
    }


def test_cli_user_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.savez(tmp_path / "f.npz", in_source=np.zeros(1))
    rc = main(["--weights", str(tmp_path / "missing.pt"), "--fixture", str(tmp_path / "f.npz")])
    err = capsys.readouterr().err
    assert rc == 2 and "in_driver" in err and err.count("\n") == 1 and "Traceback" not in err
    np.savez(
        tmp_path / "g.npz",
        **{k: np.zeros(1) for k in ("in_source", "in_driver", "in_driver_cam2world", "in_driver_intrinsics")},
    )
    rc = main(["--weights", str(tmp_path / "missing.pt"), "--fixture", str(tmp_path / "g.npz")])
    err = capsys.readouterr().err
    assert rc == 2 and "missing.pt does not exist" in err and err.count("\n") == 1


@pytest.mark.slow
def test_parity_tool_passes_on_the_shared_fixture(
    parity_weights: Path, parity_fixture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ours.npz"
    rc = main(["--weights", str(parity_weights), "--fixture", str(parity_fixture), "--save", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "FAIL" not in text and "15/15 within tolerance" in text
    with np.load(out) as saved:
        assert saved["out_image"].shape == (1, 3, 512, 512) and saved["new_triplane"].shape == (
            1,
            3,
            32,
            256,
            256,
        )
    # the independent checker shipped with the fixture agrees
    proc = subprocess.run(
        [sys.executable, str(parity_fixture.parent / "check_parity.py"), str(parity_fixture), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("ok  ") == 14


@pytest.mark.gpu
@pytest.mark.slow
def test_parity_on_cuda_float32(
    parity_weights: Path, parity_fixture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CUDA float32 (TF32 off, set by the tool) meets the same tolerances as the CPU."""
    rc = main(["--weights", str(parity_weights), "--fixture", str(parity_fixture), "--device", "cuda"])
    text = capsys.readouterr().out
    assert rc == 0, text


@pytest.mark.gpu
@pytest.mark.slow
def test_bfloat16_networks_stay_close(parity_weights: Path, parity_fixture: Path) -> None:
    """bf16 encoders + SR (renderer in float32): finite and within a few percent of the fixture.

    Not a parity check (the fixture's tolerances are float32 ones); it guards against the
    overflow/NaN failures half precision can cause in the normalisation-free encoders.
    """
    from pipeline.voodoo.checkpoint import load_model
    from pipeline.voodoo.model import ModelConfig
    from pipeline.voodoo.parity import load_fixture, run_model_on_fixture

    fixture = load_fixture(parity_fixture)
    model, _ = load_model(parity_weights, ModelConfig(device="cuda", dtype="bfloat16"), progress=False)
    ours = run_model_on_fixture(model, fixture)
    for name in ("out_image_raw", "out_image", "src_frontal_image"):
        assert np.isfinite(ours[name]).all(), name
        ref = fixture[name].astype(np.float64)
        rel = np.linalg.norm(ours[name] - ref) / np.linalg.norm(ref)
        assert rel < 0.05, (name, rel)
