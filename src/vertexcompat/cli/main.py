"""Entry point of the `vertexcompat` command (`vertexcompat.cli.main:main`)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from vertexcompat import __version__
from vertexcompat.cli import auth, chat, endpoints, index, models, serve, store
from vertexcompat.config import ConfigFileError
from vertexcompat.store.database import StoreError


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
    except ConfigFileError as exc:
        print(f"vertexcompat: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"vertexcompat: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"vertexcompat: state database: {exc}", file=sys.stderr)
        return 2
