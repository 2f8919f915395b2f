"""`vertexcompat auth ...`: service accounts, keys, roles and access tokens, on the same
data dir and settings as `serve`.

    vertexcompat auth create-service-account --project demo --out demo-key.json
    vertexcompat auth list-service-accounts [--project P]
    vertexcompat auth revoke-key --key-id ID
    vertexcompat auth revoke-token [--token T]        (default: the token on stdin)
    vertexcompat auth roles grant|revoke --project P --member EMAIL --role roles/aiplatform.user
    vertexcompat auth print-access-token --key demo-key.json [--server URL]
    vertexcompat auth rotate-thought-key | retire-thought-key --key-id ID

Every command works on the configured state database (`[store] url` /
VERTEXCOMPAT_DATABASE_URL, else `<data_dir>/state.db`), the one `serve` uses; but
`print-access-token --server` asks the server (`cli/access_tokens.py`). Their arguments:
`cli/parsers/auth.py`.
"""

from __future__ import annotations

import argparse
import sys

from vertexcompat.cli.access_tokens import (
    AccessTokenError,
    assertion_for_key_file,
    exchange_over_http,
)
from vertexcompat.cli.serve import settings_from_args
from vertexcompat.domain.errors import ApiError, OAuthError


def _auth(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from vertexcompat.auth_services import build_auth

    return build_auth(settings_from_args(args))


def _fail(message: str) -> int:
    print(f"vertexcompat: {message}", file=sys.stderr)
    return 1


def run_create(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if args.out.exists():
        return _fail(f"{args.out} exists; not overwriting a key file")
    from vertexcompat.auth.keys import write_key_file
    from vertexcompat.auth_services import build_auth

    auth = build_auth(settings)
    try:
        content = auth.admin.create(
            project=args.project, name=args.name, token_uri=settings.effective_token_uri
        )
    except ApiError as exc:
        return _fail(exc.message)
    finally:
        auth.close()
    write_key_file(args.out, content)
    print(f"Created key {content['private_key_id']} for {content['client_email']}")
    print(f"Key file: {args.out} (the private key is not kept anywhere else)")
    print(f"Use it:   export GOOGLE_APPLICATION_CREDENTIALS={args.out.resolve()}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from vertexcompat.cli.models import format_table

    auth = _auth(args)
    try:
        listings = auth.admin.list(args.project)
    finally:
        auth.close()
    rows = []
    for item in listings:
        keys = ",".join(
            k.key_id[:12] + ("(revoked)" if k.revoked else "") for k in item.keys
        ) or "-"
        roles = ",".join(f"{p}:{r}" for p, r in item.roles) or "-"
        rows.append((item.account.email, item.account.project, keys, roles))
    print(format_table(("EMAIL", "PROJECT", "KEYS", "ROLES"), rows))
    return 0


def run_revoke_key(args: argparse.Namespace) -> int:
    auth = _auth(args)
    try:
        auth.admin.revoke_key(args.key_id)
    except ApiError as exc:
        return _fail(exc.message)
    finally:
        auth.close()
    print(f"Revoked key {args.key_id}; its access tokens no longer work.")
    return 0


def run_revoke_token(args: argparse.Namespace) -> int:
    token = sys.stdin.readline().strip() if args.token == "-" else args.token
    auth = _auth(args)
    try:
        revoked = auth.tokens.revoke(token)
    finally:
        auth.close()
    if not revoked:
        return _fail("no such live token")
    print("Revoked the token.")
    return 0


def run_roles(args: argparse.Namespace) -> int:
    auth = _auth(args)
    try:
        change = auth.admin.grant_role if args.verb == "grant" else auth.admin.revoke_role
        changed = change(project=args.project, member=args.member, role=args.role)
    except ApiError as exc:
        return _fail(exc.message)
    finally:
        auth.close()
    state = "granted" if args.verb == "grant" else "revoked"
    note = "" if changed else " (no change)"
    print(f"{args.role} {state} on {args.project} for {args.member}{note}")
    return 0


def _thought_sealer(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The sealer over the configured state database (`[store] url` or
    VERTEXCOMPAT_DATABASE_URL, else the data dir's SQLite): the one `serve` uses."""
    from vertexcompat.auth.thought_signatures import ThoughtSealer
    from vertexcompat.store.database import open_state_database
    from vertexcompat.store.thought_keys import SqlThoughtKeys

    settings = settings_from_args(args)
    database = open_state_database(settings.store_url, settings.data_dir, pool_size=1)
    return database, ThoughtSealer(SqlThoughtKeys(database))


def run_rotate_thought_key(args: argparse.Namespace) -> int:
    database, sealer = _thought_sealer(args)
    try:
        key_id = sealer.rotate()
    finally:
        database.close()
    print(f"new thought-signature key {key_id}; earlier keys still open their signatures")
    return 0


def run_retire_thought_key(args: argparse.Namespace) -> int:
    database, sealer = _thought_sealer(args)
    try:
        retired = sealer.retire(args.key_id)
    finally:
        database.close()
    if not retired:
        return _fail(f"no usable thought-signature key {args.key_id!r}")
    print(f"thought-signature key {args.key_id} retired; its signatures are refused now "
          "(by running servers within a second)")
    return 0


def run_print_access_token(args: argparse.Namespace) -> int:
    from vertexcompat.auth.grant import JWT_BEARER_GRANT_TYPE

    # Signing with the file's private key and verifying against the stored public key
    # is the same check the token endpoint makes.
    try:
        assertion = assertion_for_key_file(args.key)
        if args.server:
            print(exchange_over_http(args.server, assertion))
            return 0
    except AccessTokenError as exc:
        return _fail(str(exc))
    auth = _auth(args)
    try:
        issued = auth.grant.exchange(JWT_BEARER_GRANT_TYPE, assertion)
    except OAuthError as exc:
        return _fail(f"{exc.error}: {exc.description}")
    finally:
        auth.close()
    print(issued.access_token)
    return 0
