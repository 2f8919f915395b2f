"""`vertexcompat endpoints list`: the configured upstream endpoints (`[[endpoints]]` in the
config file), and with `--probe` whether each replica of an `openai` endpoint is healthy
(its server's `GET /health`, else `GET {replica}/models`). A `gemini` endpoint is listed
with its API root and how it signs in; it is not probed (that would spend its quota)."""

from __future__ import annotations

import argparse

from vertexcompat.cli.models import format_table
from vertexcompat.cli.serve import settings_from_args

PROBE_TIMEOUT_S = 3.0


def run_list(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if not settings.endpoints:
        print("No endpoints are configured ([[endpoints]] in the config file); every request "
              "goes to the embedded model.")
        return 0
    from vertexcompat.container import served_models

    rows = []
    for e in settings.endpoints:
        if e.kind == "gemini":
            signs_in = "key file" if e.credentials_file else f"${e.api_key_env}"
            targets = [(f"{e.gemini_base_url} ({'Vertex' if e.uses_vertex else 'Gemini API'}, "
                        f"{signs_in})", "-")]
        else:
            targets = [(r, _probe(r) if args.probe else "-") for r in e.replicas]
        for k, (target, status) in enumerate(targets):
            first = k == 0
            rows.append((
                e.id if first else "", e.kind if first else "",
                ",".join(served_models(e)) if first else "", target, status,
                ",".join(e.aliases) if first else "",
                ",".join(e.said_capabilities) if first else "",
            ))
    print(format_table(
        ("ID", "KIND", "MODEL", "REPLICA / API", "STATUS", "ALIASES", "CAPABILITIES"), rows
    ))
    return 0


def _probe(replica: str) -> str:
    """As the server probes a replica: its root's `/health`, else (404/405) its models."""
    import httpx

    from vertexcompat.backends.replicas import health_answer

    root = replica.removesuffix("/v1")
    try:
        r = httpx.get(f"{root}/health", timeout=PROBE_TIMEOUT_S)
        if health_answer(r.status_code) != "health":
            r = httpx.get(f"{replica}/models", timeout=PROBE_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return f"down ({type(exc).__name__})"
    return "up" if r.status_code == 200 else f"down (HTTP {r.status_code})"
