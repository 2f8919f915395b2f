"""Strict parsing of `data:` URIs (RFC 2397) and of bare base64 payloads.

Only the base64 form is accepted: media is binary, and a percent-encoded data URI of an image
is a client bug we would rather report than guess at. The size is checked on the encoded
length before anything is decoded, so an oversized part costs no decoding work (→ 413).
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

from vertexcompat.domain.errors import InvalidArgument, PayloadTooLarge

# `type/subtype` per RFC 6838 §4.2 (restricted-name characters).
_MIME = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")
_PARAMETER = re.compile(r"[A-Za-z0-9!#$&^_.+-]+=[^;,]*")


@dataclass(frozen=True, slots=True)
class DataUri:
    mime: str | None  # lower-cased `type/subtype`, or None when the URI declares none
    data: bytes


def parse_data_uri(uri: str, *, param: str, max_bytes: int) -> DataUri:
    """`data:<mime>[;name=value]*;base64,<payload>` → the declared MIME and decoded bytes."""
    if uri[:5].lower() != "data:":
        raise InvalidArgument(f"`{param}` is not a data: URI.", param=param)
    header, comma, payload = uri[5:].partition(",")
    if not comma:
        raise InvalidArgument(
            f"The data: URI in `{param}` has no ',' separating its header from its data.",
            param=param,
        )
    fields = header.split(";")
    if fields[-1].strip().lower() != "base64":
        raise InvalidArgument(
            f"The data: URI in `{param}` must be base64-encoded "
            "(`data:<mime>;base64,<data>`).",
            param=param,
        )
    mime_field, parameters = fields[0].strip(), fields[1:-1]
    if mime_field and not _MIME.fullmatch(mime_field):
        raise InvalidArgument(
            f"The data: URI in `{param}` declares an invalid MIME type {mime_field!r}.",
            param=param,
        )
    for parameter in parameters:
        if not _PARAMETER.fullmatch(parameter.strip()):
            raise InvalidArgument(
                f"The data: URI in `{param}` has a malformed parameter {parameter!r}.",
                param=param,
            )
    data = decode_base64(payload, param=param, max_bytes=max_bytes)
    return DataUri(mime=mime_field.lower() or None, data=data)


def decode_base64(payload: str, *, param: str, max_bytes: int) -> bytes:
    """Standard-alphabet, padded base64 → bytes; 413 past `max_bytes`, 400 when malformed."""
    size = decoded_size(payload)
    if size > max_bytes:
        raise PayloadTooLarge(
            f"The media in `{param}` is {size} bytes after decoding; "
            f"the limit is {max_bytes} bytes.",
            param=param,
        )
    if not payload:
        raise InvalidArgument(f"The media in `{param}` is empty.", param=param)
    try:
        encoded = payload.encode("ascii")
    except UnicodeEncodeError:
        raise _bad_base64(param, "it contains non-ASCII characters") from None
    if len(encoded) % 4:
        raise _bad_base64(param, "its length is not a multiple of 4 (missing '=' padding?)")
    try:
        # strict_mode rejects whitespace, characters outside the alphabet, and data after
        # the padding, instead of silently skipping them like the default decoder does.
        return binascii.a2b_base64(encoded, strict_mode=True)
    except binascii.Error as exc:
        raise _bad_base64(param, str(exc).rstrip(".").lower()) from None


def decoded_size(payload: str) -> int:
    """The number of bytes `payload` decodes to, computed without decoding. Over-estimates
    nothing for valid base64; for invalid input it is only a bound, and decoding then fails."""
    padding = len(payload) - len(payload.rstrip("="))
    return len(payload) // 4 * 3 + max(0, len(payload) % 4 - 1) - min(padding, 2)


def _bad_base64(param: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"The media in `{param}` is not valid base64: {why}.", param=param)
