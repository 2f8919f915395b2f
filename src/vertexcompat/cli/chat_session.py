"""The pure side of `vertexcompat chat`: what the user typed (a message or a command), the
conversation it builds, the request each turn sends, and how a streamed answer is split
into thoughts and answer text. Nothing here does I/O; `cli/chat.py` drives it.

Thoughts are asked for with `extra_body.google.thought_tag_marker` ("think"): the only
way to see them next to `reasoning_effort`, which cannot carry `include_thoughts`, and
without any effort it shows the thoughts of a model that thinks by default. They then
lead the answer's `content` as `<think>…</think>`; `ThoughtSplitter` takes them apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

THOUGHT_TAG = "think"
OPEN_TAG = f"<{THOUGHT_TAG}>"
CLOSE_TAG = f"</{THOUGHT_TAG}>"

# `/effort` values: the `reasoning_effort` the server reads, and `default` to send none
# (the model's default applies).
EFFORTS = ("none", "minimal", "low", "medium", "high")
EFFORT_DEFAULT = "default"

HELP = """\
Type a message to send it; the conversation is kept until /reset.
  /system TEXT    set the system prompt (/system alone clears it)
  /effort LEVEL   reasoning_effort: none, minimal, low, medium, high, or default (not sent)
  /reset          forget the conversation (the system prompt and effort stay)
  /help           this list
  /quit           leave (also /exit, or Ctrl-D)
A line starting with // is sent as a message starting with /."""


# -- what a line is ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Say:
    """A message to send."""

    text: str


@dataclass(frozen=True, slots=True)
class Command:
    """`/name argument`; `name` lower-case, without the slash."""

    name: str
    argument: str = ""


@dataclass(frozen=True, slots=True)
class Blank:
    """An empty line: nothing to do."""


Input = Say | Command | Blank


def parse_input(line: str) -> Input:
    text = line.rstrip("\r\n")
    stripped = text.strip()
    if not stripped:
        return Blank()
    if stripped.startswith("//"):
        return Say(stripped[1:])
    if stripped.startswith("/"):
        name, _, argument = stripped[1:].partition(" ")
        return Command(name.lower(), argument.strip())
    return Say(stripped)


# -- the conversation --------------------------------------------------------------------


