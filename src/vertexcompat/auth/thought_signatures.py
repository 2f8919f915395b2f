"""Thought signatures (SPEC §5): an authenticated, encrypted token that carries one model
turn's thoughts to the client and back, so the server can restore them into the model's
context on the next turn without storing anything per conversation.

Format: `vxts1.<key id>.<base64url(nonce ‖ AES-256-GCM ciphertext ‖ tag)>`. The plaintext
is JSON `{"t": thoughts, "b": binding, "iat": seconds}`; the version prefix and key id are
authenticated as associated data. `binding` ties a signature to what it was issued on
(`call:<function name>` or `text`), so a signature moved onto another call is refused
like a forged one.

Keys rotate without breaking signatures in flight: the newest unretired key seals, every
unretired key opens; retiring a key ends the signatures it sealed.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vertexcompat.store.thought_keys import ThoughtKey, ThoughtKeyRepository

SIGNATURE_PREFIX = "vxts1"
_NONCE_BYTES = 12
_KEY_BYTES = 32
_CACHE_S = 30.0

Clock = Callable[[], float]


class BadThoughtSignature(Exception):
    """The signature is not one this server issued for this place (forged, altered,
    moved, or sealed with a retired key)."""


def call_binding(name: str) -> str:
    return f"call:{name}"


TEXT_BINDING = "text"


class ThoughtSealer:
    def __init__(self, keys: ThoughtKeyRepository, *, clock: Clock = time.time) -> None:
        self._keys = keys
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: list[ThoughtKey] | None = None
        self._cached_at = 0.0

    def rotate(self) -> str:
        """A new sealing key; earlier keys keep opening. Returns its id."""
        key = ThoughtKey(
            key_id=secrets.token_hex(4),
            secret=secrets.token_bytes(_KEY_BYTES),
            created_at=int(self._clock()),
        )
        self._keys.add(key)
        with self._lock:
            self._cache = None
        return key.key_id

    def retire(self, key_id: str) -> bool:
        retired = self._keys.retire(key_id, int(self._clock()))
        with self._lock:
            self._cache = None
        return retired

    def seal(self, thoughts: str, *, binding: str) -> str:
        key = self._usable(create=True)[0]
        payload = json.dumps(
            {"t": thoughts, "b": binding, "iat": int(self._clock())},
            ensure_ascii=False, separators=(",", ":"),
        ).encode("utf-8")
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = AESGCM(key.secret).encrypt(nonce, payload, _aad(key.key_id))
        return f"{SIGNATURE_PREFIX}.{key.key_id}.{_b64(nonce + sealed)}"

    def open(self, signature: str, *, binding: str) -> str:
        """The thoughts sealed in `signature`; raises BadThoughtSignature."""
        prefix, _, rest = signature.partition(".")
        key_id, _, body = rest.partition(".")
        if prefix != SIGNATURE_PREFIX or not key_id or not body:
            raise BadThoughtSignature("not a thought signature issued by this server")
        key = next((k for k in self._usable(create=False) if k.key_id == key_id), None)
        if key is None:  # maybe rotated elsewhere (another process, the CLI): look again
            key = next((k for k in self._usable(create=False, reload=True)
                        if k.key_id == key_id), None)
        if key is None:
            raise BadThoughtSignature("the signature's key is unknown or retired")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise BadThoughtSignature("the signature is not valid base64url") from None
        # Only the canonical spelling: unused low bits in the last character would otherwise
        # let several strings stand for one signature.
        if _b64(raw) != body:
            raise BadThoughtSignature("the signature was altered or forged")
        if len(raw) <= _NONCE_BYTES:
            raise BadThoughtSignature("the signature is truncated")
        try:
            payload = AESGCM(key.secret).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:],
                                                 _aad(key_id))
        except InvalidTag:
            raise BadThoughtSignature("the signature was altered or forged") from None
        data = json.loads(payload)
        if data.get("b") != binding:
            raise BadThoughtSignature("the signature belongs to another part of the turn")
        return str(data["t"])

    def _usable(self, *, create: bool, reload: bool = False) -> list[ThoughtKey]:
        """The usable keys, cached; re-read after `_CACHE_S` so a key retired by another
        process stops opening soon."""
        now = self._clock()
        with self._lock:
            if reload or self._cache is None or now - self._cached_at > _CACHE_S:
                self._cache = self._keys.usable()
                self._cached_at = now
            keys = self._cache
        if not keys and create:
            self.rotate()
            return self._usable(create=False)
        return keys


def _aad(key_id: str) -> bytes:
    return f"{SIGNATURE_PREFIX}.{key_id}".encode("ascii")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
