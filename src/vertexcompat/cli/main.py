"""Entry point of the `vertexcompat` command (`vertexcompat.cli.main:main`).

The parser is built from `cli/parsers/` alone; the command that runs imports what it needs
(the settings, pydantic, the container, ...) itself, so `--help`, a usage error or a
light command never pays for `serve`'s imports.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from vertexcompat import __version__
from vertexcompat.cli.parsers import auth, chat, endpoints, index, models, serve, store


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vertexcompat",
        description="Self-hosted Vertex AI OpenAI-compatible Chat Completions server.",
    )
    parser.add_argument("--version", action="version", version=f"vertexcompat {__version__}")
    subcommands = parser.add_subparsers(dest="command", required=True)
    serve.register(subcommands)
    models.register(subcommands)
    auth.register(subcommands)
    endpoints.register(subcommands)
    index.register(subcommands)
    chat.register(subcommands)
    store.register(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except BrokenPipeError:
        # The reader went away (`vertexcompat index list | head`): nothing more to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        said = settings_error(exc)
        if said is None:
            raise
        print(said, file=sys.stderr)
        return 2


def settings_error(exc: Exception) -> str | None:
    """What to tell the user when the settings or the state database they name cannot be
    used (exit status 2); None for any other failure."""
    # Imported here, not with the parser: only a command that read the settings raises these.
    from pydantic import ValidationError

    from vertexcompat.config import ConfigFileError
    from vertexcompat.store.database import StoreError

    if isinstance(exc, ConfigFileError):
        return f"vertexcompat: {exc}"
    if isinstance(exc, ValidationError):
        return f"vertexcompat: invalid settings:\n{exc}"
    if isinstance(exc, StoreError):
        return f"vertexcompat: state database: {exc}"
    return None
