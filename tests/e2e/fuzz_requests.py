"""Request fuzzing shared by `tests/e2e/test_fuzz.py` and `bench/fuzz.py`.

Hypothesis strategies that start from VALID requests — a chat completion (messages, tools,
response_format, thinking, stream, n, media parts, …), an `images.generate` body, a
form-encoded JWT-bearer grant for `/token`, a chat request with a real access token — and
break them: one to three mutations at any field of the JSON tree (another JSON type, huge,
negative or non-finite numbers, long strings, lone surrogates, deep nesting, unknown keys,
removed fields), or at the bytes (truncated, invalid UTF-8, not an object), the headers,
the URL path, the JWT's segments and (re-signed with a real key) its claims.

Every case must stay cheap, so the strategies never ask for a long generation. Most chat
requests carry `max_tokens` = the server's context window minus one (`window`): that fits
no prompt, and the server can only tell at admission — after validation, translation,
grammar compilation, prompt rendering and tokenization — so such a request runs every
step but decoding and is answered 400 (a value past the window itself could be refused
before all that, and the fuzzing would stay shallow). A request with media parts asks for
one token instead: the server refuses a prompt that cannot fit before it reads any media,
so only an admitted request reaches perception. One in `DECODE_ONE_IN`
decodes for real, at most `MAX_TOKENS` tokens per candidate. An image prompt that may still be valid is padded past
the context (`prompt_guard_words`): the images route has no `max_tokens`.

`send_case` sends one case and returns its `Outcome`: the status, the latency, and what was
wrong with it (a 5xx, a dropped connection, a timeout, an error body of the wrong shape, a
stream that ended in an error frame). `server_traceback` finds a 5xx's traceback in the
server log by the request id the 500 body carries.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import re
import struct
import time
import wave
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# Small enough that a request that stays valid costs a few decode steps on the tiny model.
MAX_TOKENS = 4
# The test servers' context per sequence (tests/e2e/conftest.py's tiny_server).
DEFAULT_WINDOW = 2048
# The share of chat cases that may decode (the rest end at admission, see above). A
# decoding case costs 0.1-1 s on 2 idle cores (5-15 s on busy ones); a rejection a few ms.
DECODE_ONE_IN = 40
MAX_BODY_BYTES = 256 * 1024
# "apple" is one token per word on the test models; 2600 of them overflow a 2048-token
# context, so an otherwise valid image prompt is refused (400) before anything is drawn.
DEFAULT_PROMPT_GUARD_WORDS = 2600

ERROR_KEYS = {"code", "message", "status", "type", "param", "details"}
_REQUEST_ID = re.compile(r"request id ([0-9a-f]+)")
_LOG_RECORD = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|INFO:|WARNING:|ERROR:|DEBUG:)")

Json = Any


# -- JSON that Python's encoder will not write ----------------------------------------------


class Raw(str):
    """JSON text spliced into a body verbatim: `1e400`, `NaN`, a 5000-digit integer, 5000
    levels of `[`, … (json.dumps cannot write some of these, or would recurse too deep)."""


def encode_json(value: Json, *, ascii_only: bool = True) -> bytes:
    """`value` as JSON bytes, `Raw` pieces spliced in. `ascii_only` writes lone surrogates
    as `\\ud800` escapes (valid JSON, invalid Unicode); otherwise they become raw
    surrogate bytes (invalid UTF-8)."""
    raws: list[str] = []

    def mark(v: Json) -> Json:
        if isinstance(v, Raw):
            raws.append(str(v))
            return f"\x00RAW{len(raws) - 1}\x00"
        if isinstance(v, dict):
            return {k: mark(x) for k, x in v.items()}
        if isinstance(v, list):
            return [mark(x) for x in v]
        return v

    text = json.dumps(mark(value), ensure_ascii=ascii_only)
    for i, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\x00RAW{i}\x00", ensure_ascii=ascii_only), raw, 1)
    return text.encode("utf-8", errors="surrogatepass")


def deep(depth: int, kind: str = "list") -> Raw:
    if kind == "list":
        return Raw("[" * depth + "]" * depth)
    return Raw('{"a":' * depth + "1" + "}" * depth)


# -- media payloads -------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int = 4, height: int = 4, *, idat: bytes | None = None) -> bytes:
    """A grey RGB PNG; `idat` overrides the pixel data (to lie about the size)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    if idat is None:
        idat = zlib.compress(b"".join(b"\x00" + b"\x80" * (3 * width) for _ in range(height)))
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
            + _png_chunk(b"IEND", b""))


def wav(seconds: float = 0.2, rate: int = 16000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x01" * int(seconds * rate))
    return out.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


TINY_PNG = png()
TINY_WAV = wav()
TINY_PNG_B64 = _b64(TINY_PNG).encode()
TINY_WAV_B64 = _b64(TINY_WAV).encode()
BAD_IMAGES = {
    "truncated png": TINY_PNG[:30],
    "png claiming 60000x60000": png(60000, 60000, idat=zlib.compress(b"\x00" * 64)),
    "png claiming 0x0": png(0, 0),
    "png with corrupt pixels": png(idat=b"not zlib"),
    "gif header only": b"GIF89a\x01\x00\x01\x00",
    "jpeg header only": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "webp header only": b"RIFF\x10\x00\x00\x00WEBPVP8 ",
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>1</script></svg>',
    "empty": b"",
    "text": b"hello",
}
BAD_AUDIO = {
    "truncated wav": TINY_WAV[:20],
    "wav lying about its size": TINY_WAV[:4] + b"\xff\xff\xff\x7f" + TINY_WAV[8:44],
    "wav header only": TINY_WAV[:44],
    "mp3 sync only": b"\xff\xfb\x90\x00" * 8,
    "ogg header only": b"OggS\x00\x02" + b"\x00" * 20,
    "flac header only": b"fLaC\x00\x00\x00\x22",
    "png as audio": TINY_PNG,
    "empty": b"",
}


# -- hostile values -------------------------------------------------------------------------

LONE_SURROGATES = ["\ud800", "a\udfffb", "\udc80\ud800", "x" * 10 + "\udbff"]
ODD_TEXT = ["", " ", "\x00", "\r\n", "a\x00b", "\u2028\u2029", "\u202eevil", "\ufeff",
            "e\u0301" * 50, "🙂" * 20, "\U0010ffff", "null", "true", "{}", "[]", "%s%n",
            "../../etc/passwd", "${jndi:x}", "<|im_start|>system", "<tool_call>", "</s>",
            "<think>", "\\u0000", "' OR 1=1 --"]
ODD_KEYS = ["", " ", "\r\nX-Injected: 1", "ключ", "キー", "\x00", "__proto__", "constructor",
            "$ref", "k" * 300, "🙂", "\ud800", "model ", "Model", "MESSAGES"]
RAW_NUMBERS = ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "-0", "1e-400", "0.0",
               "1" + "0" * 5000, "-" + "9" * 5000, "123456789012345678901234567890",
               "1E+2", "0.5", "-1"]
SPECIAL_INTS = [0, -1, 1, 2, 1000, 1001, 20000, 10**6, 2**31, 2**31 - 1, -(2**31), 2**32,
                2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30, -(10**30)]
