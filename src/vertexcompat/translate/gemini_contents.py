"""The Gemini REST wire form of `contents`, `systemInstruction`, `tools` and `toolConfig`
(as a Vertex AI `generateContent` or `cachedContents` body holds them) ⇄ the domain's
`Content`, `FunctionDeclaration` and `ToolConfig`.

This module owns reading those four fields from parsed JSON, in either key spelling
(`inlineData` / `inline_data`), with every malformed value refused as an `InvalidArgument`
located at its Gemini field path (`contents[2].parts[0].inline_data.data`), and writing
them back in camelCase for storing or echoing. A media part's `source` and a signature's
`signature_source` are the wire path of the value they label. `null` is read as "not set",
as proto3 JSON does. Pure: no I/O; nothing is fetched or decoded beyond checking base64.

Tools are function declarations, and in a request (`parse_request_tools`, not in a cached
content: `parse_tools`) the grounding tools `googleSearch`, `googleSearchRetrieval` and
`retrieval`, which say "ground the answer" and nothing more (their options are objects,
read and ignored). Every other kind of tool (`codeExecution`, `urlContext`, …) is refused
by name.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, assert_never

from vertexcompat.domain.content import (
    Content,
    FileDataPart,
    FunctionCallPart,
    FunctionResponsePart,
    ImageDescriptionPart,
    InlineDataPart,
    Part,
    Role,
    TextPart,
    TranscriptPart,
)
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.locations import FieldPath
from vertexcompat.domain.tools import FunctionCallingMode, FunctionDeclaration, ToolConfig
from vertexcompat.translate.json_schema import MAX_SCHEMA_DEPTH, check_schema

Wire = dict[str, Any]

# A part's data fields: exactly one per part.
_DATA_FIELDS = ("text", "inline_data", "file_data", "function_call", "function_response")
_PART_FIELDS = (*_DATA_FIELDS, "thought", "thought_signature")
_UNSUPPORTED_PART_FIELDS = {
    "executable_code": "code execution parts",
    "code_execution_result": "code execution parts",
    "video_metadata": "video metadata",
    "media_resolution": "per-part media resolution",
    "part_metadata": "part metadata",
}
# Roles as Gemini writes them; older samples send function results as role "function".
_ROLES: dict[str, Role] = {"user": "user", "model": "model", "function": "user", "tool": "user"}

# Grounding (issue 18): a request with one of these tools is answered from this server's
# search index (services/policies/grounding.py). Their options (a dynamic retrieval
# threshold, a Vertex AI Search datastore, a RAG corpus) must be objects and are ignored:
# the server searches its own index.
GROUNDING_TOOLS = {
    "google_search": "Google Search",
    "google_search_retrieval": "Google Search retrieval",
    "retrieval": "retrieval (Vertex AI Search / RAG)",
}
_OTHER_TOOLS = {
    "code_execution": "code execution",
    "url_context": "URL context",
    "enterprise_web_search": "enterprise web search",
    "google_maps": "Google Maps",
    "computer_use": "computer use",
    "file_search": "file search",
}
_ONLY_FUNCTIONS = "only function declarations (`function_declarations`) are supported as tools"
_FUNCTIONS_OR_GROUNDING = (
    "only function declarations (`function_declarations`) and grounding (`google_search`, "
    "`google_search_retrieval`, `retrieval`) are supported as tools"
)
# A cached content holds no grounding: grounding is a switch of the request.
_CACHED_TOOLS = {
    **{name: f"{feature} in a cached content" for name, feature in GROUNDING_TOOLS.items()},
    **_OTHER_TOOLS,
}

# Gemini's rule for function names: a letter or underscore, then letters, digits, `_.:-`.
_FUNCTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")
# `type/subtype` per RFC 6838 §4.2 (restricted-name characters).
_MIME = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_MODES = {
    "MODE_UNSPECIFIED": FunctionCallingMode.AUTO,
    "AUTO": FunctionCallingMode.AUTO,
    "ANY": FunctionCallingMode.ANY,
    "NONE": FunctionCallingMode.NONE,
}

# Gemini's OpenAPI-style `Schema` (`parameters`) → JSON Schema: its snake_case spellings of
# JSON Schema keywords, and its upper-case type names.
_SCHEMA_KEYWORDS = {
    "any_of": "anyOf",
    "max_items": "maxItems",
    "min_items": "minItems",
    "max_length": "maxLength",
    "min_length": "minLength",
    "max_properties": "maxProperties",
    "min_properties": "minProperties",
    "property_ordering": "propertyOrdering",
    "additional_properties": "additionalProperties",
}
_SCHEMA_TYPES = ("STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL")


# --- reading: contents ----------------------------------------------------------------


def parse_contents(value: object, *, field: str = "contents") -> tuple[Content, ...]:
    """`[{"role", "parts"}, ...]` → contents; `None` (not set) and `[]` → `()`."""
    if value is None:
        return ()
    path = FieldPath.parse(field)
    return tuple(_content(item, path / i) for i, item in enumerate(_list(value, path)))


def parse_system_instruction(
    value: object, *, field: str = "system_instruction"
) -> Content | None:
    """`{"role"?, "parts"}` of text parts → a user-role content (Gemini ignores the role)."""
    if value is None:
        return None
    path = FieldPath.parse(field)
    fields = _fields(value, path, ("role", "parts"), what="a content")
    role = fields.get("role")
    if role is not None and not isinstance(role, str):
        raise _wrong_type(path / "role", "a string", role)
    return Content(role="user", parts=_parts(fields, path, system=True))


def _content(value: object, path: FieldPath) -> Content:
    fields = _fields(value, path, ("role", "parts"), what="a content")
    return Content(role=_role(fields.get("role"), path / "role"), parts=_parts(fields, path))


def _role(value: object, path: FieldPath) -> Role:
    if value is None:
        return "user"  # Gemini: an unset role is the user's
    if not isinstance(value, str):
        raise _wrong_type(path, 'a string ("user" or "model")', value)
    role = _ROLES.get(value)
    if role is None:
        raise InvalidArgument(
            f'`{path}` must be "user" or "model", got {_short(value)!r}.', location=path
        )
    return role


def _parts(fields: Mapping[str, Any], path: FieldPath, *, system: bool = False) -> tuple[Part, ...]:
    at = path / "parts"
    if "parts" not in fields:
        raise _missing(at)
    items = _list(fields["parts"], at)
    if not items:
        raise InvalidArgument(
            f"`{at}` must not be empty: a content needs at least one part.", location=at
        )
    return tuple(_part(item, at / j, system=system) for j, item in enumerate(items))


def _part(value: object, path: FieldPath, *, system: bool) -> Part:
    fields = _fields(value, path, _PART_FIELDS, what="a part", unsupported=_UNSUPPORTED_PART_FIELDS)
    kind = _data_field(fields, path)
    thought = _optional(fields, "thought", path, bool, "a boolean") or False
    signature = _optional(fields, "thought_signature", path, str, "a string")
    if system:
        _check_system_part(kind, thought, signature, path)
    if thought and kind != "text":
        raise InvalidArgument(
            f"`{path / 'thought'}` can only be true on a text part.", location=path / "thought"
        )
    if signature is not None and kind not in ("text", "function_call"):
        raise InvalidArgument(
            f"`{path / 'thought_signature'}` can only be set on a text or function_call part.",
            location=path / "thought_signature",
        )
    data, at, signature_source = fields[kind], path / kind, str(path / "thought_signature")
    match kind:
        case "text":
            text = _string(data, at)
            return TextPart(
                text, thought=thought, thought_signature=signature,
                signature_source=signature_source,
            )
        case "inline_data":
            return _inline_data(data, at)
        case "file_data":
            return _file_data(data, at)
        case "function_call":
            return _function_call(data, at, signature, signature_source)
        case "function_response":
            return _function_response(data, at)
        case _:
            raise AssertionError(kind)


def _data_field(fields: Mapping[str, Any], path: FieldPath) -> str:
    present = [name for name in _DATA_FIELDS if name in fields]
    if len(present) == 1:
        return present[0]
    expected = "exactly one of text, inline_data, file_data, function_call or function_response"
    found = "none" if not present else " and ".join(present)
    raise InvalidArgument(f"`{path}` must set {expected}; it sets {found}.", location=path)


def _check_system_part(kind: str, thought: bool, signature: str | None, path: FieldPath) -> None:
    if kind != "text":
        raise InvalidArgument(
            f"`{path / kind}`: a system instruction holds text parts only.", location=path / kind
        )
    if thought:
        raise InvalidArgument(
            f"`{path / 'thought'}`: a system instruction cannot hold thoughts.",
            location=path / "thought",
        )
    if signature is not None:
        raise InvalidArgument(
            f"`{path / 'thought_signature'}`: a system instruction carries no thought signature.",
            location=path / "thought_signature",
        )


def _inline_data(value: object, path: FieldPath) -> InlineDataPart:
    fields = _fields(value, path, ("mime_type", "data"), what="a blob")
    mime_type = _mime_type(_required(fields, "mime_type", path), path / "mime_type")
    data = _base64(_required(fields, "data", path), path / "data")
    return InlineDataPart(mime_type=mime_type, data=data, source=str(path / "data"))


def _file_data(value: object, path: FieldPath) -> FileDataPart:
    fields = _fields(value, path, ("mime_type", "file_uri"), what="a file reference")
    uri = _non_empty(_required(fields, "file_uri", path), path / "file_uri")
    mime = fields.get("mime_type")
    mime_type = None if mime is None else _mime_type(mime, path / "mime_type")
    return FileDataPart(file_uri=uri, source=str(path / "file_uri"), mime_type=mime_type)


def _function_call(
    value: object, path: FieldPath, signature: str | None, signature_source: str
) -> FunctionCallPart:
    fields = _fields(
        value, path, ("name", "args", "id"), what="a function call",
        unsupported={"partial_args": "streamed call arguments", "will_continue": "streamed calls"},
    )
    return FunctionCallPart(
        name=_non_empty(_required(fields, "name", path), path / "name"),
        args=_optional(fields, "args", path, Mapping, "an object") or {},
        id=_optional(fields, "id", path, str, "a string"),
        thought_signature=signature,
        signature_source=signature_source,
    )


def _function_response(value: object, path: FieldPath) -> FunctionResponsePart:
    fields = _fields(
        value, path, ("name", "response", "id"), what="a function response",
        unsupported={
            "parts": "media in function responses",
            "will_continue": "streamed function responses",
            "scheduling": "function response scheduling",
        },
    )
    response = _required(fields, "response", path)
    if not isinstance(response, Mapping):
        raise _wrong_type(path / "response", "an object", response)
    return FunctionResponsePart(
        name=_non_empty(_required(fields, "name", path), path / "name"),
        response=response,
        id=_optional(fields, "id", path, str, "a string"),
    )


def _mime_type(value: object, path: FieldPath) -> str:
    text = _string(value, path)
    if not _MIME.fullmatch(text):
        raise InvalidArgument(
            f"`{path}` must be a MIME type such as \"image/png\", got {_short(text)!r}.",
            location=path,
        )
    return text


def _base64(value: object, path: FieldPath) -> str:
    """Base64 in either alphabet, as Google's JSON parser takes bytes (the google-genai SDK
    sends the URL-safe one, through pydantic), padded or not; returned in the standard
    alphabet with padding, as the media layer decodes it later."""
    text = _non_empty(value, path)
    why = None
    if not text.isascii():
        why = "it contains non-ASCII characters"
    else:
        text = text.translate(_URLSAFE_TO_STANDARD)
        text += "=" * (-len(text) % 4)
        try:
            binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
        except binascii.Error as exc:
            why = str(exc).rstrip(".").lower()
    if why is not None:
        raise InvalidArgument(f"`{path}` is not valid base64: {why}.", location=path)
    return text


_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")


# --- reading: tools and tool config -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestTools:
    """A request's `tools`: its function declarations, in order, as one flat tuple, and
    whether a grounding tool (`GROUNDING_TOOLS`) asks for the answer to be grounded."""

    declarations: tuple[FunctionDeclaration, ...] = ()
    grounding: bool = False


def parse_request_tools(value: object, *, field: str = "tools") -> RequestTools:
    """A generateContent / countTokens request's `[{"functionDeclarations": [...]},
    {"googleSearch": {}}, ...]`; `None` → no tools. A tool may hold declarations and
    grounding tools side by side. Any other kind of tool is refused, naming it."""
    return _tools(value, FieldPath.parse(field), grounding=True)


def parse_tools(value: object, *, field: str = "tools") -> tuple[FunctionDeclaration, ...]:
    """A cached content's `[{"functionDeclarations": [...]}, ...]` → every declaration, in
    order, as one flat tuple; `None` → `()`. Any other kind of tool, grounding included
    (a cache holds no request switch), is refused, naming it."""
    return _tools(value, FieldPath.parse(field), grounding=False).declarations


def _tools(value: object, path: FieldPath, *, grounding: bool) -> RequestTools:
    if value is None:
        return RequestTools()
    allowed = ("function_declarations", *GROUNDING_TOOLS) if grounding \
        else ("function_declarations",)
    unsupported = _OTHER_TOOLS if grounding else _CACHED_TOOLS
    alternative = _FUNCTIONS_OR_GROUNDING if grounding else _ONLY_FUNCTIONS
    declarations: list[FunctionDeclaration] = []
    grounded = False
    for t, tool in enumerate(_list(value, path)):
        at = path / t
        fields = _fields(
            tool, at, allowed, what="a tool", unsupported=unsupported, alternative=alternative,
        )
        if not fields:
            wanted = "`function_declarations` or a grounding tool (`google_search`)" \
                if grounding else "`function_declarations`"
            raise InvalidArgument(f"`{at}` declares no tool; set {wanted}.", location=at)
        for name in GROUNDING_TOOLS:
            if name in fields:
                if not isinstance(fields[name], Mapping):
                    raise _wrong_type(at / name, "an object (its options)", fields[name])
                grounded = True
        if "function_declarations" not in fields:
            continue
        listed = at / "function_declarations"
        for i, item in enumerate(_list(fields["function_declarations"], listed)):
            declaration = _declaration(item, listed / i)
            if any(d.name == declaration.name for d in declarations):
                name_at = listed / i / "name"
                raise InvalidArgument(
                    f"Duplicate function name {declaration.name!r} at `{name_at}`: function "
                    "names must be unique across all tools.",
                    location=name_at,
                )
            declarations.append(declaration)
    return RequestTools(tuple(declarations), grounded)


def _declaration(value: object, path: FieldPath) -> FunctionDeclaration:
    fields = _fields(
        value, path,
        ("name", "description", "parameters", "parameters_json_schema", "response",
         "response_json_schema"),
        what="a function declaration",
        unsupported={"behavior": "non-blocking functions"},
    )
    # `response` / `response_json_schema` describe what the function returns (the
    # google-genai SDK sends it for a Python function's return annotation): a hint the
    # model may use, which no backend here needs. Read as an object, then dropped.
    for hint in ("response", "response_json_schema"):
        if hint in fields and not isinstance(fields[hint], Mapping):
            raise _wrong_type(path / hint, "an object (a schema)", fields[hint])
    name = _string(_required(fields, "name", path), path / "name")
    if not _FUNCTION_NAME.fullmatch(name):
        raise InvalidArgument(
            f"`{path / 'name'}` is {_short(name)!r}: a function name starts with a letter or "
            "an underscore, holds only letters, digits, underscores, dots, colons and dashes, "
            "and is at most 64 characters long.",
            location=path / "name",
        )
    return FunctionDeclaration(
        name=name,
        description=_optional(fields, "description", path, str, "a string"),
        parameters=_parameters(fields, path),
    )


def _parameters(fields: Mapping[str, Any], path: FieldPath) -> Mapping[str, Any] | None:
    """`parameters` (Gemini's OpenAPI-style schema, turned into JSON Schema) or
    `parameters_json_schema` (JSON Schema as it is): an object schema, checked."""
    if "parameters" in fields and "parameters_json_schema" in fields:
        at = path / "parameters_json_schema"
        raise InvalidArgument(
            f"`{at}` and `{path / 'parameters'}` cannot both be set.", location=at
        )
    if "parameters" in fields:
        at = path / "parameters"
        raw = fields["parameters"]
        if not isinstance(raw, Mapping):
            raise _wrong_type(at, "an object (a schema)", raw)
        return _object_schema(_json_schema(raw, at, "", 1), at)
    if "parameters_json_schema" in fields:
        at = path / "parameters_json_schema"
        raw = fields["parameters_json_schema"]
        if not isinstance(raw, Mapping):
            raise _wrong_type(at, "an object (a JSON Schema)", raw)
        return _object_schema(raw, at)
    return None


def _object_schema(schema: Mapping[str, Any], path: FieldPath) -> Mapping[str, Any]:
    """A function's arguments are a JSON object, so its schema is an object schema."""
    if schema.get("type", "object") != "object":
        raise InvalidArgument(
            f"`{path}` must be a schema for an object (`\"type\": \"object\"`), got type "
            f"{_short(schema.get('type'))!r}.",
            location=path,
        )
    try:
        check_schema(schema, param=str(path))
    except InvalidArgument as exc:
        raise exc.located_at(path) from None
    return schema


