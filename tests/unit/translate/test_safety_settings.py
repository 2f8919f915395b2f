"""Safety settings read once (translate/safety_settings.py) for both surfaces: the parser's
values and every refusal at its exact location; the native body's `safetySettings`; the
chat request's `google.safety_settings` in both forms of the `google` object and both key
spellings, with its errors named by the path the client wrote."""

from __future__ import annotations

from typing import Any

import pytest

from vertexcompat.domain.content import Content, GenerateContentRequest, TextPart
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.locations import FieldPath
from vertexcompat.domain.safety import (
    HarmBlockMethod,
    HarmBlockThreshold,
    HarmCategory,
    SafetySetting,
)
from vertexcompat.translate.chat_params import ChatParamNames
from vertexcompat.translate.field_support import ignored_params
from vertexcompat.translate.gemini_request import parse_generate_request
from vertexcompat.translate.request_to_gemini import to_generate_request
from vertexcompat.translate.safety_settings import safety_settings
from vertexcompat.translate.validation import parse_chat_request

AT = FieldPath.of("safety_settings")
HATE, DANGER = HarmCategory.HATE_SPEECH, HarmCategory.DANGEROUS_CONTENT
CATEGORIES = (
    "HARM_CATEGORY_HARASSMENT, HARM_CATEGORY_HATE_SPEECH, HARM_CATEGORY_SEXUALLY_EXPLICIT, "
    "HARM_CATEGORY_DANGEROUS_CONTENT, HARM_CATEGORY_CIVIC_INTEGRITY"
)
THRESHOLDS = (
    "BLOCK_LOW_AND_ABOVE, BLOCK_MEDIUM_AND_ABOVE, BLOCK_ONLY_HIGH, BLOCK_NONE, OFF, "
    "HARM_BLOCK_THRESHOLD_UNSPECIFIED"
)
METHODS = "SEVERITY, PROBABILITY, HARM_BLOCK_METHOD_UNSPECIFIED"
HATE_NONE = {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}
SETTINGS = [
    HATE_NONE,
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_LOW_AND_ABOVE",
     "method": "PROBABILITY"},
]
PARSED = (
    SafetySetting(HATE, HarmBlockThreshold.BLOCK_NONE),
    SafetySetting(DANGER, HarmBlockThreshold.BLOCK_LOW_AND_ABOVE, HarmBlockMethod.PROBABILITY),
)


def refusal(value: Any) -> tuple[str, str | None]:
    with pytest.raises(InvalidArgument) as caught:
        safety_settings(value, AT)
    location = caught.value.location
    return caught.value.message, None if location is None else str(location)


# --- the parser -------------------------------------------------------------------------


def test_settings_in_the_order_sent() -> None:
    assert safety_settings(SETTINGS, AT) == PARSED


def test_not_set_and_empty_are_no_settings() -> None:
    assert safety_settings(None, AT) == ()
    assert safety_settings([], AT) == ()


@pytest.mark.parametrize("category", list(HarmCategory))
@pytest.mark.parametrize("threshold", list(HarmBlockThreshold))
def test_every_category_and_threshold(
    category: HarmCategory, threshold: HarmBlockThreshold
) -> None:
    got = safety_settings([{"category": category.value, "threshold": threshold.value}], AT)
    assert got == (SafetySetting(category, threshold),)


@pytest.mark.parametrize(("method", "parsed"), [
    ("SEVERITY", HarmBlockMethod.SEVERITY), ("PROBABILITY", HarmBlockMethod.PROBABILITY),
    ("HARM_BLOCK_METHOD_UNSPECIFIED", None), (None, None),
])
def test_methods(method: str | None, parsed: HarmBlockMethod | None) -> None:
    got = safety_settings([{**HATE_NONE, "method": method}], AT)
    assert got == (SafetySetting(HATE, HarmBlockThreshold.BLOCK_NONE, parsed),)


def test_an_unspecified_threshold_sets_nothing_for_its_category() -> None:
    got = safety_settings([
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "HARM_BLOCK_THRESHOLD_UNSPECIFIED",
         "method": "SEVERITY"},
        HATE_NONE,
    ], AT)
    assert got == (SafetySetting(HATE, HarmBlockThreshold.BLOCK_NONE),)


def test_names_in_any_case() -> None:
    got = safety_settings([{"category": "harm_category_hate_speech", "threshold": "block_none",
                            "method": "Severity"}], AT)
    assert got == (SafetySetting(HATE, HarmBlockThreshold.BLOCK_NONE, HarmBlockMethod.SEVERITY),)


def test_null_method_is_unset_but_null_category_or_threshold_is_missing() -> None:
    assert refusal([{"category": None, "threshold": "OFF"}]) == (
        f"Missing required field `safety_settings[0].category`; expected one of {CATEGORIES}.",
        "safety_settings[0].category",
    )


