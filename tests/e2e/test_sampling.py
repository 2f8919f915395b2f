"""Sampling controls with real effects: `n`, `seed`, `stop`, `max_tokens`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from openai.types.chat import ChatCompletion

from .helpers import GEMINI_FLASH_001, HELLO, collect

COUNTING = [{"role": "user", "content": "Count from 1 to 10, separated by commas."}]


def _texts(response: ChatCompletion) -> list[str]:
    return [choice.message.content or "" for choice in response.choices]


# -- n ------------------------------------------------------------------------------------


def test_n_3_returns_three_indexed_choices_that_are_not_all_the_same(
    client: openai.OpenAI,
) -> None:
    response = client.chat.completions.create(
        model=GEMINI_FLASH_001,
        messages=HELLO,
        n=3,
        temperature=1.0,
        seed=1234,
        max_tokens=30,
    )

    assert [choice.index for choice in response.choices] == [0, 1, 2]
    texts = _texts(response)
    assert all(text.strip() for text in texts), texts
    assert len(set(texts)) > 1, f"three candidates at temperature 1 are identical: {texts}"
    for choice in response.choices:
        assert choice.finish_reason in ("stop", "length")
        assert choice.message.role == "assistant"
    assert response.usage is not None
    # Usage counts every candidate's tokens (Gemini's candidatesTokenCount).
    assert response.usage.completion_tokens <= 3 * 30
    assert response.usage.total_tokens == (
        response.usage.prompt_tokens + response.usage.completion_tokens
    )


# -- seed ---------------------------------------------------------------------------------

SEEDED = {
    "model": GEMINI_FLASH_001,
    "messages": HELLO,
    "temperature": 0.9,
    "seed": 42,
    "max_tokens": 30,
}


def test_same_seed_and_request_give_the_same_answer(client: openai.OpenAI) -> None:
    first = client.chat.completions.create(**SEEDED)
    second = client.chat.completions.create(**SEEDED)

    assert _texts(first) == _texts(second)
    assert first.choices[0].message.content
    assert first.usage == second.usage


def test_same_seed_with_n_2_gives_the_same_candidates(client: openai.OpenAI) -> None:
    first = client.chat.completions.create(**SEEDED, n=2)
    second = client.chat.completions.create(**SEEDED, n=2)

    assert len(first.choices) == 2
    assert _texts(first) == _texts(second)


def test_same_seed_gives_the_same_answer_when_requests_run_concurrently(
    client: openai.OpenAI,
) -> None:
    sequential = _texts(client.chat.completions.create(**SEEDED))

    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(client.chat.completions.create, **SEEDED) for _ in range(3)]
        concurrent = [_texts(f.result()) for f in futures]

    assert concurrent == [sequential] * 3


def test_requests_beyond_the_free_slots_queue_and_keep_their_seeded_answers(
    client: openai.OpenAI,
) -> None:
    """tiny_server has 4 slots: 7 requests at once means some wait, and later ones prefill
    while earlier ones decode. Every one is served, with the same answer as alone."""
    sequential = _texts(client.chat.completions.create(**SEEDED))

    with ThreadPoolExecutor(max_workers=7) as pool:
        futures = [pool.submit(client.chat.completions.create, **SEEDED) for _ in range(7)]
        concurrent = [_texts(f.result()) for f in futures]

    assert concurrent == [sequential] * 7


def test_same_seed_stream_matches_non_stream(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(**SEEDED, n=2)
    streamed = collect(client.chat.completions.create(**SEEDED, n=2, stream=True))

    assert [streamed.text(0), streamed.text(1)] == _texts(whole)


# -- stop ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def counting_answer(client: openai.OpenAI) -> str:
    """The unconstrained greedy answer to the counting prompt; stop tests cut it."""
    response = client.chat.completions.create(
        model=GEMINI_FLASH_001, messages=COUNTING, temperature=0, max_tokens=60
    )
    text = response.choices[0].message.content or ""
    assert "4" in text and not text.startswith("4"), (
        f"the counting prompt no longer produces a '4' to stop on: {text!r}"
    )
    return text


def _stopped(
    client: openai.OpenAI, stop: str | list[str], *, stream: bool = False
) -> tuple[str, str]:
    kwargs = {"model": GEMINI_FLASH_001, "messages": COUNTING, "temperature": 0,
              "max_tokens": 60, "stop": stop}
    if stream:
        collected = collect(client.chat.completions.create(**kwargs, stream=True))
        return collected.text(0), collected.finish_reasons(0)[0]
    response = client.chat.completions.create(**kwargs)
    return response.choices[0].message.content or "", response.choices[0].finish_reason


def test_stop_string_ends_the_answer_before_it_with_finish_reason_stop(
    client: openai.OpenAI, counting_answer: str
) -> None:
    content, finish_reason = _stopped(client, "4")

    assert "4" not in content
    assert content == counting_answer[: counting_answer.index("4")]
    assert finish_reason == "stop"


def test_stop_list_cuts_at_the_earliest_stop_sequence(
    client: openai.OpenAI, counting_answer: str
) -> None:
    stops = ["never-produced-xyz", "4", "3"]
    cut = min(counting_answer.find(s) for s in stops if s in counting_answer)

    content, finish_reason = _stopped(client, stops)

    assert "3" not in content and "4" not in content
    assert content == counting_answer[:cut]
    assert finish_reason == "stop"


def test_multi_character_stop_sequence_is_never_streamed(
    client: openai.OpenAI, counting_answer: str
) -> None:
    at = counting_answer.index("4")
    stop = counting_answer[at - 1 : at + 2]  # spans more than one token
    assert len(stop) == 3

    content, finish_reason = _stopped(client, stop, stream=True)

    assert stop not in content
    assert content == counting_answer[: counting_answer.index(stop)]
    assert finish_reason == "stop"


# -- max_tokens ---------------------------------------------------------------------------

LONG_ANSWER = [{"role": "user", "content": "Explain to me how AI works"}]


@pytest.mark.parametrize("limit_field", ["max_tokens", "max_completion_tokens"])
def test_token_limit_ends_with_finish_reason_length(
    client: openai.OpenAI, limit_field: str
) -> None:
    response = client.chat.completions.create(
        model=GEMINI_FLASH_001, messages=LONG_ANSWER, temperature=0, **{limit_field: 5}
    )

    assert response.choices[0].finish_reason == "length"
    assert response.usage is not None
    assert response.usage.completion_tokens == 5
    assert response.choices[0].message.content


def test_token_limit_in_a_stream_ends_with_finish_reason_length(client: openai.OpenAI) -> None:
    collected = collect(
        client.chat.completions.create(
            model=GEMINI_FLASH_001, messages=LONG_ANSWER, temperature=0, max_tokens=5,
            stream=True, stream_options={"include_usage": True},
        )
    )

    assert collected.finish_reasons(0) == ["length"]
    usage = collected.chunks[-1].usage
    assert usage is not None and usage.completion_tokens == 5
