"""``torch.compile`` with an eager fallback (CPU; the CUDA run of the model is in the GPU tier)."""

from __future__ import annotations

import logging

import pytest
import torch

from pipeline.voodoo.compiled import CompiledCall, is_compile_error
from pipeline.voodoo.model import ModelConfig, Voodoo3D


def _fn(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(x @ y) * 2 - x.sum()


def _broken_backend(gm, example_inputs):
    raise RuntimeError("this backend cannot compile anything")


def test_compiled_call_matches_eager() -> None:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 8, generator=g), torch.randn(8, 8, generator=g)
    call = CompiledCall(_fn, "fn", backend="aot_eager")  # the compiler's graph capture, no C++ build
    assert torch.allclose(call(x, y), _fn(x, y), atol=1e-6)
    assert call.failed is None


def test_compilation_failure_falls_back_to_eager_once(caplog: pytest.LogCaptureFixture) -> None:
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(4, 4, generator=g), torch.randn(4, 4, generator=g)
    call = CompiledCall(_fn, "the test function", backend=_broken_backend)
    with caplog.at_level(logging.WARNING, logger="pipeline.voodoo.compiled"):
        first = call(x, y)
        second = call(x * 2, y)
    assert torch.equal(first, _fn(x, y)) and torch.equal(second, _fn(x * 2, y))
    assert call.failed is not None and "cannot compile" in call.failed
    warnings = [r for r in caplog.records if "torch.compile of the test function failed" in r.message]
    assert len(warnings) == 1


def test_errors_that_are_not_compilation_errors_propagate() -> None:
    call = CompiledCall(_fn, "fn", backend="aot_eager")
    with pytest.raises(RuntimeError, match="cannot be multiplied"):  # the eager error message
        call(torch.zeros(2, 3), torch.zeros(2, 3))
    assert call.failed is None  # a bad input does not turn compilation off
    x = torch.ones(3, 3)
    assert torch.allclose(call(x, x), _fn(x, x))


def test_is_compile_error_follows_the_cause_chain() -> None:
    class FakeDynamoError(Exception):
        pass

    FakeDynamoError.__module__ = "torch._dynamo.exc"
    try:
        try:
            raise FakeDynamoError("unsupported")
        except FakeDynamoError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert is_compile_error(outer)
    assert not is_compile_error(ValueError("bad input"))


def test_model_compiles_only_on_cuda() -> None:
    model = Voodoo3D(ModelConfig(compile=True)).place()  # CPU: the flag is ignored
    stage = model._stage("superresolution", compile=True)
    assert stage is model.superresolution and model._compiled == {}
