"""The playground router (web/routes/playground.py): the page and its two files, served
from the package with a strict CSP, public, and nothing else under /static/."""

from __future__ import annotations

import re

import anyio
import pytest

from tests.fakes import make_container
from tests.unit.web.helpers import client_for
from vertexcompat.web.app import create_app
from vertexcompat.web.routes.playground import CONTENT_SECURITY_POLICY, load_static_files


def _csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for directive in header.split(";"):
        name, *values = directive.split()
        directives[name] = values
    return directives


def _assert_hardened(headers) -> None:
    assert headers["x-content-type-options"] == "nosniff"
    csp = _csp_directives(headers["content-security-policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert csp["style-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]


def test_the_page_is_served_at_the_root_without_credentials():
    with client_for() as client:
        r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    _assert_hardened(r.headers)
    assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    page = r.text
    assert page.startswith("<!doctype html>")
    assert 'src="static/playground.js"' in page and 'href="static/playground.css"' in page
    assert 'aria-live="polite"' in page


@pytest.mark.parametrize(("path", "content_type"), [
    ("/static/playground.js", "text/javascript; charset=utf-8"),
    ("/static/playground.css", "text/css; charset=utf-8"),
])
def test_the_script_and_stylesheet_have_their_content_types(path, content_type):
    with client_for() as client:
        r = client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"] == content_type
    _assert_hardened(r.headers)
    assert r.content == load_static_files()[path.rsplit("/", 1)[1]][0]


def test_the_page_has_no_inline_script_or_style_and_loads_nothing_from_elsewhere():
    files = load_static_files()
    page = files["index.html"][0].decode()
    # Every <script> has a src and no body; no style attributes, no <style>, no handlers.
    for attrs, body in re.findall(r"<script([^>]*)>(.*?)</script>", page, flags=re.S):
        assert "src=" in attrs and not body.strip()
    assert "<style" not in page and " style=" not in page
    assert not re.search(r"\son[a-z]+=", page)
    for name, (content, _) in files.items():
        text = content.decode()
        assert "http://" not in text and "https://" not in text, name  # no CDN, no fonts
        assert "@import" not in text and "url(" not in text, name


def test_the_token_is_never_stored_by_the_page():
    script = load_static_files()["playground.js"][0].decode()
    for storage in ("localStorage", "sessionStorage", "document.cookie", "indexedDB"):
        assert storage not in script
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script


@pytest.mark.parametrize("path", [
    "/static/nope.js",
    "/static/",
    "/static/index.html",  # the page lives at / only
    "/static/sub/playground.js",
])
def test_unknown_static_paths_are_404(path):
    with client_for() as client:
        r = client.get(path)
    assert r.status_code == 404
    assert r.json()["error"]["status"] == "NOT_FOUND"


@pytest.mark.parametrize("path", [
    "/static/..%2Fapp.py",
    "/static/%2e%2e/app.py",
    "/static/..%2F..%2Fconfig.py",
    "/static/..%5Capp.py",
    "/static/%2Fetc%2Fpasswd",
    "/static/..%2Froutes%2Fplayground.py",
])
def test_path_traversal_is_refused(path):
    with client_for() as client:
        r = client.get(path)
    assert r.status_code == 404
    assert "import" not in r.text and "root:" not in r.text


def _raw_get(path: str) -> tuple[int, bytes]:
    """GET `path` exactly as written (an HTTP client normalises `..` away; curl
    --path-as-is or a raw socket does not), straight into the ASGI app."""
    app = create_app(make_container())
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [], "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }
    anyio.run(app, scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


@pytest.mark.parametrize("path", [
    "/static/../app.py",
    "/static/../../config.py",
    "/static/./playground.js/../../app.py",
    "/static/../routes/playground.py",
])
def test_a_raw_dot_dot_path_never_reaches_a_file(path):
    status, body = _raw_get(path)
    assert status == 404
    assert b"create_app" not in body and b"import" not in body


def test_only_get_is_answered():
    with client_for() as client:
        assert client.post("/").status_code == 405
        assert client.delete("/static/playground.js").status_code == 405
