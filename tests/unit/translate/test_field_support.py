from vertexcompat.translate.field_support import (
    IGNORED_PARAMS_HEADER,
    ignored_params,
    ignored_params_header,
)


def test_honoured_fields_are_not_reported_as_ignored():
    body = {
        "model": "m",
        "messages": [],
        "temperature": 1,
        "top_p": 1,
        "max_tokens": 1,
        "max_completion_tokens": 1,
        "n": 1,
        "seed": 1,
        "stop": "x",
        "frequency_penalty": 0,
        "presence_penalty": 0,
        "stream": True,
        "stream_options": {},
    }
    assert ignored_params(body) == []
    assert ignored_params_header(body) == {}


def test_unknown_fields_are_listed_sorted():
    body = {"model": "m", "user": "u", "logprobs": True, "logit_bias": {}}
    assert ignored_params(body) == ["logit_bias", "logprobs", "user"]
    assert ignored_params_header(body) == {IGNORED_PARAMS_HEADER: "logit_bias,logprobs,user"}


def test_thinking_fields_are_honoured():
    body = {"model": "m", "messages": [], "reasoning_effort": "low", "google": {}, "extra_body": {}}
    assert ignored_params(body) == []
