"""`vertexcompat chat`: an interactive, streaming, multi-turn chat in the terminal.

    vertexcompat chat --server http://127.0.0.1:8080 [--key demo-key.json] [--model ID]
    vertexcompat chat [--model NAME_OR_PATH] [--threads N] [--data-dir DIR] [--config FILE]

With `--server` it talks to that server's Vertex OpenAI path
(`/v1/projects/{project}/locations/{location}/endpoints/openapi`) through the real `openai`
SDK, with a token from `--key` (as `auth print-access-token --key FILE --server URL` gets
one, renewed when the server says it expired), else `VERTEXCOMPAT_ACCESS_TOKEN`, else a
placeholder (enough for a `--no-auth` server). Without `--server` it runs the engine in
this process (`cli/chat_server.py`) and talks to that the same way.

Commands and conversation state: `cli/chat_session.py`; rendering: `cli/chat_view.py`;
arguments: `cli/parsers/chat.py`. When stdin or stdout is not a terminal, lines are read
from stdin and answers printed as plain text (scriptable); the exit status is then 1 if any
turn failed.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vertexcompat.cli.access_tokens import AccessTokenError, access_token_over_http
from vertexcompat.cli.chat_session import (
    Blank,
    Command,
    Conversation,
    ThoughtSplitter,
    apply_command,
    describe_api_error,
    parse_input,
)
from vertexcompat.cli.parsers.chat import ACCESS_TOKEN_ENV, DEFAULT_PROJECT, DEFAULT_SERVER_MODEL

if TYPE_CHECKING:
    import openai

    from vertexcompat.cli.chat_view import View

# What a `--no-auth` server is sent when no token is at hand (it accepts any bearer).
PLACEHOLDER_TOKEN = "no-token"
PROMPT = "› "


def run(args: argparse.Namespace) -> int:
    try:
        import openai
    except ImportError:
        print("vertexcompat: `chat` needs the openai package (pip install openai)",
              file=sys.stderr)
        return 1
    from vertexcompat.cli.chat_view import PlainView, TerminalView

    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    view: View = TerminalView() if interactive else PlainView()
    with contextlib.ExitStack() as stack:
        if args.server:
            base = args.server.rstrip("/")
            model = args.model or DEFAULT_SERVER_MODEL
            try:
                token, renew, project = _credentials(args, base)
            except AccessTokenError as exc:
                view.error(f"vertexcompat: no access token: {exc}")
                return 1
        else:
            started = _start_in_process(args, view, stack)
            if started is None:
                return 1
            base, model = started
            token, renew, project = PLACEHOLDER_TOKEN, None, args.project or DEFAULT_PROJECT
        client = openai.OpenAI(
            base_url=vertex_base_url(base, project, args.location),
            api_key=token,
            max_retries=1,
            timeout=openai.Timeout(600, connect=10),
        )
        stack.callback(client.close)
        conversation = Conversation(model, max_tokens=args.max_tokens)
        if interactive:
            where = base if args.server else "in this process"
            view.info(f"{model} · {where} · /help for commands, Ctrl-D to leave")
        refresh = _token_refresher(client, renew)
        code = chat_loop(client, conversation, view, _line_reader(interactive), refresh)
    return code


def vertex_base_url(server: str, project: str, location: str) -> str:
    return f"{server}/v1/projects/{project}/locations/{location}/endpoints/openapi"


def _credentials(
    args: argparse.Namespace, server: str
) -> tuple[str, Callable[[], str] | None, str]:
    """The bearer token, how to get a fresh one (None: no way), and the project."""
    if args.key is not None:

        def renew() -> str:
            return access_token_over_http(args.key, server)

        project = args.project or _key_project(args.key) or DEFAULT_PROJECT
        return renew(), renew, project
    token = os.environ.get(ACCESS_TOKEN_ENV) or PLACEHOLDER_TOKEN
    return token, None, args.project or DEFAULT_PROJECT


def _key_project(path: Path) -> str | None:
    import json

    try:
        project = json.loads(path.read_text(encoding="utf-8")).get("project_id")
    except (OSError, ValueError, AttributeError):
        return None
    return project if isinstance(project, str) and project else None


def _token_refresher(
    client: openai.OpenAI, renew: Callable[[], str] | None
) -> Callable[[], bool] | None:
    if renew is None:
        return None

    def refresh() -> bool:
        try:
            client.api_key = renew()
        except AccessTokenError:
            return False
        return True

    return refresh


def _start_in_process(
    args: argparse.Namespace, view: View, stack: contextlib.ExitStack
) -> tuple[str, str] | None:
    """Start the engine in this process: (its base URL, the model id to ask for)."""
    from vertexcompat.cli.chat_server import EmbeddedServer, EngineNotReady
    from vertexcompat.config import load_settings

    log_level = args.log_level or "error"
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.key is not None:
        view.info("(--key is for --server; the in-process server needs no token)")
    settings = load_settings(
        args.config,
        model=args.model,
        threads=args.threads,
        ctx_per_seq=args.ctx_per_seq,
        data_dir=args.data_dir,
        log_level=log_level,
        host="127.0.0.1",
        # A private loopback server for one user: no auth, one sequence at a time.
        auth_enabled=False,
        parallel=1,
    )
    server = EmbeddedServer(settings, log_level=log_level)
    try:
        with view.status(f"Loading {settings.model_name} in this process…"):
            server.start()
            stack.callback(server.stop)
            server.wait_ready()
    except EngineNotReady as exc:
        view.error(f"vertexcompat: {exc}")
        return None
    except KeyboardInterrupt:
        return None
    return server.base_url, settings.model_name


def _line_reader(interactive: bool) -> Callable[[], str]:
    """A function giving the next line; EOFError at the end of input (Ctrl-D)."""
    if interactive:
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401  (line editing and history for input())

        return lambda: input(PROMPT)

    def read() -> str:
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line

    return read


# -- the conversation loop ---------------------------------------------------------------


def chat_loop(
    client: Any,
    conversation: Conversation,
    view: View,
    read_line: Callable[[], str],
    refresh_token: Callable[[], bool] | None = None,
) -> int:
    failed = False
    while True:
        try:
            line = read_line()
        except EOFError:
            if view.interactive:
                print()
            break
        except KeyboardInterrupt:
            view.info("\n(Ctrl-D or /quit to leave)")
            continue
        item = parse_input(line)
        if isinstance(item, Blank):
            continue
        if isinstance(item, Command):
            outcome = apply_command(conversation, item)
            if outcome.quit:
                break
            (view.error if outcome.error else view.info)(outcome.message)
            continue
        if not run_turn(client, conversation, item.text, view, refresh_token):
            failed = True
    return 1 if failed and not view.interactive else 0


def run_turn(
    client: Any,
    conversation: Conversation,
    text: str,
    view: View,
    refresh_token: Callable[[], bool] | None = None,
) -> bool:
    """Send `text` with the conversation so far and show the streamed answer. The turn is
    kept only when an answer came back whole; every failure is shown and the chat goes on."""
    import openai

    request = conversation.request(text)
    retried = False
    while True:
        try:
            answer, note = _stream_answer(client, request, view)
        except openai.AuthenticationError as exc:
            # A token lasts an hour: a key file can get the next one, once.
            if refresh_token is not None and not retried and refresh_token():
                retried = True
                continue
            view.error(describe_api_error(exc.status_code, exc.body, exc.message))
            return False
        except openai.APIStatusError as exc:
            view.error(_with_hint(describe_api_error(exc.status_code, exc.body, exc.message),
                                  conversation))
            return False
        except openai.APIConnectionError as exc:
            view.error(f"error: cannot reach {client.base_url}: {_cause(exc)}")
            return False
        except openai.APIError as exc:  # an error frame in the middle of the stream
            view.error(_with_hint(describe_api_error(None, exc.body, exc.message), conversation))
            return False
        except KeyboardInterrupt:
            view.info("(interrupted: this turn is not kept)")
            return False
        break
    if answer.strip():
        conversation.record(text, answer)
    elif note is None:
        view.info("(empty answer: this turn is not kept)")
    return True


def _stream_answer(client: Any, request: dict[str, Any], view: View) -> tuple[str, str | None]:
    stream = client.chat.completions.create(**request)
    splitter = ThoughtSplitter()
    answer: list[str] = []
    finish: str | None = None
    with contextlib.closing(stream), view.answer() as out:

        def show(pieces: list[tuple[str, str]]) -> None:
            for kind, piece in pieces:
                if kind == "answer":
                    answer.append(piece)
                out.add(kind, piece)

        for chunk in stream:
            for choice in chunk.choices or ():
                if choice.index != 0:
                    continue
                delta = choice.delta
                reasoning = getattr(delta, "reasoning_content", None) if delta else None
                if isinstance(reasoning, str) and reasoning:
                    out.add("thought", reasoning)
                if delta is not None and delta.content:
                    show(splitter.feed(delta.content))
                if choice.finish_reason:
                    finish = choice.finish_reason
        show(splitter.flush())
        note = finish_note(finish)
        out.finish(note)
    return "".join(answer), note


def finish_note(finish_reason: str | None) -> str | None:
    return {
        "length": "(cut off: max_tokens reached)",
        "content_filter": "(stopped by the safety settings)",
    }.get(finish_reason or "")


def _with_hint(message: str, conversation: Conversation) -> str:
    if conversation.turns and "context" in message.lower():
        return f"{message} — /reset starts a new conversation"
    return message


def _cause(exc: BaseException) -> str:
    """The innermost reason with something to say (`[Errno 111] Connection refused`)."""
    said = str(exc)
    cause = exc.__cause__ or exc.__context__
    seen = 0
    while cause is not None and seen < 10:
        if str(cause):
            said = str(cause)
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return said
