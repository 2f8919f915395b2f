"""Constrained decoding on the real tiny model (SmolLM2-135M): every candidate's answer
parses and validates, whatever the schema; json_object gives an object; a max_tokens cut
is reported as MAX_TOKENS, never as an error."""

import asyncio
import json

import jsonschema
import pytest

from vertexcompat.backends.local import LocalBackend
from vertexcompat.backends.local_prompt import to_template_messages
from vertexcompat.domain.content import (
    JSON_MIME_TYPE,
    Content,
    GenerateContentRequest,
    GenerationConfig,
    TextPart,
)
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.events import Finished, FinishReason, TextDelta
from tests.unit.engine.tiny import tiny_backend
from vertexcompat.engine.llama_engine import EngineConfig, LlamaEngine

MODEL = "smollm2-135m-instruct"

SCHEMAS = [
    {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 20},
            "date": {"type": "string", "maxLength": 20},
            "participants": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 3},
        },
        "required": ["name", "date", "participants"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {
            "kind": {"enum": ["cat", "dog", "bird"]},
            "version": {"const": 3},
            "legs": {"type": "integer"},
            "weight": {"type": "number"},
            "alive": {"type": "boolean"},
            "owner": {"anyOf": [{"type": "string", "maxLength": 10}, {"type": "null"}]},
        },
        "required": ["kind", "version", "legs", "weight", "alive", "owner"],
        "additionalProperties": False,
    },
    {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2},
                },
                "required": ["id", "children"],
                "additionalProperties": False,
            }
        },
        "type": "object",
        "properties": {"root": {"$ref": "#/$defs/node"}, "code": {"type": "string", "pattern": "^[A-Z]{2}[0-9]{2}$"}},
        "required": ["root", "code"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {
            "points": {
                "type": "array",
                "minItems": 2,
                "maxItems": 3,
                "items": {
                    "type": "object",
                    "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
                    "required": ["x", "y"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["points"],
        "additionalProperties": False,
    },
]


@pytest.fixture(scope="module")
def backend():
    with tiny_backend(parallel=2) as backend:
        yield backend


def request(schema, *, text="Describe something.", mime=JSON_MIME_TYPE, **cfg) -> GenerateContentRequest:
    return GenerateContentRequest(
        model=MODEL,
        contents=(Content("user", (TextPart(text),)),),
        generation_config=GenerationConfig(response_mime_type=mime, response_schema=schema, **cfg),
        project="p",  # a prompt a previous request left in a slot may be reused
    )


def collect(backend, req):
    async def go():
        texts, finishes = {}, {}
        async for ev in backend.stream(req):
            match ev:
                case TextDelta(candidate=c, text=t):
                    texts[c] = texts.get(c, "") + t
                case Finished(candidate=c, reason=r):
                    finishes[c] = r
        return texts, finishes

    return asyncio.run(go())


# Both temperatures of a schema one after the other: the second reuses the prompt (the
# schema is in it) that the first left in the slots instead of decoding it again.
@pytest.mark.parametrize("temperature", [1.0, 0.0])
@pytest.mark.parametrize("schema", SCHEMAS, ids=["event", "scalars", "recursive-ref", "array-of-objects"])
def test_every_candidate_parses_and_validates(backend, schema, temperature):
    texts, finishes = collect(
        backend, request(schema, candidate_count=2, max_output_tokens=300, temperature=temperature, seed=7)
    )
    assert finishes == {0: FinishReason.STOP, 1: FinishReason.STOP}
    for c in (0, 1):
        jsonschema.validate(json.loads(texts[c]), schema)


def test_json_object_gives_objects(backend):
    texts, finishes = collect(
        backend, request(None, candidate_count=2, max_output_tokens=200, temperature=1.0, seed=3)
    )
    for c in (0, 1):
        if finishes[c] is FinishReason.STOP:
            assert isinstance(json.loads(texts[c]), dict)
        else:  # a long object may be cut; what was written is still a JSON object prefix
            assert texts[c].lstrip().startswith("{")


def test_max_tokens_cut_is_reported_as_max_tokens(backend):
    texts, finishes = collect(backend, request(SCHEMAS[0], max_output_tokens=4, temperature=0))
    assert finishes == {0: FinishReason.MAX_TOKENS}
    assert texts[0].startswith("{")
    with pytest.raises(ValueError):
        json.loads(texts[0])


def test_without_a_constraint_the_model_does_not_write_json(backend):
    # Guards the tests above: they pass because of the grammar, not because the model
    # happens to write JSON when asked.
    texts, _ = collect(
        backend,
        request(None, mime=None, text="Write one sentence about cats.", max_output_tokens=30, temperature=0),
    )
    with pytest.raises(ValueError):
        json.loads(texts[0])


def test_grammar_compiled_once_per_schema(backend):
    cache = backend.engine.grammars
    schema = {"type": "object", "properties": {"only": {"type": "boolean"}}, "required": ["only"]}
    before = cache.misses
    collect(backend, request(schema, max_output_tokens=20, temperature=0))
    collect(backend, request(schema, max_output_tokens=20, temperature=0))
    assert cache.misses == before + 1


def test_unconvertible_schema_is_invalid_argument(backend):
    with pytest.raises(InvalidArgument) as caught:
        collect(backend, request({"$ref": "#/$defs/nowhere"}, max_output_tokens=5))
    assert str(caught.value.location) == "generation_config.response_schema"


def test_json_request_asks_for_json_in_the_system_instruction():
    req = GenerateContentRequest(
        model=MODEL,
        contents=(Content("user", (TextPart("hi"),)),),
        system_instruction=Content("user", (TextPart("Be brief."),)),
        generation_config=GenerationConfig(response_mime_type=JSON_MIME_TYPE, response_schema=SCHEMAS[3]),
    )
    system = to_template_messages(req)[0]
    assert system["role"] == "system"
    assert system["content"].startswith("Be brief.\n\n")
    assert json.dumps(SCHEMAS[3], separators=(",", ":")) in system["content"]
    plain = GenerateContentRequest(model=MODEL, contents=req.contents)
    assert to_template_messages(plain)[0]["role"] == "user"
