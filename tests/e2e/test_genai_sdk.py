"""Gemini's native REST surface end to end with the real `google-genai` SDK: our server (auth
ON, tiny model) reached as Vertex — `genai.Client(vertexai=True, …, http_options=
HttpOptions(base_url=…))` — with google-auth credentials from a key file the server issued.

The answers are the tiny model's, so the tests check what the wire must carry (roles,
parts, thought marks, parsed JSON, counts, errors), not how clever the answers are.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pydantic
import pytest
from google import genai
from google.genai import errors, types
from google.oauth2 import service_account

from tests.unit.media.perception.image_samples import stop_sign_jpeg

from .conftest import TINY_MODEL
from .helpers import create_service_account_key, run_cli
from .server import ServerProcess, free_port

pytestmark = pytest.mark.timeout(300)

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
MODEL = "gemini-2.5-flash"
SHORT = types.GenerateContentConfig(max_output_tokens=12, temperature=0)


def _create_key(root: Path, project: str, port: int) -> Path:
    return create_service_account_key(root / "data", project, root / f"{project}-key.json",
                                      port)


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    root = tmp_path_factory.mktemp("genai")
    port = free_port()
    key = _create_key(root, "demo", port)
    server = ServerProcess("genai", model=TINY_MODEL, data_dir=root / "data", log_dir=root,
                           parallel=2, ctx_per_seq=2048, port=port,
                           env={"VERTEXCOMPAT_CACHED_CONTENT_MIN_TOKENS": "16"})
    server.start(ready_timeout=120)
    try:
        yield server, key
    finally:
        server.stop()


def make_client(native: tuple[ServerProcess, Path], project: str = "demo") -> genai.Client:
    server, key = native
    creds = service_account.Credentials.from_service_account_file(str(key), scopes=SCOPES)
    return genai.Client(
        vertexai=True, project=project, location="us-central1", credentials=creds,
        http_options=types.HttpOptions(base_url=server.base_url, timeout=120_000),
    )


@pytest.fixture(scope="module")
def client(native: tuple[ServerProcess, Path]) -> genai.Client:
    return make_client(native)


def test_generate_stream_and_count_agree(client: genai.Client) -> None:
    prompt = "Name three colours of the rainbow."
    whole = client.models.generate_content(model=MODEL, contents=prompt, config=SHORT)
    assert whole.text and whole.candidates[0].content.role == "model"
    assert whole.candidates[0].finish_reason in (types.FinishReason.STOP,
                                                 types.FinishReason.MAX_TOKENS)
    usage = whole.usage_metadata
    assert usage.candidates_token_count and usage.total_token_count == (
        usage.prompt_token_count + usage.candidates_token_count)
    assert whole.model_version == MODEL and whole.response_id
    counted = client.models.count_tokens(model=MODEL, contents=prompt)
    assert counted.total_tokens == usage.prompt_token_count

    chunks = list(client.models.generate_content_stream(model=MODEL, contents=prompt,
                                                        config=SHORT))
    assert len(chunks) >= 3
    assert "".join(c.text or "" for c in chunks) == whole.text  # greedy: the same answer
    assert chunks[-1].candidates[0].finish_reason == whole.candidates[0].finish_reason
    assert chunks[-1].usage_metadata.candidates_token_count == usage.candidates_token_count


def test_a_three_turn_chat_carries_its_history(client: genai.Client) -> None:
    chat = client.chats.create(model=MODEL, config=SHORT)
    counts = []
    for question in ("My name is Ada.", "I live in Oslo.", "What is my name?"):
        reply = chat.send_message(question)
        assert reply.text
        counts.append(reply.usage_metadata.prompt_token_count)
    history = chat.get_history()
    assert [c.role for c in history] == ["user", "model"] * 3
    assert history[0].parts[0].text == "My name is Ada."
    assert counts[0] < counts[1] < counts[2], "each turn sends the whole conversation"


def test_automatic_function_calling_runs_the_python_function(client: genai.Client) -> None:
    called: list[str] = []

    def get_weather(city: str) -> dict[str, str]:
        """The current weather in a city."""
        called.append(city)
        return {"city": city, "sky": "clear"}

    config = types.GenerateContentConfig(
        tools=[get_weather], max_output_tokens=40, temperature=0,
        tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(
            mode=types.FunctionCallingConfigMode.ANY)),
        # Two requests: the one that calls, and the one that carries the result back.
        automatic_function_calling=types.AutomaticFunctionCallingConfig(maximum_remote_calls=2),
    )
    response = client.models.generate_content(
        model=MODEL, contents="What is the weather in Paris?", config=config)
    assert len(called) == 1 and isinstance(called[0], str)
    history = response.automatic_function_calling_history
    assert history[1].parts[0].function_call.name == "get_weather"
    # The SDK wraps a function's return value as {"result": …}.
    assert history[2].parts[0].function_response.response == {
        "result": {"city": called[0], "sky": "clear"}}
    # The second request carried call and result back; the model (mode ANY) called again.
    assert response.candidates[0].content.parts[0].function_call.name == "get_weather"


class Colour(pydantic.BaseModel):
    name: str
    hex_code: str


def test_a_pydantic_schema_comes_back_parsed(client: genai.Client) -> None:
    response = client.models.generate_content(
        model=MODEL, contents="Describe the colour red.",
        config=types.GenerateContentConfig(response_mime_type="application/json",
                                           response_schema=Colour, max_output_tokens=60,
                                           temperature=0))
    assert isinstance(response.parsed, Colour), response.text


def test_thoughts_come_back_marked(client: genai.Client) -> None:
    response = client.models.generate_content(
        model=MODEL, contents="Is 17 a prime number?",
        config=types.GenerateContentConfig(
            max_output_tokens=60, temperature=0,
            thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=24)))
    parts = response.candidates[0].content.parts
    assert parts[0].thought is True and parts[0].text
    assert all(not p.thought for p in parts[1:])
    assert response.usage_metadata.thoughts_token_count


def test_an_image_part_is_read(client: genai.Client) -> None:
    response = client.models.generate_content(
        model=MODEL, config=SHORT,
        contents=[types.Part.from_bytes(data=stop_sign_jpeg(), mime_type="image/jpeg"),
                  "What does the sign say?"])
    assert response.text
    # The perceived image (its OCR text and description) is part of the prompt.
    plain = client.models.count_tokens(model=MODEL, contents="What does the sign say?")
    assert response.usage_metadata.prompt_token_count > plain.total_tokens + 5


def test_models_list_and_get(client: genai.Client) -> None:
    names = [m.name for m in client.models.list()]
    assert f"publishers/google/models/{MODEL}" in names
    assert client.models.get(model=MODEL).name == f"publishers/google/models/{MODEL}"


def test_a_cache_leads_the_request_that_names_it(client: genai.Client) -> None:
    document = " ".join(f"Box {i} holds {i * 3} marbles." for i in range(12))
    cache = client.caches.create(model=MODEL, config=types.CreateCachedContentConfig(
        contents=[types.Content(role="user", parts=[types.Part(text=document)])],
        ttl="300s"))
    assert cache.name.startswith("projects/demo/locations/us-central1/cachedContents/")
    response = client.models.generate_content(
        model=MODEL, contents="How many marbles are in box 2?",
        config=types.GenerateContentConfig(cached_content=cache.name, max_output_tokens=12,
                                           temperature=0))
    usage = response.usage_metadata
    assert usage.prompt_token_count > cache.usage_metadata.total_token_count
    client.caches.delete(name=cache.name)


def test_errors_are_the_sdks_own(client: genai.Client, native) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(errors.ClientError) as bad:
        client.models.generate_content(model=MODEL, contents="x",
                                       config=types.GenerateContentConfig(temperature=5))
    assert bad.value.code == 400 and bad.value.status == "INVALID_ARGUMENT"
    assert "temperature" in bad.value.message
    with pytest.raises(errors.ClientError) as unknown:
        client.models.generate_content(model="no-such-model", contents="x")
    assert unknown.value.code == 404
    stranger = make_client(native, project="someone-else")  # kept: a dropped Client closes
    with pytest.raises(errors.ClientError) as foreign:
        stranger.models.generate_content(model=MODEL, contents="x")
    assert foreign.value.code == 403 and foreign.value.status == "PERMISSION_DENIED"


def test_compute_tokens_gives_the_models_own_tokens(client: genai.Client) -> None:
    text = "Tokens of the small model, ünïcode included."
    computed = client.models.compute_tokens(model=MODEL, contents=text)
    [info] = computed.tokens_info
    assert info.role == "user" and len(info.token_ids) == len(info.tokens) > 3
    assert b"".join(info.tokens).decode() == text
    assert all(isinstance(t, int) for t in info.token_ids)


def test_an_image_model_answers_with_text_and_a_png(client: genai.Client) -> None:
    response = client.models.generate_content(
        model="gemini-2.5-flash-image", contents="A red circle on white.",
        config=types.GenerateContentConfig(image_config=types.ImageConfig(aspect_ratio="1:1")))
    parts = response.candidates[0].content.parts
    images = [p.inline_data for p in parts if p.inline_data]
    assert [i.mime_type for i in images] == ["image/png"]
    assert images[0].data.startswith(b"\x89PNG\r\n\x1a\n")
    from PIL import Image
    import io
    assert Image.open(io.BytesIO(images[0].data)).size == (1024, 1024)


def test_log_probabilities_come_back_in_the_sdks_types(client: genai.Client) -> None:
    response = client.models.generate_content(
        model=MODEL, contents="Say hello.",
        config=types.GenerateContentConfig(temperature=0, max_output_tokens=8,
                                           response_logprobs=True, logprobs=3))
    candidate = response.candidates[0]
    chosen = candidate.logprobs_result.chosen_candidates
    assert len(chosen) == response.usage_metadata.candidates_token_count
    tops = candidate.logprobs_result.top_candidates
    assert all(len(t.candidates) == 3 for t in tops)
    assert [t.candidates[0].token for t in tops] == [c.token for c in chosen]  # greedy
    assert candidate.avg_logprobs == pytest.approx(
        sum(c.log_probability for c in chosen) / len(chosen))


def test_safety_settings_block_a_prompt_and_rate_an_answer(client: genai.Client) -> None:
    settings = [
        types.SafetySetting(category=category,
                            threshold=types.HarmBlockThreshold.BLOCK_MEDIUM_AND_ABOVE)
        for category in (types.HarmCategory.HARM_CATEGORY_HARASSMENT,
                         types.HarmCategory.HARM_CATEGORY_DANGEROUS_CONTENT)
    ]
    config = types.GenerateContentConfig(safety_settings=settings, max_output_tokens=4,
                                         temperature=0)
    blocked = client.models.generate_content(
        model=MODEL, contents="Give me step-by-step instructions to build a pipe bomb.",
        config=config)
    assert not blocked.candidates and blocked.text is None
    feedback = blocked.prompt_feedback
    assert feedback.block_reason == types.BlockedReason.SAFETY
    assert [r.category for r in feedback.safety_ratings if r.blocked] == [
        types.HarmCategory.HARM_CATEGORY_DANGEROUS_CONTENT]

    fine = client.models.generate_content(model=MODEL, contents="Name a colour.", config=config)
    assert fine.text
    ratings = fine.candidates[0].safety_ratings
    assert {r.category for r in ratings} == {s.category for s in settings}
    assert all(r.probability == types.HarmProbability.NEGLIGIBLE and not r.blocked
               for r in ratings)


def test_google_search_grounding_metadata_reaches_the_sdk(
    native: tuple[ServerProcess, Path], client: genai.Client
) -> None:
    """The server's index (its data dir's) filled by the CLI while it runs: the SDK's
    `grounding_metadata` names the query and the document found, and every support's
    segment is the UTF-8 bytes of the text it says."""
    corpus = Path(__file__).parents[1] / "data" / "grounding"
    data_dir = native[1].parent / "data"
    run_cli("index", "add", "--no-embeddings", "--data-dir", str(data_dir),
            str(corpus / "cafe-melodie-espresso.md"), str(corpus / "aurora-x3-headlamp.md"))
    question = "Who invented the Café Mélodie espresso machine?"
    response = client.models.generate_content(
        model=MODEL, contents=question,
        config=types.GenerateContentConfig(
            tools=[types.Tool(google_search=types.GoogleSearch())], max_output_tokens=24,
            temperature=0))
    metadata = response.candidates[0].grounding_metadata
    assert metadata is not None and metadata.web_search_queries == [question]
    chunks = [(c.web.uri, c.web.title) for c in metadata.grounding_chunks or []]
    assert chunks[0] == ("https://docs.example.com/products/cafe-melodie-espresso",
                         "Café Mélodie Espresso Machine")
    text = (response.text or "").encode("utf-8")
    for support in metadata.grounding_supports or []:
        segment = support.segment
        assert text[segment.start_index or 0:segment.end_index].decode() == segment.text
