"""The decode plan: what the local engine is to do for one request, decided by a pure
function before anything runs.

`plan_decode(request, model)` checks what the request asks against what this model and
server can do (candidates, calls with JSON, images), and chooses the sampling defaults,
the thinking budget, the constraint (a JSON schema, the calls grammar from the first token
or lazily once the model opens a call, the drawing grammar), how answers are post-processed
and, once the prompt's length is known, how many tokens may be generated
(`DecodePlan.max_tokens`). Compiling grammars, rendering the prompt and decoding are the
runner's (backend.py); nothing here touches the engine.

Function calling (`tools` + `tool_config`): the calls grammar constrains what a call may
say — from the first token for mode ANY, from the moment the model opens a call for AUTO
(a lazy grammar, triggered by the call marker or by a bare `{"name": ...}` object, which
small models write). With mode NONE the declarations stay in the prompt and the call
marker token is banned where the vocabulary spells it as one token.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from vertexcompat.backends.local_drawing import drawing_request
from vertexcompat.backends.local_scene import SceneGrammarSpec
from vertexcompat.backends.local_prompt import BARE_CALL_START, CALL_CLOSE, CALL_OPEN
from vertexcompat.domain.content import (
    TEXT_MODALITY,
    GenerateContentRequest,
    ImageDescriptionPart,
    TranscriptPart,
)
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.thinking import DYNAMIC_BUDGET, ThinkingConfig
from vertexcompat.domain.tools import FunctionCallingMode
from vertexcompat.engine.constraints import CallsSpec, CallsStart
from vertexcompat.engine.sampling import DEFAULT_TEMPERATURE, DEFAULT_TOP_P, SamplingParams
from vertexcompat.engine.svg_grammar import SvgGrammarSpec

# Alternatives per position a request may ask for with its log probabilities (Gemini's
# bound; the sampler's too).
MAX_LOGPROBS = 20
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
# A dynamic thinking budget (-1, "the model decides") still needs a bound for a model that
# never ends its thoughts; it also applies to a native-thinking model's default.
DYNAMIC_THINKING_BUDGET = 2048
# The longest token of the vocabularies measured: Qwen2.5's is 128 bytes (a run of spaces;
# 900 KB of spaces is 7,032 tokens), SmolLM2's 81. Text at 4-5 bytes per token (English,
# code) is refused only when 25-30 times too long for the window.
MAX_CHARS_PER_TOKEN = 128


@dataclass(frozen=True, slots=True)
class LocalModel:
    """What a plan needs to know about the loaded model and this backend's settings.
    `default_thinking_budget`: the budget when a request says nothing about thinking;
    None = the model's default (dynamic for a template with native thinking, off
    otherwise)."""

    parallel: int  # sequences decoded at once (the most candidates a request may ask)
    window: int  # context tokens per sequence
    thinks_natively: bool  # the chat template frames reasoning segments
    default_thinking_budget: int | None = None
    dynamic_thinking_budget: int = DYNAMIC_THINKING_BUDGET


class Canvas(Protocol):
    """Where a drawing goes (local_drawing.SvgDrawing): the grammar for a size (an SVG
    drawing's, or in scene mode a scene's), and the token budget of a drawing whose request
    sets none."""

    max_tokens: int

    def spec_for(self, width: int, height: int) -> SvgGrammarSpec | SceneGrammarSpec: ...


class AnswerMode(enum.Enum):
    """How the engine's events become the answer (answers.py, local_drawing.py)."""

    TEXT = "text"  # as they come
    JSON = "json"  # as they come; each finished answer post-checked against the schema
    CALLS = "calls"  # function calls extracted from the text
    IMAGE = "image"  # a caption line, then an SVG drawing (or a scene) rendered to one image


@dataclass(frozen=True, slots=True)
class JsonAnswer:
    """A JSON answer matching `schema` (None: any object)."""

    schema: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class LazyCalls:
    """The calls grammar, from the moment the output matches `trigger` (a regex) on."""

    trigger: str
    calls: CallsSpec


Constraint = JsonAnswer | CallsSpec | SvgGrammarSpec | SceneGrammarSpec


