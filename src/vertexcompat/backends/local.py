"""The local backend: answers GenerateContentRequests with the llama.cpp engine.

Lowers Gemini contents to the chat-template message list the model was trained on, checks
the request against the model's context window, and maps GenerationConfig onto sampling.

Structured output (`response_mime_type` "application/json", optional `response_schema`):
the schema becomes a grammar every candidate decodes under (engine/constraints.py), the
system instruction gains a line asking for JSON (small models write far better content
when told, and Gemini behaves as if told), and each finished answer is post-checked
against the schema. An answer cut by `max_tokens` is left alone: its finish reason is
already MAX_TOKENS ("length") and that is what the client must see. An answer that ended
normally yet fails the post-check (a keyword the grammar cannot enforce, e.g. `minimum`)
keeps its STOP reason and content — the generation happened, a 4xx/5xx would be wrong —
and a warning is logged; the grammar makes this rare.

Function calling (`tools` + `tool_config`): the prompt carries the declarations in the
model's native format or a generic one (local_prompt.py), the calls grammar constrains
what a call may say — from the first token for mode ANY, from the moment the model opens a
call for AUTO (a lazy grammar) — and `call_extractor.py` turns the text into FunctionCall
events per candidate. With mode NONE the declarations stay in the prompt and the call
marker token is banned where the vocabulary has one.
"""

from __future__ import annotations

import asyncio
import collections
import json
import re
import logging
from collections.abc import AsyncIterator, Callable
from typing import assert_never

from vertexcompat.backends.call_extractor import CallExtractor, MalformedCall, ParsedCall
from vertexcompat.backends.local_prompt import (
    BARE_CALL_START,
    CALL_CLOSE,
    CALL_OPEN,
    TemplateInput,
    to_template_input,
)
from vertexcompat.backends.local_drawing import SvgDrawing, drawing_request
from vertexcompat.domain.content import (
    TEXT_MODALITY,
    GenerateContentRequest,
    GenerationConfig,
    ImageDescriptionPart,
    TranscriptPart,
)
from vertexcompat.domain.errors import InvalidArgument, NotFound
from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    FunctionCall,
    ImageOutput,
    StreamEvent,
    TextDelta,
    ThoughtDelta,
    ThoughtSignature,
    Usage,
)
from vertexcompat.domain.thinking import DYNAMIC_BUDGET, ThinkingConfig
from vertexcompat.domain.tools import FunctionCallingMode
from vertexcompat.engine.constraints import CallsSpec, CallsStart, UnsupportedSchema
from vertexcompat.engine.llama_engine import JobHandle, LlamaEngine
from vertexcompat.engine.thinking import GENERIC_INSTRUCTION
from vertexcompat.engine.sampling import (
    DEFAULT_TEMPERATURE,
    DEFAULT_TOP_P,
    LazyGrammar,
    SamplingParams,
)
from vertexcompat.translate.json_schema import output_violation

# Calls one turn may hold when parallel calls are allowed (the grammar's repeat bound, so a
# small model that repeats a call cannot loop until max_tokens).
MAX_CALLS_PER_TURN = 5
# Default temperatures when a request sets none. Gemini's default is 1.0 (plain chat keeps
# it), but a small local model grounded in something it must reproduce does far better
# lower, and Google's own function-calling guidance is a low temperature. Measured on the
# default model (Qwen2.5-Coder-0.5B):
# - function calls, the seed's weather request: 39 of 40 answers were calls at 1.0, 80 of
#   80 at 0.3;
# - perceived media, the seed's samples: "Transcribe this audio" returned the transcript in
#   15 of 16 answers at 0.3, 23 of 24 at 0.2, 24 of 24 at 0.1; the red "STOP 42" sign
#   question named text and colour in 5-6 of 8 at 1.0, 16 of 16 at 0.3, 24 of 24 at 0.1.
CALLING_DEFAULT_TEMPERATURE = 0.3
PERCEIVED_MEDIA_DEFAULT_TEMPERATURE = 0.1

log = logging.getLogger(__name__)

