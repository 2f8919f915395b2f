"""Schema → GBNF compilation and the engine's grammar cache (no model needed)."""

import pytest

from vertexcompat.engine.constraints import (
    GrammarCache,
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