def _json_schema(node: Mapping[str, Any], path: FieldPath, inner: str, depth: int) -> Wire:
    """One node of Gemini's `Schema` as JSON Schema: snake_case keywords in their JSON
    Schema spelling, `"OBJECT"` → `"object"`, `nullable` → a `"null"` type. Anything else
    is kept for `check_schema` to judge."""
    where = inner or "(root)"
    if depth > MAX_SCHEMA_DEPTH:
        raise InvalidArgument(
            f"Invalid schema in `{path}`: nested more than {MAX_SCHEMA_DEPTH} levels deep.",
            location=path,
        )
    out: Wire = {}
    for key, item in node.items():
        name = _SCHEMA_KEYWORDS.get(key, key)
        if name in ("ref", "defs"):
            raise InvalidArgument(
                f"Invalid schema in `{path}` at {where}: `{name}` is not supported in "
                "`parameters`; send the schema as JSON Schema with `$ref`/`$defs` in "
                "`parameters_json_schema`.",
                location=path,
            )
        if name in out:
            raise InvalidArgument(
                f"Invalid schema in `{path}` at {where}: `{name}` is given twice.", location=path
            )
        out[name] = item
    _recurse_schema(out, path, inner, depth)
    _json_schema_type(out, path, where)
    return out


def _recurse_schema(out: Wire, path: FieldPath, inner: str, depth: int) -> None:
    properties = out.get("properties")
    if isinstance(properties, Mapping):
        out["properties"] = {
            key: _json_schema(node, path, f"{inner}/properties/{key}".lstrip("/"), depth + 1)
            if isinstance(node, Mapping) else node
            for key, node in properties.items()
        }
    items = out.get("items")
    if isinstance(items, Mapping):
        out["items"] = _json_schema(items, path, f"{inner}/items".lstrip("/"), depth + 1)
    any_of = out.get("anyOf")
    if isinstance(any_of, list):
        out["anyOf"] = [
            _json_schema(node, path, f"{inner}/anyOf/{k}".lstrip("/"), depth + 1)
            if isinstance(node, Mapping) else node
            for k, node in enumerate(any_of)
        ]


