"""``bench tracker`` runs and reports every stage (speed is reported, never asserted)."""

from __future__ import annotations

import argparse


def test_bench_tracker_rows():
    from pipeline.tracking.bench import bench

    rows = bench(argparse.Namespace(device="cpu", quick=True, repeats=3, view_counts=[1]))
    stages = [r.stage for r in rows]
    assert stages[:2] == ["landmarks", "landmarks+pose+crop"]
    assert any(s.startswith("tracker") for s in stages) and "photo prepare" in stages
    assert all(r.n >= 3 and r.median_ms > 0 for r in rows)
