"""Vertex `cachedContents` end to end, on a server of its own (tiny model, its own state
database, restarted once): the REST resource (create, get, list with pages, patch the
expiry, delete) under v1 and v1beta1, chat completions that name a cache through
`extra_body.google.cached_content` with the real openai SDK (its tokens reused, answers
byte-identical to the same conversation sent whole), every error with its status, and a
restart that keeps the cache usable."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import openai
import pytest

from .conftest import NO_AUTH, TINY_MODEL
from .helpers import AUTH, GEMINI_FLASH, GEMINI_FLASH_001
from .server import ServerProcess

pytestmark = pytest.mark.timeout(600)

SYSTEM = "Answer from the facts, in one short sentence."
COLOURS = ["red", "green", "blue", "amber", "violet", "white", "black", "grey"]
# 56 facts, ~1,100 tokens on the tiny model: just over Vertex's 1024-token minimum, since
# every cache created (and the whole conversation sent for comparison) decodes all of them.
DOC = "\n".join(
    f"Fact {i}: the {COLOURS[i % 8]} box on shelf {i % 13} holds {i * 7} marbles."
    for i in range(56)
)
QUESTIONS = ["How many marbles are in the red box on shelf 0?",
             "Which shelf holds fact 12?", "What colour is the box in fact 5?"]
MODEL_ID = GEMINI_FLASH.split("/", 1)[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("caches-data")
    proc = ServerProcess(
        "caches", model=TINY_MODEL, data_dir=data_dir, log_dir=data_dir, threads=1,
        parallel=2, ctx_per_seq=2048, extra_args=NO_AUTH,
    )
    proc.start(ready_timeout=120)
    try:
        yield proc
    finally:
        proc.stop()


def caches_url(server: ServerProcess, project: str = "p1", version: str = "v1") -> str:
    return f"{server.base_url}/{version}/projects/{project}/locations/us-central1/cachedContents"


def create(server: ServerProcess, project: str = "p1", version: str = "v1", **body) -> httpx.Response:
    payload = {
        "model": f"projects/{project}/locations/us-central1/publishers/google/models/{MODEL_ID}",
        "systemInstruction": {"parts": [{"text": SYSTEM}]},
        "contents": [{"role": "user", "parts": [{"text": DOC}]}],
        **body,
    }
    if "system_instruction" in body:  # the snake_case spelling instead
        del payload["systemInstruction"]
    return httpx.post(caches_url(server, project, version), json=payload, headers=AUTH, timeout=300)


def client(server: ServerProcess, project: str = "p1") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.vertex_base(project), api_key="anything", timeout=300)


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def pinned(server: ServerProcess) -> int:
    """KV states the engine keeps in host memory for live caches (`/readyz`)."""
    return httpx.get(f"{server.base_url}/readyz").json()["load"]["local"]["pinned_states"]


def test_create_get_list_patch_delete(server: ServerProcess) -> None:
    before = time.time()
    pinned_before = pinned(server)
    r = create(server, displayName="facts", ttl="600s")
    assert r.status_code == 200, r.text
    cache = r.json()
    # Creating decoded the contents once and pinned their KV; deleting releases it.
    assert pinned(server) == pinned_before + 1
    assert re.fullmatch(r"projects/p1/locations/us-central1/cachedContents/\d+", cache["name"])
    assert cache["model"] == f"projects/p1/locations/us-central1/publishers/google/models/{MODEL_ID}"
    assert cache["displayName"] == "facts"
    assert cache["usageMetadata"]["totalTokenCount"] >= 1024
    assert before - 1 <= ts(cache["createTime"]) <= time.time() + 1
    assert abs(ts(cache["expireTime"]) - ts(cache["createTime"]) - 600) < 2
    cache_id = cache["name"].rsplit("/", 1)[1]
    one = f"{caches_url(server)}/{cache_id}"
    assert httpx.get(one, headers=AUTH).json() == cache
    # v1beta1 is the same collection; snake_case keys and a bare model id are accepted.
    second = create(server, version="v1beta1", model=MODEL_ID, display_name="two",
                    system_instruction={"parts": [{"text": SYSTEM}]})
    assert second.status_code == 200, second.text
    names = {cache["name"], second.json()["name"]}
    page = httpx.get(caches_url(server), params={"pageSize": 1}, headers=AUTH).json()
    assert len(page["cachedContents"]) == 1 and page["nextPageToken"]
    rest = httpx.get(caches_url(server), params={"pageSize": 1, "pageToken": page["nextPageToken"]},
                     headers=AUTH).json()
    assert {c["name"] for c in page["cachedContents"] + rest["cachedContents"]} == names
    assert "nextPageToken" not in rest
    # Only the expiry changes.
    patched = httpx.patch(one, json={"ttl": "7200s"}, headers=AUTH).json()
    assert abs(ts(patched["expireTime"]) - time.time() - 7200) < 5
    assert ts(patched["updateTime"]) >= ts(cache["updateTime"])
    refused = httpx.patch(one, json={"contents": []}, headers=AUTH)
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "contents"
    # The second cache holds the same contents: both pin one saved state.
    assert pinned(server) == pinned_before + 1
    assert httpx.delete(one, headers=AUTH).json() == {}
    assert pinned(server) == pinned_before + 1  # still pinned by the second
    for gone in (httpx.get(one, headers=AUTH), httpx.delete(one, headers=AUTH),
                 httpx.patch(one, json={"ttl": "60s"}, headers=AUTH)):
        assert gone.status_code == 404 and gone.json()["error"]["status"] == "NOT_FOUND"
    # Another project sees none of them.
    assert httpx.get(caches_url(server, "p2"), headers=AUTH).json() == {"cachedContents": []}
    assert httpx.delete(f"{caches_url(server)}/{second.json()['name'].rsplit('/', 1)[1]}",
                        headers=AUTH).status_code == 200
    assert pinned(server) == pinned_before


def test_questions_through_a_cache_reuse_it_and_answer_as_the_whole_conversation(
    server: ServerProcess,
) -> None:
    cache = create(server).json()
    total = cache["usageMetadata"]["totalTokenCount"]
    with client(server) as sdk, client(server, "uncached") as whole:
        for question in QUESTIONS:
            cached = sdk.chat.completions.create(
                model=GEMINI_FLASH, temperature=0, max_tokens=24,
                messages=[{"role": "user", "content": question}],
                extra_body={"google": {"cached_content": cache["name"]}},
            )
            assert cached.usage.prompt_tokens_details.cached_tokens >= total, cached.usage
            plain = whole.chat.completions.create(
                model=GEMINI_FLASH, temperature=0, max_tokens=24,
                messages=[{"role": "system", "content": SYSTEM},
                          {"role": "user", "content": DOC},
                          {"role": "user", "content": question}],
            )
            assert cached.choices[0].message.content == plain.choices[0].message.content
            assert cached.usage.prompt_tokens == plain.usage.prompt_tokens
    # The literal `extra_body` key of raw REST clients, streamed, and the id alone.
    r = httpx.post(
        f"{server.vertex_base('p1')}/chat/completions", headers=AUTH, timeout=300,
        json={"model": GEMINI_FLASH, "temperature": 0, "max_tokens": 8, "stream": True,
              "stream_options": {"include_usage": True},
              "messages": [{"role": "user", "content": QUESTIONS[0]}],
              "extra_body": {"google": {"cached_content": cache["name"].rsplit("/", 1)[1]}}},
    )
    assert r.status_code == 200, r.text
    assert '"cached_tokens":' in r.text and '"cached_tokens":0' not in r.text
    assert "x-vertexcompat-ignored-params" not in r.headers


def chat_error(server: ServerProcess, project: str = "p1", **body) -> dict:
    payload = {"model": GEMINI_FLASH, "max_tokens": 4,
               "messages": [{"role": "user", "content": "hi"}], **body}
    r = httpx.post(f"{server.vertex_base(project)}/chat/completions", json=payload,
                   headers=AUTH, timeout=300)
    assert r.status_code >= 400, r.text
    return {**r.json()["error"], "http": r.status_code}


def test_every_error_has_its_status_and_names_what_is_wrong(server: ServerProcess) -> None:
    small = create(server, contents=[{"role": "user", "parts": [{"text": "Tiny."}]}])
    assert small.status_code == 400
    assert re.fullmatch(r"Cached content is too small\. total_token_count=\d+, "
                        r"min_total_token_count=1024", small.json()["error"]["message"])
    for body, param in [({"ttl": "ten minutes"}, "ttl"), ({"ttl": "0s"}, "ttl"),
                        ({"expireTime": "2001-01-01T00:00:00Z"}, "expire_time"),
                        ({"ttl": "60s", "expireTime": "2099-01-01T00:00:00Z"}, "ttl"),
                        ({"colour": "red"}, "colour"),
                        ({"contents": [{"role": "user", "parts": [{"bogus": 1}]}]}, None)]:
        r = create(server, **body)
        assert r.status_code == 400, (body, r.text)
        if param is not None:
            assert r.json()["error"]["param"] == param, (body, r.text)
    unknown = create(server, model="gemini-no-such-model")
    assert unknown.status_code == 404
    name = create(server).json()["name"]
    # A cache that expires in a second, made now: the checks below outlast its life, so
    # its 404 needs (almost) no waiting.
    short = create(server, ttl="1s").json()["name"]
    short_expires = time.monotonic() + 1.5
    google = {"google": {"cached_content": name}}
    err = chat_error(server, **google, messages=[{"role": "system", "content": "x"},
                                                 {"role": "user", "content": "hi"}])
    assert err["http"] == 400 and err["param"] == "google.cached_content"
    assert "system_instruction, tools or tool_config" in err["message"]
    err = chat_error(server, **google, tools=[{"type": "function", "function": {"name": "f"}}])
    assert err["http"] == 400 and err["param"] == "google.cached_content"
    err = chat_error(server, **google, model=GEMINI_FLASH_001)
    assert err["http"] == 400 and "has to be the same" in err["message"]
    for project, ref in [("p1", name[:-1] + "x"), ("p2", name),
                         ("p1", "projects/p1/locations/us-central1/cachedContents")]:
        err = chat_error(server, project, google={"cached_content": ref})
        assert err["http"] == 404 and err["param"] == "google.cached_content", err
    time.sleep(max(0.0, short_expires - time.monotonic()))
    err = chat_error(server, extra_body={"google": {"cached_content": short}})
    assert err["http"] == 404 and err["param"] == "extra_body.google.cached_content"


def test_a_restart_keeps_the_cache_usable(server: ServerProcess) -> None:
    cache = create(server, displayName="kept").json()
    server.stop()
    server.start(ready_timeout=120)
    one = f"{caches_url(server)}/{cache['name'].rsplit('/', 1)[1]}"
    assert httpx.get(one, headers=AUTH).json() == cache
    with client(server) as sdk:
        answer = sdk.chat.completions.create(
            model=GEMINI_FLASH, temperature=0, max_tokens=8,
            messages=[{"role": "user", "content": QUESTIONS[0]}],
            extra_body={"google": {"cached_content": cache["name"]}},
        )
    assert answer.choices[0].message.content
    assert answer.usage.prompt_tokens > cache["usageMetadata"]["totalTokenCount"]
