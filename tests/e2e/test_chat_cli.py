"""`vertexcompat chat` end to end: the real command under a pseudo-terminal (stdlib `pty`)
against a live tiny server that keeps its rendered prompts (`--debug-prompts`), so what
the chat sent is read back as the model read it; and the in-process mode, piped.

The answers are the tiny model's: the tests check what reaches the server and what the
terminal shows, not what the model says.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import TINY_MODEL
from .helpers import create_service_account_key
from .server import ServerProcess, free_port

pytestmark = pytest.mark.timeout(120)

PROMPT = "›"
ROWS, COLUMNS = 40, 120
# Terminal control sequences (CSI, OSC, and the keypad-mode escapes readline writes).
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[=>]")
# The instruction the local backend adds to the system turn when a request thinks.
THINKING_INSTRUCTION = "think it through step by step"


# An error line of the chat (`error 400 INVALID_ARGUMENT: …`, `error: cannot reach …`).
_ERROR_LINE = re.compile(r"^error( \d+)?( [A-Z_]+)?: ", re.MULTILINE)


def visible(raw: bytes) -> str:
    return _CONTROL.sub("", raw.decode("utf-8", errors="replace")).replace("\r", "")


def words(text: str) -> list[str]:
    return text.split()


class ChatTerminal:
    """`python -m vertexcompat chat …` with a pseudo-terminal as its stdin, stdout and
    stderr; a thread reads everything it writes, with the time each read came."""

    def __init__(self, *args: str) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "PYTHONUNBUFFERED": "1"}
        env.pop("VERTEXCOMPAT_ACCESS_TOKEN", None)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "vertexcompat", "chat", *args],
            stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
        )
        os.close(slave)
        self._master = master
        self.reads: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._master, 65536)
            except OSError:  # EIO: the child closed the terminal
                return
            if not data:
                return
            with self._lock:
                self.reads.append((time.monotonic(), data))

    @property
    def raw(self) -> bytes:
        with self._lock:
            return b"".join(data for _, data in self.reads)

    def wait_idle(self, since: int, *, expect: str | None = None, timeout: float = 60) -> str:
        """Until the output written since byte `since` (with `expect` in it) ends with the
        prompt again; that output, as text."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = visible(self.raw[since:])
            if text.rstrip().endswith(PROMPT) and (expect is None or expect in text):
                return text
            if self._proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(
            f"no prompt{f' after {expect!r}' if expect else ''} within {timeout:.0f}s "
            f"(exit code {self._proc.poll()}); the terminal shows:\n{visible(self.raw)[-3000:]}"
        )

    def start(self) -> str:
        return self.wait_idle(0)

    def say(self, line: str, *, expect: str | None = None) -> str:
        since = len(self.raw)
        os.write(self._master, line.encode() + b"\r")
        return self.wait_idle(since, expect=expect)

    def ctrl_d(self, timeout: float = 20) -> int:
        os.write(self._master, b"\x04")
        return self._proc.wait(timeout)

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)
        self._reader.join(5)
        os.close(self._master)


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("chat-cli")
    # A 512-token context, so one long message is a 400 (the prompt does not fit).
    process = ServerProcess(
        "chat-cli", model=TINY_MODEL, data_dir=data_dir, log_dir=root, threads=1,
        parallel=1, ctx_per_seq=512, env={"VERTEXCOMPAT_SEARCH_INDEX_DIR": str(root / "index")},
        extra_args=("--no-auth", "--debug-prompts"),
    )
    process.start(ready_timeout=120)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def open_chat(server: ServerProcess) -> Iterator[Callable[..., ChatTerminal]]:
    """Opens the chat on the server (answers of at most `max_tokens`); closed after the test."""
    opened: list[ChatTerminal] = []

    def open_(max_tokens: int = 16) -> ChatTerminal:
        chat = ChatTerminal("--server", server.base_url, "--model", TINY_MODEL,
                            "--project", "demo", "--max-tokens", str(max_tokens))
        opened.append(chat)
        return chat

    yield open_
    for chat in opened:
        chat.close()


@pytest.fixture
def terminal(open_chat: Callable[..., ChatTerminal]) -> ChatTerminal:
    return open_chat()


def prompt_with(server: ServerProcess, token: str) -> str:
    """The last prompt the server rendered that holds `token`."""
    r = httpx.get(f"{server.base_url}/v1/debug/prompts",
                  headers={"Authorization": "Bearer x"}, timeout=10)
    assert r.status_code == 200, r.text
    found = [p for p in r.json()["data"] if token in p]
    assert found, f"no rendered prompt holds {token!r}"
    return str(found[-1])


def test_an_answer_streams_into_the_terminal_and_ctrl_d_leaves(
    open_chat: Callable[..., ChatTerminal], server: ServerProcess
) -> None:
    terminal = open_chat(max_tokens=48)  # long enough to be drawn several times
    banner = terminal.start()
    assert "/help" in banner and TINY_MODEL in banner
    sent_at = time.monotonic()
    since = len(terminal.raw)
    shown = terminal.say("Tell me a story about a cat.")
    answer = shown.rsplit(PROMPT, 1)[0].split("Tell me a story about a cat.", 1)[1]
    assert answer.strip(), shown
    # Streamed: the answer was drawn several times while it grew, not printed once.
    frames = [visible(data) for at, data in terminal.reads if at >= sent_at]
    frames = [f for f in frames if len(words(f)) >= 2 and "Tell me a story" not in f]
    assert len(frames) >= 3, frames
    first, last = words(frames[0]), words(visible(terminal.raw[since:]))
    assert len(first) < len(words(answer))
    assert " ".join(first[:2]) in " ".join(last)
    assert "Tell me a story about a cat." in prompt_with(server, "Tell me a story")
    assert terminal.ctrl_d() == 0


