"""Golden transcripts of Gemini's native surface: `:streamGenerateContent?alt=sse` byte for
byte, and whole `:generateContent` answers as pretty-printed JSON (sorted keys), in
tests/unit/web/golden/native_*. How to regenerate them: tests/unit/web/golden_files.py (a
regenerating run writes the files and fails).

Besides the goldens, each transcript is checked in plain code for the framing the
google-genai SDK depends on (every frame exactly `data: <json>\\n\\n`; no `event:`, comment
or keep-alive lines; no `[DONE]`), for the shape Google sends, and is read by the real SDK:
each frame is validated against `types.GenerateContentResponse` as wire JSON (camelCase,
unknown fields forbidden), and the whole transcript is replayed to a `genai.Client`, which
turns it into responses exactly as it does Vertex's (`models.py`:
`_GenerateContentResponse_from_vertex` + `GenerateContentResponse._from_response`)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types
from google.oauth2.credentials import Credentials

from tests.fakes import FakeBackend, Script, hello_script, make_container
from tests.unit.web.golden_files import assert_matches_golden
from tests.unit.web.helpers import AUTH, client_for
from vertexcompat.domain.errors import ResourceExhausted
from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    FunctionCall,
    TextDelta,
    ThoughtDelta,
    ThoughtSignature,
    Usage,
)

PROJECT, LOCATION = "my-proj", "us-central1"
USER_HI = {"role": "user", "parts": [{"text": "hi"}]}

# --- normalising ------------------------------------------------------------------------

# What `web/generate.py` stamps on every answer: `secrets.token_urlsafe(16)` and an RFC 3339
# UTC time with microseconds, as Vertex writes them.
RESPONSE_ID = re.compile(r"[A-Za-z0-9_-]{22}")
CREATE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
NORMAL_ID = "RESPONSE_ID"
NORMAL_TIME = "1970-01-01T00:00:00.000000Z"  # still a valid timestamp: goldens stay parseable


def normalised_native(sse: str) -> str:
    """`responseId` and `createTime` vary per request (like a chat id and `created`,
    `golden_files.normalised`); every one in the body must have the stamped form."""
    text, ids = re.subn(r'"responseId":"([^"]*)"', _checked(RESPONSE_ID, NORMAL_ID), sse)
    text, times = re.subn(r'"createTime":"([^"]*)"', _checked(CREATE_TIME, NORMAL_TIME), text)
    assert ids == times, "every chunk carries both responseId and createTime"
    return text


def _checked(pattern: re.Pattern[str], normal: str) -> Callable[[re.Match[str]], str]:
    key = "responseId" if normal == NORMAL_ID else "createTime"

    def replace(match: re.Match[str]) -> str:
        assert pattern.fullmatch(match[1]), f"{key} {match[1]!r} is not {pattern.pattern}"
        return f'"{key}":"{normal}"'

    return replace


def golden_json(response: dict[str, Any]) -> str:
    """A whole answer as its golden file holds it: stamps normalised, pretty, sorted."""
    assert RESPONSE_ID.fullmatch(response["responseId"]), response["responseId"]
    assert CREATE_TIME.fullmatch(response["createTime"]), response["createTime"]
    stable = {**response, "responseId": NORMAL_ID, "createTime": NORMAL_TIME}
    return json.dumps(stable, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- the cases --------------------------------------------------------------------------


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


TEXT_SIGNATURE = b"sealed thoughts of the text turn"
CALL_SIGNATURE = b"sealed thoughts of the call turn"


def thoughts_script(request) -> list:
    return [
        ThoughtDelta(0, "The user greets me."),
        ThoughtDelta(0, " I greet back."),
        TextDelta(0, "Hi"),
        TextDelta(0, " there!"),
        ThoughtSignature(0, b64(TEXT_SIGNATURE)),
        Finished(0, FinishReason.STOP),
        Usage(prompt_tokens=5, completion_tokens=24, reasoning_tokens=20),
    ]


def calls_script(request) -> list:
    return [
        FunctionCall(0, "get_weather", {"location": "Chicago, IL", "days": [1, 2]},
                     thought_signature=b64(CALL_SIGNATURE)),
        FunctionCall(0, "get_time", {}),
        Finished(0, FinishReason.STOP),
        Usage(prompt_tokens=9, completion_tokens=30, reasoning_tokens=10),
    ]


def error_script(request) -> list:
    return [TextDelta(0, "partial"), ResourceExhausted("engine gave up")]


TOOLS = [{"functionDeclarations": [
    {"name": "get_weather", "parameters": {"type": "OBJECT", "properties": {
        "location": {"type": "STRING"}, "days": {"type": "ARRAY", "items": {"type": "INTEGER"}},
    }}},
    {"name": "get_time"},
]}]


@dataclass(frozen=True)
class Case:
    name: str
    script: Script = hello_script
    body: dict[str, Any] = field(default_factory=dict)
    model: str = "gemini-2.5-flash"
    version: str = "v1"

    def url(self, method: str) -> str:
        return (f"/{self.version}/projects/{PROJECT}/locations/{LOCATION}/publishers/google"
                f"/models/{self.model}:{method}")

    def request_body(self) -> dict[str, Any]:
        return {"contents": [USER_HI], **self.body}


TEXT = Case("text")
N2 = Case("n2_usage", body={"generationConfig": {"candidateCount": 2}},
          model="gemini-2.5-pro", version="v1beta1")
THOUGHTS = Case("thoughts", thoughts_script,
                body={"generationConfig": {"thinkingConfig": {"includeThoughts": True}}})
CALLS = Case("function_calls", calls_script, body={"tools": TOOLS}, version="v1beta1")
ERROR = Case("error_after_first_event", error_script)


def post(case: Case, method: str) -> httpx.Response:
    backend = FakeBackend(script=case.script)
    with client_for(make_container({"fake": backend})) as client:
        r = client.post(case.url(method), json=case.request_body(), headers=AUTH)
    assert r.status_code == 200, r.text
    return r


def stream(case: Case) -> str:
    r = post(case, "streamGenerateContent?alt=sse")
    assert r.headers["content-type"].startswith("text/event-stream"), r.headers
    return r.text


def whole(case: Case) -> dict[str, Any]:
    r = post(case, "generateContent")
    assert r.headers["content-type"] == "application/json", r.headers
    return r.json()


# --- framing and shape, in plain code ---------------------------------------------------

FRAME = re.compile(r"data: (\{[^\n]*\})\n\n")
CHUNK_FIELDS = {"candidates", "usageMetadata", "modelVersion", "createTime", "responseId"}


def frames(body: str) -> list[dict[str, Any]]:
    """The payloads of an `alt=sse` body, asserting the framing the SDK reads: nothing but
    `data: <one-line JSON object>\\n\\n` frames, back to back, to the end of the body."""
    assert body, "an empty body"
    assert "[DONE]" not in body, "Gemini's streams end with the body, not a [DONE] frame"
    assert "\r" not in body
    for line in body.split("\n"):
        assert line == "" or line.startswith("data: {"), f"not a data line: {line!r}"
        assert not line.startswith((":", "event:", "id:", "retry:")), line
    out, at = [], 0
    while at < len(body):
        match = FRAME.match(body, at)
        assert match, f"not a `data: <json>\\n\\n` frame at byte {at}: {body[at:at + 80]!r}"
        out.append(json.loads(match[1]))
        at = match.end()
    return out


def check_chunks(chunks: list[dict[str, Any]], case: Case, *, complete: bool = True) -> None:
    """What every GenerateContentResponse chunk of one answer looks like on Vertex."""
    assert chunks
    assert len({(c["responseId"], c["createTime"]) for c in chunks}) == 1, "one answer, one id"
    finished: list[int] = []
    for k, chunk in enumerate(chunks):
        assert set(chunk) <= CHUNK_FIELDS, set(chunk) - CHUNK_FIELDS
        assert chunk["modelVersion"] == case.model  # the model id asked for
        last = k == len(chunks) - 1
        assert ("usageMetadata" in chunk) == (complete and last), "usage on the last chunk only"
        assert chunk["candidates"], "every chunk here has a candidate"
        for candidate in chunk["candidates"]:
            assert set(candidate) <= {"index", "content", "finishReason"}, candidate
            assert candidate["content"]["role"] == "model"
            assert candidate["content"]["parts"], candidate
            if "finishReason" in candidate:
                assert last, "finishReason comes in the last chunk"
                finished.append(candidate["index"])
    count = case.request_body().get("generationConfig", {}).get("candidateCount", 1)
    assert finished == (list(range(count)) if complete else [])


def check_whole(response: dict[str, Any], case: Case) -> None:
    assert set(response) == CHUNK_FIELDS
    assert response["modelVersion"] == case.model
    for candidate in response["candidates"]:
        assert candidate["content"]["role"] == "model"
        assert candidate["finishReason"] == "STOP"


# --- the real SDK ----------------------------------------------------------------------


def strictly_valid(payload: dict[str, Any]) -> types.GenerateContentResponse:
    """Wire JSON as the SDK's own model of it: bytes as base64, and `extra='forbid'` — a
    misspelt or invented field fails here (the SDK's `_from_response` would drop it
    silently). The model also takes snake_case names (`populate_by_name`), so the keys are
    checked for Google's camelCase first."""
    assert_camel_case(payload)
    return types.GenerateContentResponse.model_validate_json(json.dumps(payload))


