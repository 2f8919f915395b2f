"""`vertexcompat serve`: build the container from settings and run uvicorn on it."""

from __future__ import annotations

import argparse
import gc
import logging

from vertexcompat.config import Settings, load_settings

_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by commands that read settings; unset flags do not override."""
    parser.add_argument("--config", metavar="FILE", help="TOML config file")
    parser.add_argument("--model", metavar="NAME_OR_PATH", help="catalog name or .gguf path")
    parser.add_argument("--data-dir", metavar="DIR", help="where model files are assembled")
    parser.add_argument("--log-level", choices=_LOG_LEVELS)


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
        "per step (default: off)",
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
    parser.set_defaults(handler=run)


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {
        key: getattr(args, key, None)
        for key in (
            "host",
            "port",
            "model",
            "threads",
            "parallel",
            "ctx_per_seq",
            "data_dir",
            "log_level",
            "auth_enabled",
            "token_uri",
            "tool_result_turn",
            "debug_prompts",
            "default_thinking_budget",
            "prefix_cache",
            "cache_ram_mib",
            "flash_attn",
            "speculative",
            "draft_max",
            "draft_model",
        )
    }
    return load_settings(args.config, **overrides)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from vertexcompat.container import build_container
    from vertexcompat.web.access_log import configure_access_log
    from vertexcompat.web.app import create_app

    settings = settings_from_args(args)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.access_log:
        configure_access_log()  # our JSON line per request replaces uvicorn's
    app = create_app(build_container(settings))
    # What is built by now (modules, schemas, the app) lives as long as the server: moved
    # out of the collector's sight, so that each full collection while serving walks
    # only what was made since instead of pausing every request for tens of ms.
    gc.collect()
    gc.freeze()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # Access lines are INFO: below that level uvicorn would still format each line's
        # client address and path, per request, for a logger that drops it.
        access_log=settings.log_level in ("info", "debug") and not settings.access_log,
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=",".join(settings.trusted_proxies) or None,
    )
    return 0
