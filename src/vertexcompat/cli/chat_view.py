"""How `vertexcompat chat` shows a conversation.

`TerminalView` (stdin and stdout are a terminal): `rich` — the answer is live Markdown while
it streams (only its last screenful, so the live region never outgrows the terminal), the
thoughts dimmed above it; once complete, the whole turn is printed once more as it stays
in the scrollback. `PlainView` (anything piped): answers as plain text on stdout, written as
they stream; thoughts, notes and errors on stderr, so stdout holds only the answers.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import IO, Protocol

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.markdown import Markdown
from rich.segment import Segment
from rich.text import Text

# Live redraws at most this often (each redraw renders the Markdown so far).
REFRESH_S = 1 / 15


class AnswerOut(Protocol):
    def add(self, kind: str, text: str) -> None:
        """`kind`: "thought" or "answer"."""

    def finish(self, note: str | None) -> None: ...


class View(Protocol):
    interactive: bool

    def answer(self) -> AbstractContextManager[AnswerOut]: ...
    def info(self, message: str) -> None: ...
    def error(self, message: str) -> None: ...
    def status(self, message: str) -> AbstractContextManager[None]: ...


# -- the terminal ------------------------------------------------------------------------


class _Tail:
    """The last `height` lines of a renderable: a live region taller than the terminal
    could not be redrawn in place."""

    def __init__(self, renderable: RenderableType, height: int) -> None:
        self._renderable = renderable
        self._height = max(1, height)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = console.render_lines(self._renderable, options, pad=False)
        for line in lines[-self._height:]:
            yield from line
            yield Segment.line()


def _turn(thoughts: str, answer: str, note: str | None = None) -> Group:
    parts: list[RenderableType] = []
    if thoughts.strip():
        parts.append(Text(thoughts.strip(), style="dim italic"))
        if answer.strip():
            parts.append(Text(""))
    if answer.strip():
        parts.append(Markdown(answer))
    if note:
        parts.append(Text(note, style="dim"))
    return Group(*parts)


class _LiveAnswer:
    def __init__(self, console: Console) -> None:
        self._console = console
        self.thoughts = ""
        self.text = ""
        self._note: str | None = None
        self._shown = 0.0
        self._live = Live(console=console, auto_refresh=False, transient=True)

    def __enter__(self) -> _LiveAnswer:
        self._live.start()
        return self

    def add(self, kind: str, text: str) -> None:
        if kind == "thought":
            self.thoughts += text
        else:
            self.text += text
        now = time.monotonic()
        if now - self._shown >= REFRESH_S:
            self._shown = now
            height = self._console.size.height - 1
            self._live.update(_Tail(_turn(self.thoughts, self.text), height), refresh=True)

    def finish(self, note: str | None) -> None:
        self._note = note

    def __exit__(self, *exc: object) -> None:
        self._live.stop()  # transient: the live region goes, the full turn is printed
        if self.thoughts.strip() or self.text.strip() or self._note:
            self._console.print(_turn(self.thoughts, self.text, self._note))
        self._console.print()


class TerminalView:
    interactive = True

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False)

    def answer(self) -> AbstractContextManager[AnswerOut]:
        return _LiveAnswer(self.console)

    def info(self, message: str) -> None:
        self.console.print(Text(message, style="dim"))

    def error(self, message: str) -> None:
        self.console.print(Text(message, style="bold red"))

    @contextmanager
    def status(self, message: str) -> Iterator[None]:
        with self.console.status(Text(message)):
            yield


# -- pipes -------------------------------------------------------------------------------


class _PlainAnswer:
    def __init__(self, out: IO[str], err: IO[str]) -> None:
        self._out, self._err = out, err
        self._thinking = False
        self._wrote = False

    def __enter__(self) -> _PlainAnswer:
        return self

    def add(self, kind: str, text: str) -> None:
        if kind == "thought":
            self._thinking = True
            self._err.write(text)
            self._err.flush()
            return
        if self._thinking:
            self._thinking = False
            self._err.write("\n")
            self._err.flush()
        self._out.write(text)
        self._out.flush()
        self._wrote = True

    def finish(self, note: str | None) -> None:
        if self._thinking:
            self._err.write("\n")
        if note:
            self._err.write(note + "\n")
        self._err.flush()

    def __exit__(self, *exc: object) -> None:
        if self._wrote:
            self._out.write("\n")
            self._out.flush()


class PlainView:
    interactive = False

    def __init__(self, out: IO[str] | None = None, err: IO[str] | None = None) -> None:
        self._out = out or sys.stdout
        self._err = err or sys.stderr

    def answer(self) -> AbstractContextManager[AnswerOut]:
        return _PlainAnswer(self._out, self._err)

    def info(self, message: str) -> None:
        print(message, file=self._err, flush=True)

    def error(self, message: str) -> None:
        print(message, file=self._err, flush=True)

    @contextmanager
    def status(self, message: str) -> Iterator[None]:
        print(message, file=self._err, flush=True)
        yield
