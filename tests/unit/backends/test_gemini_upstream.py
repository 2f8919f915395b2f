"""`GeminiUpstream.compute_tokens` against a scripted Google (httpx.MockTransport): Vertex's
`:computeTokens` asked with the contents, its answer read back; the Gemini API form has no
such method; junk and failures become our errors."""

import asyncio
import json

import httpx
import pytest

from vertexcompat.backends.gemini_upstream import GeminiUpstream
from vertexcompat.backends.upstream_http import UpstreamTimeouts
from vertexcompat.domain.content import Content, FunctionCallPart, GenerateContentRequest, TextPart
from vertexcompat.domain.errors import BadGateway, InvalidArgument, NotFound, Unavailable
from vertexcompat.domain.tokens import TokensInfo
from vertexcompat.translate.gemini_tokens import tokens_info_json

MODEL = "gemini-2.5-flash"
URL = ("https://up.test/v1/projects/p/locations/us-central1/publishers/google/models/"
       f"{MODEL}:computeTokens")
HELLO = TokensInfo("user", (9906, 1917), (b"Hello", b" world"))
CALL = TokensInfo("model", (5,), (b"now",))


def backend(handler, *, vertex: bool = True) -> GeminiUpstream:
    return GeminiUpstream(
        "g1", [MODEL], base_url="https://up.test", api_version="v1", vertex=vertex,
        project="p" if vertex else None, api_key="k",
        timeouts=UpstreamTimeouts(first_byte_s=1.0, idle_s=1.0),
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
