"""Gemini's native routes over fakes: the forms the SDK does not exercise (a stream without
`alt=sse`, `v1`, other publishers, unknown methods) and the checks around them."""

from __future__ import annotations

from tests.fakes import FakeBackend, make_container
from tests.unit.web.helpers import AUTH, client_for

ROOT = "/{version}/projects/p/locations/us-central1/publishers/{publisher}/models/{model}:{method}"
BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def url(method: str, *, version: str = "v1", publisher: str = "google",
        model: str = "gemini-2.5-flash") -> str:
    return ROOT.format(version=version, publisher=publisher, model=model, method=method)


def test_a_stream_without_alt_sse_is_one_json_array_of_the_same_chunks() -> None:
    with client_for() as client:
        array = client.post(url("streamGenerateContent"), json=BODY, headers=AUTH)
        sse = client.post(url("streamGenerateContent") + "?alt=sse", json=BODY, headers=AUTH)
    assert array.status_code == 200 and array.headers["content-type"] == "application/json"
    chunks = array.json()
    assert isinstance(chunks, list) and len(chunks) >= 2
    assert "".join(p["text"] for c in chunks for p in c["candidates"][0]["content"].get(
        "parts", []) if "text" in p) == "Hello world"
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP" and "usageMetadata" in chunks[-1]
    assert sse.headers["content-type"].startswith("text/event-stream")
    assert sse.text.count("data: ") == len(chunks) and "[DONE]" not in sse.text


def test_v1_and_v1beta1_and_other_publishers_reach_the_model() -> None:
    backend = FakeBackend(["fake-model", "meta/llama-x"])
    with client_for(make_container({"fake": backend})) as client:
        for version in ("v1", "v1beta1"):
            r = client.post(url("generateContent", version=version), json=BODY, headers=AUTH)
            assert r.status_code == 200, r.text
        r = client.post(url("generateContent", publisher="meta", model="llama-x"), json=BODY,
                        headers=AUTH)
        assert r.status_code == 200, r.text
    assert backend.requests[-1].model == "meta/llama-x"


def test_unknown_methods_fields_and_models_are_refused_in_googles_terms() -> None:
    with client_for() as client:
        assert client.post(url("predict"), json=BODY, headers=AUTH).status_code == 404
        bad = client.post(url("generateContent"), headers=AUTH,
                          json={**BODY, "generationConfig": {"temprature": 1}})
        assert bad.status_code == 400
        error = bad.json()["error"]
        assert error["message"].startswith('Invalid JSON payload received. Unknown name "temprature"')
        assert error["param"] == "generation_config.temprature"
        missing = client.post(url("generateContent", model="no-such"), json=BODY, headers=AUTH)
        assert missing.status_code == 404 and "publishers/google/models/no-such" in missing.text
        assert client.post(url("generateContent"), json=BODY).status_code == 401


def test_publisher_models_need_only_a_live_token() -> None:
    with client_for() as client:
        listed = client.get("/v1beta1/publishers/google/models", headers=AUTH)
        assert listed.status_code == 200
        names = [m["name"] for m in listed.json()["publisherModels"]]
        assert "publishers/google/models/gemini-2.5-flash" in names
        one = client.get("/v1/publishers/google/models/gemini-2.5-flash", headers=AUTH)
        assert one.json()["name"] == "publishers/google/models/gemini-2.5-flash"
        assert client.get("/v1/publishers/google/models/nope", headers=AUTH).status_code == 404
        assert client.get("/v1/publishers/google/models").status_code == 401


def test_an_openai_endpoint_cannot_count_or_compute_tokens_and_says_so() -> None:
    from vertexcompat.backends.openai_upstream import OpenAIUpstream
    from vertexcompat.backends.replicas import ReplicaSet

    upstream = OpenAIUpstream("e1", "qwen-up", ReplicaSet(["http://127.0.0.1:9/v1"]))
    with client_for(make_container({"e1": upstream})) as client:
        for method in ("countTokens", "computeTokens"):
            r = client.post(url(method, publisher="google", model="qwen-up"), json=BODY,
                            headers=AUTH)
            assert r.status_code == 400, r.text
            assert "cannot" in r.json()["error"]["message"] and r.json()["error"]["param"] == "model"
