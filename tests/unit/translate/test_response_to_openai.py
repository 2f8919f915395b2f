import pytest

from vertexcompat.domain.events import Finished, FinishReason, FunctionCall, TextDelta, Usage
from vertexcompat.translate.response_to_openai import to_chat_completion


def complete(events, n=1):
    return to_chat_completion(events, completion_id="chatcmpl-x", created=5, model="google/g", n=n)


def test_candidate_text_is_concatenated_per_choice_with_usage():
    completion = complete(
        [
            TextDelta(0, "Hel"),
            TextDelta(1, "Bye"),
            TextDelta(0, "lo"),
            Finished(1, FinishReason.MAX_TOKENS),
            Finished(0, FinishReason.STOP),
            Usage(prompt_tokens=3, completion_tokens=4, cached_tokens=2, reasoning_tokens=1),
        ],
        n=2,
    )
    wire = completion.to_wire()
    assert wire["object"] == "chat.completion"
    assert wire["model"] == "google/g"
    assert [c["message"] for c in wire["choices"]] == [
        {"role": "assistant", "content": "Hello"},
        {"role": "assistant", "content": "Bye"},
    ]
    assert [c["finish_reason"] for c in wire["choices"]] == ["stop", "length"]
    assert wire["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "total_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 2},
        "completion_tokens_details": {"reasoning_tokens": 1},
    }


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (FinishReason.STOP, "stop"),
        (FinishReason.MAX_TOKENS, "length"),
        (FinishReason.SAFETY, "content_filter"),
        (FinishReason.PROHIBITED_CONTENT, "content_filter"),
        (FinishReason.BLOCKLIST, "content_filter"),
        (FinishReason.SPII, "content_filter"),
        (FinishReason.RECITATION, "content_filter"),
        (FinishReason.OTHER, "stop"),
    ],
)
def test_finish_reasons_map_to_openai_names(reason, expected):
    assert complete([Finished(0, reason)]).choices[0].finish_reason == expected


def test_event_for_unknown_candidate_is_a_bug():
    with pytest.raises(ValueError):
        complete([TextDelta(1, "x")])


def _ids():
    counter = iter(range(100))
    return lambda: f"call_{next(counter)}"


def test_function_calls_become_tool_calls_with_unique_ids_and_finish_reason():
    events = [
        FunctionCall(0, "get", {"city": "Oslo"}),
        FunctionCall(0, "put", {}),
        TextDelta(1, "no call"),
        FunctionCall(1, "get", {"city": "Bergen"}, id="upstream-id"),
        Finished(0, FinishReason.STOP),
        Finished(1, FinishReason.STOP),
        Usage(prompt_tokens=1, completion_tokens=2),
    ]
    wire = to_chat_completion(
        events, completion_id="chatcmpl-x", created=1, model="m", n=2, new_id=_ids()
    ).to_wire()
    first, second = wire["choices"]
    assert first["message"] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_0", "type": "function", "function": {"name": "get", "arguments": '{"city": "Oslo"}'}},
            {"id": "call_1", "type": "function", "function": {"name": "put", "arguments": "{}"}},
        ],
    }
    assert first["finish_reason"] == "tool_calls"
    # Text said before a call stays; an id the backend gave is kept.
    assert second["message"]["content"] == "no call"
    assert second["message"]["tool_calls"][0]["id"] == "upstream-id"
    assert second["finish_reason"] == "tool_calls"


def test_a_plain_answer_has_no_tool_call_keys():
    wire = to_chat_completion(
        [TextDelta(0, "hi"), Finished(0, FinishReason.STOP)], completion_id="c", created=1, model="m"
    ).to_wire()
    assert set(wire["choices"][0]["message"]) == {"role", "content"}


def test_a_call_cut_by_max_tokens_keeps_length():
    wire = to_chat_completion(
        [FunctionCall(0, "get", {}), Finished(0, FinishReason.MAX_TOKENS)],
        completion_id="c", created=1, model="m",
    ).to_wire()
    assert wire["choices"][0]["finish_reason"] == "length"


def test_deprecated_style_answers_with_one_function_call():
    wire = to_chat_completion(
        [FunctionCall(0, "get", {"a": 1}), Finished(0, FinishReason.STOP)],
        completion_id="c", created=1, model="m", call_style="function_call",
    ).to_wire()
    choice = wire["choices"][0]
    assert choice["message"] == {
        "role": "assistant", "content": None, "function_call": {"name": "get", "arguments": '{"a": 1}'}
    }
    assert choice["finish_reason"] == "function_call"


def test_malformed_function_call_finishes_as_stop():
    wire = to_chat_completion(
        [TextDelta(0, "x"), Finished(0, FinishReason.MALFORMED_FUNCTION_CALL)],
        completion_id="c", created=1, model="m",
    ).to_wire()
    assert wire["choices"][0]["finish_reason"] == "stop"
