"""Schema → GBNF compilation and the engine's grammar cache (no model needed)."""

import pytest

from vertexcompat.engine.constraints import (
    CallsSpec,
    GrammarCache,
    calls_grammar,
    UnsupportedSchema,
    json_object_grammar,
    schema_to_grammar,
)

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
    "required": ["name", "tags"],
    "additionalProperties": False,
}


def test_free_strings_get_the_default_max_length_and_bounded_ones_keep_theirs():
    grammar = schema_to_grammar(SCHEMA, default_max_length=3)
    # maxLength 3 → at most three `char`s nested in optionals
    assert '"\\"" (char (char (char)?)?)? "\\"" space' in grammar
    assert "char*" not in grammar
    bounded = {"type": "object", "properties": {"a": {"type": "string", "maxLength": 2}}, "required": ["a"]}
    assert "(char (char)?)?" in schema_to_grammar(bounded, default_max_length=50)


def test_strings_never_admit_raw_control_characters():
    grammar = schema_to_grammar(SCHEMA, default_max_length=3)
    assert '[^"\\\\\\x7F\\x00-\\x1F]' in grammar
    assert '[^"\\\\\\x7F\\x00-\\x1F]' in json_object_grammar()


def test_schema_is_not_mutated():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    schema_to_grammar(schema, default_max_length=3)
    assert schema == {"type": "object", "properties": {"a": {"type": "string"}}}


def test_unresolvable_ref_is_unsupported():
    with pytest.raises(UnsupportedSchema):
        schema_to_grammar({"$ref": "#/$defs/missing"}, default_max_length=3)


def test_cache_compiles_once_per_schema_and_evicts_least_recently_used():
    verified = []
    cache = GrammarCache(capacity=2, default_max_length=8, verify=verified.append)
    a = {"type": "object", "properties": {"a": {"type": "integer"}}}
    b = {"type": "object", "properties": {"b": {"type": "integer"}}}
    c = {"type": "object", "properties": {"c": {"type": "integer"}}}
    first = cache.grammar_for(a)
    assert cache.grammar_for(dict(a)) is first
    assert (cache.hits, cache.misses, len(verified)) == (1, 1, 1)
    cache.grammar_for(b)
    cache.grammar_for(a)  # a is now the most recently used
    cache.grammar_for(c)  # evicts b
    assert len(cache) == 2
    cache.grammar_for(a)
    assert cache.misses == 3
    cache.grammar_for(b)
    assert cache.misses == 4


def test_cache_keeps_property_order_apart():
    cache = GrammarCache(capacity=4, default_max_length=8)
    ab = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}
    ba = {"type": "object", "properties": {"b": {"type": "integer"}, "a": {"type": "integer"}}, "required": ["a", "b"]}
    assert cache.grammar_for(ab) != cache.grammar_for(ba)


def test_a_grammar_that_fails_verification_is_not_cached():
    def reject(grammar):
        raise UnsupportedSchema("no")

    cache = GrammarCache(verify=reject)
    with pytest.raises(UnsupportedSchema):
        cache.grammar_for(None)
    assert len(cache) == 0


def test_json_object_grammar_is_cached_under_none():
    cache = GrammarCache()
    assert cache.grammar_for(None) == json_object_grammar()
    assert cache.grammar_for(None) is cache.grammar_for(None)
    assert cache.hits == 2


TREE = {
    "$defs": {
        "node": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                "parent": {"$ref": "#/$defs/node"},
            },
            "required": ["id", "children"],
        }
    },
    "$ref": "#/$defs/node",
}


def test_recursion_is_unrolled_to_the_depth_limit():
    grammar = schema_to_grammar(TREE, default_max_length=8, max_depth=2)
    # no rule refers back to an enclosing one: the grammar is finite
    assert "node" not in grammar
    assert "children-item-children ::= \"[\" space  \"]\" space" in grammar  # level 2: empty
    assert "children-item-children-item" not in grammar
    assert "value" not in grammar  # never falls back to "any JSON"


def test_required_recursion_with_no_way_out_stays_recursive():
    schema = {
        "$defs": {"a": {"type": "object", "properties": {"next": {"$ref": "#/$defs/a"}}, "required": ["next"]}},
        "$ref": "#/$defs/a",
    }
    grammar = schema_to_grammar(schema, default_max_length=8, max_depth=2)
    assert "a-next ::= a" in grammar  # a root `$ref` works around the converter's bug