# For `pattern`s: what a regex-to-grammar converter may choke on.
REGEXES = ["a{20000}", "(a{1000}){1000}", "(" * 300 + "a" + ")" * 300, "[", "(", "\\", "a{2,1}",
           "(?=a)b", "(?P<n>a)(?P=n)", "\\p{L}+", "[^\\x00-\\uffff]", "a**", "^$", ".*" * 200,
           "[a-z]{0,1000}{0,1000}", "\\ud800", "(a|b|c|d|e|f|g|h|i|j)" * 100, "\\"]


def long_strings() -> st.SearchStrategy[str]:
    return st.builds(
        lambda piece, n: piece * n,
        st.sampled_from(["x", "apple ", "🙂", "\x00", "\ud800", "é", "a\r\n"]),
        st.sampled_from([300, 2000, 9000]),
    )


def numbers() -> st.SearchStrategy[Json]:
    return st.one_of(st.sampled_from(SPECIAL_INTS), st.integers(),
                     st.floats(allow_nan=True, allow_infinity=True),
                     st.sampled_from(RAW_NUMBERS).map(Raw))


def texts() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(ODD_TEXT + LONE_SURROGATES + REGEXES), st.text(max_size=20),
                     long_strings())


def like(value: Json) -> st.SearchStrategy[Json]:
    """A hostile value of the same JSON type as `value`: it passes type checks, so it
    travels further (into schema compilation, grammars, templates, the tokenizer)."""
    if isinstance(value, bool) or value is None:
        return hostile_values()
    if isinstance(value, int | float):
        return numbers()
    if isinstance(value, str):
        return texts()
    if isinstance(value, list):
        return st.one_of(st.lists(scalars(), max_size=4), st.just([]),
                         st.builds(lambda v: [v] * 300, st.sampled_from(SPECIAL_INTS + ["a"])))
    return st.one_of(st.just({}), st.dictionaries(st.sampled_from(ODD_KEYS), scalars(),
                                                  max_size=3))


def scalars() -> st.SearchStrategy[Json]:
    return st.one_of(
        st.none(), st.booleans(),
        st.sampled_from(SPECIAL_INTS), st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(RAW_NUMBERS).map(Raw),
        st.sampled_from(ODD_TEXT + LONE_SURROGATES),
        st.text(max_size=20),
        st.text(st.characters(codec=None, exclude_categories=()), max_size=10),
        st.sampled_from(["5", "1e3", "auto", "none", "required", "function", "user", "text",
                         "json_schema", "b64_json", "64x64", "16:9", "high", "-1"]),
    )


def hostile_values() -> st.SearchStrategy[Json]:
    small = st.recursive(
        scalars(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(ODD_KEYS)), inner,
                            max_size=3),
        ),
        max_leaves=6,
    )
    return st.one_of(
        small,
        long_strings(),
        st.builds(deep, st.sampled_from([50, 95, 900, 5000]), st.sampled_from(["list", "object"])),
        st.builds(lambda v, n: [v] * (n if len(repr(v)) < 100 else 2), scalars(),
                  st.sampled_from([20, 300])),
    )


# -- the cases ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FuzzCase:
    surface: str  # chat | image | token | auth
    mutation: str  # what was done to the valid request
    method: str
    path: str
    headers: tuple[tuple[str, bytes], ...]
    body: bytes
    # An unmutated request must be accepted: 200, or a 400 naming one of these params
    # (the admission check the strategies lean on to keep cases cheap). Empty: anything.
    valid_unless: tuple[str, ...] = ()

    @property
    def perceives(self) -> bool:
        """Whether the body carries a valid image or audio part (perception runs on it)."""
        return TINY_PNG_B64 in self.body or TINY_WAV_B64 in self.body

    def __repr__(self) -> str:  # short: hypothesis prints it, bodies run to 256 KiB
        return (f"FuzzCase({self.surface}, {self.method} {self.path[:60]!r}, "
                f"{self.mutation[:80]!r}, {len(self.body)} bytes)")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))  # hypothesis' pretty-printer would list every field

    def reproducer(self, base_url: str = "$BASE", *, limit: int = 3000) -> str:
        body = repr(self.body) if len(self.body) <= limit else (
            repr(self.body[:limit]) + f" + ...  # {len(self.body)} bytes in all")
        headers = {k: v.decode("latin-1") for k, v in self.headers}
        return (f"# {self.surface}: {self.mutation}\n"
                f"httpx.request({self.method!r}, {base_url!r} + {self.path!r},\n"
                f"              headers={headers!r},\n"
                f"              content={body})")


def _paths(value: Json, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, Raw):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _show(path: Sequence[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<body>"


def _short(value: Json) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}…({len(text)} chars)"


def _get(tree: Json, path: Sequence[Any]) -> Json:
    for part in path:
        tree = tree[part]
    return tree


def _set(tree: Json, path: Sequence[Any], value: Json) -> Json:
    if not path:
        return value
    _get(tree, path[:-1])[path[-1]] = value
    return tree


@st.composite
def mutate_tree(draw: st.DrawFn, tree: Json, *, times: int = 3) -> tuple[Json, list[str]]:
    """`tree` (deep-copied) with 1..`times` mutations, and what each did."""
    tree = copy.deepcopy(tree)
    notes: list[str] = []
    for _ in range(draw(st.integers(1, times))):
        paths = list(_paths(tree))
        path = draw(st.sampled_from(paths))
        target = _get(tree, path)
        kinds = ["replace", "replace", "same_type", "same_type", "wrap"]
        if path:
            kinds.append("delete")
        if isinstance(target, dict) and not isinstance(target, Raw):
            kinds += ["add_key", "add_key"]
        if isinstance(target, list) and target:
            kinds.append("repeat")
        kind = draw(st.sampled_from(kinds))
        where = _show(path)
        if kind in ("replace", "same_type"):
            value = draw(hostile_values() if kind == "replace" else like(target))
            tree = _set(tree, path, value)
            notes.append(f"{where} = {_short(value)}")
        elif kind == "wrap":
            wrapped = draw(st.sampled_from(["list", "object"]))
            tree = _set(tree, path, [target] if wrapped == "list" else {"value": target})
            notes.append(f"{where} wrapped in a {wrapped}")
        elif kind == "delete":
            del _get(tree, path[:-1])[path[-1]]
            notes.append(f"{where} removed")
        elif kind == "add_key":
            key = draw(st.one_of(st.sampled_from(ODD_KEYS), st.text(max_size=12)))
            value = draw(hostile_values())
            target[key] = value
            notes.append(f"{where} gains key {key!r} = {_short(value)}")
        else:
            times_n = draw(st.sampled_from([2, 17, 100]))
            # Bodies stay modest: a fuzz case must be cheap to send and to parse.
            while times_n > 2 and len(encode_json(target)) * times_n > 64 * 1024:
                times_n //= 4
            target[:] = target * times_n
            notes.append(f"{where} repeated x{times_n}")
    return tree, notes


SCHEMA_NUMBER_KEYWORDS = {  # keyword → the type it applies to
    "maxLength": "string", "minLength": "string", "maxItems": "array", "minItems": "array",
    "maxProperties": "object", "minProperties": "object", "minimum": "integer",
    "maximum": "integer", "multipleOf": "number", "exclusiveMinimum": "number",
    "exclusiveMaximum": "number"}
# Repetition bounds around what a grammar (and llama.cpp's parser) can take. Hypothesis
# favours the front of a list: the ones that broke a server come first.
BIG_BOUNDS = [20000, 2**31 - 1, 1001, 10**6, 65535, 1000, 999, 4096, 2**63 - 1]


def _schema_roots(body: Json) -> list[tuple[Any, ...]]:
    """Where a request body holds JSON schemas (function parameters, response schema)."""
    roots: list[tuple[Any, ...]] = []
    if not isinstance(body, dict):
        return roots
    for i, tool in enumerate(body.get("tools") or []):
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict):
            roots.append(("tools", i, "function", "parameters"))
    for i, function in enumerate(body.get("functions") or []):
        if isinstance(function, dict):
            roots.append(("functions", i, "parameters"))
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and isinstance(fmt.get("json_schema"), dict):
        roots.append(("response_format", "json_schema", "schema"))
    return [r for r in roots if isinstance(_get_or_none(body, r), dict)]


