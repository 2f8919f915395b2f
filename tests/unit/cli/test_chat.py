"""`vertexcompat chat`'s conversation loop with the real `openai` SDK on a fake transport:
streamed answers and thoughts, errors that leave the chat going, token renewal, and what
the terminal and the plain views print."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import openai
import pytest
from rich.console import Console

from vertexcompat.cli import chat_server
from vertexcompat.cli.chat import chat_loop, run_turn, vertex_base_url
from vertexcompat.cli.chat_session import Conversation
from vertexcompat.cli.chat_view import PlainView, TerminalView
from vertexcompat.cli.main import main

BASE = "http://chat.test/v1/projects/p/locations/l/endpoints/openapi"


def sse(*contents: str, finish: str = "stop") -> bytes:
    frames = [{"delta": {"role": "assistant"}}]
    frames += [{"delta": {"content": c}} for c in contents]
    frames.append({"delta": {}, "finish_reason": finish})
    out = b""
    for frame in frames:
        choice = {"index": 0, "finish_reason": None, **frame}
        chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
                 "choices": [choice]}
        out += f"data: {json.dumps(chunk)}\n\n".encode()
    return out + b"data: [DONE]\n\n"


def streaming(body: bytes) -> httpx2.Response:
    return httpx2.Response(200, content=body, headers={"content-type": "text/event-stream"})


class FakeServer:
    """Answers each request with the next responder; keeps what was sent."""

    def __init__(self, *responders: Callable[[httpx2.Request], httpx2.Response]) -> None:
        self._responders: Iterator[Callable[[httpx2.Request], httpx2.Response]] = iter(responders)
        self.requests: list[dict[str, Any]] = []
        self.tokens: list[str] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(json.loads(request.content))
        self.tokens.append(request.headers["authorization"])
        return next(self._responders)(request)

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=BASE, api_key="first", max_retries=0,
                             http_client=httpx2.Client(transport=httpx2.MockTransport(self)))


def plain() -> tuple[PlainView, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return PlainView(out, err), out, err


def lines(*texts: str) -> Callable[[], str]:
    queue = iter(texts)

    def read() -> str:
        try:
            return next(queue) + "\n"
        except StopIteration:
            raise EOFError from None

    return read


def test_a_conversation_streams_answers_and_sends_its_history() -> None:
    server = FakeServer(lambda r: streaming(sse("Hello", " there!")),
                        lambda r: streaming(sse("<think>", "hmm", "</think>", "\nFine.")))
    view, out, err = plain()
    chat = Conversation("google/gemini-2.5-flash", max_tokens=32)
    code = chat_loop(server.client(), chat, view,
                     lines("Hi", "/system Be brief.", "/effort low", "How are you?"))
    assert code == 0
    assert out.getvalue() == "Hello there!\nFine.\n"
    assert "System prompt set: Be brief." in err.getvalue() and "hmm" in err.getvalue()
    first, second = server.requests
    assert first["messages"] == [{"role": "user", "content": "Hi"}]
    assert first["stream"] is True and first["max_tokens"] == 32
    assert first["google"] == {"thought_tag_marker": "think"}
    assert "reasoning_effort" not in first
    assert second["reasoning_effort"] == "low"
    assert second["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello there!"},
        {"role": "user", "content": "How are you?"},
    ]
    assert chat.turns == [("Hi", "Hello there!"), ("How are you?", "Fine.")]


def test_a_400_is_one_readable_line_and_the_chat_goes_on() -> None:
    error = {"error": {"code": 400, "message": "The prompt is 731 tokens, but the model's "
                       "context window is 512 tokens.", "status": "INVALID_ARGUMENT",
                       "param": "messages"}}
    server = FakeServer(lambda r: streaming(sse("One.")),
                        lambda r: httpx2.Response(400, json=error),
                        lambda r: streaming(sse("Two.")))
    view, out, err = plain()
    chat = Conversation("m")
    assert chat_loop(server.client(), chat, view, lines("a", "b", "c")) == 1  # piped: 1
    assert out.getvalue() == "One.\nTwo.\n"
    assert ("error 400 INVALID_ARGUMENT: The prompt is 731 tokens, but the model's context "
            "window is 512 tokens. (param: messages) — /reset starts a new conversation"
            ) in err.getvalue()
    assert chat.turns == [("a", "One."), ("c", "Two.")]  # the failed turn is not kept
    assert server.requests[2]["messages"][-1] == {"role": "user", "content": "c"}


def test_an_error_frame_mid_stream_is_shown_and_the_turn_dropped() -> None:
    broken = sse("partial")[:-len(b"data: [DONE]\n\n")] + (
        b'data: {"error": {"code": 503, "message": "The model went away.", '
        b'"status": "UNAVAILABLE"}}\n\n')
    server = FakeServer(lambda r: streaming(broken))
    view, out, err = plain()
    chat = Conversation("m")
    assert not run_turn(server.client(), chat, "hi", view)
    assert "error 503 UNAVAILABLE: The model went away." in err.getvalue()
    assert chat.turns == []


def test_connection_refused_is_said_plainly() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("[Errno 111] Connection refused", request=request)

    view, _, err = plain()
    assert not run_turn(FakeServer(refuse).client(), Conversation("m"), "hi", view)
    assert err.getvalue().startswith(f"error: cannot reach {BASE}/: ")
    assert "Connection refused" in err.getvalue()


def test_an_expired_token_is_renewed_once_from_the_key_file() -> None:
    unauthenticated = {"error": {"code": 401, "message": "Token expired.",
                                 "status": "UNAUTHENTICATED"}}
    server = FakeServer(lambda r: httpx2.Response(401, json=unauthenticated),
                        lambda r: streaming(sse("ok")),
                        lambda r: httpx2.Response(401, json=unauthenticated),
                        lambda r: httpx2.Response(401, json=unauthenticated))
    client = server.client()
    renewals: list[str] = []

    def refresh() -> bool:
        renewals.append("x")
        client.api_key = f"renewed-{len(renewals)}"
        return True

    view, out, err = plain()
    assert run_turn(client, Conversation("m"), "hi", view, refresh)
    assert server.tokens[:2] == ["Bearer first", "Bearer renewed-1"]
    assert out.getvalue() == "ok\n"
    # Still refused with a fresh token: said once, not retried forever.
    assert not run_turn(client, Conversation("m"), "hi", view, refresh)
    assert len(server.requests) == 4
    assert "error 401 UNAUTHENTICATED: Token expired." in err.getvalue()


def test_an_answer_cut_by_max_tokens_says_so() -> None:
    server = FakeServer(lambda r: streaming(sse("<think>", "long thoughts", finish="length")))
    view, out, err = plain()
    chat = Conversation("m")
    assert run_turn(server.client(), chat, "hi", view)
    assert out.getvalue() == ""
    assert "long thoughts" in err.getvalue()
    assert "(cut off: max_tokens reached)" in err.getvalue()
    assert chat.turns == []  # nothing to keep: no answer text


def test_the_terminal_view_prints_the_answer_as_markdown_and_thoughts_dimmed() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=60, height=20,
                      color_system="standard")
    server = FakeServer(lambda r: streaming(
        sse("<think>", "Consider it.", "</think>", "# Title\n\n", "Some **bold** text.")))
    assert run_turn(server.client(), Conversation("m"), "hi", TerminalView(console))
    output = buffer.getvalue()
    assert "\x1b[2;3mConsider it.\x1b[0m" in output  # dim italic
    assert "Title" in output and "# Title" not in output  # rendered, not raw Markdown
    assert "\x1b[1mbold\x1b[0m" in output
    assert "**" not in output


def test_interactive_exit_status_is_0_even_after_errors() -> None:
    server = FakeServer(lambda r: httpx2.Response(400, json={"error": {"message": "no"}}))
    console = Console(file=io.StringIO(), force_terminal=True, width=60)
    assert chat_loop(server.client(), Conversation("m"), TerminalView(console),
                     lines("x", "/quit", "never read")) == 0


def test_vertex_base_url_and_the_command_is_registered(capsys: pytest.CaptureFixture[str]) -> None:
    assert vertex_base_url("http://h:1", "demo", "us-central1") == (
        "http://h:1/v1/projects/demo/locations/us-central1/endpoints/openapi")
    with pytest.raises(SystemExit):
        main(["chat", "--help"])
    assert "--server URL" in capsys.readouterr().out


def test_a_failed_model_load_is_reported_from_readyz() -> None:
    failed = httpx.Response(503, json={"status": "unavailable", "backends": {
        "local": "failed: FileNotFoundError: no such model", "ep": "ready"}})
    loading = httpx.Response(503, json={"backends": {"local": "loading", "ep": "failed: x"}})
    assert chat_server._load_problem(failed) == (
        "the model did not load: FileNotFoundError: no such model")
    assert chat_server._load_problem(loading) is None
    assert chat_server._load_problem(httpx.Response(503, text="not json")) is None


def _args(**given: Any) -> Any:
    import argparse

    defaults = {"key": None, "project": None}
    return argparse.Namespace(**{**defaults, **given})


def test_credentials_come_from_the_key_file_else_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from vertexcompat.cli import chat

    monkeypatch.delenv(chat.ACCESS_TOKEN_ENV, raising=False)
    assert chat._credentials(_args(), "http://s") == (chat.PLACEHOLDER_TOKEN, None, "default")
    monkeypatch.setenv(chat.ACCESS_TOKEN_ENV, "from-env")
    assert chat._credentials(_args(project="p"), "http://s") == ("from-env", None, "p")

    key = tmp_path / "key.json"
    key.write_text(json.dumps({"project_id": "keyed"}))
    issued = (f"t{n}" for n in range(1, 10))
    seen: list[tuple[Path, str]] = []

    def fake_exchange(path: Path, server: str) -> str:
        seen.append((path, server))
        return next(issued)

    monkeypatch.setattr(chat, "access_token_over_http", fake_exchange)
    token, renew, project = chat._credentials(_args(key=key), "http://s")
    assert (token, project) == ("t1", "keyed")
    assert renew is not None and renew() == "t2"
    assert seen == [(key, "http://s"), (key, "http://s")]
    assert chat._credentials(_args(key=key, project="other"), "http://s")[2] == "other"


def test_a_key_file_token_from_a_server_that_is_not_there_says_where(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import socket

    from vertexcompat.cli.access_tokens import AccessTokenError, access_token_over_http

    for name in list(os.environ):
        if name.startswith("VERTEXCOMPAT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("VERTEXCOMPAT_DATA_DIR", str(tmp_path / "data"))
    key = tmp_path / "key.json"
    assert main(["auth", "create-service-account", "--project", "p", "--out", str(key)]) == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(AccessTokenError, match=rf"http://127.0.0.1:{port}/token: "):
        access_token_over_http(key, f"http://127.0.0.1:{port}")
    with pytest.raises(AccessTokenError, match="cannot read key file"):
        access_token_over_http(tmp_path / "missing.json", "http://127.0.0.1:1")
