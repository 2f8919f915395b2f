"""The playground (issue 19): `GET /` is one hand-written page that talks to this server's
own chat API from the browser, and `GET /static/{name}` its script and stylesheet.

The files ship in the package (`web/static/`, package data) and are read once, when the
router is built; only those files are served, looked up by exact name, so any other path
under `/static/` (`..` included, however it is spelled) is a 404. The page is public: it
holds no data, and the API calls it makes carry the access token the user types (kept in
page memory only). Every response carries a strict Content-Security-Policy: scripts,
styles and fetches from this origin only, no inline script or style, images and audio
also from `data:`/`blob:` URLs (attachments' previews, generated images).
"""

from __future__ import annotations

from importlib import resources
from pathlib import PurePosixPath

from fastapi import APIRouter
from starlette.responses import Response

from vertexcompat.domain.errors import NotFound

STATIC_PACKAGE = "vertexcompat.web"
STATIC_DIR = "static"
INDEX = "index.html"
STATIC_PREFIX = "/static/"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' data: blob:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
))

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # Small files that change with the package: revalidate rather than serve a stale page.
    "Cache-Control": "no-cache",
}


def load_static_files() -> dict[str, tuple[bytes, str]]:
    """File name → (bytes, content type) for every servable file in `web/static/`."""
    root = resources.files(STATIC_PACKAGE).joinpath(STATIC_DIR)
    files: dict[str, tuple[bytes, str]] = {}
    for entry in root.iterdir():
        content_type = CONTENT_TYPES.get(PurePosixPath(entry.name).suffix)
        if content_type is not None and entry.is_file():
            files[entry.name] = (entry.read_bytes(), content_type)
    if INDEX not in files:
        raise RuntimeError(f"the playground's {STATIC_DIR}/{INDEX} is missing from the package")
    return files


def build_router() -> APIRouter:
    router = APIRouter()
    files = load_static_files()

    def serve(name: str) -> Response:
        body, content_type = files[name]
        return Response(body, media_type=content_type, headers=SECURITY_HEADERS)

    async def index() -> Response:
        return serve(INDEX)

    async def static(name: str) -> Response:
        # An exact name from the package's own listing: no path is ever built from `name`.
        if name == INDEX or name not in files:
            raise NotFound(f"The requested URL {STATIC_PREFIX}{name} was not found.")
        return serve(name)

    router.add_api_route("/", index, methods=["GET"], include_in_schema=False)
    router.add_api_route(
        STATIC_PREFIX + "{name:path}", static, methods=["GET"], include_in_schema=False
    )
    return router
