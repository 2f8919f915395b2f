"""FastAPI dependencies: the container the app was built from, and the caller's
principal. `get_principal` is the ONE place a request is authenticated (every route but
`/healthz`, `/readyz`, `/metrics` and `/token` depends on it; `get_caller` for paths that
name no project); `container.authenticator` decides how. Both note the outcome on the
request's access record: who it is, or why it was refused (for the access log and the
auth-failure metric)."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends
from starlette.requests import Request

from vertexcompat.auth.base import Authenticator
from vertexcompat.auth.tokens import IssuedToken
from vertexcompat.domain.errors import PermissionDenied, Unauthenticated
from vertexcompat.domain.principal import Principal
from vertexcompat.services.context_cache import ContextCaches
from vertexcompat.services.generation import GenerationService
from vertexcompat.web.access_log import access_record
from vertexcompat.web.metrics import PrometheusMetrics


class AppSettings(Protocol):
    @property
    def max_body_bytes(self) -> int: ...
    @property
    def default_project(self) -> str: ...
    @property
    def debug_prompts(self) -> bool: ...
    @property
    def access_log(self) -> bool: ...


class TokenGrant(Protocol):
    def admit(self, client_address: str | None) -> None:
        """Raises `TokenRateLimited` (429) when the address asks too often."""
        ...

    def exchange(self, grant_type: str | None, assertion: str | None) -> IssuedToken:
        """Raises `OAuthError` (400 with OAuth's error body; 429 over the key's limit)."""
        ...


class AppContainer(Protocol):
    """What the web layer needs from the composition root (see `container.Container`)."""

    @property
    def settings(self) -> AppSettings: ...
    @property
    def authenticator(self) -> Authenticator: ...
    @property
    def token_grant(self) -> TokenGrant | None: ...
    @property
    def generation(self) -> GenerationService: ...
    @property
    def context_caches(self) -> ContextCaches | None: ...
    @property
    def created_at(self) -> int: ...
    @property
    def metrics(self) -> PrometheusMetrics | None:
        """The operator's metrics (None: off, `GET /metrics` is 404)."""
        ...
    @property
    def ungated(self) -> frozenset[str]:
        """Backend names whose readiness does not gate `/readyz`."""
        ...

    def readiness(self) -> dict[str, str]:
        """Backend name → "ready" or why not."""
        ...

    def grounding_available(self) -> bool:
        """Whether grounded requests are answered from search results now (an index with
        documents in it)."""
        ...

    def load(self) -> dict[str, dict[str, int]]:
        """Backend name → load snapshot (busy slots, queued requests, ...)."""
        ...

    async def start(self) -> None: ...
    async def close(self) -> None: ...


def get_container(request: Request) -> AppContainer:
    container: AppContainer = request.app.state.container
    return container


async def get_principal(request: Request) -> Principal:
    container = get_container(request)
    # The plain `/v1/...` paths act on the default project.
    project = request.path_params.get("project") or container.settings.default_project
    location = request.path_params.get("location") or "global"
    try:
        principal = container.authenticator.authenticate(
            request.headers.get("authorization"), project, location
        )
    except (Unauthenticated, PermissionDenied) as exc:
        _refused(request, exc)
        raise
    _authenticated(request, principal)
    return principal


async def get_caller(request: Request) -> Principal:
    """The caller of a path that names no project (Google's publisher models): any live
    credential (`Authenticator.identify`)."""
    try:
        principal = get_container(request).authenticator.identify(
            request.headers.get("authorization")
        )
    except Unauthenticated as exc:
        _refused(request, exc)
        raise
    _authenticated(request, principal)
    return principal


def _authenticated(request: Request, principal: Principal) -> None:
    record = access_record(request)
    if record is not None:
        record.authenticated_as(principal)


def _refused(request: Request, exc: Unauthenticated | PermissionDenied) -> None:
    record = access_record(request)
    if record is not None:
        record.auth_failure = (
            exc.reason if isinstance(exc, Unauthenticated) else "forbidden_project"
        )


# The principal of the current request, for route signatures.
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