def _json_schema_type(out: Wire, path: FieldPath, where: str) -> None:
    kind = out.get("type")
    if kind == "TYPE_UNSPECIFIED":
        del out["type"]
    elif kind in _SCHEMA_TYPES:
        out["type"] = kind.lower()
    nullable = out.pop("nullable", None)
    if nullable is not None and not isinstance(nullable, bool):
        raise InvalidArgument(
            f"Invalid schema in `{path}` at {where}: `nullable` must be a boolean, got "
            f"{json_kind(nullable)}.",
            location=path,
        )
    if nullable and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
        enum = out.get("enum")
        if isinstance(enum, list) and None not in enum:
            out["enum"] = [*enum, None]


def parse_tool_config(value: object, *, field: str = "tool_config") -> ToolConfig | None:
    """`{"functionCallingConfig": {"mode", "allowedFunctionNames"}}` → a `ToolConfig`;
    `None` → `None`. Whether the allowed names are declared is the caller's check (it
    holds the tools)."""
    if value is None:
        return None
    path = FieldPath.parse(field)
    fields = _fields(
        value, path, ("function_calling_config",), what="a tool config",
        unsupported={"retrieval_config": "retrieval configuration"},
    )
    if "function_calling_config" not in fields:
        return ToolConfig()
    at = path / "function_calling_config"
    config = _fields(
        fields["function_calling_config"], at, ("mode", "allowed_function_names"),
        what="a function calling config",
    )
    mode = _mode(config.get("mode"), at / "mode")
    names = _names(config.get("allowed_function_names"), at / "allowed_function_names")
    if names and mode is not FunctionCallingMode.ANY:
        raise InvalidArgument(
            f"`{at / 'allowed_function_names'}` can only be set when `{at / 'mode'}` is ANY.",
            location=at / "allowed_function_names",
        )
    return ToolConfig(mode=mode, allowed_function_names=names)