def _get_or_none(tree: Json, path: Sequence[Any]) -> Json:
    try:
        return _get(tree, path)
    except (KeyError, IndexError, TypeError):
        return None


def _nested_schema(depth: int, keyword: str) -> dict[str, Json]:
    schema: dict[str, Json] = {"type": "string"}
    for _ in range(depth):
        schema = ({"type": "array", "items": schema} if keyword == "items" else
                  {"type": "object", "properties": {"p": schema}, "required": ["p"]}
                  if keyword == "properties" else {keyword: [schema, {"type": "null"}]})
    return schema


@st.composite
def mutate_schema(draw: st.DrawFn, body: Json) -> tuple[Json, str]:
    """A JSON-Schema-aware mutation inside one of the body's schemas: the keywords a
    schema-to-grammar compiler turns into repetitions, alternatives, recursion and regexes."""
    body = copy.deepcopy(body)
    root = draw(st.sampled_from(_schema_roots(body)))
    # Subschemas only: not the name → schema maps (`properties`, `$defs`) themselves.
    nodes = [p for p in _paths(_get(body, root)) if isinstance(_get(body, (*root, *p)), dict)
             and not (p and p[-1] in ("properties", "$defs", "definitions"))]
    path = (*root, *draw(st.sampled_from(nodes)))
    node = _get(body, path)
    kind = draw(st.sampled_from(["bound", "pattern", "bound", "number", "pattern", "bound",
                                 "enum", "nest", "ref", "wide", "type", "format", "bool",
                                 "const"]))
    if kind in ("bound", "number"):
        # A repetition bound (what becomes `x{0,N}` in a grammar), or any numeric keyword
        # with any number; on a schema of the type it applies to, so it is not ignored.
        key = draw(st.sampled_from(["maxLength", "maxItems", "minItems", "minLength"]
                                   if kind == "bound" else sorted(SCHEMA_NUMBER_KEYWORDS)))
        node["type"] = SCHEMA_NUMBER_KEYWORDS[key]
        if node["type"] == "array":
            node.setdefault("items", {"type": "string"})
        node[key] = draw(st.sampled_from(BIG_BOUNDS) if kind == "bound" else numbers())
        change = f"{key} = {_short(node[key])}"
    elif kind == "pattern":
        node["type"] = "string"
        node["pattern"] = draw(st.sampled_from(REGEXES))
        change = f"pattern = {_short(node['pattern'])}"
    elif kind == "enum":
        n = draw(st.sampled_from([0, 1, 300, 3000]))
        node["enum"] = draw(st.sampled_from([[f"v{i}" for i in range(n)], [i for i in range(n)],
                                             ["x" * 5000] * min(n, 10), [None, [], {}] * n]))
        change = f"enum of {n}"
    elif kind == "nest":
        keyword = draw(st.sampled_from(["items", "properties", "anyOf", "oneOf", "allOf"]))
        # Around the grammar's depth bound (64) and under and over the body's (100 levels).
        depth = draw(st.sampled_from([10, 30, 63, 65, 90, 200]))
        node.update(_nested_schema(depth, keyword))
        change = f"{keyword} nested {depth} deep"
    elif kind == "ref":
        ref = draw(st.sampled_from(["#", "#/$defs/tag", "#/$defs/missing", "#/properties",
                                    "http://127.0.0.1/schema", "#/$defs/loop", "", "#/",
                                    "#/definitions/x", "%", "#/$defs/\ud800"]))
        node["$ref"] = ref
        if ref == "#/$defs/loop":
            node["$defs"] = {"loop": {"type": "array", "items": {"$ref": "#/$defs/loop"}}}
        change = f"$ref = {ref!r}"
    elif kind == "wide":
        n = draw(st.sampled_from([100, 600, 2000]))
        which = draw(st.sampled_from(["properties", "required", "anyOf"]))
        if which == "properties":
            node.update(type="object", properties={f"p{i}": {"type": "string"} for i in range(n)})
        elif which == "required":
            node["required"] = [f"p{i}" for i in range(n)]
        else:
            node["anyOf"] = [{"const": i} for i in range(n)]
        change = f"{which} with {n} entries"
    elif kind == "type":
        node["type"] = draw(st.sampled_from([["string", "null", "integer", "object", "array",
                                               "boolean", "number"], [], "any", "null", 5,
                                              ["string", "string"], "Integer"]))
        change = f"type = {node['type']!r}"
    elif kind == "format":
        node["type"] = "string"
        node["format"] = draw(st.sampled_from(["date", "date-time", "time", "uuid", "email",
                                               "uri", "ipv4", "regex", "\ud800", ""]))
        change = f"format = {node['format']!r}"
    elif kind == "bool":
        _set(body, path, draw(st.booleans()))
        change = "a boolean schema"
    else:
        node["const"] = draw(hostile_values())
        change = f"const = {_short(node['const'])}"
    return body, f"schema {_show(path)}: {change}"


@st.composite
def mutate_bytes(draw: st.DrawFn, body: bytes) -> tuple[bytes, str]:
    """Breaks a serialized JSON body at the byte level."""
    kind = draw(st.sampled_from([
        "truncate", "insert", "top_level", "utf16", "bom", "trailing", "latin1",
        "duplicate_key", "empty", "nul",
    ]))
    if kind == "truncate":
        cut = draw(st.integers(0, max(0, len(body) - 1)))
        return body[:cut], f"body truncated at byte {cut} of {len(body)}"
    if kind == "insert":
        at = draw(st.integers(0, len(body)))
        junk = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"}", b'"',
                                     b"\\", b"\\u", b"\\ud800", b",", b"NaN", b"\x1b[2J"]))
        return body[:at] + junk + body[at:], f"{junk!r} inserted at byte {at}"
    if kind == "top_level":
        other = draw(st.sampled_from([b"[]", b"null", b"1", b'"x"', b"true", b"[" + body + b"]",
                                      b"NaN", b"-Infinity", b"1" + b"0" * 5000,
                                      b"[" * 5000 + b"]" * 5000, b'{"a":' * 3000 + b"1"
                                      + b"}" * 3000]))
        return other, f"the body is {other[:20]!r}… ({len(other)} bytes)"
    if kind == "utf16":
        return body.decode("utf-8", "surrogatepass").encode("utf-16", "surrogatepass"), \
            "the body encoded as UTF-16"
    if kind == "bom":
        return b"\xef\xbb\xbf" + body, "a UTF-8 byte-order mark before the body"
    if kind == "trailing":
        return body + b" garbage", "trailing garbage after the JSON"
    if kind == "latin1":
        return body.replace(b"}", b',"\xe9t\xe9":"\xe9"}', 1), "raw latin-1 bytes in a key"
    if kind == "duplicate_key":
        return body.replace(b"{", b'{"model":[],', 1), "a duplicate `model` key"
    if kind == "nul":
        return body + b"\x00", "a NUL byte after the JSON"
    return b"", "an empty body"


