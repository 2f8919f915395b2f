import base64
import json
from typing import Any

import pytest

from vertexcompat.auth.grant import JWT_BEARER_GRANT_TYPE
from vertexcompat.auth.jwt_bearer import (
    GOOGLE_TOKEN_URI,
    b64url_decode,
    b64url_encode,
    sign_assertion,
)
from vertexcompat.auth.keys import generate_key_pair
from vertexcompat.domain.errors import InvalidGrant, UnsupportedGrantType

from .conftest import TOKEN_URI, Clock, Stack, claims_for

# RSA key pairs made once for the module: the service-account keys the tests create take
# the next one of these, in order, instead of generating a new 2048-bit pair each time
# (~35 ms of CPU, in every test's set-up). Within a test every key is still another key.
_KEY_PAIRS: list[tuple[str, str]] = []


@pytest.fixture(autouse=True)
def _premade_key_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = iter(range(1_000))

    def next_pair() -> tuple[str, str]:
        i = next(taken)
        while len(_KEY_PAIRS) <= i:
            _KEY_PAIRS.append(generate_key_pair())
        return _KEY_PAIRS[i]

    monkeypatch.setattr("vertexcompat.auth.admin.generate_key_pair", next_pair)


def _sign(key: dict[str, Any], claims: dict[str, Any], **kw: Any) -> str:
    return sign_assertion(
        claims,
        private_key_pem=kw.get("private_key_pem", key["private_key"]),
        key_id=kw.get("key_id", key["private_key_id"]),
    )


def _exchange(stack: Stack, assertion: str) -> str:
    return stack.grant.exchange(JWT_BEARER_GRANT_TYPE, assertion).access_token


def test_a_google_auth_shaped_assertion_gets_a_token(stack: Stack, key, clock: Clock) -> None:
    issued = stack.grant.exchange(JWT_BEARER_GRANT_TYPE, _sign(key, claims_for(key, clock.now)))
    assert issued.token_type == "Bearer"
    assert issued.expires_in == 3600
    principal = stack.authenticator.authenticate(f"Bearer {issued.access_token}", "demo")
    assert principal.subject == f"serviceAccount:{key['client_email']}"


def test_the_servers_own_token_uri_is_an_accepted_audience(stack: Stack, key, clock) -> None:
    assert _exchange(stack, _sign(key, claims_for(key, clock.now, aud=TOKEN_URI)))


