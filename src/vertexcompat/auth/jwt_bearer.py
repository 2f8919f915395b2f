"""RS256 JWTs for the JWT-bearer grant (RFC 7523): parse and verify an assertion into its
claims (or raise `InvalidGrant` saying why), and sign one (the CLI and tests do).

Written against what google-auth 2.62.2 sends (`service_account._make_authorization_grant_assertion`
+ `jwt.encode`): header `{"typ": "JWT", "alg": "RS256", "kid": private_key_id}`, payload
`{"iat", "exp" = iat + 3600, "iss": client_email, "aud": "https://oauth2.googleapis.com/token",
"scope": "..."}`, segments unpadded base64url.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from vertexcompat.domain.errors import InvalidGrant

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
MAX_SKEW_S = 300
MAX_LIFETIME_S = 3600
_MAX_ASSERTION_CHARS = 16 * 1024


@dataclass(frozen=True, slots=True)
class Claims:
    key_id: str
    issuer: str
    audience: str
    scope: str
    issued_at: int
    expires_at: int


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    if not segment or any(c not in _B64URL for c in segment):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def sign_assertion(payload: dict[str, Any], *, private_key_pem: str, key_id: str) -> str:
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the key file's private key is not an RSA key")
    header = {"typ": "JWT", "alg": "RS256", "kid": key_id}
    signing_input = ".".join(
        b64url_encode(json.dumps(part).encode()) for part in (header, payload)
    )
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url_encode(signature)}"


def _json_segment(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(segment))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidGrant(f"Invalid JWT: the {what} is not base64url-encoded JSON.") from exc
    if not isinstance(value, dict):
        raise InvalidGrant(f"Invalid JWT: the {what} is not a JSON object.")
    return value


def _int_claim(payload: dict[str, Any], name: str) -> int:
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidGrant(f"Invalid JWT: `{name}` is missing or not a number.")
    return int(value)


def verify_assertion(
    assertion: str,
    *,
    public_key_for: Callable[[str], str | None],
    issuer_for: Callable[[str], str | None],
    audiences: Collection[str],
    now: int,
    max_skew_s: int = MAX_SKEW_S,
    max_lifetime_s: int = MAX_LIFETIME_S,
) -> Claims:
    """The assertion's claims, if it is an RS256 JWT signed by the live key its `kid`
    names, issued by that key's account, for one of `audiences`, and current.

    `public_key_for(kid)` → PEM or None (unknown or revoked key); `issuer_for(kid)` → the
    key's service-account email."""
    if len(assertion) > _MAX_ASSERTION_CHARS:
        raise InvalidGrant("Invalid JWT: too long.")
    parts = assertion.split(".")
    if len(parts) != 3:
        raise InvalidGrant("Invalid JWT: expected three dot-separated segments.")
    header = _json_segment(parts[0], "header")
    if header.get("alg") != "RS256":
        raise InvalidGrant("Invalid JWT: only alg RS256 is accepted.")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidGrant("Invalid JWT: the header names no key id (`kid`).")
    public_pem = public_key_for(kid)
    if public_pem is None:
        raise InvalidGrant("Invalid JWT Signature.")  # Google's wording for unknown keys
    try:
        signature = b64url_decode(parts[2])
    except (ValueError, binascii.Error) as exc:
        raise InvalidGrant("Invalid JWT Signature.") from exc
    public_key = serialization.load_pem_public_key(public_pem.encode())
    assert isinstance(public_key, rsa.RSAPublicKey)
    try:
        public_key.verify(
            signature, f"{parts[0]}.{parts[1]}".encode("ascii"), padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature as exc:
        raise InvalidGrant("Invalid JWT Signature.") from exc
    # Only a verified payload is looked at.
    payload = _json_segment(parts[1], "payload")
    issuer = payload.get("iss")
    if not isinstance(issuer, str) or issuer != issuer_for(kid):
        raise InvalidGrant("Invalid JWT: `iss` is not the key's service account.")
    audience = payload.get("aud")
    if not isinstance(audience, str) or audience not in audiences:
        raise InvalidGrant("Invalid JWT: `aud` is not this token endpoint.")
    issued_at, expires_at = _int_claim(payload, "iat"), _int_claim(payload, "exp")
    if issued_at > now + max_skew_s:
        raise InvalidGrant(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
            "timeframe. Check your iat and exp values in the JWT claim."
        )
    if expires_at <= now - max_skew_s or expires_at <= issued_at:
        raise InvalidGrant("Invalid JWT: the assertion has expired (`exp`).")
    if expires_at - issued_at > max_lifetime_s:
        raise InvalidGrant(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
            "timeframe. Check your iat and exp values in the JWT claim."
        )
    scope = payload.get("scope", "")
    if not isinstance(scope, str):
        raise InvalidGrant("Invalid JWT: `scope` is not a string.")
    return Claims(kid, issuer, audience, scope, issued_at, expires_at)
