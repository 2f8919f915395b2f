"""`FieldPath`: where in a Gemini request a problem lies (`contents[2].parts[0]`,
`generation_config.temperature`, `tools[0].function_declarations[1].parameters`).

Everything below an API surface names Gemini's fields, never a surface's: an error carries
its `location` as a `FieldPath`, and each surface maps it to its own parameter names once,
where errors become HTTP (`web/errors.py`). Steps are field names (snake_case, as in
Gemini's REST reference) or list indexes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

Step = str | int

_STEP = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class FieldPath:
    steps: tuple[Step, ...]

    @classmethod
    def of(cls, *steps: Step) -> FieldPath:
        """`FieldPath.of("contents", 2, "parts", 0)`."""
        return cls(tuple(steps))

    @classmethod
    def parse(cls, text: str) -> FieldPath:
        """`"tools[0].function_declarations[1].parameters"` → its steps. Raises ValueError
        for text that is not a field path (our bug: paths are written by this code)."""
        steps = tuple(name or int(index) for name, index in _STEP.findall(text))
        path = cls(steps)
        if not steps or isinstance(steps[0], int) or str(path) != text:
            raise ValueError(f"not a field path: {text!r}")
        return path

    def __truediv__(self, step: Step) -> FieldPath:
        """`path / "parts" / 0`: a field or an element below this one."""
        return FieldPath((*self.steps, step))

    @property
    def head(self) -> str:
        head = self.steps[0]
        assert isinstance(head, str)
        return head

    def startswith(self, *steps: Step) -> bool:
        return self.steps[: len(steps)] == steps

    def __str__(self) -> str:
        out = ""
        for step in self.steps:
            out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
        return out


# How an API surface names a Gemini location in its own terms (`None`: the client's
# request has no such parameter). Each surface has exactly one, complete: it never
# returns a Gemini path the client did not write.
ParamNames = Callable[[FieldPath], "str | None"]