def assert_camel_case(value: Any, path: str = "") -> None:
    """Every field name is lowerCamelCase (a call's `args` are the caller's own)."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert re.fullmatch(r"[a-z][a-zA-Z0-9]*", key), f"{path}.{key} is not camelCase"
            if not path.endswith(".functionCall") or key != "args":
                assert_camel_case(item, f"{path}.{key}")
    elif isinstance(value, list):
        for k, item in enumerate(value):
            assert_camel_case(item, f"{path}[{k}]")


def sdk_client(http: httpx.Client, version: str) -> genai.Client:
    return genai.Client(
        vertexai=True, project=PROJECT, location=LOCATION,
        credentials=Credentials(token="test-token"),
        http_options=types.HttpOptions(
            base_url="http://testserver/", api_version=version, httpx_client=http
        ),
    )


def sdk_stream(
    http: httpx.Client, case: Case
) -> tuple[list[types.GenerateContentResponse], errors.APIError | None]:
    """What `generate_content_stream` yields (and raises) for `case`'s request."""
    chunks: list[types.GenerateContentResponse] = []
    config = types.GenerateContentConfig(**_sdk_config(case))
    try:
        for chunk in sdk_client(http, case.version).models.generate_content_stream(
            model=case.model, contents="hi", config=config
        ):
            chunks.append(chunk)
    except errors.APIError as exc:
        return chunks, exc
    return chunks, None


