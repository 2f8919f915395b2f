"""Image output through the routes, on a scripted backend: image model ids ask for text and
image, `modalities` asks any model, the response has the seed's shape, the stream's wire
format is pinned by a golden transcript, and `images/generations` answers OpenAI's shape."""

import base64

import pytest

from tests.fakes import FakeBackend, make_container
from tests.unit.web.golden_files import assert_matches_golden, normalised
from tests.unit.web.helpers import AUTH, VERTEX_CHAT, chat_body, client_for
from vertexcompat.domain.events import Finished, FinishReason, ImageOutput, TextDelta, Usage

VERTEX_IMAGES = "/v1/projects/my-proj/locations/us-central1/endpoints/openapi/images/generations"
PNG = b"\x89PNG-fake"


def image_script(request):
    cfg = request.generation_config
    events = []
    for c in range(cfg.candidate_count):
        events.append(TextDelta(c, f"Here is image {c}: "))
        if cfg.wants_image:
            w, h = cfg.image_size
            events.append(ImageOutput(c, "image/png", PNG + f"{w}x{h}".encode()))
    events += [Finished(c, FinishReason.STOP) for c in range(cfg.candidate_count)]
    events.append(Usage(prompt_tokens=7, completion_tokens=40))
    return events


@pytest.fixture
def backend():
    return FakeBackend(script=image_script)


def post(backend, path, body):
    with client_for(make_container({"fake": backend})) as client:
        return client.post(path, json=body, headers=AUTH)


@pytest.mark.parametrize(
    "model", ["google/gemini-2.5-flash-image-preview", "google/gemini-2.5-flash-image",
              "gemini-2.5-flash-image"],
)
def test_image_model_ids_answer_with_text_and_image(backend, model):
    r = post(backend, VERTEX_CHAT, chat_body(model=model))
    assert r.status_code == 200, r.text
    assert backend.requests[0].generation_config.response_modalities == ("TEXT", "IMAGE")
    choice = r.json()["choices"][0]
    assert base64.b64decode(choice["image"]["data"]) == PNG + b"1024x1024"
    assert choice["image"]["extra_content"] == {"google": {"mime_type": "image/png"}}
    assert choice["content"] == "Here is image 0: " and choice["role"] == "assistant"
    assert choice["message"]["image"] == choice["image"]
    assert r.json()["model"] == model


def test_modalities_ask_a_normal_model_for_an_image_and_are_honoured(backend):
    r = post(backend, VERTEX_CHAT, chat_body(modalities=["image", "text"], size="512x256"))
    assert r.status_code == 200, r.text
    cfg = backend.requests[0].generation_config
    assert cfg.response_modalities == ("TEXT", "IMAGE") and cfg.image_size == (512, 256)
    assert "x-vertexcompat-ignored-params" not in r.headers


def test_text_only_modalities_on_an_image_model_win(backend):
    r = post(backend, VERTEX_CHAT, chat_body(model="google/gemini-2.5-flash-image", modalities=["text"]))
    assert r.status_code == 200
    assert "image" not in r.json()["choices"][0]


def test_normal_models_answer_without_image_keys(backend):
    r = post(backend, VERTEX_CHAT, chat_body())
    assert "image" not in r.json()["choices"][0]
    assert backend.requests[0].generation_config.response_modalities == ()


def test_n_images(backend):
    r = post(backend, VERTEX_CHAT, chat_body(model="google/gemini-2.5-flash-image", n=2))
    assert [c["index"] for c in r.json()["choices"]] == [0, 1]
    assert all("image" in c for c in r.json()["choices"])


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"size": "32x32"}, "size"),
        ({"size": "huge"}, "size"),
        ({"extra_body": {"google": {"image_config": {"aspect_ratio": "2:1"}}}},
         "extra_body.google.image_config.aspect_ratio"),
        ({"modalities": ["audio"]}, "modalities[0]"),
    ],
)
def test_bad_image_options_are_400_with_param(backend, fields, param):
    r = post(backend, VERTEX_CHAT, chat_body(model="google/gemini-2.5-flash-image", **fields))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param
    assert not backend.requests


def test_image_stream_transcript_matches_golden(backend):
    with client_for(make_container({"fake": backend})) as client:
        r = client.post(VERTEX_CHAT, headers=AUTH, json=chat_body(
            model="google/gemini-2.5-flash-image-preview", stream=True, size="64x64",
            stream_options={"include_usage": True}))
    assert r.status_code == 200, r.text
    assert_matches_golden(normalised(r.text), "stream_image.sse")


@pytest.mark.parametrize("path", [VERTEX_IMAGES, "/v1/images/generations",
                                  VERTEX_IMAGES.replace("/v1/", "/v1beta1/")])
def test_images_generations_answers_b64_json(backend, path):
    r = post(backend, path, {"model": "google/gemini-2.5-flash-image", "prompt": "a cat",
                             "n": 2, "size": "512x512", "response_format": "b64_json",
                             "quality": "hd", "style": "vivid"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"created", "data"}
    assert [base64.b64decode(d["b64_json"]) for d in body["data"]] == [PNG + b"512x512"] * 2
    assert body["data"][0]["revised_prompt"] == "Here is image 0:"
    request = backend.requests[0]
    assert request.generation_config.candidate_count == 2
    assert request.contents[0].parts[0].text == "a cat"


def test_images_generations_defaults_to_the_image_model(backend):
    r = post(backend, "/v1/images/generations", {"prompt": "a cat"})
    assert r.status_code == 200, r.text
    assert len(r.json()["data"]) == 1


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"response_format": "url"}, "response_format"),
        ({"size": "4000x10"}, "size"),
        ({"n": 5}, "n"),
        ({"prompt": ""}, "prompt"),
    ],
)
def test_images_generations_bad_fields_are_400(backend, fields, param):
    r = post(backend, "/v1/images/generations", {"prompt": "a cat", **fields})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


def test_images_generations_without_any_image_is_503_not_500():
    def no_image(request):
        return [TextDelta(0, "(No image: the drawing took too long to render.)"),
                Finished(0, FinishReason.OTHER), Usage(1, 1)]

    r = post(FakeBackend(script=no_image), "/v1/images/generations", {"prompt": "a cat"})
    assert r.status_code == 503, r.text
    assert r.json()["error"]["status"] == "UNAVAILABLE"


def test_images_generations_needs_auth(backend):
    with client_for(make_container({"fake": backend})) as client:
        r = client.post("/v1/images/generations", json={"prompt": "a cat"})
    assert r.status_code == 401