def _mode(value: object, path: FieldPath) -> FunctionCallingMode:
    if value is None:
        return FunctionCallingMode.AUTO
    if not isinstance(value, str):
        raise _wrong_type(path, 'a string ("AUTO", "ANY" or "NONE")', value)
    mode = _MODES.get(value.upper())
    if mode is not None:
        return mode
    if value.upper() == "VALIDATED":
        raise InvalidArgument(
            f"`{path}`: mode VALIDATED is not supported by this server; use AUTO, ANY or NONE.",
            location=path,
        )
    raise InvalidArgument(
        f'`{path}` must be "AUTO", "ANY" or "NONE", got {_short(value)!r}.', location=path
    )


def _names(value: object, path: FieldPath) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(_non_empty(item, path / k) for k, item in enumerate(_list(value, path)))


# --- writing ----------------------------------------------------------------------------


def contents_to_wire(contents: tuple[Content, ...]) -> list[dict]:
    """Contents as Gemini writes them (camelCase). Raises ValueError for a part that only
    exists inside the server (an image description, a transcript)."""
    return [{"role": c.role, "parts": [_part_to_wire(p) for p in c.parts]} for c in contents]


def system_instruction_to_wire(content: Content | None) -> dict | None:
    if content is None:
        return None
    return {"role": content.role, "parts": [_part_to_wire(p) for p in content.parts]}


