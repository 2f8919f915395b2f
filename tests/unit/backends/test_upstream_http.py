"""The HTTP both upstream backends share, against scripted servers (httpx.MockTransport
streaming bodies in pieces): SSE lines cut only where the SSE spec cuts them, the timeouts
before and after the first event, the rest of a body drained after its end marker, which
failures are worth another try, and the pool's readability check."""

import asyncio
import json
import socket

import httpx
import pytest

from vertexcompat.backends.upstream_http import (
    DRAIN_AFTER_END_BYTES,
    RetryElsewhere,
    SseLines,
    SseReader,
    UpstreamClient,
    UpstreamTimeouts,
    _DirectReadability,
    _ReadableStream,
    describe,
    retry_after_s,
)
from vertexcompat.domain.errors import ApiError, BadGateway, InvalidArgument

TIMEOUTS = UpstreamTimeouts(first_byte_s=1.0, idle_s=1.0)


class Pieces(httpx.AsyncByteStream):
    """A body sent in the pieces given, with a pause before each when given as
    `(seconds, piece)`; `then` raises after the last. `ended` once all was read."""

    def __init__(self, *pieces: bytes | tuple[float, bytes], then: Exception | None = None):
        self.pieces = pieces
        self.then = then
        self.ended = False

    async def __aiter__(self):
        for piece in self.pieces:
            if isinstance(piece, tuple):
                await asyncio.sleep(piece[0])
                piece = piece[1]
            yield piece
        if self.then is not None:
            raise self.then
        self.ended = True


def refusal(status: int, raw: bytes, headers) -> ApiError:
    return InvalidArgument(f"{status} {raw.decode()} {headers.get('x-said')}")


def client(handler, timeouts: UpstreamTimeouts = TIMEOUTS, **kw) -> UpstreamClient:
    return UpstreamClient(timeouts, transport=httpx.MockTransport(handler), **kw)


async def read_all(reader: SseReader, *, answered: bool = False) -> list:
    values = []
    reader.answered = answered
    while (batch := await reader.next_batch()) is not None:
        values.extend(batch)
    return values


def stream_values(body: Pieces, *, end: str | None = None, timeouts=TIMEOUTS,
                  answered: bool = False) -> list:
    async def go():
        http = client(lambda r: httpx.Response(200, stream=body), timeouts)
        try:
            response = await http.open_stream("http://up/sse", {}, refusal=refusal)
            try:
                reader = SseReader(response, timeouts, end=end)
                values = await read_all(reader, answered=answered)
                await reader.drain()
                return values
            finally:
                await response.aclose()
        finally:
            await http.aclose()
    return asyncio.run(go())


# -- lines -----------------------------------------------------------------------------------


def test_lines_end_only_at_crlf_lf_and_cr():
    lines = SseLines()
    text = "a\u2028b\u2029c\x85d\x0be\x0cf\x1cg\x1dh\x1ei\r\nj\nk\rl"
    assert lines.feed(text) == ["a\u2028b\u2029c\x85d\x0be\x0cf\x1cg\x1dh\x1ei", "j", "k"]
    assert lines.flush() == ["l"]
    assert lines.flush() == []


def test_a_crlf_split_between_two_feeds_is_one_line_end():
    lines = SseLines()
    assert lines.feed("a\r") == ["a"]
    assert lines.feed("") == []
    assert lines.feed("\nb\r") == ["b"]
    assert lines.feed("\r") == [""]  # `\r\r`: an empty line (an event's end)
    assert lines.feed("\n") == []
    assert lines.feed("c") == []
    assert lines.feed("d\n\n") == ["cd", ""]


def test_a_raw_u2028_in_a_json_string_split_across_network_chunks_is_one_value():
    # The character's UTF-8 bytes, a line and a `\r\n` are each cut between two chunks.
    sep = "\u2028".encode()
    body = Pieces(
        b'data: {"text": "one' + sep[:1], sep[1:] + b'two"}\r',
        b'\n\r\ndata: {"text": "th', b'ree\xc2\x85\xe2\x80\xa9"}\r\n',
        b'\r\n: a comment\nevent: x\ndata:{"text":"four"}',
    )
    assert stream_values(body) == [
        {"text": "one\u2028two"}, {"text": "three\x85\u2029"}, {"text": "four"},
    ]
    assert body.ended


