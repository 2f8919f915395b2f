"""`gemini` endpoints end to end: our server (auth ON, tiny local model) in front of
Gemini-wire servers, reached with google-auth tokens and the real openai SDK:

- endpoint `native`: ANOTHER vertexcompat process serving Gemini's native REST API (the
  real thing this project implements), signed in to with a key file it issued;
- the others: a scripted Gemini-wire server (tests/e2e/gemini_wire.py: Google's documented
  JSON, both URL forms), which can also fail on demand.

- endpoint `gemini`: the Gemini API form, an API key from the environment, serving the
  models its aliases name (`google/gemini-2.5-flash` on the openapi endpoint, too);
- endpoint `vertex`: the Vertex form with a service-account key file whose `token_uri` is
  our own server's `/token` — a real JWT-bearer grant, the token reused across requests.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import google.auth.transport.requests
import httpx
import openai
import pytest
from google.oauth2 import service_account

from .conftest import TINY_MODEL
from .helpers import create_service_account_key
from .gemini_wire import API_KEY, CALL_SIGNATURE, SIGNATURE, GeminiWireServer
from .server import ServerProcess, free_port

pytestmark = pytest.mark.timeout(300)

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


@dataclass
class Setup:
    server: ServerProcess
    wire: GeminiWireServer
    token: str
    key_project: str
    native: ServerProcess

    def client(self, endpoint: str | None = None) -> openai.OpenAI:
        path = f"endpoints/{endpoint}" if endpoint else "endpoints/openapi"
        return openai.OpenAI(
            base_url=f"{self.server.base_url}/v1/projects/demo/locations/us-central1/{path}",
            api_key=self.token, max_retries=0, timeout=60,
        )

    def post(self, body: dict[str, Any], endpoint: str = "gemini") -> httpx.Response:
        return httpx.post(
            f"{self.server.base_url}/v1beta1/projects/demo/locations/us-central1/endpoints/"
            f"{endpoint}/chat/completions",
            json=body, headers={"Authorization": f"Bearer {self.token}"}, timeout=60,
        )


def _create_key(root: Path, project: str, port: int) -> Path:
    return create_service_account_key(root / "data", project, root / f"{project}-key.json", port)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("gemini-endpoint")
    wire = GeminiWireServer(free_port())
    port, native_port = free_port(), free_port()
    demo_key = _create_key(root, "demo", port)
    upstream_key = _create_key(root, "upstream-sa", port)
    native_key = _create_key(root / "native", "gateway-sa", native_port)
    # uvicorn's access lines (raw path and query, unlike ours: route templates) show which
    # native methods the gateway called.
    native = ServerProcess("gemini-native-upstream", model=TINY_MODEL,
                           data_dir=root / "native" / "data", log_dir=root, parallel=1,
                           ctx_per_seq=1024, port=native_port,
                           env={"VERTEXCOMPAT_ACCESS_LOG": "false"})
    config = root / "config.toml"
    config.write_text(
        "[[endpoints]]\n"
        'id = "gemini"\nkind = "gemini"\n'
        f'base_url = "{wire.base_url}"\n'
        'api_key_env = "WIRE_GEMINI_KEY"\n'
        'aliases = ["google/gemini-2.5-flash", "gemini-2.5-flash-lite"]\n'
        "\n[[endpoints]]\n"
        'id = "vertex"\nkind = "gemini"\n'
        f'base_url = "{wire.base_url}"\n'
        f'credentials_file = "{upstream_key}"\n'
        'aliases = ["google/gemini-2.5-pro"]\n'
        # A model that reads no media and follows no schema: this server does both for it.
        "\n[[endpoints]]\n"
        'id = "blind"\nkind = "gemini"\n'
        f'base_url = "{wire.base_url}"\n'
        'api_key_env = "WIRE_GEMINI_KEY"\n'
        'aliases = ["gemini-2.0-flash-lite"]\n'
        'capabilities = ["tools"]\n'
        "\n[[endpoints]]\n"
        'id = "native"\nkind = "gemini"\n'
        f'base_url = "{native.base_url}"\n'
        f'credentials_file = "{native_key}"\n'
        'api_version = "v1beta1"\n'
        'model = "gemini-2.0-flash"\n'
    )
    server = ServerProcess("gemini-gateway", model=TINY_MODEL, data_dir=root / "data",
                           log_dir=root, parallel=1, ctx_per_seq=1024, port=port,
                           env={"WIRE_GEMINI_KEY": API_KEY,
                                "VERTEXCOMPAT_CACHED_CONTENT_MIN_TOKENS": "5"},
                           extra_args=("--config", str(config)))
    wire.start()
    try:
        native.start(ready_timeout=120)
        server.start(ready_timeout=120)
        creds = service_account.Credentials.from_service_account_file(str(demo_key), scopes=SCOPES)
        creds.refresh(google.auth.transport.requests.Request())
        yield Setup(server, wire, creds.token, "upstream-sa", native)
    finally:
        server.stop()
        native.stop()
        wire.stop()


def test_the_gemini_api_form_answers_through_aliases_and_the_endpoint(setup: Setup) -> None:
    answer = setup.client().chat.completions.create(
        model="google/gemini-2.5-flash", temperature=0.5, max_tokens=50, top_p=0.9, seed=7,
        stop=["END"], messages=[{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "Hello there"}],
    )
    assert answer.choices[0].message.content == "Echo: Hello there"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.model == "google/gemini-2.5-flash"
    sent = setup.wire.last("generateContent")
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == API_KEY and "authorization" not in sent.headers
    assert sent.body["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    assert sent.body["contents"] == [{"role": "user", "parts": [{"text": "Hello there"}]}]
    assert sent.body["generationConfig"] == {
        "temperature": 0.5, "topP": 0.9, "maxOutputTokens": 50, "seed": 7,
        "stopSequences": ["END"]}
    assert answer.usage.prompt_tokens > 0 and answer.usage.completion_tokens == 3

    # The endpoint route without `model`: the endpoint's first model; the other alias too.
    plain = setup.client("gemini").chat.completions.create(
        model="", messages=[{"role": "user", "content": "Hi"}])
    assert plain.choices[0].message.content == "Echo: Hi"
    assert setup.wire.last("generateContent").path.endswith("/gemini-2.5-flash:generateContent")
    lite = setup.post({"model": "gemini-2.5-flash-lite", "messages": [{"role": "user",
                                                                         "content": "Yo"}]})
    assert lite.status_code == 200, lite.text
    assert setup.wire.last("generateContent").path.endswith("/gemini-2.5-flash-lite:generateContent")
    # A model the endpoint does not serve.
    wrong = setup.post({"model": "google/gemini-2.5-pro", "messages": [{"role": "user",
                                                                         "content": "Yo"}]})
    assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "model"


def test_a_streamed_answer_with_thoughts_comes_event_by_event(setup: Setup) -> None:
    stream = setup.client().chat.completions.create(
        model="google/gemini-2.5-flash", stream=True, stream_options={"include_usage": True},
        extra_body={"google": {"thinking_config": {"include_thoughts": True,
                                                   "thinking_budget": 512}}},
        messages=[{"role": "user", "content": "one two three four five six"}],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    thoughts = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or ""
                       for c in chunks if c.choices)
    assert text == "Echo: one two three four five six"
    assert thoughts == "Thinking about it."
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 3
    assert [c.choices[0].finish_reason for c in chunks if c.choices and
            c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage.completion_tokens_details.reasoning_tokens == 3
    sent = setup.wire.last("streamGenerateContent")
    assert sent.query == "alt=sse"
    assert sent.body["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": 512, "includeThoughts": True}


def test_thought_signatures_are_geminis_own_both_ways(setup: Setup) -> None:
    client = setup.client()
    first = client.chat.completions.create(
        model="google/gemini-2.5-flash", tools=[WEATHER],
        messages=[{"role": "user", "content": "What is the weather in Paris?"}])
    call = first.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {
        "city": "Paris"}
    assert call.model_extra["extra_content"]["google"]["thought_signature"] == CALL_SIGNATURE
    assert first.choices[0].finish_reason == "tool_calls"
    second = client.chat.completions.create(
        model="google/gemini-2.5-flash", tools=[WEATHER],
        messages=[{"role": "user", "content": "What is the weather in Paris?"},
                  first.choices[0].message.model_dump(exclude_none=True),
                  {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "clear"}'},
                  {"role": "user", "content": "Thanks, summarize"}])
    assert second.choices[0].message.content == "Echo: Thanks, summarize"
    assert second.choices[0].message.model_extra["extra_content"]["google"][
        "thought_signature"] == SIGNATURE
    contents = setup.wire.last("generateContent").body["contents"]
    model_turn = contents[1]["parts"][0]
    assert model_turn["functionCall"]["name"] == "get_weather"
    assert model_turn["thoughtSignature"] == CALL_SIGNATURE  # passed back untouched
    assert contents[2]["parts"][0]["functionResponse"]["response"] == {"sky": "clear"}
    assert setup.wire.last("generateContent").body["tools"][0]["functionDeclarations"][0][
        "name"] == "get_weather"


def test_n_candidates_and_json_output_are_gemini_native(setup: Setup) -> None:
    answer = setup.client().chat.completions.create(
        model="google/gemini-2.5-flash", n=2,
        response_format={"type": "json_schema", "json_schema": {"name": "e", "schema": {
            "type": "object", "properties": {"echo": {"type": "string"}}}}},
        messages=[{"role": "user", "content": "Give JSON"}])
    assert [json.loads(c.message.content) for c in answer.choices] == [{"echo": "Give JSON"}] * 2
    cfg = setup.wire.last("generateContent").body["generationConfig"]
    assert cfg["candidateCount"] == 2 and cfg["responseMimeType"] == "application/json"
    assert cfg["responseJsonSchema"]["properties"] == {"echo": {"type": "string"}}


def test_a_service_account_key_signs_in_with_the_jwt_bearer_grant(setup: Setup) -> None:
    for question in ("First question", "Second question"):
        answer = setup.client("vertex").chat.completions.create(
            model="google/gemini-2.5-pro", messages=[{"role": "user", "content": question}])
        assert answer.choices[0].message.content == f"Echo: {question}"
    vertex = [r for r in setup.wire.state.requests if "/projects/" in r.path]
    assert vertex[-1].path == (f"/v1/projects/{setup.key_project}/locations/us-central1/"
                               "publishers/google/models/gemini-2.5-pro:generateContent")
    bearers = {r.headers["authorization"] for r in vertex[-2:]}
    assert len(bearers) == 1, "the token is reused until it nears expiry"
    token = bearers.pop().removeprefix("Bearer ")
    # It is a real token of our server, issued to the key file's service account.
    listed = httpx.get(f"{setup.server.base_url}/v1/projects/{setup.key_project}/locations/"
                       "us-central1/endpoints/openapi/models",
                       headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert listed.status_code == 200, listed.text
    assert httpx.get(f"{setup.server.base_url}/v1/projects/{setup.key_project}/locations/"
                     "us-central1/endpoints/openapi/models",
                     headers={"Authorization": "Bearer not-a-token"}, timeout=30).status_code == 401


@pytest.mark.parametrize(("said", "status", "param"), [
    ("fail-400", 400, "temperature"),
    ("fail-429", 429, None),
    ("fail-key", 502, None),
])
def test_googles_refusals_become_ours(setup: Setup, said: str, status: int,
                                      param: str | None) -> None:
    for stream in (False, True):
        r = setup.post({"messages": [{"role": "user", "content": said}], "temperature": 1,
                        "stream": stream})
        assert r.status_code == status, r.text
        error = r.json()["error"] if not isinstance(r.json(), list) else r.json()[0]["error"]
        assert error.get("param") == param
        if status == 429:
            assert r.headers["retry-after"] == "7"
        if status == 502:
            assert "credentials" in error["message"]


def test_an_overloaded_answer_is_tried_again(setup: Setup) -> None:
    r = setup.post({"messages": [{"role": "user", "content": "fail-once-503 please"}]})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "Echo: fail-once-503 please"
    tries = [x for x in setup.wire.state.requests if x.body.get("contents", [{}])[-1].get(
        "parts") == [{"text": "fail-once-503 please"}]]
    assert len(tries) == 2


def test_cached_contents_count_on_the_upstream_and_lead_its_requests(setup: Setup) -> None:
    caches = f"{setup.server.base_url}/v1/projects/demo/locations/us-central1/cachedContents"
    auth = {"Authorization": f"Bearer {setup.token}"}
    doc = "The blue box holds seven marbles and the red box holds three."
    created = httpx.post(caches, headers=auth, timeout=30, json={
        "model": "projects/demo/locations/us-central1/publishers/google/models/gemini-2.5-flash",
        "contents": [{"role": "user", "parts": [{"text": doc}]}]})
    assert created.status_code == 200, created.text
    counted = setup.wire.last("countTokens")
    assert counted.path == "/v1beta/models/gemini-2.5-flash:countTokens"
    assert counted.body["generateContentRequest"]["contents"][0]["parts"] == [{"text": doc}]
    assert created.json()["usageMetadata"]["totalTokenCount"] == len(
        json.dumps(counted.body["generateContentRequest"]["contents"]).split())
    answer = setup.client().chat.completions.create(
        model="google/gemini-2.5-flash", messages=[{"role": "user", "content": "Blue?"}],
        extra_body={"google": {"cached_content": created.json()["name"]}})
    assert answer.choices[0].message.content == "Echo: Blue?"
    contents = setup.wire.last("generateContent").body["contents"]
    assert [c["parts"][0]["text"] for c in contents] == [doc, "Blue?"]


def _image_question() -> list[dict[str, Any]]:
    from tests.unit.media.perception.image_samples import stop_sign_jpeg

    url = "data:image/jpeg;base64," + base64.b64encode(stop_sign_jpeg()).decode()
    return [{"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                         {"type": "image_url", "image_url": {"url": url}}]}]


def test_images_go_to_gemini_as_they_are_or_perceived_for_a_blind_model(setup: Setup) -> None:
    setup.client().chat.completions.create(model="google/gemini-2.5-flash",
                                           messages=_image_question())
    parts = setup.wire.last("generateContent").body["contents"][0]["parts"]
    assert parts[0] == {"text": "What is this?"}
    assert parts[1]["inlineData"]["mimeType"] == "image/jpeg"
    assert base64.b64decode(parts[1]["inlineData"]["data"])[:2] == b"\xff\xd8"

    setup.client("blind").chat.completions.create(model="", messages=_image_question())
    parts = setup.wire.last("generateContent").body["contents"][0]["parts"]
    assert "inlineData" not in json.dumps(parts)
    described = " ".join(p["text"] for p in parts[1:])
    assert "STOP" in described.upper(), described


def test_a_model_that_cannot_follow_schemas_has_its_answers_checked(setup: Setup) -> None:
    fits = {"type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"]}
    misses = {"type": "object", "properties": {"answer": {"type": "integer"}},
              "required": ["answer"]}
    for schema, status in ((fits, 200), (misses, 502)):
        for stream in (False, True):
            r = setup.post({"messages": [{"role": "user", "content": "JSON please"}],
                            "stream": stream, "response_format": {
                                "type": "json_schema", "json_schema": {"name": "s", "schema": schema}}},
                           endpoint="blind")
            if not stream:
                assert r.status_code == status, r.text
                if status == 502:
                    assert "'answer' is a required property" in r.json()["error"]["message"]
                continue
            assert r.status_code == 200, r.text  # the text streams as it is written
            frames = [line[6:] for line in r.text.splitlines() if line.startswith("data: ")]
            if status == 200:
                assert frames[-1] == "[DONE]"
            else:
                assert "'answer' is a required property" in r.text and '"error"' in r.text


def test_another_vertexcompat_is_a_gemini_upstream(setup: Setup) -> None:
    """The whole way: openai SDK → our chat completions → gemini endpoint → the other
    server's native generateContent (its own auth, tokens from its `/token`) → its model."""
    client = setup.client("native")
    whole = client.chat.completions.create(
        model="", temperature=0, max_tokens=12,
        messages=[{"role": "system", "content": "Answer briefly."},
                  {"role": "user", "content": "Name a colour."}])
    assert whole.choices[0].message.content
    assert whole.usage.prompt_tokens > 0 and whole.usage.completion_tokens > 0
    stream = client.chat.completions.create(
        model="gemini-2.0-flash", temperature=0, max_tokens=12, stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "system", "content": "Answer briefly."},
                  {"role": "user", "content": "Name a colour."}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content  # greedy on both servers
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    # A refusal of the other server comes back as its 400, named in our client's terms.
    r = setup.post({"messages": [{"role": "user", "content": "x"}], "seed": 2**40},
                   endpoint="native")
    assert r.status_code == 400, r.text
    log = unquote(setup.native.log_path.read_text())
    assert ":streamGenerateContent?alt=sse HTTP/1.1\" 200" in log
    assert ":generateContent HTTP/1.1\" 200" in log
