"""`vertexcompat models list`'s arguments; the command itself: `cli/models.py`."""

from __future__ import annotations

import argparse

from vertexcompat.cli.parsers import Handler
from vertexcompat.cli.parsers.serve import add_settings_arguments

_COMMAND = "vertexcompat.cli.models"

def register(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subcommands.add_parser("models", help="local models and aliases")
    actions = parser.add_subparsers(dest="models_command", required=True)
    list_parser = actions.add_parser("list", help="print the model catalog and aliases")
    add_settings_arguments(list_parser)
    list_parser.set_defaults(handler=Handler(_COMMAND, "run_list"))
