"""The only place errors become HTTP (SPEC §7).

Domain `ApiError`s map to their status and the Google/OpenAI-shaped body
`{"error": {"code", "message", "status", "type", "param", "details"}}`; 429 and 503 add
`Retry-After`; 401 adds `WWW-Authenticate: Bearer`; 415 adds `Accept` with the media type
the endpoint reads. `OAuthError`s (the token endpoint) get OAuth's
`{"error", "error_description"}` body instead. Anything else is a bug in this server: 500
INTERNAL with the request's id (`x-request-id`, the access line's) in the message, and the
traceback logged under that id.

`param` is named in the terms of the API surface the request came through: an error
below the surface carries a Gemini `location`, and the surface's one mapper (`ParamNames`,
registered for the request with `use_param_names` once it is parsed) names it, here and
nowhere else; an error that already carries a client `param` keeps it. The error itself is
never changed.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from starlette.requests import HTTPConnection
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vertexcompat.domain.errors import (
    ApiError,
    Internal,
    InvalidArgument,
    NotFound,
    OAuthError,
    ResourceExhausted,
    TokenRateLimited,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
)
from vertexcompat.domain.locations import ParamNames
from vertexcompat.openai_api.errors import ErrorBody, ErrorDetail
from vertexcompat.web.access_log import new_request_id, request_id_of

logger = logging.getLogger(__name__)

# OpenAI SDKs look at `type`; Google clients look at `status`. Both are filled.
_OPENAI_TYPES = {
    "INVALID_ARGUMENT": "invalid_request_error",
    "UNAUTHENTICATED": "authentication_error",
    "PERMISSION_DENIED": "permission_error",
    "NOT_FOUND": "not_found_error",
    "RESOURCE_EXHAUSTED": "rate_limit_error",
    "UNAVAILABLE": "service_unavailable_error",
    "INTERNAL": "server_error",
}

_HTTP_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ALREADY_EXISTS",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
}


def use_param_names(connection: HTTPConnection, names: ParamNames) -> None:
    """Name this request's error locations with its surface's mapper."""
    connection.state.param_names = names


def param_names_of(connection: HTTPConnection) -> ParamNames | None:
    names: ParamNames | None = getattr(connection.state, "param_names", None)
    return names


def client_param(error: ApiError, names: ParamNames | None) -> str | None:
    """The `param` the client sees: the error's own, or its location as the surface names
    it (`None` before a surface is known: a Gemini path never leaks out)."""
    if error.param is not None:
        return error.param
    if error.location is None or names is None:
        return None
    return names(error.location)


def error_body(error: ApiError, names: ParamNames | None = None) -> dict[str, Any]:
    param = client_param(error, names)
    return ErrorBody(
        error=ErrorDetail(
            code=error.http_status,
            message=_encodable(error.message),
            status=error.status,
            type=_OPENAI_TYPES.get(error.status, "api_error"),
            param=None if param is None else _encodable(param),
        )
    ).model_dump(mode="json")


def _encodable(text: str) -> str:
    # Messages echo what the client sent (a model id, a URL). web/body.py refuses bodies
    # with lone surrogates, but an error body that cannot be encoded as UTF-8 would turn
    # any 4xx into a 500, so whatever slips through is shown as `\udXXX`.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def error_headers(error: ApiError) -> dict[str, str]:
    if isinstance(error, ResourceExhausted | Unavailable):
        return {"Retry-After": str(max(1, error.retry_after_s))}
    if isinstance(error, Unauthenticated):
        return {"WWW-Authenticate": "Bearer"}  # RFC 6750 §3
    if isinstance(error, UnsupportedMediaType):
        return {"Accept": error.accepted}  # RFC 9110 §15.5.16
    return {}


def error_response(error: ApiError, names: ParamNames | None = None) -> JSONResponse:
    return JSONResponse(
        error_body(error, names), status_code=error.http_status, headers=error_headers(error)
    )


def as_api_error(exc: BaseException, request_id: str | None = None) -> ApiError:
    """`exc` if it is meant for the client; otherwise a logged 500 naming the request's id
    (a new one when the request has none)."""
    if isinstance(exc, ApiError):
        return exc
    request_id = request_id or new_request_id()
    logger.error("internal error, request id %s", request_id, exc_info=exc)
    return Internal(f"Internal error encountered (request id {request_id}).")


async def _api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    return error_response(as_api_error(exc, request_id_of(request)), param_names_of(request))


async def _oauth_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """The token endpoint's failures in OAuth's shape (RFC 6749 §5.2), which is what
    google-auth parses into its `RefreshError`."""
    assert isinstance(exc, OAuthError)
    headers = {"Cache-Control": "no-store"}
    if isinstance(exc, TokenRateLimited):
        headers["Retry-After"] = str(max(1, exc.retry_after_s))
    return JSONResponse(
        {"error": exc.error, "error_description": exc.description},
        status_code=exc.http_status,
        headers=headers,
    )


async def _validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    loc = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
    return error_response(InvalidArgument(str(first.get("msg", "Invalid request.")), param=loc))


async def _http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = _HTTP_STATUS_NAMES.get(exc.status_code, "UNKNOWN")
    if exc.status_code == 404:
        error: ApiError = NotFound(f"The requested URL {request.url.path} was not found.")
    else:
        error = ApiError(str(exc.detail))
        error.http_status, error.status = exc.status_code, status
    response = error_response(error)
    response.headers.update(getattr(exc, "headers", None) or {})
    return response


class CatchAllMiddleware:
    """Turns an unexpected exception into the 500 body (instead of starlette's plain
    text), as long as the response has not started; after that it can only re-raise."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            connection = HTTPConnection(scope)
            error = as_api_error(exc, request_id_of(connection))
            await error_response(error, param_names_of(connection))(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error_handler)
    app.add_exception_handler(OAuthError, _oauth_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_middleware(CatchAllMiddleware)
