"""The bounds on what reaches llama.cpp's grammar parser (engine/grammar_bounds.py): schema
checks, the GBNF scan, and — in a subprocess, so a crash cannot take pytest down — that the
real llama.cpp accepts what the bounds let through and is never handed what crashed it."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import platformdirs
import pytest

from vertexcompat.engine import grammar_bounds
from vertexcompat.engine.grammar_bounds import (
    MAX_GRAMMAR_CHARS,
    MAX_GRAMMAR_NESTING,
    MAX_OPTIONAL_PROPERTIES,
    MAX_REPETITION,
    MAX_SCHEMA_DEPTH,
    GrammarBudget,
    GrammarLimitError,
    check_depth,
    check_grammar,
    check_schema_bounds,
    pattern_weight,
)


def refusal(check, value) -> str:
    with pytest.raises(GrammarLimitError) as info:
        check(value)
    return str(info.value)


# -- schemas ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "says"),
    [
        ({"type": "string", "maxLength": 20000}, "maxLength 20000 exceeds the limit of 1000"),
        ({"type": "string", "minLength": 5000}, "minLength 5000 exceeds the limit of 1000"),
        ({"type": "array", "maxItems": 50000}, "maxItems 50000 exceeds the limit of 1000"),
        ({"type": "array", "minItems": 1001}, "minItems 1001 exceeds the limit of 1000"),
        ({"type": "object", "maxProperties": 2000}, "maxProperties 2000 exceeds the limit of 1000"),
        ({"type": "string", "maxLength": 1e12}, "maxLength 1000000000000 exceeds the limit of 1000"),
        ({"type": "string", "maxLength": 10**400}, "maxLength a number above 10^15 exceeds"),
        ({"type": "string", "maxLength": 2.5}, "maxLength must be a non-negative integer, got 2.5"),
        ({"type": "string", "maxLength": float("inf")}, "maxLength must be a non-negative integer, got inf"),
        ({"type": "string", "maxLength": True}, "maxLength must be a non-negative integer, got true"),
        ({"type": "string", "maxLength": "10"}, "maxLength must be a non-negative integer, got '10'"),
        ({"type": "array", "minItems": -1}, "minItems must be a non-negative integer, got -1"),
        ({"type": "string", "minLength": 5, "maxLength": 3}, "minLength 5 is greater than maxLength 3"),
        ({"type": "string", "pattern": "^a{0,50000}$"}, "pattern quantifier {0,50000} exceeds the limit of 1000"),
        ({"type": "string", "pattern": "^a{20000}$"}, "pattern quantifier {20000} exceeds"),
        ({"type": "string", "pattern": "^a{1001,}$"}, "pattern quantifier {1001,} exceeds"),
        ({"type": "string", "pattern": "^a{0," + "9" * 5000 + "}$"}, "pattern quantifier {0,9999999"),
    ],
)
def test_counts_and_quantifiers_above_the_limit_are_refused_with_the_bound(schema, says):
    assert says in refusal(check_schema_bounds, schema)


@pytest.mark.parametrize(
    "where",
    [
        lambda s: {"type": "object", "properties": {"a": s}},
        lambda s: {"type": "array", "items": s},
        lambda s: {"anyOf": [{"type": "null"}, s]},
        lambda s: {"$defs": {"unused": s}, "type": "integer"},
        lambda s: {"type": "object", "additionalProperties": s},
        lambda s: {"prefixItems": [s]},
    ],
)
def test_counts_are_checked_in_every_subschema(where):
    assert "maxLength 20000" in refusal(check_schema_bounds, where({"type": "string", "maxLength": 20000}))


def test_limits_themselves_and_keyword_lookalikes_pass():
    check_schema_bounds({
        "type": "object",
        "properties": {
            "text": {"type": "string", "minLength": MAX_REPETITION, "maxLength": MAX_REPETITION},
            "list": {"type": "array", "maxItems": float(MAX_REPETITION)},  # 1000.0 is an integer
            # A property *named* maxLength, and data that merely looks like a bound:
            "maxLength": {"type": "integer", "default": 10**6, "enum": [{"maxLength": 10**6}]},
            "code": {"type": "string", "pattern": r"^\{50000}[{99999}]a{1000}$"},
        },
    })


def test_pattern_weight_sums_the_quantifiers_outside_escapes_and_classes():
    assert pattern_weight(r"^[A-Z]{2}-\d{0,10}\{500}[{9}]x{3,}$") == 2 + 10 + 3


def test_depth_is_measured_without_recursion():
    deep: list = []
    for _ in range(100_000):  # far past Python's recursion limit
        deep = [deep]
    assert f"more than {MAX_SCHEMA_DEPTH} levels deep" in refusal(check_depth, deep)
    cyclic: dict = {}
    cyclic["properties"] = {"self": cyclic}
    assert "levels deep" in refusal(check_schema_bounds, cyclic)
    check_depth(5)


def test_a_schema_95_levels_deep_is_refused():
    schema: dict = {"type": "string"}
    for _ in range(95):
        schema = {"type": "object", "properties": {"a": schema}}
    assert "nested more than 64 levels deep" in refusal(check_schema_bounds, schema)


def test_budget_bounds_nodes_optional_properties_and_total_repetition():
    budget = GrammarBudget()
    with pytest.raises(GrammarLimitError, match="more than 10000 subschemas"):
        for _ in range(10_001):
            budget.node()
    wide = {"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(MAX_OPTIONAL_PROPERTIES + 1)}}
    assert f"at most {MAX_OPTIONAL_PROPERTIES} can be enforced" in refusal(GrammarBudget().spend, wide)
    wide["required"] = ["p0"]  # 128 optional ones are fine
    GrammarBudget().spend(wide)
    names = [f"s{i}" for i in range(132)]
    strings = {"type": "object", "properties": {n: {"type": "string", "maxLength": 1000} for n in names}, "required": names}
    assert "add up to more than 131072" in refusal(GrammarBudget().spend, strings)
    shared = GrammarBudget()  # one grammar's functions share the budget
    for _ in range(6):  # 6 x 100² of the 65536
        shared.spend({"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(100)}})
    with pytest.raises(GrammarLimitError, match="more optional properties between them"):
        shared.spend({"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(100)}})


# -- GBNF text --------------------------------------------------------------------------------


def nested(n: int) -> str:
    return 'root ::= "\\"" ' + "(char " * n + ")?" * n + ' "\\""\nchar ::= [a-z]\n'


@pytest.mark.parametrize(
    ("grammar", "says"),
    [
        ('root ::= "a"{0,5000}', "repeats an item {0,5000} times, more than the limit of 1000"),
        ('root ::= "a"{2001}', "repeats an item {2001} times"),
        ('root ::= [a-z]{1001,}', "repeats an item {1001,} times"),
        ('root ::= x{5,2}\nx ::= "a"', "maximum is below its minimum"),
        ("root ::= " + "(" * 2000 + '"a"' + ")" * 2000, f"nests groups more than {MAX_GRAMMAR_NESTING} deep"),
        (nested(1001), "too complex for llama.cpp"),
        ('root ::= (("a")?){667}', "a group of 3 rules repeated 667 times"),
        ('root ::= x', "undefined rule 'x'"),
        ('root ::= ("a"', "unclosed group"),
        ('root ::= "a")', "unbalanced ')'"),
        ('root ::= *', "repeats nothing"),
        ('root ::= "a" ; x', "cannot be parsed at offset"),
        ('root ::= "' + "a" * MAX_GRAMMAR_CHARS + '"', f"more than the limit of {MAX_GRAMMAR_CHARS}"),
    ],
)
def test_grammar_scan_refuses_what_llama_cpp_would_crash_on_or_refuse(grammar, says):
    assert says in refusal(check_grammar, grammar)


@pytest.mark.parametrize(
    "grammar",
    [
        nested(1000),
        'root ::= (("a")?){666}',
        'root ::= ("a"?){1000}',
        # Braces, parentheses and bars inside literals and classes are text, not syntax.
        'root ::= "{0,99999} ((( |" [{}()|\\]] "\\"" # comment {0,99999}\n  x\nx ::= "\\\\"',
        'root ::= [ \\t\\n]{0,4} <[12]> .',
    ],
)
def test_grammar_scan_accepts_what_llama_cpp_accepts(grammar):
    check_grammar(grammar)


def test_every_grammar_the_engine_writes_passes_the_scan():
    from llama_cpp.llama_grammar import JSON_GBNF

    from vertexcompat.engine.svg_grammar import SvgGrammarSpec, svg_grammar

    check_grammar(JSON_GBNF)
    check_grammar(svg_grammar(SvgGrammarSpec(width=512, height=384)))


# -- the real llama.cpp, in a subprocess ------------------------------------------------------

# Runs in a child process: builds each case's grammar the way the engine does, with the
# engine's own verify step (llama.cpp parsing it), and reports what happened. A segfault
# kills only the child, and the test sees it as a non-zero exit.
_CHILD = textwrap.dedent(
    """
    import ctypes, io, json, logging, sys
    import llama_cpp
    from vertexcompat.engine.constraints import GrammarCache, UnsupportedSchema
    from vertexcompat.engine.llama_log import route_llama_logs
    from vertexcompat.engine.sampling import grammar_sampler

    route_llama_logs()
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    logging.getLogger("vertexcompat.llama_cpp").addHandler(handler)
    logging.getLogger("vertexcompat.llama_cpp").setLevel(logging.WARNING)
    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    model = llama_cpp.llama_model_load_from_file(sys.argv[1].encode(), params)
    vocab = llama_cpp.llama_model_get_vocab(model)
    parsed = []

    def verify(grammar):
        sampler = grammar_sampler(vocab, grammar)
        if sampler is None:
            raise UnsupportedSchema("llama.cpp could not parse the grammar compiled from it")
        parsed.append(len(grammar))
        llama_cpp.llama_sampler_free(sampler)

    cache = GrammarCache(verify=verify)
    results = []
    for schema in json.loads(sys.argv[2]):
        try:
            cache.grammar_for(schema)
            results.append("ok")
        except UnsupportedSchema as exc:
            results.append("unsupported: " + str(exc))
    # A grammar llama.cpp refuses, straight to it: its own log line through our callback.
    refused = grammar_sampler(vocab, 'root ::= "a"{2001}')
    print(json.dumps({"results": results, "parsed": parsed, "refused": refused is None,
                      "log": log.getvalue()}))
    """
)


def _tiny_model() -> Path:
    from vertexcompat.engine.model_files import ModelCatalog

    data_dir = os.environ.get("VERTEXCOMPAT_TEST_DATA_DIR") or platformdirs.user_cache_dir(
        "vertexcompat-tests"
    )
    # `make test` installs the tiny model; without it this proof must fail, not skip.
    return ModelCatalog(Path(data_dir), progress=False).resolve("smollm2-135m-instruct").path


def test_real_llama_cpp_accepts_the_limits_and_never_sees_the_crashing_schemas():
    at_limit = [
        {"type": "string", "maxLength": MAX_REPETITION},
        {"type": "array", "items": {"type": "integer"}, "maxItems": MAX_REPETITION},
        {"type": "string", "pattern": f"^[a-z]{{0,{MAX_REPETITION}}}$"},
        {"type": "object", "properties": {"user": True, "gone": False}},
    ]
    # Each of these segfaulted the server, or made llama.cpp refuse (and print) a grammar.
    crashing = [
        {"type": "string", "maxLength": 20000},
        {"type": "array", "items": {"type": "integer"}, "maxItems": 50000},
        {"type": "string", "pattern": "^a{0,50000}$"},
        {"type": "string", "maxLength": 12000},
        {"type": "string", "pattern": "^(a{0,1000})?$"},  # llama.cpp's repetition threshold
    ]
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(_tiny_model()), json.dumps(at_limit + crashing)],
        capture_output=True, timeout=120, text=True,
    )
    assert child.returncode == 0, f"the child died ({child.returncode}): {child.stderr[-2000:]}"
    report = json.loads(child.stdout)
    assert report["results"][: len(at_limit)] == ["ok"] * len(at_limit)
    assert len(report["parsed"]) == len(at_limit)  # only these reached llama.cpp
    for result in report["results"][len(at_limit):]:
        assert result.startswith("unsupported: ")
        assert "exceeds the limit of 1000" in result or "too complex for llama.cpp" in result
    # llama.cpp does refuse that grammar; what reached Python logging about it is short.
    assert report["refused"]
    assert "failed to parse grammar" in report["log"]
    assert all(len(line) < 2100 for line in report["log"].splitlines())


def test_long_llama_cpp_log_messages_are_cut(caplog):
    from vertexcompat.engine.llama_log import _forward, truncate

    assert truncate(b"short message\n") == "short message"
    cut = truncate(b"x" * 100_000)
    assert cut == "x" * 2048 + "… (97952 bytes elided)"
    # A multi-byte character cut at the boundary is dropped, not mangled.
    assert truncate("é".encode() * 2000).endswith("é… (1952 bytes elided)")
    with caplog.at_level("ERROR", logger="vertexcompat.llama_cpp"):
        _forward(4, b"root ::= " + b"(char " * 50_000, None)
    (record,) = caplog.records
    assert len(record.getMessage()) < 2100 and "bytes elided" in record.getMessage()


def test_the_documented_limits_are_the_ones_enforced():
    assert grammar_bounds.MAX_REPETITION == 1000
    assert grammar_bounds.LLAMA_REPETITION_THRESHOLD == 2000
