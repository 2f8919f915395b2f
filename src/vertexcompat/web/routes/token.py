"""`POST /token`: the OAuth 2.0 token endpoint a key file's `token_uri` names. Takes the
form-encoded JWT-bearer grant google-auth sends; failures are `OAuthError`s, which
`web/errors.py` renders in OAuth's shape."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from vertexcompat.domain.errors import (
    InvalidArgument,
    NotFound,
    OAuthError,
    OAuthPayloadTooLarge,
    PayloadTooLarge,
)
from vertexcompat.web.body import read_body
from vertexcompat.web.deps import get_container

# google-auth's grant is ~1 KB; the assertion alone is capped at 16 KB (auth/jwt_bearer.py).
_MAX_FORM_BYTES = 64 * 1024


async def _read_form(request: Request) -> dict[str, list[str]]:
    # read_body stops at the limit (Content-Length up front, then while chunks stream
    # in), so an oversized body is never held in memory. Its errors are re-raised in
    # OAuth's shape: this endpoint's clients read `error`/`error_description`.
    try:
        body = await read_body(request, _MAX_FORM_BYTES)
    except PayloadTooLarge as exc:
        raise OAuthPayloadTooLarge(exc.message) from None
    except InvalidArgument as exc:  # an unreadable Content-Length
        raise OAuthError(exc.message) from None
    return parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)


def build_router() -> APIRouter:
    router = APIRouter()

    async def token(request: Request) -> JSONResponse:
        grant = get_container(request).token_grant
        if grant is None:
            raise NotFound(f"The requested URL {request.url.path} was not found.")
        # The cheapest rejection first: a flooding address costs no read and no RSA.
        grant.admit(request.client.host if request.client else None)
        form = await _read_form(request)
        # Parsing, the per-key limit, RSA verification and a durable write: off the
        # event loop.
        issued = await run_in_threadpool(
            grant.exchange,
            (form.get("grant_type") or [None])[0],
            (form.get("assertion") or [None])[0],
        )
        return JSONResponse(
            {
                "access_token": issued.access_token,
                "expires_in": issued.expires_in,
                "token_type": issued.token_type,
            },
            headers={"Cache-Control": "no-store"},
        )

    router.add_api_route("/token", token, methods=["POST"])
    return router
