import asyncio
import json

from tests.fakes import FakeBackend, make_container
from tests.unit.web.helpers import AUTH, VERTEX_CHAT, chat_body, client_for, sse_payloads
from vertexcompat.domain.errors import ResourceExhausted
from vertexcompat.domain.events import Finished, FinishReason, TextDelta
from vertexcompat.web.app import create_app


def stream(body, container=None):
    with client_for(container) as client:
        r = client.post(VERTEX_CHAT, json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    return r, sse_payloads(r.text)


def test_stream_ends_with_done_and_every_frame_is_a_chunk():
    _, payloads = stream(chat_body(stream=True))
    assert payloads[-1] == "[DONE]"
    chunks = payloads[:-1]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({(c["id"], c["created"], c["model"]) for c in chunks}) == 1
    assert chunks[0]["model"] == "google/gemini-2.5-flash"


def test_stream_sends_role_first_and_one_finish_reason_per_choice():
    _, payloads = stream(chat_body(stream=True, n=2))
    for index in (0, 1):
        mine = [c["choices"][0] for c in payloads[:-1] if c["choices"][0]["index"] == index]
        assert mine[0]["delta"] == {"role": "assistant"}
        assert [m["finish_reason"] for m in mine if m["finish_reason"]] == ["stop"]
        assert mine[-1]["finish_reason"] == "stop" and mine[-1]["delta"] == {}
        assert "".join(m["delta"].get("content", "") for m in mine) == (
            "Hello world" if index == 0 else "Hello world 1"
        )


def test_stream_has_no_usage_unless_include_usage():
    _, payloads = stream(chat_body(stream=True))
    assert all("usage" not in c for c in payloads[:-1])


def test_stream_with_include_usage_sends_one_usage_chunk_last():
    _, payloads = stream(chat_body(stream=True, stream_options={"include_usage": True}))
    chunks = payloads[:-1]
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] == 9


def test_stream_response_carries_the_ignored_params_header():
    r, _ = stream(chat_body(stream=True, logit_bias={}))
    assert r.headers["x-vertexcompat-ignored-params"] == "logit_bias"


def test_error_after_streaming_started_is_one_error_frame():
    backend = FakeBackend(
        script=lambda req: [TextDelta(0, "partial"), ResourceExhausted("engine gave up")]
    )
    _, payloads = stream(chat_body(stream=True), make_container({"fake": backend}))
    assert payloads[-1] == {
        "error": {
            "code": 429,
            "message": "engine gave up",
            "status": "RESOURCE_EXHAUSTED",
            "type": "rate_limit_error",
            "param": None,
            "details": [],
        }
    }
    assert "[DONE]" not in payloads
    assert backend.endings == ["error"]


def test_empty_backend_stream_still_closes_every_choice():
    backend = FakeBackend(script=lambda req: [])
    _, payloads = stream(chat_body(stream=True), make_container({"fake": backend}))
    steps = [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for c in payloads[:-1]]
    # The empty turn's `content: ""` makes it accumulate like the non-stream message.
    assert steps == [({"role": "assistant"}, None), ({"content": ""}, None), ({}, "stop")]


async def drive(app, body, *, disconnect_after_frames, spec_version="2.3"):
    """Drives the ASGI app directly; the client disconnects after N body frames."""
    raw = json.dumps(body).encode()
    frames: list[bytes] = []
    disconnect = asyncio.Event()
    request_sent = False

    async def receive():
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        if spec_version >= "2.4" and disconnect.is_set():
            raise OSError("connection lost")  # what ASGI 2.4 servers do after a disconnect
        if message["type"] == "http.response.body" and message.get("body"):
            frames.append(message["body"])
            if len(frames) >= disconnect_after_frames:
                disconnect.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": spec_version},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": VERTEX_CHAT,
        "raw_path": VERTEX_CHAT.encode(),
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 1),
        "server": ("t", 80),
        "headers": [
            (b"authorization", b"Bearer t"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(raw)).encode()),
        ],
        "state": {},
    }
    if disconnect_after_frames == 0:
        disconnect.set()
    await asyncio.wait_for(app(scope, receive, send), timeout=5)
    return frames


def hanging_backend():
    return FakeBackend(script=lambda req: [TextDelta(0, "a")], hang=True)


def test_client_disconnect_during_stream_closes_the_backend_stream():
    backend = hanging_backend()
    app = create_app(make_container({"fake": backend}))
    frames = asyncio.run(drive(app, chat_body(stream=True), disconnect_after_frames=2))
    assert len(frames) >= 2
    assert backend.endings == ["closed"]


def test_client_disconnect_while_waiting_for_the_first_event_closes_the_backend_stream():
    backend = FakeBackend(script=lambda req: [], hang=True)
    app = create_app(make_container({"fake": backend}))
    asyncio.run(drive(app, chat_body(stream=True), disconnect_after_frames=0))
    assert backend.endings == ["closed"]


def test_client_disconnect_during_non_stream_completion_closes_the_backend_stream():
    backend = hanging_backend()
    app = create_app(make_container({"fake": backend}))
    frames = asyncio.run(drive(app, chat_body(), disconnect_after_frames=0))
    assert frames == []
    assert backend.endings == ["closed"]


def test_asgi_2_4_servers_also_cancel_on_disconnect():
    backend = hanging_backend()
    app = create_app(make_container({"fake": backend}))
    asyncio.run(drive(app, chat_body(stream=True), disconnect_after_frames=1, spec_version="2.4"))
    assert backend.endings == ["closed"]


def test_finished_reasons_are_mapped_in_stream():
    backend = FakeBackend(script=lambda req: [TextDelta(0, "x"), Finished(0, FinishReason.SAFETY)])
    _, payloads = stream(chat_body(stream=True), make_container({"fake": backend}))
    assert [c["choices"][0]["finish_reason"] for c in payloads[:-1]] == [
        None,
        None,
        "content_filter",
    ]
