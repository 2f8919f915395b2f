"""`GET /metrics`: the operator's metrics in Prometheus' text format (`web/metrics.py`),
without authentication, like `/healthz` (bind the server to a private address, or keep the
path from the public side of a proxy). With metrics off (`metrics_enabled = false`) the
path does not exist (404)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from vertexcompat.domain.errors import NotFound
from vertexcompat.web.deps import get_container


def build_router() -> APIRouter:
    router = APIRouter()

    async def metrics(request: Request) -> Response:
        metrics = get_container(request).metrics
        if metrics is None:
            raise NotFound(f"The requested URL {request.url.path} was not found.")
        return Response(metrics.exposition(), media_type=metrics.content_type)

    router.add_route("/metrics", metrics, methods=["GET"])
    return router
