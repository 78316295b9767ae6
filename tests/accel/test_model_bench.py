"""``voodoo-holo bench model`` runs through ``pipeline.accel.model_bench``: the model bench of
``pipeline.voodoo.bench`` with ``--backend`` handled where both packages may be imported."""

from __future__ import annotations

import argparse

import pytest

from pipeline.voodoo.bench import BenchConfigError


def _args(**over: object) -> argparse.Namespace:
    values: dict[str, object] = dict(
        device="cpu",
        quick=True,
        repeats=1,
        view_counts=[1],
        weights=None,
        backend="torch",
        kernel="torch",
        cuda_graphs=False,
        dtype="float32",
        stages="render",
        random_planes=True,
        compile=False,
    )
    values.update(over)
    return argparse.Namespace(**values)


def test_the_command_runs_the_accelerated_entry_point() -> None:
    from app.commands.bench import TARGETS

    assert TARGETS["model"] == "pipeline.accel.model_bench"


def test_the_model_bench_alone_refuses_a_backend_it_cannot_swap_in() -> None:
    from pipeline.voodoo.bench import bench

    with pytest.raises(BenchConfigError, match="pipeline.accel.model_bench"):
        bench(_args(backend="onnxruntime"))


def test_an_unknown_backend_is_a_config_error() -> None:
    from pipeline.accel.model_bench import bench

    with pytest.raises(BenchConfigError, match="--backend"):
        bench(_args(backend="cuda"))


def test_backend_networks_are_swapped_and_reported(capsys: pytest.CaptureFixture[str]) -> None:
    """On CPU, ``auto`` keeps every network in PyTorch and says why; the rows name the backend."""
    from pipeline.accel.model_bench import bench

    rows = bench(_args(backend="auto"))
    assert [r.stage for r in rows] == ["render 32^2 x 1 view(s)"]
    assert rows[0].extra["backend"] == "auto"
    out = capsys.readouterr().out
    assert "backend: encoder: torch (device is cpu, not CUDA)" in out
