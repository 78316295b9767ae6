"""``torch.compile`` with an eager fallback (``ModelConfig.compile``, ``RenderSettings.compile``).

:class:`CompiledCall` compiles a function on its first call (per input shape, as
``torch.compile`` does) and runs the compiled code from then on. When compilation fails
(an operation the compiler does not support, a missing C++ compiler or Triton, a backend
error), it logs one warning and runs the function eagerly from then on; errors that are
not compilation errors (a bad input, out of memory) propagate unchanged. Eager execution
stays the reference: the compiled code must give the same numbers up to float rounding
(``tests/voodoo/test_compiled.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["CompiledCall", "is_compile_error"]

_log = logging.getLogger(__name__)

#: Modules whose exceptions mean "compilation failed" (dynamo, inductor, Triton's compiler).
_COMPILER_MODULES = ("torch._dynamo", "torch._inductor", "triton.compiler", "triton.runtime")


def is_compile_error(e: BaseException) -> bool:
    """True when ``e`` (or an exception it was raised from) comes from the compiler stack."""
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if type(cur).__module__.startswith(_COMPILER_MODULES):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def _one_line(e: BaseException, limit: int = 300) -> str:
    """``Type: message`` of ``e`` on one line (compiler messages span many lines)."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:limit]}"


class CompiledCall:
    """``fn`` through ``torch.compile`` with a permanent eager fallback on compilation errors.

    Args:
        fn: the function or module to compile.
        name: for the log message.
        **options: passed to ``torch.compile`` (default: ``dynamic=False``, one graph per
            input shape, as a live call has a handful of fixed shapes).
    """

    def __init__(self, fn: Callable[..., Any], name: str, **options: Any) -> None:
        self.fn, self.name = fn, name
        self.options = {"dynamic": False, **options}
        self._compiled: Callable[..., Any] | None = None
        self.failed: str | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.failed is not None:
            return self.fn(*args, **kwargs)
        if self._compiled is None:
            self._compiled = torch.compile(self.fn, **self.options)
        try:
            return self._compiled(*args, **kwargs)
        except Exception as e:
            if not is_compile_error(e):
                raise
            # An input the function itself rejects fails while tracing too: the eager run
            # raises it again here, and compilation stays on for the next call.
            out = self.fn(*args, **kwargs)
            self.failed = _one_line(e)
            _log.warning("torch.compile of %s failed, running it eagerly: %s", self.name, self.failed)
            return out
