"""Entry point of a role process: ``python -m app.live CONFIG_JSON``."""

from __future__ import annotations

import sys

from app.live.runtime import RoleConfig


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m app.live CONFIG_JSON", file=sys.stderr)
        return 2
    cfg = RoleConfig.from_json(argv[0])
    from app.live import roles

    return roles.run_role(cfg)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
