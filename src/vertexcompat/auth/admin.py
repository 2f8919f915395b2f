"""Operator actions behind `vertexcompat auth ...`: create service accounts (the private
key is returned once, never stored), list them, revoke keys, grant and revoke roles."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from vertexcompat.auth.authenticator import PREDICT_ROLES
from vertexcompat.auth.keys import (
    account_email,
    check_project,
    generate_key_pair,
    key_file,
    new_client_id,
    new_key_id,
)
from vertexcompat.auth.tokens import Clock
from vertexcompat.domain.errors import InvalidArgument, NotFound
from vertexcompat.store.roles import RoleRepository
from vertexcompat.store.service_accounts import (
    ServiceAccount,
    ServiceAccountKey,
    ServiceAccountRepository,
)

DEFAULT_ROLE = "roles/aiplatform.user"
KNOWN_ROLES = PREDICT_ROLES | {"roles/viewer"}


@dataclass(frozen=True, slots=True)
class AccountListing:
    account: ServiceAccount
    keys: list[ServiceAccountKey]
    roles: list[tuple[str, str]]  # (project, role)


class ServiceAccountAdmin:
    def __init__(
        self, accounts: ServiceAccountRepository, roles: RoleRepository, *,
        clock: Clock = time.time,
    ) -> None:
        self._accounts = accounts
        self._roles = roles
        self._clock = clock

    def create(self, *, project: str, name: str, token_uri: str) -> dict[str, Any]:
        """A new key (and the account, if new) → the key file's content. The account gets
        `roles/aiplatform.user` on its own project."""
        email = account_email(name, project)
        existing = self._accounts.get(email)
        client_id = existing.client_id if existing else new_client_id()
        private_pem, public_pem = generate_key_pair()
        key_id = new_key_id()
        now = int(self._clock())
        self._accounts.add(
            ServiceAccount(email, project, name, client_id, now),
            ServiceAccountKey(key_id, email, public_pem, now, None),
        )
        self._roles.grant(project, email, DEFAULT_ROLE)
        return key_file(
            project=project, email=email, client_id=client_id, key_id=key_id,
            private_key_pem=private_pem, token_uri=token_uri,
        )

    def list(self, project: str | None = None) -> list[AccountListing]:
        listings = []
        for account in self._accounts.list(project):
            bindings = [(p, r) for p, m, r in self._roles.bindings() if m == account.email]
            listings.append(AccountListing(account, self._accounts.keys_of(account.email),
                                           bindings))
        return listings

    def revoke_key(self, key_id: str) -> None:
        if self._accounts.key(key_id) is None:
            raise NotFound(f"No service-account key {key_id!r}.")
        self._accounts.revoke_key(key_id, int(self._clock()))

    def grant_role(self, *, project: str, member: str, role: str) -> bool:
        return self._roles.grant(*self._binding(project, member, role))

    def revoke_role(self, *, project: str, member: str, role: str) -> bool:
        return self._roles.revoke(*self._binding(project, member, role))

    def _binding(self, project: str, member: str, role: str) -> tuple[str, str, str]:
        email = member.removeprefix("serviceAccount:")
        if self._accounts.get(email) is None:
            raise NotFound(f"No service account {email!r}.")
        if role not in KNOWN_ROLES:
            raise InvalidArgument(
                f"Unknown role {role!r}; known: {', '.join(sorted(KNOWN_ROLES))}.", param="role"
            )
        return check_project(project), email, role
