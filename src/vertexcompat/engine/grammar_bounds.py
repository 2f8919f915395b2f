"""The bounds on what may reach llama.cpp's grammar parser, checked in Python first.

llama.cpp's GBNF parser recurses once per nested group and trusts its input: a deep enough
grammar overflows the C stack and kills the whole process, with no traceback. A grammar it
refuses is written whole to stderr (`fprintf`, not its log callback). So every JSON Schema is
checked before it is compiled (`check_schema_bounds` on the request's schema, `GrammarBudget`
on what the converter will actually see), and every grammar text before llama.cpp parses it
(`check_grammar`). Each check raises `GrammarLimitError` with a message that states the bound;
engine/constraints.py turns it into `UnsupportedSchema`, a 400.

Measured on this machine (llama-cpp-python 0.3.36's libllama, x86-64, parsing in a thread;
tests/unit/engine/test_grammar_bounds.py re-checks the llama.cpp side in a subprocess):

- the converter writes `maxLength: n`, `maxItems: n` and a `{0,n}` pattern quantifier as n
  nested optional groups, `(char (char (char)?)?)?`. The parser uses ~450 bytes of C stack
  per level: it segfaults at 18,706 levels with an 8 MiB thread stack (the default here),
  4,662 with 2 MiB, 1,151 with 512 KiB;
- well before that it refuses n >= 1,001 ("number of rules that are going to be repeated
  multiplied by the new repetition exceeds sane defaults": each level is two generated
  rules and it refuses more than 2,000), so 1,000 is the most it can enforce at all;
- `x{m,n}` in GBNF: m > 2,000 is refused, n > 2,000 silently becomes unbounded.

So `MAX_REPETITION` is 1,000: everything llama.cpp accepts today keeps working, and the
deepest grammar it allows is ~18x below the crash on the default stack. The parse costs
~0.33 s per MB of grammar and runs again for every constrained candidate, which is what
`MAX_GRAMMAR_CHARS` bounds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

MAX_REPETITION = 1000
# llama.cpp's own MAX_REPETITION_THRESHOLD (src/llama-grammar.cpp).
LLAMA_REPETITION_THRESHOLD = 2000
# JSON nesting (every object and array counts) of a schema; the converter, `copy.deepcopy`
# and jsonschema all recurse over it. Real schemas stay far below; 95 schema levels (190
# here) already exhausted Python's recursion limit in jsonschema.
MAX_SCHEMA_DEPTH = 64
# Subschemas once recursive `$ref`s are unrolled, and how deep that unrolling may nest: a
# chain of `$defs` that each reference the next twice would otherwise expand exponentially.
MAX_SCHEMA_NODES = 10_000
MAX_EXPANDED_DEPTH = 128
# The converter spends ~k² steps on an object with k optional properties (900 of them took
# 2.9 s here, 128 ~25 ms): k per object, and k² summed over one grammar (ten objects of 80,
# or 650 objects of 10) are bounded.
MAX_OPTIONAL_PROPERTIES = 128
MAX_OPTIONAL_SQUARES = 65_536
# Length and item bounds summed over one grammar: each unit is ~8 characters of GBNF, so the
# converter never builds much more text than `MAX_GRAMMAR_CHARS` lets through. A free string
# (default cap 256) costs ~2 KB: a tool set with ~500 of them still fits, and the parse of
# the largest grammar allowed stays ~0.33 s.
MAX_TOTAL_REPETITION = 131_072
MAX_GRAMMAR_CHARS = 1024 * 1024
# Parenthesis nesting in GBNF text: the crash above, whatever produced the text. 1,000 nested
# optionals (the deepest llama.cpp accepts) plus the groups around them.
MAX_GRAMMAR_NESTING = 1024

_COUNTS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties")
_PAIRS = (("minLength", "maxLength"), ("minItems", "maxItems"), ("minProperties", "maxProperties"))
# Keywords whose value is one subschema / a name → subschema map / a list of subschemas.
_ONE = (
    "items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
    "additionalItems", "unevaluatedItems", "unevaluatedProperties", "contentSchema",
)
_MAP = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_LIST = ("anyOf", "oneOf", "allOf", "prefixItems", "items")


class GrammarLimitError(ValueError):
    """The schema or grammar is past a bound llama.cpp can be trusted with; the message says
    which bound."""


def show(value: Any) -> str:
    """A short rendering of a request value for a message (never a 10,000-digit number)."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, int):
        return str(value) if abs(value) < 10**15 else "a number above 10^15"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:40] + "…")
    return f"a JSON {'array' if isinstance(value, list) else 'object'}"


