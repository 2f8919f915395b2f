"""Constrained decoding: JSON Schemas (answers and function-call arguments) compiled to
llama.cpp GBNF grammars, and their cache.

The compiler is llama-cpp-python's `SchemaConverter` (a port of llama.cpp's
json_schema_to_grammar), used as a library. What it enforces while decoding: types,
`required`, `enum`, `const`, nested objects and arrays, `anyOf`/`oneOf`, `$defs`/`$ref`
(recursion included: GBNF rules may be recursive, and `max_tokens` bounds the depth),
`additionalProperties`, `minItems`/`maxItems`, `minLength`/`maxLength`, string `pattern`
and the date/time `format`s. Everything else (`minimum`, `multipleOf`, `uniqueItems`, ...)
is checked on the final output by `translate/json_schema.output_violation`.

Three adjustments to the converter's input and output, all so every answer the grammar
admits can be completed and parsed:

- recursive `$ref`s into `$defs` are unrolled to `max_depth` levels; below that, an array
  of the recursive type must be empty and an optional property or `anyOf` branch of it is
  left out (a small model otherwise nests children until `max_tokens`). When the schema
  leaves no finite way out (a *required* recursive property), it is left recursive;
- strings without `maxLength` get `default_max_length` (a small model can otherwise
  write one string until `max_tokens`), applied to a copy of the schema;
- the converter's `char` rule admits raw control characters (newline, tab) inside strings,
  which JSON forbids (RFC 8259 §7: they must be escaped), so `json.loads` would reject the
  answer. The rule is replaced by the stricter one newer llama.cpp uses.
"""

from __future__ import annotations

import collections
import copy
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, assert_never

from llama_cpp.llama_grammar import JSON_GBNF, SchemaConverter

from vertexcompat.engine.svg_grammar import SvgGrammarSpec, svg_grammar

# A JSON string character: anything but `"`, `\` and control characters, or an escape.
_LOOSE_CHAR_RULE = 'char ::= [^"\\\\] | "\\\\" (["\\\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])'
_STRICT_CHAR_RULE = 'char ::= [^"\\\\\\x7F\\x00-\\x1F] | "\\\\" (["\\\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])'



class UnsupportedSchema(ValueError):
    """The schema is valid JSON Schema but cannot be turned into a grammar. For function
    calls, `function_index` says whose parameters it was."""

    def __init__(self, message: str, *, function_index: int | None = None) -> None:
        super().__init__(message)
        self.function_index = function_index


def _cap_strings(node: Any, max_length: int) -> Any:
    """A copy of the schema where every free-form string has a `maxLength`."""
    if isinstance(node, list):
        return [_cap_strings(item, max_length) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _cap_strings(value, max_length) for key, value in node.items()}
    # `properties` / `$defs` map names to schemas: the recursion above already handled
    # their values; only a schema object itself can be a string schema.
    if (
        out.get("type") == "string"
        and "maxLength" not in out
        and not {"pattern", "format", "enum", "const"} & out.keys()
    ):
        out["maxLength"] = max_length
    return out


class _Impossible:
    """Marks a subschema that cannot be expanded any deeper."""


_IMPOSSIBLE = _Impossible()
_DEF_PREFIXES = ("#/$defs/", "#/definitions/")
# Keywords whose value is one subschema / a name → subschema map / a list of subschemas.
_ONE = ("additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")
_MAP = ("patternProperties", "dependentSchemas")
_LIST = ("allOf", "prefixItems")


