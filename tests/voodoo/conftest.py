"""Fixtures for the VOODOO 3D model tests.

The parity fixture and its weight generator live in the specs folder beside the repository
(``../shared/parity``). Tests that need them skip with a reason when it is absent. The
synthetic parity weights (~1 GB) are generated once per test run into a pytest temp dir.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
PARITY_DIR = SHARED / "parity"
MANIFEST = SHARED / "spec" / "voodoo3d_state_dict.json"
FIXTURE = PARITY_DIR / "fixture_seed3.npz"


@pytest.fixture(scope="session")
def manifest_path() -> Path:
    if not MANIFEST.is_file():
        pytest.skip(
            f"state-dict manifest not found ({MANIFEST.parent.parent.name}/spec/ beside the repository)"
        )
    return MANIFEST


@pytest.fixture(scope="session")
def parity_fixture() -> Path:
    if not FIXTURE.is_file():
        pytest.skip(f"parity fixture not found ({FIXTURE.parent.parent.name}/parity/ beside the repository)")
    return FIXTURE


@pytest.fixture(scope="session")
def parity_weights(tmp_path_factory: pytest.TempPathFactory, manifest_path: Path) -> Path:
    """Weights for fixture_seed3.npz, made by the fixture's own generator (seed 3)."""
    out = tmp_path_factory.mktemp("parity_weights") / "weights_seed3.pt"
    proc = subprocess.run(
        [
            sys.executable,
            str(PARITY_DIR / "make_weights.py"),
            str(manifest_path),
            "--seed",
            "3",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture()
def zero_state_dict() -> dict[str, torch.Tensor]:
    """A state dict of the official layout whose tensors are zero-stride views (no memory).

    torch.save keeps the 1-element storages, so saving it writes a tiny file.
    """
    from pipeline.voodoo.checkpoint import expected_layout

    return {k: torch.zeros(()).expand(shape) for k, (shape, _) in expected_layout(True).items()}


@pytest.fixture()
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(1234)