def test_google_auth_itself_signs_an_acceptable_assertion(stack: Stack, key, clock) -> None:
    from google.oauth2 import service_account

    creds = service_account.Credentials.from_service_account_info(
        key, scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    assertion = creds._make_authorization_grant_assertion()
    clock.now = json.loads(b64url_decode(assertion.decode().split(".")[1]))["iat"]
    assert _exchange(stack, assertion.decode())


def _rejected(stack: Stack, assertion: str) -> str:
    with pytest.raises(InvalidGrant) as info:
        _exchange(stack, assertion)
    return info.value.description


def test_signed_by_another_key_is_rejected(stack: Stack, key, clock) -> None:
    other_private, _ = generate_key_pair()
    assert "Signature" in _rejected(
        stack, _sign(key, claims_for(key, clock.now), private_key_pem=other_private)
    )


def test_wrong_kid_is_rejected(stack: Stack, key, clock) -> None:
    _rejected(stack, _sign(key, claims_for(key, clock.now), key_id="0" * 40))


def test_kid_of_another_account_is_rejected(stack: Stack, key, clock) -> None:
    other = stack.admin.create(project="demo", name="other", token_uri=TOKEN_URI)
    # Signed correctly by `other`'s key but claiming to be `sa`.
    _rejected(stack, _sign(other, claims_for(key, clock.now)))


def test_expired_exp_is_rejected(stack: Stack, key, clock) -> None:
    claims = claims_for(key, clock.now - 7200)
    assert "expired" in _rejected(stack, _sign(key, claims))


def test_iat_in_the_future_beyond_skew_is_rejected(stack: Stack, key, clock) -> None:
    _rejected(stack, _sign(key, claims_for(key, clock.now + 600)))


def test_iat_slightly_in_the_future_is_within_skew(stack: Stack, key, clock) -> None:
    assert _exchange(stack, _sign(key, claims_for(key, clock.now + 60)))


def test_lifetime_over_an_hour_is_rejected(stack: Stack, key, clock) -> None:
    claims = claims_for(key, clock.now, exp=int(clock.now) + 3601)
    _rejected(stack, _sign(key, claims))


def test_tampered_payload_is_rejected(stack: Stack, key, clock) -> None:
    header, payload, signature = _sign(key, claims_for(key, clock.now)).split(".")
    claims = json.loads(b64url_decode(payload))
    claims["scope"] = "https://www.googleapis.com/auth/everything"
    forged = f"{header}.{b64url_encode(json.dumps(claims).encode())}.{signature}"
    assert "Signature" in _rejected(stack, forged)


def test_wrong_aud_is_rejected(stack: Stack, key, clock) -> None:
    claims = claims_for(key, clock.now, aud="https://evil.example/token")
    assert "aud" in _rejected(stack, _sign(key, claims))


def test_alg_none_is_rejected(stack: Stack, key, clock) -> None:
    header = {"alg": "none", "typ": "JWT", "kid": key["private_key_id"]}
    unsigned = ".".join(
        b64url_encode(json.dumps(p).encode()) for p in (header, claims_for(key, clock.now))
    )
    assert "RS256" in _rejected(stack, unsigned + ".")


@pytest.mark.parametrize(
    "garbage",
    ["", "garbage", "a.b", "a.b.c", "....", "ü.ü.ü", "e30.e30.e30",
     base64.urlsafe_b64encode(b"[1,2]").decode() + ".e30.e30", "x" * 20000],
)
def test_garbage_is_rejected(stack: Stack, key, garbage: str) -> None:
    _rejected(stack, garbage)


def test_unsupported_grant_type(stack: Stack, key, clock) -> None:
    with pytest.raises(UnsupportedGrantType):
        stack.grant.exchange("client_credentials", _sign(key, claims_for(key, clock.now)))


def test_a_revoked_key_gets_no_new_tokens(stack: Stack, key, clock) -> None:
    stack.admin.revoke_key(key["private_key_id"])
    _rejected(stack, _sign(key, claims_for(key, clock.now)))


def test_b64url_round_trip() -> None:
    assert b64url_decode(b64url_encode(b"\xff\xfe-_")) == b"\xff\xfe-_"
    assert GOOGLE_TOKEN_URI == "https://oauth2.googleapis.com/token"


# -- Hardening (issue 12): every malformed assertion is an InvalidGrant, never a crash ----


def _sign_raw(key: dict[str, Any], payload_json: str, header: dict[str, Any] | None = None,
              *, header_json: str | None = None) -> str:
    """An RS256 JWT over exactly these payload bytes (json.dumps cannot write 1e400)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    header_json = header_json or json.dumps(
        header or {"typ": "JWT", "alg": "RS256", "kid": key["private_key_id"]}
    )
    signing_input = (
        f"{b64url_encode(header_json.encode())}.{b64url_encode(payload_json.encode())}"
    )
    private = serialization.load_pem_private_key(key["private_key"].encode(), password=None)
    signature = private.sign(  # type: ignore[union-attr, call-arg]
        signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    return f"{signing_input}.{b64url_encode(signature)}"


def _payload_with(key: dict[str, Any], clock: Clock, name: str, literal: str) -> str:
    claims = claims_for(key, clock.now)
    del claims[name]
    return json.dumps(claims)[:-1] + f', "{name}": {literal}}}'


@pytest.mark.parametrize("name", ["iat", "exp"])
@pytest.mark.parametrize(
    "literal",
    ["Infinity", "-Infinity", "NaN", "1e400", "-1e400", "1" + "0" * 400, "-5",
     "1" + "0" * 5000, '"1800000000"', "true", "null", "[]"],
)
def test_absurd_iat_and_exp_are_invalid_grant(stack: Stack, key, clock, name, literal) -> None:
    _rejected(stack, _sign_raw(key, _payload_with(key, clock, name, literal)))


def test_a_fractional_numeric_date_is_accepted(stack: Stack, key, clock) -> None:
    # RFC 7519 §2: a NumericDate may be non-integer.
    assert _exchange(stack, _sign_raw(key, _payload_with(key, clock, "iat", f"{int(clock.now)}.5")))


def test_non_ascii_in_the_payload_segment_is_invalid_grant(stack: Stack, key, clock) -> None:
    header, payload, signature = _sign(key, claims_for(key, clock.now)).split(".")
    for forged in (f"{header}.{payload[:-1]}ü.{signature}", f"{header}.ü.{signature}",
                   f"{header}.{payload}.{signature[:-1]}\u2028",
                   f"{header}\u00e9.{payload}.{signature}"):
        _rejected(stack, forged)


def test_non_ascii_text_inside_a_signed_payload_is_fine(stack: Stack, key, clock) -> None:
    claims = claims_for(key, clock.now, scope="https://example.com/ünïcode")
    assert _exchange(stack, _sign_raw(key, json.dumps(claims, ensure_ascii=False)))


def test_non_ascii_iss_is_invalid_grant(stack: Stack, key, clock) -> None:
    claims = claims_for(key, clock.now, iss="sä@demo.iam.gserviceaccount.com")
    assert "iss" in _rejected(stack, _sign_raw(key, json.dumps(claims, ensure_ascii=False)))


@pytest.mark.parametrize(
    "header",
    [
        {"alg": ["RS256"]}, {"alg": {"RS256": 1}}, {"alg": 256}, {"alg": None},
        {"alg": "rs256"}, {"kid": 1}, {"kid": ["a"]}, {"kid": {"a": 1}}, {"kid": None},
        {"kid": True}, {"kid": ""}, {"kid": "k" * 129}, {"kid": "has space"},
        {"kid": "nul\u0000"}, {"kid": "ü" * 10}, {"kid": "\ud800"}, {"crit": ["exp"]},
    ],
)
def test_odd_headers_are_invalid_grant(stack: Stack, key, clock, header) -> None:
    full = {"typ": "JWT", "alg": "RS256", "kid": key["private_key_id"], **header}
    _rejected(stack, _sign_raw(key, json.dumps(claims_for(key, clock.now)), full))


def test_a_100_kb_kid_is_invalid_grant(stack: Stack, key, clock) -> None:
    header = {"typ": "JWT", "alg": "RS256", "kid": "k" * 100_000}
    assert "too long" in _rejected(
        stack, _sign_raw(key, json.dumps(claims_for(key, clock.now)), header)
    )


@pytest.mark.parametrize(
    "header_json",
    ['{"alg": "RS256", "kid": ' + "[" * 5000 + "]" * 5000 + "}",
     '{"alg": "RS256", "kid": "x", "n": ' + '{"a":' * 3000 + "1" + "}" * 3000 + "}",
     '{"alg": "RS256", "kid": "x", "n": NaN}', '{"alg": "RS256", "kid": "x", "n": 1e400}',
     '{"alg": "RS256", "kid": "x", "n": ' + "9" * 5000 + "}",
     "\ufeff{}", '"RS256"', "null"],
)
def test_malformed_header_json_is_invalid_grant(stack: Stack, key, clock, header_json) -> None:
    _rejected(stack, _sign_raw(key, json.dumps(claims_for(key, clock.now)),
                               header_json=header_json))


def test_deeply_nested_payload_is_invalid_grant(stack: Stack, key, clock) -> None:
    _rejected(stack, _sign_raw(key, '{"iss": ' + "[" * 5000 + "]" * 5000 + "}"))


@pytest.mark.parametrize("signature", ["", "A", "AAAAA", "=", "+/+/"])
def test_malformed_signatures_are_invalid_grant(stack: Stack, key, clock, signature) -> None:
    header, payload, _ = _sign(key, claims_for(key, clock.now)).split(".")
    _rejected(stack, f"{header}.{payload}.{signature}")


def test_a_payload_that_is_not_an_object_is_invalid_grant(stack: Stack, key) -> None:
    for payload in ("[1]", '"x"', "1", ""):
        _rejected(stack, _sign_raw(key, payload))
