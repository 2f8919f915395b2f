"""`vertexcompat chat`'s arguments, and the defaults their help names; the command itself:
`cli/chat.py`."""

from __future__ import annotations

import argparse
from pathlib import Path

from vertexcompat.cli.parsers import Handler
from vertexcompat.cli.parsers.serve import LOG_LEVELS

_COMMAND = "vertexcompat.cli.chat"

ACCESS_TOKEN_ENV = "VERTEXCOMPAT_ACCESS_TOKEN"
# The model id asked for on a `--server` when `--model` is not given: a Gemini id, which
# the server maps to its local model (or to the endpoint that serves it).
DEFAULT_SERVER_MODEL = "google/gemini-2.5-flash"
DEFAULT_PROJECT = "default"


def register(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subcommands.add_parser(
        "chat", help="chat with a model in the terminal (a server's, or one run in-process)"
    )
    parser.add_argument(
        "--server", metavar="URL",
        help="a running server, e.g. http://127.0.0.1:8080 (default: run the model "
        "in this process)",
    )
    parser.add_argument(
        "--model", metavar="ID",
        help=f"with --server: the model id to ask for (default {DEFAULT_SERVER_MODEL}); "
        "without: the catalog name or .gguf path to load (as serve --model)",
    )
    parser.add_argument(
        "--key", type=Path, metavar="FILE",
        help=f"service-account key file the server issued (else ${ACCESS_TOKEN_ENV})",
    )
    parser.add_argument(
        "--project", help="project in the URL (default: the key file's, else "
        f"{DEFAULT_PROJECT!r})",
    )
    parser.add_argument("--location", default="us-central1")
    parser.add_argument("--max-tokens", type=int, metavar="N", help="max_tokens per answer")
    in_process = parser.add_argument_group("without --server (as for serve)")
    in_process.add_argument("--threads", type=int, metavar="N")
    in_process.add_argument("--ctx-per-seq", type=int, metavar="N", help="context length")
    in_process.add_argument("--data-dir", metavar="DIR", help="where model files are assembled")
    in_process.add_argument("--config", metavar="FILE", help="TOML config file")
    in_process.add_argument(
        "--log-level", choices=LOG_LEVELS, help="the in-process server's logs (default error)"
    )
    parser.set_defaults(handler=Handler(_COMMAND, "run"))
