"""The policies around a backend, each over a fake backend: image defaults, media
perception, thought sealing, and the boundary that reads a backend's Gemini-named errors.
Which backend gets which policy is `container.backend_policies` (tests/unit/test_container.py)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from tests.fakes import FAKE_MODEL, FakeBackend
from tests.unit.auth.conftest import Clock
from tests.unit.services.test_media import AUDIO, IMAGE, FakePerceiver
from vertexcompat.auth.thought_signatures import ThoughtSealer
from vertexcompat.domain.content import (
    Content,
    FileDataPart,
    FunctionCallPart,
    GenerateContentRequest,
    GenerationConfig,
    ImageDescriptionPart,
    InlineDataPart,
    TextPart,
    TranscriptPart,
)
from vertexcompat.domain.errors import InvalidArgument, PayloadTooLarge
from vertexcompat.domain.events import FunctionCall, ThoughtDelta
from vertexcompat.domain.locations import FieldPath
from vertexcompat.media.limits import MediaLimits
from vertexcompat.models.registry import ModelRegistry, default_aliases
from vertexcompat.services.media import MediaResolver
from vertexcompat.services.policies import compose
from vertexcompat.services.policies.boundary import GeminiNamedErrors
from vertexcompat.services.policies.image_defaults import ImageDefaults
from vertexcompat.services.policies.media import MediaPerception
from vertexcompat.services.policies.thoughts import ThoughtSealing
from vertexcompat.services.thoughts import ThoughtSignatures
from vertexcompat.store.sqlite import open_database
from vertexcompat.store.thought_keys import SqlThoughtKeys

REGISTRY = ModelRegistry(
    default_aliases(FAKE_MODEL, ["my-drawer"]), image_models=["gemini-2.5-flash-image", "my-drawer"]
)


def run(backend, policy, model_id, request):
    wrapped = compose(backend, REGISTRY.lookup(model_id), [policy])

    async def go():
        return [event async for event in wrapped.stream(request)]

    return asyncio.run(go())


def user(*parts, config=GenerationConfig()) -> GenerateContentRequest:
    return GenerateContentRequest(
        model=FAKE_MODEL, contents=(Content("user", (TextPart("q"), *parts)),),
        generation_config=config,
    )


# --- image defaults ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "model_id", ["google/gemini-2.5-flash-image", "publishers/google/models/my-drawer"]
)
def test_an_image_model_id_answers_with_text_and_an_image(model_id):
    backend = FakeBackend()
    run(backend, ImageDefaults(), model_id, user())
    assert backend.requests[0].generation_config.response_modalities == ("TEXT", "IMAGE")


def test_the_client_choice_of_modalities_wins_on_an_image_model():
    backend, chosen = FakeBackend(), user(config=GenerationConfig(response_modalities=("TEXT",)))
    run(backend, ImageDefaults(), "gemini-2.5-flash-image", chosen)
    assert backend.requests == [chosen]


def test_other_ids_are_not_wrapped_by_image_defaults():
    backend = FakeBackend()
    assert ImageDefaults().wrap(backend, REGISTRY.lookup("gemini-2.5-flash")) is backend


# --- media perception --------------------------------------------------------------------


def test_a_text_only_model_reads_what_perception_found():
    backend = FakeBackend()
    policy = MediaPerception(MediaResolver(FakePerceiver(), MediaLimits()), images=True, audio=True)
    run(backend, policy, "gemini-2.5-flash", user(IMAGE, AUDIO))
    parts = backend.requests[0].contents[0].parts
    assert isinstance(parts[1], ImageDescriptionPart) and isinstance(parts[2], TranscriptPart)


def test_a_model_that_reads_images_natively_gets_the_original_image_parts():
    backend, perceiver = FakeBackend(), FakePerceiver()
    policy = MediaPerception(MediaResolver(perceiver, MediaLimits()), images=False, audio=True)
    run(backend, policy, "gemini-2.5-flash", user(IMAGE, AUDIO))
    parts = backend.requests[0].contents[0].parts
    assert parts[1] == IMAGE  # the client's image, untouched
    assert isinstance(parts[2], TranscriptPart)
    assert perceiver.seen == ["audio 0.5"]


def test_a_model_that_reads_every_kind_natively_is_not_wrapped():
    backend = FakeBackend()
    policy = MediaPerception(None, images=False, audio=False)
    assert policy.wrap(backend, REGISTRY.lookup("gemini-2.5-flash")) is backend


def test_media_without_a_resolver_is_refused_naming_the_part():
    backend = FakeBackend()
    with pytest.raises(InvalidArgument) as caught:
        run(backend, MediaPerception(None, images=True, audio=True), "gemini-2.5-flash", user(IMAGE))
    assert caught.value.param == IMAGE.source
    assert backend.requests == []


def test_what_the_backend_refuses_anyway_is_refused_before_any_perception():
    refusal = InvalidArgument("unsupported schema", location="generation_config.response_schema")
    backend, perceiver = FakeBackend(refuse_early=refusal), FakePerceiver()
    policy = MediaPerception(MediaResolver(perceiver, MediaLimits()), images=True, audio=True)
    with pytest.raises(InvalidArgument) as caught:
        run(backend, policy, "gemini-2.5-flash", user(IMAGE))
    assert caught.value is refusal
    assert perceiver.seen == [] and backend.requests == []
    assert backend.prechecked[0].contents[0].parts[1] == IMAGE  # asked with the raw part


def test_the_backend_is_prechecked_then_reads_what_perception_found():
    backend, perceiver = FakeBackend(), FakePerceiver()
    policy = MediaPerception(MediaResolver(perceiver, MediaLimits()), images=True, audio=True)
    run(backend, policy, "gemini-2.5-flash", user(IMAGE))
    assert len(backend.prechecked) == 1 and perceiver.seen
    assert isinstance(backend.requests[0].contents[0].parts[1], ImageDescriptionPart)


def test_the_boundary_locates_a_precheck_error_named_by_param():
    backend = FakeBackend(refuse_early=InvalidArgument("bad", param="generation_config.seed"))
    wrapped = compose(backend, REGISTRY.lookup("gemini-2.5-flash"), [GeminiNamedErrors()])
    with pytest.raises(InvalidArgument) as caught:
        asyncio.run(wrapped.precheck(user()))
    assert str(caught.value.location) == "generation_config.seed"


def test_a_request_without_media_passes_straight_through():
    backend = FakeBackend()
    policy = MediaPerception(None, images=True, audio=True)
    wrapped = policy.wrap(backend, REGISTRY.lookup("gemini-2.5-flash"))
    assert wrapped.stream(user()).__class__ is backend.stream(user()).__class__


# --- thought sealing ---------------------------------------------------------------------


@pytest.fixture
def signatures(tmp_path: Path):
    db = open_database(tmp_path)
    yield ThoughtSignatures(ThoughtSealer(SqlThoughtKeys(db), clock=Clock()))
    db.close()


def thinking_then_calling(request):
    return [ThoughtDelta(0, "hmm"), FunctionCall(0, "get_weather", {"city": "Oslo"})]


def test_sealing_puts_the_turn_thoughts_on_its_first_call(signatures):
    events = run(FakeBackend(script=thinking_then_calling), ThoughtSealing(signatures),
                 "gemini-2.5-flash", user())
    call = next(e for e in events if isinstance(e, FunctionCall))
    assert call.thought_signature


def test_an_enforcing_model_id_refuses_a_current_call_without_signature(signatures):
    history = GenerateContentRequest(model=FAKE_MODEL, contents=(
        Content("user", (TextPart("weather?"),)),
        Content("model", (FunctionCallPart("get_weather", {}, signature_source="sig-path"),)),
    ))
    backend = FakeBackend()
    with pytest.raises(InvalidArgument) as caught:
        run(backend, ThoughtSealing(signatures), "google/gemini-3-pro-preview", history)
    assert caught.value.param == "sig-path"
    assert backend.requests == []
    run(backend, ThoughtSealing(signatures), "google/gemini-2.5-flash", history)
    assert len(backend.requests) == 1


# --- the boundary ------------------------------------------------------------------------


def test_a_backend_error_named_by_param_becomes_an_error_at_that_location():
    original = InvalidArgument("too many", param="generation_config.candidate_count")
    backend = FakeBackend(script=lambda request: [original])
    with pytest.raises(InvalidArgument) as caught:
        run(backend, GeminiNamedErrors(), "gemini-2.5-flash", user())
    error = caught.value
    assert error.location == FieldPath.of("generation_config", "candidate_count")
    assert error.param is None and error.message == "too many"
    # A copy: the backend's exception is left as it was raised.
    assert error is not original and original.param == "generation_config.candidate_count"


def test_the_boundary_keeps_the_error_class_and_its_extras():
    backend = FakeBackend(script=lambda request: [PayloadTooLarge("big", param="contents")])
    with pytest.raises(PayloadTooLarge) as caught:
        run(backend, GeminiNamedErrors(), "gemini-2.5-flash", user())
    assert caught.value.http_status == 413 and caught.value.location == FieldPath.of("contents")


def test_a_backend_error_with_a_location_is_left_alone():
    original = InvalidArgument("bad", location="tools[0].function_declarations[1].parameters")
    with pytest.raises(InvalidArgument) as caught:
        run(FakeBackend(script=lambda request: [original]), GeminiNamedErrors(),
            "gemini-2.5-flash", user())
    assert caught.value is original


# --- requests are rebuilt, never copied field by field -----------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class RequestWithMore(GenerateContentRequest):
    """A request with a field no policy knows about (as the next issue's fields will be)."""

    cached_content: str | None = None


def test_perceiving_media_keeps_every_other_field_of_the_request():
    request = RequestWithMore(
        model=FAKE_MODEL, contents=(Content("user", (TextPart("q"), IMAGE)),),
        system_instruction=Content("user", (TextPart("be brief"),)),
        generation_config=GenerationConfig(temperature=0.2), cached_content="cachedContents/1",
    )
    resolved = asyncio.run(MediaResolver(FakePerceiver(), MediaLimits()).resolve(request))
    assert isinstance(resolved, RequestWithMore)
    assert resolved.cached_content == "cachedContents/1"
    assert resolved.system_instruction == request.system_instruction
    assert resolved.generation_config == request.generation_config
    assert isinstance(resolved.contents[0].parts[1], ImageDescriptionPart)


def test_media_kinds_can_be_perceived_separately():
    request = user(IMAGE, AUDIO)
    resolver = MediaResolver(FakePerceiver(), MediaLimits())
    only_audio = asyncio.run(resolver.resolve(request, images=False, audio=True))
    parts = only_audio.contents[0].parts
    assert isinstance(parts[1], FileDataPart) and isinstance(parts[2], TranscriptPart)
    only_images = asyncio.run(resolver.resolve(request, images=True, audio=False))
    parts = only_images.contents[0].parts
    assert isinstance(parts[1], ImageDescriptionPart) and isinstance(parts[2], InlineDataPart)


# --- schema check (models that cannot constrain their output) ------------------------------


def _answers(*texts: str, reason=None, call=False):
    from vertexcompat.domain.events import Finished, FinishReason, TextDelta

    def script(request):
        events = []
        for c, text in enumerate(texts):
            if call:
                events.append(FunctionCall(c, "f", {}))
            events += [TextDelta(c, text[:3]), TextDelta(c, text[3:])]
            events.append(Finished(c, reason or FinishReason.STOP))
        return events

    return FakeBackend([FAKE_MODEL], script)


JSON_CONFIG = GenerationConfig(
    response_mime_type="application/json",
    response_schema={"type": "object", "properties": {"n": {"type": "integer"}},
                     "required": ["n"]},
)


def test_an_answer_that_meets_the_schema_passes_untouched():
    from vertexcompat.services.policies.schema_check import SchemaCheck
    from vertexcompat.translate.json_schema import output_violation

    events = run(_answers('{"n": 1}', '{"n": 2}'), SchemaCheck(output_violation), FAKE_MODEL,
                 user(config=dataclasses.replace(JSON_CONFIG, candidate_count=2)))
    assert "".join(e.text for e in events if hasattr(e, "text")) == '{"n": 1}{"n": 2}'


@pytest.mark.parametrize(("text", "config", "said"), [
    ('{"n": "one"}', JSON_CONFIG, "schema violation at n"),
    ('{"m": 1}', JSON_CONFIG, "'n' is a required property"),
    ("not json", JSON_CONFIG, "not valid JSON"),
    ("[1, 2]", GenerationConfig(response_mime_type="application/json"), "not a JSON object"),
])
def test_an_answer_that_breaks_it_is_a_bad_gateway_once_complete(text, config, said):
    from vertexcompat.domain.errors import BadGateway
    from vertexcompat.services.policies.schema_check import SchemaCheck
    from vertexcompat.translate.json_schema import output_violation

    backend = _answers(text)
    with pytest.raises(BadGateway, match=said):
        run(backend, SchemaCheck(output_violation), FAKE_MODEL, user(config=config))
    assert backend.endings == ["closed"]


def test_cut_off_answers_calls_and_plain_text_are_not_checked():
    from vertexcompat.domain.events import FinishReason
    from vertexcompat.services.policies.schema_check import SchemaCheck
    from vertexcompat.translate.json_schema import output_violation

    assert run(_answers('{"n": ', reason=FinishReason.MAX_TOKENS), SchemaCheck(output_violation), FAKE_MODEL,
               user(config=JSON_CONFIG))[-1].reason is FinishReason.MAX_TOKENS
    assert run(_answers("", call=True), SchemaCheck(output_violation), FAKE_MODEL, user(config=JSON_CONFIG))
    assert run(_answers("plain words"), SchemaCheck(output_violation), FAKE_MODEL, user())


# --- computeTokens ---------------------------------------------------------------------------


def compute(wrapped, request):
    return asyncio.run(wrapped.compute_tokens(request))


def test_every_backend_method_passes_through_the_wrapper():
    from vertexcompat.backends.base import Backend
    from vertexcompat.services.policies import BackendWrapper

    methods = [name for name in vars(Backend) if not name.startswith("_")]
    assert "compute_tokens" in methods
    assert [name for name in methods if name not in vars(BackendWrapper)] == []


def test_compute_tokens_passes_through_every_policy():
    backend = FakeBackend()
    policies = [ImageDefaults(), MediaPerception(None, images=True, audio=True), GeminiNamedErrors()]
    wrapped = compose(backend, REGISTRY.lookup("gemini-2.5-flash-image"), policies)
    assert wrapped is not backend
    asked = user(TextPart(" and more"))
    infos = compute(wrapped, asked)
    assert backend.computed == [asked]  # untouched: image defaults are for generating
    assert infos[0].tokens == (b"q", b"and", b"more") and infos[0].role == "user"


def test_compute_tokens_reads_what_perception_found():
    backend, perceiver = FakeBackend(), FakePerceiver()
    policy = MediaPerception(MediaResolver(perceiver, MediaLimits()), images=True, audio=False)
    wrapped = policy.wrap(backend, REGISTRY.lookup("gemini-2.5-flash"))
    compute(wrapped, user(IMAGE, AUDIO))
    parts = backend.computed[0].contents[0].parts
    assert isinstance(parts[1], ImageDescriptionPart)
    assert parts[2] == AUDIO  # the model hears audio itself
    assert perceiver.seen and backend.prechecked == []


def test_compute_tokens_without_a_resolver_refuses_media_naming_the_part():
    backend = FakeBackend()
    wrapped = MediaPerception(None, images=True, audio=True).wrap(
        backend, REGISTRY.lookup("gemini-2.5-flash")
    )
    with pytest.raises(InvalidArgument) as caught:
        compute(wrapped, user(IMAGE))
    assert caught.value.param == IMAGE.source and backend.computed == []
    assert compute(wrapped, user())[0].tokens == (b"q",)  # no media: nothing to refuse


def test_the_boundary_locates_a_compute_tokens_error_named_by_param():
    class Refusing(FakeBackend):
        async def compute_tokens(self, request):
            raise InvalidArgument("cannot tell", param="contents[0].parts[1]")

    wrapped = compose(Refusing(), REGISTRY.lookup("gemini-2.5-flash"), [GeminiNamedErrors()])
    with pytest.raises(InvalidArgument) as caught:
        compute(wrapped, user())
    assert caught.value.location == FieldPath.of("contents", 0, "parts", 1)
    assert caught.value.param is None and caught.value.message == "cannot tell"


def test_counting_sees_the_request_as_generation_does():
    """Image defaults and restored thoughts apply to `count_tokens` as to `stream`."""
    seen = []

    class Counting(FakeBackend):
        async def count_tokens(self, request, *, as_prompt=False):
            seen.append(request)
            return 1

    backend = Counting()
    wrapped = compose(backend, REGISTRY.lookup("google/gemini-2.5-flash-image"), [ImageDefaults()])
    asyncio.run(wrapped.count_tokens(user(), as_prompt=True))
    assert seen[-1].generation_config.wants_image


def test_counting_refuses_a_forged_signature_as_generation_does(signatures):
    forged = GenerateContentRequest(model=FAKE_MODEL, contents=(
        Content("user", (TextPart("weather?"),)),
        Content("model", (FunctionCallPart("get_weather", {}, thought_signature="AAAA",
                                           signature_source="sig-path"),)),
    ))
    wrapped = compose(FakeBackend(), REGISTRY.lookup("gemini-2.5-flash"),
                      [ThoughtSealing(signatures)])
    with pytest.raises(InvalidArgument) as caught:
        asyncio.run(wrapped.count_tokens(forged, as_prompt=True))
    assert caught.value.param == "sig-path"
