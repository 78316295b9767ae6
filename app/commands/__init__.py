"""One module per ``voodoo-holo`` subcommand.

Each module defines ``add_arguments(parser)`` and ``run(args) -> int`` (the exit code) and
imports its heavy dependencies inside ``run`` so that ``voodoo-holo --help`` stays fast.
The table of subcommands lives in :mod:`app.cli`.
"""
