"""`with_text_chunks`: PNG bytes → the same PNG with `tEXt` metadata chunks (keyword,
Latin-1 text) inserted right after the header chunk, where every reader finds them.
Used to carry the licence and source of the illustrations a picture is composed from
(issue 23). Pure: no decoding of the image data.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_KEYWORD = 79  # the PNG specification's bound


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def with_text_chunks(png: bytes, texts: Mapping[str, str]) -> bytes:
    """`png` with one tEXt chunk per (keyword, text). Characters outside Latin-1 in a text
    become `?`. Raises ValueError for data that is not a PNG or a keyword the format
    does not allow (1-79 printable Latin-1 characters, no leading/trailing space)."""
    if not png.startswith(_SIGNATURE) or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    header_end = 8 + 12 + struct.unpack(">I", png[8:12])[0]
    chunks = []
    for keyword, text in texts.items():
        key = keyword.encode("latin-1")
        if (not 1 <= len(key) <= _MAX_KEYWORD or keyword != keyword.strip()
                or any(b < 32 or 126 < b < 161 for b in key)):
            raise ValueError(f"invalid PNG text keyword {keyword!r}")
        chunks.append(_chunk(b"tEXt", key + b"\0" + text.encode("latin-1", "replace")))
    return png[:header_end] + b"".join(chunks) + png[header_end:]


def text_chunks(png: bytes) -> dict[str, str]:
    """The tEXt chunks of a PNG (keyword → text), for tests and tools."""
    if not png.startswith(_SIGNATURE):
        raise ValueError("not a PNG")
    found: dict[str, str] = {}
    at = 8
    while at + 8 <= len(png):
        length = struct.unpack(">I", png[at:at + 4])[0]
        kind = png[at + 4:at + 8]
        data = png[at + 8:at + 8 + length]
        if kind == b"tEXt" and b"\0" in data:
            key, _, text = data.partition(b"\0")
            found[key.decode("latin-1")] = text.decode("latin-1")
        if kind == b"IEND":
            break
        at += 12 + length
    return found