def _spec(start="open", **kw):
    node = {"$defs": {"p": {"type": "object", "properties": {"v": {"type": "integer"}}, "required": ["v"]}},
            "type": "object", "properties": {"pt": {"$ref": "#/$defs/p"}}, "required": ["pt"]}
    other = {"$defs": {"p": {"type": "boolean"}}, "type": "object", "properties": {"flag": {"$ref": "#/$defs/p"}}}
    return CallsSpec(functions=(("first", node), ("second", other), ("third", None)),
                     open="<tool_call>", close="</tool_call>", start=start, **kw)


def _root(grammar):
    return next(line for line in grammar.splitlines() if line.startswith("root ::="))


def test_calls_grammar_names_every_function_and_its_own_arguments_rule():
    grammar = calls_grammar(_spec(), default_max_length=8)
    for i, name in enumerate(("first", "second", "third")):
        assert f'"\\"{name}\\""' in grammar and f"fn{i}-args" in grammar
    # Same `$defs` name in two functions: each resolves to its own definition.
    assert "boolean" in grammar and "integer" in grammar
    # No parameters → only `{}`.
    assert 'fn2-args ::= "{" space  "}" space' in grammar


@pytest.mark.parametrize(
    ("start", "root"),
    [
        ("open", 'root ::= "<tool_call>" tc-block (tc-ws "<tool_call>" tc-block){0,7}'),
        ("after_open", 'root ::= tc-block (tc-ws "<tool_call>" tc-block){0,7}'),
        ("after_name", 'root ::= tc-after-name (tc-ws tc-call){0,7} (tc-ws "```")?'),
    ],
)
def test_calls_grammar_starts_where_asked(start, root):
    assert _root(calls_grammar(_spec(start), default_max_length=8)) == root


def test_one_call_per_turn_has_no_repetition():
    assert _root(calls_grammar(_spec(max_calls=1), default_max_length=8)) == 'root ::= "<tool_call>" tc-block'


def test_unenforceable_parameters_name_the_function():
    spec = CallsSpec(functions=(("ok", None), ("bad", {"$ref": "#/$defs/gone"})), open="<a>", close="</a>")
    with pytest.raises(UnsupportedSchema) as info:
        calls_grammar(spec, default_max_length=8)
    assert info.value.function_index == 1 and "'bad'" in str(info.value)


def test_calls_grammars_are_cached_per_spec():
    cache = GrammarCache()
    cache.calls_grammar_for(_spec("open"))
    cache.calls_grammar_for(_spec("open"))
    cache.calls_grammar_for(_spec("after_open"))
    assert (cache.hits, cache.misses) == (1, 2)


# -- hardening (issue 12): whatever the schema, nothing unsafe reaches llama.cpp ---------------


def _never_parse(grammar):
    pytest.fail("a grammar past the bounds reached llama.cpp")


def _nested(levels, leaf):
    for _ in range(levels):
        leaf = {"type": "object", "properties": {"a": leaf}, "required": ["a"]}
    return leaf


# Each of these segfaulted the server (stack overflow in llama.cpp's grammar parser), raised
# MemoryError, or made llama.cpp refuse and print a 136 KB grammar.
CRASHING = [
    ({"type": "string", "maxLength": 20000}, "maxLength 20000 exceeds the limit of 1000 that can be enforced while decoding"),
    ({"type": "array", "items": {"type": "integer"}, "maxItems": 50000}, "maxItems 50000 exceeds the limit of 1000"),
    ({"type": "string", "pattern": "^a{0,50000}$"}, "pattern quantifier {0,50000} exceeds the limit of 1000"),
    ({"type": "string", "maxLength": 17000}, "maxLength 17000 exceeds the limit of 1000"),
    ({"type": "string", "maxLength": 1e12}, "maxLength 1000000000000 exceeds the limit of 1000"),
    (_nested(95, {"type": "string"}), "nested more than 64 levels deep"),
]


@pytest.mark.parametrize(("schema", "says"), CRASHING, ids=["maxLength", "maxItems", "pattern", "refused-size", "1e12", "deep"])
def test_crashing_schemas_are_unsupported_before_anything_reaches_llama_cpp(schema, says):
    cache = GrammarCache(verify=_never_parse)
    with pytest.raises(UnsupportedSchema) as info:
        cache.grammar_for({"type": "object", "properties": {"x": schema}, "required": ["x"]})
    assert says in str(info.value)
    spec = CallsSpec(functions=(("ok", None), ("bad", {"type": "object", "properties": {"x": schema}})),
                     open="<a>", close="</a>")
    with pytest.raises(UnsupportedSchema) as info:
        cache.calls_grammar_for(spec)
    assert info.value.function_index == 1 and says in str(info.value)
    assert len(cache) == 0


