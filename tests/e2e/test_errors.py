"""Bad requests get the right status, SDK exception class and `param` — never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from .conftest import BUSY_MAX_BODY_BYTES
from .helpers import AUTH, GEMINI_FLASH_001, HELLO
from .server import ServerProcess

ERROR_KEYS = {"code", "message", "status", "type", "param", "details"}


def _raw_post(server: ServerProcess, body: bytes | dict[str, Any], **kw: Any) -> httpx.Response:
    url = f"{server.vertex_base()}/chat/completions"
    if isinstance(body, dict):
        return httpx.post(url, json=body, headers=AUTH, timeout=120, **kw)
    return httpx.post(
        url, content=body, headers={**AUTH, "Content-Type": "application/json"}, timeout=120, **kw
    )


def _assert_error_body(response: httpx.Response, status: int, google_status: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == ERROR_KEYS, error
    assert error["code"] == status
    assert error["status"] == google_status
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], list)
    return dict(error)


def _bad_request(client: openai.OpenAI, **overrides: Any) -> openai.BadRequestError:
    kwargs: dict[str, Any] = {
        "model": GEMINI_FLASH_001, "messages": HELLO, "max_tokens": 5, **overrides
    }
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(**kwargs)
    assert info.value.status_code == 400
    return info.value


# -- parameter ranges and shapes ------------------------------------------------------------


def test_temperature_out_of_range_is_400_naming_temperature(client: openai.OpenAI) -> None:
    exc = _bad_request(client, temperature=5)
    assert exc.param == "temperature"
    assert exc.type == "invalid_request_error"


@pytest.mark.parametrize("n", [0, 100])
def test_n_out_of_range_is_400_naming_n(client: openai.OpenAI, n: int) -> None:
    assert _bad_request(client, n=n).param == "n"


def test_empty_messages_is_400_naming_messages(client: openai.OpenAI) -> None:
    assert _bad_request(client, messages=[]).param == "messages"


def test_unknown_role_is_400_naming_the_role(client: openai.OpenAI) -> None:
    exc = _bad_request(client, messages=[{"role": "wizard", "content": "hi"}])
    assert exc.param == "messages[0].role"


def test_missing_model_is_400_naming_model(tiny_server: ServerProcess) -> None:
    response = _raw_post(tiny_server, {"messages": HELLO})
    error = _assert_error_body(response, 400, "INVALID_ARGUMENT")
    assert error["param"] == "model"


@pytest.mark.parametrize(
    ("field", "value"),
    [("temperature", "hot"), ("messages", "hello"), ("max_tokens", "5"), ("n", 1.5),
     ("stop", 7), ("stream", "yes")],
)
def test_wrong_json_type_is_400_naming_the_field(
    tiny_server: ServerProcess, field: str, value: Any
) -> None:
    body = {"model": GEMINI_FLASH_001, "messages": HELLO, "max_tokens": 5, field: value}
    error = _assert_error_body(_raw_post(tiny_server, body), 400, "INVALID_ARGUMENT")
    assert error["param"] == field
    assert error["type"] == "invalid_request_error"


def test_wrong_type_inside_a_message_names_its_path(tiny_server: ServerProcess) -> None:
    body = {"model": GEMINI_FLASH_001, "messages": [{"role": "user", "content": 42}]}
    error = _assert_error_body(_raw_post(tiny_server, body), 400, "INVALID_ARGUMENT")
    assert error["param"] == "messages[0].content"


@pytest.mark.parametrize("payload", [b"{not json", b"[1, 2]", b"", b'"just a string"',
                                     b"\xff\xfe\x00"])
def test_malformed_json_body_is_400(tiny_server: ServerProcess, payload: bytes) -> None:
    _assert_error_body(_raw_post(tiny_server, payload), 400, "INVALID_ARGUMENT")


# -- context window -------------------------------------------------------------------------


def test_max_tokens_beyond_the_context_window_is_400_naming_max_tokens(
    client: openai.OpenAI,
) -> None:
    exc = _bad_request(client, max_tokens=10**6)
    assert exc.param == "max_tokens"
    assert "2048" in exc.message


def test_max_completion_tokens_beyond_the_context_window_names_max_completion_tokens(
    client: openai.OpenAI,
) -> None:
    kwargs: dict[str, Any] = {"model": GEMINI_FLASH_001, "messages": HELLO}
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(max_completion_tokens=10**6, **kwargs)
    assert info.value.param == "max_completion_tokens"
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(max_completion_tokens=10**6, stream=True, **kwargs)
    assert info.value.param == "max_completion_tokens"


def test_max_tokens_is_accepted_up_to_exactly_the_room_left_in_the_context(
    client: openai.OpenAI,
) -> None:
    probe = client.chat.completions.create(model=GEMINI_FLASH_001, messages=HELLO, max_tokens=1)
    assert probe.usage is not None
    room = 2048 - probe.usage.prompt_tokens

    fits = client.chat.completions.create(
        # The stop sequence ends it early: only the admission check is under test.
        model=GEMINI_FLASH_001, messages=HELLO, max_tokens=room, temperature=0, stop=[" "],
    )
    assert fits.choices[0].finish_reason == "stop"
    assert _bad_request(client, max_tokens=room + 1).param == "max_tokens"


def test_prompt_longer_than_the_context_window_is_400_with_token_counts(
    client: openai.OpenAI,
) -> None:
    words = " ".join(f"word{i % 97} apple banana" for i in range(1000))  # ~3000 words
    exc = _bad_request(client, messages=[{"role": "user", "content": words}])
    assert exc.param == "messages"
    assert "2048" in exc.message
    counts = [int(tok) for tok in exc.message.replace(",", " ").split() if tok.isdigit()]
    assert any(count > 2048 for count in counts), (
        f"the message does not say how many tokens the prompt has: {exc.message!r}"
    )


def test_n_above_the_servers_parallel_sequences_is_400_not_a_hang(
    client: openai.OpenAI,
) -> None:
    # tiny_server decodes 4 sequences at once; 5 candidates could never be admitted.
    assert _bad_request(client, n=5).param == "n"


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"temperature": 5}, "temperature"),
        ({"max_tokens": 10**6}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "apple " * 3000}]}, "messages"),
    ],
)
def test_a_streaming_request_that_is_invalid_fails_with_400_before_any_chunk(
    client: openai.OpenAI, overrides: dict[str, Any], param: str
) -> None:
    exc = _bad_request(client, stream=True, **overrides)
    assert exc.param == param


def test_a_streaming_request_for_an_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(
            model="google/gemini-9.9-ultra", messages=HELLO, max_tokens=5, stream=True
        )
    assert info.value.param == "model"


# -- model --------------------------------------------------------------------------------


def test_unknown_model_is_404_not_found_naming_model(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(
            model="google/gemini-9.9-ultra", messages=HELLO, max_tokens=5
        )
    assert info.value.status_code == 404
    assert info.value.param == "model"
    assert "gemini-9.9-ultra" in info.value.message


def test_unknown_model_error_body_is_the_google_shape(tiny_server: ServerProcess) -> None:
    body = {"model": "google/gemini-9.9-ultra", "messages": HELLO}
    error = _assert_error_body(_raw_post(tiny_server, body), 404, "NOT_FOUND")
    assert error["param"] == "model"


# -- body size ----------------------------------------------------------------------------


def test_body_over_the_limit_is_413(busy_client: openai.OpenAI) -> None:
    big = "x " * BUSY_MAX_BODY_BYTES
    with pytest.raises(openai.APIStatusError) as info:
        busy_client.chat.completions.create(
            model=GEMINI_FLASH_001, messages=[{"role": "user", "content": big}], max_tokens=5
        )
    assert info.value.status_code == 413
    assert str(BUSY_MAX_BODY_BYTES) in info.value.message


def test_chunked_body_over_the_limit_is_413(busy_server: ServerProcess) -> None:
    """No Content-Length: the limit is enforced while the body streams in."""

    def chunks() -> Any:
        yield b'{"model": "google/gemini-2.0-flash-001", "messages": [{"role": "user", '
        yield b'"content": "'
        for _ in range(BUSY_MAX_BODY_BYTES // 4096 + 2):
            yield b"y" * 4096
        yield b'"}]}'

    response = _raw_post(busy_server, chunks())  # type: ignore[arg-type]
    _assert_error_body(response, 413, "INVALID_ARGUMENT")


def test_body_just_under_the_limit_is_accepted(busy_client: openai.OpenAI) -> None:
    response = busy_client.chat.completions.create(
        model=GEMINI_FLASH_001,
        messages=[{"role": "user", "content": "Say hi."}],
        max_tokens=3,
        # The bulk rides in an ignored field, so the prompt stays small.
        extra_body={"padding": "p" * (BUSY_MAX_BODY_BYTES - 1024)},
    )
    assert response.choices[0].finish_reason in ("stop", "length")


# -- the server never blamed itself -------------------------------------------------------


def test_none_of_the_bad_requests_caused_an_internal_error(
    tiny_server: ServerProcess, busy_server: ServerProcess
) -> None:
    for server in (tiny_server, busy_server):
        log = server.log_text()
        assert "internal error" not in log.lower(), server.log_tail()
        assert "Traceback" not in log, server.log_tail()
        assert " 500 " not in log, server.log_tail()  # uvicorn's access line, if on
        assert '"status":500' not in log, server.log_tail()  # ours
        assert server.alive
