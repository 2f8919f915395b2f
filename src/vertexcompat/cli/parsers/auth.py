"""`vertexcompat auth ...`'s arguments; the commands themselves: `cli/auth.py`."""

from __future__ import annotations

import argparse
from pathlib import Path

from vertexcompat.cli.parsers import Handler
from vertexcompat.cli.parsers.serve import add_settings_arguments

_COMMAND = "vertexcompat.cli.auth"


def register(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subcommands.add_parser("auth", help="service accounts, keys, roles, tokens")
    actions = parser.add_subparsers(dest="auth_command", required=True)

    create = actions.add_parser("create-service-account", help="new account + key file")
    create.add_argument("--project", required=True)
    create.add_argument("--name", default="vertexcompat", help="account name (email local part)")
    create.add_argument("--out", required=True, type=Path, help="key file to write (0600)")
    create.add_argument("--host", help="server host the key file's token_uri names")
    create.add_argument("--port", type=int, help="server port the key file's token_uri names")
    create.add_argument("--token-uri", help="token_uri for the key file (overrides host/port)")
    create.set_defaults(handler=Handler(_COMMAND, "run_create"))

    listing = actions.add_parser("list-service-accounts", help="accounts, keys and roles")
    listing.add_argument("--project")
    listing.set_defaults(handler=Handler(_COMMAND, "run_list"))

    revoke = actions.add_parser("revoke-key", help="revoke a key and every token it got")
    revoke.add_argument("--key-id", required=True)
    revoke.set_defaults(handler=Handler(_COMMAND, "run_revoke_key"))

    revoke_token = actions.add_parser("revoke-token", help="revoke one access token")
    revoke_token.add_argument(
        "--token", default="-", help="the token (default: read it from stdin, keeping it "
        "out of the shell history and the process list)",
    )
    revoke_token.set_defaults(handler=Handler(_COMMAND, "run_revoke_token"))

    token = actions.add_parser("print-access-token", help="print an access token")
    token.add_argument("--key", required=True, type=Path, help="service-account key file")
    token.add_argument(
        "--server", help="do the JWT-bearer exchange over HTTP with this server "
        "(default: issue directly from the store, offline)",
    )
    token.set_defaults(handler=Handler(_COMMAND, "run_print_access_token"))

    roles = actions.add_parser("roles", help="role bindings")
    role_actions = roles.add_subparsers(dest="roles_command", required=True)
    for verb in ("grant", "revoke"):
        p = role_actions.add_parser(verb, help=f"{verb} a role on a project")
        p.add_argument("--project", required=True)
        p.add_argument("--member", required=True, help="EMAIL or serviceAccount:EMAIL")
        p.add_argument("--role", default="roles/aiplatform.user")
        p.set_defaults(handler=Handler(_COMMAND, "run_roles"), verb=verb)
        add_settings_arguments(p)

    rotate = actions.add_parser(
        "rotate-thought-key",
        help="new key for sealing thought signatures (earlier keys keep opening theirs)",
    )
    rotate.set_defaults(handler=Handler(_COMMAND, "run_rotate_thought_key"))
    retire = actions.add_parser(
        "retire-thought-key", help="stop accepting thought signatures sealed with a key",
    )
    retire.add_argument("--key-id", required=True)
    retire.set_defaults(handler=Handler(_COMMAND, "run_retire_thought_key"))

    for p in (create, listing, revoke, revoke_token, token, rotate, retire):
        add_settings_arguments(p)
