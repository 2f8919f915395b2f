"""`OpenAIUpstream` against scripted replicas (httpx.MockTransport): which failures move a
request to another replica (only before anything reached the client), and how upstream
refusals become ours. The real thing is tests/e2e/test_upstream_endpoints.py."""

import asyncio
import json

import httpx
import pytest

from vertexcompat.backends.openai_upstream import OpenAIUpstream
from vertexcompat.backends.upstream_http import UpstreamTimeouts
from vertexcompat.backends.replicas import ReplicaSet
from vertexcompat.domain.content import (
    Content,
    GenerateContentRequest,
    GenerationConfig,
    TextPart,
)
from vertexcompat.domain.errors import BadGateway, InvalidArgument, ResourceExhausted, Unavailable
from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    TextDelta,
    TokenChoice,
    TokenLogprobs,
    Usage,
)


def request(stream: bool) -> GenerateContentRequest:
    return GenerateContentRequest("m", (Content("user", (TextPart("hi"),)),), stream=stream)


COMPLETION = {"id": "x", "object": "chat.completion", "choices": [
    {"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}


def sse(*chunks: dict, done: bool = True) -> bytes:
    lines = [f"data: {json.dumps(c)}\n\n" for c in chunks] + (["data: [DONE]\n\n"] if done else [])
    return "".join(lines).encode()


def chunk(text: str | None = None, finish: str | None = None) -> dict:
    delta = {"content": text} if text is not None else {}
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def backend(handler, replicas=("http://a/v1", "http://b/v1"), **kw) -> OpenAIUpstream:
    return OpenAIUpstream("e1", "m", ReplicaSet(replicas, eject_after=1), api_key="k",
                          timeouts=UpstreamTimeouts(first_byte_s=1.0, idle_s=1.0),
                          transport=httpx.MockTransport(handler), **kw)


def run(b: OpenAIUpstream, stream: bool = False):
    async def go():
        try:
            return [e async for e in b.stream(request(stream))]
        finally:
            await b.close()
    return asyncio.run(go())


def test_a_refused_connection_or_a_503_moves_the_request_to_the_other_replica():
    seen = []

    def handler(r: httpx.Request) -> httpx.Response:
        seen.append(r.url.host)
        assert r.headers["authorization"] == "Bearer k"
        body = json.loads(r.content)
        assert body["model"] == "m" and body["stream"] is False
        if r.url.host == "a":
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json=COMPLETION)

    b = backend(handler)
    events = run(b)
    assert [type(e) for e in events] == [TextDelta, Finished, Usage]
    assert sorted(seen) == ["a", "b"]
    assert b.stats()["replicas_in_service"] == 1

    def busy(r: httpx.Request) -> httpx.Response:
        return httpx.Response(503 if r.url.host == "a" else 200, json=COMPLETION)

    assert len(run(backend(busy))) == 3


def test_a_stream_is_read_chunk_by_chunk_and_a_break_after_the_first_event_is_a_502():
    def handler(r: httpx.Request) -> httpx.Response:
        assert json.loads(r.content)["stream"] is True
        return httpx.Response(200, content=sse(chunk("Hel"), chunk("lo"), chunk(None, "stop")))

    events = run(backend(handler), stream=True)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hel", "lo"]

    class Broken(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield sse(chunk("Hel"), done=False)
            raise httpx.ReadError("connection reset")

    attempts = []

    def breaking(r: httpx.Request) -> httpx.Response:
        attempts.append(r.url.host)
        return httpx.Response(200, stream=Broken())

    with pytest.raises(BadGateway):
        run(backend(breaking), stream=True)
    assert len(attempts) == 1  # a text delta had gone out: not retried


def test_upstream_refusals_become_ours():
    def status(code, body, headers=None):
        return lambda r: httpx.Response(code, json=body, headers=headers or {})

    with pytest.raises(InvalidArgument) as bad:
        run(backend(status(400, {"error": {"message": "too long", "param": "messages"}})))
    assert bad.value.message == "too long" and bad.value.param == "messages"
    with pytest.raises(InvalidArgument) as flat:  # vLLM's flat error body
        run(backend(status(400, {"object": "error", "message": "bad n", "param": "n"})))
    assert flat.value.param == "n"
    with pytest.raises(ResourceExhausted) as busy:
        run(backend(status(429, {"error": {"message": "slow down"}}, {"retry-after": "7"})))
    assert busy.value.retry_after_s == 7
    with pytest.raises(BadGateway, match="credentials"):
        run(backend(status(401, {"error": {"message": "no"}})))
    with pytest.raises(BadGateway, match="HTTP 500"):
        run(backend(status(500, {"error": {"message": "boom"}})))


def test_no_replica_left_is_a_503_with_retry_after():
    def down(r: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(Unavailable) as caught:
        run(backend(down))
    assert "every replica failed" in caught.value.message
    assert caught.value.retry_after_s >= 1


def test_n_candidates_are_n_requests_of_one_renumbered_with_their_usage_merged():
    seeds = []

    def handler(r: httpx.Request) -> httpx.Response:
        body = json.loads(r.content)
        assert "n" not in body
        seeds.append(body["seed"])
        text = f"answer {body['seed']}"
        usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        return httpx.Response(200, json={**COMPLETION, "usage": usage, "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text},
             "finish_reason": "stop"}]})

    b = backend(handler)
    req = request(stream=False)
    req = GenerateContentRequest(req.model, req.contents, generation_config=type(
        req.generation_config)(candidate_count=3, seed=5), stream=False)

    async def go():
        try:
            return [e async for e in b.stream(req)]
        finally:
            await b.close()

    events = asyncio.run(go())
    assert sorted(seeds) == [5, 6, 7]
    texts = {e.candidate: e.text for e in events if isinstance(e, TextDelta)}
    assert texts == {0: "answer 5", 1: "answer 6", 2: "answer 7"}
    assert sorted(e.candidate for e in events if isinstance(e, Finished)) == [0, 1, 2]
    assert events[-1] == Usage(prompt_tokens=3, completion_tokens=6)


def test_fanned_out_candidates_ask_for_logprobs_and_their_logprobs_are_renumbered():
    def handler(r: httpx.Request) -> httpx.Response:
        body = json.loads(r.content)
        assert body["logprobs"] is True and body["top_logprobs"] == 1
        text = f"s{body['seed']}"
        entry = {"token": text, "logprob": -0.5, "bytes": list(text.encode()),
                 "top_logprobs": [{"token": text, "logprob": -0.5, "bytes": list(text.encode())}]}
        return httpx.Response(200, json={**COMPLETION, "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text},
             "logprobs": {"content": [entry]}, "finish_reason": "stop"}]})

    b = backend(handler)
    cfg = GenerationConfig(candidate_count=2, seed=1, response_logprobs=True, logprobs=1)
    req = GenerateContentRequest("m", request(False).contents, generation_config=cfg,
                                 stream=False)

    async def go():
        try:
            return [e async for e in b.stream(req)]
        finally:
            await b.close()

    events = asyncio.run(go())
    for k in (0, 1):
        mine = [e for e in events if getattr(e, "candidate", None) == k]
        token = f"s{1 + k}".encode()
        assert mine == [TokenLogprobs(k, TokenChoice(token, -0.5), (TokenChoice(token, -0.5),)),
                        TextDelta(k, f"s{1 + k}"), Finished(k, FinishReason.STOP)]


