"""`create_app(container)`: a FastAPI app over one container, with no module globals, so
several apps can live in one process (the tests build one per case)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from vertexcompat import __version__
from vertexcompat.web.deps import AppContainer
from vertexcompat.web.errors import install_error_handlers
from vertexcompat.web.routes import (
    cached_contents,
    chat,
    debug,
    generate_content,
    health,
    images,
    models,
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
    for build_router in (
        chat.build_router, images.build_router, models.build_router, health.build_router,
        token.build_router, debug.build_router, cached_contents.build_router,
        generate_content.build_router,
    ):
        app.include_router(build_router())
    return app
