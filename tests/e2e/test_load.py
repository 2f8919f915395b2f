"""Admission and cancellation on `busy_server` (one slot, a queue of one): a full queue
answers 429 with Retry-After, and a client that goes away frees its slot or queue place.

The long generations here use `ENDLESS` (negative penalties: the model never chooses to
stop) with `max_tokens` in the thousands, so finishing naturally would take minutes; the
deadlines below are liveness bounds that keep a broken server from hanging the suite, not
performance assertions.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest

from .conftest import BUSY_CTX_PER_SEQ
from .helpers import AUTH, ENDLESS, GEMINI_FLASH_001, HELLO, sse_data_frames
from .server import ServerProcess

LIVENESS_S = 60
LONG_MAX_TOKENS = BUSY_CTX_PER_SEQ - 200  # ≈8000 tokens: minutes of decoding
# How long a client that gives up waits first (its read timeout): long enough for its
# request to reach the server and take the slot or a queue place; the one slot decodes
# `ENDLESS` all that time, so not longer (8 s, then 4 s, cost more CPU and proved no more;
# the request is queued or running within milliseconds).
ABANDON_AFTER_S = 2.5


@pytest.fixture(autouse=True)
def idle_busy_server(busy_server: ServerProcess) -> Iterator[None]:
    """Every test here starts, and must end, with the one slot free and nobody queued."""
    busy_server.wait_until_idle(
        what="the server becoming idle before the test",
        deadline_s=LIVENESS_S,
    )
    yield
    busy_server.wait_until_idle(
        what="the server becoming idle after the test",
        deadline_s=LIVENESS_S,
    )


def _small_request(client: openai.OpenAI) -> str:
    response = client.chat.completions.create(
        model=GEMINI_FLASH_001, messages=HELLO, max_tokens=5, temperature=0
    )
    assert response.choices[0].finish_reason in ("stop", "length")
    return response.choices[0].message.content or ""


def test_full_queue_answers_429_with_retry_after(
    busy_server: ServerProcess, busy_client: openai.OpenAI
) -> None:
    first = busy_client.chat.completions.create(
        model=GEMINI_FLASH_001, **ENDLESS, max_tokens=1500, stream=True
    )
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        first_chunk = next(iter(first))
        assert first_chunk.choices[0].delta.role == "assistant"
        busy_server.wait_for_load(
            lambda load: load["busy_slots"] == 1, what="the first request taking the slot",
            deadline_s=LIVENESS_S,
        )

        # The second request waits in the queue until the slot frees.
        second = pool.submit(_small_request, busy_client)
        busy_server.wait_for_load(
            lambda load: load["queued_requests"] == 1, what="the second request queueing",
            deadline_s=LIVENESS_S,
        )
        assert not second.done()

        with pytest.raises(openai.RateLimitError) as info:
            busy_client.chat.completions.create(
                model=GEMINI_FLASH_001, messages=HELLO, max_tokens=5, stream=True
            )
        exc = info.value
        assert exc.status_code == 429
        retry_after = exc.response.headers.get("retry-after")
        assert retry_after is not None and retry_after.isdigit() and int(retry_after) >= 1
        body = exc.response.json()["error"]
        assert body["status"] == "RESOURCE_EXHAUSTED"
        assert body["code"] == 429
    finally:
        first.close()  # the client goes away: its slot goes to the queued request

    assert second.result(timeout=120)  # the queued request is then served
    pool.shutdown()


def test_full_queue_answers_429_for_non_streaming_requests_too(
    busy_server: ServerProcess, busy_client: openai.OpenAI
) -> None:
    first = busy_client.chat.completions.create(
        model=GEMINI_FLASH_001, **ENDLESS, max_tokens=1500, stream=True
    )
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        next(iter(first))
        second = pool.submit(_small_request, busy_client)
        busy_server.wait_for_load(
            lambda load: load["queued_requests"] == 1, what="the second request queueing",
            deadline_s=LIVENESS_S,
        )
        with pytest.raises(openai.RateLimitError) as info:
            busy_client.chat.completions.create(
                model=GEMINI_FLASH_001, messages=HELLO, max_tokens=5
            )
        assert info.value.response.headers.get("retry-after")
    finally:
        first.close()
    assert second.result(timeout=120)
    pool.shutdown()


def test_closing_a_stream_frees_its_slot(
    busy_server: ServerProcess, busy_client: openai.OpenAI
) -> None:
    body = {"model": GEMINI_FLASH_001, **ENDLESS, "max_tokens": LONG_MAX_TOKENS, "stream": True}
    with httpx.stream(
        "POST", f"{busy_server.vertex_base()}/chat/completions", json=body, headers=AUTH,
        timeout=120,
    ) as response:
        assert response.status_code == 200, response.read()
        frames = sse_data_frames(response)
        received = [next(frames), next(frames)]
        assert all(f != "[DONE]" for f in received)
        assert busy_server.load()["busy_slots"] == 1
    # Leaving the `with` closed the connection mid-stream.

    busy_server.wait_until_idle(
        what="the slot being freed after the client disconnected",
        deadline_s=LIVENESS_S,
    )
    assert _small_request(busy_client)


def test_abandoning_a_non_streaming_request_frees_its_slot(
    busy_server: ServerProcess, busy_client: openai.OpenAI
) -> None:
    body = {"model": GEMINI_FLASH_001, **ENDLESS, "max_tokens": LONG_MAX_TOKENS}
    with pytest.raises(httpx.ReadTimeout):
        # The client gives up waiting (read timeout) and closes its connection.
        httpx.post(
            f"{busy_server.vertex_base()}/chat/completions", json=body, headers=AUTH,
            timeout=httpx.Timeout(10, read=ABANDON_AFTER_S),
        )

    busy_server.wait_until_idle(
        what="the slot being freed after the client gave up",
        deadline_s=LIVENESS_S,
    )
    assert _small_request(busy_client)


def test_a_queued_request_whose_client_leaves_gives_up_its_place(
    busy_server: ServerProcess, busy_client: openai.OpenAI
) -> None:
    first = busy_client.chat.completions.create(
        model=GEMINI_FLASH_001, **ENDLESS, max_tokens=1500, stream=True
    )
    pool = ThreadPoolExecutor(max_workers=1)

    def queued_then_abandoned() -> Any:
        with httpx.Client(timeout=httpx.Timeout(10, read=ABANDON_AFTER_S)) as c:
            return c.post(
                f"{busy_server.vertex_base()}/chat/completions",
                json={"model": GEMINI_FLASH_001, "messages": HELLO, "max_tokens": 5},
                headers=AUTH,
            )

    try:
        next(iter(first))
        waiter = pool.submit(queued_then_abandoned)
        busy_server.wait_for_load(
            lambda load: load["queued_requests"] == 1, what="the second request queueing",
            deadline_s=LIVENESS_S,
        )
        with pytest.raises(httpx.ReadTimeout):
            waiter.result(timeout=120)
        busy_server.wait_for_load(
            lambda load: load["queued_requests"] == 0,
            what="the abandoned request leaving the queue", deadline_s=LIVENESS_S,
        )
        assert busy_server.load()["busy_slots"] == 1, "the first request is still running"
        # Its place is free again: a new request queues instead of getting 429.
        third = pool.submit(_small_request, busy_client)
        busy_server.wait_for_load(
            lambda load: load["queued_requests"] == 1, what="a new request queueing",
            deadline_s=LIVENESS_S,
        )
    finally:
        first.close()
    assert third.result(timeout=120)
    pool.shutdown()


def _stream_text_and_usage(stream: Any) -> tuple[str, Any]:
    text, usage = [], None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text.append(choice.delta.content or "")
    return "".join(text), usage


def test_an_identical_greedy_request_follows_the_running_one_past_a_full_queue(
    busy_server: ServerProcess, busy_client: openai.OpenAI
) -> None:
    """The one slot decodes a greedy request and the queue is full; the same request again
    needs neither: it follows the running one (shared answers), gets the same text, and
    counts its whole prompt as cached."""
    body: dict[str, Any] = {"model": GEMINI_FLASH_001, **ENDLESS, "max_tokens": 300,
                            "stream": True, "stream_options": {"include_usage": True}}
    first = busy_client.chat.completions.create(**body)
    pool = ThreadPoolExecutor(max_workers=2)
    try:
        head = next(iter(first))
        assert head.choices[0].delta.role == "assistant"
        second = pool.submit(_small_request, busy_client)
        busy_server.wait_for_load(
            lambda load: load["queued_requests"] == 1, what="the second request queueing",
            deadline_s=LIVENESS_S,
        )
        again = pool.submit(lambda: _stream_text_and_usage(
            busy_client.chat.completions.create(**body)))
        text, usage = _stream_text_and_usage(first)
        text_again, usage_again = again.result(timeout=LIVENESS_S)
    finally:
        first.close()
    assert text_again == (head.choices[0].delta.content or "") + text
    assert usage_again.completion_tokens == usage.completion_tokens == 300
    assert usage_again.prompt_tokens_details.cached_tokens == usage_again.prompt_tokens
    assert second.result(timeout=120)
    pool.shutdown()
