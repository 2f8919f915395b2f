"""Access tokens for a service-account key file from a server's `/token`, by the
JWT-bearer exchange over HTTP: what `auth print-access-token --server URL` prints and what
`chat --key FILE` sends. Neither reads the settings or the state database: this module
imports neither, so `chat --server` does not either.
"""

from __future__ import annotations

import time
from pathlib import Path

from vertexcompat.domain.errors import ApiError


def sign_assertion_for(key: dict[str, str], audience: str) -> str:
    """A JWT-bearer assertion for `audience`, signed with the key file's private key."""
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


def assertion_for_key_file(key_path: Path) -> str:
    """A JWT-bearer assertion signed with a service-account key file's private key, for
    Google's token URL (what google-auth names, and every server accepts)."""
    from vertexcompat.auth.jwt_bearer import GOOGLE_TOKEN_URI
    from vertexcompat.auth.keys import load_key_file

    try:
        key = load_key_file(key_path)
    except (OSError, ValueError, ApiError) as exc:
        raise AccessTokenError(f"cannot read key file {key_path}: {exc}") from exc
    return sign_assertion_for(key, GOOGLE_TOKEN_URI)


def access_token_over_http(key_path: Path, server: str) -> str:
    """An access token for a service-account key file, from `server`'s `/token`: what
    `print-access-token --key FILE --server URL` prints (`vertexcompat chat` uses it)."""
    return exchange_over_http(server, assertion_for_key_file(key_path))