def to_sampling_params(
    request: GenerateContentRequest,
    *,
    penalty_window: int,
    grammar: str | None = None,
    lazy_grammars: tuple[LazyGrammar, ...] = (),
    banned_tokens: tuple[int, ...] = (),
) -> SamplingParams:
    cfg = request.generation_config
    if _reads_perceived_media(request):
        default_temperature = PERCEIVED_MEDIA_DEFAULT_TEMPERATURE
    elif _calls_allowed(request):
        default_temperature = CALLING_DEFAULT_TEMPERATURE
    else:
        default_temperature = DEFAULT_TEMPERATURE
    return SamplingParams(
        temperature=default_temperature if cfg.temperature is None else cfg.temperature,
        top_p=DEFAULT_TOP_P if cfg.top_p is None else cfg.top_p,
        top_k=cfg.top_k,
        presence_penalty=cfg.presence_penalty or 0.0,
        frequency_penalty=cfg.frequency_penalty or 0.0,
        seed=cfg.seed,
        penalty_window=penalty_window,
        grammar=grammar,
        lazy_grammars=lazy_grammars,
        banned_tokens=banned_tokens,
    )


# A dynamic thinking budget (-1, "the model decides") still needs a bound for a model that
# never ends its thoughts; it also applies to a native-thinking model's default.
DYNAMIC_THINKING_BUDGET = 2048
# The longest token of the vocabularies measured: Qwen2.5's is 128 bytes (a run of spaces;
# 900 KB of spaces is 7,032 tokens), SmolLM2's 81. Text at 4-5 bytes per token (English,
# code) is refused only when 25-30 times too long for the window.
MAX_CHARS_PER_TOKEN = 128