def test_a_schema_past_json_recursion_is_unsupported_not_a_crash():
    with pytest.raises(UnsupportedSchema, match="nested more than 64 levels deep"):
        GrammarCache(verify=_never_parse).grammar_for(_nested(5000, {"type": "string"}))


def test_counts_at_the_limit_and_integral_floats_compile():
    grammar = schema_to_grammar({"type": "string", "maxLength": 1000}, default_max_length=8)
    assert grammar.count("(char") == 1000
    # JSON Schema counts 3.0 as an integer; the converter used to multiply strings by it.
    assert "(char (char (char)?)?)?" in schema_to_grammar({"type": "string", "maxLength": 3.0}, default_max_length=8)


def test_a_configured_default_length_above_the_limit_is_clamped_to_it():
    grammar = GrammarCache(default_max_length=50_000).grammar_for({"type": "string"})
    assert grammar.count("(char") == 1000


def test_the_default_length_never_falls_below_min_length():
    grammar = schema_to_grammar({"type": "string", "minLength": 5}, default_max_length=3)
    assert '"\\"" char char char char char "\\"" space' in grammar


def test_exponential_ref_expansion_is_cut_off_by_the_node_budget():
    defs = {
        f"d{i}": {"type": "object", "properties": {"a": {"$ref": f"#/$defs/d{i + 1}"}, "b": {"$ref": f"#/$defs/d{i + 1}"}},
                  "required": ["a", "b"]}
        for i in range(40)
    }
    defs["d40"] = {"type": "integer"}  # 2^40 leaves if expanded
    with pytest.raises(UnsupportedSchema, match="more than 10000 subschemas once its `\\$ref`s are unrolled"):
        schema_to_grammar({"$defs": defs, "$ref": "#/$defs/d0"}, default_max_length=8)


def test_a_converter_failure_on_odd_input_is_unsupported_not_a_crash():
    for schema in (
        {"type": "string", "pattern": "^*a$"},  # IndexError inside the converter
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": [["a"]]},  # unhashable
        {"type": "string", "pattern": 5},  # AttributeError inside the converter
    ):
        with pytest.raises(UnsupportedSchema):
            schema_to_grammar(schema, default_max_length=8)


# Boolean subschemas are valid JSON Schema (`true`: anything, `false`: nothing).


def _rule(grammar, name):
    return next(line for line in grammar.splitlines() if line.startswith(f"{name} ::="))


def test_true_subschema_admits_any_value():
    grammar = schema_to_grammar(
        {"type": "object", "properties": {"user": True}, "required": ["user"]}, default_max_length=3
    )
    assert _rule(grammar, "user") == "user ::= user-0 | number | boolean | null | user-4 | array"
    assert _rule(grammar, "user-0") == 'user-0 ::= "\\"" (char (char (char)?)?)? "\\"" space'
    assert _rule(grammar, "user-4") == "user-4 ::= object"


def test_false_optional_property_is_left_out():
    grammar = schema_to_grammar(
        {"type": "object", "properties": {"gone": False, "n": {"type": "integer"}}}, default_max_length=3
    )
    assert "gone" not in grammar and "n-kv" in grammar


def test_false_items_and_branches_are_left_out():
    grammar = schema_to_grammar({"type": "array", "items": False}, default_max_length=3)
    assert _rule(grammar, "root") == 'root ::= "[" space  "]" space'
    grammar = schema_to_grammar({"anyOf": [False, {"type": "integer"}, True]}, default_max_length=3)
    assert _rule(grammar, "root") == "root ::= integer | alternative-1"  # two branches left
    assert _rule(grammar, "alternative-1").endswith("| array")
    grammar = schema_to_grammar({"allOf": [True, {"properties": {"a": {"type": "integer"}}}]}, default_max_length=3)
    assert "a-kv" in grammar


