"""Golden SSE transcripts pin the wire format byte for byte (DESIGN example 10).

The id and `created` vary per request, so they are normalised before comparing. To
regenerate after an intended change: VERTEXCOMPAT_REGEN_GOLDEN=1 pytest this file, then
review the diff of tests/unit/web/golden/.
"""

import os
import re
from pathlib import Path

import pytest

from tests.fakes import FakeBackend, make_container
from tests.unit.web.helpers import AUTH, VERTEX_CHAT, chat_body, client_for
from vertexcompat.domain.events import Finished, FinishReason, FunctionCall, TextDelta, Usage

GOLDEN = Path(__file__).parent / "golden"


def normalised_stream(body, container=None) -> str:
    with client_for(container) as client:
        r = client.post(VERTEX_CHAT, json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    text = re.sub(r'"id":"chatcmpl-[A-Za-z0-9_-]{24,}"', '"id":"chatcmpl-ID"', r.text)
    text = re.sub(r'"id":"call_[A-Za-z0-9_-]{24}"', '"id":"call_ID"', text)
    return re.sub(r'"created":\d+', '"created":0', text)


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("stream_n1", {}),
        ("stream_n2_usage", {"n": 2, "stream_options": {"include_usage": True}}),
    ],
)
def test_stream_transcript_matches_golden(name, extra):
    actual = normalised_stream(chat_body(stream=True, **extra))
    path = GOLDEN / f"{name}.sse"
    if os.environ.get("VERTEXCOMPAT_REGEN_GOLDEN"):
        path.write_text(actual)
    assert actual == path.read_text()


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
    path = GOLDEN / "stream_tool_calls_n2.sse"
    if os.environ.get("VERTEXCOMPAT_REGEN_GOLDEN"):
        path.write_text(actual)
    assert actual == path.read_text()
