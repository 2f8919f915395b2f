"""`create_app(container)`: a FastAPI app over one container, with no module globals, so
several apps can live in one process (the tests build one per case)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from vertexcompat import __version__
from vertexcompat.web.deps import AppContainer
from vertexcompat.web.errors import install_error_handlers
from vertexcompat.web.routes import metrics as metrics_routes
from vertexcompat.web.tracking import RequestTracking, RouteTemplates
from vertexcompat.web.routes import (
    cached_contents,
    chat,
    debug,
    generate_content,
    health,
    images,
    models,
    playground,
    token,
)


def create_app(container: AppContainer) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await container.start()
        try:
            yield
        finally:
            await container.close()

    app = FastAPI(
        title="vertexcompat",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.container = container
    install_error_handlers(app)
    templates = RouteTemplates()  # route templates for the access log and metrics
    for build_router in (
        chat.build_router, images.build_router, models.build_router, health.build_router,
        token.build_router, debug.build_router, cached_contents.build_router,
        generate_content.build_router, playground.build_router,
    ):
        router = build_router()
        app.include_router(router)
        templates.add(router)
    router = metrics_routes.build_router()
    app.include_router(router)
    templates.add(router)
    # Outermost: every request gets its id and access line, errors' responses included.
    app.add_middleware(
        RequestTracking, access_log=container.settings.access_log, metrics=container.metrics,
        templates=templates,
    )
    return app
