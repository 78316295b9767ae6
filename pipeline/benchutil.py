"""Timing helpers shared by every ``voodoo-holo bench`` target.

A bench target is a module with ``add_arguments(parser)`` (optional) and
``bench(args) -> list[BenchRow]``. Rows are printed as one table by ``app.commands.bench``
and written as JSON with ``--json``. Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class BenchRow:
    """One measured stage.

    Attributes:
        stage: what was timed, e.g. ``"encoder (source)"``.
        median_ms / p90_ms / min_ms: wall-clock statistics over ``n`` timed runs.
        n: number of timed runs (after warm-up).
        extra: anything else worth recording (views, resolution, device, views/s, FPS...).
    """

    stage: str
    median_ms: float
    p90_ms: float
    min_ms: float
    n: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def time_call(
    stage: str,
    fn: Callable[[], Any],
    *,
    repeats: int = 5,
    warmup: int = 1,
    sync: Callable[[], None] | None = None,
    extra: dict[str, Any] | None = None,
) -> BenchRow:
    """Time ``fn()`` ``repeats`` times after ``warmup`` untimed calls.

    ``sync`` is called after each run before the clock stops (e.g. ``torch.cuda.synchronize``).
    """
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    for _ in range(warmup):
        fn()
        if sync:
            sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append((time.perf_counter() - t0) * 1e3)
    a = np.asarray(times)
    return BenchRow(
        stage, float(np.median(a)), float(np.percentile(a, 90)), float(a.min()), repeats, dict(extra or {})
    )


def format_table(rows: list[BenchRow]) -> str:
    """A plain-text table of rows (stage, median, p90, min, n, extras)."""
    extra_keys: list[str] = []
    for r in rows:
        for k in r.extra:
            if k not in extra_keys:
                extra_keys.append(k)
    header = ["stage", "median ms", "p90 ms", "min ms", "n", *extra_keys]
    body = []
    for r in rows:
        cells = [r.stage, f"{r.median_ms:.2f}", f"{r.p90_ms:.2f}", f"{r.min_ms:.2f}", str(r.n)]
        for k in extra_keys:
            v = r.extra.get(k, "")
            cells.append(f"{v:.2f}" if isinstance(v, float) else str(v))
        body.append(cells)
    widths = [
        max(len(header[i]), *(len(b[i]) for b in body)) if body else len(header[i])
        for i in range(len(header))
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for b in body:
        lines.append("  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)))
    return "\n".join(lines)
