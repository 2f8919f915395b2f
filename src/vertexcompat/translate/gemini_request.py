"""The body of Gemini's native `:generateContent` / `:streamGenerateContent` and
`:countTokens` (as the `google-genai` SDK and Vertex AI's REST reference send them) → a
domain `GenerateContentRequest`.

Every key is read in camelCase or snake_case, at every level (`generationConfig` /
`generation_config`); the same field in both spellings is refused. `null` is "not set", as
proto3 JSON reads it. Numbers may come as JSON numbers or as decimal strings (proto3 JSON
accepts both); an integer field takes an integral float (`40.0`) too.

Every refusal is an `InvalidArgument` located at the Gemini field path of the value
(`generation_config.temperature`, `contents[0].parts[1]`, in snake_case steps), never
another exception, whatever JSON the body holds. An unknown field gets Google's own words
(`Invalid JSON payload received. Unknown name "x" at 'generation_config': Cannot find
field.`); a known Gemini field this server does not implement is refused by name
(`generation_config.speech_config`), unless it holds its default (`false`, `0`, `""`, an
empty list or object, a `…_UNSPECIFIED` enum value), which asks for nothing.

`contents`, `systemInstruction`, `tools` and `toolConfig` are read by
`translate/gemini_contents.py`, `safetySettings` by `translate/safety_settings.py`. A
grounding tool (`googleSearch`, `googleSearchRetrieval`, `retrieval`) sets `grounding`,
in `countTokens` too (the request is counted as it would be generated). Read
and ignored: `labels` (a map of strings) and `model` (the URL names the model).
`cachedContent` is kept as the resource name the client gave; resolving it is the cache
service's job. `stream` and `project` are left at
their defaults: the caller sets them with `dataclasses.replace`.

Pure: no I/O.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, get_args

from vertexcompat.domain.content import (
    IMAGE_MODALITY,
    JSON_MIME_TYPE,
    TEXT_MIME_TYPE,
    TEXT_MODALITY,
    GenerateContentRequest,
    GenerationConfig,
    ImageConfig,
    Modality,
)
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.locations import FieldPath
from vertexcompat.domain.thinking import DYNAMIC_BUDGET, ThinkingConfig, ThinkingLevel
from vertexcompat.domain.tools import FunctionCallingMode, FunctionDeclaration, ToolConfig
from vertexcompat.translate.gemini_contents import (
    _IDENTIFIER,
    _camel,
    _json_schema,
    json_kind,
    _list,
    _read_fields,
    _snake,
    _wrong_type,
    parse_contents,
    parse_system_instruction,
    parse_request_tools,
    parse_tool_config,
)
from vertexcompat.translate.image_options import ASPECT_RATIO_SIZES
from vertexcompat.translate.json_schema import check_schema
from vertexcompat.translate.safety_settings import safety_settings
from vertexcompat.translate.thinking import LEVEL_BUDGETS

# The request body's fields. `model` is accepted and ignored: the URL names the model (the
# Developer API's `countTokens` wrapper requires it inside `generateContentRequest`).
_GENERATE_FIELDS = (
    "contents", "system_instruction", "tools", "tool_config", "generation_config",
    "safety_settings", "cached_content", "labels", "model",
)
_UNSUPPORTED_REQUEST = {
    "model_armor_config": "Model Armor screening",
    "service_tier": "service tiers",
}
# Vertex's countTokens body; the Developer API's wraps a whole generate request instead.
_COUNT_FIELDS = (
    "contents", "system_instruction", "tools", "generation_config", "model",
    "generate_content_request",
)
_UNSUPPORTED_COUNT = {"instances": "`instances` (send `contents`)"}

_GENERATION_FIELDS = (
    "temperature", "top_p", "top_k", "candidate_count", "max_output_tokens", "stop_sequences",
    "presence_penalty", "frequency_penalty", "seed", "response_mime_type", "response_schema",
    "response_json_schema", "thinking_config", "response_modalities", "image_config",
    "response_logprobs", "logprobs",
)
MAX_LOGPROBS = 20
_UNSUPPORTED_GENERATION = {
    "media_resolution": "media resolution",
    "speech_config": "speech output",
    "audio_timestamp": "audio timestamps",
    "routing_config": "model routing",
    "model_config": "model selection",
    "model_selection_config": "model selection",
    "enable_affective_dialog": "affective dialog",
    "enable_enhanced_civic_answers": "enhanced civic answers",
    "audio_transcription_config": "audio transcription",
}
_THINKING_FIELDS = ("thinking_budget", "include_thoughts", "thinking_level")
_IMAGE_FIELDS = ("aspect_ratio",)
_UNSUPPORTED_IMAGE = {
    "image_size": "image sizes other than the aspect ratio's default",
    "person_generation": "person generation settings",
    "prominent_people": "prominent people settings",
    "image_output_options": "image output options",
    "output_mime_type": "image output options",
    "output_compression_quality": "image output options",
}

_MIME_TYPES = (TEXT_MIME_TYPE, JSON_MIME_TYPE)
_MODALITIES: Mapping[str, Modality] = {"TEXT": TEXT_MODALITY, "IMAGE": IMAGE_MODALITY}
_UNSUPPORTED_MODALITIES = ("AUDIO", "VIDEO", "DOCUMENT")
_LEVELS: tuple[ThinkingLevel, ...] = get_args(ThinkingLevel)

MAX_STOP_SEQUENCES = 5
MAX_CANDIDATES = 8
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
# Proto3 JSON writes numbers as JSON numbers or as strings; these are the strings read.
_FLOAT_TEXT = re.compile(r"-?(?:0|[1-9][0-9]{0,30})(?:\.[0-9]{1,30})?(?:[eE][+-]?[0-9]{1,3})?")
_INT_TEXT = re.compile(r"-?[0-9]{1,19}")

_ROOT = FieldPath(())


# --- the two requests -------------------------------------------------------------------


def parse_generate_request(body: object, *, model: str) -> GenerateContentRequest:
    """A `:generateContent` / `:streamGenerateContent` body → the domain request for the
    backend model `model`."""
    fields = _fields(body, _ROOT, _GENERATE_FIELDS, _UNSUPPORTED_REQUEST)
    return _generate_request(fields, _ROOT, model=model)


def parse_count_tokens_request(body: object, *, model: str) -> GenerateContentRequest:
    """A `:countTokens` body → the request whose prompt is counted: Vertex's form
    (`contents`, `systemInstruction`, `tools`, `generationConfig` at the top level;
    `contents` may be empty) or the Developer API's (`{"generateContentRequest": {…}}`, read
    like a generateContent body)."""
    fields = _fields(body, _ROOT, _COUNT_FIELDS, _UNSUPPORTED_COUNT)
    _string(fields, "model", _ROOT)
    if "generate_content_request" in fields:
        at = _ROOT / "generate_content_request"
        beside = [n for n in fields if n not in ("generate_content_request", "model")]
        if beside:
            raise InvalidArgument(
                f"`{beside[0]}` and `{at}` cannot both be set: send the request's fields at "
                "the top level or inside `generate_content_request`.",
                location=_ROOT / beside[0],
            )
        inner = _fields(
            fields["generate_content_request"], at, _GENERATE_FIELDS, _UNSUPPORTED_REQUEST
        )
        return _generate_request(inner, at, model=model)
    tools = parse_request_tools(fields.get("tools"), field="tools")
    return GenerateContentRequest(
        model=model,
        contents=parse_contents(fields.get("contents"), field="contents"),
        system_instruction=parse_system_instruction(
            fields.get("system_instruction"), field="system_instruction"
        ),
        generation_config=_generation_config(fields.get("generation_config"), _ROOT),
        tools=tools.declarations,
        grounding=tools.grounding,
    )


def _generate_request(
    fields: Mapping[str, Any], root: FieldPath, *, model: str
) -> GenerateContentRequest:
    contents = parse_contents(fields.get("contents"), field=_name(root, "contents"))
    if not contents:
        at = root / "contents"
        if "contents" not in fields:
            raise InvalidArgument(f"Missing required field `{at}`.", location=at)
        raise InvalidArgument(
            f"`{at}` must not be empty: a request needs at least one content.", location=at
        )
    tools = parse_request_tools(fields.get("tools"), field=_name(root, "tools"))
    cached_content = _string(fields, "cached_content", root, non_empty=True)
    tool_config = parse_tool_config(fields.get("tool_config"), field=_name(root, "tool_config"))
    if tool_config is not None and cached_content is None:
        _check_tool_config(tool_config, tools.declarations, root / "tool_config")
    settings = safety_settings(fields.get("safety_settings"), root / "safety_settings")
    _labels(fields.get("labels"), root / "labels")
    _string(fields, "model", root)
    return GenerateContentRequest(
        model=model,
        contents=contents,
        system_instruction=parse_system_instruction(
            fields.get("system_instruction"), field=_name(root, "system_instruction")
        ),
        generation_config=_generation_config(fields.get("generation_config"), root),
        tools=tools.declarations,
        grounding=tools.grounding,
        tool_config=tool_config or ToolConfig(),
        cached_content=cached_content,
        safety_settings=settings,
    )


def _name(root: FieldPath, field: str) -> str:
    """A top-level field's path under `root`, as text (gemini_contents takes it so)."""
    return str(root / field)


