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
VERTEXCOMPAT_DATABASE_URL, else `<data_dir>/state.db`), the one `serve` uses.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vertexcompat.cli.serve import add_settings_arguments, settings_from_args
from vertexcompat.domain.errors import ApiError, OAuthError


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
    create.set_defaults(handler=run_create)

    listing = actions.add_parser("list-service-accounts", help="accounts, keys and roles")
    listing.add_argument("--project")
    listing.set_defaults(handler=run_list)

    revoke = actions.add_parser("revoke-key", help="revoke a key and every token it got")
    revoke.add_argument("--key-id", required=True)
    revoke.set_defaults(handler=run_revoke_key)

    revoke_token = actions.add_parser("revoke-token", help="revoke one access token")
    revoke_token.add_argument(
        "--token", default="-", help="the token (default: read it from stdin, keeping it "
        "out of the shell history and the process list)",
    )
    revoke_token.set_defaults(handler=run_revoke_token)

    token = actions.add_parser("print-access-token", help="print an access token")
    token.add_argument("--key", required=True, type=Path, help="service-account key file")
    token.add_argument(
        "--server", help="do the JWT-bearer exchange over HTTP with this server "
        "(default: issue directly from the store, offline)",
    )
    token.set_defaults(handler=run_print_access_token)

    roles = actions.add_parser("roles", help="role bindings")
    role_actions = roles.add_subparsers(dest="roles_command", required=True)
    for verb in ("grant", "revoke"):
        p = role_actions.add_parser(verb, help=f"{verb} a role on a project")
        p.add_argument("--project", required=True)
        p.add_argument("--member", required=True, help="EMAIL or serviceAccount:EMAIL")
        p.add_argument("--role", default="roles/aiplatform.user")
        p.set_defaults(handler=run_roles, verb=verb)
        add_settings_arguments(p)

    rotate = actions.add_parser(
        "rotate-thought-key",
        help="new key for sealing thought signatures (earlier keys keep opening theirs)",
    )
    rotate.set_defaults(handler=run_rotate_thought_key)
    retire = actions.add_parser(
        "retire-thought-key", help="stop accepting thought signatures sealed with a key",
    )
    retire.add_argument("--key-id", required=True)
    retire.set_defaults(handler=run_retire_thought_key)

    for p in (create, listing, revoke, revoke_token, token, rotate, retire):
        add_settings_arguments(p)


def _auth(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from vertexcompat.container import build_auth

    return build_auth(settings_from_args(args))


def _fail(message: str) -> int:
    print(f"vertexcompat: {message}", file=sys.stderr)
    return 1


def run_create(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if args.out.exists():
        return _fail(f"{args.out} exists; not overwriting a key file")
    from vertexcompat.auth.keys import write_key_file
    from vertexcompat.container import build_auth

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


def _assertion(key: dict[str, str], audience: str) -> str:
    from vertexcompat.auth.jwt_bearer import sign_assertion

    now = int(time.time())
    payload = {
        "iat": now,
        "exp": now + 3600,
        "iss": key["client_email"],
        "aud": audience,
        "scope": "https://www.googleapis.com/auth/cloud-platform",
    }
    return sign_assertion(payload, private_key_pem=key["private_key"],
                          key_id=key["private_key_id"])


class AccessTokenError(Exception):
    """No access token could be had; the message says why, for the user."""


def exchange_over_http(server: str, assertion: str) -> str:
    """The JWT-bearer exchange with `server`'s `/token`: the access token it issues."""
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    from vertexcompat.auth.grant import JWT_BEARER_GRANT_TYPE

    url = server.rstrip("/") + "/token"
    form = urllib.parse.urlencode({"grant_type": JWT_BEARER_GRANT_TYPE, "assertion": assertion})
    request = urllib.request.Request(url, data=form.encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
        return str(body["access_token"])
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read())
            message = f"{url}: {error.get('error')}: {error.get('error_description')}"
        except ValueError:
            message = f"{url}: HTTP {exc.code}"
        raise AccessTokenError(message) from exc
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as exc:
        raise AccessTokenError(f"{url}: {exc}") from exc


def access_token_over_http(key_path: Path, server: str) -> str:
    """An access token for a service-account key file, from `server`'s `/token`: what
    `print-access-token --key FILE --server URL` prints (`vertexcompat chat` uses it)."""
    from vertexcompat.auth.jwt_bearer import GOOGLE_TOKEN_URI
    from vertexcompat.auth.keys import load_key_file

    try:
        key = load_key_file(key_path)
    except (OSError, ValueError, ApiError) as exc:
        raise AccessTokenError(f"cannot read key file {key_path}: {exc}") from exc
    return exchange_over_http(server, _assertion(key, GOOGLE_TOKEN_URI))


def run_print_access_token(args: argparse.Namespace) -> int:
    from vertexcompat.auth.grant import JWT_BEARER_GRANT_TYPE
    from vertexcompat.auth.jwt_bearer import GOOGLE_TOKEN_URI
    from vertexcompat.auth.keys import load_key_file

    try:
        key = load_key_file(args.key)
    except (OSError, ValueError, ApiError) as exc:
        return _fail(f"cannot read key file {args.key}: {exc}")
    # Signing with the file's private key and verifying against the stored public key
    # is the same check the token endpoint makes.
    assertion = _assertion(key, GOOGLE_TOKEN_URI)
    if args.server:
        try:
            print(exchange_over_http(args.server, assertion))
        except AccessTokenError as exc:
            return _fail(str(exc))
        return 0
    auth = _auth(args)
    try:
        issued = auth.grant.exchange(JWT_BEARER_GRANT_TYPE, assertion)
    except OAuthError as exc:
        return _fail(f"{exc.error}: {exc.description}")
    finally:
        auth.close()
    print(issued.access_token)
    return 0


__all__ = ["register"]