def test_a_stream_asks_for_usage_and_reads_lines_cut_only_where_sse_cuts_them():
    # A raw U+2028 in a JSON string (a line end to `str.splitlines`, not to SSE), a chunk
    # split between two network reads, a `\r\n` split too, then the usage chunk and what
    # comes after `[DONE]`, which is read to the end so that the connection is kept.
    sep = "\u2028".encode()
    usage = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2,
                                      "total_tokens": 5}}
    ended = []

    class Pieces(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield b'data: {"choices": [{"index": 0, "delta": {"content": "a' + sep[:2]
            yield sep[2:] + b'b"}, "finish_reason": null}]}\r'
            yield b"\n\r\n" + sse(chunk(None, "stop"), done=False)
            yield f"data: {json.dumps(usage)}\r\n\r\ndata: [DONE]\r\n\r\n".encode()
            yield b""
            ended.append(True)

    def handler(r: httpx.Request) -> httpx.Response:
        body = json.loads(r.content)
        assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
        return httpx.Response(200, stream=Pieces())

    events = run(backend(handler), stream=True)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["a\u2028b"]
    assert [type(e) for e in events] == [TextDelta, Finished, Usage]
    assert events[-1] == Usage(prompt_tokens=3, completion_tokens=2)
    assert ended == [True]


def test_a_stream_that_breaks_before_its_first_event_moves_to_the_other_replica():
    class Broken(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield b'data: {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}\n\n'
            raise httpx.ReadError("connection reset")

    def handler(r: httpx.Request) -> httpx.Response:
        if r.url.host == "a":
            return httpx.Response(200, stream=Broken())
        return httpx.Response(200, content=sse(chunk("Hi"), chunk(None, "stop")))

    # The role chunk is no event: the break is still worth another replica, not a 502.
    with pytest.raises(Unavailable, match="ReadError: connection reset"):
        run(backend(handler, replicas=("http://a/v1",)), stream=True)
    events = run(backend(handler), stream=True)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hi"]


def test_probes_ask_the_servers_own_health_check_else_its_models() -> None:
    """vLLM/SGLang/TGI/llama.cpp answer `/health` at their root (503 while loading);
    llama-cpp-python's server has none (404), so its `/v1/models` is asked instead."""
    asked: list[str] = []
    health = {"a": 503, "b": 404}

    def handler(r: httpx.Request) -> httpx.Response:
        asked.append(f"{r.url.host}{r.url.path}")
        if r.url.path == "/health":
            return httpx.Response(health[r.url.host])
        return httpx.Response(200, json={"data": []})

    b = backend(handler)

    async def go() -> list[bool]:
        try:
            await b.probe_all()
            states = [r.in_service for r in b._replicas.replicas]
            health["a"] = 200
            await b.probe_all()
            return states + [r.in_service for r in b._replicas.replicas]
        finally:
            await b.close()

    assert asyncio.run(go()) == [False, True, True, True]
    # b's missing /health is found once; afterwards only its models are asked.
    assert asked.count("b/health") == 1 and asked.count("b/v1/models") == 2
    assert "a/v1/models" not in asked



def test_a_proxy_refusing_health_does_not_eject_a_replica_whose_models_answer() -> None:
    asked: list[str] = []

    def handler(r: httpx.Request) -> httpx.Response:
        asked.append(f"{r.url.host}{r.url.path}")
        if r.url.path == "/health":
            return httpx.Response(401)
        return httpx.Response(200, json={"data": []})

    b = backend(handler, replicas=("http://a/v1",))

    async def go() -> bool:
        try:
            await b.probe_all()
            await b.probe_all()
            return b._replicas.replicas[0].in_service
        finally:
            await b.close()

    assert asyncio.run(go())
    assert asked == ["a/health", "a/v1/models"] * 2  # asked again: a 401 is no verdict


def test_each_attempt_is_reported_with_its_replica_and_outcome_and_states_are_readable():
    attempts = []

    def handler(r: httpx.Request) -> httpx.Response:
        if r.url.host == "a":
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json=COMPLETION)

    b = backend(handler, on_attempt=lambda *a: attempts.append(a))
    assert b.replica_states() == {"http://a/v1": True, "http://b/v1": True}
    run(b)
    assert sorted((replica, outcome) for replica, outcome, _ in attempts) == [
        ("http://a/v1", "failed"), ("http://b/v1", "ok")]
    assert all(seconds >= 0 for *_, seconds in attempts)
    # One failure ejects (eject_after=1).
    assert b.replica_states() == {"http://a/v1": False, "http://b/v1": True}