def _check_tool_config(
    config: ToolConfig, tools: tuple[FunctionDeclaration, ...], path: FieldPath
) -> None:
    """The names `ANY` allows are declared, and `ANY` has something to call. (With a
    `cachedContent` the declarations live in the cache, and the cache service refuses a
    request that sets its own tool config.)"""
    calling = path / "function_calling_config"
    declared = {d.name for d in tools}
    for k, name in enumerate(config.allowed_function_names):
        if name not in declared:
            listed = ", ".join(repr(d.name) for d in tools) or "none"
            at = calling / "allowed_function_names" / k
            raise InvalidArgument(
                f"`{at}` names {_show(name)}, which is not a declared function "
                f"(declared: {listed}).",
                location=at,
            )
    if config.mode is FunctionCallingMode.ANY and not tools:
        at = calling / "mode"
        raise InvalidArgument(
            f"`{at}` is ANY but the request declares no functions (`tools`).", location=at
        )


def _labels(value: object, path: FieldPath) -> None:
    """A map of strings; ignored."""
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise _wrong_type(path, "an object (a map of strings)", value)
    for key, item in value.items():
        if not isinstance(item, str):
            raise InvalidArgument(
                f"`{path}` must map strings to strings; the value of {_show(key)} is "
                f"{json_kind(item)}.",
                location=path,
            )


