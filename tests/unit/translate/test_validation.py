import pytest

from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.translate.validation import loc_to_param, parse_chat_request

USER = {"role": "user", "content": "hi"}


def body(**fields):
    return {"model": "gemini-2.5-flash", "messages": [USER], **fields}


def param_of(raw) -> str | None:
    with pytest.raises(InvalidArgument) as caught:
        parse_chat_request(raw)
    return caught.value.param


def test_valid_request_parses_and_keeps_unknown_fields():
    chat = parse_chat_request(body(temperature=1, stop=["a", "b"], user="x"))
    assert chat.temperature == 1.0
    assert chat.stop == ["a", "b"]
    assert chat.model_extra == {"user": "x"}


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        ({"messages": [USER]}, "model"),
        (body(model=3), "model"),
        (body(messages=[]), "messages"),
        (body(messages="hi"), "messages"),
        (body(messages=[{"role": "robot", "content": "x"}]), "messages[0].role"),
        (body(messages=[USER, {"role": "user", "content": 5}]), "messages[1].content"),
        (
            body(messages=[{"role": "user", "content": [{"type": "text", "text": 1}]}]),
            "messages[0].content[0].text",
        ),
        (
            body(messages=[{"role": "user", "content": [{"type": "video"}]}]),
            "messages[0].content[0].type",
        ),
        (body(temperature=2.5), "temperature"),
        (body(temperature=-0.1), "temperature"),
        (body(temperature="0.5"), "temperature"),
        (body(top_p=1.5), "top_p"),
        (body(n=0), "n"),
        (body(n=9), "n"),
        (body(n=2.5), "n"),
        (body(max_tokens=0), "max_tokens"),
        (body(max_completion_tokens=0), "max_completion_tokens"),
        (body(presence_penalty=2.1), "presence_penalty"),
        (body(frequency_penalty=-3), "frequency_penalty"),
        (body(stop=["a", "b", "c", "d", "e", "f"]), "stop"),
        (body(stop=[""]), "stop[0]"),
        (body(stop=""), "stop"),
        (body(stop=7), "stop"),
        (body(stop=["a", 1]), "stop[1]"),
        (body(stream="yes"), "stream"),
        (body(stream_options={"include_usage": "yes"}), "stream_options.include_usage"),
        (body(seed=1.5), "seed"),
    ],
)
def test_invalid_value_names_the_exact_param(raw, param):
    assert param_of(raw) == param


def test_error_message_names_the_param():
    with pytest.raises(InvalidArgument) as caught:
        parse_chat_request(body(temperature=3))
    assert "`temperature`" in caught.value.message


def test_non_object_body_is_invalid_with_no_param():
    assert param_of([1, 2]) is None


def test_union_tags_are_removed_from_locations():
    assert (
        loc_to_param(("messages", 0, "content", "~list", 1, "text"))
        == "messages[0].content[1].text"
    )
