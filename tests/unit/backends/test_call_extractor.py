"""Calls are cut out of a local model's streamed text whatever the token boundaries."""

import pytest

from vertexcompat.backends.call_extractor import CallExtractor, MalformedCall, ParsedCall
from vertexcompat.backends.local_prompt import BARE_CALL_START, CALL_CLOSE, CALL_OPEN


def extractor() -> CallExtractor:
    return CallExtractor(open_marker=CALL_OPEN, close_marker=CALL_CLOSE, bare_start=BARE_CALL_START)


def run(pieces):
    e = extractor()
    out = []
    for piece in pieces:
        out += e.feed(piece)
    held, open_call = e.finish()
    return out + held, open_call


def joined(items):
    """Adjacent text items merged, so results compare independently of the split."""
    out = []
    for item in items:
        if isinstance(item, str) and out and isinstance(out[-1], str):
            out[-1] += item
        else:
            out.append(item)
    return out


CASES = [
    ("<tool_call>\n{\"name\": \"get\", \"arguments\": {\"a\": 1}}\n</tool_call>",
     [ParsedCall("get", {"a": 1})]),
    ("<tool_call>{\"name\":\"a\",\"arguments\":{}}</tool_call>\n<tool_call>{\"name\":\"b\",\"arguments\":{}}</tool_call>\n",
     [ParsedCall("a", {}), ParsedCall("b", {})]),
    ("Let me check.\n\n<tool_call>{\"name\": \"get\", \"arguments\": {}}</tool_call>",
     ["Let me check.", ParsedCall("get", {})]),
    ("{\"name\": \"get\", \"arguments\": {\"city\": \"Oslo\"}}", [ParsedCall("get", {"city": "Oslo"})]),
    ("```json\n{\"name\": \"get\", \"arguments\": {}}\n```", [ParsedCall("get", {})]),
    ("Here:\n{ \"name\" : \"get\", \"arguments\": {\"s\": \"}{\"}}", ["Here:", ParsedCall("get", {"s": "}{"})]),
    ("plain text with {braces} and a <tool and ``` fences\n", ["plain text with {braces} and a <tool and ``` fences\n"]),
    ("```python\nprint({1: 2})\n```", ["```python\nprint({1: 2})\n```"]),
    ("{\"a\": 1}", ["{\"a\": 1}"]),
    ("", []),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_every_split_of_the_text_gives_the_same_calls_and_text(text, expected):
    for size in range(1, 8):
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        items, open_call = run(pieces)
        assert joined(items) == expected, (size, items)
        assert open_call is False
    # ... and one split at every position.
    for cut in range(len(text) + 1):
        items, _ = run([text[:cut], text[cut:]])
        assert joined(items) == expected, cut


def test_a_call_cut_off_is_reported_open_and_not_released():
    items, open_call = run(["Sure <tool_call>{\"name\": \"get\", \"argum"])
    assert items == ["Sure"] and open_call is True
    items, open_call = run(["{\"name\": \"get\", \"arguments\": {"])
    assert items == [] and open_call is True


def test_text_that_only_looked_like_a_call_start_is_released_at_the_end():
    assert run(["see <tool_"]) == (["see", " <tool_"], False)
    assert joined(run(["x {\"na"])[0]) == ["x {\"na"]


@pytest.mark.parametrize(
    "body",
    ['not json', '{"arguments": {}}', '{"name": 3, "arguments": {}}', '{"name": "f", "arguments": [1]}',
     '{"name": "f", "arguments": "{oops"}'],
)
def test_a_tagged_call_that_does_not_parse_is_malformed(body):
    e = extractor()
    with pytest.raises(MalformedCall):
        e.feed(f"{CALL_OPEN}{body}{CALL_CLOSE}")


def test_arguments_written_as_a_json_string_are_accepted():
    items, _ = run([f'{CALL_OPEN}{{"name": "f", "arguments": "{{\\"a\\": 2}}"}}{CALL_CLOSE}'])
    assert items == [ParsedCall("f", {"a": 2})]
