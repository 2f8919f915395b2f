"""Log probabilities end to end on the tiny model: the openai SDK (whole and streamed) and
the google-genai SDK (tests/e2e/test_genai_sdk.py's server is not shared, so the native
form runs here through raw REST, as the SDK sends it)."""

from __future__ import annotations

import math

import httpx
import openai
import pytest

from .helpers import AUTH, GEMINI_FLASH, collect

QUESTION = [{"role": "user", "content": "Write the word café twice."}]


def test_every_answer_token_has_its_logprob_and_the_top_alternatives(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(
        model=GEMINI_FLASH, messages=QUESTION, temperature=0, max_tokens=16, logprobs=True,
        top_logprobs=5)
    choice = whole.choices[0]
    content = choice.logprobs.content
    assert len(content) == whole.usage.completion_tokens
    assert bytes(b for t in content for b in t.bytes).decode() == choice.message.content
    for token in content:
        tops = token.top_logprobs
        assert len(tops) == 5 and tops[0].logprob == token.logprob  # greedy: the top one
        assert [t.logprob for t in tops] == sorted((t.logprob for t in tops), reverse=True)
        assert sum(math.exp(t.logprob) for t in tops) <= 1 + 1e-6

    stream = client.chat.completions.create(
        model=GEMINI_FLASH, messages=QUESTION, temperature=0, max_tokens=16, logprobs=True,
        top_logprobs=5, stream=True)
    chunks = list(stream)
    streamed = [t for c in chunks if c.choices and c.choices[0].logprobs
                for t in c.choices[0].logprobs.content or []]
    assert [(t.token, round(t.logprob, 4)) for t in streamed] == [
        (t.token, round(t.logprob, 4)) for t in content]
    assert collect(chunks).text(0) == choice.message.content


def test_without_logprobs_nothing_is_reported(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model=GEMINI_FLASH, messages=QUESTION,
                                           temperature=0, max_tokens=8)
    assert whole.choices[0].logprobs is None


def test_the_native_surface_answers_with_logprobs_result(tiny_server) -> None:  # type: ignore[no-untyped-def]
    url = (f"{tiny_server.base_url}/v1beta1/projects/demo/locations/us-central1/publishers/"
           "google/models/gemini-2.5-flash:generateContent")
    r = httpx.post(url, headers=AUTH, timeout=120, json={
        "contents": [{"role": "user", "parts": [{"text": "Say hello."}]}],
        "generationConfig": {"temperature": 0, "maxOutputTokens": 8, "responseLogprobs": True,
                             "logprobs": 3}})
    assert r.status_code == 200, r.text
    candidate = r.json()["candidates"][0]
    result = candidate["logprobsResult"]
    chosen = result["chosenCandidates"]
    assert len(chosen) == r.json()["usageMetadata"]["candidatesTokenCount"]
    assert all(len(t["candidates"]) == 3 for t in result["topCandidates"])
    assert [t["candidates"][0]["logProbability"] for t in result["topCandidates"]] == [
        c["logProbability"] for c in chosen]
    assert candidate["avgLogprobs"] == pytest.approx(
        sum(c["logProbability"] for c in chosen) / len(chosen))
