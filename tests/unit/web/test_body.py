"""Reading a JSON body: what Python's `json` would accept but this server refuses, each with
the path of the offending value, and the media types a JSON endpoint reads."""

import pytest

from vertexcompat.domain.errors import InvalidArgument, UnsupportedMediaType
from vertexcompat.web.body import (
    PARSE_OFF_LOOP_BYTES,
    read_json_object,
    MAX_INT_DIGITS,
    MAX_JSON_DEPTH,
    parse_json_object,
    require_json_media_type,
)


def refused(raw: bytes) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as err:
        parse_json_object(raw)
    assert err.value.http_status == 400
    return err.value


def nested(depth: int, *, key: str = "metadata") -> bytes:
    """An object whose `key` holds arrays nested so that the whole body is `depth` deep."""
    inner = "[" * (depth - 1) + "]" * (depth - 1)
    return f'{{"model": "m", "{key}": {inner}}}'.encode()


# -- nesting --------------------------------------------------------------------------------


def test_a_thousand_levels_of_nesting_is_a_400_naming_the_limit_not_a_recursion_error():
    err = refused(nested(1000, key="messages"))
    assert err.param == "messages"
    assert f"{MAX_JSON_DEPTH} levels" in err.message


def test_nesting_far_beyond_the_recursion_limit_is_still_a_400():
    err = refused(b"[" * 200_000 + b"]" * 200_000)
    assert err.param is None
    assert f"{MAX_JSON_DEPTH} levels" in err.message


def test_nesting_at_the_limit_is_accepted_and_one_more_level_is_refused():
    assert parse_json_object(nested(MAX_JSON_DEPTH))["model"] == "m"
    assert refused(nested(MAX_JSON_DEPTH + 1)).param == "metadata"


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = '{"messages": [{"role": "user", "content": "' + "[{" * 500 + '\\" [[[ "}]}'
    body = parse_json_object(text.encode())
    assert body["messages"][0]["content"].startswith("[{[{")


def test_objects_and_arrays_count_alike_in_the_depth():
    def alternating(depth: int) -> bytes:
        # {"k": [{"k": [ ... ]}]} with `depth` containers in all, the body included.
        opens, closes = "", ""
        for level in range(1, depth):
            opens += '{"k": ' if level % 2 == 0 else "["
            closes = ("}" if level % 2 == 0 else "]") + closes
        return f'{{"k": {opens}{closes}}}'.encode()

    assert parse_json_object(alternating(MAX_JSON_DEPTH))
    assert refused(alternating(MAX_JSON_DEPTH + 1)).param == "k"


def test_many_shallow_containers_then_one_deep_one_names_the_deep_field():
    shallow = ", ".join(["[[1, 2], {\"a\": [3]}]"] * 5000)
    raw = f'{{"first": [{shallow}], "last": {"[" * 101}{"]" * 101}}}'.encode()
    assert refused(raw).param == "last"


def test_unbalanced_deep_brackets_are_a_400():
    assert refused(b'{"a": ' + b"[" * 5000).http_status == 400
    assert refused(b'{"a": ' + b"[}" * 5000 + b"}").http_status == 400


def test_the_deep_key_is_named_even_after_other_fields():
    raw = b'{"model": "m", "temperature": 1, "tools": ' + b"[" * 150 + b"]" * 150 + b"}"
    assert refused(raw).param == "tools"


# -- numbers --------------------------------------------------------------------------------


def test_a_5000_digit_integer_is_a_400_naming_its_path_not_a_value_error():
    raw = b'{"model": "m", "seed": ' + b"9" * 5000 + b"}"
    err = refused(raw)
    assert err.param == "seed"
    assert "5000 digits" in err.message and str(MAX_INT_DIGITS) in err.message


def test_integers_up_to_the_digit_limit_are_read():
    assert parse_json_object(b'{"seed": -' + b"9" * MAX_INT_DIGITS + b"}")["seed"] < 0


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_constants_are_refused(constant):
    raw = f'{{"model": "m", "messages": [{{"role": "user", "content": "x"}}], ' \
          f'"temperature": {constant}}}'.encode()
    err = refused(raw)
    assert err.param == "temperature"
    assert constant in err.message


def test_a_number_that_overflows_to_infinity_is_refused_with_its_path():
    err = refused(b'{"messages": [{"role": "user", "content": "x", "weight": 1e400}]}')
    assert err.param == "messages[0].weight"
    assert "1e400" in err.message


def test_ordinary_numbers_are_untouched():
    body = parse_json_object(b'{"a": 1.5e300, "b": -0.0, "c": 12345678901234567890, "d": 0}')
    assert body == {"a": 1.5e300, "b": -0.0, "c": 12345678901234567890, "d": 0}


