"""`GeminiUpstream` against a scripted Google (httpx.MockTransport): Vertex's
`:computeTokens` asked with the contents, its answer read back; the Gemini API form has no
such method; junk and failures become our errors; a stream read event by event under its
timeouts."""

import asyncio
import json

import httpx
import pytest

from vertexcompat.backends.gemini_upstream import GeminiUpstream
from vertexcompat.backends.upstream_http import UpstreamTimeouts
from vertexcompat.domain.content import Content, FunctionCallPart, GenerateContentRequest, TextPart
from vertexcompat.domain.errors import BadGateway, InvalidArgument, NotFound, Unavailable
from vertexcompat.domain.events import Finished, TextDelta, Usage
from vertexcompat.domain.tokens import TokensInfo
from vertexcompat.translate.gemini_tokens import tokens_info_json

from .test_upstream_http import Pieces  # a body sent in pieces

MODEL = "gemini-2.5-flash"
URL = ("https://up.test/v1/projects/p/locations/us-central1/publishers/google/models/"
       f"{MODEL}:computeTokens")
HELLO = TokensInfo("user", (9906, 1917), (b"Hello", b" world"))
CALL = TokensInfo("model", (5,), (b"now",))


def backend(handler, *, vertex: bool = True,
            timeouts: UpstreamTimeouts = UpstreamTimeouts(first_byte_s=1.0, idle_s=1.0),
            ) -> GeminiUpstream:
    return GeminiUpstream(
        "g1", [MODEL], base_url="https://up.test", api_version="v1", vertex=vertex,
        project="p" if vertex else None, api_key="k",
        timeouts=timeouts,
        transport=httpx.MockTransport(handler),
    )


def request(*contents: Content) -> GenerateContentRequest:
    return GenerateContentRequest(
        MODEL, contents or (Content("user", (TextPart("Hello world"),)),),
        system_instruction=Content("user", (TextPart("not asked about"),)),
    )


def compute(b: GeminiUpstream, req: GenerateContentRequest) -> list[TokensInfo]:
    async def go():
        try:
            return await b.compute_tokens(req)
        finally:
            await b.close()
    return asyncio.run(go())


def test_vertex_is_asked_with_the_contents_and_its_answer_read_back():
    seen = []

    def handler(r: httpx.Request) -> httpx.Response:
        seen.append((str(r.url), r.headers["x-goog-api-key"], json.loads(r.content)))
        return httpx.Response(200, json=tokens_info_json([HELLO]))

    assert compute(backend(handler), request()) == [HELLO]
    assert seen == [(URL, "k", {"contents": [{"role": "user", "parts": [{"text": "Hello world"}]}]})]


def test_a_content_gemini_would_find_empty_is_not_sent_and_has_no_tokens():
    def handler(r: httpx.Request) -> httpx.Response:
        assert [c["role"] for c in json.loads(r.content)["contents"]] == ["user", "model"]
        return httpx.Response(200, json=tokens_info_json([HELLO, CALL]))

    got = compute(backend(handler), request(
        Content("user", (TextPart("Hello world"),)),
        Content("user", (TextPart(""),)),
        Content("model", (FunctionCallPart("now", {}),)),
    ))
    assert got == [HELLO, TokensInfo("user", (), ()), CALL]


def test_only_empty_contents_need_no_upstream():
    def handler(r: httpx.Request) -> httpx.Response:
        raise AssertionError("asked")

    assert compute(backend(handler), request(Content("model", (TextPart(""),)))) == [
        TokensInfo("model", (), ())
    ]


def test_the_gemini_api_cannot_compute_tokens():
    def handler(r: httpx.Request) -> httpx.Response:
        raise AssertionError("asked")

    with pytest.raises(InvalidArgument) as caught:
        compute(backend(handler, vertex=False), request())
    assert "cannot compute tokens" in caught.value.message
    assert str(caught.value.location) == "model"


@pytest.mark.parametrize("answer", [
    b"not json",
    b"[]",
    json.dumps({"tokensInfo": [{"tokens": ["SGk="], "tokenIds": ["1", "2"]}]}).encode(),
    json.dumps({"tokensInfo": [{"tokens": ["%%%"], "tokenIds": ["1"]}]}).encode(),
])
def test_junk_is_a_bad_gateway(answer: bytes):
    with pytest.raises(BadGateway):
        compute(backend(lambda r: httpx.Response(200, content=answer)), request())


def test_google_refusals_become_ours():
    refusal = {"error": {"code": 404, "message": "Publisher model not found.", "status": "NOT_FOUND"}}
    with pytest.raises(NotFound) as caught:
        compute(backend(lambda r: httpx.Response(404, json=refusal)), request())
    assert caught.value.message == "Publisher model not found."
    bad = {"error": {"code": 400, "message": "Bad contents.", "status": "INVALID_ARGUMENT"}}
    with pytest.raises(InvalidArgument):
        compute(backend(lambda r: httpx.Response(400, json=bad)), request())


