"""Unsupported parameters are ignored (seed), and the response says which ones were."""

from __future__ import annotations

import openai

from .helpers import GEMINI_FLASH_001, HELLO, collect

IGNORED_HEADER = "x-vertexcompat-ignored-params"


def _listed(header: str | None) -> set[str]:
    return {name.strip() for name in (header or "").split(",") if name.strip()}


def test_unknown_fields_are_ignored_and_listed_in_the_header(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model=GEMINI_FLASH_001,
        messages=HELLO,
        max_tokens=5,
        logit_bias={"50256": -100},
        user="user-1234",
        extra_body={"metadata_like_field": {"k": "v"}, "frobnicate": True},
    )

    assert raw.http_response.status_code == 200
    listed = _listed(raw.headers.get(IGNORED_HEADER))
    assert {"logit_bias", "user", "metadata_like_field", "frobnicate"} <= listed
    for honoured in ("model", "messages", "max_tokens"):
        assert honoured not in listed
    completion = raw.parse()
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason in ("stop", "length")


def test_honoured_fields_only_means_nothing_is_listed(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model=GEMINI_FLASH_001,
        messages=HELLO,
        max_tokens=5,
        max_completion_tokens=5,
        temperature=0.5,
        top_p=0.9,
        n=1,
        seed=3,
        stop=["zzz"],
        presence_penalty=0.1,
        frequency_penalty=0.1,
    )

    assert raw.http_response.status_code == 200
    assert _listed(raw.headers.get(IGNORED_HEADER)) == set()
    assert raw.parse().choices[0].message.content


def test_a_streaming_response_also_lists_ignored_fields(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model=GEMINI_FLASH_001,
        messages=HELLO,
        max_tokens=5,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"frobnicate": 1},
    )

    listed = _listed(raw.headers.get(IGNORED_HEADER))
    assert listed == {"frobnicate"}
    collected = collect(raw.parse())
    assert collected.finish_reasons(0) == ["length"] or collected.finish_reasons(0) == ["stop"]
