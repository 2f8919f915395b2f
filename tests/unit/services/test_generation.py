import pytest

from tests.fakes import FAKE_MODEL, FakeBackend
from vertexcompat.domain.content import Content, GenerateContentRequest, TextPart
from vertexcompat.domain.errors import NotFound, Unavailable
from vertexcompat.services.generation import (
    GEMINI_MODEL_IDS,
    GenerationService,
    default_aliases,
    normalize_model_id,
)


def service(backend=None, aliases=None):
    backend = backend or FakeBackend()
    return GenerationService(
        {"fake": backend}, aliases if aliases is not None else default_aliases(FAKE_MODEL)
    )


@pytest.mark.parametrize(
    "requested",
    [
        "gemini-2.5-flash",
        "google/gemini-2.5-flash",
        "models/gemini-2.5-flash",
        "publishers/google/models/gemini-2.5-flash",
        "projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash",
    ],
)
def test_gemini_ids_resolve_through_the_alias_table(requested):
    backend = FakeBackend()
    assert service(backend).resolve_model(requested) == (backend, FAKE_MODEL)


def test_backend_model_name_resolves_directly():
    assert service().resolve_model(FAKE_MODEL)[1] == FAKE_MODEL


def test_default_aliases_cover_the_known_gemini_ids():
    aliases = default_aliases("local")
    for model_id in (
        "gemini-2.0-flash-001",
        "gemini-2.5-pro",
        "gemini-3-pro-preview",
        "gemini-3.5-flash",
    ):
        assert aliases[model_id] == "local"
    assert set(aliases) == set(GEMINI_MODEL_IDS)


def test_unknown_model_is_not_found_with_google_wording():
    with pytest.raises(NotFound) as caught:
        service().resolve_model("google/gemini-9", project="p", location="l")
    assert caught.value.param == "model"
    assert caught.value.message.startswith(
        "Publisher Model `projects/p/locations/l/publishers/google/models/gemini-9` was not found "
        "or your project does not have access to it."
    )


def test_alias_to_a_model_nobody_serves_is_not_found():
    with pytest.raises(NotFound):
        service(aliases={"gemini-x": "missing"}).resolve_model("gemini-x")


def test_backend_not_ready_is_unavailable():
    with pytest.raises(Unavailable):
        service(FakeBackend(ready=False)).resolve_model("gemini-2.5-flash")


def test_stream_uses_the_backend_serving_the_request_model():
    backend = FakeBackend()
    request = GenerateContentRequest(
        model=FAKE_MODEL, contents=(Content("user", (TextPart("x"),)),)
    )
    service(backend).stream(request)
    assert backend.requests == [request]


def test_list_models_has_aliases_then_backend_names():
    infos = service(aliases={"gemini-2.5-flash": FAKE_MODEL, "gemini-x": "missing"}).list_models()
    assert [(i.id, i.backend_model) for i in infos] == [
        ("google/gemini-2.5-flash", FAKE_MODEL),
        (FAKE_MODEL, FAKE_MODEL),
    ]
    assert infos[0].context_length == 4096


def test_normalize_model_id_strips_prefixes_once_each():
    assert normalize_model_id("google/models/gemini-2.5-flash") == "gemini-2.5-flash"
    assert normalize_model_id("qwen") == "qwen"


def _collect(stream):
    import asyncio

    async def go():
        return [event async for event in stream]

    return asyncio.run(go())


def test_the_backend_reads_perceived_media_not_the_raw_parts():
    from tests.unit.services.test_media import IMAGE, FakePerceiver
    from vertexcompat.domain.content import ImageDescriptionPart
    from vertexcompat.media.limits import MediaLimits
    from vertexcompat.services.media import MediaResolver

    backend = FakeBackend()
    svc = GenerationService(
        {"fake": backend}, default_aliases(FAKE_MODEL),
        media=MediaResolver(FakePerceiver(), MediaLimits()),
    )
    req = GenerateContentRequest(model=FAKE_MODEL, contents=(Content("user", (TextPart("q"), IMAGE)),))
    events = _collect(svc.stream(req))
    assert events and backend.endings == ["completed"]
    [seen] = backend.requests
    assert isinstance(seen.contents[0].parts[1], ImageDescriptionPart)


def test_a_completion_that_fills_the_window_is_refused_before_any_perception():
    from tests.unit.services.test_media import IMAGE, FakePerceiver
    from vertexcompat.domain.content import GenerationConfig
    from vertexcompat.domain.errors import InvalidArgument
    from vertexcompat.media.limits import MediaLimits
    from vertexcompat.services.media import MediaResolver

    perceiver = FakePerceiver()
    backend = FakeBackend(context_length=4096)
    svc = GenerationService(
        {"fake": backend}, default_aliases(FAKE_MODEL),
        media=MediaResolver(perceiver, MediaLimits()),
    )
    req = GenerateContentRequest(
        model=FAKE_MODEL, contents=(Content("user", (TextPart("q"), IMAGE)),),
        generation_config=GenerationConfig(max_output_tokens=4096),
    )
    with pytest.raises(InvalidArgument) as info:
        _collect(svc.stream(req))
    assert info.value.param == "generation_config.max_output_tokens"
    assert "4096" in info.value.message
    assert perceiver.seen == [] and backend.requests == []


def test_media_without_a_resolver_is_refused():
    from tests.unit.services.test_media import IMAGE
    from vertexcompat.domain.errors import InvalidArgument

    req = GenerateContentRequest(model=FAKE_MODEL, contents=(Content("user", (IMAGE,)),))
    with pytest.raises(InvalidArgument):
        _collect(service().stream(req))


def test_image_model_ids_default_to_text_and_image_unless_the_client_chose():
    from vertexcompat.domain.content import Content, GenerateContentRequest, GenerationConfig, TextPart
    from vertexcompat.services.generation import GenerationService, default_aliases

    service = GenerationService({}, default_aliases("local", ["my-drawer"]),
                                image_models=["gemini-2.5-flash-image", "my-drawer"])
    request = GenerateContentRequest(model="local", contents=(Content("user", (TextPart("hi"),)),))
    for model_id in ("google/gemini-2.5-flash-image", "publishers/google/models/my-drawer"):
        cfg = service.with_model_defaults(request, model_id).generation_config
        assert cfg.response_modalities == ("TEXT", "IMAGE")
    assert service.with_model_defaults(request, "gemini-2.5-flash") is request
    chosen = GenerateContentRequest(
        model="local", contents=request.contents,
        generation_config=GenerationConfig(response_modalities=("TEXT",)),
    )
    assert service.with_model_defaults(chosen, "gemini-2.5-flash-image") is chosen
