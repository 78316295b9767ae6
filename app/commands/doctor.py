"""``voodoo-holo doctor``: what this machine can do."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from app.doctor import format_report, run_checks

    checks = run_checks()
    if args.json:
        print(json.dumps([c.__dict__ for c in checks], indent=2, default=str))
    else:
        print(format_report(checks))
    summary = checks[-1]
    return 0 if summary.ok else 1