class LocalBackend:
    """`default_thinking_budget`: the budget when a request says nothing about thinking;
    None = the model's default (dynamic for a template with native thinking, off
    otherwise). `keep_prompts`: how many rendered prompts to keep for the debug view
    (0 = none; prompts hold user data, so this is off unless the operator asks)."""

    def __init__(
        self,
        engine: LlamaEngine,
        name: str,
        *,
        answer_from_results: bool = True,
        default_thinking_budget: int | None = None,
        dynamic_thinking_budget: int = DYNAMIC_THINKING_BUDGET,
        keep_prompts: int = 0,
        drawing: SvgDrawing | None = None,
    ) -> None:
        self._engine = engine
        self._name = name
        self._answer_from_results = answer_from_results
        # Image output (issue 7); None: this backend answers image requests with a 400.
        self._drawing = drawing
        self._default_thinking_budget = default_thinking_budget
        self._dynamic_thinking_budget = dynamic_thinking_budget
        self._prompts: collections.deque[str] = collections.deque(maxlen=keep_prompts)

    def recent_prompts(self) -> list[str]:
        """The last rendered prompts, oldest first (the debug view; empty when off)."""
        return list(self._prompts)

    def thinking_budget(self, config: ThinkingConfig | None) -> int:
        """Sampled thought tokens a request may use; 0 = no thinking."""
        budget = config.budget if config is not None else None
        if budget is None:
            budget = self._default_thinking_budget
        if budget is None:
            budget = DYNAMIC_BUDGET if self._engine.template_thinks else 0
        return self._dynamic_thinking_budget if budget == DYNAMIC_BUDGET else budget

    @property
    def ready(self) -> bool:
        return self._engine.ready

    @property
    def engine(self) -> LlamaEngine:
        return self._engine

    def stats(self) -> dict[str, int]:
        stats = self._engine.stats()
        if self._drawing is not None:
            stats = {**stats, **self._drawing.stats()}
        return stats

    def model_names(self) -> list[str]:
        return [self._name]

    def context_length(self, model: str) -> int | None:
        return self._engine.ctx_per_seq

    async def stream(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        if request.model != self._name:
            raise NotFound(f"Model {request.model!r} is not loaded.", param="model")
        engine = self._engine
        cfg = request.generation_config
        if cfg.candidate_count > engine.config.parallel:
            raise InvalidArgument(
                f"`n` is {cfg.candidate_count} but this server decodes at most "
                f"{engine.config.parallel} sequences at once.",
                param="generation_config.candidate_count",
            )
        calling = _calls_allowed(request)
        if cfg.wants_image:
            async for event in self._draw(request, calling):
                yield event
            return
        if calling and cfg.wants_json:
            raise InvalidArgument(
                "A JSON `response_format` cannot be combined with function calling on this "
                "model; set `tool_choice` to \"none\" or drop `response_format`.",
                param="generation_config.response_mime_type",
            )
        grammar, lazy, banned = await self._constraints(request, calling)
        handle = await self._submit(request, grammar=grammar, lazy=lazy, banned=banned)
        events = handle.events()
        answers = _Answers(
            request, check_json=cfg.wants_json and not calling, end_candidate=handle.end_candidate
        )
        try:
            async for event in events:
                for out in answers.feed(event) if calling else answers.check(event):
                    yield out
        finally:
            await events.aclose()

    async def _submit(
        self,
        request: GenerateContentRequest,
        *,
        grammar: str | None,
        lazy: tuple[LazyGrammar, ...] = (),
        banned: tuple[int, ...] = (),
        default_max_tokens: int | None = None,
    ) -> JobHandle:
        """Render and check the prompt, then queue the job. Without `max_output_tokens`
        the answer may fill the context window (or `default_max_tokens`, when smaller)."""
        engine = self._engine
        cfg = request.generation_config
        native = bool(request.tools) and engine.template_knows_tools
        budget = self.thinking_budget(cfg.thinking_config)
        thinks_natively = engine.template_thinks
        template_input = to_template_input(
            request,
            native_tools=native,
            answer_from_results=self._answer_from_results,
            thinking_instruction=GENERIC_INSTRUCTION if budget and not thinks_natively else None,
            native_thinking=engine.thoughts_inline,
        )
        # A prompt that cannot fit the window is refused before it is tokenized (issue 12):
        # tokenizing costs 0.3-2 s of CPU per MB (6-40 s for a 20 MB prompt, measured on
        # Qwen2.5 and SmolLM2), while no token spells more than MAX_CHARS_PER_TOKEN
        # characters, so a longer text needs more tokens than the window has.
        chars = _text_length(template_input.messages) + _text_length(template_input.tools)
        if chars > MAX_CHARS_PER_TOKEN * engine.ctx_per_seq:
            raise InvalidArgument(
                f"The conversation is {chars} characters long; it cannot fit the model's "
                f"context window of {engine.ctx_per_seq} tokens.",
                param="contents",
            )
        # Rendering + tokenizing a large prompt is CPU work: keep it off the event loop.
        rendered = await asyncio.to_thread(
            engine.render_prompt, template_input.messages, tools=template_input.tools,
            thinking=budget > 0,
        )
        if self._prompts.maxlen:
            self._prompts.append(rendered.text)
        prompt = rendered.tokens
        window = engine.ctx_per_seq
        if not prompt:
            raise InvalidArgument("The conversation renders to an empty prompt.", param="contents")
        if len(prompt) >= window:
            raise InvalidArgument(
                f"The prompt is {len(prompt)} tokens, but the model's context window is "
                f"{window} tokens.",
                param="contents",
            )
        room = window - len(prompt)
        max_tokens = cfg.max_output_tokens
        if max_tokens is not None and max_tokens > room:
            raise InvalidArgument(
                f"This model's maximum context length is {window} tokens. However, you "
                f"requested {len(prompt) + max_tokens} tokens ({len(prompt)} in the messages, "
                f"{max_tokens} in the completion).",
                param="generation_config.max_output_tokens",
            )
        if max_tokens is None:
            max_tokens = room if default_max_tokens is None else min(room, default_max_tokens)
        return engine.submit(
            prompt,
            n=cfg.candidate_count,
            params=to_sampling_params(
                request, penalty_window=window, grammar=grammar, lazy_grammars=lazy,
                banned_tokens=banned,
            ),
            max_tokens=max_tokens,
            stop=cfg.stop_sequences,
            thinking=(
                engine.thinking_plan(rendered.thinking, budget)
                if rendered.thinking is not None else None
            ),
        )

    async def _draw(
        self, request: GenerateContentRequest, calling: bool
    ) -> AsyncIterator[StreamEvent]:
        """Image output: the model draws SVG under the drawing grammar (local_drawing.py)."""
        drawing = self._drawing
        cfg = request.generation_config
        if drawing is None:
            raise InvalidArgument(
                f"Model `{self._name}` cannot generate images on this server.",
                param="generation_config.response_modalities",
            )
        if calling or cfg.wants_json:
            raise InvalidArgument(
                "Image output cannot be combined with function calling or a JSON "
                "`response_format`.",
                param="generation_config.response_modalities",
            )
        width, height = cfg.image_size
        spec = drawing.spec_for(width, height)
        grammar = await asyncio.to_thread(self._engine.svg_grammar, spec)
        handle = await self._submit(
            drawing_request(request, spec), grammar=grammar,
            default_max_tokens=drawing.max_tokens,
        )
        events = handle.events()
        images = drawing.images(
            events, width=width, height=height, caption=TEXT_MODALITY in cfg.response_modalities
        )
        try:
            async for event in images:
                yield event
        finally:
            await images.aclose()
            await events.aclose()

    async def _constraints(
        self, request: GenerateContentRequest, calling: bool
    ) -> tuple[str | None, tuple[LazyGrammar, ...], tuple[int, ...]]:
        """(grammar from the first token, lazy grammars, banned tokens) for the request."""
        engine = self._engine
        cfg = request.generation_config
        if calling:
            if request.tool_config.mode is not FunctionCallingMode.AUTO:
                return await self._calls_grammar(request, "open"), (), ()
            # Auto: the model decides. Once it opens a call, with the marker or (small
            # models do this) as a bare `{"name": ...}` object, the call is constrained.
            lazy = (
                LazyGrammar(re.escape(CALL_OPEN), await self._calls_grammar(request, "after_open")),
                LazyGrammar(BARE_CALL_START, await self._calls_grammar(request, "after_name")),
            )
            return None, lazy, ()
        if request.tools:
            # Declarations are visible but calls are off (tool_choice "none"): a model whose
            # vocabulary spells the call marker as one token cannot write it at all.
            marker = engine.single_token(CALL_OPEN)
            banned = (marker,) if marker is not None else ()
        else:
            banned = ()
        if cfg.wants_json:
            try:
                # Compiling (or a cache hit) off the loop: a big schema is CPU work.
                grammar = await asyncio.to_thread(engine.json_grammar, cfg.response_schema)
            except UnsupportedSchema as exc:
                raise InvalidArgument(
                    f"The response schema is not supported: {exc}",
                    param="generation_config.response_schema",
                ) from None
            return grammar, (), banned
        return None, (), banned


    async def _calls_grammar(self, request: GenerateContentRequest, start: CallsStart) -> str:
        names = set(request.tool_config.callable_names(request.tools))
        spec = CallsSpec(
            functions=tuple((d.name, d.parameters) for d in request.tools if d.name in names),
            open=CALL_OPEN,
            close=CALL_CLOSE,
            max_calls=MAX_CALLS_PER_TURN if request.tool_config.parallel_calls else 1,
            start=start,
        )
        try:
            return await asyncio.to_thread(self._engine.calls_grammar, spec)
        except UnsupportedSchema as exc:
            name = spec.functions[exc.function_index or 0][0]
            declared = next(i for i, d in enumerate(request.tools) if d.name == name)
            raise InvalidArgument(
                f"The parameters schema is not supported: {exc}",
                param=f"tools.function_declarations[{declared}].parameters",
            ) from None


def _text_length(value: object) -> int:
    """Characters in every string of a template input (what rendering writes out)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(map(_text_length, value.values()))
    if isinstance(value, list | tuple):
        return sum(map(_text_length, value))
    return 0


def _reads_perceived_media(request: GenerateContentRequest) -> bool:
    return any(
        isinstance(part, ImageDescriptionPart | TranscriptPart)
        for content in request.contents
        for part in content.parts
    )


def _calls_allowed(request: GenerateContentRequest) -> bool:
    return bool(request.tool_config.callable_names(request.tools))


class _Answers:
    """Post-processing of one request's engine events, one state per candidate: function
    calls extracted from the text (when calls are allowed), JSON answers post-checked.

    A candidate that writes a call identical to one it already made in this turn is done:
    the repeat is dropped and its generation ended (small models otherwise repeat a call
    until `max_tokens`; an identical call never adds anything)."""

    def __init__(
        self,
        request: GenerateContentRequest,
        *,
        check_json: bool,
        end_candidate: Callable[[int], None],
    ) -> None:
        self._request = request
        self._check_json = check_json
        self._end_candidate = end_candidate
        self._texts: dict[int, list[str]] = {}
        self._extractors: dict[int, CallExtractor] = {}
        self._malformed: set[int] = set()
        self._ended: set[int] = set()
        self._made: dict[int, list[ParsedCall]] = {}
        self._schemas = {d.name: d.parameters for d in request.tools}

    def check(self, event: StreamEvent) -> list[StreamEvent]:
        if self._check_json:
            match event:
                case TextDelta(candidate=c, text=t):
                    self._texts.setdefault(c, []).append(t)
                case Finished(candidate=c, reason=FinishReason.STOP):
                    _post_check("".join(self._texts.pop(c, ())), self._request.generation_config, c)
                case _:
                    pass
        return [event]

    def feed(self, event: StreamEvent) -> list[StreamEvent]:
        match event:
            case TextDelta(candidate=c, text=t):
                if c in self._malformed or c in self._ended:
                    return []
                try:
                    items = self._extractor(c).feed(t)
                except MalformedCall as exc:
                    log.warning("candidate %d wrote a malformed function call: %s", c, exc)
                    self._malformed.add(c)
                    return []
                out: list[StreamEvent] = []
                for item in items:
                    if isinstance(item, ParsedCall):
                        made = self._made.setdefault(c, [])
                        if item in made:
                            self._ended.add(c)
                            self._end_candidate(c)
                            break
                        made.append(item)
                    out.append(self._event(c, item))
                return out
            case Finished(candidate=c, reason=reason):
                held, open_call = self._extractor(c).finish()
                if c in self._ended:  # what followed the repeated call is not the answer
                    return [Finished(c, FinishReason.STOP)]
                out = [self._event(c, item) for item in held]
                if c in self._malformed or (open_call and reason is FinishReason.STOP):
                    reason = FinishReason.MALFORMED_FUNCTION_CALL
                return [*out, Finished(c, reason)]
            case FunctionCall() | ImageOutput() | Usage() | ThoughtDelta() | ThoughtSignature():
                return [event]
            case _:
                assert_never(event)

    def _extractor(self, candidate: int) -> CallExtractor:
        extractor = self._extractors.get(candidate)
        if extractor is None:
            extractor = self._extractors[candidate] = CallExtractor(
                open_marker=CALL_OPEN, close_marker=CALL_CLOSE, bare_start=BARE_CALL_START
            )
        return extractor

    def _event(self, candidate: int, item: str | ParsedCall) -> StreamEvent:
        if isinstance(item, str):
            return TextDelta(candidate, item)
        schema = self._schemas.get(item.name)
        if schema is not None:
            problem = output_violation(json.dumps(item.args), schema)
            if problem is not None:
                log.warning("candidate %d: arguments of %s fail the post-check: %s",
                            candidate, item.name, problem)
        return FunctionCall(candidate, item.name, item.args)


def _post_check(text: str, cfg: GenerationConfig, candidate: int) -> None:
    problem = output_violation(text, cfg.response_schema)
    if problem is not None:
        log.warning(
            "candidate %d ended normally but its JSON answer fails the post-check: %s",
            candidate, problem,
        )