def check_depth(value: Any, limit: int = MAX_SCHEMA_DEPTH) -> None:
    """Raise unless `value` nests at most `limit` objects/arrays deep. Iterative, so measuring
    a deep document cannot itself exhaust the stack (and a cyclic one ends here too)."""
    if not isinstance(value, dict | list):
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > limit:
            raise GrammarLimitError(
                f"the schema is nested more than {limit} levels deep (counting every JSON "
                "object and array), more than can be enforced while decoding"
            )
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))


def subschemas(schema: Any) -> Iterator[dict[str, Any]]:
    """Every schema object in `schema`, the root included, in no particular order. Only
    keyword positions are followed: a property *named* `maxLength` is not a keyword."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        yield node
        for key in _ONE:
            if isinstance(node.get(key), dict):
                stack.append(node[key])
        for key in _MAP:
            if isinstance(node.get(key), dict):
                stack.extend(node[key].values())
        for key in _LIST:
            if isinstance(node.get(key), list):
                stack.extend(node[key])


def _count(keyword: str, value: Any) -> int:
    integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not integral or value < 0:
        raise GrammarLimitError(f"{keyword} must be a non-negative integer, got {show(value)}")
    if value > MAX_REPETITION:
        raise GrammarLimitError(
            f"{keyword} {show(value)} exceeds the limit of {MAX_REPETITION} that can be "
            "enforced while decoding"
        )
    return int(value)


def _quantifiers(pattern: str) -> Iterator[tuple[str, list[str]]]:
    """The `{...}` quantifiers of a regular expression as the converter reads them (escapes
    and character classes skipped): the quantifier's text and its comma-separated parts."""
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
        elif c == "[":
            i += 1
            while i < n and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
            i += 1
        elif c == "{":
            end = pattern.find("}", i)
            if end < 0:
                return  # the converter refuses an unbalanced brace itself
            yield pattern[i : end + 1], [p.strip() for p in pattern[i + 1 : end].split(",")]
            i = end + 1
        else:
            i += 1


def pattern_weight(pattern: str) -> int:
    """The sum of `pattern`'s quantifier bounds; raises when one exceeds MAX_REPETITION."""
    total = 0
    for text, parts in _quantifiers(pattern):
        bounds = [p for p in parts if p.isascii() and p.isdigit()]
        if any(len(b) > 6 or int(b) > MAX_REPETITION for b in bounds):
            shown = text if len(text) <= 40 else text[:40] + "…"
            raise GrammarLimitError(
                f"pattern quantifier {shown} exceeds the limit of {MAX_REPETITION} that can be "
                "enforced while decoding"
            )
        total += max((int(b) for b in bounds), default=0)
    return total


def check_schema_bounds(schema: Any) -> None:
    """Raise unless every length/item/property count and pattern quantifier in `schema` is
    an integer within MAX_REPETITION, no minimum exceeds its maximum, and the schema nests at
    most MAX_SCHEMA_DEPTH deep. Run on the request's schema before anything else reads it."""
    check_depth(schema)
    for node in subschemas(schema):
        counts = {key: _count(key, node[key]) for key in _COUNTS if key in node}
        for low, high in _PAIRS:
            if low in counts and high in counts and counts[low] > counts[high]:
                raise GrammarLimitError(
                    f"{low} {counts[low]} is greater than {high} {counts[high]}: no value "
                    "satisfies it"
                )
        if isinstance(node.get("pattern"), str):
            pattern_weight(node["pattern"])


