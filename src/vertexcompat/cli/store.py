"""`vertexcompat store ...`: the state database, for operators moving or checking a
deployment (docs/replicas.md).

    vertexcompat store migrate [--url URL]        bring the schema up to date
    vertexcompat store check [--url URL]          integrity check
    vertexcompat store copy --from URL --to URL   move every row to an empty database

URLs: `postgresql://user:password@host:5432/db` or `sqlite:///path/state.db`; default:
the configured one (`VERTEXCOMPAT_DATABASE_URL`, `[store] url`, else the data dir's).
"""

from __future__ import annotations

import argparse
import sys

from vertexcompat.cli.serve import settings_from_args


def _open(args: argparse.Namespace, url: str | None):  # type: ignore[no-untyped-def]
    from vertexcompat.store.database import open_state_database

    settings = settings_from_args(args)
    return open_state_database(
        url or settings.store_url, settings.data_dir, pool_size=1
    )


def _where(args: argparse.Namespace, url: str | None) -> str:
    from vertexcompat.store.database import parse_store_url

    settings = settings_from_args(args)
    url = url or settings.store_url
    return parse_store_url(url).redacted if url else str(settings.data_dir / "state.db")


def run_migrate(args: argparse.Namespace) -> int:
    from vertexcompat.store.migrations import LATEST

    _open(args, args.url).close()  # opening migrates (under a lock on PostgreSQL)
    print(f"{_where(args, args.url)}: schema version {LATEST}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    db = _open(args, args.url)
    try:
        result = db.integrity_check()
    finally:
        db.close()
    print(f"{_where(args, args.url)}: {result}")
    return 0 if result == "ok" else 1


def run_copy(args: argparse.Namespace) -> int:
    from vertexcompat.store.copy import copy_state

    if args.source.strip() == args.target.strip():
        print("vertexcompat: --from and --to name the same database", file=sys.stderr)
        return 2
    source = _open(args, args.source)
    try:
        target = _open(args, args.target)
        try:
            copied = copy_state(source, target)
        finally:
            target.close()
    finally:
        source.close()
    for table, count in copied.items():
        print(f"{table}: {count}")
    print(f"copied {_where(args, args.source)} → {_where(args, args.target)}")
    return 0
