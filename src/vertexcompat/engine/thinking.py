"""Budget forcing: how a candidate thinks before it answers (issue 5, SPEC §5).

The engine opens a reasoning segment right after the prompt, lets the model write its
thoughts, and ends the segment itself when any of these happens first:

- the model writes the end-of-thought marker (`</think>`);
- the model ends its turn (an end-of-generation token) — a model without native thinking
  writes a whole first draft as its "thoughts" and stops; that draft becomes the thoughts;
- the thought budget is spent.

Then it *forces* the closing text (never sampled, fed straight into the KV cache in one
batch) and the candidate goes on to write its answer. So a budget of N means at most N
sampled thought tokens, ever; only the forced closing text comes on top.

Which markers and closing text a model gets comes from its chat template, never its name
(`thinking_format`):

- native: a template that spells `<think>` … `</think>` (Qwen3-style) — the model was
  trained to think there, in the same assistant message as its answer;
- generic, for any other instruct model: the system message asks for notes inside
  `<think>` … `</think>`, and the forced closing text ends the notes *as an assistant turn
  of their own* and opens a new one for the answer (rendered with the model's own
  template). Measured on Qwen2.5-Coder-0.5B-Instruct (the default model): continuing in
  the same message after `</think>`, the answer is more notes or empty in 4 of 6 samples;
  in a fresh assistant turn it restates the result as an answer in 5 of 6.
"""

from __future__ import annotations

from dataclasses import dataclass

THOUGHT_OPEN = "<think>"
THOUGHT_CLOSE = "</think>"

# The system-message paragraph for a model without native thinking.
GENERIC_INSTRUCTION = (
    "Before answering, think it through step by step inside <think> and </think>, as "
    "private notes. The user does not see the notes; after them, answer the user directly "
    "and completely in your next message."
)


@dataclass(frozen=True, slots=True)
class ThinkingFormat:
    """How one model's template frames thoughts (strings; the engine tokenizes them)."""

    native: bool
    open: str  # appended to the rendered prompt: the reasoning segment starts here
    close: str  # forced when the budget is spent or the model ends its turn while thinking
    after_marker: str  # forced when the model wrote the close marker itself
    marker: str = THOUGHT_CLOSE
    instruction: str | None = None  # system paragraph asking for thoughts (generic only)


def history_messages(
    *, native: bool, role: str, thoughts: str, answer: dict[str, object] | None
) -> list[dict[str, object]]:
    """An earlier turn's thoughts, and its answer message (text and/or calls), as template
    messages framed the way this model thinks, so restored thoughts read as what it wrote
    (SPEC §5): one message for a native template, notes then answer for a generic one."""
    note = f"{THOUGHT_OPEN}\n{thoughts}\n{THOUGHT_CLOSE}"
    if answer is None:
        return [{"role": role, "content": note}]
    if native:
        text = answer.get("content") or ""
        return [{**answer, "content": f"{note}\n\n{text}" if text else note}]
    return [{"role": role, "content": note}, answer]


def native_thinking(template_source: str) -> bool:
    """A template that writes both think markers itself renders (and was trained on)
    reasoning segments."""
    return THOUGHT_OPEN in template_source and THOUGHT_CLOSE in template_source


def generic_format(turn_boundary: str | None) -> ThinkingFormat:
    """`turn_boundary`: the template's text between the end of one assistant message and
    the start of the next assistant message (see `ChatTemplate.assistant_turn_boundary`);
    None when the template cannot express two assistant messages in a row."""
    boundary = turn_boundary if turn_boundary is not None else "\n\n"
    return ThinkingFormat(
        native=False,
        open=f"{THOUGHT_OPEN}\n",
        close=f"\n{THOUGHT_CLOSE}{boundary}",
        after_marker=boundary,
        instruction=GENERIC_INSTRUCTION,
    )


def native_format(generation_prompt_tail: str) -> ThinkingFormat:
    """`generation_prompt_tail`: the end of the rendered prompt; a template that already
    opens the segment there (some do when thinking is on) is not given a second one."""
    opened = generation_prompt_tail.rstrip().endswith(THOUGHT_OPEN)
    return ThinkingFormat(
        native=True,
        open="" if opened else f"{THOUGHT_OPEN}\n",
        close=f"\n{THOUGHT_CLOSE}\n\n",
        after_marker="\n\n",
    )


@dataclass(frozen=True, slots=True)
class ThinkingPlan:
    """What the scheduler needs for one job: the sampled-thought budget and the forced
    token sequences. The open text is already part of the job's prompt."""

    budget: int  # >= 1 sampled thought tokens at most
    close_tokens: tuple[int, ...]
    after_marker_tokens: tuple[int, ...]
    marker: str = THOUGHT_CLOSE
    open_marker: str = THOUGHT_OPEN

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise ValueError("a thinking plan needs a budget of at least one token")
