"""The one way media is fetched from a URL (`image_url.url` = `https://…`), safe against
server-side request forgery.

How a fetch goes, hop by hop:

1. Only `https://` is accepted (`http://` too when `MediaLimits.allow_http`); `file://`,
   `ftp://`, `gs://`, `data:` and anything else are refused, on the first hop and on every
   redirect. URLs with credentials (`user:pass@`) are refused: they would be forwarded.
2. We resolve the host ourselves and check *every* address it resolves to against the policy
   in `addresses.py` (loopback, private, CGNAT, link-local incl. 169.254.169.254, multicast,
   reserved, IPv6 ULA/link-local, and IPv4-mapped/compatible/NAT64/6to4 forms of those). One
   blocked address refuses the host: a name that answers with both a public and a private
   address is either misconfigured or an attack. The allowlist (a host name, an address, or a
   network) lifts the block for what it names.
3. We connect to the address we checked, never to the name. The request URL carries the IP
   (`https://93.184.216.34/img.png`); the `Host` header carries the original host and port;
   and for TLS, httpcore's `sni_hostname` request extension makes the handshake send the
   original name as SNI *and* verify the certificate against it (Python's `ssl` checks the
   certificate against `server_hostname`, which httpcore sets from `sni_hostname`). So there
   is no second DNS lookup that a rebinding DNS server could answer differently (the classic
   time-of-check/time-of-use hole of "resolve, check, then hand the URL to an HTTP client").
   Each hop uses a fresh client: a pooled TLS connection made for one name must never carry a
   request for another name that happens to share its IP. Environment proxies are ignored
   (`trust_env=False`): a proxy would resolve the name again, beyond our check.
4. Redirects (301, 302, 303, 307, 308) are followed by hand, at most `max_redirects`, each
   new URL going through steps 1–3 again.
5. The body is streamed and we stop reading one chunk past the byte cap (→ 413); a declared
   `Content-Length` over the cap is refused before reading. `Accept-Encoding: identity`
   keeps the bytes we count the bytes we get (no gzip bomb to inflate).
6. All of it — resolution, every hop, the body — runs under one deadline,
   `fetch_timeout_s` (→ 400 naming the timeout), so a server that stalls cannot hold a request.

Every failure is an `InvalidArgument` (or `PayloadTooLarge`) naming the caller's `param`;
httpx's exceptions (`HTTPError`s, and `InvalidURL` and idna's `UnicodeError`s, which httpx
raises on a redirect it cannot parse) are mapped here, once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from typing import assert_never

import httpx

from vertexcompat.domain.errors import InvalidArgument, PayloadTooLarge
from vertexcompat.media.addresses import blocked_reason
from vertexcompat.media.limits import IPAddress, MediaLimits

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_USER_AGENT = "vertexcompat-media-fetcher/1"


@dataclass(frozen=True, slots=True)
class FetchedMedia:
    data: bytes = field(repr=False)
    content_type: str | None  # as the server declared it, parameters stripped; advisory only
    final_url: str  # after redirects


@dataclass(frozen=True, slots=True)
class _Redirect:
    location: httpx.URL


async def fetch(
    url: str,
    *,
    param: str,
    limits: MediaLimits,
    max_bytes: int | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> FetchedMedia:
    """GET `url` under the policy above. `max_bytes` defaults to `limits.max_image_bytes`
    (only `image_url` takes URLs). `ssl_context` lets the composition root build the
    certificate store once; by default httpx's (certifi's) is used."""
    cap = limits.max_image_bytes if max_bytes is None else max_bytes
    shown = _shorten(url)
    try:
        async with asyncio.timeout(limits.fetch_timeout_s):
            return await _follow(url, param=param, limits=limits, cap=cap,
                                 ssl_context=ssl_context)
    except (TimeoutError, httpx.TimeoutException):
        raise InvalidArgument(
            f"Fetching {shown} for `{param}` timed out after {limits.fetch_timeout_s:g} seconds.",
            param=param,
        ) from None


async def _follow(url: str, *, param: str, limits: MediaLimits, cap: int,
                  ssl_context: ssl.SSLContext | None) -> FetchedMedia:
    current = _checked_url(url, param=param, limits=limits)
    for _ in range(limits.max_redirects + 1):
        addresses = await _resolve_allowed(current, param=param, limits=limits)
        outcome = await _get(current, addresses, param=param, limits=limits, cap=cap,
                             ssl_context=ssl_context)
        match outcome:
            case FetchedMedia():
                return outcome
            case _Redirect(location=location):
                current = _checked_url(str(location), param=param, limits=limits)
            case _:
                assert_never(outcome)
    raise InvalidArgument(
        f"Fetching {_shorten(url)} for `{param}` took more than {limits.max_redirects} redirects.",
        param=param,
    )


def _checked_url(url: str, *, param: str, limits: MediaLimits) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise InvalidArgument(f"`{param}` is not a valid URL: {exc}.", param=param) from None
    allowed = ("https", "http") if limits.allow_http else ("https",)
    if parsed.scheme not in allowed:
        hint = (" (http:// is disabled on this server)"
                if parsed.scheme == "http" else "")
        raise InvalidArgument(
            f"`{param}`: cannot fetch {_shorten(url)}: only "
            f"{' and '.join(s + '://' for s in allowed)} URLs are fetched{hint}.",
            param=param,
        )
    try:
        host = parsed.host  # decodes IDNA, which can fail on a malformed A-label (`xn--`)
    except UnicodeError as exc:
        raise InvalidArgument(f"`{param}` is not a valid URL: bad host name ({exc}).",
                              param=param) from None
    if not host:
        raise InvalidArgument(f"`{param}`: the URL {_shorten(url)} has no host.", param=param)
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise InvalidArgument(f"`{param}` is not a valid URL: port {parsed.port} is out of range.",
                              param=param)
    if parsed.userinfo:
        raise InvalidArgument(
            f"`{param}`: URLs with credentials (user:password@) are not fetched.", param=param)
    return parsed


async def _resolve_allowed(url: httpx.URL, *, param: str, limits: MediaLimits) -> list[IPAddress]:
    """The addresses `url`'s host resolves to, every one of them allowed; else 400."""
    host = url.host
    port = url.port or (443 if url.scheme == "https" else 80)
    literal = _ip_literal(host)
    named = literal is None
    if literal is not None:
        addresses = [literal]
    else:
        addresses = await _resolve(url.raw_host.decode("ascii"), port, param=param)
    if named and limits.allows_host(host):
        return addresses
    for address in addresses:
        if limits.allows_address(address):
            continue
        why = blocked_reason(address)
        if why is not None:
            subject = f"it resolves to {address}, which" if named else "it"
            raise InvalidArgument(
                f"`{param}`: refusing to fetch from {host}: {subject} is a blocked address "
                f"({why}). Media URLs must point at public hosts.",
                param=param,
            )
    return addresses