REFUSALS: list[tuple[Any, str, str]] = [
    ({}, "`safety_settings` must be a list, got an object.", "safety_settings"),
    ("BLOCK_NONE", "`safety_settings` must be a list, got a string.", "safety_settings"),
    ([HATE_NONE, "BLOCK_NONE"],
     "`safety_settings[1]` must be an object (a safety setting), got a string.",
     "safety_settings[1]"),
    ([None], "`safety_settings[0]` must be an object (a safety setting), got null.",
     "safety_settings[0]"),
    ([{"threshold": "OFF"}],
     f"Missing required field `safety_settings[0].category`; expected one of {CATEGORIES}.",
     "safety_settings[0].category"),
    ([HATE_NONE, {"category": "HARM_CATEGORY_HARASSMENT"}],
     f"Missing required field `safety_settings[1].threshold`; expected one of {THRESHOLDS}.",
     "safety_settings[1].threshold"),
    ([{"category": "HARM_CATEGORY_HATE", "threshold": "OFF"}],
     f"`safety_settings[0].category` is 'HARM_CATEGORY_HATE'; expected one of {CATEGORIES}.",
     "safety_settings[0].category"),
    ([{"category": "HARM_CATEGORY_UNSPECIFIED", "threshold": "OFF"}],
     f"`safety_settings[0].category` is 'HARM_CATEGORY_UNSPECIFIED'; expected one of "
     f"{CATEGORIES}.",
     "safety_settings[0].category"),
    ([{"category": "HARM_CATEGORY_IMAGE_HATE", "threshold": "OFF"}],
     f"`safety_settings[0].category` is 'HARM_CATEGORY_IMAGE_HATE'; expected one of "
     f"{CATEGORIES}.",
     "safety_settings[0].category"),
    ([HATE_NONE, {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_SOME"}],
     f"`safety_settings[1].threshold` is 'BLOCK_SOME'; expected one of {THRESHOLDS}.",
     "safety_settings[1].threshold"),
    ([{**HATE_NONE, "method": "BOTH"}],
     f"`safety_settings[0].method` is 'BOTH'; expected one of {METHODS}.",
     "safety_settings[0].method"),
    ([{"category": 1, "threshold": "OFF"}],
     f"`safety_settings[0].category` must be a string (one of {CATEGORIES}), got a number.",
     "safety_settings[0].category"),
    ([{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": ["OFF"]}],
     f"`safety_settings[0].threshold` must be a string (one of {THRESHOLDS}), got a list.",
     "safety_settings[0].threshold"),
    ([{**HATE_NONE, "method": True}],
     f"`safety_settings[0].method` must be a string (one of {METHODS}), got a boolean.",
     "safety_settings[0].method"),
    ([{**HATE_NONE, "probability": "HIGH"}],
     "Invalid JSON payload received. Unknown name \"probability\" at 'safety_settings[0]': "
     "Cannot find field (expected one of: category, threshold, method).",
     "safety_settings[0].probability"),
    ([{**HATE_NONE, "blockMethod": "SEVERITY"}],
     "Invalid JSON payload received. Unknown name \"blockMethod\" at 'safety_settings[0]': "
     "Cannot find field (expected one of: category, threshold, method).",
     "safety_settings[0].block_method"),
    ([HATE_NONE, {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "OFF"}],
     "`safety_settings[1].category` is HARM_CATEGORY_HATE_SPEECH again (set by "
     "`safety_settings[0]`); each category may be set once.",
     "safety_settings[1].category"),
    ([{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "HARM_BLOCK_THRESHOLD_UNSPECIFIED"},
      SETTINGS[1], HATE_NONE],
     "`safety_settings[2].category` is HARM_CATEGORY_HATE_SPEECH again (set by "
     "`safety_settings[0]`); each category may be set once.",
     "safety_settings[2].category"),
]


@pytest.mark.parametrize(("value", "message", "location"), REFUSALS)
def test_refusals(value: Any, message: str, location: str) -> None:
    assert refusal(value) == (message, location)


# --- the native surface -----------------------------------------------------------------


HI = [{"role": "user", "parts": [{"text": "Hi"}]}]


def native(**fields: Any) -> GenerateContentRequest:
    return parse_generate_request({"contents": HI, **fields}, model="m")


@pytest.mark.parametrize("key", ["safetySettings", "safety_settings"])
def test_the_native_body_reads_them_in_either_spelling(key: str) -> None:
    assert native(**{key: SETTINGS}).safety_settings == PARSED


def test_the_native_body_refuses_both_spellings() -> None:
    with pytest.raises(InvalidArgument) as caught:
        native(safetySettings=SETTINGS, safety_settings=SETTINGS)
    assert str(caught.value.location) == "safety_settings"


def test_native_errors_are_located_below_a_wrapped_count_tokens_request() -> None:
    from vertexcompat.translate.gemini_request import parse_count_tokens_request

    body = {"generateContentRequest": {"contents": HI, "safetySettings": [{"threshold": "OFF"}]}}
    with pytest.raises(InvalidArgument) as caught:
        parse_count_tokens_request(body, model="m")
    assert str(caught.value.location) == (
        "generate_content_request.safety_settings[0].category"
    )


# --- the chat surface -------------------------------------------------------------------


FORMS = pytest.mark.parametrize(("form", "prefix"), [
    ("flattened", "google"), ("literal", "extra_body.google"),
])
KEYS = pytest.mark.parametrize("key", ["safety_settings", "safetySettings"])


def chat_request(form: str, google: dict[str, Any]) -> Any:
    raw: dict[str, Any] = {"model": "google/gemini-2.5-flash",
                           "messages": [{"role": "user", "content": "Hi"}]}
    if form == "flattened":
        raw["google"] = google
    else:
        raw["extra_body"] = {"google": google}
    return parse_chat_request(raw)


def lower(form: str, google: dict[str, Any]) -> GenerateContentRequest:
    return to_generate_request(chat_request(form, google), backend_model="local-m")


def chat_refusal(form: str, google: dict[str, Any]) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        lower(form, google)
    assert caught.value.location is None  # named in the client's terms
    return caught.value


@FORMS
@KEYS
def test_chat_settings_become_the_domain_requests(form: str, prefix: str, key: str) -> None:
    got = lower(form, {key: SETTINGS})
    assert got.safety_settings == PARSED
    assert got.contents == (Content("user", (TextPart("Hi"),)),)


@FORMS
def test_a_chat_request_without_them_has_none(form: str, prefix: str) -> None:
    assert lower(form, {}).safety_settings == ()
    assert lower(form, {"safety_settings": None}).safety_settings == ()


@FORMS
@KEYS
@pytest.mark.parametrize(("value", "where"), [
    ([{"category": "HARM_CATEGORY_NOPE", "threshold": "OFF"}], "[0].category"),
    ([HATE_NONE, {"category": "HARM_CATEGORY_HARASSMENT", "threshold": 3}], "[1].threshold"),
    ([HATE_NONE, {"category": "HARM_CATEGORY_HARASSMENT"}], "[1].threshold"),
    ([{**HATE_NONE, "method": "X"}], "[0].method"),
    ([{**HATE_NONE, "extra": 1}], "[0].extra"),
    ([HATE_NONE, HATE_NONE], "[1].category"),
    ([HATE_NONE, 7], "[1]"),
    ({"category": "HARM_CATEGORY_HATE_SPEECH"}, ""),
])
def test_chat_errors_name_the_path_the_client_wrote(
    form: str, prefix: str, key: str, value: Any, where: str
) -> None:
    error = chat_refusal(form, {key: value})
    assert error.param == f"{prefix}.{key}{where}"
    assert f"{prefix}.{key}" in error.message  # the text names it the same way


@FORMS
def test_a_threshold_error_lists_the_thresholds(form: str, prefix: str) -> None:
    error = chat_refusal(form, {"safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT",
                                                     "threshold": "LOW"}]})
    assert error.message == (
        f"`{prefix}.safety_settings[0].threshold` is 'LOW'; expected one of {THRESHOLDS}."
    )


@FORMS
def test_both_spellings_in_one_google_object_are_refused(form: str, prefix: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        chat_request(form, {"safety_settings": [], "safetySettings": SETTINGS})
    assert caught.value.param == f"{prefix}.safety_settings"
    assert "given twice" in caught.value.message


@FORMS
@KEYS
def test_a_location_below_safety_settings_maps_to_the_clients_param(
    form: str, prefix: str, key: str
) -> None:
    """What a policy reports about a setting (`safety_settings[1].threshold`) names the
    key and form the client used, index and field included."""
    names = ChatParamNames(chat_request(form, {key: SETTINGS}))
    assert names(FieldPath.parse("safety_settings[1].threshold")) == f"{prefix}.{key}[1].threshold"
    assert names(FieldPath.parse("safety_settings")) == f"{prefix}.{key}"


@FORMS
def test_a_safety_location_the_client_did_not_send_has_no_param(form: str, prefix: str) -> None:
    names = ChatParamNames(chat_request(form, {}))
    assert names(FieldPath.parse("safety_settings[0].threshold")) is None
    names = ChatParamNames(chat_request(form, {"cached_content": "cachedContents/1"}))
    assert names(FieldPath.parse("cached_content")) == f"{prefix}.cached_content"


@KEYS
def test_safety_settings_are_no_longer_reported_as_ignored(key: str) -> None:
    body = {"model": "m", "messages": [], "google": {key: [], "tool_hints": 1},
            "extra_body": {"google": {key: []}}}
    assert ignored_params(body) == ["google.tool_hints"]
