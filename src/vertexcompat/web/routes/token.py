"""`POST /token`: the OAuth 2.0 token endpoint a key file's `token_uri` names. Takes the
form-encoded JWT-bearer grant google-auth sends; failures are `OAuthError`s, which
`web/errors.py` renders in OAuth's shape."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from vertexcompat.domain.errors import InvalidGrant, NotFound
from vertexcompat.web.deps import get_container

_MAX_FORM_BYTES = 64 * 1024


def build_router() -> APIRouter:
    router = APIRouter()

    async def token(request: Request) -> JSONResponse:
        grant = get_container(request).token_grant
        if grant is None:
            raise NotFound(f"The requested URL {request.url.path} was not found.")
        body = await request.body()
        if len(body) > _MAX_FORM_BYTES:
            raise InvalidGrant("The request body is too large.")
        form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        # RSA verification and a durable write: off the event loop.
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
