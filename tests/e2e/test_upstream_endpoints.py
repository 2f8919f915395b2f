"""Configured upstream endpoints end to end: two REAL OpenAI-compatible model servers
(llama-cpp-python's `llama_cpp.server` on the tiny model, one thread each) behind endpoint
`4321`, and one of them alone behind endpoint `solo`; our server (auth ON) in front, reached
with google-auth tokens and the real openai SDK through `…/endpoints/{id}/chat/completions`.

Greedy answers through the gateway are compared with the same request sent to the upstream
directly: the gateway must pass them through unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import google.auth.transport.requests
import httpx
import jsonschema
import openai
import pytest
from google.oauth2 import service_account

from .conftest import TINY_MODEL
from .helpers import create_service_account_key
from .server import ServerProcess, free_port

pytestmark = pytest.mark.timeout(300)

BENCH = Path(__file__).resolve().parents[2] / "bench"
UPSTREAM_MODEL = "tiny-upstream"
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
HI = [{"role": "user", "content": "Say hello to Ada in one short sentence."}]


def tiny_model_path(data_dir: Path) -> Path:
    from vertexcompat.engine.model_files import ModelCatalog

    return ModelCatalog(data_dir, progress=False).resolve(TINY_MODEL).path


class Upstream:
    """One `python -m llama_cpp.server` (through bench/_llama_server.py, which loads the model
    without llama.cpp's AMX buffers), restartable on the same port."""

    def __init__(self, name: str, model: Path, log_dir: Path) -> None:
        self.name, self.model, self.log_dir = name, model, log_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/v1"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = (self.log_dir / f"{self.name}-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(BENCH / "_llama_server.py"), "--model", str(self.model),
             "--model_alias", UPSTREAM_MODEL, "--n_threads", "1", "--n_threads_batch", "1",
             "--n_ctx", "1024", "--host", "127.0.0.1", "--port", str(self.port),
             # Else it ends a running stream whenever another request waits.
             "--interrupt_requests", "false"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"{self.name} exited: {self.log()}"
            try:
                if httpx.get(f"{self.base}/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start: {self.log()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log(self) -> str:
        path = self.log_dir / f"{self.name}-{self.starts}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def chat(self, **body: Any) -> dict[str, Any]:
        r = httpx.post(f"{self.base}/chat/completions", json={"model": UPSTREAM_MODEL, **body},
                       timeout=120)
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        return answer


@dataclass
class Gateway:
    server: ServerProcess
    a: Upstream
    b: Upstream
    token: str

    def client(self, endpoint: str = "4321") -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{self.server.base_url}/v1/projects/demo/locations/us-central1/endpoints/"
                     f"{endpoint}",
            api_key=self.token, max_retries=0, timeout=120,
        )

    def post(self, body: dict[str, Any], endpoint: str = "4321", project: str = "demo",
             token: str | None = None) -> httpx.Response:
        return httpx.post(
            f"{self.server.base_url}/v1beta1/projects/{project}/locations/us-central1/endpoints/"
            f"{endpoint}/chat/completions",
            json=body, headers={"Authorization": f"Bearer {token or self.token}"}, timeout=120,
        )

    def load(self, endpoint: str = "4321") -> dict[str, int]:
        stats: dict[str, int] = httpx.get(f"{self.server.base_url}/readyz").json()["load"][endpoint]
        return stats


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[Gateway]:
    root = tmp_path_factory.mktemp("gateway")
    model = tiny_model_path(data_dir)
    a, b = Upstream("upstream-a", model, root), Upstream("upstream-b", model, root)
    port = free_port()
    config = root / "config.toml"
    config.write_text(
        "[[endpoints]]\n"
        'id = "4321"\n'
        f'replicas = ["{a.base}", "{b.base}"]\n'
        f'model = "{UPSTREAM_MODEL}"\n'
        'aliases = ["tiny-7b"]\n'
        "probe_interval_s = 0.5\n"
        "eject_after = 1\n"
        # llama-cpp-python's server reads a schema only as `json_object` + `schema`.
        'capabilities = ["tools"]\n'
        "\n[[endpoints]]\n"
        'id = "solo"\n'
        f'replicas = ["{b.base}"]\n'
        f'model = "{UPSTREAM_MODEL}"\n'
    )
    key = root / "demo-key.json"
    create_service_account_key(root / "data", "demo", key, port)
    server = ServerProcess("gateway", model=TINY_MODEL, data_dir=root / "data", log_dir=root,
                           parallel=1, ctx_per_seq=1024, port=port,
                           extra_args=("--config", str(config)))
    try:
        a.start()
        b.start()
        server.start(ready_timeout=120)
        creds = service_account.Credentials.from_service_account_file(str(key), scopes=SCOPES)
        creds.refresh(google.auth.transport.requests.Request())
        yield Gateway(server, a, b, creds.token)
    finally:
        server.stop()
        a.kill()
        b.kill()


def test_answers_pass_through_unchanged_whole_and_streamed(gateway: Gateway) -> None:
    direct = gateway.a.chat(messages=HI, temperature=0, max_tokens=24)
    client = gateway.client()
    whole = client.chat.completions.create(
        model=UPSTREAM_MODEL, messages=HI, temperature=0, max_tokens=24,
    )
    assert whole.choices[0].message.content == direct["choices"][0]["message"]["content"]
    assert whole.choices[0].finish_reason == direct["choices"][0]["finish_reason"]
    assert whole.usage.prompt_tokens == direct["usage"]["prompt_tokens"]
    assert whole.model == UPSTREAM_MODEL
    chunks = list(client.chat.completions.create(
        model=UPSTREAM_MODEL, messages=HI, temperature=0, max_tokens=24, stream=True,
        stream_options={"include_usage": True},
    ))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    # llama-cpp-python's server sends no usage in a stream: the usage chunk is there, with
    # the zeros of "not known" (vLLM and llama.cpp's server send theirs, passed through).
    assert chunks[-1].usage is not None and not chunks[-1].choices
    # Raw REST may leave `model` out: the endpoint decides it. An alias reaches it on the
    # openapi endpoint, too.
    bare = gateway.post({"messages": HI, "temperature": 0, "max_tokens": 24})
    assert bare.status_code == 200, bare.text
    assert bare.json()["choices"][0]["message"]["content"] == text
    aliased = httpx.post(
        f"{gateway.server.base_url}/v1/projects/demo/locations/us-central1/endpoints/openapi/"
        "chat/completions", headers={"Authorization": f"Bearer {gateway.token}"}, timeout=120,
        json={"model": "tiny-7b", "messages": HI, "temperature": 0, "max_tokens": 24},
    )
    assert aliased.status_code == 200, aliased.text
    assert aliased.json()["choices"][0]["message"]["content"] == text


def test_n_candidates_come_from_n_upstream_requests(gateway: Gateway) -> None:
    """llama-cpp-python's server ignores `n`: the gateway asks once per candidate (seed + k),
    whole and streamed; candidate 0 is the n = 1 answer with the same seed."""
    client = gateway.client()
    kw: dict[str, Any] = dict(model=UPSTREAM_MODEL, messages=HI, temperature=0.9, seed=11,
                              max_tokens=16)
    single = client.chat.completions.create(**kw)
    three = client.chat.completions.create(n=3, **kw)
    assert [c.index for c in three.choices] == [0, 1, 2]
    assert three.choices[0].message.content == single.choices[0].message.content
    assert all(c.message.content for c in three.choices)
    chunks = list(client.chat.completions.create(n=2, stream=True, **kw))
    streamed = {0: "", 1: ""}
    for c in chunks:
        for choice in c.choices:
            streamed[choice.index] += choice.delta.content or ""
    assert streamed == {k: three.choices[k].message.content for k in (0, 1)}


def test_json_schema_and_a_named_tool_reach_the_upstream(gateway: Gateway) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20},
                                               "age": {"type": "integer"}},
              "required": ["name", "age"], "additionalProperties": False}
    client = gateway.client()
    answer = client.chat.completions.create(
        model=UPSTREAM_MODEL, temperature=0, max_tokens=60,
        messages=[{"role": "user", "content": "Ada is 36. Give her name and age as JSON."}],
        response_format={"type": "json_schema",
                         "json_schema": {"name": "person", "schema": schema, "strict": True}},
    )
    jsonschema.validate(json.loads(answer.choices[0].message.content), schema)
    weather = {"type": "function", "function": {
        "name": "get_weather", "description": "Get the weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}}
    called = client.chat.completions.create(
        model=UPSTREAM_MODEL, temperature=0, max_tokens=60, tools=[weather],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        messages=[{"role": "user", "content": "What is the weather in Oslo?"}],
    )
    calls = called.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "get_weather"
    assert isinstance(json.loads(calls[0].function.arguments), dict)
    assert called.choices[0].finish_reason == "tool_calls"


def test_upstream_refusals_and_unknown_endpoints_are_ours(gateway: Gateway) -> None:
    # More tokens than the upstream's 1,024-token window: its 400 keeps message and param.
    long = [{"role": "user", "content": "word " * 1500}]
    refused = gateway.post({"messages": long, "max_tokens": 8})
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert "context" in error["message"].lower(), error
    unknown = gateway.post({"messages": HI}, endpoint="9999")
    assert unknown.status_code == 404 and "9999" in unknown.json()["error"]["message"]
    other_model = gateway.post({"model": "gemini-2.5-flash", "messages": HI})
    assert other_model.status_code == 400
    assert other_model.json()["error"]["param"] == "model"
    # Another project's endpoints need a role there: this key has none.
    assert gateway.post({"messages": HI}, project="other").status_code == 403


def test_a_replica_killed_during_a_burst_loses_no_request_and_comes_back(gateway: Gateway) -> None:
    client = gateway.client()

    def ask(i: int) -> str:
        r = client.chat.completions.create(
            model=UPSTREAM_MODEL, temperature=0, max_tokens=16,
            messages=[{"role": "user", "content": f"Count from {i} to {i + 3}."}],
        )
        assert r.choices[0].finish_reason in ("stop", "length")
        return r.choices[0].message.content or ""

    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(ask, i) for i in range(20)]
        time.sleep(1.0)
        gateway.a.kill()  # some of its requests are running, others queued behind them
        answers = [f.result() for f in futures]
    assert len(answers) == 20 and all(answers)
    assert gateway.load()["replicas_in_service"] == 1
    gateway.a.start()
    deadline = time.monotonic() + 15
    while gateway.load()["replicas_in_service"] < 2:
        assert time.monotonic() < deadline, "the restarted replica was not re-admitted"
        time.sleep(0.2)
    for i in range(4):
        ask(i)
    assert "POST /v1/chat/completions" in gateway.a.log(), "no request reached it again"


def test_a_client_that_leaves_closes_the_upstream_stream(gateway: Gateway) -> None:
    """The client reads one chunk of a 400-token story and leaves: the gateway closes its
    upstream stream, and the upstream says so in its log (it checks after every token)."""
    before = gateway.b.log().count("Disconnected from client")
    with httpx.stream(
        "POST", f"{gateway.server.base_url}/v1/projects/demo/locations/us-central1/endpoints/"
        "solo/chat/completions", headers={"Authorization": f"Bearer {gateway.token}"},
        json={"messages": [{"role": "user", "content": "Write a very long story."}],
              "max_tokens": 400, "temperature": 0, "stream": True},
        timeout=120,
    ) as r:
        for line in r.iter_lines():
            if line.startswith("data:") and '"content"' in line:
                break
    deadline = time.monotonic() + 30
    while gateway.b.log().count("Disconnected from client") == before:
        assert time.monotonic() < deadline, "the upstream never saw the client leave"
        time.sleep(0.1)
    # It is free again: a direct request is answered.
    assert gateway.b.chat(messages=HI, max_tokens=4)["choices"][0]["message"]["content"]
