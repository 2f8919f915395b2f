"""`[[endpoints]]` tables: what each kind needs, its defaults, and what it serves."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vertexcompat.config import EndpointSettings
from vertexcompat.container import endpoint_capabilities, model_aliases, served_models
from vertexcompat.config import Settings


def gemini(**fields) -> EndpointSettings:
    return EndpointSettings(id="g", kind="gemini", **fields)


def test_an_openai_endpoint_needs_replicas_and_a_model_and_no_gemini_fields() -> None:
    ok = EndpointSettings(id="4321", replicas=["http://a:8000/v1/"], model="m")
    assert ok.replicas == ["http://a:8000/v1"] and ok.said_capabilities == ["tools", "json_schema"]
    assert served_models(ok) == ["m"]
    for fields, said in [
        ({"model": "m"}, "needs `replicas`"),
        ({"replicas": ["http://a/v1"]}, "needs `model`"),
        ({"replicas": ["http://a/v1"], "model": "m", "base_url": "http://x"}, "`base_url` is for gemini"),
        ({"replicas": ["ftp://a/v1"], "model": "m"}, r"not an http\(s\) URL"),
    ]:
        with pytest.raises(ValidationError, match=said):
            EndpointSettings(id="4321", **fields)


def test_a_gemini_endpoint_signs_in_one_way_and_names_its_models() -> None:
    with pytest.raises(ValidationError, match="exactly one of"):
        gemini(aliases=["gemini-2.5-flash"])
    with pytest.raises(ValidationError, match="exactly one of"):
        gemini(aliases=["x"], api_key_env="K", credentials_file="sa.json")
    with pytest.raises(ValidationError, match="`model` or `aliases`"):
        gemini(api_key_env="K")
    with pytest.raises(ValidationError, match="not `replicas`"):
        gemini(api_key_env="K", model="m", replicas=["http://a/v1"])
    with pytest.raises(ValidationError, match="is for Vertex"):
        gemini(credentials_file="sa.json", model="m", vertex=False)


def test_gemini_defaults_follow_the_api_it_speaks() -> None:
    api = gemini(api_key_env="K", aliases=["google/gemini-2.5-flash", "models/gemini-2.5-pro"])
    assert (api.uses_vertex, api.gemini_base_url, api.gemini_api_version) == (
        False, "https://generativelanguage.googleapis.com", "v1beta")
    assert served_models(api) == ["gemini-2.5-flash", "gemini-2.5-pro"]
    caps = endpoint_capabilities(api)
    assert caps.vision and caps.audio and caps.tools and caps.json_schema and caps.thinking
    assert caps.issues_thought_signatures and caps.logprobs
    vertex = gemini(credentials_file="sa.json", model="gemini-2.5-pro", location="europe-west4")
    assert (vertex.uses_vertex, vertex.gemini_base_url, vertex.gemini_api_version) == (
        True, "https://europe-west4-aiplatform.googleapis.com", "v1")
    assert gemini(credentials_file="sa.json", model="m", location="global").gemini_base_url == (
        "https://aiplatform.googleapis.com")
    express = gemini(api_key_env="K", model="m", vertex=True, base_url="http://h:1/")
    assert express.uses_vertex and express.gemini_base_url == "http://h:1"
    said = gemini(api_key_env="K", model="m", capabilities=["tools"])
    assert not endpoint_capabilities(said).vision and endpoint_capabilities(said).tools
    assert not endpoint_capabilities(EndpointSettings(
        id="o", replicas=["http://a/v1"], model="m")).issues_thought_signatures


def test_aliases_route_to_the_model_or_to_themselves() -> None:
    settings = Settings(endpoints=[
        EndpointSettings(id="o", replicas=["http://a/v1"], model="qwen", aliases=["qwen-7b"]),
        gemini(api_key_env="K", aliases=["google/gemini-2.5-flash"]),
    ])
    aliases = model_aliases(settings)
    assert aliases["qwen-7b"] == "qwen"
    # The endpoint's alias wins over the default table that sends Gemini ids to the local model.
    assert aliases["google/gemini-2.5-flash"] == "gemini-2.5-flash"


def test_an_endpoints_model_named_like_a_gemini_id_is_the_endpoints() -> None:
    settings = Settings(endpoints=[gemini(api_key_env="K", model="gemini-2.0-flash")])
    assert model_aliases(settings)["gemini-2.0-flash"] == "gemini-2.0-flash"
    assert model_aliases(settings)["gemini-2.5-flash"] != "gemini-2.5-flash"  # still local


def test_an_endpoint_model_that_is_no_gemini_id_is_listed_as_itself() -> None:
    from vertexcompat.container import model_registry
    from vertexcompat.services.generation import GenerationService
    from tests.fakes import FakeBackend

    settings = Settings(endpoints=[EndpointSettings(
        id="o", replicas=["http://a/v1"], model="Qwen/Qwen2.5-7B-Instruct")])
    assert "Qwen/Qwen2.5-7B-Instruct" not in model_aliases(settings)
    service = GenerationService({"o": FakeBackend(["Qwen/Qwen2.5-7B-Instruct"])},
                                model_registry(settings))
    info = service.describe_model("Qwen/Qwen2.5-7B-Instruct")
    assert (info.id, info.owned_by) == ("Qwen/Qwen2.5-7B-Instruct", "vertexcompat")
