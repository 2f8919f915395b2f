import pytest

from vertexcompat.domain.events import Finished, FinishReason, TextDelta, Usage
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
