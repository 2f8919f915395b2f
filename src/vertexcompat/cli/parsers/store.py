"""`vertexcompat store migrate|check|copy`'s arguments; the commands themselves:
`cli/store.py`."""

from __future__ import annotations

import argparse

from vertexcompat.cli.parsers import Handler
from vertexcompat.cli.parsers.serve import add_settings_arguments

_COMMAND = "vertexcompat.cli.store"


def register(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subcommands.add_parser("store", help="the state database: migrate, check, copy")
    actions = parser.add_subparsers(dest="store_command", required=True)

    migrate = actions.add_parser("migrate", help="bring the schema to this version's")
    migrate.add_argument("--url", help="database URL (default: the configured one)")
    migrate.set_defaults(handler=Handler(_COMMAND, "run_migrate"))

    check = actions.add_parser("check", help="integrity check (exit 1 if it fails)")
    check.add_argument("--url", help="database URL (default: the configured one)")
    check.set_defaults(handler=Handler(_COMMAND, "run_check"))

    copy = actions.add_parser("copy", help="copy all state into an empty database")
    copy.add_argument("--from", dest="source", required=True, metavar="URL")
    copy.add_argument("--to", dest="target", required=True, metavar="URL")
    copy.set_defaults(handler=Handler(_COMMAND, "run_copy"))

    for p in (migrate, check, copy):
        add_settings_arguments(p)
