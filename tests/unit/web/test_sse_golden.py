"""Golden SSE transcripts pin the wire format byte for byte (DESIGN example 10); how to
regenerate them: tests/unit/web/golden_files.py."""

import pytest

from tests.fakes import FakeBackend, make_container
from tests.unit.web.golden_files import assert_matches_golden, normalised
from tests.unit.web.helpers import AUTH, VERTEX_CHAT, chat_body, client_for
from vertexcompat.domain.events import Finished, FinishReason, FunctionCall, TextDelta, Usage


def normalised_stream(body, container=None) -> str:
    with client_for(container) as client:
        r = client.post(VERTEX_CHAT, json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    return normalised(r.text)


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("stream_n1", {}),
        ("stream_n2_usage", {"n": 2, "stream_options": {"include_usage": True}}),
    ],
)
def test_stream_transcript_matches_golden(name, extra):
    assert_matches_golden(normalised_stream(chat_body(stream=True, **extra)), f"{name}.sse")


def _tool_script(request):
    return [
        TextDelta(1, "Checking."),
        FunctionCall(0, "get_weather", {"location": "Chicago, IL"}),
        FunctionCall(1, "get_weather", {"location": "Oslo"}),
        FunctionCall(1, "get_time", {}),
        Finished(0, FinishReason.STOP),
        Finished(1, FinishReason.STOP),
        Usage(prompt_tokens=9, completion_tokens=30),
    ]


def test_tool_call_stream_transcript_matches_golden():
    container = make_container({"fake": FakeBackend(script=_tool_script)})
    tools = [{"type": "function", "function": {"name": "get_weather"}},
             {"type": "function", "function": {"name": "get_time"}}]
    actual = normalised_stream(
        chat_body(stream=True, n=2, tools=tools, stream_options={"include_usage": True}), container
    )
    assert_matches_golden(actual, "stream_tool_calls_n2.sse")
