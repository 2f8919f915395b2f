import pytest

from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.thinking import ThinkingConfig, ThoughtTagMarker
from vertexcompat.domain.locations import FieldPath
from vertexcompat.translate.chat_params import ChatParamNames
from vertexcompat.translate.request_to_gemini import to_generate_request
from vertexcompat.translate.thinking import to_thinking_config, to_thought_tag_marker
from vertexcompat.translate.validation import parse_chat_request


def to_openai_param(gemini: str, chat) -> str | None:
    """The Chat Completions surface's name for a Gemini location a backend reported."""
    return ChatParamNames(chat)(FieldPath.parse(gemini))


MESSAGES = [{"role": "user", "content": "hi"}]


def chat(**fields):
    return parse_chat_request({"model": "google/gemini-2.5-flash", "messages": MESSAGES, **fields})


def with_google(form, google):
    """The body as each kind of client sends `extra_body={"google": google}`: the openai
    SDK flattens it to a top-level `google` key, raw REST users send it literally."""
    if form == "flattened":
        return chat(google=google)
    return chat(extra_body={"google": google})


# The path each form's errors must use.
PREFIX = {"flattened": "google", "literal": "extra_body.google"}
FORMS = pytest.mark.parametrize("form", ["flattened", "literal"])


def error(fn, *args, **kwargs):
    with pytest.raises(InvalidArgument) as exc:
        fn(*args, **kwargs)
    return exc.value


# --- reasoning_effort ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("effort", "expected"),
    [
        ("none", ThinkingConfig(budget=0)),
        ("minimal", ThinkingConfig(budget=1024, level="minimal")),
        ("low", ThinkingConfig(budget=1024, level="low")),
        ("medium", ThinkingConfig(budget=8192, level="medium")),
        ("high", ThinkingConfig(budget=24576, level="high")),
    ],
)
def test_reasoning_effort_maps_to_vertex_budgets(effort, expected):
    assert to_thinking_config(chat(reasoning_effort=effort)) == expected


def test_reasoning_effort_none_turns_thinking_off_and_returns_no_thoughts():
    config = to_thinking_config(chat(reasoning_effort="none"))
    assert config.is_off and not config.include_thoughts


def test_no_thinking_parameters_leave_the_model_default():
    assert to_thinking_config(chat()) is None
    assert to_thinking_config(chat(reasoning_effort=None)) is None


@pytest.mark.parametrize("effort", ["extreme", "Low", "", "xhigh"])
def test_unknown_reasoning_effort_is_rejected_listing_the_valid_values(effort):
    exc = error(to_thinking_config, chat(reasoning_effort=effort))
    assert exc.param == "reasoning_effort"
    for valid in ("'none'", "'minimal'", "'low'", "'medium'", "'high'"):
        assert valid in exc.message


def test_non_string_reasoning_effort_is_rejected_by_the_wire_model():
    exc = error(chat, reasoning_effort=1)
    assert exc.param == "reasoning_effort"


# --- extra_body.google.thinking_config ----------------------------------------------


@FORMS
@pytest.mark.parametrize(
    ("budget", "expected"),
    [(0, ThinkingConfig(budget=0)), (-1, ThinkingConfig(budget=-1)), (64, ThinkingConfig(budget=64))],
)
def test_thinking_budget_is_carried_as_given(form, budget, expected):
    config = to_thinking_config(with_google(form, {"thinking_config": {"thinking_budget": budget}}))
    assert config == expected


def test_budget_zero_is_off_and_minus_one_is_dynamic():
    assert ThinkingConfig(budget=0).is_off and not ThinkingConfig(budget=0).is_dynamic
    assert ThinkingConfig(budget=-1).is_dynamic and not ThinkingConfig(budget=-1).is_off


@FORMS
@pytest.mark.parametrize(
    ("level", "budget"), [("minimal", 1024), ("low", 1024), ("medium", 8192), ("high", 24576)]
)
def test_thinking_level_maps_to_the_same_budgets_as_reasoning_effort(form, level, budget):
    config = to_thinking_config(with_google(form, {"thinking_config": {"thinking_level": level}}))
    assert config == ThinkingConfig(budget=budget, level=level)
    assert config == to_thinking_config(chat(reasoning_effort=level))


@FORMS
def test_include_thoughts_is_carried_with_a_budget_a_level_or_alone(form):
    def lowered(thinking_config):
        return to_thinking_config(with_google(form, {"thinking_config": thinking_config}))

    assert lowered({"thinking_budget": 256, "include_thoughts": True}) == ThinkingConfig(
        budget=256, include_thoughts=True
    )
    assert lowered({"thinking_level": "high", "include_thoughts": True}) == ThinkingConfig(
        budget=24576, include_thoughts=True, level="high"
    )
    assert lowered({"include_thoughts": True}) == ThinkingConfig(include_thoughts=True)
    assert lowered({"include_thoughts": False}) == ThinkingConfig()


@FORMS
def test_empty_thinking_config_keeps_the_model_default(form):
    assert to_thinking_config(with_google(form, {"thinking_config": {}})) == ThinkingConfig()