# --- generationConfig -------------------------------------------------------------------


def _generation_config(value: object, root: FieldPath) -> GenerationConfig:
    path = root / "generation_config"
    if value is None:
        return GenerationConfig()
    fields = _fields(value, path, _GENERATION_FIELDS, _UNSUPPORTED_GENERATION)
    mime_type, schema = _response_format(fields, path)
    return GenerationConfig(
        temperature=_float(fields, "temperature", path, 0, 2),
        top_p=_float(fields, "top_p", path, 0, 1, low_open=True),
        top_k=_int(fields, "top_k", path, 1, _INT32_MAX),
        candidate_count=_int(fields, "candidate_count", path, 1, MAX_CANDIDATES) or 1,
        max_output_tokens=_int(fields, "max_output_tokens", path, 1, _INT32_MAX),
        stop_sequences=_stop_sequences(fields.get("stop_sequences"), path / "stop_sequences"),
        presence_penalty=_float(fields, "presence_penalty", path, -2, 2),
        frequency_penalty=_float(fields, "frequency_penalty", path, -2, 2),
        seed=_int(fields, "seed", path, _INT32_MIN, _INT32_MAX),
        response_mime_type=mime_type,
        response_schema=schema,
        thinking_config=_thinking_config(fields.get("thinking_config"), path / "thinking_config"),
        response_modalities=_modalities(
            fields.get("response_modalities"), path / "response_modalities"
        ),
        image_config=_image_config(fields.get("image_config"), path / "image_config"),
        **_logprobs(fields, path),
    )


def _logprobs(fields: Mapping[str, Any], path: FieldPath) -> dict[str, Any]:
    """`responseLogprobs` and `logprobs` (alternatives per position, 0-20; Gemini refuses
    it without `responseLogprobs`)."""
    wanted = bool(_bool(fields, "response_logprobs", path))
    count = _int(fields, "logprobs", path, 0, MAX_LOGPROBS)
    if count and not wanted:
        raise InvalidArgument(
            f"`{path / 'logprobs'}` needs `{path / 'response_logprobs'}` to be true.",
            location=path / "logprobs",
        )
    return {"response_logprobs": wanted, "logprobs": count or 0}


def _stop_sequences(value: object, path: FieldPath) -> tuple[str, ...]:
    if value is None:
        return ()
    items = _list(value, path)
    if len(items) > MAX_STOP_SEQUENCES:
        raise InvalidArgument(
            f"`{path}` holds {len(items)} sequences; at most {MAX_STOP_SEQUENCES} are allowed.",
            location=path,
        )
    out = []
    for k, item in enumerate(items):
        if not isinstance(item, str):
            raise _wrong_type(path / k, "a string", item)
        if not item:
            raise InvalidArgument(f"`{path / k}` must not be empty.", location=path / k)
        out.append(item)
    return tuple(out)


