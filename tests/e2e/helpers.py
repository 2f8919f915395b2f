"""Small shared pieces of the e2e suite: model ids, prompts, and stream bookkeeping."""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from openai.types.chat import ChatCompletionChunk

from vertexcompat.auth.jwt_bearer import GOOGLE_TOKEN_URI, sign_assertion

GEMINI_FLASH_001 = "google/gemini-2.0-flash-001"
GEMINI_FLASH = "google/gemini-2.0-flash"
AUTH = {"Authorization": "Bearer anything"}

# A short request whose answer is long enough for every test that needs a few tokens.
HELLO = [{"role": "user", "content": "Hello! Tell me about the sea."}]

# Negative penalties make every token already produced MORE likely, so the tiny model loops
# and never emits end-of-sequence: a generation that runs until `max_tokens`. Tests that need
# a request to still be generating while they look (queue, disconnect) use this.
ENDLESS = {
    "messages": [{"role": "user", "content": "Write a story."}],
    "temperature": 0,
    "frequency_penalty": -2.0,
    "presence_penalty": -2.0,
}


@dataclass
class CollectedStream:
    chunks: list[ChatCompletionChunk] = field(default_factory=list)
    # choice index → [(position in `chunks`, choice delta object, finish_reason)]
    per_choice: dict[int, list[tuple[int, Any, str | None]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def text(self, index: int = 0) -> str:
        return "".join(delta.content or "" for _, delta, _ in self.per_choice[index])

    def finish_reasons(self, index: int) -> list[str]:
        return [reason for _, _, reason in self.per_choice[index] if reason is not None]

    def usage_chunks(self) -> list[ChatCompletionChunk]:
        return [c for c in self.chunks if c.usage is not None]


def collect(stream: Iterable[ChatCompletionChunk]) -> CollectedStream:
    out = CollectedStream()
    for chunk in stream:
        out.chunks.append(chunk)
        for choice in chunk.choices:
            out.per_choice[choice.index].append(
                (len(out.chunks) - 1, choice.delta, choice.finish_reason)
            )
    return out


def assert_well_formed_stream(collected: CollectedStream, *, n: int) -> None:
    """Per choice: the first delta carries `role: assistant`, exactly one chunk has a
    finish_reason and it is that choice's last chunk; all chunks share id/created/model."""
    assert collected.chunks, "the stream produced no chunks"
    assert sorted(collected.per_choice) == list(range(n)), (
        f"choice indexes {sorted(collected.per_choice)} != {list(range(n))}"
    )
    for index, entries in collected.per_choice.items():
        assert entries[0][1].role == "assistant", (
            f"choice {index}: first delta is {entries[0][1]!r}, expected role=assistant"
        )
        reasons = [(pos, reason) for pos, _, reason in entries if reason is not None]
        assert len(reasons) == 1, f"choice {index}: finish_reasons {reasons}, expected one"
        assert reasons[0][0] == entries[-1][0], (
            f"choice {index}: finish_reason chunk #{reasons[0][0]} is not its last chunk "
            f"#{entries[-1][0]}"
        )
        for _, delta, _ in entries[1:]:
            assert delta.role in (None, "assistant")
    first = collected.chunks[0]
    for chunk in collected.chunks:
        assert chunk.object == "chat.completion.chunk"
        assert (chunk.id, chunk.created, chunk.model) == (first.id, first.created, first.model)
    assert first.id.startswith("chatcmpl-")


def sse_data_frames(response: httpx.Response) -> Iterator[str]:
    """The `data:` payloads of an SSE response, frame by frame (raw strings)."""
    buffer = ""
    for text in response.iter_text():
        buffer += text
        while "\n\n" in buffer:
            frame, buffer = buffer.split("\n\n", 1)
            lines = [line for line in frame.split("\n") if line]
            data = [line[len("data: "):] for line in lines if line.startswith("data: ")]
            assert len(data) == len(lines), f"unexpected SSE frame {frame!r}"
            yield "\n".join(data)
    assert buffer.strip() == "", f"trailing bytes after the last SSE frame: {buffer!r}"


def raw_frames(response: httpx.Response) -> list[dict[str, Any] | str]:
    """All frames, JSON-decoded except the literal `[DONE]`."""
    return [f if f == "[DONE]" else json.loads(f) for f in sse_data_frames(response)]


def post_stream_frames(
    url: str, body: dict[str, Any], *, timeout: float = 120
) -> tuple[httpx.Response, list[dict[str, Any] | str]]:
    """POST a streaming chat request with raw httpx; the (closed) response and its frames."""
    with httpx.stream("POST", url, json=body, headers=AUTH, timeout=timeout) as response:
        assert response.status_code == 200, response.read()
        frames = raw_frames(response)
    return response, frames


def sign_assertions(key: dict[str, Any], count: int = 3) -> list[str]:
    """`count` JWT-bearer assertions for a service-account key file (distinct `iat`s, so
    each is a new grant), as google-auth signs them."""
    now = int(time.time())
    return [sign_assertion({"iat": now + i, "exp": now + 3600, "iss": key["client_email"],
                            "aud": GOOGLE_TOKEN_URI,
                            "scope": "https://www.googleapis.com/auth/cloud-platform"},
                           private_key_pem=key["private_key"], key_id=key["private_key_id"])
            for i in range(count)]


def run_cli(*args: str) -> str:
    """`vertexcompat ARGS...`, the CLI's own code run in this process, and what it printed
    (it must exit 0): a `python -m vertexcompat auth ...` still costs ~0.35 s of CPU in
    interpreter start and imports (the settings). Tests about a command itself
    (tests/e2e/test_auth.py, test_chat_cli.py) run it as a user would, in a subprocess."""
    from vertexcompat.cli.main import main as cli_main

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        code = cli_main(list(args))
    assert code == 0, printed.getvalue()
    return printed.getvalue()


def create_service_account_key(data_dir: Path, project: str, out: Path, port: int,
                               *extra: str) -> Path:
    """`vertexcompat auth create-service-account` in this process (`run_cli`): the key
    file `out`, for the token endpoint on `port`."""
    run_cli("auth", "create-service-account", "--project", project, "--out", str(out),
            "--port", str(port), "--data-dir", str(data_dir), *extra)
    return out
