"""`ModelRegistry`: every fact of a model id in one place — the backend model it names,
image model ids, signature enforcement, capabilities."""

import pytest

from vertexcompat.domain.models import ModelCapabilities
from vertexcompat.models.registry import (
    GEMINI_3_MODEL_IDS,
    GEMINI_MODEL_IDS,
    IMAGE_MODEL_IDS,
    ModelRegistry,
    default_aliases,
    normalize_model_id,
)


def test_default_aliases_cover_the_known_gemini_ids():
    aliases = default_aliases("local")
    for model_id in (
        "gemini-2.0-flash-001",
        "gemini-2.5-pro",
        "gemini-3-pro-preview",
        "gemini-3.5-flash",
        *IMAGE_MODEL_IDS,
    ):
        assert aliases[model_id] == "local"
    assert set(aliases) == set(GEMINI_MODEL_IDS)


def test_normalize_model_id_strips_prefixes_once_each():
    assert normalize_model_id("google/models/gemini-2.5-flash") == "gemini-2.5-flash"
    assert normalize_model_id("qwen") == "qwen"


@pytest.mark.parametrize(
    "requested",
    ["gemini-2.5-flash", "google/gemini-2.5-flash", "models/gemini-2.5-flash",
     "projects/p/locations/l/publishers/google/models/gemini-2.5-flash"],
)
def test_every_spelling_of_an_alias_names_its_backend_model(requested):
    facts = ModelRegistry(default_aliases("local")).lookup(requested)
    assert (facts.requested_id, facts.model_id, facts.backend_model) == (
        requested, "gemini-2.5-flash", "local",
    )
    assert facts.is_alias


def test_an_id_that_is_no_alias_names_a_backend_model_directly():
    facts = ModelRegistry({}).lookup("qwen")
    assert (facts.model_id, facts.backend_model, facts.is_alias) == ("qwen", "qwen", False)


@pytest.mark.parametrize("model_id", GEMINI_3_MODEL_IDS)
def test_gemini_3_ids_enforce_signatures_by_default(model_id):
    registry = ModelRegistry(default_aliases("local"))
    assert registry.lookup(f"google/{model_id}").enforce_signatures
    assert not registry.lookup("google/gemini-2.5-flash").enforce_signatures


def test_signature_enforcement_is_configurable():
    registry = ModelRegistry(default_aliases("local"), signature_enforcing=["gemini-2.5-flash"])
    assert registry.lookup("gemini-2.5-flash").enforce_signatures
    assert not registry.lookup("gemini-3-pro-preview").enforce_signatures


def test_image_model_ids_output_images_in_any_spelling():
    registry = ModelRegistry(
        default_aliases("local", ["my-drawer"]),
        image_models=["gemini-2.5-flash-image", "publishers/google/models/my-drawer"],
    )
    for model_id in ("google/gemini-2.5-flash-image", "models/my-drawer"):
        assert registry.lookup(model_id).outputs_images
    assert not registry.lookup("gemini-2.5-flash").outputs_images


def test_capabilities_are_per_backend_model():
    vision = ModelCapabilities(vision=True, issues_thought_signatures=True)
    registry = ModelRegistry(
        {"gemini-2.5-flash": "upstream", "gemini-2.0-flash": "local"},
        capabilities={"upstream": vision},
    )
    assert registry.lookup("gemini-2.5-flash").capabilities == vision
    assert registry.lookup("gemini-2.0-flash").capabilities == ModelCapabilities()


def test_alias_keys_are_normalized():
    registry = ModelRegistry({"google/gemini-x": "local"})
    assert registry.lookup("gemini-x").backend_model == "local"
    assert dict(registry.aliases) == {"gemini-x": "local"}