@FORMS
def test_google_object_without_thinking_options_leaves_thinking_alone(form):
    assert to_thinking_config(with_google(form, {"image_config": {"aspect_ratio": "1:1"}})) is None


@FORMS
def test_a_tag_marker_alone_asks_for_the_thoughts_in_the_domain_request(form):
    # The domain request is the one place that says whether thoughts are returned
    # (`ThinkingConfig.include_thoughts`); the budget stays the model's default.
    request = with_google(form, {"thought_tag_marker": "think"})
    assert to_thinking_config(request) == ThinkingConfig(include_thoughts=True)


@FORMS
def test_a_tag_marker_with_reasoning_effort_sets_include_thoughts(form):
    request = chat(reasoning_effort="low", **_google_fields(form, {"thought_tag_marker": "t"}))
    assert to_thinking_config(request) == ThinkingConfig(
        budget=1024, level="low", include_thoughts=True
    )


@FORMS
def test_a_tag_marker_with_include_thoughts_false_keeps_them_hidden(form):
    google = {"thought_tag_marker": "think", "thinking_config": {"include_thoughts": False}}
    assert to_thinking_config(with_google(form, google)) == ThinkingConfig(include_thoughts=False)


@FORMS
def test_budget_below_minus_one_is_rejected_at_the_path_the_client_used(form):
    exc = error(with_google, form, {"thinking_config": {"thinking_budget": -2}})
    assert exc.param == f"{PREFIX[form]}.thinking_config.thinking_budget"
    assert "-1" in exc.message


@FORMS
@pytest.mark.parametrize(
    ("field", "value"),
    [("thinking_budget", "1024"), ("thinking_budget", True), ("thinking_budget", 1.5),
     ("include_thoughts", "yes"), ("thinking_level", "extreme"), ("thinking_level", "HIGH")],
)
def test_badly_typed_thinking_config_fields_are_rejected_at_their_path(form, field, value):
    exc = error(with_google, form, {"thinking_config": {field: value}})
    assert exc.param == f"{PREFIX[form]}.thinking_config.{field}"


@FORMS
def test_unknown_thinking_config_field_is_rejected_not_ignored(form):
    exc = error(with_google, form, {"thinking_config": {"thinking_buget": 64}})
    assert exc.param == f"{PREFIX[form]}.thinking_config.thinking_buget"


@FORMS
def test_thinking_config_that_is_not_an_object_is_rejected(form):
    exc = error(with_google, form, {"thinking_config": 1024})
    assert exc.param == f"{PREFIX[form]}.thinking_config"


@FORMS
def test_budget_and_level_together_are_rejected_naming_both(form):
    request = with_google(
        form, {"thinking_config": {"thinking_budget": 64, "thinking_level": "low"}}
    )
    exc = error(to_thinking_config, request)
    assert exc.param == f"{PREFIX[form]}.thinking_config"
    assert f"`{PREFIX[form]}.thinking_config.thinking_budget`" in exc.message
    assert f"`{PREFIX[form]}.thinking_config.thinking_level`" in exc.message


@FORMS
def test_reasoning_effort_with_thinking_config_is_rejected_naming_both(form):
    request = chat(reasoning_effort="low", **_google_fields(form, {"thinking_config": {}}))
    exc = error(to_thinking_config, request)
    assert exc.param == "reasoning_effort"
    assert "`reasoning_effort`" in exc.message
    assert f"`{PREFIX[form]}.thinking_config`" in exc.message


@FORMS
def test_reasoning_effort_with_other_google_options_is_allowed(form):
    google = {"image_config": {"aspect_ratio": "1:1"}}
    request = chat(reasoning_effort="low", **_google_fields(form, google))
    assert to_thinking_config(request) == ThinkingConfig(budget=1024, level="low")


def _google_fields(form, google):
    return {"google": google} if form == "flattened" else {"extra_body": {"google": google}}


# --- the two key forms --------------------------------------------------------------


def test_both_google_key_forms_at_once_are_ambiguous():
    exc = error(
        chat,
        google={"thinking_config": {"thinking_budget": 0}},
        extra_body={"google": {"thinking_config": {"thinking_budget": 64}}},
    )
    assert exc.param == "extra_body"
    assert "`google`" in exc.message and "`extra_body.google`" in exc.message


def test_ambiguous_google_keys_are_rejected_even_without_thinking_options():
    assert error(chat, google={"thought_tag_marker": "a"}, extra_body={"google": {}}).param == (
        "extra_body"
    )


@FORMS
def test_the_google_object_is_read_once_into_one_typed_object(form):
    google = {
        "thinking_config": {"thinking_budget": 64, "include_thoughts": True},
        "image_config": {"aspect_ratio": "16:9"},
        "thought_tag_marker": "think",
    }
    options = with_google(form, google).google_options
    assert options.path == PREFIX[form]
    assert options.thinking_config.thinking_budget == 64
    assert options.image_config.aspect_ratio == "16:9"
    assert options.thought_tag_marker == ThoughtTagMarker("think")
    assert options.param("thinking_config") == f"{PREFIX[form]}.thinking_config"


def test_a_request_without_the_google_object_has_empty_options():
    options = chat().google_options
    assert (options.thinking_config, options.image_config, options.thought_tag_marker) == (
        None, None, None,
    )


