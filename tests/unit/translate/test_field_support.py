from urllib.parse import unquote

import pytest

from vertexcompat.translate.field_support import (
    IGNORED_PARAMS_HEADER,
    IGNORED_PARAMS_OMITTED_HEADER,
    MAX_IGNORED_PARAMS_HEADER_CHARS,
    header_safe_name,
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
    assert ignored_params(body) == ["logit_bias", "user"]
    assert ignored_params_header(body) == {IGNORED_PARAMS_HEADER: "logit_bias,user"}


def test_thinking_fields_are_honoured():
    body = {"model": "m", "messages": [], "reasoning_effort": "low", "google": {}, "extra_body": {}}
    assert ignored_params(body) == []


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("ключ", "%D0%BA%D0%BB%D1%8E%D1%87"),
        ("a\r\nSet-Cookie: x=1", "a%0D%0ASet-Cookie:%20x=1"),
        ("a,b", "a%2Cb"),
        ("100%", "100%25"),
        ("tab\there", "tab%09here"),
        ("caf\u00e9", "caf%C3%A9"),  # Latin-1 would fit a header, but is not ASCII either
        ("\ud800", "%ED%A0%80"),  # a lone surrogate: encoded, never raised on
        ("x-y_z.w~!$&'()*+/:;=?@[]{}|^`\"<>\\#", "x-y_z.w~!$&'()*+/:;=?@[]{}|^`\"<>\\#"),
    ],
)
def test_names_are_percent_encoded_into_visible_ascii(name, encoded):
    assert header_safe_name(name) == encoded
    assert unquote(encoded, errors="surrogatepass") == name


def test_the_header_value_is_always_latin1_encodable_visible_ascii():
    body = {"model": "m", "ключ": 1, "\r\n": 2, "\udfff": 3, "emoji😀": 4}
    headers = ignored_params_header(body)
    value = headers[IGNORED_PARAMS_HEADER]
    assert value.isascii() and all(0x21 <= ord(ch) < 0x7F for ch in value)
    assert sorted(unquote(n, errors="surrogatepass") for n in value.split(",")) == sorted(
        ["ключ", "\r\n", "\udfff", "emoji😀"])


def test_a_long_list_stops_within_the_limit_and_counts_what_it_left_out():
    body = {f"field_{i:04d}": i for i in range(1000)}
    headers = ignored_params_header(body)
    listed = headers[IGNORED_PARAMS_HEADER].split(",")
    assert len(headers[IGNORED_PARAMS_HEADER]) <= MAX_IGNORED_PARAMS_HEADER_CHARS
    assert listed == [f"field_{i:04d}" for i in range(len(listed))]
    assert headers[IGNORED_PARAMS_OMITTED_HEADER] == str(1000 - len(listed))


def test_a_short_list_has_no_omitted_count():
    assert IGNORED_PARAMS_OMITTED_HEADER not in ignored_params_header({"user": "u"})