JSON_HEADERS = {"content-type": b"application/json"}
CONTENT_TYPES = [b"application/json", b"text/plain", b"application/x-www-form-urlencoded",
                 b"multipart/form-data; boundary=x", b"application/json; charset=utf-16",
                 b"application/json; charset=\xff", b"", b"*/*", b"application/json" * 200]


@st.composite
def mutate_headers(draw: st.DrawFn, headers: dict[str, bytes]) -> tuple[dict[str, bytes], str]:
    headers = dict(headers)
    kind = draw(st.sampled_from(["content_type", "drop_content_type", "encoding", "extra"]))
    if kind == "content_type":
        value = draw(st.sampled_from(CONTENT_TYPES))
        headers["content-type"] = value
        return headers, f"Content-Type: {value[:40]!r}"
    if kind == "drop_content_type":
        headers.pop("content-type", None)
        return headers, "no Content-Type"
    if kind == "encoding":
        value = draw(st.sampled_from([b"gzip", b"br", b"deflate", b"identity", b"x-unknown"]))
        headers["content-encoding"] = value
        return headers, f"Content-Encoding: {value!r} (body not encoded)"
    name = draw(st.sampled_from(["x-request-id", "accept", "accept-encoding", "user-agent",
                                 "x-goog-user-project", "x-goog-api-client"]))
    value = draw(st.sampled_from([b"", b"\xff\xfe", b"a" * 8000, b"text/event-stream",
                                  b"*/*;q=NaN", b"\xe2\x80\xae"]))
    headers[name] = value
    return headers, f"header {name!r}: {value[:20]!r}"


# -- chat -----------------------------------------------------------------------------------

CHAT_MODELS = ["google/gemini-2.0-flash-001", "google/gemini-2.0-flash", "gemini-2.5-flash",
               "models/gemini-2.5-pro", "google/gemini-2.5-flash-image"]
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "maxLength": 20},
        "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city"], "additionalProperties": False}}}
