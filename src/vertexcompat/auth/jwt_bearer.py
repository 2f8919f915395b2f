"""RS256 JWTs for the JWT-bearer grant (RFC 7523): parse and verify an assertion into its
claims (or raise `InvalidGrant` saying why), and sign one (the CLI and tests do).

Written against what google-auth 2.62.2 sends (`service_account._make_authorization_grant_assertion`
+ `jwt.encode`): header `{"typ": "JWT", "alg": "RS256", "kid": private_key_id}`, payload
`{"iat", "exp" = iat + 3600, "iss": client_email, "aud": "https://oauth2.googleapis.com/token",
"scope": "..."}`, segments unpadded base64url.

Everything here reads attacker-controlled text: every malformed input must end as an
`InvalidGrant` (a 400), never as an exception of our own (a 500). `parse_assertion` does
the cheap structural part, so the caller can rate-limit by `kid` before the key lookup and
the RSA verification that `verify_assertion` does.
"""

from __future__ import annotations

import base64
import json
import math
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
# Our key ids (and Google's `private_key_id`) are 40 hex digits; anything much longer or
# outside printable ASCII is not a key id, and would only bloat rate-limit buckets and logs.
_MAX_KID_CHARS = 128
# NumericDate bounds (RFC 7519 §2): 0 .. the last second of year 9999 (`datetime`'s range).
_MAX_NUMERIC_DATE = 253_402_300_799


@dataclass(frozen=True, slots=True)
class Claims:
    key_id: str
    issuer: str
    audience: str
    scope: str
    issued_at: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class UnverifiedAssertion:
    """A structurally valid RS256 JWT whose signature is not checked yet."""

    key_id: str
    signing_input: bytes
    signature: bytes
    payload_segment: str


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


def _reject_constant(name: str) -> Any:
    # Python's json reads NaN/Infinity/-Infinity, which RFC 8259 JSON does not have.
    raise ValueError(f"{name} is not JSON")


def _json_segment(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(segment), parse_constant=_reject_constant)
    # ValueError covers bad base64 (binascii.Error), bad UTF-8, bad JSON and integers
    # past Python's digit limit; RecursionError a deeply nested array.
    except (ValueError, RecursionError) as exc:
        raise InvalidGrant(f"Invalid JWT: the {what} is not base64url-encoded JSON.") from exc
    if not isinstance(value, dict):
        raise InvalidGrant(f"Invalid JWT: the {what} is not a JSON object.")
    return value


def _time_claim(payload: dict[str, Any], name: str) -> int:
    """A NumericDate: seconds since the epoch, possibly fractional (RFC 7519 §2)."""
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidGrant(f"Invalid JWT: `{name}` is missing or not a number.")
    # 1e400 parses as inf; an int can have thousands of digits.
    if not (isinstance(value, int) or math.isfinite(value)) or not (
        0 <= value <= _MAX_NUMERIC_DATE
    ):
        raise InvalidGrant(f"Invalid JWT: `{name}` is not a time in a reasonable range.")
    return int(value)


def _is_key_id(kid: str) -> bool:
    return len(kid) <= _MAX_KID_CHARS and all("!" <= c <= "~" for c in kid)


def parse_assertion(assertion: str) -> UnverifiedAssertion:
    """The structure of an RS256 JWT: three base64url segments, a JSON header naming
    RS256 and a key id, and the signature bytes. Cheap: no key lookup, no RSA."""
    if len(assertion) > _MAX_ASSERTION_CHARS:
        raise InvalidGrant("Invalid JWT: too long.")
    parts = assertion.split(".")
    if len(parts) != 3:
        raise InvalidGrant("Invalid JWT: expected three dot-separated segments.")
    # Checked up front, so the signing input below is ASCII whatever was sent.
    if not all(_B64URL.issuperset(part) for part in parts):
        raise InvalidGrant("Invalid JWT: a segment is not base64url.")
    header = _json_segment(parts[0], "header")
    if header.get("alg") != "RS256":
        raise InvalidGrant("Invalid JWT: only alg RS256 is accepted.")
    if "crit" in header:
        # RFC 7515 §4.1.11: extensions we do not implement must be refused.
        raise InvalidGrant("Invalid JWT: critical header extensions are not supported.")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidGrant("Invalid JWT: the header names no key id (`kid`).")
    if not _is_key_id(kid):
        raise InvalidGrant("Invalid JWT: the header's `kid` is not a key id.")
    try:
        signature = b64url_decode(parts[2])
    except ValueError as exc:  # empty, or a length no base64 has
        raise InvalidGrant("Invalid JWT Signature.") from exc
    return UnverifiedAssertion(
        key_id=kid,
        signing_input=f"{parts[0]}.{parts[1]}".encode("ascii"),
        signature=signature,
        payload_segment=parts[1],
    )


def verify_assertion(
    assertion: UnverifiedAssertion | str,
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
    parsed = parse_assertion(assertion) if isinstance(assertion, str) else assertion
    kid = parsed.key_id
    public_pem = public_key_for(kid)
    if public_pem is None:
        raise InvalidGrant("Invalid JWT Signature.")  # Google's wording for unknown keys
    public_key = serialization.load_pem_public_key(public_pem.encode())
    assert isinstance(public_key, rsa.RSAPublicKey)
    try:
        public_key.verify(
            parsed.signature, parsed.signing_input, padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature as exc:
        raise InvalidGrant("Invalid JWT Signature.") from exc
    # Only a verified payload is looked at.
    payload = _json_segment(parsed.payload_segment, "payload")
    issuer = payload.get("iss")
    if not isinstance(issuer, str) or issuer != issuer_for(kid):
        raise InvalidGrant("Invalid JWT: `iss` is not the key's service account.")
    audience = payload.get("aud")
    if not isinstance(audience, str) or audience not in audiences:
        raise InvalidGrant("Invalid JWT: `aud` is not this token endpoint.")
    issued_at, expires_at = _time_claim(payload, "iat"), _time_claim(payload, "exp")
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
