"""The access log: one JSON line per HTTP request on the `vertexcompat.access` logger, and
the per-request `AccessRecord` its fields are gathered in.

The record lives on the request (`request.state.access`, put there by `tracking.py` before
anything else runs) and is filled by the layers that know each field: the tracking
middleware (request id, method, route template, status, duration), authentication
(`deps.py`: the project and the service account's email, or why it failed) and the
generation (`services/metering.py` reports to it as the request's observer: model,
tokens, time to first token, finish reason). No field ever holds a token, a key or any
text of the prompt or answer.

The request id is the client's `x-request-id` when it is sane (1-128 visible ASCII
characters), else a new random one; the response carries it back, and a 500's message
names it (`errors.py`), so a user's error, the access line and the traceback agree.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection

from vertexcompat.domain.principal import Principal
from vertexcompat.services.metering import GenerationReport

ACCESS_LOGGER = "vertexcompat.access"
REQUEST_ID_HEADER = "x-request-id"

_SANE_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")
_SERVICE_ACCOUNT = "serviceAccount:"


def new_request_id() -> str:
    return secrets.token_hex(16)


def request_id_for(sent: str | None) -> str:
    """The client's request id if it is sane, else a new one."""
    if sent is not None and _SANE_REQUEST_ID.fullmatch(sent):
        return sent
    return new_request_id()


@dataclass(slots=True)
class AccessRecord:
    """What the access line of one request says (None: not known, left out)."""

    request_id: str
    method: str
    route: str | None = None
    status: int | None = None
    project: str | None = None
    principal: str | None = None
    # Why authentication refused the request (`missing`, `invalid`, `expired`, `revoked`,
    # `forbidden_project`).
    auth_failure: str | None = None
    model: str | None = None
    model_name: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    ttft_ms: float | None = None
    duration_ms: float | None = None
    finish_reason: str | None = None
    # Whether `project` is the authenticated principal's (else it is the URL's).
    authenticated: bool = False

    def authenticated_as(self, principal: Principal) -> None:
        self.project = principal.project
        self.authenticated = True
        if principal.subject.startswith(_SERVICE_ACCOUNT):
            self.principal = principal.subject.removeprefix(_SERVICE_ACCOUNT)

    # services.metering.GenerationObserver
    def generation_finished(self, report: GenerationReport) -> None:
        self.model = report.requested_model
        self.model_name = report.model_name
        self.finish_reason = report.finished_reason
        if report.ttft_s is not None:
            self.ttft_ms = round(report.ttft_s * 1000, 1)
        if report.usage is not None:
            self.prompt_tokens = report.usage.prompt_tokens
            self.completion_tokens = report.usage.completion_tokens
            self.cached_tokens = report.usage.cached_tokens

    def fields(self) -> dict[str, Any]:
        return {
            name: value for name in _FIELDS
            if (value := getattr(self, name)) is not None
        }

    def line(self) -> str:
        """The JSON access line (one line: JSON escapes every control character)."""
        return json.dumps(self.fields(), ensure_ascii=False, separators=(",", ":"))


# The line's fields, in order.
_FIELDS = (
    "request_id", "method", "route", "status", "project", "principal", "auth_failure",
    "model", "model_name", "prompt_tokens", "completion_tokens", "cached_tokens", "ttft_ms",
    "duration_ms", "finish_reason",
)


def access_record(connection: HTTPConnection) -> AccessRecord | None:
    """The request's record (None outside the tracking middleware, e.g. in unit tests of a
    bare router)."""
    record: AccessRecord | None = getattr(connection.state, "access", None)
    return record


def request_id_of(connection: HTTPConnection) -> str | None:
    record = access_record(connection)
    return record.request_id if record is not None else None


def configure_access_log(stream: Any = None) -> logging.Logger:
    """The access logger writing bare JSON lines to stderr (not through the root logger's
    format), at INFO whatever the server's log level."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(getattr(h, "_vertexcompat_access", False) for h in logger.handlers):
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._vertexcompat_access = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger
