"""Thinking through the live server with the real `openai` SDK (issue 5): the seed's
reasoning sample, every budget mapping, visible thoughts, tag markers, thought signatures
(restored into the prompt, tamper-proof, enforced for Gemini 3 ids) and stream order."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest

from .helpers import post_stream_frames

AUTH = {"authorization": "Bearer anything"}
FLASH = "google/gemini-2.5-flash"  # not signature-enforcing
GEMINI_3 = "google/gemini-3-flash-preview"  # signature-enforcing (alias table)
QUESTION = [{"role": "user", "content": "Why is the sky blue?"}]
# Room for thoughts of a budget up to 32 tokens, their close, and the start of an answer:
# where a test needs both, not a long answer (80 decoded ~65% more for nothing).
THOUGHTS_AND_ANSWER = 48


def thinking(budget: int | None = None, *, include: bool | None = None,
             marker: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if budget is not None:
        config["thinking_budget"] = budget
    if include is not None:
        config["include_thoughts"] = include
    google: dict[str, Any] = {"thinking_config": config}
    if marker is not None:
        google["thought_tag_marker"] = marker
    return {"google": google}


def prompts(server) -> list[str]:
    r = httpx.get(f"{server.base_url}/v1/debug/prompts", headers=AUTH, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def prompt_with(server, token: str) -> str:
    found = [p for p in prompts(server) if token in p]
    assert found, f"no rendered prompt contains {token}"
    return found[-1]


def signature_of(message) -> str:
    return message.extra_content["google"]["thought_signature"]


# -- the seed sample -----------------------------------------------------------------------

def test_seed_reasoning_sample_thinks_within_the_low_budget(client):
    # The seed's request, capped: uncapped, the model thinks its whole 1024-token budget
    # and then answers until its context is full (~2,000 tokens; 120 s on the default
    # model). The budget and the answer after it are what is checked, so the tiny model
    # and 1024 + 64 tokens do (no quality is asserted here). The answer's first sentence is
    # enough: a stop sequence ends the answer only (thoughts have the end-of-thought marker
    # alone), so the thoughts may still run past 1024 if the budget failed; without it the
    # tiny model's answer ran on to max_tokens (~1,000 tokens, ~17 s of decoding).
    response = client.chat.completions.create(
        model="google/gemini-3.5-flash",
        reasoning_effort="low",
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Explain to me how AI works"},
        ],
        max_tokens=1024 + 64, stop=["."],
    )
    print(response.choices[0].message, response.usage)
    details = response.usage.completion_tokens_details
    assert 0 < details.reasoning_tokens <= 1024
    assert response.choices[0].message.content.strip()
    assert response.usage.completion_tokens > details.reasoning_tokens


def test_seed_reasoning_sample_with_none_does_not_think(default_client):
    response = default_client.chat.completions.create(
        model="google/gemini-3.5-flash",
        reasoning_effort="none",
        messages=[{"role": "user", "content": "Explain to me how AI works"}],
        max_tokens=16,  # whether it thinks shows at once; 16 tokens of answer are enough
    )
    assert response.usage.completion_tokens_details.reasoning_tokens == 0
    assert response.choices[0].message.content.strip()


# -- mappings and errors ---------------------------------------------------------------------

@pytest.mark.parametrize("effort,budget", [("minimal", 1024), ("low", 1024), ("medium", 8192),
                                           ("high", 24576)])
def test_each_reasoning_effort_thinks_within_its_budget(client, effort, budget):
    # Every budget here is above max_tokens: the model thinks and the cap ends it (the seed
    # sample above runs "low" past its 1024-token budget).
    r = client.chat.completions.create(
        model=FLASH, reasoning_effort=effort, messages=QUESTION, max_tokens=40, seed=1,
    )
    assert 0 < r.usage.completion_tokens_details.reasoning_tokens <= budget


def test_reasoning_effort_none_and_budget_zero_do_not_think(client):
    for extra in ({"reasoning_effort": "none"}, {"extra_body": thinking(0)}):
        r = client.chat.completions.create(model=FLASH, messages=QUESTION, max_tokens=30, **extra)
        assert r.usage.completion_tokens_details.reasoning_tokens == 0


def test_thinking_level_maps_like_reasoning_effort(client):
    r = client.chat.completions.create(
        model=FLASH, messages=QUESTION, max_tokens=40, seed=2,
        extra_body={"google": {"thinking_config": {"thinking_level": "low"}}},
    )
    assert 0 < r.usage.completion_tokens_details.reasoning_tokens <= 1024


@pytest.mark.parametrize("body,param", [
    ({"reasoning_effort": "extreme"}, "reasoning_effort"),
    ({"reasoning_effort": "low", "google": {"thinking_config": {"thinking_budget": 5}}},
     "reasoning_effort"),
    ({"extra_body": {"google": {"thinking_config": {"thinking_budget": 5,
                                                    "thinking_level": "low"}}}},
     "extra_body.google.thinking_config"),
    ({"google": {"thinking_config": {"thinking_budget": -2}}},
     "google.thinking_config.thinking_budget"),
])
def test_invalid_thinking_requests_are_400_with_param(tiny_server, body, param):
    r = httpx.post(
        f"{tiny_server.vertex_base()}/chat/completions", headers=AUTH, timeout=30,
        json={"model": FLASH, "messages": QUESTION, **body},
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param
    if body.get("reasoning_effort") == "extreme":
        assert "'minimal'" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "seeds", [4, pytest.param(20, marks=pytest.mark.panel, id="20")], ids=lambda n: str(n)
)
def test_budget_64_is_never_exceeded_over_many_seeds(client, seeds):
    # Four seeds: one round of the tiny server's four slots (every seed decodes the same
    # path, 64 thoughts then the cap; a second round only doubled the decoding); twenty in
    # the `panel` run.
    def reasoning_tokens(seed: int) -> int:
        r = client.chat.completions.create(
            model=FLASH, messages=QUESTION, max_tokens=72, seed=seed, temperature=1.0,
            extra_body=thinking(64),
        )
        return r.usage.completion_tokens_details.reasoning_tokens

    with ThreadPoolExecutor(max_workers=4) as pool:  # the tiny server's four slots
        counts = list(pool.map(reasoning_tokens, range(seeds)))
    assert all(0 < n <= 64 for n in counts), counts


def test_thoughts_count_against_max_tokens(client):
    # Seeded: a sample that ends its thoughts early has no room left to close them and
    # answer, so it finishes `length` with fewer tokens (engine/candidate.py).
    r = client.chat.completions.create(
        model=FLASH, messages=QUESTION, max_tokens=12, seed=3,
        extra_body=thinking(500, include=True),
    )
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == r.usage.completion_tokens_details.reasoning_tokens == 12


# -- visible thoughts ------------------------------------------------------------------------

def test_include_thoughts_returns_reasoning_content_and_otherwise_nothing(tiny_server):
    url = f"{tiny_server.vertex_base()}/chat/completions"
    body = {"model": FLASH, "messages": QUESTION, "max_tokens": THOUGHTS_AND_ANSWER,
            "seed": 3}
    shown = httpx.post(url, headers=AUTH, timeout=60,
                       json={**body, "extra_body": thinking(24, include=True)}).json()
    hidden = httpx.post(url, headers=AUTH, timeout=60,
                        json={**body, "extra_body": thinking(24)}).json()
    assert shown["choices"][0]["message"]["reasoning_content"].strip()
    assert "reasoning_content" not in hidden["choices"][0]["message"]
    assert "<think>" not in hidden["choices"][0]["message"]["content"]
    assert hidden["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0


def test_stream_sends_reasoning_then_content_then_one_finish_reason(tiny_server):
    _, frames = post_stream_frames(
        f"{tiny_server.vertex_base()}/chat/completions",
        {"model": FLASH, "messages": QUESTION, "max_tokens": THOUGHTS_AND_ANSWER, "seed": 5,
         "stream": True,
         "n": 2, "extra_body": thinking(20, include=True)},
    )
    for index in range(2):
        deltas = [(c["choices"][0]["delta"], c["choices"][0].get("finish_reason"))
                  for c in frames if c != "[DONE]" and c["choices"]
                  and c["choices"][0]["index"] == index]
        kinds = []
        for delta, finish in deltas:
            if finish:
                kinds.append("finish")
            elif delta.get("reasoning_content"):
                kinds.append("reasoning")
            elif delta.get("content"):
                kinds.append("content")
        assert kinds.count("finish") == 1 and kinds[-1] == "finish"
        assert "reasoning" in kinds and "content" in kinds
        assert max(i for i, k in enumerate(kinds) if k == "reasoning") < kinds.index("content")


# -- tag marker ------------------------------------------------------------------------------

def test_tag_marker_round_trip(client, tiny_server):
    first = client.chat.completions.create(
        model=FLASH, messages=QUESTION, max_tokens=THOUGHTS_AND_ANSWER, seed=4,
        extra_body=thinking(24, marker="think"),
    )
    content = first.choices[0].message.content
    assert content.startswith("<think>") and "</think>" in content
    thought, answer = content[len("<think>"):].split("</think>", 1)
    token = f"TAGS-{uuid.uuid4().hex[:8]}"
    client.chat.completions.create(
        model=FLASH, max_tokens=5, reasoning_effort="none",
        messages=[*QUESTION, {"role": "assistant", "content": content},
                  {"role": "user", "content": token}],
        extra_body={"google": {"thought_tag_marker": "think"}},
    )
    rendered = prompt_with(tiny_server, token)
    # Read back as thoughts: framed as the model's own notes, apart from the answer.
    assert f"<think>\n{thought.strip()}\n</think>" in rendered
    assert content not in rendered
    # Without the marker the same text is plain answer text.
    token2 = f"PLAIN-{uuid.uuid4().hex[:8]}"
    client.chat.completions.create(
        model=FLASH, max_tokens=5, reasoning_effort="none",
        messages=[*QUESTION, {"role": "assistant", "content": content},
                  {"role": "user", "content": token2}],
    )
    assert content in prompt_with(tiny_server, token2)


def test_tagged_stream_closes_the_tag_before_the_answer(tiny_server):
    _, frames = post_stream_frames(
        f"{tiny_server.vertex_base()}/chat/completions",
        {"model": FLASH, "messages": QUESTION, "max_tokens": THOUGHTS_AND_ANSWER, "seed": 6,
         "stream": True,
         "google": {"thinking_config": {"thinking_budget": 16}, "thought_tag_marker": "plan"}},
    )
    text = "".join(c["choices"][0]["delta"].get("content") or ""
                   for c in frames if c != "[DONE]" and c["choices"])
    assert text.startswith("<plan>") and text.count("</plan>") == 1


def test_reasoning_content_sent_back_is_a_thought_not_answer_text(client, tiny_server):
    token = f"RC-{uuid.uuid4().hex[:8]}"
    client.chat.completions.create(
        model=FLASH, max_tokens=5, reasoning_effort="none",
        messages=[*QUESTION,
                  {"role": "assistant", "content": "Rayleigh scattering.",
                   "reasoning_content": "Short wavelengths scatter more."},
                  {"role": "user", "content": token}],
    )
    assert "<think>\nShort wavelengths scatter more.\n</think>" in prompt_with(tiny_server, token)


# -- thought signatures ----------------------------------------------------------------------

def test_signature_round_trip_restores_the_thoughts(client, tiny_server):
    first = client.chat.completions.create(
        model=FLASH, messages=QUESTION, max_tokens=THOUGHTS_AND_ANSWER, seed=7,
        extra_body=thinking(32, include=True),
    )
    message = first.choices[0].message
    thoughts = message.reasoning_content
    assert thoughts
    token = f"SIG-{uuid.uuid4().hex[:8]}"
    second = client.chat.completions.create(
        model=FLASH, max_tokens=5, reasoning_effort="none",
        messages=[*QUESTION,
                  {"role": "assistant", "content": message.content,
                   "extra_content": {"google": {"thought_signature": signature_of(message)}}},
                  {"role": "user", "content": token}],
    )
    assert second.choices[0].finish_reason in ("stop", "length")
    assert f"<think>\n{thoughts.strip()}\n</think>" in prompt_with(tiny_server, token)


def test_tampered_signature_is_400_naming_the_part(client):
    first = client.chat.completions.create(
        model=FLASH, messages=QUESTION, max_tokens=40, seed=8, extra_body=thinking(16),
    )
    message = first.choices[0].message
    signature = signature_of(message)
    middle = len(signature) // 2
    tampered = signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1:]
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model=FLASH, max_tokens=5,
            messages=[*QUESTION,
                      {"role": "assistant", "content": message.content,
                       "extra_content": {"google": {"thought_signature": tampered}}},
                      {"role": "user", "content": "more"}],
        )
    assert err.value.body["param"] == "messages[1].extra_content.google.thought_signature"


def _weather_history(call_extra: dict[str, Any] | None) -> list[dict[str, Any]]:
    call: dict[str, Any] = {"id": "call_1", "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
    if call_extra is not None:
        call["extra_content"] = call_extra
    return [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 20 C"},
    ]


WEATHER_TOOL = [{"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object",
                                          "properties": {"city": {"type": "string"}}}}}]


def test_enforcing_model_refuses_a_call_without_its_signature(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model=GEMINI_3, messages=_weather_history(None), tools=WEATHER_TOOL, max_tokens=20,
        )
    assert err.value.body["message"].startswith(
        "Function call is missing a thought_signature in functionCall parts."
    )
    assert err.value.body["param"] == "messages[1].tool_calls[0].extra_content.google.thought_signature"
    # The same history is fine on a model that does not enforce signatures.
    ok = client.chat.completions.create(
        model=FLASH, messages=_weather_history(None), tools=WEATHER_TOOL, max_tokens=20,
    )
    assert ok.choices[0].finish_reason


def test_skip_value_passes_the_signature_check(client):
    skip = {"google": {"thought_signature": "skip_thought_signature_validator"}}
    r = client.chat.completions.create(
        model=GEMINI_3, messages=_weather_history(skip), tools=WEATHER_TOOL, max_tokens=20,
    )
    assert r.choices[0].finish_reason


def test_a_call_signature_round_trips_on_an_enforcing_model(client, tiny_server):
    first = client.chat.completions.create(
        model=GEMINI_3, messages=[{"role": "user", "content": "Weather in Oslo?"}],
        tools=WEATHER_TOOL, tool_choice="required", max_tokens=120, seed=1,
        extra_body=thinking(24, include=True),
    )
    message = first.choices[0].message
    calls = message.tool_calls
    assert calls and calls[0].model_extra["extra_content"]["google"]["thought_signature"]
    assert all("extra_content" not in c.model_extra for c in calls[1:])
    token = f"CALL-{uuid.uuid4().hex[:8]}"
    history = [
        {"role": "user", "content": f"Weather in Oslo? {token}"},
        message.model_dump(exclude_none=True),
        *({"role": "tool", "tool_call_id": c.id, "content": "Sunny"} for c in calls),
    ]
    r = client.chat.completions.create(
        model=GEMINI_3, messages=history, tools=WEATHER_TOOL, max_tokens=20,
        reasoning_effort="none",
    )
    assert r.choices[0].finish_reason
    assert f"<think>\n{message.reasoning_content.strip()}\n</think>" in prompt_with(tiny_server, token)


def test_debug_prompts_needs_the_flag(default_server):
    r = httpx.get(f"{default_server.base_url}/v1/debug/prompts", headers=AUTH, timeout=10)
    assert r.status_code == 404