def test_system_prompt_history_reset_and_effort_reach_the_server(
    terminal: ChatTerminal, server: ServerProcess
) -> None:
    terminal.start()
    assert "System prompt set" in terminal.say("/system You are terse.")
    terminal.say("Remember the word ALPHA7.")
    system_turn = prompt_with(server, "ALPHA7").split("<|im_end|>")[0]
    assert "You are terse." in system_turn

    terminal.say("What was the word? BRAVO8")
    second = prompt_with(server, "BRAVO8")
    assert "ALPHA7" in second and "You are terse." in second  # multi-turn
    assert THINKING_INSTRUCTION not in second

    assert "Conversation cleared (2 turns forgotten)" in terminal.say("/reset")
    terminal.say("Fresh start CHARLIE9.")
    fresh = prompt_with(server, "CHARLIE9")
    assert "ALPHA7" not in fresh and "BRAVO8" not in fresh
    assert "You are terse." in fresh  # the system prompt outlives /reset

    assert "Reasoning effort: low" in terminal.say("/effort low")
    shown = terminal.say("Think about DELTA10.")
    assert not _ERROR_LINE.search(shown), shown
    assert THINKING_INSTRUCTION in prompt_with(server, "DELTA10")
    assert terminal.ctrl_d() == 0


def test_a_bad_request_shows_an_error_line_and_the_chat_goes_on(
    terminal: ChatTerminal, server: ServerProcess
) -> None:
    terminal.start()
    assert "Unknown command /nope" in terminal.say("/nope")
    too_long = "word " * 700  # over the 512-token context
    shown = terminal.say(too_long.strip(), expect="error 400")
    assert _ERROR_LINE.search(shown)
    said = " ".join(shown.split())  # rich wraps the line at the terminal's width
    assert "error 400 INVALID_ARGUMENT" in said and "context window is 512 tokens" in said
    assert "(param: messages)" in said
    after = terminal.say("Hello ECHO11, how are you?")
    assert not _ERROR_LINE.search(after), after
    assert after.split("how are you?", 1)[1].rsplit(PROMPT, 1)[0].strip()
    assert "word word" not in prompt_with(server, "ECHO11")  # the failed turn is not kept
    assert terminal.ctrl_d() == 0


def test_connection_refused_is_an_error_line_and_the_chat_goes_on() -> None:
    chat = ChatTerminal("--server", f"http://127.0.0.1:{free_port()}", "--model", TINY_MODEL)
    try:
        chat.start()
        shown = chat.say("Anyone there?", expect="cannot reach")
        assert "Connection refused" in shown
        assert "Reasoning effort: high" in chat.say("/effort high")
        assert chat.ctrl_d() == 0
    finally:
        chat.close()


def test_a_key_file_gets_a_token_from_an_auth_server(
    data_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    state = tmp_path / "state"
    key = tmp_path / "key.json"
    create_service_account_key(state, "keyed", key, port)  # the chat CLI is what is tested
    (state / "models").symlink_to(data_dir / "models")  # the tiny model, already assembled
    auth_server = ServerProcess("chat-auth", model=TINY_MODEL, data_dir=state, log_dir=tmp_path,
                                threads=1, parallel=1, ctx_per_seq=512, port=port,
                                env={"VERTEXCOMPAT_SEARCH_INDEX_DIR": str(tmp_path / "index")})
    auth_server.start(ready_timeout=120)
    try:
        common = ["--server", auth_server.base_url, "--model", TINY_MODEL, "--max-tokens", "8"]
        keyed = subprocess.run(
            [sys.executable, "-m", "vertexcompat", "chat", *common, "--key", str(key)],
            input="Hi\n", capture_output=True, text=True, timeout=60,
        )
        assert keyed.returncode == 0, keyed.stderr
        assert keyed.stdout.strip()
        anonymous = subprocess.run(
            [sys.executable, "-m", "vertexcompat", "chat", *common, "--project", "keyed"],
            input="Hi\n", capture_output=True, text=True, timeout=60,
            env={k: v for k, v in os.environ.items() if k != "VERTEXCOMPAT_ACCESS_TOKEN"},
        )
        assert anonymous.returncode == 1 and not anonymous.stdout
        assert "error 401 UNAUTHENTICATED" in anonymous.stderr
    finally:
        auth_server.stop()


def test_in_process_piped_answers_one_question(data_dir: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "vertexcompat", "chat", "--model", TINY_MODEL, "--threads", "1",
         "--data-dir", str(data_dir), "--max-tokens", "24"],
        input="What is the capital of France?\n", capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip(), run.stderr
    assert "\x1b[" not in run.stdout  # plain text when piped
    assert f"Loading {TINY_MODEL}" in run.stderr