ANSWER_SCHEMA = {"type": "object", "properties": {
    "answer": {"type": "string", "minLength": 1, "maxLength": 10, "pattern": "^[a-z ]+$"},
    "n": {"type": "integer", "minimum": 0, "maximum": 9},
    "when": {"type": "string", "format": "date"},
    "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}, "minItems": 0, "maxItems": 2},
    "either": {"anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}]}},
    "required": ["answer"], "additionalProperties": False,
    "$defs": {"tag": {"type": "string", "enum": ["a", "b"]}}}


def _chat_messages(draw: st.DrawFn) -> list[dict[str, Json]]:
    """Valid conversations of several shapes (media ones rare: perception costs)."""
    text_shapes = ["plain", "system", "parts", "tools", "function", "thoughts"]
    shape = draw(st.sampled_from(text_shapes * 8 + ["image", "audio"]))
    user = {"role": "user", "content": "Say hi."}
    if shape == "plain":
        return [user]
    if shape == "system":
        role = draw(st.sampled_from(["system", "developer"]))
        return [{"role": role, "content": "Be brief."}, user]
    if shape == "parts":
        return [{"role": "user", "content": [{"type": "text", "text": "Say"},
                                              {"type": "text", "text": "hi."}]}]
    if shape == "tools":
        call = {"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
        return [{"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 20}'}]
    if shape == "function":
        return [{"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": None,
                 "function_call": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
                {"role": "function", "name": "get_weather", "content": "sunny"}]
    if shape == "thoughts":
        return [{"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello.", "reasoning_content": "greet"}, user]
    if shape == "image":
        return [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{_b64(TINY_PNG)}",
                                                "detail": "low"}}]}]
    return [{"role": "user", "content": [
        {"type": "text", "text": "Transcribe."},
        {"type": "input_audio", "input_audio": {"data": _b64(TINY_WAV), "format": "wav"}}]}]


# URLs the fetcher must refuse without going anywhere: blocked addresses, other schemes,
# unparsable hosts (never a public name: a fuzz case must not wait on DNS).
REFUSED_URLS = [
    "https://127.0.0.1/a.png", "https://[::1]/a.png", "https://169.254.169.254/latest",
    "https://10.0.0.1/a.png", "https://[::ffff:127.0.0.1]/x", "https://0x7f000001/x",
    "https://localhost/a.png", "http://127.0.0.1/a.png", "file:///etc/passwd",
    "ftp://127.0.0.1/x", "gs://bucket/../../etc/passwd", "gs://", "data:", "data:,",
    "data:image/png,rawbytes", "data:image/png;base64,", "data:image/png;base64,!!!!",
    "https://", "https://:0/", "https://127.0.0.1:99999/", "https://[::1/x",
    "https://xn--/x", "https://\u00ff\u0000.invalid/", "https://a..b/", "javascript:1",
    "https://user:pw@127.0.0.1/", "https://\ud800.invalid/", "//127.0.0.1/x", "",
]


@st.composite
def mutate_media(draw: st.DrawFn, body: Json) -> tuple[Json, str]:
    """The first user message gets a media part that must be refused: a corrupt, lying,
    bomb-like or unsupported payload, a URL the fetcher refuses, or too many parts."""
    body = copy.deepcopy(body)
    kind = draw(st.sampled_from(["image", "image", "audio", "audio", "url", "many",
                                 "signature"]))
    if kind == "image":
        name = draw(st.sampled_from(sorted(BAD_IMAGES)))
        mime = draw(st.sampled_from(["image/png", "image/jpeg", "image/gif", "image/webp",
                                     "image/svg+xml", "text/plain", ""]))
        part = {"type": "image_url",
                "image_url": {"url": f"data:{mime};base64,{_b64(BAD_IMAGES[name])}"}}
        note = f"image part: {name} as {mime!r}"
    elif kind == "audio":
        name = draw(st.sampled_from(sorted(BAD_AUDIO)))
        fmt = draw(st.sampled_from(["wav", "mp3", "flac", "ogg", "webm", "aiff", ""]))
        part = {"type": "input_audio", "input_audio": {"data": _b64(BAD_AUDIO[name]),
                                                       "format": fmt}}
        note = f"audio part: {name} as {fmt!r}"
    elif kind == "url":
        url = draw(st.sampled_from(REFUSED_URLS))
        part = {"type": "image_url", "image_url": {"url": url}}
        note = f"image URL {url!r}"
    elif kind == "many":
        n = draw(st.sampled_from([17, 100]))
        part = {"type": "image_url",
                "image_url": {"url": f"data:image/png;base64,{_b64(TINY_PNG)}"}}
        note = f"{n} image parts"
    else:
        sig = draw(st.sampled_from(["vxts1.AAAA.BBBB", "", "vxts1.", "x" * 5000, "\ud800",
                                    "vxts1." + "A" * 3000 + "." + "B" * 30]))
        part = None
        note = f"assistant thought_signature {sig[:30]!r}"
        if isinstance(body, dict):
            body["messages"] = [{"role": "user", "content": "Hi"},
                                {"role": "assistant", "content": "Hello.",
                                 "extra_content": {"google": {"thought_signature": sig}}},
                                {"role": "user", "content": "Again."}]
    if part is not None and isinstance(body, dict):
        parts = [part] * (n if kind == "many" else 1)
        body["messages"] = [{"role": "user",
                             "content": [{"type": "text", "text": "What is this?"}, *parts]}]
    return body, note


@st.composite
def valid_chat_body(draw: st.DrawFn, *, decode: bool = False,
                    window: int = DEFAULT_WINDOW) -> dict[str, Json]:
    """A valid chat request: with `decode`, one that is admitted and decodes a few tokens;
    otherwise one that asks for `window - 1` tokens, refused at admission."""
    # A drawing model decodes a long drawing prompt first: seconds, so never in `decode`.
    models = [m for m in CHAT_MODELS if not (decode and "image" in m)]
    body: dict[str, Json] = {
        "model": draw(st.sampled_from(models)),
        "messages": _chat_messages(draw),
        "max_tokens": draw(st.integers(1, MAX_TOKENS)) if decode else window - 1,
    }
    optional: dict[str, st.SearchStrategy[Json]] = {
        "temperature": st.sampled_from([0, 0.7, 2]),
        "top_p": st.sampled_from([0.1, 1]),
        "n": st.integers(1, 2),
        "seed": st.integers(0, 2**31),
        "stop": st.sampled_from(["\n", ["a", "b"]]),
        "presence_penalty": st.sampled_from([-2, 0.5]),
        "frequency_penalty": st.sampled_from([0, 2]),
        "stream": st.booleans(),
        "user": st.just("fuzz"),
        "logprobs": st.booleans(),
        "logit_bias": st.just({"50256": -100}),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            body[key] = draw(strategy)
    if body.get("stream") and draw(st.booleans()):
        body["stream_options"] = {"include_usage": True}
    features = ["none", "json_schema", "json_object", "text", "tools", "functions", "thinking",
                "effort"]
    if "image" in body["model"]:  # draws: no calls, no JSON answer
        features = ["none", "text", "thinking", "effort"]
    feature = draw(st.sampled_from(features if decode else [*features, "image"]))
    if feature == "json_schema":
        body["response_format"] = {"type": "json_schema", "json_schema": {
            "name": "answer", "schema": copy.deepcopy(ANSWER_SCHEMA),
            "strict": draw(st.booleans())}}
    elif feature in ("json_object", "text"):
        body["response_format"] = {"type": feature}
    elif feature == "tools":
        body["tools"] = [copy.deepcopy(WEATHER_TOOL)]
        body["tool_choice"] = draw(st.sampled_from([
            "auto", "none", "required",
            {"type": "function", "function": {"name": "get_weather"}}]))
        body["parallel_tool_calls"] = draw(st.booleans())
    elif feature == "functions":
        body["functions"] = [copy.deepcopy(WEATHER_TOOL["function"])]
        body["function_call"] = draw(st.sampled_from(["auto", "none", {"name": "get_weather"}]))
    elif feature == "thinking":
        google = {"thinking_config": {"thinking_budget": draw(st.sampled_from([-1, 0, 2])),
                                      "include_thoughts": draw(st.booleans())}}
        if draw(st.booleans()):
            google["thought_tag_marker"] = "think"
        if draw(st.booleans()):
            body["extra_body"] = {"google": google}
        else:
            body["google"] = google
    elif feature == "effort":
        body["reasoning_effort"] = draw(st.sampled_from(["none", "minimal", "low", "medium"]))
    elif feature == "image":
        body["modalities"] = ["image", "text"]
        if draw(st.booleans()):
            body["size"] = draw(st.sampled_from(["64x64", "512x512"]))
        else:
            body["extra_body"] = {"google": {"image_config": {"aspect_ratio": "16:9"}}}
    return body


def _has_media(value: Json) -> bool:
    if isinstance(value, dict):
        return "image_url" in value or "input_audio" in value or any(
            _has_media(v) for v in value.values())
    return isinstance(value, list) and any(_has_media(v) for v in value)


def _cap_chat(window: int) -> Callable[[Json], Json]:
    def cap(body: Json) -> Json:
        """Whatever the mutations did, a request that may still be valid decodes at most
        `MAX_TOKENS` tokens per candidate: a length the mutations made valid goes back to
        `window - 1`, a removed one comes back as `max_completion_tokens`.

        A request with media parts (not for a drawing model) asks for ONE token instead:
        `window - 1` would be refused before its media are read (the backend's precheck:
        no prompt fits), and the media path would go unfuzzed."""
        if isinstance(body, dict):
            media = _has_media(body.get("messages")) and "image" not in str(body.get("model"))
            doomed = 1 if media else window - 1
            for key in ("max_tokens", "max_completion_tokens"):
                value = body.get(key)
                if isinstance(value, int | float) and MAX_TOKENS < value < window - 1:
                    body[key] = doomed
                elif media and value == window - 1:
                    body[key] = doomed
            if "max_tokens" not in body and "max_completion_tokens" not in body:
                body["max_completion_tokens"] = doomed
        return body

    return cap


CHAT_PATHS = [
    "/v1/projects/demo/locations/us-central1/endpoints/openapi/chat/completions",
    "/v1beta1/projects/demo/locations/global/endpoints/openapi/chat/completions",
    "/v1/chat/completions",
]
ODD_PATH_SEGMENTS = ["%FF%FE", "%00", "%ED%A0%80", "..", "%2F", "%2e%2e", "a" * 2000, "%",
                     "%C3%A9t%C3%A9", "us-central1%0d%0aX:1", "~", "%20", "{project}"]


@st.composite
def _odd_path(draw: st.DrawFn, tail: str) -> tuple[str, str]:
    project = draw(st.sampled_from(["demo", *ODD_PATH_SEGMENTS]))
    location = draw(st.sampled_from(["us-central1", *ODD_PATH_SEGMENTS]))
    version = draw(st.sampled_from(["v1", "v1beta1", "v2", "V1"]))
    query = draw(st.sampled_from(["", "?alt=sse", "?%FF=%FE", "?a=" + "b" * 3000, "?x"]))
    path = f"/{version}/projects/{project}/locations/{location}/endpoints/openapi/{tail}{query}"
    return path, f"path {path[:120]!r}"


@st.composite
def _json_case(draw: st.DrawFn, surface: str, body: Json, paths: list[str], tail: str,
               cap: Callable[[Json], Json], valid_unless: tuple[str, ...]) -> FuzzCase:
    headers = dict(JSON_HEADERS)
    path = draw(st.sampled_from(paths))
    hows = ["tree", "tree", "tree", "tree", "tree", "bytes", "headers", "path", "method",
            "valid"]
    if _schema_roots(body):  # schemas become grammars for native code: fuzz them hard
        hows += ["schema"] * 6
    if surface == "chat":
        hows += ["media"]
    how = draw(st.sampled_from(hows))
    notes: list[str] = []
    method = "POST"
    if how == "tree":
        body, notes = draw(mutate_tree(body))
    elif how == "schema":
        body, note = draw(mutate_schema(body))
        notes.append(note)
    elif how == "media":
        body, note = draw(mutate_media(body))
        notes.append(note)
    raw = encode_json(cap(body), ascii_only=draw(st.booleans()) if how == "tree" else True)
    if len(raw) > MAX_BODY_BYTES:  # a fuzz case must be cheap: cut (it stays a fuzz case)
        raw = raw[:MAX_BODY_BYTES]
        notes.append(f"body cut at {MAX_BODY_BYTES} bytes")
    if how == "bytes":
        raw, note = draw(mutate_bytes(raw))
        notes.append(note)
    elif how == "headers":
        headers, note = draw(mutate_headers(headers))
        notes.append(note)
    elif how == "path":
        path, note = draw(_odd_path(tail))
        notes.append(note)
    elif how == "method":
        method = draw(st.sampled_from(["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]))
        notes.append(f"method {method}")
    elif how == "valid":
        notes.append("unmutated (valid)")
    return FuzzCase(surface, "; ".join(notes), method, path, tuple(headers.items()), raw,
                    valid_unless if how == "valid" else ())


def chat_cases(window: int = DEFAULT_WINDOW, decode_one_in: int = DECODE_ONE_IN,
               ) -> st.SearchStrategy[FuzzCase]:
    """Chat completion requests, each a valid one broken (or, rarely, not) somewhere, for a
    server whose context per sequence is `window` tokens; one in `decode_one_in` is one
    that may decode."""
    bodies = st.sampled_from([True] + [False] * (decode_one_in - 1)).flatmap(
        lambda decode: valid_chat_body(decode=decode, window=window))
    return bodies.flatmap(
        lambda body: _json_case("chat", body, CHAT_PATHS, "chat/completions", _cap_chat(window),
                                ("max_tokens", "max_completion_tokens")))


# -- images ---------------------------------------------------------------------------------

IMAGE_PATHS = [
    "/v1/projects/demo/locations/us-central1/endpoints/openapi/images/generations",
    "/v1beta1/projects/demo/locations/global/endpoints/openapi/images/generations",
    "/v1/images/generations",
]


@st.composite
def valid_image_body(draw: st.DrawFn) -> dict[str, Json]:
    body: dict[str, Json] = {"prompt": "a red circle on a blue background"}
    optional: dict[str, st.SearchStrategy[Json]] = {
        "model": st.sampled_from(["google/gemini-2.5-flash-image", "gemini-2.5-flash-image",
                                  "google/gemini-2.5-flash-image-preview"]),
        "n": st.integers(1, 2),
        "size": st.sampled_from(["64x64", "256x256", "1024x1024", "2048x64"]),
        "response_format": st.just("b64_json"),
        "quality": st.sampled_from(["standard", "hd"]),
        "style": st.sampled_from(["vivid", "natural"]),
        "user": st.just("fuzz"),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            body[key] = draw(strategy)
    return body


def _guard_image(words: int) -> Callable[[Json], Json]:
    guard = " apple" * words

    def cap(body: Json) -> Json:
        # A prompt that may be valid is padded past the context: 400 at admission, nothing
        # drawn (the images route has no max_tokens to keep a drawing short).
        if isinstance(body, dict) and isinstance(body.get("prompt"), str) and body["prompt"]:
            body["prompt"] = body["prompt"] + guard
        return body

    return cap


def image_cases(prompt_guard_words: int = DEFAULT_PROMPT_GUARD_WORDS,
                ) -> st.SearchStrategy[FuzzCase]:
    return valid_image_body().flatmap(
        lambda body: _json_case("image", body, IMAGE_PATHS, "images/generations",
                                _guard_image(prompt_guard_words), ("prompt",)))


# -- /token ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    """A service-account key the server knows, to sign mutated claims with, so the
    checks after the signature (iss, aud, iat, exp, scope) are reached too."""

    key_id: str
    client_email: str
    private_key_pem: str = field(repr=False)  # never in a report

    @classmethod
    def from_key_file(cls, key: dict[str, Any]) -> Signer:
        return cls(key["private_key_id"], key["client_email"], key["private_key"])

    @cached_property
    def _key(self) -> Any:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = serialization.load_pem_private_key(self.private_key_pem.encode(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key

    def sign(self, signing_input: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        return bytes(self._key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256()))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _claims(signer: Signer | None, now: int) -> tuple[dict[str, Json], dict[str, Json]]:
    header = {"typ": "JWT", "alg": "RS256",
              "kid": signer.key_id if signer else "0" * 40}
    payload = {"iat": now, "exp": now + 3600,
               "iss": signer.client_email if signer else "fuzz@demo.iam.gserviceaccount.com",
               "aud": GOOGLE_TOKEN_URI, "scope": SCOPE}
    return header, payload


def _segments(signer: Signer | None, header: Json, payload: Json) -> list[str]:
    head = b64url(encode_json(header))
    body = b64url(encode_json(payload))
    signing_input = f"{head}.{body}".encode("ascii")
    signature = signer.sign(signing_input) if signer else b"\x01" * 256
    return [head, body, b64url(signature)]


@st.composite
def _assertion(draw: st.DrawFn, signer: Signer | None) -> tuple[str, str]:
    header, payload = _claims(signer, int(time.time()))
    how = draw(st.sampled_from(["valid", "header", "payload", "payload", "claims", "segments",
                                "segments"]))
    if how == "header":
        header, notes = draw(mutate_tree(header, times=2))
        return ".".join(_segments(signer, header, payload)), "JWT header " + "; ".join(notes)
    if how == "payload":
        payload, notes = draw(mutate_tree(payload, times=2))
        return ".".join(_segments(signer, header, payload)), "JWT payload " + "; ".join(notes)
    if how == "claims":
        # The number claims as JSON numbers Python parses into inf / nan / huge ints.
        name = draw(st.sampled_from(["iat", "exp"]))
        value = Raw(draw(st.sampled_from(RAW_NUMBERS)))
        payload[name] = value
        return ".".join(_segments(signer, header, payload)), f"JWT claim {name} = {value}"
    segments = _segments(signer, header, payload)
    if how == "segments":
        kind = draw(st.sampled_from(["drop", "extra", "junk", "padding", "flip", "long", "raw",
                                     "array", "empty"]))
        index = draw(st.integers(0, 2))
        if kind == "drop":
            del segments[index]
        elif kind == "extra":
            segments.append(segments[index])
        elif kind == "junk":
            segments[index] = draw(st.sampled_from(["!!!", "a", "====", "é", "\x00", "+/+/",
                                                    "%2E", " ", "Zm9v YmFy"]))
        elif kind == "padding":
            segments[index] += "=="
        elif kind == "flip":
            seg = segments[index]
            at = draw(st.integers(0, len(seg) - 1))
            segments[index] = seg[:at] + ("A" if seg[at] != "A" else "B") + seg[at + 1:]
        elif kind == "long":
            segments[index] = "A" * draw(st.sampled_from([16 * 1024, 40 * 1024]))
        elif kind == "raw":
            segments[index] = b64url(draw(st.sampled_from(
                [b"\xff\xfe", b"{", b"null", b"[1]", b"\xed\xa0\x80", b'{"alg":"RS256"}' * 3,
                 b"[" * 5000, b'{"a":' * 3000 + b"1" + b"}" * 3000, b"1" + b"0" * 5000])))
        elif kind == "array":
            segments[index] = b64url(b'["RS256"]')
        else:
            segments[index] = ""
        return ".".join(segments), f"JWT segment {index}: {kind}"
    return ".".join(segments), "valid assertion"


def valid_grant(signer: Signer) -> bytes:
    """A form-encoded JWT-bearer grant the server honours (google-auth's shape)."""
    header, payload = _claims(signer, int(time.time()))
    return _form([("grant_type", JWT_BEARER),
                  ("assertion", ".".join(_segments(signer, header, payload)))])


def _form(fields: list[tuple[str, str]]) -> bytes:
    from urllib.parse import quote_plus

    return "&".join(f"{quote_plus(k, errors='surrogatepass')}="
                    f"{quote_plus(v, errors='surrogatepass')}" for k, v in fields).encode()


@st.composite
def token_case(draw: st.DrawFn, signer: Signer | None) -> FuzzCase:
    assertion, note = draw(_assertion(signer))
    fields = [("grant_type", JWT_BEARER), ("assertion", assertion)]
    notes = [note]
    headers = {"content-type": b"application/x-www-form-urlencoded"}
    how = draw(st.sampled_from(["assertion", "assertion", "assertion", "form", "raw",
                                "headers", "method"]))
    method = "POST"
    if how == "form":
        kind = draw(st.sampled_from(["grant_type", "drop", "duplicate", "extra", "swap"]))
        if kind == "grant_type":
            value = draw(st.one_of(st.sampled_from(
                ["", "jwt-bearer", JWT_BEARER.upper(), JWT_BEARER + "\x00", "password",
                 "client_credentials", "refresh_token", "\ud800", JWT_BEARER * 100]),
                st.text(max_size=20)))
            fields[0] = ("grant_type", value)
            notes.append(f"grant_type={value[:40]!r}")
        elif kind == "drop":
            index = draw(st.integers(0, 1))
            notes.append(f"{fields[index][0]} removed")
            del fields[index]
        elif kind == "duplicate":
            index = draw(st.integers(0, 1))
            fields.append((fields[index][0], draw(st.sampled_from(["", "x", assertion]))))
            notes.append(f"{fields[index][0]} given twice")
        elif kind == "extra":
            key = draw(st.sampled_from(ODD_KEYS + ["scope", "client_id", "audience"]))
            fields.append((key, draw(st.sampled_from(ODD_TEXT + LONE_SURROGATES))))
            notes.append(f"extra field {key!r}")
        else:
            fields = [(v, k) for k, v in fields]
            notes.append("names and values swapped")
    body = _form(fields)
    if how == "raw":
        kind = draw(st.sampled_from(["percent", "json", "bytes", "big", "truncate", "empty"]))
        if kind == "percent":
            junk = draw(st.sampled_from([b"%", b"%zz", b"%ff%fe", b"%00", b"%ED%A0%80", b"+",
                                         b"&&&", b"=", b"==&=", b";", b"\xff"]))
            at = draw(st.integers(0, len(body)))
            body = body[:at] + junk + body[at:]
            notes.append(f"{junk!r} inserted at byte {at}")
        elif kind == "json":
            body = encode_json(dict(fields))
            notes.append("the form sent as JSON")
        elif kind == "bytes":
            body = body + b"&assertion=\xff\xfe\xed\xa0\x80"
            notes.append("raw invalid UTF-8 in the form")
        elif kind == "big":
            body = body + b"&pad=" + b"p" * (70 * 1024)
            notes.append("a 70 KiB form")
        elif kind == "truncate":
            cut = draw(st.integers(0, max(0, len(body) - 1)))
            body = body[:cut]
            notes.append(f"form truncated at byte {cut}")
        else:
            body = b""
            notes.append("an empty body")
    elif how == "headers":
        headers, note = draw(mutate_headers(headers))
        notes.append(note)
    elif how == "method":
        method = draw(st.sampled_from(["GET", "PUT", "DELETE", "OPTIONS", "HEAD"]))
        notes.append(f"method {method}")
    path = draw(st.sampled_from(["/token", "/token", "/token", "/token?grant_type=x",
                                 "/token/", "//token"]))
    return FuzzCase("token", "; ".join(notes), method, path, tuple(headers.items()), body)


def token_cases(signer: Signer | None = None) -> st.SearchStrategy[FuzzCase]:
    """`/token` grants. With a `signer` (a key the server knows) mutated claims are
    signed for real, so every check after the signature is reached."""
    return token_case(signer)


# -- Authorization on an auth-enabled server -------------------------------------------------


@st.composite
def auth_case(draw: st.DrawFn, token: str, window: int) -> FuzzCase:
    """A chat request whose bearer token or project is mangled."""
    kind = draw(st.sampled_from(["scheme", "token", "token", "raw", "project", "valid"]))
    value = f"Bearer {token}".encode()
    project = "demo"
    if kind == "scheme":
        value = draw(st.sampled_from([
            b"", b"Bearer", b"Bearer ", b"bearer " + token.encode(), b"BEARER  " + token.encode(),
            b"Basic " + base64.b64encode(b"a:b"), b"Bearer " + token.encode() + b" extra",
            b"Token " + token.encode(), token.encode(), b"Bearer\t" + token.encode()]))
    elif kind == "token":
        at = draw(st.integers(0, len(token) - 1))
        edit = draw(st.sampled_from(["flip", "cut", "append", "upper"]))
        bad = {"flip": token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1:],
               "cut": token[:at], "append": token + token[at:], "upper": token.upper()}[edit]
        value = b"Bearer " + bad.encode()
    elif kind == "raw":
        value = b"Bearer " + draw(st.sampled_from([
            b"\xff\xfe", b"vxc1.", b"vxc1." + b"A" * 8000, b"\xc3\xa9" * 10, b"vxc1.\x7f",
            b"%00", b"null", b"vxc1.\xed\xa0\x80"]))
    elif kind == "project":
        project = draw(st.sampled_from(["other", "DEMO", "demo ", "%64emo", *ODD_PATH_SEGMENTS]))
    path = f"/v1/projects/{project}/locations/us-central1/endpoints/openapi/chat/completions"
    headers = {"content-type": b"application/json"}
    if value or kind != "scheme":
        headers["authorization"] = value
    # Past auth, the request is refused at admission (400): nothing is decoded.
    body = encode_json({"model": "google/gemini-2.0-flash-001", "max_tokens": window - 1,
                        "messages": [{"role": "user", "content": "Hi"}]})
    mutation = f"Authorization: {value[:60]!r}" if kind != "project" else f"project {project!r}"
    return FuzzCase("auth", mutation, "POST", path, tuple(headers.items()), body)


def auth_cases(token: str, window: int = DEFAULT_WINDOW) -> st.SearchStrategy[FuzzCase]:
    return auth_case(token, window)


# -- running cases --------------------------------------------------------------------------


class _Enough(Exception):
    """Ends a run once it has handed out the cases it was asked for."""


def run_examples(strategy: st.SearchStrategy[FuzzCase], examples: int,
                 on_case: Callable[[FuzzCase], None], *, seed_value: int | None = None) -> int:
    """Draws cases from `strategy` and hands `examples` distinct ones to `on_case` (fewer
    when the strategy runs out), with a fixed seed: hypothesis' derandomized one unless
    `seed_value` is given. Generation only — no example database, no shrinking: `on_case`
    records failures instead of raising, so one run reports every distinct failure.
    Hypothesis draws some requests more than once; a repeat is not sent again.
    Returns how many cases were handed out."""
    seen: set[int] = set()

    @settings(max_examples=3 * examples, derandomize=seed_value is None, database=None,
              deadline=None, phases=[Phase.generate], print_blob=False,
              verbosity=Verbosity.quiet, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def _run(case: FuzzCase) -> None:
        if len(seen) >= examples:
            raise _Enough
        key = hash((case.method, case.path, case.headers, case.body))
        if key not in seen:
            seen.add(key)
            on_case(case)

    if seed_value is not None:
        _run = seed(seed_value)(_run)
    try:
        _run()
    except _Enough:
        pass
    return len(seen)


@dataclass
class Outcome:
    case: FuzzCase
    status: int | None
    seconds: float
    problem: str | None = None  # None: the server behaved
    request_id: str | None = None
    notes: list[str] = field(default_factory=list)
    answer: str = ""  # the start of the response body

    def to_json(self) -> dict[str, Any]:
        return {"surface": self.case.surface, "mutation": self.case.mutation,
                "method": self.case.method, "path": self.case.path, "status": self.status,
                "ms": round(self.seconds * 1000, 1), "problem": self.problem,
                "answer": self.answer, "body": self.case.body[:300].decode("latin-1")}

    @property
    def rejected(self) -> bool:
        return self.status is not None and 400 <= self.status < 500

    @property
    def kind(self) -> str:
        """The class of failure: 5xx, dropped, timeout, shape (a 4xx body), stream (an
        error frame below 500, no [DONE]), refused (an unmutated request was not accepted)."""
        return (self.problem or "ok").split(":", 1)[0]


def _check_error_body(response: httpx.Response, surface: str) -> str | None:
    if response.request.method == "HEAD":
        return None
    ctype = response.headers.get("content-type", "")
    if not ctype.startswith("application/json"):
        return f"shape: a {response.status_code} with Content-Type {ctype!r}: {response.text[:200]!r}"
    try:
        body = response.json()
    except ValueError:
        return f"shape: a {response.status_code} whose body is not JSON: {response.text[:200]!r}"
    oauth = (isinstance(body, dict) and set(body) == {"error", "error_description"}
             and isinstance(body["error"], str))
    if surface == "token" and (oauth or response.status_code != 400):
        if oauth:
            return None  # RFC 6749 §5.2; a 404/405 on a wrong path or method is Google's
    elif surface == "token":
        return f"shape: a /token 400 not in OAuth's shape: {str(body)[:200]}"
    error = body.get("error") if isinstance(body, dict) else None
    if not (isinstance(body, dict) and set(body) == {"error"} and isinstance(error, dict)
            and set(error) == ERROR_KEYS and error["code"] == response.status_code
            and isinstance(error["message"], str) and error["message"]):
        return f"shape: a {response.status_code} body not in the Google shape: {str(body)[:200]}"
    return None


def _error_param(response: httpx.Response) -> str | None:
    try:
        param = response.json()["error"]["param"]
    except (ValueError, KeyError, TypeError):
        return None
    return param if isinstance(param, str) else None


def _check_stream(response: httpx.Response) -> tuple[str | None, str | None]:
    """(problem, request id) of a 200 `text/event-stream`: error frames, a missing [DONE]."""
    frames = [line[len("data: "):] for line in response.text.split("\n")
              if line.startswith("data: ")]
    for frame in frames:
        if frame == "[DONE]":
            continue
        try:
            data = json.loads(frame)
        except ValueError:
            return f"stream: a frame that is not JSON: {frame[:200]!r}", None
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            code = error.get("code")
            rid = _REQUEST_ID.search(str(error.get("message", "")))
            kind = "5xx" if isinstance(code, int) and code >= 500 else "stream"
            return f"{kind}: error frame mid-stream: {frame[:300]}", rid.group(1) if rid else None
    if not frames or frames[-1] != "[DONE]":
        return "stream: the stream did not end with [DONE]", None
    return None, None


def send_case(client: httpx.Client, base_url: str, case: FuzzCase, *,
              timeout: float = 60.0) -> Outcome:
    start = time.perf_counter()
    try:
        response = client.request(case.method, base_url + case.path, content=case.body,
                                  headers=dict(case.headers), timeout=timeout)
    except httpx.TimeoutException as exc:
        return Outcome(case, None, time.perf_counter() - start, f"timeout: {exc!r}")
    except (httpx.LocalProtocolError, httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        # The client refused to send it: not the server's doing.
        return Outcome(case, None, time.perf_counter() - start, None, notes=[f"unsent: {exc!r}"])
    except httpx.TransportError as exc:
        return Outcome(case, None, time.perf_counter() - start, f"dropped: {exc!r}")
    seconds = time.perf_counter() - start
    status = response.status_code
    outcome = Outcome(case, status, seconds, answer=response.text[:300])
    if status >= 500:
        rid = _REQUEST_ID.search(response.text)
        outcome.request_id = rid.group(1) if rid else None
        outcome.problem = f"5xx: {status} {response.text[:300]}"
    elif status >= 400:
        outcome.problem = _check_error_body(response, case.surface)
        if outcome.problem is None and case.valid_unless:
            param = _error_param(response)
            if status != 400 or param not in case.valid_unless:
                outcome.problem = (f"refused: a valid request got {status} naming {param!r}: "
                                   f"{response.text[:300]}")
    elif status >= 300:
        pass  # starlette's trailing-slash redirect
    elif response.headers.get("content-type", "").startswith("text/event-stream"):
        outcome.problem, outcome.request_id = _check_stream(response)
    elif case.method != "HEAD":
        try:
            response.json()
        except ValueError:
            outcome.problem = f"shape: a {status} whose body is not JSON: {response.text[:200]!r}"
    return outcome


def server_traceback(log_text: str, request_id: str | None) -> str | None:
    """The log record `internal error, request id <id>` and its traceback."""
    if not request_id:
        return None
    lines = log_text.splitlines()
    for i, line in enumerate(lines):
        if f"request id {request_id}" in line and "internal error" in line:
            out = [line]
            for nxt in lines[i + 1:]:
                if _LOG_RECORD.match(nxt):
                    break
                out.append(nxt)
            return "\n".join(out)
    return None


def failure_site(traceback_text: str | None, problem: str) -> str:
    """A key that groups failures with one cause: the exception's type and the innermost
    frame in the project's code (else the problem's first words)."""
    if not traceback_text:
        return re.sub(r"[0-9a-f]{16}", "…", problem.split("\n")[0])[:120]
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)', traceback_text)
    ours = [f for f in frames if "/vertexcompat/" in f[0]] or frames
    last = traceback_text.strip().splitlines()[-1]
    exc_type = last.split(":", 1)[0]
    if ours:
        path, line, func = ours[-1]
        return f"{exc_type} at {path.split('/src/')[-1]}:{line} ({func})"
    return exc_type
