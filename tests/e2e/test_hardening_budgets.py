"""Budgets for heavy work (issue 12), end to end with the real openai SDK: a request over
its pixel or audio budget is a 400 naming the part that crosses it, refused from the
headers before anything is decoded; a prompt that cannot fit the context is refused before
it is tokenized; a perception deadline is a 503 naming the part, the part still running
keeps its budget (429 with Retry-After for the next request) and gives it back when it
returns — and through all of it the server keeps answering.
"""

from __future__ import annotations

import base64
import io
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from PIL import Image

from tests.unit.media.samples import png_header_only

from .conftest import NO_AUTH, TINY_MODEL, ClientFactory
from .helpers import GEMINI_FLASH
from .server import ServerProcess

pytestmark = pytest.mark.timeout(600)


def _image(data: bytes, mime: str = "image/png") -> dict[str, Any]:
    url = f"data:{mime};base64,{base64.b64encode(data).decode()}"
    return {"type": "image_url", "image_url": {"url": url}}


def _audio(seconds: float) -> dict[str, Any]:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:  # 8 kHz, 8-bit: 100 s is 800 kB
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(b"\x80" * int(8000 * seconds))
    data = base64.b64encode(out.getvalue()).decode()
    return {"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}


def _png(size: tuple[int, int], colour: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def _ask(client: openai.OpenAI, *parts: dict[str, Any], max_tokens: int = 5) -> Any:
    return client.chat.completions.create(
        model=GEMINI_FLASH, max_tokens=max_tokens,
        messages=[{"role": "user", "content": [{"type": "text", "text": "Look."}, *parts]}],
    )


def _still_answers(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=GEMINI_FLASH, max_tokens=3, messages=[{"role": "user", "content": "Hi"}])
    assert reply.choices[0].message.content is not None


def test_images_over_the_request_pixel_budget_are_400_naming_the_part_that_crosses_it(
    client: openai.OpenAI,
) -> None:
    # Two 6000x6000 headers with almost no data behind them (72 MP > 64 MP): refused from
    # the headers alone — decoding them would fail as corrupt instead.
    claim = png_header_only(6000, 6000)
    with pytest.raises(openai.BadRequestError) as info:
        _ask(client, _image(claim), _image(claim))
    assert info.value.status_code == 400
    assert info.value.param == "messages[0].content[2].image_url.url"
    assert "64,000,000 pixels" in info.value.message
    _still_answers(client)


def test_audio_over_the_request_seconds_budget_is_400_naming_the_part_that_crosses_it(
    client: openai.OpenAI,
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        _ask(client, _audio(100), _audio(100))
    assert info.value.status_code == 400
    assert info.value.param == "messages[0].content[2].input_audio.data"
    assert "180 seconds" in info.value.message
    _still_answers(client)


def test_a_prompt_that_cannot_fit_the_context_is_refused_before_tokenizing(
    client: openai.OpenAI,
) -> None:
    # The tiny server's window is 2048 tokens; no token spells more than 128 characters.
    text = "The quick brown fox jumps over the lazy dog. " * 6000  # 270,000 characters
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model=GEMINI_FLASH, max_tokens=3, messages=[{"role": "user", "content": text}])
    assert info.value.param == "messages"
    assert "cannot fit" in info.value.message and "2048 tokens" in info.value.message
    _still_answers(client)


# -- deadline and in-flight budget on a server of their own --------------------------------


@pytest.fixture(scope="module")
def strict_server(data_dir: Path, server_logs: Path) -> Iterator[ServerProcess]:
    """Perception budgets small enough to reach with one 4 MP image: a 0.5 s deadline
    (OCR on a 2000x2000 image takes 3-4 s of CPU here) and 5 MP in flight."""
    server = ServerProcess(
        "strict-media", model=TINY_MODEL, data_dir=data_dir, log_dir=server_logs,
        threads=1, parallel=2, ctx_per_seq=2048, extra_args=NO_AUTH,
        env={
            "VERTEXCOMPAT_PERCEPTION_DEADLINE_S": "0.5",
            "VERTEXCOMPAT_MEDIA_MAX_REQUEST_PIXELS": "5000000",
            "VERTEXCOMPAT_PERCEPTION_MAX_PIXELS_IN_FLIGHT": "5000000",
        },
    )
    server.start(ready_timeout=120)
    try:
        yield server
    finally:
        server.stop()


def test_a_deadline_is_503_and_the_part_still_running_holds_its_budget_until_it_returns(
    strict_server: ServerProcess, make_client: ClientFactory,
) -> None:
    client = make_client(strict_server)
    big = _image(_png((2000, 2000), "white"))
    with pytest.raises(openai.InternalServerError) as late:
        _ask(client, big)
    assert late.value.status_code == 503
    assert late.value.param == "messages[0].content[1].image_url.url"
    assert "deadline of 0.5 s" in late.value.message

    # Its part cannot be interrupted: it still holds 4 of the 5 MP in flight.
    with pytest.raises(openai.RateLimitError) as busy:
        _ask(client, big)
    assert int(busy.value.response.headers["retry-after"]) >= 1
    _still_answers(client)

    # When the part returns, its budget comes back: the same request is admitted again
    # (answered, or late once more: either way no longer refused at the door). The bound is
    # for liveness, not a timing assertion.
    end = time.monotonic() + 300
    while True:
        try:
            _ask(client, big)
        except openai.RateLimitError:
            assert time.monotonic() < end, strict_server.log_tail()
            time.sleep(0.25)
            continue
        except openai.InternalServerError as again:
            assert again.status_code == 503 and "deadline" in again.message
        break
    _still_answers(client)
