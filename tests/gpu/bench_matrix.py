"""Run several ``voodoo-holo bench model`` command lines in one process (used by device_check.py).

Each configuration is exactly ``voodoo-holo ARGV`` (the same parser, code and JSON record as
the command line); running a dtype's configurations in one process shares the CUDA start-up
and cuDNN's kernel autotuning between them.

Usage: ``python tests/gpu/bench_matrix.py PLAN.json RESULT.json`` where PLAN.json is a list
of ``{"name": ..., "argv": [...]}``; RESULT.json gets ``{name: {"rc", "seconds", "error"}}``,
rewritten after every configuration (a killed run keeps what finished).
"""

from __future__ import annotations

import gc
import json
import sys
import time
import traceback
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: bench_matrix.py PLAN.json RESULT.json", file=sys.stderr)
        return 2
    plan = json.loads(Path(argv[0]).read_text())
    result_path = Path(argv[1])
    from app.cli import main as cli

    results: dict[str, dict] = {}
    failed = 0
    for item in plan:
        t0 = time.perf_counter()
        print(f"== {item['name']}: voodoo-holo {' '.join(item['argv'])}", flush=True)
        try:
            rc, error = cli(list(item["argv"])), None
        except Exception:  # keep going: the next configuration may still run
            rc, error = 1, traceback.format_exc(limit=8)
            print(error, file=sys.stderr, flush=True)
        failed += rc != 0
        results[item["name"]] = {"rc": rc, "seconds": round(time.perf_counter() - t0, 1), "error": error}
        result_path.write_text(json.dumps(results, indent=1))
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception as e:  # a broken CUDA context: the next configuration reports it
            print(f"cleanup after {item['name']}: {e}", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