@dataclass(frozen=True, slots=True)
class DecodePlan:
    """`request`: what the model decodes (for a drawing, the request with the drawing
    instructions); `sampling`: the sampling parameters with their defaults applied (the
    runner adds the compiled grammars); `constraint`: what binds every token of the
    answer, `lazy`: what binds it once triggered; `ban_call_marker`: the call marker may
    not be drawn; `thinking_budget`: sampled thought tokens at most (0: none)."""

    request: GenerateContentRequest
    sampling: SamplingParams
    answers: AnswerMode
    thinking_budget: int
    constraint: Constraint | None = None
    lazy: tuple[LazyCalls, ...] = ()
    ban_call_marker: bool = False
    # When the request sets no max_output_tokens: at most this many (else the window).
    default_max_tokens: int | None = None

    @property
    def candidates(self) -> int:
        return self.request.generation_config.candidate_count

    @property
    def stop(self) -> tuple[str, ...]:
        return self.request.generation_config.stop_sequences

    @property
    def image_size(self) -> tuple[int, int]:
        return self.request.generation_config.image_size

    @property
    def caption(self) -> bool:
        """A drawing's caption line is part of the answer (the request wants text too)."""
        return TEXT_MODALITY in self.request.generation_config.response_modalities

    def max_tokens(self, prompt_tokens: int, window: int) -> int:
        """Output tokens the candidates may generate after a prompt of `prompt_tokens`:
        `max_output_tokens`, or whatever the window leaves (at most `default_max_tokens`).
        Raises InvalidArgument for a prompt that leaves no room, or a `max_output_tokens`
        beyond the window."""
        if prompt_tokens == 0:
            raise InvalidArgument("The conversation renders to an empty prompt.", location="contents")
        if prompt_tokens >= window:
            raise InvalidArgument(
                f"The prompt is {prompt_tokens} tokens, but the model's context window is "
                f"{window} tokens.",
                location="contents",
            )
        room = window - prompt_tokens
        asked = self.request.generation_config.max_output_tokens
        if asked is not None and asked > room:
            raise InvalidArgument(
                f"This model's maximum context length is {window} tokens. However, you "
                f"requested {prompt_tokens + asked} tokens ({prompt_tokens} in the messages, "
                f"{asked} in the completion).",
                location="generation_config.max_output_tokens",
            )
        if asked is not None:
            return asked
        return room if self.default_max_tokens is None else min(room, self.default_max_tokens)


def plan_decode(
    request: GenerateContentRequest, model: LocalModel, *, canvas: Canvas | None = None
) -> DecodePlan:
    """The plan for `request` on `model`; `canvas`: where drawings go (None: this backend
    answers image requests with a 400). Raises InvalidArgument for what it cannot do."""
    cfg = request.generation_config
    if cfg.candidate_count > model.parallel:
        raise InvalidArgument(
            f"`n` is {cfg.candidate_count} but this server decodes at most "
            f"{model.parallel} sequences at once.",
            location="generation_config.candidate_count",
        )
    if cfg.response_logprobs and not 0 <= cfg.logprobs <= MAX_LOGPROBS:
        raise InvalidArgument(
            f"`logprobs` is {cfg.logprobs}; it must be between 0 and {MAX_LOGPROBS}.",
            location="generation_config.logprobs",
        )
    calling = calls_allowed(request)
    if cfg.wants_image:
        return _drawing_plan(request, model, canvas, calling=calling)
    if calling and cfg.wants_json:
        raise InvalidArgument(
            "A JSON `response_format` cannot be combined with function calling on this "
            "model; set `tool_choice` to \"none\" or drop `response_format`.",
            location="generation_config.response_mime_type",
        )
    sampling = sampling_params(request, penalty_window=model.window)
    budget = thinking_budget(cfg.thinking_config, model)
    if calling:
        if request.tool_config.mode is not FunctionCallingMode.AUTO:
            return DecodePlan(request, sampling, AnswerMode.CALLS, budget,
                              constraint=calls_spec(request, "open"))
        # Auto: the model decides. Once it opens a call, with the marker or (small models
        # do this) as a bare `{"name": ...}` object, the call is constrained.
        lazy = (
            LazyCalls(re.escape(CALL_OPEN), calls_spec(request, "after_open")),
            LazyCalls(BARE_CALL_START, calls_spec(request, "after_name")),
        )
        return DecodePlan(request, sampling, AnswerMode.CALLS, budget, lazy=lazy)
    # Declarations visible but calls off (tool_choice "none"): the marker is banned.
    ban = bool(request.tools)
    if cfg.wants_json:
        return DecodePlan(request, sampling, AnswerMode.JSON, budget,
                          constraint=JsonAnswer(cfg.response_schema), ban_call_marker=ban)
    return DecodePlan(request, sampling, AnswerMode.TEXT, budget, ban_call_marker=ban)