def test_the_end_marker_ends_the_values_and_the_rest_of_the_body_is_drained():
    body = Pieces(b'data: {"a": 1}\n\ndata: [DONE]\n\ndata: {"a": 2}\n\n', b"more", b"")
    assert stream_values(body, end="[DONE]") == [{"a": 1}]
    assert body.ended  # read to its end: the connection can serve another request


def test_the_drain_gives_up_on_a_body_that_goes_on():
    slow = Pieces(b"data: [DONE]\n\n", (5.0, b"late"))
    big = Pieces(b"data: [DONE]\n\n", b"x" * (DRAIN_AFTER_END_BYTES + 1), b"never read")
    assert stream_values(slow, end="[DONE]") == [] and not slow.ended
    assert stream_values(big, end="[DONE]") == [] and not big.ended


def test_a_line_that_is_not_json_is_a_bad_gateway():
    with pytest.raises(BadGateway, match="not JSON"):
        stream_values(Pieces(b"data: {nope\n\n"))


# -- timeouts and failures ---------------------------------------------------------------------


def test_the_first_event_may_take_the_first_byte_timeout_then_only_the_idle_one():
    timeouts = UpstreamTimeouts(first_byte_s=2.0, idle_s=0.1)
    slow = (0.3, b'data: {"a": 1}\n\n')
    assert stream_values(Pieces(slow), timeouts=timeouts) == [{"a": 1}]
    with pytest.raises(BadGateway, match="mid-answer \\(timed out\\)"):
        stream_values(Pieces(slow), timeouts=timeouts, answered=True)
    with pytest.raises(RetryElsewhere, match="timed out"):
        stream_values(Pieces((5.0, b"")), timeouts=UpstreamTimeouts(first_byte_s=0.1))


def test_a_break_is_worth_another_try_only_before_the_first_event():
    broken = httpx.ReadError("connection reset")
    with pytest.raises(RetryElsewhere, match="ReadError: connection reset"):
        stream_values(Pieces(b'data: {"a": 1}\n\n', then=broken))
    with pytest.raises(BadGateway, match="ReadError"):
        stream_values(Pieces(b'data: {"a": 1}\n\n', then=broken), answered=True)


def exchange(handler, method: str = "whole"):
    async def go():
        http = client(handler)
        try:
            got = await getattr(http, method)("http://up/x", {"q": 1}, refusal=refusal)
            if isinstance(got, httpx.Response):
                await got.aclose()
                return got.status_code
            return got
        finally:
            await http.aclose()
    return asyncio.run(go())