def _part_to_wire(part: Part) -> Wire:
    match part:
        case TextPart():
            wire: Wire = {"text": part.text}
            if part.thought:
                wire["thought"] = True
            return _signed(wire, part.thought_signature)
        case InlineDataPart():
            return {"inlineData": {"mimeType": part.mime_type, "data": part.data}}
        case FileDataPart():
            file: Wire = {"fileUri": part.file_uri}
            if part.mime_type is not None:
                file["mimeType"] = part.mime_type
            return {"fileData": file}
        case FunctionCallPart():
            call: Wire = {"name": part.name, "args": dict(part.args)}
            return _signed({"functionCall": _with_id(call, part.id)}, part.thought_signature)
        case FunctionResponsePart():
            response: Wire = {"name": part.name, "response": dict(part.response)}
            return {"functionResponse": _with_id(response, part.id)}
        case ImageDescriptionPart() | TranscriptPart():
            raise ValueError(
                f"{type(part).__name__} is the server's own reading of a media part and has "
                "no Gemini wire form."
            )
        case _:
            assert_never(part)


def _signed(wire: Wire, signature: str | None) -> Wire:
    if signature is not None:
        wire["thoughtSignature"] = signature
    return wire


def _with_id(wire: Wire, call_id: str | None) -> Wire:
    if call_id is not None:
        wire["id"] = call_id
    return wire