def test_a_failure_worth_another_try_is_tried_once_more_then_unavailable():
    calls = []

    def flaky(r: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json=tokens_info_json([HELLO]))

    assert compute(backend(flaky), request()) == [HELLO] and len(calls) == 2

    with pytest.raises(Unavailable) as caught:
        compute(backend(lambda r: httpx.Response(503)), request())
    assert caught.value.retry_after_s and "HTTP 503; HTTP 503" in caught.value.message


def test_count_tokens_is_tried_once_more_too():
    async def go(b: GeminiUpstream):
        try:
            return await b.count_tokens(request())
        finally:
            await b.close()

    with pytest.raises(Unavailable):
        asyncio.run(go(backend(lambda r: httpx.Response(502))))
    answers = iter([httpx.Response(504), httpx.Response(200, json={"totalTokens": 3})])
    assert asyncio.run(go(backend(lambda r: next(answers)))) == 3


# -- streams -----------------------------------------------------------------------------------


def text_chunk(text: str, **fields) -> bytes:
    chunk = {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                             "index": 0, **fields}]}
    return f"data: {json.dumps(chunk, ensure_ascii=False)}\r\n\r\n".encode()


USAGE = {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}


def streamed(b: GeminiUpstream):
    async def go():
        try:
            req = GenerateContentRequest(MODEL, (Content("user", (TextPart("Hi"),)),),
                                         stream=True)
            return [e async for e in b.stream(req)]
        finally:
            await b.close()
    return asyncio.run(go())


def test_a_stream_is_asked_with_alt_sse_and_read_as_it_comes():
    seen = []
    # A raw U+2028 inside a JSON string (no line end to SSE), a chunk cut in two, a `\r\n`
    # cut in two; Gemini's stream ends with its body.
    first = text_chunk("Hel\u2028lo")
    last = {"candidates": [{"content": {"role": "model", "parts": [{"text": "!"}]},
                            "finishReason": "STOP", "index": 0}], "usageMetadata": USAGE}
    body = Pieces(first[:20], first[20:-3], first[-3:],
                  f"data: {json.dumps(last)}\r".encode(), b"\n")

    def handler(r: httpx.Request) -> httpx.Response:
        seen.append((str(r.url), r.headers["x-goog-api-key"]))
        return httpx.Response(200, stream=body, headers={"content-type": "text/event-stream"})

    events = streamed(backend(handler, vertex=False))
    assert seen == [(f"https://up.test/v1/models/{MODEL}:streamGenerateContent?alt=sse", "k")]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hel\u2028lo", "!"]
    assert [type(e) for e in events] == [TextDelta, TextDelta, Finished, Usage]
    assert events[-1] == Usage(prompt_tokens=3, completion_tokens=2)


def test_the_first_event_may_take_the_first_byte_timeout_then_chunks_only_the_idle_one():
    timeouts = UpstreamTimeouts(first_byte_s=2.0, idle_s=0.1)
    calls = []

    def handler(r: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, stream=Pieces(
            (0.3, text_chunk("slow to start")), (0.3, text_chunk("then stuck")),
        ))

    with pytest.raises(BadGateway, match="mid-answer \\(timed out\\)"):
        streamed(backend(handler, timeouts=timeouts))
    assert len(calls) == 1  # an event had gone out: not tried again


def test_a_stream_that_fails_before_its_first_event_is_tried_once_more():
    answers = iter([
        httpx.Response(200, stream=Pieces(then=httpx.ReadError("connection reset"))),
        httpx.Response(200, stream=Pieces(text_chunk("Hi", finishReason="STOP"))),
    ])
    events = streamed(backend(lambda r: next(answers)))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hi"]

    slow = UpstreamTimeouts(first_byte_s=0.1, idle_s=5.0)
    with pytest.raises(Unavailable, match="timed out; timed out"):
        streamed(backend(lambda r: httpx.Response(200, stream=Pieces((5.0, b""))),
                         timeouts=slow))


def test_a_refused_stream_and_an_error_in_the_stream_are_googles_refusals():
    refusal = {"error": {"code": 404, "message": "No such model.", "status": "NOT_FOUND"}}
    with pytest.raises(NotFound, match="No such model."):
        streamed(backend(lambda r: httpx.Response(404, json=refusal)))
    said = {"error": {"code": 400, "message": "Bad turn.", "status": "INVALID_ARGUMENT"}}
    body = Pieces(f"data: {json.dumps(said)}\n\n".encode())
    with pytest.raises(InvalidArgument, match="Bad turn."):
        streamed(backend(lambda r: httpx.Response(200, stream=body)))