class GrammarBudget:
    """What one grammar may still spend; a calls grammar shares one across its functions.

    `node` is charged while `$ref`s are unrolled; `spend` walks the expanded schema the
    converter is about to compile and charges its repetitions."""

    def __init__(self) -> None:
        self.nodes_left = MAX_SCHEMA_NODES
        self.repetition_left = MAX_TOTAL_REPETITION
        self.optional_squares_left = MAX_OPTIONAL_SQUARES

    def node(self) -> None:
        self.nodes_left -= 1
        if self.nodes_left < 0:
            raise GrammarLimitError(
                f"the schema expands to more than {MAX_SCHEMA_NODES} subschemas once its "
                "`$ref`s are unrolled, more than can be enforced while decoding"
            )

    def spend(self, schema: Any) -> None:
        for node in subschemas(schema):
            optional = _optional_properties(node)
            if optional > MAX_OPTIONAL_PROPERTIES:
                raise GrammarLimitError(
                    f"an object with {optional} optional properties: at most "
                    f"{MAX_OPTIONAL_PROPERTIES} can be enforced while decoding (list more "
                    "of them in `required`)"
                )
            self.optional_squares_left -= optional * optional
            if self.optional_squares_left < 0:
                raise GrammarLimitError(
                    "the objects in this schema have more optional properties between them "
                    f"than can be enforced while decoding (k² summed over objects with k "
                    f"optional properties exceeds {MAX_OPTIONAL_SQUARES}; list more of them in "
                    "`required`)"
                )
            cost = max((_int_or_zero(node.get(k)) for k in ("minLength", "maxLength")), default=0)
            cost += max((_int_or_zero(node.get(k)) for k in ("minItems", "maxItems")), default=0)
            if isinstance(node.get("pattern"), str):
                cost += pattern_weight(node["pattern"])
            self.repetition_left -= cost
            if self.repetition_left < 0:
                raise GrammarLimitError(
                    "the length, item and pattern bounds in this schema add up to more than "
                    f"{MAX_TOTAL_REPETITION}, the most one grammar can enforce while decoding"
                )


def _int_or_zero(value: Any) -> int:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return int(value) if number and math.isfinite(value) else 0


def _optional_properties(node: dict[str, Any]) -> int:
    properties = node.get("properties")
    if not isinstance(properties, dict):
        return 0
    required = node.get("required")
    names = set(required) if isinstance(required, list) and all(isinstance(r, str) for r in required) else set()
    return sum(1 for name in properties if name not in names)


# -- GBNF text ----------------------------------------------------------------------------

