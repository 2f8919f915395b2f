"""`vertexcompat serve`: build the container from settings and run uvicorn on it; and
`settings_from_args`, how every command that reads the settings reads them. Its arguments:
`cli/parsers/serve.py`."""

from __future__ import annotations

import argparse
import gc
import logging

from vertexcompat.config import Settings, load_settings


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
            "share_answers",
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
