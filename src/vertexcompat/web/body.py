"""Reading the request body: a size limit enforced up front (Content-Length) and while
the body streams in (chunked uploads), then JSON that must be an object."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from vertexcompat.domain.errors import InvalidArgument, PayloadTooLarge


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Request payload size exceeds the limit: {limit} bytes.")


async def read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            declared_size = int(declared)
        except ValueError:
            raise InvalidArgument("Invalid Content-Length header.") from None
        if declared_size > max_bytes:
            raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"Invalid JSON payload received. {exc}.") from None
    if not isinstance(body, dict):
        raise InvalidArgument(
            f"Invalid JSON payload received: expected an object, got {type(body).__name__}."
        )
    return body