@pytest.mark.parametrize(
    "schema",
    [
        False,
        {"type": "object", "properties": {"user": False}, "required": ["user"]},
        {"type": "array", "items": False, "minItems": 1},
        {"anyOf": [False, False]},
        {"allOf": [{"type": "object"}, False]},
        {"prefixItems": [{"type": "integer"}, False]},
        {"$defs": {"never": False}, "type": "object", "properties": {"x": {"$ref": "#/$defs/never"}}, "required": ["x"]},
        # A required recursion with no way out comes first, then a required `false`.
        {"$defs": {"a": {"type": "object", "properties": {"next": {"$ref": "#/$defs/a"}}, "required": ["next"]}},
         "type": "object", "properties": {"b": {"$ref": "#/$defs/a"}, "c": False}, "required": ["b", "c"]},
    ],
)
def test_false_where_the_schema_needs_a_value_is_unsatisfiable(schema):
    with pytest.raises(UnsupportedSchema, match="no JSON value satisfies it"):
        schema_to_grammar(schema, default_max_length=3)


def test_booleans_in_a_schema_left_recursive_are_made_explicit_too():
    schema = {
        "$defs": {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}, "x": True, "y": False},
                        "required": ["next"]}},
        "$ref": "#/$defs/n",
    }
    grammar = schema_to_grammar(schema, default_max_length=3)
    assert "n-next ::= n" in grammar  # still recursive
    assert _rule(grammar, "n-x").startswith("n-x ::= n-x-0 | number")
    assert "y-kv" not in grammar and "n-y" not in grammar


def test_keywords_the_converter_ignores_never_make_a_schema_unsatisfiable():
    # `not: false` admits everything; the grammar leaves `not` to the post-check either way.
    schema = {"$defs": {"never": False}, "type": "object", "properties": {"a": {"type": "integer", "not": {"$ref": "#/$defs/never"}}},
              "required": ["a"]}
    assert "a-kv" in schema_to_grammar(schema, default_max_length=3)


def _random_schema(rng, depth=0):
    """Schemas of every shape the request surface lets through, and some it does not."""
    if depth > 4 or rng.random() < 0.1:
        return rng.choice([True, False, {}, {"type": "string"}, {"$ref": "#/$defs/a"}, {"$ref": "#/$defs/gone"}, 5, None])
    schema = {}
    if (kind := rng.choice(["object", "array", "string", "integer", None, ["string", "null"], "weird"])) is not None:
        schema["type"] = kind
    sub = lambda: _random_schema(rng, depth + 1)  # noqa: E731
    if rng.random() < 0.4:
        schema["properties"] = {f"p{i}": sub() for i in range(rng.randint(0, 4))}
    if rng.random() < 0.3:
        schema["required"] = rng.choice([["p0"], ["p1", "p2"], [], "p0", [["x"]], [5]])
    for key, chance, make in (
        ("items", 0.3, lambda: rng.choice([sub(), [sub()], True, False])),
        ("anyOf", 0.2, lambda: [sub() for _ in range(rng.randint(0, 3))]),
        ("allOf", 0.1, lambda: [sub() for _ in range(rng.randint(0, 2))]),
        ("prefixItems", 0.1, lambda: [sub() for _ in range(rng.randint(0, 2))]),
        ("additionalProperties", 0.2, sub),
        ("not", 0.1, sub),
        ("pattern", 0.1, lambda: rng.choice(["^a{0,5}$", "^*$", "^(a|b){2,}$", "^[a-z]{0,1001}$", "a", "^(?=x)$", 5])),
        ("enum", 0.05, lambda: rng.choice([[1, "a"], [], "x"])),
        ("format", 0.05, lambda: rng.choice(["date", "uuid", 5])),
    ):
        if rng.random() < chance:
            schema[key] = make()
    for key in ("minLength", "maxLength", "minItems", "maxItems"):
        if rng.random() < 0.1:
            schema[key] = rng.choice([0, 3, 1000, 1001, 20000, 2.0, 2.5, -1, True, "5", 1e12])
    return schema


def test_random_schemas_compile_to_a_safe_grammar_or_are_unsupported():
    import random

    from vertexcompat.engine.grammar_bounds import check_grammar

    rng = random.Random(12)
    for _ in range(500):
        schema = _random_schema(rng)
        if not isinstance(schema, dict):
            schema = {"type": "object", "properties": {"x": schema}}
        if rng.random() < 0.5:
            schema["$defs"] = {"a": _random_schema(rng, 1)}
        try:
            check_grammar(schema_to_grammar(schema, default_max_length=8))
        except UnsupportedSchema:
            pass


def test_keys_take_a_bare_colon_when_asked_and_any_space_by_default():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    loose = schema_to_grammar(schema, default_max_length=16)
    tight = schema_to_grammar(schema, default_max_length=16, colon_space=False)
    # The converter's spelling the option rewrites is still there (else it would do nothing).
    assert 'space ":" space' in loose
    assert 'space ":" space' not in tight and '":"' in tight