# One token of GBNF as llama.cpp's parser reads it (src/llama-grammar.cpp: parse_space,
# parse_name, parse_char, parse_sequence); whitespace and comments are skipped. A rule starts
# at a name followed by `::=`.
_GBNF_TOKEN = re.compile(
    r"""
      [ \t\r\n]+|\#[^\r\n]*
    | (?P<rule>[a-zA-Z0-9-]+)[ \t]*::=
    | (?P<name>[a-zA-Z0-9-]+)
    | (?P<item>"(?:[^"\\]|\\.)*"|\[(?:[^\]\\]|\\.)*\]|!?<[^>\s]*>|\.)
    | (?P<open>\()
    | (?P<close>\))
    | (?P<alt>\|)
    | (?P<op>[*+?])
    | (?P<braces>\{\s*(?P<min>\d+)\s*(?:(?P<comma>,)\s*(?P<max>\d*)\s*)?\})
    | (?P<bad>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_OPS = {"*": (0, None), "+": (1, None), "?": (0, 1)}


def _repetition_bound(digits: str) -> int:
    return int(digits) if len(digits) <= 7 else 10**7


def check_grammar(text: str) -> None:
    """Raise unless llama.cpp can parse `text` safely and will accept it: at most
    MAX_GRAMMAR_CHARS long, parentheses nested at most MAX_GRAMMAR_NESTING deep, no `{m,n}`
    bound above MAX_REPETITION (outside literals and character classes), and none of the
    refusals llama.cpp's parser would print the whole grammar for (its repetition threshold,
    an undefined rule, an unbalanced group) — those are mirrored here so they never reach it."""
    if len(text) > MAX_GRAMMAR_CHARS:
        raise GrammarLimitError(
            f"the grammar compiled from it is {len(text)} characters, more than the limit of "
            f"{MAX_GRAMMAR_CHARS}"
        )
    # llama.cpp's symbol table: every rule name, referenced or defined, and every rule it
    # generates for a group or a repetition. Per open sequence (a rule body, then one per
    # group): the symbol count where it began, `n_prev_rules` (the symbols the last item
    # stands for: a repetition of it is refused when that times its count exceeds 2000),
    # and whether an item precedes. Flat lists, indexed by nesting level, for speed.
    names: set[str] = set()
    defined: set[str] = set()
    symbols = 0
    began: list[int] = []
    n_prev: list[int] = []
    has_item: list[bool] = []
    for token in _GBNF_TOKEN.finditer(text):
        kind = token.lastgroup
        if kind is None:  # whitespace or a comment
            continue
        if kind == "item":
            if not began:
                raise GrammarLimitError("the grammar compiled from it does not start with a rule")
            n_prev[-1], has_item[-1] = 1, True
        elif kind == "name":
            if not began:
                raise GrammarLimitError("the grammar compiled from it does not start with a rule")
            name = token.group()
            if name not in names:
                names.add(name)
                symbols += 1
            n_prev[-1], has_item[-1] = 1, True
        elif kind == "open":
            if not began:
                raise GrammarLimitError("the grammar compiled from it does not start with a rule")
            if len(began) > MAX_GRAMMAR_NESTING:
                raise GrammarLimitError(
                    f"the grammar compiled from it nests groups more than {MAX_GRAMMAR_NESTING} deep"
                )
            began.append(symbols)
            n_prev.append(1)
            has_item.append(False)
            symbols += 1
        elif kind == "close":
            if len(began) < 2:
                raise GrammarLimitError("the grammar compiled from it has an unbalanced ')'")
            inner = began.pop()
            n_prev.pop()
            has_item.pop()
            n_prev[-1], has_item[-1] = max(1, symbols - inner), True
        elif kind == "op" or kind == "braces":
            if not began or not has_item[-1]:
                raise GrammarLimitError("the grammar compiled from it repeats nothing")
            if kind == "op":
                low, high = _OPS[token.group()]
            else:
                low = _repetition_bound(token.group("min"))
                high = low if token.group("comma") is None else (
                    _repetition_bound(token.group("max")) if token.group("max") else None
                )
                if high is not None and high < low:
                    raise GrammarLimitError(
                        f"the grammar compiled from it has a repetition {token.group()} "
                        "whose maximum is below its minimum"
                    )
                if low > MAX_REPETITION or (high is not None and high > MAX_REPETITION):
                    raise GrammarLimitError(
                        f"the grammar compiled from it repeats an item {token.group()} "
                        f"times, more than the limit of {MAX_REPETITION}"
                    )
            total = high if high else (low if low else 1)
            if n_prev[-1] * total > LLAMA_REPETITION_THRESHOLD:
                raise GrammarLimitError(
                    "the grammar compiled from it is too complex for llama.cpp: a group of "
                    f"{n_prev[-1]} rules repeated {total} times (llama.cpp refuses more than "
                    f"{LLAMA_REPETITION_THRESHOLD})"
                )
            symbols += 1 if high is None else high - low
            n_prev[-1] *= total
        elif kind == "alt":
            if not began:
                raise GrammarLimitError("the grammar compiled from it does not start with a rule")
            n_prev[-1], has_item[-1] = 1, False
        elif kind == "rule":
            if len(began) > 1:
                raise GrammarLimitError("the grammar compiled from it has an unclosed group")
            name = token.group("rule")
            if name not in names:
                names.add(name)
                symbols += 1
            defined.add(name)
            began, n_prev, has_item = [symbols], [1], [False]
        else:
            raise GrammarLimitError(
                f"the grammar compiled from it cannot be parsed at offset {token.start()}"
            )
    if len(began) > 1:
        raise GrammarLimitError("the grammar compiled from it has an unclosed group")
    undefined = names - defined
    if undefined:
        raise GrammarLimitError(
            f"the grammar compiled from it refers to an undefined rule {sorted(undefined)[0]!r}"
        )
