"""The decode plan as a pure function of the request and the model's facts: sampling
defaults, the thinking budget, the constraint, the answer mode, max tokens, and what is
refused before anything runs."""

import re

import pytest

from vertexcompat.backends.local.plan import (
    MAX_CHARS_PER_TOKEN,
    AnswerMode,
    JsonAnswer,
    LazyCalls,
    LocalModel,
    check_prompt_length,
    plan_decode,
    thinking_budget,
)
from vertexcompat.backends.local_drawing import DRAWING_DEFAULT_TEMPERATURE, drawing_instructions
from vertexcompat.backends.local_prompt import BARE_CALL_START, CALL_CLOSE, CALL_OPEN
from vertexcompat.domain.content import (
    Content,
    GenerateContentRequest,
    GenerationConfig,
    ImageConfig,
    ImageDescriptionPart,
    TextPart,
)
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.thinking import ThinkingConfig
from vertexcompat.domain.tools import FunctionCallingMode, FunctionDeclaration, ToolConfig
from vertexcompat.engine.constraints import CallsSpec
from vertexcompat.engine.svg_grammar import SvgGrammarSpec

MODEL = LocalModel(parallel=4, window=1000, thinks_natively=False)
WEATHER = FunctionDeclaration("get_weather", "Weather.", {"type": "object"})
TIME = FunctionDeclaration("get_time", "Time.")
SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}}


def request(*parts, tools=(), tool_config=ToolConfig(), **cfg) -> GenerateContentRequest:
    return GenerateContentRequest(
        model="m",
        contents=(Content("user", parts or (TextPart("hi"),)),),
        generation_config=GenerationConfig(**cfg),
        tools=tools,
        tool_config=tool_config,
    )


