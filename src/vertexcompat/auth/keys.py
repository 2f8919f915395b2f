"""Service-account keys: RSA-2048 key pairs, ids, and the standard key-file JSON that
`google.auth.default()` reads (`GOOGLE_APPLICATION_CREDENTIALS`)."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from vertexcompat.domain.errors import InvalidArgument

_PROJECT = re.compile(r"[a-z][a-z0-9-]{0,61}[a-z0-9]|[a-z]")
_NAME = re.compile(r"[a-z][a-z0-9-]{0,28}[a-z0-9]|[a-z]")
EMAIL_DOMAIN = "iam.gserviceaccount.com"


def generate_key_pair() -> tuple[str, str]:
    """(private key PEM in PKCS8, public key PEM in SubjectPublicKeyInfo)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    return private_pem, public_pem


def new_key_id() -> str:
    return secrets.token_hex(20)  # 40 hex digits, like Google's private_key_id


def new_client_id() -> str:
    return str(10**20 + secrets.randbelow(9 * 10**20))  # 21 digits, like Google's


def check_project(project: str) -> str:
    if not _PROJECT.fullmatch(project):
        raise InvalidArgument(
            f"Invalid project id {project!r}: lowercase letters, digits and hyphens, "
            "starting with a letter.", param="project",
        )
    return project


def account_email(name: str, project: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidArgument(
            f"Invalid service account name {name!r}: 1-30 lowercase letters, digits and "
            "hyphens, starting with a letter.", param="name",
        )
    return f"{name}@{check_project(project)}.{EMAIL_DOMAIN}"


def key_file(
    *, project: str, email: str, client_id: str, key_id: str, private_key_pem: str,
    token_uri: str,
) -> dict[str, Any]:
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": key_id,
        "private_key": private_key_pem,
        "client_email": email,
        "client_id": client_id,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    }


def write_key_file(path: Path, content: dict[str, Any]) -> None:
    """Written 0600 and never over an existing file: it holds the only copy of the key."""
    with path.open("x", encoding="utf-8") as f:
        path.chmod(0o600)
        json.dump(content, f, indent=2)
        f.write("\n")


def load_key_file(path: Path) -> dict[str, Any]:
    content = json.loads(path.read_text(encoding="utf-8"))
    missing = [
        k for k in ("type", "private_key_id", "private_key", "client_email") if k not in content
    ]
    if content.get("type") != "service_account" or missing:
        raise InvalidArgument(f"{path} is not a service-account key file (missing {missing}).")
    return dict(content)