def _response_format(
    fields: Mapping[str, Any], path: FieldPath
) -> tuple[str | None, Mapping[str, Any] | None]:
    """`responseMimeType` and the schema (`responseSchema`, Gemini's OpenAPI-style
    `Schema`, turned into JSON Schema; or `responseJsonSchema`, JSON Schema as it is)."""
    mime_type = _string(fields, "response_mime_type", path)
    if mime_type is not None:
        at = path / "response_mime_type"
        canonical = mime_type.strip().lower()
        if canonical not in _MIME_TYPES:
            valid = ", ".join(f'"{m}"' for m in _MIME_TYPES)
            raise InvalidArgument(
                f"`{at}` is {_show(mime_type)}; this server supports {valid}.", location=at
            )
        mime_type = canonical
    given = [n for n in ("response_schema", "response_json_schema") if n in fields]
    if not given:
        return mime_type, None
    if len(given) == 2:
        at = path / "response_json_schema"
        raise InvalidArgument(
            f"`{at}` and `{path / 'response_schema'}` cannot both be set.", location=at
        )
    (name,) = given
    at, raw = path / name, fields[name]
    if not isinstance(raw, Mapping):
        raise _wrong_type(at, "an object (a schema)", raw)
    schema = _json_schema(raw, at, "", 1) if name == "response_schema" else raw
    try:
        check_schema(schema, param=str(at))
    except InvalidArgument as exc:
        raise exc.located_at(at) from None
    if mime_type != JSON_MIME_TYPE:
        raise InvalidArgument(
            f"`{at}` needs `{path / 'response_mime_type'}` to be \"{JSON_MIME_TYPE}\".",
            location=at,
        )
    return mime_type, schema


def _thinking_config(value: object, path: FieldPath) -> ThinkingConfig | None:
    """`None` when it says nothing (`{}` or all fields null): the model's default."""
    if value is None:
        return None
    fields = _fields(value, path, _THINKING_FIELDS, {})
    if not fields:
        return None
    budget = _int(fields, "thinking_budget", path, DYNAMIC_BUDGET, _INT32_MAX)
    include = _bool(fields, "include_thoughts", path) or False
    level = _thinking_level(fields.get("thinking_level"), path / "thinking_level")
    if level is None:
        return ThinkingConfig(budget=budget, include_thoughts=include)
    if budget is not None:
        raise InvalidArgument(
            f"`{path / 'thinking_budget'}` and `{path / 'thinking_level'}` cannot both be "
            "set; give a budget in tokens or a level, not both.",
            location=path,
        )
    # The same budget the OpenAI surface gives the level (`reasoning_effort`).
    return ThinkingConfig(budget=LEVEL_BUDGETS[level], include_thoughts=include, level=level)


def _thinking_level(value: object, path: FieldPath) -> ThinkingLevel | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _wrong_type(path, "a string", value)
    wanted = value.lower()
    if wanted == "thinking_level_unspecified":
        return None
    for level in _LEVELS:
        if wanted == level:
            return level
    valid = ", ".join(level.upper() for level in _LEVELS)
    raise InvalidArgument(
        f"`{path}` is {_show(value)}; expected one of {valid}.", location=path
    )


def _modalities(value: object, path: FieldPath) -> tuple[Modality, ...]:
    """In Gemini's order (text, then image), each once; `[]` is the model's default."""
    if value is None:
        return ()
    wanted: set[Modality] = set()
    for k, item in enumerate(_list(value, path)):
        at = path / k
        if not isinstance(item, str):
            raise _wrong_type(at, 'a string ("TEXT" or "IMAGE")', item)
        name = item.upper()
        if name == "MODALITY_UNSPECIFIED":
            continue
        if name in _UNSUPPORTED_MODALITIES:
            raise InvalidArgument(
                f"`{at}`: this server does not support {name} output; use TEXT or IMAGE.",
                location=at,
            )
        modality = _MODALITIES.get(name)
        if modality is None:
            raise InvalidArgument(
                f'`{at}` is {_show(item)}; expected "TEXT" or "IMAGE".', location=at
            )
        wanted.add(modality)
    return tuple(m for m in (TEXT_MODALITY, IMAGE_MODALITY) if m in wanted)


def _image_config(value: object, path: FieldPath) -> ImageConfig | None:
    """The aspect ratio, with the pixel size Gemini's image model gives it."""
    if value is None:
        return None
    fields = _fields(value, path, _IMAGE_FIELDS, _UNSUPPORTED_IMAGE)
    aspect = _string(fields, "aspect_ratio", path)
    if aspect is None:
        return None
    size = ASPECT_RATIO_SIZES.get(aspect)
    if size is None:
        at = path / "aspect_ratio"
        valid = ", ".join(ASPECT_RATIO_SIZES)
        raise InvalidArgument(
            f"`{at}` is {_show(aspect)}; supported aspect ratios are: {valid}.", location=at
        )
    return ImageConfig(width=size[0], height=size[1], aspect_ratio=aspect)


