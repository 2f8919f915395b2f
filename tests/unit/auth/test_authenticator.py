import pytest

from vertexcompat.auth.grant import JWT_BEARER_GRANT_TYPE
from vertexcompat.auth.jwt_bearer import sign_assertion
from vertexcompat.auth.tokens import TOKEN_PREFIX, token_digest
from vertexcompat.domain.errors import NotFound, PermissionDenied, Unauthenticated

from .conftest import LIFETIME_S, TOKEN_URI, Clock, Stack, claims_for


def _token(stack: Stack, key, clock: Clock) -> str:
    assertion = sign_assertion(
        claims_for(key, clock.now), private_key_pem=key["private_key"],
        key_id=key["private_key_id"],
    )
    return stack.grant.exchange(JWT_BEARER_GRANT_TYPE, assertion).access_token


def test_tokens_are_prefixed_random_and_stored_only_as_digests(stack, key, clock) -> None:
    tokens = {_token(stack, key, clock) for _ in range(3)}
    assert len(tokens) == 3
    assert all(t.startswith(TOKEN_PREFIX) and len(t) > 40 for t in tokens)
    stack.db.close()
    raw = b"".join(p.read_bytes() for p in stack.db.path.parent.glob("state.db*"))
    for t in tokens:
        assert t.encode() not in raw
        assert token_digest(t).encode() in raw
    assert key["private_key"].splitlines()[1].encode() not in raw


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic abc", "Token x"])
def test_missing_or_malformed_header_is_unauthenticated(stack, header) -> None:
    with pytest.raises(Unauthenticated):
        stack.authenticator.authenticate(header, "demo")


def test_unknown_token_is_unauthenticated(stack) -> None:
    with pytest.raises(Unauthenticated):
        stack.authenticator.authenticate(f"Bearer {TOKEN_PREFIX}nope", "demo")


def test_expired_token_is_rejected_with_401(stack, key, clock) -> None:
    token = _token(stack, key, clock)
    clock.now += LIFETIME_S - 1
    stack.authenticator.authenticate(f"Bearer {token}", "demo")
    clock.now += 1
    with pytest.raises(Unauthenticated):
        stack.authenticator.authenticate(f"Bearer {token}", "demo")


def test_revoked_token_is_rejected(stack, key, clock) -> None:
    token = _token(stack, key, clock)
    assert stack.tokens.revoke(token)
    with pytest.raises(Unauthenticated):
        stack.authenticator.authenticate(f"Bearer {token}", "demo")


def test_revoking_the_key_stops_its_tokens(stack, key, clock) -> None:
    token = _token(stack, key, clock)
    stack.authenticator.authenticate(f"Bearer {token}", "demo")
    stack.admin.revoke_key(key["private_key_id"])
    with pytest.raises(Unauthenticated):
        stack.authenticator.authenticate(f"Bearer {token}", "demo")


def test_revoking_an_unknown_key_is_not_found(stack) -> None:
    with pytest.raises(NotFound):
        stack.admin.revoke_key("nope")


def test_other_project_is_permission_denied_with_googles_wording(stack, key, clock) -> None:
    token = _token(stack, key, clock)
    with pytest.raises(PermissionDenied) as info:
        stack.authenticator.authenticate(f"Bearer {token}", "other", "europe-west4")
    assert info.value.message == (
        "Permission 'aiplatform.endpoints.predict' denied on resource "
        "'//aiplatform.googleapis.com/projects/other/locations/europe-west4/endpoints/openapi'"
        " (or it may not exist)."
    )


def test_roles_grant_and_revoke_decide_project_access(stack, key, clock) -> None:
    token = _token(stack, key, clock)
    email = key["client_email"]
    assert stack.admin.grant_role(project="other", member=f"serviceAccount:{email}",
                                  role="roles/aiplatform.user")
    assert stack.authenticator.authenticate(f"Bearer {token}", "other").project == "other"
    assert stack.admin.revoke_role(project="other", member=email, role="roles/aiplatform.user")
    with pytest.raises(PermissionDenied):
        stack.authenticator.authenticate(f"Bearer {token}", "other")
    # Its own project too: the binding creation made is just a binding.
    stack.admin.revoke_role(project="demo", member=email, role="roles/aiplatform.user")
    with pytest.raises(PermissionDenied):
        stack.authenticator.authenticate(f"Bearer {token}", "demo")


def test_a_role_without_predict_does_not_grant_access(stack, key, clock) -> None:
    token = _token(stack, key, clock)
    stack.admin.grant_role(project="other", member=key["client_email"], role="roles/viewer")
    with pytest.raises(PermissionDenied):
        stack.authenticator.authenticate(f"Bearer {token}", "other")


def test_key_file_is_a_standard_service_account_key(key) -> None:
    assert key["type"] == "service_account"
    assert key["project_id"] == "demo"
    assert key["client_email"] == "sa@demo.iam.gserviceaccount.com"
    assert key["token_uri"] == TOKEN_URI
    assert key["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert len(key["private_key_id"]) == 40 and key["client_id"].isdigit()


def test_every_refusal_reads_the_same_but_says_why_to_the_operator(stack, key, clock) -> None:
    """One message for the client whatever went wrong; `reason` (for the operator's
    metrics) tells the cases apart."""

    def refusal(header):
        with pytest.raises(Unauthenticated) as info:
            stack.authenticator.authenticate(header, "demo")
        return info.value

    missing = refusal(None)
    unknown = refusal(f"Bearer {TOKEN_PREFIX}nope")
    expired_token = _token(stack, key, clock)
    revoked_token = _token(stack, key, clock)
    assert stack.tokens.revoke(revoked_token)
    clock.now += LIFETIME_S
    expired = refusal(f"Bearer {expired_token}")
    revoked = refusal(f"Bearer {revoked_token}")
    live = _token(stack, key, clock)
    stack.admin.revoke_key(key["private_key_id"])
    key_revoked = refusal(f"Bearer {live}")
    errors = [missing, unknown, expired, revoked, key_revoked]
    assert [e.reason for e in errors] == ["missing", "invalid", "expired", "revoked", "revoked"]
    assert len({e.message for e in errors}) == 1