class Canvas:
    max_tokens = 1200

    def spec_for(self, width, height):
        return SvgGrammarSpec(width=width // 10, height=height // 10)


def refused(req, model=MODEL, **kw) -> str:
    with pytest.raises(InvalidArgument) as info:
        plan_decode(req, model, **kw)
    return str(info.value.location)


# -- sampling --------------------------------------------------------------------------


def test_a_plain_request_samples_freely_with_gemini_defaults():
    plan = plan_decode(request(), MODEL)
    assert plan.answers is AnswerMode.TEXT
    assert plan.constraint is None and plan.lazy == () and not plan.ban_call_marker
    s = plan.sampling
    assert (s.temperature, s.top_p, s.top_k, s.seed) == (1.0, 0.95, None, None)
    assert (s.presence_penalty, s.frequency_penalty) == (0.0, 0.0)
    assert s.penalty_window == MODEL.window
    assert s.grammar is None and s.lazy_grammars == () and s.banned_tokens == ()


def test_the_request_sampling_fields_are_carried_as_given():
    plan = plan_decode(request(
        temperature=0.4, top_p=0.5, top_k=7, seed=3, presence_penalty=1.5,
        frequency_penalty=-0.5, candidate_count=3, stop_sequences=("x",),
    ), MODEL)
    s = plan.sampling
    assert (s.temperature, s.top_p, s.top_k, s.seed) == (0.4, 0.5, 7, 3)
    assert (s.presence_penalty, s.frequency_penalty) == (1.5, -0.5)
    assert plan.candidates == 3 and plan.stop == ("x",)


def test_calls_and_perceived_media_lower_the_default_temperature_only():
    calls = request(tools=(WEATHER,))
    assert plan_decode(calls, MODEL).sampling.temperature == 0.3
    media = request(ImageDescriptionPart("a red sign", "image/png", 10, 10), tools=(WEATHER,))
    assert plan_decode(media, MODEL).sampling.temperature == 0.1
    told = request(tools=(WEATHER,), temperature=0.9)
    assert plan_decode(told, MODEL).sampling.temperature == 0.9
    # calls off: the declarations do not lower it
    off = request(tools=(WEATHER,), tool_config=ToolConfig(mode=FunctionCallingMode.NONE))
    assert plan_decode(off, MODEL).sampling.temperature == 1.0


def test_more_candidates_than_slots_are_refused():
    assert refused(request(candidate_count=5)) == "generation_config.candidate_count"
    assert plan_decode(request(candidate_count=4), MODEL).candidates == 4


# -- thinking --------------------------------------------------------------------------


@pytest.mark.parametrize(("config", "native", "default", "expected"), [
    (None, False, None, 0),  # a model without native thinking does not think unasked
    (None, True, None, 2048),  # a native one thinks, dynamically
    (None, False, 64, 64),  # the operator's default
    (ThinkingConfig(budget=-1), False, None, 2048),
    (ThinkingConfig(budget=-1), False, 64, 2048),
    (ThinkingConfig(budget=0), True, 64, 0),
    (ThinkingConfig(budget=12), False, None, 12),
    (ThinkingConfig(include_thoughts=True), False, -1, 2048),
])
def test_the_thinking_budget(config, native, default, expected):
    model = LocalModel(parallel=1, window=10, thinks_natively=native,
                       default_thinking_budget=default)
    assert thinking_budget(config, model) == expected
    assert plan_decode(request(thinking_config=config), model).thinking_budget == expected


def test_the_dynamic_bound_is_configurable():
    model = LocalModel(parallel=1, window=10, thinks_natively=True, dynamic_thinking_budget=99)
    assert thinking_budget(None, model) == 99


# -- constraints -----------------------------------------------------------------------


def test_a_json_answer_is_constrained_by_its_schema_and_post_checked():
    plan = plan_decode(request(response_mime_type="application/json", response_schema=SCHEMA), MODEL)
    assert plan.answers is AnswerMode.JSON and plan.constraint == JsonAnswer(SCHEMA)
    any_object = plan_decode(request(response_mime_type="application/json"), MODEL)
    assert any_object.constraint == JsonAnswer(None)


def test_required_calls_are_constrained_from_the_first_token():
    plan = plan_decode(request(tools=(WEATHER, TIME),
                               tool_config=ToolConfig(mode=FunctionCallingMode.ANY)), MODEL)
    assert plan.answers is AnswerMode.CALLS and plan.lazy == ()
    assert plan.constraint == CallsSpec(
        functions=(("get_weather", {"type": "object"}), ("get_time", None)),
        open=CALL_OPEN, close=CALL_CLOSE, max_calls=5, start="open",
    )


def test_a_named_call_without_parallel_calls_allows_one_call_of_that_function():
    plan = plan_decode(request(tools=(WEATHER, TIME), tool_config=ToolConfig(
        mode=FunctionCallingMode.ANY, allowed_function_names=("get_time",), parallel_calls=False,
    )), MODEL)
    assert plan.constraint.functions == (("get_time", None),)
    assert plan.constraint.max_calls == 1


def test_auto_calls_are_constrained_once_the_model_opens_one():
    plan = plan_decode(request(tools=(WEATHER,)), MODEL)
    assert plan.answers is AnswerMode.CALLS and plan.constraint is None
    [marker, bare] = plan.lazy
    assert isinstance(marker, LazyCalls) and re.search(marker.trigger, f"ok {CALL_OPEN}")
    assert marker.calls.start == "after_open"
    assert bare.trigger == BARE_CALL_START and bare.calls.start == "after_name"
    assert not plan.ban_call_marker


def test_declarations_with_calls_off_ban_the_call_marker():
    off = ToolConfig(mode=FunctionCallingMode.NONE)
    plan = plan_decode(request(tools=(WEATHER,), tool_config=off), MODEL)
    assert plan.answers is AnswerMode.TEXT and plan.ban_call_marker and plan.lazy == ()
    json_plan = plan_decode(request(tools=(WEATHER,), tool_config=off,
                                    response_mime_type="application/json"), MODEL)
    assert json_plan.answers is AnswerMode.JSON and json_plan.ban_call_marker


def test_json_with_calls_is_refused():
    req = request(tools=(WEATHER,), response_mime_type="application/json")
    assert refused(req) == "generation_config.response_mime_type"


# -- images ----------------------------------------------------------------------------


def image_request(**cfg):
    return request(response_modalities=("TEXT", "IMAGE"),
                   image_config=ImageConfig(width=640, height=320), **cfg)


def test_an_image_is_drawn_under_the_canvas_grammar_without_thinking():
    plan = plan_decode(image_request(thinking_config=ThinkingConfig(budget=64)), MODEL,
                       canvas=Canvas())
    assert plan.answers is AnswerMode.IMAGE
    assert plan.constraint == SvgGrammarSpec(width=64, height=32)
    assert plan.thinking_budget == 0
    assert plan.sampling.temperature == DRAWING_DEFAULT_TEMPERATURE
    assert plan.image_size == (640, 320) and plan.caption
    system = plan.request.system_instruction.parts[0].text
    assert system == drawing_instructions(SvgGrammarSpec(width=64, height=32))
    assert plan.default_max_tokens == Canvas.max_tokens
    image_only = plan_decode(request(response_modalities=("IMAGE",)), MODEL, canvas=Canvas())
    assert not image_only.caption


def test_images_are_refused_without_a_canvas_or_with_calls_or_json():
    assert refused(image_request()) == "generation_config.response_modalities"
    calls = request(tools=(WEATHER,), response_modalities=("IMAGE",))
    assert refused(calls, canvas=Canvas()) == "generation_config.response_modalities"
    json_image = image_request(response_mime_type="application/json")
    assert refused(json_image, canvas=Canvas()) == "generation_config.response_modalities"


# -- max tokens ------------------------------------------------------------------------


def test_max_tokens_is_what_was_asked_or_what_the_window_leaves():
    plan = plan_decode(request(max_output_tokens=100), MODEL)
    assert plan.max_tokens(900, window=1000) == 100
    assert plan_decode(request(), MODEL).max_tokens(900, window=1000) == 100
    drawing = plan_decode(image_request(), MODEL, canvas=Canvas())
    assert drawing.max_tokens(100, window=1000) == 900
    small = LocalModel(parallel=1, window=5000, thinks_natively=False)
    assert plan_decode(image_request(), small, canvas=Canvas()).max_tokens(100, window=5000) == 1200


@pytest.mark.parametrize(("prompt", "asked", "location"), [
    (0, None, "contents"),
    (1000, None, "contents"),
    (1200, 10, "contents"),
    (900, 101, "generation_config.max_output_tokens"),
])
def test_a_prompt_or_max_tokens_beyond_the_window_is_refused(prompt, asked, location):
    plan = plan_decode(request(max_output_tokens=asked), MODEL)
    with pytest.raises(InvalidArgument) as info:
        plan.max_tokens(prompt, window=1000)
    assert str(info.value.location) == location


def test_a_prompt_with_more_characters_than_the_window_can_spell_is_refused_untokenized():
    check_prompt_length(MAX_CHARS_PER_TOKEN * 1000, 1000)
    with pytest.raises(InvalidArgument) as info:
        check_prompt_length(MAX_CHARS_PER_TOKEN * 1000 + 1, 1000)
    assert str(info.value.location) == "contents"
