"""`GET …/models/{id}` on the live server: the openai SDK's `models.retrieve` with ids that
contain slashes (sent percent-encoded), on the Vertex paths and plain `/v1`; unknown ids are
404 in Google's shape."""

from __future__ import annotations

import httpx
import openai
import pytest

from .conftest import TINY_MODEL, ClientFactory
from .helpers import AUTH
from .server import ServerProcess


def _bases(server: ServerProcess) -> dict[str, str]:
    return {
        "vertex": server.vertex_base(),
        "vertex_beta": server.vertex_base(version="v1beta1"),
        "plain": f"{server.base_url}/v1",
    }


@pytest.mark.parametrize("base", ["vertex", "vertex_beta", "plain"])
@pytest.mark.parametrize(
    ("model", "listed"),
    [("google/gemini-2.5-flash", "google/gemini-2.5-flash"),
     ("gemini-2.5-flash", "google/gemini-2.5-flash"),
     ("publishers/google/models/gemini-2.0-flash-001", "google/gemini-2.0-flash-001"),
     (TINY_MODEL, TINY_MODEL)],
)
def test_sdk_retrieves_a_model_by_id(
    tiny_server: ServerProcess, make_client: ClientFactory, base: str, model: str, listed: str
) -> None:
    client = make_client(base_url=_bases(tiny_server)[base])
    retrieved = client.models.retrieve(model)
    assert (retrieved.id, retrieved.object) == (listed, "model")
    assert retrieved.id in {m.id for m in client.models.list()}


@pytest.mark.parametrize("base", ["vertex", "plain"])
def test_an_unknown_model_is_404_in_googles_shape(
    tiny_server: ServerProcess, make_client: ClientFactory, base: str
) -> None:
    client = make_client(base_url=_bases(tiny_server)[base])
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("google/gemini-9")
    body = caught.value.body
    assert isinstance(body, dict)
    assert (body["code"], body["status"]) == (404, "NOT_FOUND")
    assert "publishers/google/models/gemini-9" in body["message"]


def test_raw_slashes_reach_the_same_model(tiny_server: ServerProcess) -> None:
    url = f"{tiny_server.vertex_base()}/models/google/gemini-2.5-flash"
    response = httpx.get(url, headers=AUTH, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == "google/gemini-2.5-flash"