def tools_to_wire(decls: tuple[FunctionDeclaration, ...]) -> list[dict]:
    """One tool holding every declaration, or `[]`. Parameters are written as
    `parametersJsonSchema`: the domain holds JSON Schema, which that field takes as it is."""
    if not decls:
        return []
    return [{"functionDeclarations": [_declaration_to_wire(d) for d in decls]}]


def _declaration_to_wire(declaration: FunctionDeclaration) -> Wire:
    wire: Wire = {"name": declaration.name}
    if declaration.description is not None:
        wire["description"] = declaration.description
    if declaration.parameters is not None:
        wire["parametersJsonSchema"] = dict(declaration.parameters)
    return wire


def tool_config_to_wire(config: ToolConfig | None) -> dict | None:
    """`parallel_calls` has no Gemini field and is not written."""
    if config is None:
        return None
    calling: Wire = {"mode": config.mode.value}
    if config.allowed_function_names:
        calling["allowedFunctionNames"] = list(config.allowed_function_names)
    return {"functionCallingConfig": calling}


def plain(value: Any) -> Any:
    """A JSON-ready copy: mappings become dicts and tuples lists (a domain mapping may be
    read-only or frozen, which `json` does not write)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


# --- JSON shape helpers -----------------------------------------------------------------


def _fields(
    value: object,
    path: FieldPath,
    allowed: Sequence[str],
    *,
    what: str,
    unsupported: Mapping[str, str] | None = None,
    alternative: str = "",
) -> dict[str, Any]:
    """An object's fields by their snake_case names, each accepted in snake_case or
    camelCase; `null` fields are left out (unset). Unknown fields are refused."""
    if not isinstance(value, Mapping):
        raise _wrong_type(path, f"an object ({what})", value)

    def refuse(key: object, item: object) -> None:
        raise _unknown_field(key, path, allowed, unsupported or {}, alternative)

    return _read_fields(value, path, allowed, refuse)


def _read_fields(
    value: Mapping[Any, Any],
    path: FieldPath,
    allowed: Sequence[str],
    other: Callable[[object, object], None],
) -> dict[str, Any]:
    """The shared core of this module's and gemini_request.py's `_fields`: `value`'s fields
    by their snake_case names, each accepted in snake_case or camelCase (not both); `null`
    fields are left out (unset). A key not in `allowed` goes to `other(key, item)`, which
    raises to refuse it or returns to let it through (left out)."""
    names = {**{_camel(n): n for n in allowed}, **{n: n for n in allowed}}
    seen: set[str] = set()
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = names.get(key) if isinstance(key, str) else None
        if name is None:
            other(key, item)
            continue
        if name in seen:
            raise InvalidArgument(
                f"`{path / name}` is given twice (as `{name}` and `{_camel(name)}`).",
                location=path / name,
            )
        seen.add(name)
        if item is not None:
            out[name] = item
    return out


def _unknown_field(
    key: object, path: FieldPath, allowed: Collection[str], unsupported: Mapping[str, str],
    alternative: str,
) -> InvalidArgument:
    name = _snake(key) if isinstance(key, str) else None
    at = path / name if name is not None and _IDENTIFIER.fullmatch(name) else path
    feature = unsupported.get(name) if name is not None else None
    if feature is not None:
        why = f"; {alternative}" if alternative else ""
        return InvalidArgument(
            f"`{at}`: this server does not support {feature}{why}.", location=at
        )
    shown = key if isinstance(key, str) else _short(key)
    return InvalidArgument(
        f'Invalid JSON payload received. Unknown name "{shown}" at \'{path}\': Cannot find '
        f"field (expected one of: {', '.join(allowed)}).",
        location=at,
    )


def _list(value: object, path: FieldPath) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise _wrong_type(path, "a list", value)
    return value


def _required(fields: Mapping[str, Any], name: str, path: FieldPath) -> Any:
    if name not in fields:
        raise _missing(path / name)
    return fields[name]


def _optional(
    fields: Mapping[str, Any], name: str, path: FieldPath, kind: type, expected: str
) -> Any:
    value = fields.get(name)
    if value is not None and not isinstance(value, kind):
        raise _wrong_type(path / name, expected, value)
    return value


def _string(value: object, path: FieldPath) -> str:
    if not isinstance(value, str):
        raise _wrong_type(path, "a string", value)
    return value


def _non_empty(value: object, path: FieldPath) -> str:
    text = _string(value, path)
    if not text:
        raise InvalidArgument(f"`{path}` must not be empty.", location=path)
    return text


def _missing(path: FieldPath) -> InvalidArgument:
    return InvalidArgument(f"Missing required field `{path}`.", location=path)


def _wrong_type(path: FieldPath, expected: str, value: object) -> InvalidArgument:
    return InvalidArgument(f"`{path}` must be {expected}, got {json_kind(value)}.", location=path)


def json_kind(value: object) -> str:
    """What a JSON value is, for an error message (`a string`, `an object`, `null`, …)."""
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list() | tuple():
            return "a list"
        case Mapping():
            return "an object"
        case _:
            return type(value).__name__


def _short(value: object) -> object:
    """A value quoted back to the client, cut short (a client may send megabytes)."""
    if isinstance(value, str) and len(value) > 100:
        return value[:100] + "…"
    return value


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def _snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()
