"""Shared helpers for the web tests: a TestClient over an app built from fakes."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from tests.fakes import make_container
from vertexcompat.web.app import create_app

AUTH = {"Authorization": "Bearer test-token"}
VERTEX_CHAT = "/v1/projects/my-proj/locations/us-central1/endpoints/openapi/chat/completions"
USER = {"role": "user", "content": "hi"}


def client_for(container=None) -> TestClient:
    return TestClient(create_app(container or make_container()), raise_server_exceptions=False)


def chat_body(**fields: Any) -> dict[str, Any]:
    return {"model": "google/gemini-2.5-flash", "messages": [USER], **fields}


def sse_payloads(text: str) -> list[Any]:
    """The `data:` payloads of an SSE body, `[DONE]` kept as the string."""
    assert text.endswith("\n\n")
    frames = text[:-2].split("\n\n")
    out: list[Any] = []
    for frame in frames:
        assert frame.startswith("data: "), frame
        data = frame[len("data: ") :]
        out.append(data if data == "[DONE]" else json.loads(data))
    return out
