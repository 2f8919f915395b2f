"""The URL fetcher: allowed fetches over loopback (via the allowlist), and every refusal the
SSRF policy promises — made before any connection is attempted."""

import asyncio
import socket
import time

import httpx
import pytest

from vertexcompat.domain.errors import InvalidArgument, PayloadTooLarge
from vertexcompat.media.fetcher import fetch
from vertexcompat.media.limits import MediaLimits

from . import samples
from .servers import serve, self_signed

PARAM = "messages[2].content[1].image_url.url"
PNG = samples.image("PNG")
LOOPBACK_ALLOWED = MediaLimits(allow_http=True, allowlist=("127.0.0.1",), fetch_timeout_s=5)


def run(url, limits, **kwargs):
    return asyncio.run(fetch(url, param=PARAM, limits=limits, **kwargs))


@pytest.fixture
def server():
    with serve(PNG) as s:
        yield s


@pytest.fixture
def no_connections(monkeypatch):
    """Any attempt to send a request fails the test: refusals must come before connecting."""
    async def must_not_send(self, request, **kwargs):
        raise AssertionError(f"a connection was attempted to {request.url}")

    monkeypatch.setattr(httpx.AsyncClient, "send", must_not_send)


def refused(url, limits=MediaLimits(fetch_timeout_s=5), **kwargs) -> InvalidArgument:
    started = time.monotonic()
    with pytest.raises(InvalidArgument) as err:
        run(url, limits, **kwargs)
    # Fast, and not by timing out: 10.0.0.1 and 169.254.169.254 have no route here.
    assert time.monotonic() - started < 1.0
    assert "timed out" not in err.value.message
    assert err.value.param == PARAM
    return err.value


def test_allowlisted_loopback_server_is_fetched(server):
    fetched = run(f"{server.base}/image.png", LOOPBACK_ALLOWED)
    assert fetched.data == PNG
    assert fetched.content_type == "image/png"
    assert fetched.final_url == f"{server.base}/image.png"
    assert server.state.hosts == [f"127.0.0.1:{server.port}"]


def test_allowlisted_network_also_permits_the_address(server):
    limits = MediaLimits(allow_http=True, allowlist=("127.0.0.0/8",))
    assert run(f"{server.base}/image.png", limits).data == PNG


def test_connection_goes_to_the_checked_address_without_resolving_the_name_again(
        server, monkeypatch):
    # `media.example` exists only in this fake resolver: if anything but the fetcher's own
    # single lookup resolved it (a DNS-rebinding window), the fetch would fail.
    lookups = []
    real = asyncio.BaseEventLoop.getaddrinfo

    async def resolver(self, host, port, *args, **kwargs):
        if host == "media.example":
            lookups.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return await real(self, host, port, *args, **kwargs)

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", resolver)
    limits = MediaLimits(allow_http=True, allowlist=("media.example",))
    fetched = run(f"http://media.example:{server.port}/image.png", limits)
    assert fetched.data == PNG
    assert lookups == ["media.example"]
    assert server.state.hosts == [f"media.example:{server.port}"]


def test_name_resolving_to_a_blocked_address_is_refused_even_among_public_ones(
        monkeypatch, no_connections):
    async def resolver(self, host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port))]

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", resolver)
    err = refused("https://media.example/a.png")
    assert "it resolves to 169.254.169.254" in err.message


def test_http_is_refused_unless_allowed(server, no_connections):
    limits = MediaLimits(allowlist=("127.0.0.1",))
    err = refused(f"{server.base}/image.png", limits)
    assert "only https:// URLs are fetched" in err.message


@pytest.mark.parametrize(("url", "why"), [
    ("https://127.0.0.1/a.png", "loopback"),
    ("http://127.0.0.1:8080/a.png", "loopback"),
    ("https://10.0.0.1/a.png", "private"),
    ("https://172.16.5.4/a.png", "private"),
    ("https://192.168.1.1/a.png", "private"),
    ("https://100.64.0.1/a.png", "carrier-grade NAT"),
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://[::1]/a.png", "loopback"),
    ("https://[::ffff:127.0.0.1]/a.png", "IPv4-mapped form of 127.0.0.1"),
    ("https://[::ffff:169.254.169.254]/a.png", "IPv4-mapped form of 169.254.169.254"),
    ("https://[fd00::1]/a.png", "unique local"),
    ("https://[fe80::1]/a.png", "link-local"),
    ("https://224.0.0.1/a.png", "multicast"),
    ("https://0.0.0.0/a.png", "unspecified"),
    ("https://2130706433/a.png", "loopback"),  # 127.0.0.1 written as one integer
])
def test_blocked_addresses_are_refused_before_connecting(url, why, no_connections):
    err = refused(url, MediaLimits(allow_http=True, fetch_timeout_s=5))
    assert "blocked address" in err.message
    assert why in err.message


def test_hostname_resolving_to_loopback_is_refused(no_connections):
    err = refused("https://localhost/a.png")
    assert "localhost: it resolves to 127.0.0.1" in err.message
    assert "blocked address (loopback)" in err.message


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.png",
                                 "gopher://example.com/", "gs://bucket/a.png",
                                 "data:image/png;base64,QUJD", "javascript:alert(1)"])
def test_non_http_schemes_are_refused(url, no_connections):
    assert "only https:// URLs are fetched" in refused(url).message


