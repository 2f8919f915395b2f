"""The local backend: answers GenerateContentRequests with the llama.cpp engine.

One request is three steps: a pure plan (plan.py: sampling defaults, thinking budget,
constraint, answer mode), the run (here: compile the constraint, lower Gemini contents to
the chat-template message list the model was trained on, check the prompt against the
model's context window, queue the job on the engine), and the answers (answers.py, or the
drawing's images: local_drawing.py) made from the engine's events.

Structured output: the schema becomes a grammar every candidate decodes under
(engine/constraints.py), and the system instruction gains a line asking for JSON
(local_prompt.py: small models write far better content when told, and Gemini behaves as if
told). Function calling: the prompt carries the declarations in the model's native format
or a generic one (local_prompt.py), and the calls grammar constrains what a call may say.

The service resolved the model before the request got here: `request.model` is this
backend's model.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import assert_never

from vertexcompat.backends.local.answers import CallAnswers, JsonAnswers
from vertexcompat.backends.local.plan import (
    DYNAMIC_THINKING_BUDGET,
    AnswerMode,
    DecodePlan,
    JsonAnswer,
    LocalModel,
    check_prompt_length,
    plan_decode,
    text_length,
    thinking_budget,
)
from vertexcompat.backends.local_drawing import SvgDrawing, request_text
from vertexcompat.backends.local_scene import SceneGrammarSpec
from vertexcompat.backends.local_prompt import CALL_OPEN, content_text, to_template_input
from vertexcompat.domain.content import (
    Content,
    FileDataPart,
    GenerateContentRequest,
    InlineDataPart,
    TextPart,
)
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.events import StreamEvent
from vertexcompat.domain.thinking import ThinkingConfig
from vertexcompat.domain.tokens import TokensInfo
from vertexcompat.engine.constraints import CallsSpec, UnsupportedSchema
from vertexcompat.engine.llama_engine import JobHandle, LlamaEngine, RenderedPrompt
from vertexcompat.engine.sampling import LazyGrammar
from vertexcompat.engine.svg_grammar import SvgGrammarSpec
from vertexcompat.engine.thinking import GENERIC_INSTRUCTION


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
        return thinking_budget(config, self._model())

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

    def release_cache(self, name: str) -> None:
        self._engine.unpin(name)

    def context_length(self, model: str) -> int | None:
        return self._engine.ctx_per_seq

    def _model(self) -> LocalModel:
        engine = self._engine
        return LocalModel(
            parallel=engine.config.parallel,
            window=engine.ctx_per_seq,
            thinks_natively=engine.template_thinks,
            default_thinking_budget=self._default_thinking_budget,
            dynamic_thinking_budget=self._dynamic_thinking_budget,
        )

    async def stream(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        plan = plan_decode(request, self._model(), canvas=self._drawing)
        handle = await self._submit(plan)
        events = handle.events()
        try:
            match plan.answers:
                case AnswerMode.TEXT:
                    async for event in events:
                        yield event
                case AnswerMode.JSON:
                    json_answers = JsonAnswers(request.generation_config.response_schema)
                    async for event in events:
                        for out in json_answers.feed(event):
                            yield out
                case AnswerMode.CALLS:
                    calls = CallAnswers(request.tools, end_candidate=handle.end_candidate)
                    async for event in events:
                        for out in calls.feed(event):
                            yield out
                case AnswerMode.IMAGE:
                    assert self._drawing is not None
                    width, height = plan.image_size
                    images = self._drawing.images(
                        events, width=width, height=height, caption=plan.caption,
                        prompt=request_text(request),
                    )
                    try:
                        async for event in images:
                            yield event
                    finally:
                        await images.aclose()
                case _:
                    assert_never(plan.answers)
        finally:
            await events.aclose()

    async def precheck(self, request: GenerateContentRequest) -> None:
        """The plan's refusals, its constraints (compiled now: cached for the request
        itself), and the prompt's length with every media part left out: perceived media
        only add text, so a prompt that overflows without them overflows with them."""
        plan = plan_decode(_without_media(request), self._model(), canvas=self._drawing)
        await self._grammar(plan)
        for lazy in plan.lazy:
            await self._calls_grammar(plan.request, lazy.calls)
        rendered = await self._render(plan)
        try:
            plan.max_tokens(len(rendered.tokens), self._engine.ctx_per_seq)
        except InvalidArgument as exc:  # its counts leave the media out: say so
            raise InvalidArgument(
                f"{exc.message} (Counted without the request's images and audio, which "
                "only add to the messages.)",
                location=exc.location,
            ) from None

    async def count_tokens(self, request: GenerateContentRequest, *, as_prompt: bool = False) -> int:
        """The tokens of the request's conversation in the model's template: with the
        opening of an answer (`as_prompt`), the prompt a generation reads; without, the
        tokens every longer conversation that begins with it shares (media parts must be
        perceived already)."""
        plan = plan_decode(request, self._model(), canvas=self._drawing)
        return len((await self._render(plan, answer=as_prompt)).tokens)

    async def compute_tokens(self, request: GenerateContentRequest) -> list[TokensInfo]:
        """Each content's text as its message carries it in the prompt (local_prompt.py
        `content_text`: what perception found in its media first, then its text parts
        joined), tokenized on its own as the prompt tokenizes request text (engine
        `text_tokens`: request text never becomes control tokens): the content's tokens
        without the template's role markers around them. Thought parts and function calls
        and results are skipped — the prompt writes those in a form that depends on the
        template and on the turn, not as tokens of the content's own — so a content of
        only calls or results has no tokens. Media parts must be perceived already."""
        texts = [content_text(content) for content in request.contents]
        check_prompt_length(sum(map(len, texts)), self._engine.ctx_per_seq)
        engine = self._engine
        # Tokenizing a long text is CPU work: keep it off the event loop.
        tokenized = await asyncio.to_thread(lambda: [engine.text_tokens(text) for text in texts])
        return [
            TokensInfo(
                role=content.role,
                token_ids=tuple(token for token, _ in tokens),
                tokens=tuple(piece for _, piece in tokens),
            )
            for content, tokens in zip(request.contents, tokenized, strict=True)
        ]

    async def _submit(self, plan: DecodePlan) -> JobHandle:
        """Compile the plan's constraints, render and check the prompt, queue the job."""
        engine = self._engine
        grammar = await self._grammar(plan)
        lazy = tuple([
            LazyGrammar(lazy.trigger, await self._calls_grammar(plan.request, lazy.calls))
            for lazy in plan.lazy
        ])
        marker = engine.single_token(CALL_OPEN) if plan.ban_call_marker else None
        budget = plan.thinking_budget
        rendered = await self._render(plan)
        if self._prompts.maxlen:
            self._prompts.append(rendered.text)
        prompt = rendered.tokens
        max_tokens = plan.max_tokens(len(prompt), engine.ctx_per_seq)
        return engine.submit(
            prompt,
            n=plan.candidates,
            params=replace(
                plan.sampling, grammar=grammar, lazy_grammars=lazy,
                banned_tokens=() if marker is None else (marker,),
            ),
            max_tokens=max_tokens,
            stop=plan.stop,
            thinking=(
                engine.thinking_plan(rendered.thinking, budget)
                if rendered.thinking is not None else None
            ),
            cache_scope=plan.request.project,
            pin=plan.request.cached_content,
        )

    async def _render(self, plan: DecodePlan, *, answer: bool = True) -> RenderedPrompt:
        """The plan's request in the model's template, tokenized (length-checked first)."""
        engine = self._engine
        request = plan.request
        budget = plan.thinking_budget
        template_input = to_template_input(
            request,
            native_tools=bool(request.tools) and engine.template_knows_tools,
            answer_from_results=self._answer_from_results,
            thinking_instruction=(
                GENERIC_INSTRUCTION if budget and not engine.template_thinks else None
            ),
            native_thinking=engine.thoughts_inline,
        )
        check_prompt_length(
            text_length(template_input.messages) + text_length(template_input.tools),
            engine.ctx_per_seq,
        )
        # Rendering + tokenizing a large prompt is CPU work: keep it off the event loop.
        return await asyncio.to_thread(
            engine.render_prompt, template_input.messages, tools=template_input.tools,
            thinking=budget > 0 and answer, answer=answer,
        )

    async def _grammar(self, plan: DecodePlan) -> str | None:
        """The plan's constraint as GBNF (compiled, or a cache hit, off the event loop: a
        big schema is CPU work)."""
        engine = self._engine
        match plan.constraint:
            case None:
                return None
            case JsonAnswer(schema=schema):
                try:
                    return await asyncio.to_thread(engine.json_grammar, schema)
                except UnsupportedSchema as exc:
                    raise InvalidArgument(
                        f"The response schema is not supported: {exc}",
                        location="generation_config.response_schema",
                    ) from None
            case CallsSpec() as spec:
                return await self._calls_grammar(plan.request, spec)
            case SvgGrammarSpec() as spec:
                return await asyncio.to_thread(engine.svg_grammar, spec)
            case SceneGrammarSpec() as spec:
                assert self._drawing is not None  # only a drawing plan holds one
                return await asyncio.to_thread(self._drawing.scene_grammar, spec)
            case _:
                assert_never(plan.constraint)

    async def _calls_grammar(self, request: GenerateContentRequest, spec: CallsSpec) -> str:
        try:
            return await asyncio.to_thread(self._engine.calls_grammar, spec)
        except UnsupportedSchema as exc:
            name = spec.functions[exc.function_index or 0][0]
            declared = next(i for i, d in enumerate(request.tools) if d.name == name)
            raise InvalidArgument(
                f"The parameters schema is not supported: {exc}",
                location=f"tools.function_declarations[{declared}].parameters",
            ) from None


def _without_media(request: GenerateContentRequest) -> GenerateContentRequest:
    """`request` with every image and audio part an empty text (a lower bound on its prompt)."""
    def parts(content: Content) -> Content:
        return replace(content, parts=tuple(
            TextPart("") if isinstance(part, FileDataPart | InlineDataPart) else part
            for part in content.parts
        ))

    return replace(request, contents=tuple(parts(content) for content in request.contents))
