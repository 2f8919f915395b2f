"""How a response shows the model's thoughts and carries its thought signature (SPEC §5,
§6): the request's choice (`to_thought_presentation`), the non-streaming message
(`to_chat_completion`) and the streamed chunks (`ChunkTranscoder`)."""

from __future__ import annotations

import pytest

from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    FunctionCall,
    TextDelta,
    ThoughtDelta,
    ThoughtSignature,
    Usage,
)
from vertexcompat.domain.thinking import ThoughtTagMarker
from vertexcompat.translate.request_to_gemini import to_generate_request
from vertexcompat.translate.response_to_openai import to_chat_completion
from vertexcompat.translate.stream_transcoder import ChunkTranscoder
from vertexcompat.translate.thinking import (
    HIDDEN_THOUGHTS,
    ThoughtPresentation,
    to_thought_presentation,
)
from vertexcompat.translate.validation import parse_chat_request

STOP = FinishReason.STOP
REASONING = ThoughtPresentation(show=True)
TAGS = ThoughtPresentation(show=True, marker=ThoughtTagMarker("think"))
FORMS = pytest.mark.parametrize("form", ["flattened", "literal"])


def presentation(form: str | None = None, google: dict | None = None, **fields):
    body = {"model": "google/gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
    if form == "flattened":
        body["google"] = google
    elif form == "literal":
        body["extra_body"] = {"google": google}
    chat = parse_chat_request({**body, **fields})
    thinking = to_generate_request(chat, backend_model="m").generation_config.thinking_config
    return to_thought_presentation(thinking, chat.google_options.thought_tag_marker)


def signature(text: str) -> dict:
    return {"google": {"thought_signature": text}}


# --- the request's choice --------------------------------------------------------------


@FORMS
def test_include_thoughts_shows_them_as_reasoning_content(form):
    shown = presentation(form, {"thinking_config": {"include_thoughts": True}})
    assert shown == ThoughtPresentation(show=True, marker=None)
    assert shown.as_reasoning_content and not shown.as_tags


@FORMS
def test_a_tag_marker_alone_shows_thoughts_in_tags(form):
    shown = presentation(form, {"thought_tag_marker": "think"})
    assert shown == ThoughtPresentation(show=True, marker=ThoughtTagMarker("think"))
    assert shown.as_tags and not shown.as_reasoning_content


@FORMS
def test_a_tag_marker_with_include_thoughts_true_uses_tags(form):
    shown = presentation(
        form, {"thought_tag_marker": "reason", "thinking_config": {"include_thoughts": True}}
    )
    assert shown.as_tags and shown.marker == ThoughtTagMarker("reason")


@FORMS
def test_a_tag_marker_with_include_thoughts_false_hides_them(form):
    shown = presentation(
        form, {"thought_tag_marker": "think", "thinking_config": {"include_thoughts": False}}
    )
    assert not shown.show
    assert not shown.as_tags and not shown.as_reasoning_content


@FORMS
def test_include_thoughts_false_hides_them(form):
    shown = presentation(form, {"thinking_config": {"include_thoughts": False}})
    assert not shown.show


@FORMS
def test_a_thinking_config_without_include_thoughts_hides_them(form):
    assert not presentation(form, {"thinking_config": {"thinking_budget": 1024}}).show
    assert not presentation(form, {}).show


def test_saying_nothing_hides_thoughts():
    shown = presentation()
    assert shown == HIDDEN_THOUGHTS
    assert not shown.show and not shown.as_tags and not shown.as_reasoning_content


def test_reasoning_effort_alone_hides_thoughts():
    assert presentation(reasoning_effort="high") == HIDDEN_THOUGHTS


@FORMS
def test_reasoning_effort_with_a_tag_marker_shows_them_in_tags(form):
    shown = presentation(form, {"thought_tag_marker": "think"}, reasoning_effort="low")
    assert shown.as_tags


# --- non-streaming ---------------------------------------------------------------------


def complete(events, *, thoughts=HIDDEN_THOUGHTS, n=1, call_style="tool_calls"):
    ids = iter(f"call_{k}" for k in range(100))
    return to_chat_completion(
        events, completion_id="chatcmpl-x", created=1, model="m", n=n, call_style=call_style,
        new_id=lambda: next(ids), thoughts=thoughts,
    ).to_wire()


TEXT_TURN = [
    ThoughtDelta(0, "Let me "),
    ThoughtDelta(0, "think."),
    TextDelta(0, "The "),
    TextDelta(0, "answer."),
    Finished(0, STOP),
    Usage(prompt_tokens=1, completion_tokens=2, reasoning_tokens=3),
]


def test_hidden_thoughts_leave_no_trace_in_the_message():
    message = complete(TEXT_TURN)["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "The answer."}
    assert "reasoning_content" not in message


def test_hidden_thoughts_are_still_counted_in_usage():
    usage = complete(TEXT_TURN)["usage"]
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 3}


def test_thoughts_are_shown_in_reasoning_content():
    message = complete(TEXT_TURN, thoughts=REASONING)["choices"][0]["message"]
    assert message == {
        "role": "assistant", "content": "The answer.", "reasoning_content": "Let me think."
    }


def test_no_thoughts_means_no_reasoning_content_key_even_when_shown():
    message = complete([TextDelta(0, "hi"), Finished(0, STOP)], thoughts=REASONING)
    assert "reasoning_content" not in message["choices"][0]["message"]


def test_thoughts_are_shown_in_tags_before_the_answer():
    message = complete(TEXT_TURN, thoughts=TAGS)["choices"][0]["message"]
    assert message["content"] == "<think>Let me think.</think>The answer."
    assert "reasoning_content" not in message


def test_tags_use_the_requested_marker():
    shown = ThoughtPresentation(show=True, marker=ThoughtTagMarker("plan"))
    message = complete([ThoughtDelta(0, "T"), TextDelta(0, "answer")], thoughts=shown)
    assert message["choices"][0]["message"]["content"] == "<plan>T</plan>answer"


def test_no_thoughts_means_no_empty_tags():
    message = complete([TextDelta(0, "answer")], thoughts=TAGS)["choices"][0]["message"]
    assert message["content"] == "answer"


def test_a_text_turns_signature_goes_on_the_message():
    events = [*TEXT_TURN[:4], ThoughtSignature(0, "vxts1.k.sig"), *TEXT_TURN[4:]]
    for shown in (HIDDEN_THOUGHTS, REASONING, TAGS):
        message = complete(events, thoughts=shown)["choices"][0]["message"]
        assert message["extra_content"] == signature("vxts1.k.sig")


def test_no_signature_means_no_extra_content_key():
    message = complete(TEXT_TURN)["choices"][0]["message"]
    assert "extra_content" not in message


def test_a_call_signature_goes_on_that_tool_call_only():
    wire = complete(
        [
            ThoughtDelta(0, "plan"),
            FunctionCall(0, "get", {"city": "Oslo"}, thought_signature="vxts1.k.call"),
            FunctionCall(0, "put", {}),
            Finished(0, STOP),
        ],
        thoughts=REASONING,
    )
    choice = wire["choices"][0]
    message = choice["message"]
    first, second = message["tool_calls"]
    assert first["extra_content"] == signature("vxts1.k.call")
    assert "extra_content" not in second
    assert "extra_content" not in message
    assert message["content"] is None
    assert message["reasoning_content"] == "plan"
    assert choice["finish_reason"] == "tool_calls"


def test_the_deprecated_function_call_carries_its_signature_on_the_message():
    message = complete(
        [FunctionCall(0, "get", {}, thought_signature="vxts1.k.fc"), Finished(0, STOP)],
        call_style="function_call",
    )["choices"][0]["message"]
    assert message["function_call"]["name"] == "get"
    assert message["extra_content"] == signature("vxts1.k.fc")


def test_each_choice_shows_its_own_thoughts_and_signature():
    wire = complete(
        [
            ThoughtDelta(0, "zero"),
            ThoughtDelta(1, "one"),
            TextDelta(1, "B"),
            TextDelta(0, "A"),
            ThoughtSignature(1, "sig-1"),
            Finished(1, STOP),
            Finished(0, STOP),
        ],
        thoughts=TAGS,
        n=2,
    )
    first, second = (c["message"] for c in wire["choices"])
    assert first == {"role": "assistant", "content": "<think>zero</think>A"}
    assert second == {
        "role": "assistant", "content": "<think>one</think>B", "extra_content": signature("sig-1")
    }


# --- streaming -------------------------------------------------------------------------


def transcode(events, *, thoughts=HIDDEN_THOUGHTS, n=1, call_style="tool_calls"):
    ids = iter(f"call_{k}" for k in range(100))
    t = ChunkTranscoder(
        completion_id="chatcmpl-x", created=1, model="m", n=n, include_usage=False,
        call_style=call_style, new_id=lambda: next(ids), thoughts=thoughts,
    )
    chunks = t.start()
    for event in events:
        chunks += t.feed(event)
    chunks += t.finish()
    return [c.to_wire() for c in chunks]


def choice_steps(chunks, index=0):
    """(delta, finish_reason) of one choice, in order."""
    return [
        (c["choices"][0]["delta"], c["choices"][0]["finish_reason"])
        for c in chunks
        if c["choices"] and c["choices"][0]["index"] == index
    ]


ROLE = ({"role": "assistant"}, None)
FINISH = ({}, "stop")


def test_stream_sends_reasoning_deltas_then_content_then_one_finish():
    steps = choice_steps(transcode(TEXT_TURN, thoughts=REASONING))
    assert steps == [
        ROLE,
        ({"reasoning_content": "Let me "}, None),
        ({"reasoning_content": "think."}, None),
        ({"content": "The "}, None),
        ({"content": "answer."}, None),
        FINISH,
    ]


def test_stream_in_tags_closes_the_tag_before_the_first_answer_delta():
    steps = choice_steps(transcode(TEXT_TURN, thoughts=TAGS))
    assert steps == [
        ROLE,
        ({"content": "<think>Let me "}, None),
        ({"content": "think."}, None),
        ({"content": "</think>"}, None),
        ({"content": "The "}, None),
        ({"content": "answer."}, None),
        FINISH,
    ]
    assert "".join(d.get("content", "") for d, _ in steps) == (
        "<think>Let me think.</think>The answer."
    )


def test_stream_in_tags_closes_the_tag_when_the_choice_finishes_with_thoughts_only():
    steps = choice_steps(transcode([ThoughtDelta(0, "only"), Finished(0, STOP)], thoughts=TAGS))
    assert steps == [ROLE, ({"content": "<think>only"}, None), ({"content": "</think>"}, None),
                     FINISH]


def test_stream_in_tags_closes_the_tag_when_the_backend_never_finishes():
    steps = choice_steps(transcode([ThoughtDelta(0, "cut off")], thoughts=TAGS))
    assert steps == [ROLE, ({"content": "<think>cut off"}, None), ({"content": "</think>"}, None),
                     FINISH]


def test_stream_in_tags_closes_the_tag_before_a_call():
    steps = choice_steps(
        transcode([ThoughtDelta(0, "t"), FunctionCall(0, "get", {}), Finished(0, STOP)],
                  thoughts=TAGS)
    )
    assert steps[1:3] == [({"content": "<think>t"}, None), ({"content": "</think>"}, None)]
    assert "tool_calls" in steps[3][0]
    assert steps[-1] == ({}, "tool_calls")


def test_hidden_thoughts_send_no_chunk_at_all():
    t = ChunkTranscoder(completion_id="c", created=1, model="m", n=1, include_usage=False)
    assert t.feed(ThoughtDelta(0, "secret")) == []  # not even the role chunk
    with_thoughts = transcode(TEXT_TURN)
    without = transcode([e for e in TEXT_TURN if not isinstance(e, ThoughtDelta)])
    assert with_thoughts == without
    assert "secret" not in str(with_thoughts) and "think." not in str(with_thoughts)


def test_empty_thought_deltas_send_nothing():
    steps = choice_steps(transcode([ThoughtDelta(0, ""), TextDelta(0, "a")], thoughts=TAGS))
    assert steps == [ROLE, ({"content": "a"}, None), FINISH]


def test_the_signature_delta_comes_right_before_the_finish_chunk():
    events = [*TEXT_TURN[:4], ThoughtSignature(0, "vxts1.k.sig"), *TEXT_TURN[4:]]
    steps = choice_steps(transcode(events, thoughts=REASONING))
    assert steps[-2:] == [({"extra_content": signature("vxts1.k.sig")}, None), FINISH]
    assert sum("extra_content" in d for d, _ in steps) == 1


def test_the_signature_closes_an_open_tag_first():
    steps = choice_steps(
        transcode([ThoughtDelta(0, "t"), ThoughtSignature(0, "s"), Finished(0, STOP)],
                  thoughts=TAGS)
    )
    assert steps == [ROLE, ({"content": "<think>t"}, None), ({"content": "</think>"}, None),
                     ({"extra_content": signature("s")}, None), FINISH]


def test_a_calls_head_delta_carries_its_signature_and_its_body_does_not():
    steps = choice_steps(
        transcode(
            [
                FunctionCall(0, "get", {"city": "Oslo"}, thought_signature="vxts1.k.c"),
                FunctionCall(0, "put", {}),
                Finished(0, STOP),
            ]
        )
    )
    head, body, second_head, second_body = (d["tool_calls"][0] for d, _ in steps[1:5])
    assert head == {
        "index": 0, "id": "call_0", "type": "function",
        "function": {"name": "get", "arguments": ""},
        "extra_content": signature("vxts1.k.c"),
    }
    assert body.keys() == {"index", "function"}
    assert body["index"] == 0 and body["function"].keys() == {"arguments"}
    assert "extra_content" not in second_head and "extra_content" not in second_body
    assert all("extra_content" not in d for d, _ in steps[1:5])  # not at delta level either
    assert steps[-1] == ({}, "tool_calls")


def test_the_deprecated_function_call_head_carries_the_signature_on_the_delta():
    steps = choice_steps(
        transcode([FunctionCall(0, "get", {}, thought_signature="s"), Finished(0, STOP)],
                  call_style="function_call")
    )
    (head, _), (body, _) = steps[1:3]
    assert head["extra_content"] == signature("s")
    assert head["function_call"] == {"name": "get", "arguments": ""}
    assert "extra_content" not in body


def test_streamed_choices_show_thoughts_independently():
    chunks = transcode(
        [
            ThoughtDelta(0, "zero"),
            ThoughtDelta(1, "one"),
            TextDelta(1, "B"),
            TextDelta(0, "A"),
            ThoughtSignature(1, "sig-1"),
            Finished(1, STOP),
            Finished(0, STOP),
        ],
        thoughts=TAGS,
        n=2,
    )
    zero, one = choice_steps(chunks, 0), choice_steps(chunks, 1)
    assert zero == [ROLE, ({"content": "<think>zero"}, None), ({"content": "</think>"}, None),
                    ({"content": "A"}, None), FINISH]
    assert one == [ROLE, ({"content": "<think>one"}, None), ({"content": "</think>"}, None),
                   ({"content": "B"}, None), ({"extra_content": signature("sig-1")}, None),
                   FINISH]
    assert all("sig-1" not in str(d) for d, _ in zero)


def test_one_choice_thinking_in_tags_does_not_open_tags_in_the_other():
    chunks = transcode(
        [ThoughtDelta(0, "t"), TextDelta(1, "b"), TextDelta(0, "a"), Finished(0, STOP),
         Finished(1, STOP)],
        thoughts=TAGS,
        n=2,
    )
    assert choice_steps(chunks, 1) == [ROLE, ({"content": "b"}, None), FINISH]
    assert choice_steps(chunks, 0) == [
        ROLE, ({"content": "<think>t"}, None), ({"content": "</think>"}, None),
        ({"content": "a"}, None), FINISH,
    ]


def test_each_choice_finishes_exactly_once_with_thoughts():
    chunks = transcode(
        [ThoughtDelta(0, "x"), ThoughtDelta(1, "y"), Finished(0, STOP), Finished(0, STOP)],
        thoughts=REASONING,
        n=2,
    )
    finishes = [(c["choices"][0]["index"], c["choices"][0]["finish_reason"]) for c in chunks
                if c["choices"][0]["finish_reason"]]
    assert finishes == [(0, "stop"), (1, "stop")]
