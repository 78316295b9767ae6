"""Entry point of a role process: ``python -m pipeline.workers CONFIG_JSON``."""

from __future__ import annotations

import sys

from pipeline.workers.runtime import RoleConfig


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m pipeline.workers CONFIG_JSON", file=sys.stderr)
        return 2
    cfg = RoleConfig.from_json(argv[0])
    from pipeline.workers import roles

    return roles.run_role(cfg)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