def _sdk_config(case: Case) -> dict[str, Any]:
    generation = case.body.get("generationConfig", {})
    config: dict[str, Any] = {}
    if "candidateCount" in generation:
        config["candidate_count"] = generation["candidateCount"]
    if "thinkingConfig" in generation:
        config["thinking_config"] = types.ThinkingConfig(include_thoughts=True)
    if "tools" in case.body:
        config["tools"] = case.body["tools"]
        config["automatic_function_calling"] = types.AutomaticFunctionCallingConfig(disable=True)
    return config


def replay(body: str, case: Case, method: str, content_type: str) -> httpx.Client:
    """An httpx client that answers the SDK with `body` (and checks the URL it asks)."""

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == case.url(method)
        if method == "streamGenerateContent":
            assert request.url.params["alt"] == "sse"
        return httpx.Response(200, headers={"content-type": content_type}, content=body.encode())

    return httpx.Client(transport=httpx.MockTransport(answer))


def sdk_reads_stream(body: str, case: Case):
    with replay(body, case, "streamGenerateContent", "text/event-stream") as http:
        return sdk_stream(http, case)


def sdk_reads_whole(response: dict[str, Any], case: Case) -> types.GenerateContentResponse:
    with replay(json.dumps(response), case, "generateContent", "application/json") as http:
        return sdk_client(http, case.version).models.generate_content(
            model=case.model, contents="hi", config=types.GenerateContentConfig(**_sdk_config(case))
        )


def parts_of(chunks: Iterable[types.GenerateContentResponse], index: int = 0) -> list[types.Part]:
    return [
        part
        for chunk in chunks
        for candidate in chunk.candidates or ()
        if (candidate.index or 0) == index
        for part in candidate.content.parts or ()
    ]


def texts(parts: Iterable[types.Part], *, thought: bool) -> str:
    return "".join(p.text for p in parts if p.text is not None and bool(p.thought) is thought)


def finish_reasons(chunks: Iterable[types.GenerateContentResponse]) -> dict[int, str]:
    return {
        candidate.index or 0: candidate.finish_reason
        for chunk in chunks
        for candidate in chunk.candidates or ()
        if candidate.finish_reason is not None
    }


