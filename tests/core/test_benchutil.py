"""The bench table every ``voodoo-holo bench`` target prints, and side-by-side timing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.benchutil import TABLE_WIDTH, BenchRow, format_cell, format_table, time_interleaved


def live_like_rows() -> list[BenchRow]:
    """Rows shaped like ``bench pipeline``'s: long names, NaN minimums, many extras."""
    common = {"views": 24, "view_px": 192, "backend": "mesh"}
    rows = [
        BenchRow(f"renderer-{i}: {stage}", 10.0 + i, 20.0 + i, float("nan"), 40, dict(common))
        for i in range(4)
        for stage in ("receive", "render", "send", "queue wait before the render")
    ]
    rows.append(
        BenchRow(
            "glass to glass (capture -> present)",
            339.25,
            361.5,
            float("nan"),
            120,
            {**common, "fps": 3.6, "views/s": 86.4, "complete": 120, "partial": 3, "stale": float("nan")},
        )
    )
    rows.append(
        BenchRow("model: " + "x" * 90, 1234.5678, 2000.0, 999.0, 3, {f"k{j}": j / 3 for j in range(30)})
    )
    return rows


def test_table_fits_120_columns_without_nan() -> None:
    rows = live_like_rows()
    text = format_table(rows)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= TABLE_WIDTH
    assert "nan" not in text.lower()
    # Nothing is lost: every stage (or its shortened start), every value and every key is there.
    for r in rows:
        assert r.stage[:30] in text
        for k, v in r.extra.items():
            if format_cell(v) != "-":  # a column of NaN alone is left out
                assert k in text and format_cell(v) in text
    assert "stale" not in text
    assert "339.2" in text and "1235" in text and "3.60" in text
    # The minimum column is all NaN for the live rows but not for the last one: kept, shown "-".
    header = lines[0].split()
    assert header[:5] == ["stage", "median", "ms", "p90", "ms"]
    assert any(line.startswith("glass to glass") and " - " in line for line in lines)
    # The continuation tables repeat the stage column.
    assert sum(1 for line in lines if line.startswith("stage ")) >= 2


def test_columns_without_values_are_left_out() -> None:
    rows = [BenchRow("a", 1.0, 2.0, float("nan"), 3), BenchRow("b", 4.0, 5.0, float("nan"), 3, {"x": None})]
    text = format_table(rows)
    assert "min ms" not in text and " x " not in text + " "
    assert text.splitlines()[0].split() == ["stage", "median", "ms", "p90", "ms", "n"]


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (float("nan"), "-"),
        (math.inf, "-"),
        (None, "-"),
        (np.float32(2.5), "2.50"),
        (np.int64(7), "7"),
        (True, "yes"),
        (1234.56, "1235"),
        (123.456, "123.5"),
        ("mesh", "mesh"),
        ("nan", "-"),
    ],
)
def test_cells(value: object, cell: str) -> None:
    assert format_cell(value) == cell


def test_narrow_tables_still_fit() -> None:
    text = format_table(live_like_rows(), width=60)
    assert max(len(line) for line in text.splitlines()) <= 60


def test_time_interleaved_runs_each_stage_per_round() -> None:
    calls: list[str] = []
    rows = time_interleaved(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
        repeats=3,
        warmup=1,
        extra={"b": {"views": 2}},
    )
    assert calls == ["a", "b"] * 4
    assert [r.stage for r in rows] == ["a", "b"] and all(r.n == 3 for r in rows)
    assert rows[1].extra == {"views": 2} and rows[0].extra == {}
    assert all(r.min_ms <= r.median_ms <= r.p90_ms for r in rows)
    with pytest.raises(ValueError, match="repeats"):
        time_interleaved({"a": lambda: None}, repeats=0)