def _drawing_plan(
    request: GenerateContentRequest, model: LocalModel, canvas: Canvas | None, *, calling: bool
) -> DecodePlan:
    """Image output: the model draws SVG under the drawing grammar, or lays out a scene
    under the scene grammar (local_drawing.py, local_scene.py)."""
    cfg = request.generation_config
    if canvas is None:
        raise InvalidArgument(
            f"Model `{request.model}` cannot generate images on this server.",
            location="generation_config.response_modalities",
        )
    if calling or cfg.wants_json:
        raise InvalidArgument(
            "Image output cannot be combined with function calling or a JSON "
            "`response_format`.",
            location="generation_config.response_modalities",
        )
    width, height = cfg.image_size
    spec = canvas.spec_for(width, height)
    drawing = drawing_request(request, spec)
    sampling = sampling_params(drawing, penalty_window=model.window)
    if TEXT_MODALITY not in cfg.response_modalities:
        # Log probabilities are reported for the caption only (local_drawing.py): an
        # image-only answer has none, so none are computed.
        sampling = replace(sampling, logprobs=None)
    return DecodePlan(
        drawing,
        sampling,
        AnswerMode.IMAGE,
        thinking_budget(drawing.generation_config.thinking_config, model),
        constraint=spec,
        default_max_tokens=canvas.max_tokens,
    )


def sampling_params(request: GenerateContentRequest, *, penalty_window: int) -> SamplingParams:
    """GenerationConfig → sampling, with this backend's defaults for what it leaves unset."""
    cfg = request.generation_config
    if reads_perceived_media(request):
        default_temperature = PERCEIVED_MEDIA_DEFAULT_TEMPERATURE
    elif calls_allowed(request):
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
        # None: not asked, and the engine computes nothing for it.
        logprobs=cfg.logprobs if cfg.response_logprobs else None,
    )


def thinking_budget(config: ThinkingConfig | None, model: LocalModel) -> int:
    """Sampled thought tokens a request may use; 0 = no thinking."""
    budget = config.budget if config is not None else None
    if budget is None:
        budget = model.default_thinking_budget
    if budget is None:
        budget = DYNAMIC_BUDGET if model.thinks_natively else 0
    return model.dynamic_thinking_budget if budget == DYNAMIC_BUDGET else budget


def calls_spec(request: GenerateContentRequest, start: CallsStart) -> CallsSpec:
    """The calls this turn may make, in the local call format, the grammar starting at
    `start`."""
    names = set(request.tool_config.callable_names(request.tools))
    return CallsSpec(
        functions=tuple((d.name, d.parameters) for d in request.tools if d.name in names),
        open=CALL_OPEN,
        close=CALL_CLOSE,
        max_calls=MAX_CALLS_PER_TURN if request.tool_config.parallel_calls else 1,
        start=start,
    )


def check_prompt_length(characters: int, window: int) -> None:
    """A prompt that cannot fit the window is refused before it is tokenized (issue 12):
    tokenizing costs 0.3-2 s of CPU per MB (6-40 s for a 20 MB prompt, measured on Qwen2.5
    and SmolLM2), while no token spells more than MAX_CHARS_PER_TOKEN characters, so a
    longer text needs more tokens than the window has."""
    if characters > MAX_CHARS_PER_TOKEN * window:
        raise InvalidArgument(
            f"The conversation is {characters} characters long; it cannot fit the model's "
            f"context window of {window} tokens.",
            location="contents",
        )


def text_length(value: object) -> int:
    """Characters in every string of a template input (what rendering writes out)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(map(text_length, value.values()))
    if isinstance(value, list | tuple):
        return sum(map(text_length, value))
    return 0


def reads_perceived_media(request: GenerateContentRequest) -> bool:
    return any(
        isinstance(part, ImageDescriptionPart | TranscriptPart)
        for content in request.contents
        for part in content.parts
    )


def calls_allowed(request: GenerateContentRequest) -> bool:
    return bool(request.tool_config.callable_names(request.tools))
