"""`google.safety_settings` on the chat wire model (openai_api/request.py): kept as the JSON
sent, with the key that carried it, in either form of the `google` object; its reading is
translate/safety_settings.py's (tests/unit/translate/test_safety_settings.py)."""

from __future__ import annotations

from typing import Any

import pytest

from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.openai_api.request import ChatCompletionRequest

SETTINGS = [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}]


def chat(**fields: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}
    )


@pytest.mark.parametrize("path", ["google", "extra_body.google"])
@pytest.mark.parametrize("key", ["safety_settings", "safetySettings"])
def test_kept_as_sent_with_its_key(path: str, key: str) -> None:
    google = {key: SETTINGS}
    fields = {"google": google} if path == "google" else {"extra_body": {"google": google}}
    options = chat(**fields).google_options
    assert options.safety_settings == SETTINGS
    assert options.safety_settings_key == key
    assert options.param(options.safety_settings_key) == f"{path}.{key}"


def test_any_json_passes_the_wire_model() -> None:
    assert chat(google={"safety_settings": "x"}).google_options.safety_settings == "x"


def test_none_sent() -> None:
    options = chat().google_options
    assert options.safety_settings is None
    assert options.safety_settings_key == "safety_settings"
    assert chat(google={}).google_options.safety_settings is None


def test_both_spellings_are_refused() -> None:
    with pytest.raises(InvalidArgument) as caught:
        chat(extra_body={"google": {"safetySettings": SETTINGS, "safety_settings": None}})
    assert caught.value.param == "extra_body.google.safety_settings"
    assert caught.value.message == (
        "`extra_body.google.safety_settings` is given twice (as `safety_settings` and "
        "`safetySettings`)."
    )