@pytest.mark.parametrize("url", ["https://xn--/a.png", "https://8.8.8.8:99999/a.png",
                                 "https://8.8.8.8:-1/a.png", "https://[::1/a.png",
                                 "https://a/\r\nHost: evil", "https:///a.png"])
def test_malformed_urls_are_a_400(url, no_connections):
    refused(url)


def test_credentials_in_the_url_are_refused(no_connections):
    assert "credentials" in refused("https://user:pw@example.com/a.png").message


def test_redirect_into_private_address_is_refused(server):
    err = refused(f"{server.base}/redirect?to=http://10.0.0.1/a.png", LOOPBACK_ALLOWED)
    assert "10.0.0.1" in err.message and "blocked address (private)" in err.message


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/",
                                    "http://[::1]:{port}/image.png",
                                    "http://[::ffff:10.0.0.1]/image.png"])
def test_redirect_into_a_blocked_address_is_refused(server, target):
    url = target.format(port=server.port)
    err = refused(f"{server.base}/redirect?to={url}", LOOPBACK_ALLOWED)
    assert "blocked address" in err.message
    assert server.state.paths == [f"/redirect?to={url}"]


def test_allowlisted_address_reached_by_name_is_allowed(server):
    # The allowlist names the address, so any name resolving to it may be fetched.
    url = f"http://localhost:{server.port}/image.png"
    assert run(f"{server.base}/redirect?to={url}", LOOPBACK_ALLOWED).final_url == url
    assert server.state.hosts[-1] == f"localhost:{server.port}"


def test_redirect_to_file_scheme_is_refused(server):
    err = refused(f"{server.base}/redirect?to=file:///etc/passwd", LOOPBACK_ALLOWED)
    assert "only https:// and http:// URLs are fetched" in err.message


@pytest.mark.parametrize("target", ["data:image/png;base64,iVBORw0KGgo=", "data:,hello",
                                    "javascript:alert(1)", "mailto:a@example.com",
                                    "http://xn--a.example/a.png", "http://xn--/a.png"])
def test_redirect_to_a_url_httpx_cannot_parse_is_a_400_naming_the_part(server, target):
    # httpx raises InvalidURL (or idna's UnicodeError) while it prepares the redirect,
    # before our own redirect check sees the Location: this was a 500.
    err = refused(f"{server.base}/redirect?to={target}", LOOPBACK_ALLOWED)
    assert "redirected to a URL that cannot be fetched" in err.message
    assert server.state.paths == [f"/redirect?to={target}"]


def test_five_redirects_are_followed(server):
    fetched = run(f"{server.base}/chain/5", LOOPBACK_ALLOWED)
    assert fetched.data == PNG
    assert fetched.final_url == f"{server.base}/chain/0"


def test_more_than_five_redirects_are_refused(server):
    err = refused(f"{server.base}/chain/6", LOOPBACK_ALLOWED)
    assert "more than 5 redirects" in err.message
    assert len(server.state.paths) == 6


def test_error_status_is_a_400(server):
    assert "returned HTTP 404" in refused(f"{server.base}/missing", LOOPBACK_ALLOWED).message


def test_declared_oversize_body_is_a_413_without_reading_it(server):
    with pytest.raises(PayloadTooLarge) as err:
        run(f"{server.base}/big-declared", LOOPBACK_ALLOWED, max_bytes=1000)
    assert err.value.http_status == 413 and err.value.param == PARAM


def test_streamed_oversize_body_is_a_413_once_past_the_cap(server):
    with pytest.raises(PayloadTooLarge):
        run(f"{server.base}/big-streamed", LOOPBACK_ALLOWED, max_bytes=10_000)


def test_server_that_stalls_times_out_within_the_limit(server):
    limits = MediaLimits(allow_http=True, allowlist=("127.0.0.1",), fetch_timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(InvalidArgument, match="timed out after 0.5 seconds") as err:
        run(f"{server.base}/stall", limits)
    assert time.monotonic() - started < 1.5
    assert err.value.param == PARAM


def test_body_that_trickles_forever_is_cut_off_by_the_total_deadline(server):
    # Every read succeeds quickly, so only a deadline on the whole fetch can end this.
    limits = MediaLimits(allow_http=True, allowlist=("127.0.0.1",), fetch_timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(InvalidArgument, match="timed out"):
        run(f"{server.base}/drip", limits)
    assert time.monotonic() - started < 1.5


def test_https_connects_to_the_checked_address_but_verifies_the_certificate_by_name():
    server_tls, client_tls = self_signed("localhost")
    with serve(PNG, tls=server_tls) as server:
        limits = MediaLimits(allowlist=("localhost",), fetch_timeout_s=5)
        fetched = run(f"https://localhost:{server.port}/image.png", limits,
                      ssl_context=client_tls)
        assert fetched.data == PNG
        assert server.state.hosts == [f"localhost:{server.port}"]


def test_https_certificate_not_valid_for_the_address_is_refused():
    server_tls, client_tls = self_signed("localhost")
    with serve(PNG, tls=server_tls) as server:
        limits = MediaLimits(allowlist=("127.0.0.1",), fetch_timeout_s=5)
        err = refused(f"https://127.0.0.1:{server.port}/image.png", limits,
                      ssl_context=client_tls)
        assert "cannot connect" in err.message and "certificate" in err.message.lower()
