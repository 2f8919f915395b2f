"""`vertexcompat endpoints list`'s arguments; the command itself: `cli/endpoints.py`."""

from __future__ import annotations

import argparse

from vertexcompat.cli.parsers import Handler
from vertexcompat.cli.parsers.serve import add_settings_arguments

_COMMAND = "vertexcompat.cli.endpoints"


def register(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subcommands.add_parser("endpoints", help="configured upstream endpoints")
    actions = parser.add_subparsers(dest="endpoints_command", required=True)
    list_parser = actions.add_parser("list", help="print the endpoints and their replicas")
    list_parser.add_argument(
        "--probe", action="store_true", help="ask each replica for its models (GET …/models)"
    )
    add_settings_arguments(list_parser)
    list_parser.set_defaults(handler=Handler(_COMMAND, "run_list"))
