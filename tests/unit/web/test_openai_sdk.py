"""The real `openai` SDK against the app (in process): shapes, SSE parsing, error parsing."""

import openai
import pytest

from tests.fakes import FakeBackend, make_container
from tests.unit.web.helpers import client_for
from vertexcompat.domain.errors import ResourceExhausted


def sdk(container=None):
    client = client_for(container)
    return client, openai.OpenAI(
        base_url="http://testserver/v1/projects/p/locations/us-central1/endpoints/openapi",
        api_key="token",
        http_client=client,
        max_retries=0,
    )


def test_sdk_non_stream_and_stream():
    client, api = sdk()
    with client:
        completion = api.chat.completions.create(
            model="google/gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}]
        )
        assert completion.choices[0].message.content == "Hello world"
        assert completion.usage.prompt_tokens_details.cached_tokens == 1
        chunks = list(
            api.chat.completions.create(
                model="google/gemini-2.5-flash",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello world"
    assert chunks[-1].usage.total_tokens == 9


def test_sdk_parses_error_bodies():
    client, api = sdk()
    with client, pytest.raises(openai.BadRequestError) as caught:
        api.chat.completions.create(model="gemini-2.5-flash", messages=[], temperature=1)
    assert caught.value.param == "messages"
    assert caught.value.type == "invalid_request_error"


def test_sdk_sees_429_as_rate_limit():
    backend = FakeBackend(script=lambda req: [ResourceExhausted("queue full")])
    client, api = sdk(make_container({"fake": backend}))
    with client, pytest.raises(openai.RateLimitError):
        api.chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}]
        )


@pytest.mark.parametrize(
    "base", ["http://testserver/v1", "http://testserver/v1/projects/p/locations/l/endpoints/openapi"]
)
def test_sdk_retrieves_a_model_whose_id_has_a_slash(base):
    client = client_for()
    api = openai.OpenAI(base_url=base, api_key="t", http_client=client, max_retries=0)
    with client:
        model = api.models.retrieve("google/gemini-2.5-flash")
        assert (model.id, model.object, model.owned_by) == (
            "google/gemini-2.5-flash", "model", "google"
        )
        assert model.id in [m.id for m in api.models.list()]
        with pytest.raises(openai.NotFoundError) as caught:
            api.models.retrieve("google/gemini-9")
    assert "gemini-9" in caught.value.message
