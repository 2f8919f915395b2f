"""`vertexcompat serve`'s arguments, and the settings flags every command that reads the
settings shares (`add_settings_arguments`); the command itself: `cli/serve.py`."""

from __future__ import annotations

import argparse

from vertexcompat.cli.parsers import Handler

_COMMAND = "vertexcompat.cli.serve"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by commands that read settings; unset flags do not override."""
    parser.add_argument("--config", metavar="FILE", help="TOML config file")
    parser.add_argument("--model", metavar="NAME_OR_PATH", help="catalog name or .gguf path")
    parser.add_argument("--data-dir", metavar="DIR", help="where model files are assembled")
    parser.add_argument("--log-level", choices=LOG_LEVELS)


def register(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subcommands.add_parser("serve", help="run the HTTP server")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--threads", type=int, metavar="N")
    parser.add_argument("--parallel", type=int, metavar="N", help="concurrent sequences")
    parser.add_argument("--ctx-per-seq", type=int, metavar="N", help="context per sequence")
    parser.add_argument(
        "--tool-result-turn",
        choices=["answer", "native"],
        help="how the local model reads function results (default: answer)",
    )
    parser.add_argument(
        "--no-auth",
        dest="auth_enabled",
        action="store_const",
        const=False,
        help="accept any bearer token (local development only; logs a warning)",
    )
    parser.add_argument(
        "--debug-prompts",
        dest="debug_prompts",
        action="store_const",
        const=True,
        help="keep the last rendered prompts at GET /v1/debug/prompts (development only)",
    )
    parser.add_argument(
        "--default-thinking-budget",
        type=int,
        metavar="N",
        help="thinking budget when a request sets none (-1 dynamic, 0 off; default: the model's)",
    )
    parser.add_argument(
        "--no-prefix-cache",
        dest="prefix_cache",
        action="store_const",
        const=False,
        help="decode every prompt whole (default: reuse prefixes a finished request left)",
    )
    parser.add_argument(
        "--no-shared-answers",
        dest="share_answers",
        action="store_const",
        const=False,
        help="decode every request (default: a request identical to one still running, "
        "greedy or seeded, follows it)",
    )
    parser.add_argument(
        "--cache-ram",
        dest="cache_ram_mib",
        type=int,
        metavar="MIB",
        help="host memory for saved prompt prefixes and cachedContents KV, in MiB "
        "(default 2048; 0: none)",
    )
    parser.add_argument(
        "--flash-attn",
        dest="flash_attn",
        action="store_const",
        const=True,
        help="llama.cpp flash attention: a little faster, but answers then depend on what "
        "else the batch holds (default: off, answers are exact)",
    )
    parser.add_argument(
        "--speculative",
        choices=("off", "ngram", "draft"),
        help="speculative decoding: ngram verifies drafts taken from the prompt and the "
        "answer so far, draft those of a smaller model (--draft-model), several tokens "
        "per step (default: ngram)",
    )
    parser.add_argument(
        "--draft-model",
        dest="draft_model",
        metavar="NAME|PATH",
        help="the draft model of --speculative draft: a catalog name or a .gguf file of "
        "the served model's tokenizer (default: the catalog's smaller model of its family)",
    )
    parser.add_argument(
        "--draft-max",
        dest="draft_max",
        type=int,
        metavar="N",
        help="the longest draft verified per step (default: 63 with --speculative ngram, "
        "6 with a draft model)",
    )
    add_settings_arguments(parser)
    parser.set_defaults(handler=Handler(_COMMAND, "run"))