def check_sdk_chunks(chunks: list[types.GenerateContentResponse], case: Case) -> None:
    for chunk in chunks:
        assert chunk.model_version == case.model
        assert chunk.response_id == chunks[0].response_id
        assert chunk.create_time is not None
        for candidate in chunk.candidates:
            assert candidate.content.role == "model"
    assert all(c.usage_metadata is None for c in chunks[:-1])


# --- the streams ------------------------------------------------------------------------


def test_text_stream():
    body = stream(TEXT)
    chunks = frames(body)
    check_chunks(chunks, TEXT)
    for chunk in chunks:
        strictly_valid(chunk)
    sdk, error = sdk_reads_stream(body, TEXT)
    assert error is None
    check_sdk_chunks(sdk, TEXT)
    assert [c.text for c in sdk] == ["Hello", " world", ""]
    assert texts(parts_of(sdk), thought=False) == "Hello world"
    assert finish_reasons(sdk) == {0: types.FinishReason.STOP}
    usage = sdk[-1].usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count,
            usage.cached_content_token_count, usage.thoughts_token_count) == (7, 2, 9, 1, None)
    assert_matches_golden(normalised_native(body), "native_stream_text.sse")


def test_two_candidates_stream_with_usage():
    body = stream(N2)
    chunks = frames(body)
    check_chunks(chunks, N2)
    # Both candidates finish in the last chunk, beside the usage.
    assert [c["index"] for c in chunks[-1]["candidates"]] == [0, 1]
    for chunk in chunks:
        strictly_valid(chunk)
    sdk, error = sdk_reads_stream(body, N2)
    assert error is None
    check_sdk_chunks(sdk, N2)
    assert texts(parts_of(sdk, 0), thought=False) == "Hello world"
    assert texts(parts_of(sdk, 1), thought=False) == "Hello world 1"
    assert finish_reasons(sdk) == {0: types.FinishReason.STOP, 1: types.FinishReason.STOP}
    usage = sdk[-1].usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count) == (
        7, 4, 11
    )
    assert_matches_golden(normalised_native(body), "native_stream_n2_usage.sse")


def test_thoughts_stream_puts_the_signature_on_an_empty_text_part_of_the_finish_chunk():
    body = stream(THOUGHTS)
    chunks = frames(body)
    check_chunks(chunks, THOUGHTS)
    signed_empty_text = {"text": "", "thoughtSignature": b64(TEXT_SIGNATURE)}
    assert chunks[-1]["candidates"] == [{
        "index": 0,
        "content": {"role": "model", "parts": [signed_empty_text]},
        "finishReason": "STOP",
    }]
    assert all("thoughtSignature" not in json.dumps(c) for c in chunks[:-1])
    for chunk in chunks:
        strictly_valid(chunk)
    sdk, error = sdk_reads_stream(body, THOUGHTS)
    assert error is None
    check_sdk_chunks(sdk, THOUGHTS)
    parts = parts_of(sdk)
    assert texts(parts, thought=True) == "The user greets me. I greet back."
    assert texts(parts, thought=False) == "Hi there!"
    assert [p.thought_signature for p in parts if p.thought_signature] == [TEXT_SIGNATURE]
    assert parts[-1].text == "" and parts[-1].thought_signature == TEXT_SIGNATURE
    assert "".join(c.text or "" for c in sdk) == "Hi there!"  # `.text` leaves thoughts out
    assert finish_reasons(sdk) == {0: types.FinishReason.STOP}
    usage = sdk[-1].usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.thoughts_token_count,
            usage.total_token_count) == (5, 4, 20, 29)
    assert_matches_golden(normalised_native(body), "native_stream_thoughts.sse")