@dataclass
class Conversation:
    """One chat: its model, system prompt, thinking effort and the turns so far. A turn is
    recorded only once its answer is complete, so a failed or interrupted request leaves
    the conversation as it was."""

    model: str
    system: str | None = None
    effort: str | None = None  # None: `reasoning_effort` is not sent
    max_tokens: int | None = None
    turns: list[tuple[str, str]] = field(default_factory=list)  # (user, assistant)

    def messages(self, text: str) -> list[dict[str, str]]:
        messages: list[dict[str, str]] = []
        if self.system:
            messages.append({"role": "system", "content": self.system})
        for user, assistant in self.turns:
            messages.append({"role": "user", "content": user})
            messages.append({"role": "assistant", "content": assistant})
        messages.append({"role": "user", "content": text})
        return messages

    def request(self, text: str) -> dict[str, Any]:
        """Keyword arguments for `client.chat.completions.create` for the message `text`."""
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": self.messages(text),
            "stream": True,
            "extra_body": {"google": {"thought_tag_marker": THOUGHT_TAG}},
        }
        if self.effort is not None:
            kwargs["reasoning_effort"] = self.effort
        if self.max_tokens is not None:
            kwargs["max_tokens"] = self.max_tokens
        return kwargs

    def record(self, text: str, answer: str) -> None:
        self.turns.append((text, answer))

    def reset(self) -> None:
        self.turns.clear()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command says back, and whether the chat ends."""

    message: str = ""
    quit: bool = False
    error: bool = False


def apply_command(conversation: Conversation, command: Command) -> Outcome:
    name, argument = command.name, command.argument
    if name in ("quit", "exit", "q"):
        return Outcome(quit=True)
    if name in ("help", "h", "?"):
        return Outcome(HELP)
    if name == "reset":
        if argument:
            return Outcome("/reset takes no argument.", error=True)
        forgotten = len(conversation.turns)
        conversation.reset()
        plural = "" if forgotten == 1 else "s"
        return Outcome(f"Conversation cleared ({forgotten} turn{plural} forgotten).")
    if name == "system":
        conversation.system = argument or None
        return Outcome(f"System prompt set: {argument}" if argument else "System prompt cleared.")
    if name == "effort":
        return _effort(conversation, argument)
    return Outcome(f"Unknown command /{name}; /help lists the commands.", error=True)


def _effort(conversation: Conversation, argument: str) -> Outcome:
    value = argument.lower()
    if not value:
        current = conversation.effort or f"{EFFORT_DEFAULT} (not sent)"
        return Outcome(f"Reasoning effort: {current}.")
    if value == EFFORT_DEFAULT:
        conversation.effort = None
        return Outcome("Reasoning effort: the model's default (reasoning_effort not sent).")
    if value not in EFFORTS:
        valid = ", ".join((*EFFORTS, EFFORT_DEFAULT))
        return Outcome(f"/effort takes one of: {valid}.", error=True)
    conversation.effort = value
    return Outcome(f"Reasoning effort: {value}.")


# -- a streamed answer -------------------------------------------------------------------


class ThoughtSplitter:
    """Splits streamed `content` into ("thought", text) and ("answer", text) pieces: a
    leading `<think>…</think>` holds the thoughts; tags may arrive split across deltas.
    Text is held back only while it could still be the start of a tag."""

    def __init__(self) -> None:
        self._state = "start"  # start → thought → answer, or start → answer
        self._pending = ""
        self._answer_started = False

    def feed(self, text: str) -> list[tuple[str, str]]:
        self._pending += text
        pieces: list[tuple[str, str]] = []
        if self._state == "start":
            if OPEN_TAG.startswith(self._pending):
                return pieces  # maybe the tag, not complete yet
            if self._pending.startswith(OPEN_TAG):
                self._pending = self._pending[len(OPEN_TAG):]
                self._state = "thought"
            else:
                self._state = "answer"
        if self._state == "thought":
            end = self._pending.find(CLOSE_TAG)
            if end < 0:
                keep = _partial_suffix(self._pending, CLOSE_TAG)
                thought, self._pending = self._pending[: len(self._pending) - keep], (
                    self._pending[len(self._pending) - keep:]
                )
                if thought:
                    pieces.append(("thought", thought))
                return pieces
            if end:
                pieces.append(("thought", self._pending[:end]))
            self._pending = self._pending[end + len(CLOSE_TAG):]
            self._state = "answer"
        if self._state == "answer" and self._pending:
            answer, self._pending = self._pending, ""
            if not self._answer_started:
                # The answer after thoughts usually opens with the newline that ended them.
                answer = answer.lstrip("\n")
                self._answer_started = bool(answer)
            if answer:
                pieces.append(("answer", answer))
        return pieces

    def flush(self) -> list[tuple[str, str]]:
        """What is still held back once the stream ended (an unfinished tag is text)."""
        pending, self._pending = self._pending, ""
        if not pending:
            return []
        if self._state == "thought":
            return [("thought", pending)]
        return [("answer", pending)]


def _partial_suffix(text: str, tag: str) -> int:
    """The length of the longest end of `text` that is a proper beginning of `tag`."""
    for size in range(min(len(text), len(tag) - 1), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


# -- errors ------------------------------------------------------------------------------


def describe_api_error(status: int | None, body: object, fallback: str) -> str:
    """One line for an error the server answered with: its HTTP status, Google status,
    message and `param` (the body is `{"error": {…}}`, the error object itself, as a
    stream's error frame gives it, or text)."""
    error: object = body
    if isinstance(body, list) and body:
        error = body[0]
    if isinstance(error, Mapping) and isinstance(error.get("error"), Mapping):
        error = error["error"]
    if not status and isinstance(error, Mapping) and isinstance(error.get("code"), int):
        status = error["code"]  # a stream's error frame: no HTTP status of its own
    head = f"error {status}" if status else "error"
    if isinstance(error, Mapping):
        message = error.get("message") or fallback
        google_status = error.get("status")
        param = error.get("param")
        if google_status:
            head += f" {google_status}"
        line = f"{head}: {message}"
        if param:
            line += f" (param: {param})"
        return line
    if isinstance(error, str) and error.strip():
        return f"{head}: {error.strip()[:500]}"
    return f"{head}: {fallback}"