# --- scalars ----------------------------------------------------------------------------


def _float(
    fields: Mapping[str, Any], name: str, path: FieldPath, low: float, high: float,
    *, low_open: bool = False,
) -> float | None:
    value = fields.get(name)
    if value is None:
        return None
    at = path / name
    number = _number(value)
    if number is None:
        raise _wrong_type(at, "a number", value)
    above_low = number > low if low_open else number >= low
    if not (above_low and number <= high):  # also refuses NaN
        bounds = (
            f"greater than {low} and at most {high}" if low_open else f"between {low} and {high}"
        )
        raise InvalidArgument(f"`{at}` must be {bounds}, got {_show(value)}.", location=at)
    return float(number)


def _int(
    fields: Mapping[str, Any], name: str, path: FieldPath, low: int, high: int
) -> int | None:
    value = fields.get(name)
    if value is None:
        return None
    at = path / name
    number = _number(value)
    if isinstance(number, float):
        number = int(number) if number.is_integer() else None
    if number is None:
        raise _wrong_type(at, "an integer", value)
    if not low <= number <= high:
        raise InvalidArgument(
            f"`{at}` must be an integer from {low} to {high}, got {_show(value)}.", location=at
        )
    return number


def _number(value: object) -> int | float | None:
    """A JSON number, or a string of one (proto3 JSON); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        if _INT_TEXT.fullmatch(value):
            return int(value)
        if _FLOAT_TEXT.fullmatch(value):
            return float(value)
    return None


def _bool(fields: Mapping[str, Any], name: str, path: FieldPath) -> bool | None:
    value = fields.get(name)
    if value is not None and not isinstance(value, bool):
        raise _wrong_type(path / name, "a boolean", value)
    return value


def _string(
    fields: Mapping[str, Any], name: str, path: FieldPath, *, non_empty: bool = False
) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _wrong_type(path / name, "a string", value)
    if non_empty and not value:
        raise InvalidArgument(f"`{path / name}` must not be empty.", location=path / name)
    return value


def _show(value: object) -> str:
    """A scalar quoted back to the client as JSON, cut short (a client may send megabytes)."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):  # an int too long to print, a non-JSON value
        text = json_kind(value)
    return text if len(text) <= 100 else text[:100] + "…"


# --- objects ----------------------------------------------------------------------------


def _fields(
    value: object, path: FieldPath, allowed: Sequence[str], unsupported: Mapping[str, str]
) -> dict[str, Any]:
    """An object's fields by their snake_case names, each accepted in snake_case or
    camelCase; `null` fields are left out. An unknown field is refused in Google's words;
    a field in `unsupported` is refused by name unless it holds its default."""
    if not isinstance(value, Mapping):
        if not path.steps:
            raise InvalidArgument(
                f"The request body must be a JSON object, got {json_kind(value)}."
            )
        raise _wrong_type(path, "an object", value)
    known = {**{_camel(n): n for n in unsupported}, **{n: n for n in unsupported}}

    def unsupported_or_unknown(key: object, item: object) -> None:
        feature = known.get(key) if isinstance(key, str) else None
        if feature is None:
            raise _unknown_name(key, path)
        if not _is_default(item):
            at = path / feature
            raise InvalidArgument(
                f"`{at}` is not supported yet by this server ({unsupported[feature]}).",
                location=at,
            )

    return _read_fields(value, path, allowed, unsupported_or_unknown)


def _unknown_name(key: object, path: FieldPath) -> InvalidArgument:
    """Google's words for a field its JSON parser does not know."""
    shown = key if isinstance(key, str) else _show(key)
    shown = shown if len(shown) <= 100 else shown[:100] + "…"
    where = f" at '{path}'" if path.steps else ""
    name = _snake(key) if isinstance(key, str) else None
    at = path / name if name is not None and _IDENTIFIER.fullmatch(name) else path
    return InvalidArgument(
        f'Invalid JSON payload received. Unknown name "{shown}"{where}: Cannot find field.',
        location=at if at.steps else None,
    )


def _is_default(value: object) -> bool:
    """Proto3's "not set": what an unsupported field may hold without asking for it."""
    if value is None or value is False:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value == 0 and not math.isnan(value)
    if isinstance(value, str):
        return value == "" or value.upper().endswith("_UNSPECIFIED")
    if isinstance(value, list | tuple | Mapping):
        return not value
    return False
