"""Constrained decoding: JSON Schemas (answers and function-call arguments) compiled to
llama.cpp GBNF grammars, and their cache.

The compiler is llama-cpp-python's `SchemaConverter` (a port of llama.cpp's
json_schema_to_grammar), used as a library. What it enforces while decoding: types,
`required`, `enum`, `const`, nested objects and arrays, `anyOf`/`oneOf`, `$defs`/`$ref`
(recursion included: GBNF rules may be recursive, and `max_tokens` bounds the depth),
`additionalProperties`, `minItems`/`maxItems`, `minLength`/`maxLength`, string `pattern`
and the date/time `format`s. Everything else (`minimum`, `multipleOf`, `uniqueItems`, ...)
is checked on the final output by `translate/json_schema.output_violation`.

Before the converter sees a schema, and before llama.cpp sees a grammar, both are held to
the bounds in engine/grammar_bounds.py (lengths and item counts of at most 1000, nesting,
size): past them llama.cpp's parser crashes the process or refuses the grammar.

Adjustments to the converter's input and output, all so every answer the grammar admits
can be completed and parsed:

- recursive `$ref`s into `$defs` are unrolled to `max_depth` levels; below that, an array
  of the recursive type must be empty and an optional property or `anyOf` branch of it is
  left out (a small model otherwise nests children until `max_tokens`). When the schema
  leaves no finite way out (a *required* recursive property), it is left recursive;
- boolean subschemas (JSON Schema's `true`/`false`, which the converter cannot read) are
  made explicit the same way: `true` is any value, and a `false` property, branch or item
  is left out as above — or, where the schema needs it, refused as unsatisfiable;
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

from vertexcompat.engine.grammar_bounds import (
    MAX_EXPANDED_DEPTH,
    MAX_REPETITION,
    MAX_SCHEMA_DEPTH,
    GrammarBudget,
    GrammarLimitError,
    check_grammar,
    check_schema_bounds,
)
from vertexcompat.engine.svg_grammar import SvgGrammarSpec, svg_grammar

# A JSON string character: anything but `"`, `\` and control characters, or an escape.
_LOOSE_CHAR_RULE = 'char ::= [^"\\\\] | "\\\\" (["\\\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])'
_STRICT_CHAR_RULE = 'char ::= [^"\\\\\\x7F\\x00-\\x1F] | "\\\\" (["\\\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])'
# How the converter writes an object's key-value colon: any whitespace around it.
_KEY_COLON = ' space ":" space '


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
        # Never below its own `minLength`: the converter would write `minLength` chars and
        # no more, a grammar whose every string breaks the cap it was given.
        out["maxLength"] = max(max_length, out.get("minLength", 0))
    return out


class _Nothing:
    """Marks a subschema no value can satisfy: `_FALSE` when the schema says so (a `false`
    subschema), `_CUT` when `$ref`s were unrolled to the depth limit there."""


_FALSE = _Nothing()
_CUT = _Nothing()


def _either(nothings: list[Any]) -> _Nothing:
    """Why a node whose parts all came to nothing is nothing: cut if any part was."""
    return _CUT if any(n is _CUT for n in nothings) else _FALSE


def _any_value() -> dict[str, Any]:
    # JSON Schema `true` (or an `items`/`properties` entry of it): any JSON value. Not `{}`,
    # which the converter compiles as "any object"; a fresh dict each time, since the
    # converter rewrites `$ref`s in place.
    return {"anyOf": [{"type": t} for t in ("string", "number", "boolean", "null", "object", "array")]}


_DEF_PREFIXES = ("#/$defs/", "#/definitions/")
# Keywords the converter does not compile (the post-check covers them): only their
# `$ref`s are unrolled, since `$defs` do not survive unrolling. Booleans in them stay.
_IGNORED_ONE = ("not", "if", "then", "else", "contains", "propertyNames")
_IGNORED_MAP = ("patternProperties", "dependentSchemas")
_UNSATISFIABLE = "no JSON value satisfies it (a required property, item or branch is `false`)"


def _bound_recursion(schema: Any, max_depth: int, budget: GrammarBudget) -> Any:
    """The schema as the converter should see it: `$ref`s into `$defs` unrolled to
    `max_depth` levels (module docstring), boolean subschemas made explicit (`true` → any
    value; `false` → the property, branch or items left out, or UnsupportedSchema when the
    schema needs it), within `budget`."""
    defs: dict[str, Any] = {}
    if isinstance(schema, dict):
        for key in ("$defs", "definitions"):
            if isinstance(schema.get(key), dict):
                defs.update({f"#/{key}/{name}": value for name, value in schema[key].items()})

    def expand(node: Any, stack: tuple[str, ...], level: int, follow: bool) -> Any:
        if node is True:
            return _any_value()
        if node is False:
            return _FALSE
        if not isinstance(node, dict):
            return node
        budget.node()
        if level > MAX_EXPANDED_DEPTH:
            raise UnsupportedSchema(
                f"cannot enforce this schema while decoding: it nests more than "
                f"{MAX_EXPANDED_DEPTH} subschemas deep once its `$ref`s are unrolled"
            )
        ref = node.get("$ref")
        if follow and isinstance(ref, str) and ref.startswith(_DEF_PREFIXES) and ref in defs:
            if stack.count(ref) >= max_depth:
                return _CUT
            return expand(defs[ref], (*stack, ref), level + 1, follow)

        def sub(value: Any) -> Any:
            return expand(value, stack, level + 1, follow)

        out = dict(node)
        if follow:
            out.pop("$defs", None)
            out.pop("definitions", None)
        for key in ("minLength", "maxLength", "minItems", "maxItems"):
            # JSON Schema counts 20.0 as an integer; the converter multiplies strings by it.
            if isinstance(out.get(key), float):
                out[key] = int(out[key])
        items = out.get("items")
        if isinstance(items, dict | bool):
            expanded = sub(items)
            if isinstance(expanded, _Nothing):
                if out.get("minItems", 0) > 0:
                    return expanded
                # An empty array; `items` stays so the converter does not fall back
                # to "array of anything".
                out["items"] = {"type": "null"}
                out["maxItems"] = 0
            else:
                out["items"] = expanded
        if isinstance(out.get("properties"), dict):
            required = out.get("required", ())
            required = set(required) if isinstance(required, list) else set()
            props = {}
            for name, value in out["properties"].items():
                expanded = sub(value)
                if isinstance(expanded, _Nothing):
                    if name in required:
                        return expanded
                    continue
                props[name] = expanded
            out["properties"] = props
        for key in ("anyOf", "oneOf"):
            if isinstance(out.get(key), list):
                branches = [sub(b) for b in out[key]]
                kept = [b for b in branches if not isinstance(b, _Nothing)]
                if not kept:
                    return _either(branches)
                out[key] = kept
        if isinstance(out.get("allOf"), list):
            # `true` in `allOf` adds nothing; the converter reads each part as an object.
            parts = [sub(b) for b in out["allOf"] if b is not True]
            if any(isinstance(b, _Nothing) for b in parts):
                return _either(parts)
            if parts:
                out["allOf"] = parts
            else:
                del out["allOf"]
        for key in ("prefixItems", "items"):
            if isinstance(out.get(key), list):
                parts = [sub(b) for b in out[key]]
                if any(isinstance(b, _Nothing) for b in parts):
                    return _either(parts)
                out[key] = parts
        if isinstance(out.get("additionalProperties"), dict):
            expanded = sub(out["additionalProperties"])
            out["additionalProperties"] = False if isinstance(expanded, _Nothing) else expanded
        # Not compiled, so one that comes to nothing is dropped rather than judged (`not`
        # of nothing is everything): the post-check still reads the original schema.
        for key in _IGNORED_ONE:
            if isinstance(out.get(key), dict):
                expanded = sub(out[key])
                if isinstance(expanded, _Nothing):
                    del out[key]
                else:
                    out[key] = expanded
        for key in _IGNORED_MAP:
            if isinstance(out.get(key), dict):
                values = {k: sub(v) if isinstance(v, dict) else v for k, v in out[key].items()}
                out[key] = {k: v for k, v in values.items() if not isinstance(v, _Nothing)}
        return out

    expanded = expand(schema, (), 0, True)
    if expanded is _FALSE:
        raise UnsupportedSchema(f"cannot enforce this schema while decoding: {_UNSATISFIABLE}")
    if not isinstance(expanded, _Nothing):
        return expanded
    # No finite instance below the depth limit: keep the recursive rules (max_tokens bounds
    # it), with only the booleans made explicit, in the root and in each definition.
    kept = expand(schema, (), 0, False)
    if isinstance(kept, _Nothing):
        raise UnsupportedSchema(f"cannot enforce this schema while decoding: {_UNSATISFIABLE}")
    for key in ("$defs", "definitions"):
        if isinstance(kept.get(key), dict):
            kept[key] = {name: expand(value, (), 1, False) for name, value in kept[key].items()}
            if any(isinstance(v, _Nothing) for v in kept[key].values()):
                raise UnsupportedSchema(
                    f"cannot enforce this schema while decoding: a recursive `{key}` entry "
                    "admits no value"
                )
    # A root that is itself a `$ref` is inlined once: the converter's resolve_refs never
    # descends into `$defs` next to a root `$ref`, so refs inside them stay unresolved.
    kept_defs = {
        f"#/{key}/{name}": value
        for key in ("$defs", "definitions") if isinstance(kept.get(key), dict)
        for name, value in kept[key].items()
    }
    root_ref = kept.get("$ref")
    if isinstance(root_ref, str) and root_ref in kept_defs:
        inlined = {k: v for k, v in kept.items() if k != "$ref"}
        return {**kept_defs[root_ref], **inlined}
    return kept


def json_object_grammar() -> str:
    """OpenAI `json_object`: any JSON object. llama.cpp's json.gbnf, whose root is an
    object and whose strings already exclude raw control characters."""
    assert "root   ::= object" in JSON_GBNF
    return JSON_GBNF


# What the converter raises on a schema it cannot compile (it asserts, indexes and calls
# methods on whatever the schema holds); all of them mean "not enforceable", never a 500.
_CONVERTER_ERRORS = (
    ValueError, LookupError, TypeError, AttributeError, AssertionError, NotImplementedError,
    RecursionError,
)
_CANNOT = "cannot enforce this schema while decoding"


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
    budget: GrammarBudget,
) -> str:
    """Adds the rules for `schema` to `converter` under `rule` ("" = root); returns the rule
    name. `url` keeps the `#/$defs/...` refs of different schemas apart.

    Every bound (engine/grammar_bounds.py) is checked on the schema before the converter
    sees it: the converter itself builds n-fold text for a bound of n and recurses over
    the schema, so an unchecked schema can exhaust memory or the stack right here."""
    try:
        check_schema_bounds(schema)
        bounded = _bound_recursion(copy.deepcopy(schema), max_depth, budget)
        # A configured default above what llama.cpp can enforce would fail every free string.
        capped = _cap_strings(bounded, min(default_max_length, MAX_REPETITION))
        budget.spend(capped)
    except UnsupportedSchema:
        raise
    except GrammarLimitError as exc:
        raise UnsupportedSchema(str(exc)) from None  # it states the bound itself
    except (RecursionError, TypeError, ValueError) as exc:
        # TypeError/ValueError: a schema no JSON Schema validator let through (a `required`
        # of lists, say) reaching the engine by another surface.
        raise UnsupportedSchema(f"{_CANNOT}: {_short(exc)}") from None
    try:
        resolved = converter.resolve_refs(capped, url)
        return converter.visit(resolved, rule)
    except _CONVERTER_ERRORS as exc:
        raise UnsupportedSchema(f"{_CANNOT}: {_short(exc)}") from None


def _short(exc: Exception) -> str:
    # The converter's messages can quote the whole (sub)schema back.
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "…"


def _format(converter: SchemaConverter, extra_rules: str = "") -> str:
    try:
        grammar = converter.format_grammar()
    except _CONVERTER_ERRORS as exc:
        raise UnsupportedSchema(f"{_CANNOT}: {_short(exc)}") from None
    return (grammar + extra_rules).replace(_LOOSE_CHAR_RULE, _STRICT_CHAR_RULE)


def schema_to_grammar(
    schema: Mapping[str, Any], *, default_max_length: int, max_depth: int = 3,
    colon_space: bool = True,
) -> str:
    """GBNF text for `schema`; raises UnsupportedSchema when it cannot be enforced, before
    anything reaches llama.cpp. `colon_space=False`: an object's keys are followed by a bare
    `":"`, no whitespace around it (`"key":value`: a token fewer per key than `": "` in
    Qwen's vocabulary)."""
    converter = _new_converter()
    _visit(
        converter, schema, "", "request",
        default_max_length=default_max_length, max_depth=max_depth, budget=GrammarBudget(),
    )
    grammar = _format(converter)
    if not colon_space:
        grammar = grammar.replace(_KEY_COLON, ' ":" ')
    return _checked(grammar)


def _checked(grammar: str) -> str:
    """`grammar`, once it is known to be safe for llama.cpp's parser."""
    try:
        check_grammar(grammar)
    except GrammarLimitError as exc:
        raise UnsupportedSchema(f"{_CANNOT}: {exc}") from None
    return grammar


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
    budget = GrammarBudget()  # one grammar: its functions share the bounds
    alternatives = []
    for i, (name, parameters) in enumerate(spec.functions):
        # No declared parameters: the function takes none, its arguments are `{}`.
        schema = parameters if parameters is not None else _NO_PARAMETERS
        try:
            args_rule = _visit(
                converter, schema, f"fn{i}-args", f"fn{i}",
                default_max_length=default_max_length, max_depth=max_depth, budget=budget,
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
    return _checked(_format(converter, rules))


class GrammarCache:
    """A small thread-safe LRU of compiled grammars, keyed by the schema's JSON text (key
    order kept: property order is the order the model writes them in). Owned by one engine.

    Every grammar it hands out has passed `check_grammar` (schema and calls grammars in
    their compilers, the fixed ones here), and `verify` parses it with llama.cpp once before
    it is cached, so a grammar llama.cpp rejects fails the request up front, never a decode."""

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
        key = "" if schema is None else _key(lambda: json.dumps(schema, separators=(",", ":")))

        def build() -> str:
            if schema is None:
                return _checked(json_object_grammar())
            return schema_to_grammar(
                schema, default_max_length=self._default_max_length, max_depth=self._max_depth
            )

        return self._cached(key, build)

    def calls_grammar_for(self, spec: CallsSpec) -> str:
        return self._cached(
            _key(spec.key),
            lambda: calls_grammar(
                spec, default_max_length=self._default_max_length, max_depth=self._max_depth
            ),
        )

    def svg_grammar_for(self, spec: SvgGrammarSpec) -> str:
        return self._cached(spec.key(), lambda: _checked(svg_grammar(spec)))

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


def _key(dump: Callable[[], str]) -> str:
    # The cache key is the first thing to read a schema: one nested past json's recursion
    # limit (or holding what JSON cannot) is unsupported, not a 500.
    try:
        return dump()
    except RecursionError:
        raise UnsupportedSchema(
            f"{_CANNOT}: the schema is nested more than {MAX_SCHEMA_DEPTH} levels deep"
        ) from None
    except (TypeError, ValueError) as exc:
        raise UnsupportedSchema(f"{_CANNOT}: {_short(exc)}") from None
