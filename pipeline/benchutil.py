"""Timing helpers shared by every ``voodoo-holo bench`` target.

A bench target is a module with ``add_arguments(parser)`` (optional) and
``bench(args) -> list[BenchRow]``. Rows are printed as one table by ``app.commands.bench``
and written as JSON with ``--json``. Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
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


def row_from_times(stage: str, times_ms: Sequence[float], extra: dict[str, Any] | None = None) -> BenchRow:
    """A row of ``times_ms`` (one or more timed runs, milliseconds)."""
    a = np.asarray(times_ms, dtype=np.float64)
    if a.size == 0:
        raise ValueError(f"{stage}: no timed runs")
    return BenchRow(
        stage,
        float(np.median(a)),
        float(np.percentile(a, 90)),
        float(a.min()),
        int(a.size),
        dict(extra or {}),
    )


def sample_times(
    fn: Callable[[], Any],
    *,
    repeats: int = 5,
    warmup: int = 1,
    sync: Callable[[], None] | None = None,
) -> list[float]:
    """Milliseconds of ``repeats`` runs of ``fn()`` after ``warmup`` untimed ones.

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
    return times


def time_call(
    stage: str,
    fn: Callable[[], Any],
    *,
    repeats: int = 5,
    warmup: int = 1,
    sync: Callable[[], None] | None = None,
    extra: dict[str, Any] | None = None,
) -> BenchRow:
    """Time ``fn()`` ``repeats`` times after ``warmup`` untimed calls (see :func:`sample_times`)."""
    return row_from_times(stage, sample_times(fn, repeats=repeats, warmup=warmup, sync=sync), extra)


def time_interleaved(
    stages: Mapping[str, Callable[[], Any]],
    *,
    repeats: int = 5,
    warmup: int = 1,
    extra: dict[str, dict[str, Any]] | None = None,
) -> list[BenchRow]:
    """Time several functions side by side: each round runs every one of them once.

    Rows compared with each other (a render and its fill-only reference) then see the same
    machine load, which a shared or throttled CPU changes from one second to the next.
    """
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    for _ in range(warmup):
        for fn in stages.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in stages}
    for _ in range(repeats):
        for name, fn in stages.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1e3)
    return [row_from_times(name, ts, (extra or {}).get(name)) for name, ts in times.items()]


#: Widest table :func:`format_table` prints (columns).
TABLE_WIDTH = 120
#: Widest stage name before it is shortened with an ellipsis.
STAGE_WIDTH = 46
_GAP = "  "


def format_cell(value: Any) -> str:
    """A table cell: numbers to a sensible precision; NaN, infinity and None as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        x = float(value)
        if not math.isfinite(x):
            return "-"
        if abs(x) >= 1000:
            return f"{x:.0f}"
        if abs(x) >= 100:
            return f"{x:.1f}"
        return f"{x:.2f}"
    text = str(value)
    return "-" if text.strip().lower() in ("", "nan", "none") else text


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "\u2026"


def format_table(rows: list[BenchRow], width: int = TABLE_WIDTH) -> str:
    """A plain-text table of rows (stage, median, p90, min, n, extras), at most ``width`` wide.

    Missing values are blank and NaN is ``-``; a column with no value in any row is left
    out. Columns that do not fit beside the stage names continue in a second table below
    (stage names repeated), so the text never runs past ``width`` characters.
    """
    extra_keys: list[str] = []
    for r in rows:
        for k in r.extra:
            if k not in extra_keys:
                extra_keys.append(k)
    columns: list[tuple[str, list[str]]] = [
        ("median ms", [format_cell(r.median_ms) for r in rows]),
        ("p90 ms", [format_cell(r.p90_ms) for r in rows]),
        ("min ms", [format_cell(r.min_ms) for r in rows]),
        ("n", [format_cell(r.n) for r in rows]),
    ]
    for k in extra_keys:
        columns.append((str(k), [format_cell(r.extra[k]) if k in r.extra else "" for r in rows]))
    columns = [(h, cells) for h, cells in columns if any(c not in ("", "-") for c in cells)]

    stage_w = min(max([len("stage"), *(len(r.stage) for r in rows)]), STAGE_WIDTH, width // 3)
    stages = [_fit(r.stage, stage_w) for r in rows]
    room = width - stage_w
    blocks: list[list[tuple[str, list[str], int]]] = [[]]
    used = 0
    for head, cells in columns:
        w = min(max([len(head), *(len(c) for c in cells)]), room - len(_GAP))
        if blocks[-1] and used + len(_GAP) + w > room:
            blocks.append([])
            used = 0
        blocks[-1].append((_fit(head, w), [_fit(c, w) for c in cells], w))
        used += len(_GAP) + w

    out: list[str] = []
    for block in blocks:
        if out:
            out.append("")
        heads = ["stage".ljust(stage_w), *(h.ljust(w) for h, _, w in block)]
        out.append(_GAP.join(heads).rstrip())
        out.append(_GAP.join(["-" * stage_w, *("-" * w for _, _, w in block)]))
        for i, stage in enumerate(stages):
            out.append(
                _GAP.join([stage.ljust(stage_w), *(cells[i].ljust(w) for _, cells, w in block)]).rstrip()
            )
    return "\n".join(out)
