"""Liveness (`/healthz`, always 200 while the process serves) and readiness (`/readyz`,
200 only when every backend can take requests, else 503 with each backend's state)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse

from vertexcompat.web.deps import get_container


def build_router() -> APIRouter:
    router = APIRouter()

    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        container = get_container(request)
        backends = container.readiness()
        ready = all(
            state == "ready" for name, state in backends.items() if name not in container.ungated
        )
        body = {
            "status": "ready" if ready else "unavailable",
            "backends": backends,
            "load": container.load(),
        }
        return JSONResponse(
            body,
            status_code=200 if ready else 503,
        )

    router.add_api_route("/healthz", healthz, methods=["GET"])
    router.add_api_route("/readyz", readyz, methods=["GET"])
    return router
