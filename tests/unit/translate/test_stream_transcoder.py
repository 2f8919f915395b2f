from vertexcompat.domain.events import Finished, FinishReason, FunctionCall, TextDelta, Usage
from vertexcompat.translate.stream_transcoder import ChunkTranscoder


def transcode(events, *, n=1, include_usage=False):
    t = ChunkTranscoder(
        completion_id="chatcmpl-x", created=9, model="m", n=n, include_usage=include_usage
    )
    chunks = t.start()
    for e in events:
        chunks += t.feed(e)
    chunks += t.finish()
    return [c.to_wire() for c in chunks]


SCRIPT = [
    TextDelta(0, "a"),
    TextDelta(1, "b"),
    TextDelta(0, "c"),
    Finished(0, FinishReason.STOP),
    Finished(1, FinishReason.MAX_TOKENS),
    Usage(prompt_tokens=2, completion_tokens=3),
]


def test_stream_sends_role_first_per_choice():
    chunks = transcode(SCRIPT, n=2)
    for index in (0, 1):
        mine = [
            c["choices"][0] for c in chunks if c["choices"] and c["choices"][0]["index"] == index
        ]
        assert mine[0]["delta"] == {"role": "assistant"}
        assert all("role" not in c["delta"] for c in mine[1:])


def test_stream_sends_one_finish_reason_per_choice_on_an_empty_delta():
    chunks = transcode(SCRIPT + [Finished(0, FinishReason.STOP)], n=2)
    finishes = [
        c["choices"][0] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]
    ]
    assert [(f["index"], f["finish_reason"], f["delta"]) for f in finishes] == [
        (0, "stop", {}),
        (1, "length", {}),
    ]


def test_content_deltas_keep_order():
    chunks = transcode(SCRIPT, n=2)
    text0 = "".join(
        c["choices"][0]["delta"].get("content", "")
        for c in chunks
        if c["choices"] and c["choices"][0]["index"] == 0
    )
    assert text0 == "ac"


def test_every_chunk_has_same_identity_and_object():
    chunks = transcode(SCRIPT, n=2, include_usage=True)
    assert {(c["id"], c["created"], c["model"], c["object"]) for c in chunks} == {
        ("chatcmpl-x", 9, "m", "chat.completion.chunk")
    }


def test_without_include_usage_no_chunk_has_a_usage_key():
    chunks = transcode(SCRIPT, n=2)
    assert all("usage" not in c for c in chunks)
    assert all(c["choices"] for c in chunks)


def test_with_include_usage_usage_is_null_until_one_final_usage_chunk():
    chunks = transcode(SCRIPT, n=2, include_usage=True)
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] == 5
    assert chunks[-1]["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}


def test_choice_without_finished_event_is_closed_with_stop_by_finish():
    chunks = transcode([TextDelta(0, "x")])
    assert chunks[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "finish_reason": "stop",
        "logprobs": None,
    }


def test_finish_is_idempotent_and_start_sends_role_once():
    t = ChunkTranscoder(completion_id="i", created=1, model="m", n=1, include_usage=True)
    assert len(t.start()) == 1 and t.start() == []
    # `content: ""` (an empty turn), the finish_reason, the usage; then nothing more.
    assert len(t.finish()) == 3 and t.finish() == []


def test_a_call_streams_as_a_head_delta_then_its_arguments():
    ids = iter(["call_a", "call_b", "call_c"])
    t = ChunkTranscoder(
        completion_id="chatcmpl-x", created=9, model="m", n=2, include_usage=False,
        new_id=lambda: next(ids),
    )
    chunks = t.start()
    for e in [
        TextDelta(1, "Sure."),
        FunctionCall(0, "get", {"city": "Oslo"}),
        FunctionCall(1, "put", {}),
        FunctionCall(0, "get", {"city": "Rome"}),
        Finished(0, FinishReason.STOP),
        Finished(1, FinishReason.STOP),
    ]:
        chunks += t.feed(e)
    chunks += t.finish()
    deltas = [(c.to_wire()["choices"][0]["index"], c.to_wire()["choices"][0]) for c in chunks]
    zero = [d for i, d in deltas if i == 0]
    assert zero[1]["delta"] == {"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                                                "function": {"name": "get", "arguments": ""}}]}
    assert zero[2]["delta"] == {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Oslo"}'}}]}
    # The second call of a choice has index 1; the other choice counts its own calls.
    assert zero[3]["delta"]["tool_calls"][0]["index"] == 1
    assert zero[3]["delta"]["tool_calls"][0]["id"] == "call_c"
    one = [d for i, d in deltas if i == 1]
    assert one[1]["delta"] == {"content": "Sure."}
    assert one[2]["delta"]["tool_calls"][0]["index"] == 0
    assert [d["finish_reason"] for d in zero if d["finish_reason"]] == ["tool_calls"]
    assert [d["finish_reason"] for d in one if d["finish_reason"]] == ["tool_calls"]


def test_deprecated_style_streams_function_call_deltas():
    t = ChunkTranscoder(
        completion_id="chatcmpl-x", created=9, model="m", n=1, include_usage=False,
        call_style="function_call",
    )
    chunks = t.start()
    chunks += t.feed(FunctionCall(0, "get", {"a": 1}))
    chunks += t.feed(Finished(0, FinishReason.STOP))
    wire = [c.to_wire()["choices"][0] for c in chunks]
    assert wire[1]["delta"] == {"function_call": {"name": "get", "arguments": ""}}
    assert wire[2]["delta"] == {"function_call": {"arguments": '{"a": 1}'}}
    assert wire[3]["finish_reason"] == "function_call"
