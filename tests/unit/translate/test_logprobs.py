"""Log probabilities on both surfaces, from domain `TokenLogprobs` events: OpenAI's
`choices[].logprobs.content[]` (whole and streamed) and Gemini's `logprobsResult`; the
request checks; and a model that cannot report them refusing by name."""

from __future__ import annotations

import math

import pytest

from tests.fakes import FakeBackend, make_container
from tests.unit.web.helpers import AUTH, VERTEX_CHAT, chat_body, client_for
from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    TextDelta,
    TokenChoice,
    TokenLogprobs,
    Usage,
)
from vertexcompat.translate.gemini_response import ChunkWriter, response_json
from vertexcompat.translate.response_to_openai import to_chat_completion
from vertexcompat.translate.stream_transcoder import ChunkTranscoder

CAFE = "café".encode()  # "caf", then "é" split over two tokens


def lp(candidate: int, token: bytes, logprob: float, *top: tuple[bytes, float]) -> TokenLogprobs:
    return TokenLogprobs(candidate, TokenChoice(token, logprob, 7),
                         tuple(TokenChoice(t, p, 8) for t, p in top))


EVENTS = [
    lp(0, CAFE[:3], -0.1, (CAFE[:3], -0.1), (b"tea", -2.5)),
    lp(0, CAFE[3:4], -0.2, (CAFE[3:4], -0.2)),
    TextDelta(0, "caf"),
    lp(0, CAFE[4:], -0.3, (CAFE[4:], -0.3)),
    TextDelta(0, "é"),
    Finished(0, FinishReason.STOP),
    Usage(prompt_tokens=4, completion_tokens=3),
]


def test_a_whole_answer_lists_every_token_and_its_bytes_rebuild_the_text() -> None:
    completion = to_chat_completion(EVENTS, completion_id="c", created=0, model="m",
                                    logprobs=True).to_wire()
    content = completion["choices"][0]["logprobs"]["content"]
    assert [t["logprob"] for t in content] == [-0.1, -0.2, -0.3]
    assert bytes(b for t in content for b in t["bytes"]).decode() == "café"
    assert content[0]["token"] == "caf" and content[1]["token"] == "\ufffd"
    assert content[0]["top_logprobs"] == [
        {"token": "caf", "logprob": -0.1, "bytes": list(b"caf")},
        {"token": "tea", "logprob": -2.5, "bytes": list(b"tea")}]
    plain = to_chat_completion(EVENTS, completion_id="c", created=0, model="m").to_wire()
    assert plain["choices"][0]["logprobs"] is None


def test_a_stream_carries_each_tokens_entry_once_on_the_content_it_wrote() -> None:
    transcoder = ChunkTranscoder(completion_id="c", created=0, model="m", n=1,
                                 include_usage=False)
    chunks = [c.to_wire() for e in EVENTS for c in transcoder.feed(e)] + [
        c.to_wire() for c in transcoder.finish()]
    with_content = [c["choices"][0] for c in chunks if c["choices"][0]["delta"].get("content")]
    assert [len(c["logprobs"]["content"]) for c in with_content] == [2, 1]
    every = [t for c in chunks for t in ((c["choices"][0].get("logprobs") or {}).get("content")
                                         or [])]
    assert [t["logprob"] for t in every] == [-0.1, -0.2, -0.3]


def test_tokens_whose_text_never_went_out_ride_on_the_finish_chunk() -> None:
    transcoder = ChunkTranscoder(completion_id="c", created=0, model="m", n=1,
                                 include_usage=False)
    held = [lp(0, b"STOP", -0.5), Finished(0, FinishReason.STOP)]
    chunks = [c.to_wire() for e in held for c in transcoder.feed(e)]
    entries = [(c["choices"][0]["logprobs"] or {}).get("content") for c in chunks]
    assert [e[0]["logprob"] for e in entries if e] == [-0.5]  # on the closing chunks


def test_gemini_answers_carry_logprobs_result_and_the_average() -> None:
    whole = response_json(EVENTS, model_version="m", response_id="r", create_time="t")
    candidate = whole["candidates"][0]
    assert candidate["avgLogprobs"] == pytest.approx(-0.2)
    result = candidate["logprobsResult"]
    assert [c["logProbability"] for c in result["chosenCandidates"]] == [-0.1, -0.2, -0.3]
    assert result["chosenCandidates"][0] == {"token": "caf", "logProbability": -0.1, "tokenId": 7}
    assert [len(t["candidates"]) for t in result["topCandidates"]] == [2, 1, 1]
    writer = ChunkWriter(model_version="m", response_id="r", create_time="t")
    chunks = [c for e in EVENTS for c in writer.feed(e)] + writer.finish()
    streamed = [p["logProbability"] for c in chunks for cand in c.get("candidates", [])
                for p in cand.get("logprobsResult", {}).get("chosenCandidates", [])]
    assert streamed == [-0.1, -0.2, -0.3]
    assert chunks[-1]["candidates"][0]["avgLogprobs"] == pytest.approx(-0.2)


def test_the_requests_checks_name_the_param() -> None:
    with client_for() as client:
        r = client.post(VERTEX_CHAT, json=chat_body(top_logprobs=3), headers=AUTH)
        assert r.status_code == 400 and r.json()["error"]["param"] == "top_logprobs"
        r = client.post(VERTEX_CHAT, json=chat_body(logprobs=True, top_logprobs=21), headers=AUTH)
        assert r.status_code == 400 and r.json()["error"]["param"] == "top_logprobs"
        # The fake model declares no `logprobs` capability: refused by name, not dropped.
        r = client.post(VERTEX_CHAT, json=chat_body(logprobs=True), headers=AUTH)
        assert r.status_code == 400 and r.json()["error"]["param"] == "logprobs"
        assert "log probabilities" in r.json()["error"]["message"]


def test_a_model_that_can_report_them_gets_the_request_and_answers_with_them() -> None:
    from vertexcompat.container import build_generation
    from vertexcompat.domain.models import ModelCapabilities
    from vertexcompat.models.registry import ModelRegistry, default_aliases

    backend = FakeBackend(script=lambda request: EVENTS)
    registry = ModelRegistry(default_aliases("fake-model"),
                             default_capabilities=ModelCapabilities(logprobs=True))
    container = make_container({"fake": backend})
    container.generation = build_generation({"fake": backend}, registry)
    with client_for(container) as client:
        r = client.post(VERTEX_CHAT, json=chat_body(logprobs=True, top_logprobs=2), headers=AUTH)
    assert r.status_code == 200, r.text
    cfg = backend.requests[-1].generation_config
    assert (cfg.response_logprobs, cfg.logprobs) == (True, 2)
    content = r.json()["choices"][0]["logprobs"]["content"]
    assert math.isclose(sum(t["logprob"] for t in content), -0.6)
