"""Thought signatures (SPEC §5): an authenticated, encrypted token that carries one model
turn's thoughts to the client and back, so the server can restore them into the model's
context on the next turn without storing anything per conversation.

Format: standard base64, padded, of one binary blob

    SIGNATURE_MAGIC ‖ len(key id) ‖ key id ‖ nonce ‖ AES-256-GCM ciphertext ‖ tag

(`SIGNATURE_MAGIC` is the 4 bytes `vxt\\x02`, the length one byte, the key id ASCII, the
nonce 12 bytes, the tag 16). Everything before the nonce — version and key id — is the
AEAD's associated data. The plaintext is JSON `{"t": thoughts, "b": binding, "iat":
seconds}`. `binding` ties a signature to what it was issued on (`call:<function name>` or
`text`), so a signature moved onto another call is refused like a forged one.

It is a single base64 value because Gemini's REST API declares `thoughtSignature` a
protobuf `bytes` field: the google-genai SDK decodes it as base64 and sends the bytes back
re-encoded in the URL-safe alphabet, while the OpenAI surface hands the string back as it
was. So `open` accepts the standard or the URL-safe alphabet, padded or not, but only the
one spelling of the bytes in the alphabet and padding style it was given: an altered
string (including the unused low bits of the last character, or a mix of alphabets) is
refused.

The earlier `vxts1.<key id>.<base64url>` format does not open: signatures are short-lived
conversation state, and a client still holding one gets the documented refusal (400) and
starts that turn afresh.

Keys rotate without breaking signatures in flight: the newest unretired key seals, every
unretired key opens; retiring a key ends the signatures it sealed — in every process on
the same state database within `KEY_CACHE_S` (1 s): each sealer re-reads the usable keys
once they are older than that (docs/replicas.md). A read per seal or open would cost a
PostgreSQL round trip for every signature in a replayed conversation (0.3 ms each, measured
in issue 21) where the cache costs 0.02 ms.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
import time
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vertexcompat.store.thought_keys import ThoughtKey, ThoughtKeyRepository

SIGNATURE_MAGIC = b"vxt\x02"
# The text every signature starts with, in either alphabet: the base64 characters that
# the magic alone determines ("dnh0A").
SIGNATURE_PREFIX = base64.b64encode(SIGNATURE_MAGIC).decode("ascii")[
    : len(SIGNATURE_MAGIC) * 8 // 6
]
_NONCE_BYTES = 12
_TAG_BYTES = 16
_KEY_BYTES = 32
# How stale a process's view of the usable keys may be (issue 21: ≤ 1 s).
KEY_CACHE_S = 1.0

_SHAPE = re.compile(r"[A-Za-z0-9+/_-]*={0,2}", re.ASCII)
_URL_TO_STANDARD = str.maketrans("-_", "+/")
_STANDARD_TO_URL = str.maketrans("+/", "-_")

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
        header = _header(key.key_id)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = AESGCM(key.secret).encrypt(nonce, payload, header)
        return base64.b64encode(header + nonce + sealed).decode("ascii")

    def open(self, signature: str, *, binding: str) -> str:
        """The thoughts sealed in `signature`; raises BadThoughtSignature."""
        raw = _decode(signature)
        header_end = len(SIGNATURE_MAGIC) + 1
        if len(raw) < header_end or not raw.startswith(SIGNATURE_MAGIC):
            raise BadThoughtSignature("not a thought signature issued by this server")
        header_end += raw[header_end - 1]
        if len(raw) < header_end + _NONCE_BYTES + _TAG_BYTES:
            raise BadThoughtSignature("the signature is truncated")
        try:
            key_id = raw[len(SIGNATURE_MAGIC) + 1 : header_end].decode("ascii")
        except UnicodeDecodeError:
            key_id = ""
        if not key_id:
            raise BadThoughtSignature("not a thought signature issued by this server")
        key = next((k for k in self._usable(create=False) if k.key_id == key_id), None)
        if key is None:  # maybe rotated elsewhere (another process, the CLI): look again
            key = next((k for k in self._usable(create=False, reload=True)
                        if k.key_id == key_id), None)
        if key is None:
            raise BadThoughtSignature("the signature's key is unknown or retired")
        nonce_end = header_end + _NONCE_BYTES
        try:
            payload = AESGCM(key.secret).decrypt(raw[header_end:nonce_end], raw[nonce_end:],
                                                 raw[:header_end])
        except InvalidTag:
            raise BadThoughtSignature("the signature was altered or forged") from None
        data = json.loads(payload)
        if data.get("b") != binding:
            raise BadThoughtSignature("the signature belongs to another part of the turn")
        return str(data["t"])

    def _usable(self, *, create: bool, reload: bool = False) -> list[ThoughtKey]:
        """The usable keys, cached; re-read once older than `KEY_CACHE_S`, so a key retired
        by another process (replica, CLI) stops opening here within that. A clock that
        stepped back also re-reads: a cache must not outlive its bound by the step."""
        now = self._clock()
        with self._lock:
            age = now - self._cached_at
            if reload or self._cache is None or not 0 <= age <= KEY_CACHE_S:
                self._cache = self._keys.usable()
                self._cached_at = now
            keys = self._cache
        if not keys and create:
            self.rotate()
            return self._usable(create=False)
        return keys


def _header(key_id: str) -> bytes:
    """The magic and the length-prefixed key id: the AEAD's associated data."""
    encoded = key_id.encode("ascii")
    if not 0 < len(encoded) < 256:
        raise ValueError(f"a thought key id must be 1-255 ASCII bytes, not {key_id!r}")
    return SIGNATURE_MAGIC + bytes([len(encoded)]) + encoded


def _decode(signature: str) -> bytes:
    """The bytes `signature` spells in standard or URL-safe base64, padded or not — only
    if it is their one spelling in that alphabet and padding style."""
    if not isinstance(signature, str) or not _SHAPE.fullmatch(signature):
        raise BadThoughtSignature("not a thought signature issued by this server")
    url_safe = "-" in signature or "_" in signature
    if url_safe and ("+" in signature or "/" in signature):
        raise BadThoughtSignature("the signature mixes two base64 alphabets")
    padded = signature.endswith("=")
    body = signature.rstrip("=").translate(_URL_TO_STANDARD)
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise BadThoughtSignature("the signature is not valid base64") from None
    # Only the canonical spelling: unused low bits in the last character, or padding that
    # does not fit the length, would otherwise let several strings stand for one signature.
    again = base64.b64encode(raw).decode("ascii")
    if not padded:
        again = again.rstrip("=")
    if url_safe:
        again = again.translate(_STANDARD_TO_URL)
    if again != signature:
        raise BadThoughtSignature("the signature was altered or forged")
    return raw