def test_numbers_that_only_look_unusual_are_read():
    # Long fractions, underflow and big-but-finite exponents take the checked path and pass.
    raw = b'{"a": 0.' + b"1" * 300 + b', "b": 1e-400, "c": 1E+300, "d": 1' + b"0" * 99 + b"}"
    body = parse_json_object(raw)
    assert body["b"] == 0.0 and body["c"] == 1e300 and body["d"] == 10**99


def test_number_look_alikes_inside_strings_are_text():
    raw = b'{"a": "NaN", "b": "-Infinity", "c": "1e400", "d": "' + b"9" * 5000 + b'"}'
    assert parse_json_object(raw)["a"] == "NaN"


@pytest.mark.parametrize("value", [b"NaN", b"1e400", b"9" * 101, b"-Infinity"])
def test_a_refused_number_deep_in_a_large_body_is_still_found(value):
    filler = b", ".join([b'{"x": [1, 2.5, "s"]}'] * 20_000)
    raw = b'{"messages": [' + filler + b', {"x": [1, ' + value + b"]}]}"
    assert refused(raw).param == "messages[20000].x[1]"


# -- text that is not Unicode ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (rb'{"model": "m", "messages": [{"role": "user", "content": "hi \ud800"}]}',
         "messages[0].content"),
        (rb'{"model": "gemini-\udfff", "messages": []}', "model"),
        (rb'{"model": "m", "messages": [{"role": "user", "content": [{"type": "text", '
         rb'"text": "a\udc00b"}]}]}', "messages[0].content[0].text"),
        # A reversed pair is two lone surrogates.
        (rb'{"model": "m", "user": "\ude00\ud83d"}', "user"),
        # UTF-8-encoded surrogate bytes (CESU-style), not an escape.
        (b'{"model": "m", "stop": ["\xed\xa0\x80"]}', "stop[0]"),
    ],
)
def test_a_lone_surrogate_in_a_string_is_a_400_naming_its_path(raw, param):
    err = refused(raw)
    assert err.param == param
    assert "surrogate" in err.message
    err.message.encode("utf-8")  # the error itself can be sent


def test_a_lone_surrogate_in_a_key_is_named_by_an_escaped_path():
    err = refused(rb'{"model": "m", "bad\ud800key": 1}')
    assert err.param == "bad\\ud800key"
    err.param.encode("utf-8")


def test_the_first_bad_value_in_document_order_is_reported():
    raw = rb'{"a": {"b": ["ok", "\ud800"]}, "c": NaN}'
    assert refused(raw).param == "a.b[1]"


def test_surrogate_pairs_and_other_unicode_are_text():
    body = parse_json_object('{"k": "\\ud83d\\ude00 ключ ✓", "ключ": 1}'.encode())
    assert body == {"k": "😀 ключ ✓", "ключ": 1}


def test_utf16_bodies_are_still_read():
    assert parse_json_object('{"model": "m"}'.encode("utf-16")) == {"model": "m"}


# -- media type -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [None, "", "application/json", "application/json; charset=utf-8", "Application/JSON"],
)
def test_json_and_a_missing_content_type_are_read(content_type):
    require_json_media_type(content_type)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "image/png", "multipart/form-data; boundary=x",
     "application/x-www-form-urlencoded", "application/jsonx"],
)
def test_other_media_types_are_415_saying_json_is_expected(content_type):
    with pytest.raises(UnsupportedMediaType) as err:
        require_json_media_type(content_type)
    assert err.value.http_status == 415
    assert "application/json" in err.value.message
    assert err.value.accepted == "application/json"


def _json_request(raw: bytes):
    from starlette.requests import Request

    chunks = [{"type": "http.request", "body": raw, "more_body": False}]

    async def receive():
        return chunks.pop(0)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode()),
    ]}
    return Request(scope, receive)


@pytest.mark.parametrize("size, off_loop", [(100, False), (PARSE_OFF_LOOP_BYTES + 1, True)])
def test_large_bodies_are_parsed_off_the_event_loop(monkeypatch, size, off_loop):
    import threading

    import anyio

    import vertexcompat.web.body as body

    threads = []
    real = body.parse_json_object
    monkeypatch.setattr(
        body, "parse_json_object", lambda raw: threads.append(threading.get_ident()) or real(raw)
    )
    raw = b'{"model": "' + b"x" * max(0, size - 13) + b'"}'

    async def go():
        return threading.get_ident(), await read_json_object(_json_request(raw), 10 * size)

    loop_thread, parsed = anyio.run(go)
    assert parsed["model"].startswith("x")
    assert (threads[0] != loop_thread) is off_loop
