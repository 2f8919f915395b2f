"""The URL shapes of SPEC §2, model ids, health endpoints and the bearer requirement."""

from __future__ import annotations

import httpx
import openai
import pytest

from .conftest import TINY_MODEL, ClientFactory
from .helpers import AUTH, GEMINI_FLASH_001, HELLO
from .server import ServerProcess

REQUEST = {"messages": HELLO, "temperature": 0, "max_tokens": 8}


def _answer(client: openai.OpenAI, model: str = GEMINI_FLASH_001, **overrides) -> str:
    response = client.chat.completions.create(model=model, **{**REQUEST, **overrides})
    assert response.model == model
    assert response.object == "chat.completion"
    return response.choices[0].message.content or ""


def test_v1beta1_and_plain_v1_paths_answer_like_the_v1_vertex_path(
    tiny_server: ServerProcess, client: openai.OpenAI, make_client: ClientFactory
) -> None:
    expected = _answer(client)
    assert expected

    beta = make_client(base_url=tiny_server.vertex_base(version="v1beta1"))
    plain = make_client(base_url=f"{tiny_server.base_url}/v1")
    other_project = make_client(base_url=tiny_server.vertex_base("other-proj", "europe-west4"))

    assert _answer(beta) == expected
    assert _answer(plain) == expected
    assert _answer(other_project) == expected


@pytest.mark.parametrize(
    "model",
    [GEMINI_FLASH_001, "google/gemini-2.0-flash", "gemini-2.5-flash", "models/gemini-2.5-pro",
     TINY_MODEL],
)
def test_gemini_ids_and_the_local_name_resolve_and_are_echoed(
    client: openai.OpenAI, model: str
) -> None:
    assert _answer(client, model)


@pytest.mark.parametrize("base", ["vertex", "vertex_beta", "plain"])
def test_models_list_names_the_gemini_ids_and_the_local_model(
    tiny_server: ServerProcess, make_client: ClientFactory, base: str
) -> None:
    base_url = {
        "vertex": tiny_server.vertex_base(),
        "vertex_beta": tiny_server.vertex_base(version="v1beta1"),
        "plain": f"{tiny_server.base_url}/v1",
    }[base]
    models = list(make_client(base_url=base_url).models.list())

    ids = [m.id for m in models]
    assert len(ids) == len(set(ids)), ids
    assert {m.object for m in models} == {"model"}
    assert "google/gemini-2.0-flash-001" in ids, ids
    assert "google/gemini-2.5-pro" in ids, ids
    assert TINY_MODEL in ids


def test_every_listed_model_id_is_accepted_as_model(
    client: openai.OpenAI,
) -> None:
    ids = [m.id for m in client.models.list()]
    for model_id in ids:
        # `_answer` checks the id is echoed; every listed model also says something (its
        # first 3 tokens: whether it answers, not how much, over every listed id).
        assert _answer(client, model_id, max_tokens=3).strip(), f"{model_id} answered nothing"


def test_healthz_is_200(tiny_server: ServerProcess) -> None:
    response = httpx.get(f"{tiny_server.base_url}/healthz", timeout=10)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_is_200_with_each_backends_state_and_load(tiny_server: ServerProcess) -> None:
    # The server's own body, not `ServerProcess.load()`: that helper builds its dict from
    # fixed keys, so asserting its keys would test the helper.
    response = httpx.get(f"{tiny_server.base_url}/readyz", timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["backends"] and set(body["backends"].values()) == {"ready"}, body
    assert set(body["load"]) == set(body["backends"]), body
    for stats in body["load"].values():
        assert {"busy_slots", "active_requests", "queued_requests"} <= set(stats), body
        assert all(isinstance(value, int) and value >= 0 for value in stats.values()), body


@pytest.mark.parametrize("headers", [{}, {"Authorization": ""}, {"Authorization": "Bearer"},
                                     {"Authorization": "Basic dXNlcjpwYXNz"}])
def test_request_without_a_bearer_token_is_401(
    tiny_server: ServerProcess, headers: dict[str, str]
) -> None:
    response = httpx.post(
        f"{tiny_server.vertex_base()}/chat/completions",
        json={"model": GEMINI_FLASH_001, **REQUEST},
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert error["code"] == 401
    assert error["status"] == "UNAUTHENTICATED"


def test_models_list_without_a_bearer_token_is_401(tiny_server: ServerProcess) -> None:
    response = httpx.get(f"{tiny_server.vertex_base()}/models", timeout=30)
    assert response.status_code == 401, response.text


def test_sdk_without_a_bearer_token_gets_authentication_error(
    tiny_server: ServerProcess,
) -> None:
    sdk = openai.OpenAI(
        base_url=tiny_server.vertex_base(),
        api_key="unused",
        max_retries=0,
        default_headers={"Authorization": "Basic dXNlcjpwYXNz"},
    )
    with pytest.raises(openai.AuthenticationError) as info:
        sdk.chat.completions.create(model=GEMINI_FLASH_001, **REQUEST)
    assert info.value.status_code == 401
    # The SDK parsed our error body (SPEC §7), not an empty or foreign one.
    assert isinstance(info.value.body, dict), info.value.body
    assert (info.value.body["code"], info.value.body["status"]) == (401, "UNAUTHENTICATED")


def test_unknown_path_is_404_in_the_error_shape(tiny_server: ServerProcess) -> None:
    response = httpx.post(
        f"{tiny_server.base_url}/v1/projects/p/locations/l/endpoints/openapi/chat/nope",
        json={}, headers=AUTH, timeout=30,
    )
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"