@pytest.mark.parametrize("method", ["whole", "open_stream"])
def test_refused_connections_timeouts_and_busy_statuses_are_worth_another_try(method: str):
    def refused(r: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(RetryElsewhere, match="ConnectError: refused"):
        exchange(refused, method)
    for status in (502, 503, 504):
        with pytest.raises(RetryElsewhere, match=f"HTTP {status}"):
            exchange(lambda r, s=status: httpx.Response(s, text="busy"), method)

    async def slow(r: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    async def go():
        http = client(slow, UpstreamTimeouts(first_byte_s=0.1))
        try:
            await getattr(http, method)("http://up/x", {}, refusal=refusal)
        finally:
            await http.aclose()

    with pytest.raises(RetryElsewhere, match="timed out"):
        asyncio.run(go())


@pytest.mark.parametrize("method", ["whole", "open_stream"])
def test_other_statuses_are_the_backends_refusal_with_the_body_and_headers(method: str):
    def handler(r: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="no model", headers={"x-said": "this"})

    with pytest.raises(InvalidArgument, match="^404 no model this$"):
        exchange(handler, method)


def test_a_whole_answer_is_its_body_and_a_stream_its_open_response():
    def handler(r: httpx.Request) -> httpx.Response:
        assert json.loads(r.content) == {"q": 1}
        return httpx.Response(200, content=b'{"ok": true}')

    assert exchange(handler) == b'{"ok": true}'
    assert exchange(handler, "open_stream") == 200


def test_send_posts_json_with_the_clients_headers_and_the_requests_own():
    seen = []

    def handler(r: httpx.Request) -> httpx.Response:
        seen.append((r.method, str(r.url), r.headers.get("authorization"),
                     r.headers.get("x-goog-api-key"), r.headers["content-type"],
                     json.loads(r.content)))
        return httpx.Response(200, json={})

    async def go():
        http = client(handler, headers={"Authorization": "Bearer t"})
        try:
            url = "http://up/v1/models/m:streamGenerateContent?alt=sse"
            for headers in (None, {"x-goog-api-key": "k"}, None):
                response = await http.send(url, {"a": [1]}, headers)
                await response.aclose()
        finally:
            await http.aclose()

    asyncio.run(go())
    url = "http://up/v1/models/m:streamGenerateContent?alt=sse"
    assert seen == [
        ("POST", url, "Bearer t", None, "application/json", {"a": [1]}),
        ("POST", url, "Bearer t", "k", "application/json", {"a": [1]}),
        ("POST", url, "Bearer t", None, "application/json", {"a": [1]}),
    ]


def test_describe_and_retry_after():
    assert describe(asyncio.TimeoutError()) == "timed out"
    assert describe(httpx.ConnectError("refused")) == "ConnectError: refused"
    assert describe(httpx.ReadError("")) == "ReadError"
    assert retry_after_s(httpx.Headers({"Retry-After": "7"})) == 7
    assert retry_after_s({"retry-after": "0.2"}) == 1
    assert retry_after_s({"retry-after": "soon"}) == 1
    assert retry_after_s({}, default=5) == 5


# -- the pool's readability check ------------------------------------------------------------


def test_the_clients_own_pool_checks_readability_from_the_socket():
    async def go():
        http = UpstreamClient(TIMEOUTS)
        try:
            return http.client._transport._pool._network_backend
        finally:
            await http.aclose()

    assert isinstance(asyncio.run(go()), _DirectReadability)

    class Inner:
        def __init__(self, sock: socket.socket) -> None:
            self.sock = sock

        def get_extra_info(self, info: str):
            return self.sock if info == "socket" else f"inner {info}"

    ours, theirs = socket.socketpair()
    try:
        stream = _ReadableStream(Inner(ours))
        assert stream.get_extra_info("is_readable") is False
        theirs.sendall(b"x")  # or the server closing it
        assert stream.get_extra_info("is_readable") is True
        assert stream.get_extra_info("server_addr") == "inner server_addr"
    finally:
        ours.close()
        theirs.close()
    assert _ReadableStream(Inner(ours)).get_extra_info("is_readable") is True  # closed


def test_events_count_as_answered_when_handed_over_not_when_values_come():
    timeouts = UpstreamTimeouts(first_byte_s=2.0, idle_s=0.1)
    body = Pieces(b'data: {"role": 1}\n\n', (0.3, b'data: {"text": "a"}\n\n'),
                  (0.3, b'data: {"text": "b"}\n\n'))

    async def go():
        http = client(lambda r: httpx.Response(200, stream=body), timeouts)
        try:
            response = await http.open_stream("http://up/sse", {}, refusal=refusal)
            reader = SseReader(response, timeouts)
            got = []

            def feed(value: dict) -> list[str]:
                return [value["text"]] if "text" in value else []

            try:
                # A value that makes no event (a role chunk) leaves the first-byte timeout.
                while (events := await reader.next_events(feed)) is not None:
                    for event in events:
                        assert reader.answered
                        got.append(event)
            except BadGateway:
                return got
            finally:
                await response.aclose()
        finally:
            await http.aclose()

    assert asyncio.run(go()) == ["a"]  # then 0.3 s for "b": past the idle timeout


def test_a_body_that_does_not_decode_is_retried_not_a_500() -> None:
    """`Content-Encoding: gzip` over a body that is not gzip: httpx raises DecodingError,
    which is no TransportError."""
    from vertexcompat.backends.upstream_http import RetryElsewhere, UpstreamClient, UpstreamTimeouts

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-encoding": "gzip"}, content=b"not gzip")

    async def go() -> None:
        client = UpstreamClient(UpstreamTimeouts(first_byte_s=1, idle_s=1),
                                transport=httpx.MockTransport(handler))
        try:
            with pytest.raises(RetryElsewhere):
                await client.whole("http://u/x", {}, refusal=lambda *a: AssertionError())
        finally:
            await client.aclose()

    asyncio.run(go())


def test_chunks_without_events_do_not_extend_the_first_byte_deadline():
    """Keep-alives every 0.2 s for longer than the 0.5 s first-byte timeout: the wait for
    the first event still ends at the deadline (the reader's caller never answered)."""
    keepalives = [(0.2, b": keep-alive\n\n")] * 10  # 2 s in all, then the body ends
    with pytest.raises(RetryElsewhere, match="timed out"):
        stream_values(Pieces(*keepalives), timeouts=UpstreamTimeouts(first_byte_s=0.5, idle_s=5.0))