async def _resolve(host: str, port: int, *, param: str) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                       proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidArgument(f"`{param}`: cannot resolve host {host}: {exc}.",
                              param=param) from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise InvalidArgument(f"`{param}`: host {host} has no addresses.", param=param)
    return addresses


async def _get(url: httpx.URL, addresses: list[IPAddress], *, param: str, limits: MediaLimits,
               cap: int, ssl_context: ssl.SSLContext | None) -> FetchedMedia | _Redirect:
    """One hop: try the checked addresses in order until one connects."""
    failure: httpx.ConnectError | None = None
    for address in addresses:
        transport = httpx.AsyncHTTPTransport(verify=ssl_context or True, trust_env=False,
                                             retries=0)
        async with httpx.AsyncClient(transport=transport, trust_env=False,
                                     follow_redirects=False,
                                     timeout=limits.fetch_timeout_s) as client:
            request = _pinned_request(client, url, address)
            try:
                response = await client.send(request, stream=True)
                try:
                    return await _read(response, url, param=param, cap=cap)
                finally:
                    await response.aclose()
            except httpx.ConnectError as exc:
                failure = exc
            except httpx.TimeoutException:
                raise  # `fetch` reports it as a timeout
            except (httpx.InvalidURL, UnicodeError) as exc:
                # Not `HTTPError`s. httpx builds `response.next_request` for every redirect,
                # even with follow_redirects=False, and raises while doing so on a Location
                # it cannot make a request of: `data:…` or `javascript:…` ("path must be
                # empty or begin with '/'"), or a host that is not valid IDNA (idna's errors
                # are UnicodeErrors). The server chose that URL, so it is the client's 400.
                # httpx's remaining classes (StreamError, CookieConflict) mean misuse by
                # this module: a bug, left to be a 500.
                raise InvalidArgument(
                    f"`{param}`: {_shorten(str(url))} redirected to a URL that cannot be "
                    f"fetched: {exc}.", param=param,
                ) from None
            except httpx.HTTPError as exc:
                detail = str(exc) or type(exc).__name__
                raise InvalidArgument(
                    f"`{param}`: fetching {_shorten(str(url))} failed: {detail}.", param=param,
                ) from None
    raise InvalidArgument(
        f"`{param}`: cannot connect to {url.host}: {failure or 'no address'}.", param=param)


def _pinned_request(client: httpx.AsyncClient, url: httpx.URL, address: IPAddress) -> httpx.Request:
    # The URL names the address we checked; Host and SNI name the host the client asked for.
    headers = {
        "Host": url.netloc.decode("ascii"),
        "User-Agent": _USER_AGENT,
        "Accept": "image/*, audio/*;q=0.9, */*;q=0.5",
        "Accept-Encoding": "identity",
    }
    extensions: dict[str, str] = {}
    if url.scheme == "https" and _ip_literal(url.host) is None:
        extensions["sni_hostname"] = url.raw_host.decode("ascii")
    return client.build_request("GET", url.copy_with(host=str(address)), headers=headers,
                                extensions=extensions)


async def _read(response: httpx.Response, url: httpx.URL, *, param: str,
                cap: int) -> FetchedMedia | _Redirect:
    shown = _shorten(str(url))
    if response.status_code in _REDIRECT_STATUSES:
        location = response.headers.get("location")
        if not location:
            raise InvalidArgument(
                f"`{param}`: {shown} redirected without a Location header.", param=param)
        try:
            # Relative to the URL the client asked for, not to the pinned IP URL.
            return _Redirect(url.join(location))
        except (httpx.InvalidURL, ValueError) as exc:
            raise InvalidArgument(f"`{param}`: {shown} redirected to an invalid URL: {exc}.",
                                  param=param) from None
    if not 200 <= response.status_code < 300:
        raise InvalidArgument(
            f"`{param}`: fetching {shown} returned HTTP {response.status_code}.", param=param)
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise _too_large(param, shown, cap)
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.aiter_raw():
        total += len(chunk)
        if total > cap:
            raise _too_large(param, shown, cap)
        chunks.append(chunk)
    content_type = response.headers.get("content-type")
    return FetchedMedia(
        data=b"".join(chunks),
        content_type=content_type.split(";")[0].strip().lower() if content_type else None,
        final_url=str(url),
    )


def _too_large(param: str, shown: str, cap: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The media at {shown} for `{param}` exceeds the limit of {cap} bytes.",
                           param=param)


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _shorten(url: str) -> str:
    # Error messages echo the URL, but not a whole query string's worth of it.
    return url if len(url) <= 200 else url[:197] + "..."
