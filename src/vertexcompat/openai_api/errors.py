"""The error body every non-2xx response (and a mid-stream error frame) carries (SPEC §7).

Google wraps this object in a JSON array, which breaks the OpenAI SDKs; we do not."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    code: int
    message: str
    status: str
    type: str
    param: str | None = None
    details: list[dict[str, Any]] = Field(default_factory=list)


class ErrorBody(BaseModel):
    error: ErrorDetail