def _bound_recursion(schema: dict[str, Any], max_depth: int) -> dict[str, Any]:
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        if isinstance(schema.get(key), dict):
            defs.update({f"#/{key}/{name}": value for name, value in schema[key].items()})
    if not defs:
        return schema

    def expand(node: Any, stack: tuple[str, ...]) -> Any:
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_DEF_PREFIXES) and ref in defs:
            if stack.count(ref) >= max_depth:
                return _IMPOSSIBLE
            return expand(defs[ref], (*stack, ref))
        out = dict(node)
        out.pop("$defs", None)
        out.pop("definitions", None)
        if isinstance(out.get("items"), dict):
            items = expand(out["items"], stack)
            if items is _IMPOSSIBLE:
                if out.get("minItems", 0) > 0:
                    return _IMPOSSIBLE
                # An empty array; `items` stays so the converter does not fall back
                # to "array of anything".
                out["items"] = {"type": "null"}
                out["maxItems"] = 0
            else:
                out["items"] = items
        if isinstance(out.get("properties"), dict):
            required = set(out.get("required", ()))
            props = {}
            for name, sub in out["properties"].items():
                expanded = expand(sub, stack)
                if expanded is _IMPOSSIBLE:
                    if name in required:
                        return _IMPOSSIBLE
                    continue
                props[name] = expanded
            out["properties"] = props
        for key in ("anyOf", "oneOf"):
            if isinstance(out.get(key), list):
                branches = [b for b in (expand(b, stack) for b in out[key]) if b is not _IMPOSSIBLE]
                if not branches:
                    return _IMPOSSIBLE
                out[key] = branches
        for key in _LIST:
            if isinstance(out.get(key), list):
                subs = [expand(b, stack) for b in out[key]]
                if any(b is _IMPOSSIBLE for b in subs):
                    return _IMPOSSIBLE
                out[key] = subs
        for key in _ONE:
            if isinstance(out.get(key), dict):
                sub = expand(out[key], stack)
                if sub is _IMPOSSIBLE:
                    if key != "additionalProperties":
                        return _IMPOSSIBLE
                    sub = False
                out[key] = sub
        for key in _MAP:
            if isinstance(out.get(key), dict):
                out[key] = {k: expand(v, stack) for k, v in out[key].items()}
                if any(v is _IMPOSSIBLE for v in out[key].values()):
                    return _IMPOSSIBLE
        return out

    expanded = expand(schema, ())
    if expanded is not _IMPOSSIBLE:
        return expanded
    # No finite instance below the depth limit: keep the recursive rules (max_tokens bounds
    # it). A root that is itself a `$ref` is inlined once: the converter's resolve_refs
    # never descends into `$defs` next to a root `$ref`, so refs inside them stay unresolved.
    root_ref = schema.get("$ref")
    if isinstance(root_ref, str) and root_ref in defs:
        inlined = {k: v for k, v in schema.items() if k != "$ref"}
        return {**defs[root_ref], **inlined}
    return schema


def json_object_grammar() -> str:
    """OpenAI `json_object`: any JSON object. llama.cpp's json.gbnf, whose root is an
    object and whose strings already exclude raw control characters."""
    assert "root   ::= object" in JSON_GBNF
    return JSON_GBNF


_CONVERTER_ERRORS = (
    ValueError, KeyError, TypeError, AssertionError, NotImplementedError, RecursionError,
)


def _new_converter() -> SchemaConverter:
    return SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)


def _visit(
    converter: SchemaConverter,
    schema: Mapping[str, Any],
    rule: str,
    url: str,
    *,
    default_max_length: int,
    max_depth: int,
) -> str:
    """Adds the rules for `schema` to `converter` under `rule` ("" = root); returns the rule
    name. `url` keeps the `#/$defs/...` refs of different schemas apart."""
    try:
        bounded = _bound_recursion(copy.deepcopy(dict(schema)), max_depth)
    except RecursionError:
        raise UnsupportedSchema("cannot enforce this schema while decoding: nested too deeply") from None
    capped = _cap_strings(bounded, default_max_length)
    try:
        resolved = converter.resolve_refs(capped, url)
        return converter.visit(resolved, rule)
    except _CONVERTER_ERRORS as exc:
        raise UnsupportedSchema(f"cannot enforce this schema while decoding: {exc}") from None


def _format(converter: SchemaConverter, extra_rules: str = "") -> str:
    try:
        grammar = converter.format_grammar()
    except _CONVERTER_ERRORS as exc:
        raise UnsupportedSchema(f"cannot enforce this schema while decoding: {exc}") from None
    return (grammar + extra_rules).replace(_LOOSE_CHAR_RULE, _STRICT_CHAR_RULE)


def schema_to_grammar(
    schema: Mapping[str, Any], *, default_max_length: int, max_depth: int = 3
) -> str:
    """GBNF text for `schema`; raises UnsupportedSchema when the converter cannot."""
    converter = _new_converter()
    _visit(converter, schema, "", "request", default_max_length=default_max_length, max_depth=max_depth)
    return _format(converter)


CallsStart = Literal["open", "after_open", "after_name"]


@dataclass(frozen=True, slots=True)
class CallsSpec:
    """What function calls may be written in one turn, in the backend's call format:
    `open` {"name": <one of functions>, "arguments": <that function's parameters>} `close`,
    repeated up to `max_calls` times with only whitespace between, nothing after. A model
    that leaves out the markers and writes bare call objects is held to the same shape.

    `start` says where the grammar takes over: "open" — at the first token, which must
    open a call (tool_choice required / named); for tool_choice auto the model writes
    freely and a lazy grammar (engine/sampling.py) takes over right after the model opened
    a call itself: after the `open` marker ("after_open") or after the `{"name":` of a bare
    call object ("after_name")."""

    functions: tuple[tuple[str, Mapping[str, Any] | None], ...]
    open: str
    close: str
    max_calls: int = 8
    start: CallsStart = "open"

    def key(self) -> str:
        return "calls:" + json.dumps(
            [self.functions, self.open, self.close, self.max_calls, self.start],
            separators=(",", ":"),
        )