def test_function_calls_stream_carries_the_signature_on_the_first_call():
    body = stream(CALLS)
    chunks = frames(body)
    check_chunks(chunks, CALLS)
    first, second = (c["candidates"][0]["content"]["parts"] for c in chunks[:2])
    assert first == [{"functionCall": {"name": "get_weather",
                                       "args": {"location": "Chicago, IL", "days": [1, 2]}},
                      "thoughtSignature": b64(CALL_SIGNATURE)}]
    assert second == [{"functionCall": {"name": "get_time", "args": {}}}]
    for chunk in chunks:
        strictly_valid(chunk)
    sdk, error = sdk_reads_stream(body, CALLS)
    assert error is None
    check_sdk_chunks(sdk, CALLS)
    calls = [call for chunk in sdk for call in chunk.function_calls or ()]
    assert [(c.name, c.args) for c in calls] == [
        ("get_weather", {"location": "Chicago, IL", "days": [1, 2]}), ("get_time", {})
    ]
    signed = [p for p in parts_of(sdk) if p.thought_signature]
    assert [(p.function_call.name, p.thought_signature) for p in signed] == [
        ("get_weather", CALL_SIGNATURE)
    ]
    assert finish_reasons(sdk) == {0: types.FinishReason.STOP}
    usage = sdk[-1].usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.thoughts_token_count,
            usage.total_token_count) == (9, 20, 10, 39)
    assert_matches_golden(normalised_native(body), "native_stream_function_calls.sse")


def test_error_after_the_first_event_is_one_error_frame_then_the_body_ends():
    body = stream(ERROR)
    *chunks, last = frames(body)
    check_chunks(chunks, ERROR, complete=False)
    assert [c["candidates"][0]["content"]["parts"] for c in chunks] == [[{"text": "partial"}]]
    assert set(last) == {"error"}
    error = last["error"]
    assert (error["code"], error["status"], error["message"]) == (
        429, "RESOURCE_EXHAUSTED", "engine gave up"
    )
    assert body.endswith(f"data: {json.dumps(last, separators=(',', ':'))}\n\n")
    sdk, raised = sdk_reads_stream(body, ERROR)
    assert [c.text for c in sdk] == ["partial"]
    assert isinstance(raised, errors.ClientError)
    assert (raised.code, raised.status, raised.message) == (
        429, "RESOURCE_EXHAUSTED", "engine gave up"
    )
    assert_matches_golden(normalised_native(body), "native_stream_error_after_first_event.sse")


# --- whole answers ----------------------------------------------------------------------


def test_text_generate_content():
    response = whole(TEXT)
    check_whole(response, TEXT)
    strictly_valid(response)
    sdk = sdk_reads_whole(response, TEXT)
    assert sdk.text == "Hello world"
    assert sdk.model_version == TEXT.model
    assert sdk.candidates[0].finish_reason == types.FinishReason.STOP
    assert sdk.usage_metadata.total_token_count == 9
    assert_matches_golden(golden_json(response), "native_generate_text.json")


def test_thoughts_generate_content_merges_the_deltas_and_signs_the_last_text_part():
    response = whole(THOUGHTS)
    check_whole(response, THOUGHTS)
    assert response["candidates"][0]["content"]["parts"] == [
        {"text": "The user greets me. I greet back.", "thought": True},
        {"text": "Hi there!", "thoughtSignature": b64(TEXT_SIGNATURE)},
    ]
    strictly_valid(response)
    sdk = sdk_reads_whole(response, THOUGHTS)
    assert sdk.text == "Hi there!"
    thought, answer = sdk.candidates[0].content.parts
    assert (thought.thought, thought.text) == (True, "The user greets me. I greet back.")
    assert answer.thought_signature == TEXT_SIGNATURE
    assert sdk.usage_metadata.thoughts_token_count == 20
    assert_matches_golden(golden_json(response), "native_generate_thoughts.json")


# --- the SDK against the app itself -----------------------------------------------------


def test_sdk_streams_from_the_app_and_sees_a_late_error():
    with client_for() as http:
        chunks, error = sdk_stream(http, TEXT)
    assert error is None
    assert "".join(c.text or "" for c in chunks) == "Hello world"
    container = make_container({"fake": FakeBackend(script=error_script)})
    with client_for(container) as http:
        chunks, error = sdk_stream(http, ERROR)
    assert [c.text for c in chunks] == ["partial"]
    assert isinstance(error, errors.ClientError) and error.code == 429


def test_thoughts_are_hidden_unless_include_thoughts():
    hidden = Case("hidden_thoughts", thoughts_script)
    parts = [p for c in frames(stream(hidden)) for p in c["candidates"][0]["content"]["parts"]]
    assert not any(p.get("thought") for p in parts)
    whole_parts = whole(hidden)["candidates"][0]["content"]["parts"]
    assert not any(p.get("thought") for p in whole_parts)
