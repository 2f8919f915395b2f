"""`TokenAuthenticator`: an `Authorization: Bearer <access token>` header → `Principal`,
and the project check (SPEC §3): the token must be live, its key unrevoked, and its
account must hold a role that grants `aiplatform.endpoints.predict` on the URL's project."""

from __future__ import annotations

from vertexcompat.auth.tokens import AccessTokens
from vertexcompat.domain.errors import PermissionDenied, Unauthenticated
from vertexcompat.domain.principal import Principal
from vertexcompat.store.roles import RoleRepository
from vertexcompat.store.service_accounts import ServiceAccountRepository

# Google's wording for a missing or unusable credential.
UNAUTHENTICATED_MESSAGE = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)

# Roles that carry `aiplatform.endpoints.predict`.
PREDICT_ROLES = frozenset(
    {"roles/aiplatform.user", "roles/aiplatform.admin", "roles/editor", "roles/owner"}
)


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated(UNAUTHENTICATED_MESSAGE, reason="missing")
    return token


def permission_denied(project: str, location: str) -> PermissionDenied:
    return PermissionDenied(
        "Permission 'aiplatform.endpoints.predict' denied on resource "
        f"'//aiplatform.googleapis.com/projects/{project}/locations/{location}"
        "/endpoints/openapi' (or it may not exist)."
    )


class TokenAuthenticator:
    def __init__(
        self, tokens: AccessTokens, accounts: ServiceAccountRepository, roles: RoleRepository
    ) -> None:
        self._tokens = tokens
        self._accounts = accounts
        self._roles = roles

    def authenticate(
        self, authorization: str | None, project: str, location: str = "global"
    ) -> Principal:
        email = self._live_account(authorization)
        if not PREDICT_ROLES & self._roles.roles_of(email, project):
            raise permission_denied(project, location)
        return Principal(subject=f"serviceAccount:{email}", project=project)

    def identify(self, authorization: str | None) -> Principal:
        email = self._live_account(authorization)
        # `name@project.iam.gserviceaccount.com`: the account's own project.
        project = email.partition("@")[2].split(".", 1)[0]
        return Principal(subject=f"serviceAccount:{email}", project=project)

    def _live_account(self, authorization: str | None) -> str:
        """The email of the account a live, unrevoked token belongs to. Every failure
        reads the same to the client; its `reason` is for the operator's metrics."""
        record, why_not = self._tokens.inspect(bearer_token(authorization))
        if record is None:
            raise Unauthenticated(UNAUTHENTICATED_MESSAGE, reason=why_not)
        key = self._accounts.key(record.key_id)
        if key is None or key.revoked:
            raise Unauthenticated(UNAUTHENTICATED_MESSAGE, reason="revoked")
        return record.email