_FENCE = "```"
_NO_PARAMETERS = {"type": "object", "properties": {}, "additionalProperties": False}


def _literal(text: str) -> str:
    """A GBNF string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def calls_grammar(spec: CallsSpec, *, default_max_length: int, max_depth: int = 3) -> str:
    if not spec.functions:
        raise ValueError("a calls grammar needs at least one function")
    converter = _new_converter()
    alternatives = []
    for i, (name, parameters) in enumerate(spec.functions):
        # No declared parameters: the function takes none, its arguments are `{}`.
        schema = parameters if parameters is not None else _NO_PARAMETERS
        try:
            args_rule = _visit(
                converter, schema, f"fn{i}-args", f"fn{i}",
                default_max_length=default_max_length, max_depth=max_depth,
            )
        except UnsupportedSchema as exc:
            raise UnsupportedSchema(f"function {name!r}: {exc}", function_index=i) from None
        alternatives.append(
            " ".join((
                _literal(json.dumps(name)), 'space "," space', _literal('"arguments"'),
                'space ":" space', args_rule,
            ))
        )
    repeat = f"{{0,{spec.max_calls - 1}}}" if spec.max_calls > 1 else None
    tagged_more = f" (tc-ws {_literal(spec.open)} tc-block){repeat}" if repeat else ""
    match spec.start:
        case "open":
            root = f"{_literal(spec.open)} tc-block{tagged_more}"
        case "after_open":
            root = f"tc-block{tagged_more}"
        case "after_name":
            # A bare call is often wrapped in a ```json fence: let the model close it.
            root = "tc-after-name" + (f" (tc-ws tc-call){repeat}" if repeat else "")
            root += f" (tc-ws {_literal(_FENCE)})?"
        case _:
            assert_never(spec.start)
    name_key = _literal('"name"')
    rules = "\n" + "\n".join((
        f"tc-after-name ::= space ({' | '.join(alternatives)}) space " + _literal("}"),
        f"tc-call ::= {_literal('{')} space {name_key} space {_literal(':')} tc-after-name",
        f"tc-block ::= tc-ws tc-call tc-ws {_literal(spec.close)}",
        "tc-ws ::= [ \\t\\n]{0,4}",
        f"root ::= {root}",
    )) + "\n"
    return _format(converter, rules)


class GrammarCache:
    """A small thread-safe LRU of compiled grammars, keyed by the schema's JSON text (key
    order kept: property order is the order the model writes them in). Owned by one engine.

    `verify` parses the grammar with llama.cpp once before it is cached, so a grammar the
    converter produced but llama.cpp rejects fails the request up front, never a decode."""

    def __init__(
        self,
        *,
        capacity: int = 64,
        default_max_length: int = 256,
        max_depth: int = 3,
        verify: Callable[[str], None] = lambda grammar: None,
    ) -> None:
        self._capacity = capacity
        self._default_max_length = default_max_length
        self._max_depth = max_depth
        self._verify = verify
        self._entries: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def grammar_for(self, schema: Mapping[str, Any] | None) -> str:
        """The grammar for `schema`; `None` means "any JSON object"."""
        key = "" if schema is None else json.dumps(schema, separators=(",", ":"))

        def build() -> str:
            if schema is None:
                return json_object_grammar()
            return schema_to_grammar(
                schema, default_max_length=self._default_max_length, max_depth=self._max_depth
            )

        return self._cached(key, build)

    def calls_grammar_for(self, spec: CallsSpec) -> str:
        return self._cached(
            spec.key(),
            lambda: calls_grammar(
                spec, default_max_length=self._default_max_length, max_depth=self._max_depth
            ),
        )

    def svg_grammar_for(self, spec: SvgGrammarSpec) -> str:
        return self._cached(spec.key(), lambda: svg_grammar(spec))

    def _cached(self, key: str, build: Callable[[], str]) -> str:
        with self._lock:
            grammar = self._entries.get(key)
            if grammar is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return grammar
            self.misses += 1
        grammar = build()
        self._verify(grammar)
        with self._lock:
            self._entries[key] = grammar
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
        return grammar

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
