"""The Authenticator port the web layer resolves principals through."""

from __future__ import annotations

from typing import Protocol

from vertexcompat.domain.principal import Principal


class Authenticator(Protocol):
    def authenticate(
        self, authorization: str | None, project: str, location: str = "global"
    ) -> Principal:
        """Raises `Unauthenticated` (401) or `PermissionDenied` (403 on `project`;
        `location` only names the resource in the message)."""
        ...

    def identify(self, authorization: str | None) -> Principal:
        """The caller of a resource that belongs to no project (Google's publisher
        models): any live credential will do. Its `project` is the account's own.
        Raises `Unauthenticated` (401)."""
        ...