def test_extra_body_without_google_is_not_ambiguous():
    request = chat(google={"thinking_config": {"thinking_budget": 8}}, extra_body={"other": 1})
    assert to_thinking_config(request) == ThinkingConfig(budget=8)


def test_null_google_keys_count_as_absent():
    assert to_thinking_config(chat(google=None, extra_body={"google": None})) is None
    request = chat(google=None, extra_body={"google": {"thinking_config": {"thinking_budget": 8}}})
    assert to_thinking_config(request) == ThinkingConfig(budget=8)


@pytest.mark.parametrize(
    ("fields", "param"),
    [({"google": "think"}, "google"), ({"extra_body": []}, "extra_body"),
     ({"extra_body": {"google": 1}}, "extra_body.google")],
)
def test_google_objects_of_the_wrong_type_are_rejected_at_their_path(fields, param):
    assert error(chat, **fields).param == param


@FORMS
def test_other_google_fields_are_let_through_for_later_issues(form):
    request = with_google(form, {"cached_content": "cachedContents/1", "safety_settings": []})
    assert to_thinking_config(request) is None


# --- thought_tag_marker -------------------------------------------------------------


@FORMS
@pytest.mark.parametrize("marker", ["think", "thought", "T", "my_tag-2", "a" * 32])
def test_thought_tag_marker_is_carried(form, marker):
    assert to_thought_tag_marker(with_google(form, {"thought_tag_marker": marker})) == (
        ThoughtTagMarker(marker)
    )


def test_thought_tag_marker_wraps_text_in_its_tags():
    marker = ThoughtTagMarker("think")
    assert (marker.open, marker.close) == ("<think>", "</think>")
    assert marker.wrap("hmm") == "<think>hmm</think>"


def test_no_thought_tag_marker_means_no_tags():
    assert to_thought_tag_marker(chat()) is None
    assert to_thought_tag_marker(chat(google={"thinking_config": {}})) is None


@FORMS
@pytest.mark.parametrize(
    "marker", ["", "<think>", "think>", "/think", "th ink", "1think", "-x", "a" * 33, "thïnk"]
)
def test_thought_tag_marker_must_be_a_plain_tag_name(form, marker):
    exc = error(with_google, form, {"thought_tag_marker": marker})
    assert exc.param == f"{PREFIX[form]}.thought_tag_marker"


@FORMS
def test_non_string_thought_tag_marker_is_rejected(form):
    exc = error(with_google, form, {"thought_tag_marker": True})
    assert exc.param == f"{PREFIX[form]}.thought_tag_marker"


def test_thought_tag_marker_domain_type_refuses_names_translate_would_reject():
    with pytest.raises(ValueError):
        ThoughtTagMarker("<think>")


# --- lowering into the Gemini request -----------------------------------------------


@FORMS
def test_generate_request_carries_the_thinking_config_in_its_generation_config(form):
    request = with_google(form, {"thinking_config": {"thinking_budget": 64, "include_thoughts": True}})
    lowered = to_generate_request(request, backend_model="local-m")
    assert lowered.generation_config.thinking_config == ThinkingConfig(
        budget=64, include_thoughts=True
    )


def test_generate_request_without_thinking_parameters_has_no_thinking_config():
    lowered = to_generate_request(chat(), backend_model="local-m")
    assert lowered.generation_config.thinking_config is None


def test_generate_request_carries_reasoning_effort_as_a_budget():
    lowered = to_generate_request(chat(reasoning_effort="medium"), backend_model="local-m")
    assert lowered.generation_config.thinking_config == ThinkingConfig(budget=8192, level="medium")


def test_domain_thinking_config_refuses_budgets_translate_would_reject():
    with pytest.raises(ValueError):
        ThinkingConfig(budget=-2)
    with pytest.raises(ValueError):
        ThinkingConfig(level="low")


# --- backend errors named as the client sent the parameter --------------------------


def test_backend_thinking_error_names_reasoning_effort_when_the_client_used_it():
    request = chat(reasoning_effort="high")
    assert to_openai_param("generation_config.thinking_config.budget", request) == (
        "reasoning_effort"
    )


@FORMS
@pytest.mark.parametrize(
    ("domain_param", "wire_suffix"),
    [("generation_config.thinking_config.budget", "thinking_config.thinking_budget"),
     ("generation_config.thinking_config.level", "thinking_config.thinking_level"),
     ("generation_config.thinking_config", "thinking_config")],
)

def test_backend_thinking_error_names_the_google_path_the_client_used(form, domain_param, wire_suffix):
    request = with_google(form, {"thinking_config": {"thinking_budget": 64}})
    assert to_openai_param(domain_param, request) == f"{PREFIX[form]}.{wire_suffix}"


def test_non_thinking_backend_errors_are_not_renamed_as_thinking():
    request = chat(reasoning_effort="high")
    assert to_openai_param("generation_config.stop_sequences", request) == "stop"
    # Not a field of ThinkingConfig's parent: no client name, and never the Gemini path.
    assert to_openai_param("generation_config.thinking_configuration", request) is None
