"""Thought signatures (SPEC §5): sealed with the newest key of a real SQLite key store,
opened only where they were issued, and refused whenever anything about them changed.
Sealers sharing one state database (replicas) are tested on SQLite and on a real
PostgreSQL (tests/postgres.py): a key retired by one stops opening in the others within
1 s.

A signature is the padded standard base64 of `vxt\\x02 ‖ len(key id) ‖ key id ‖ nonce ‖
AES-256-GCM ciphertext ‖ tag`; the google-genai SDK hands it back re-encoded in the
URL-safe alphabet, so that spelling of the same bytes opens too — and nothing else does."""

from __future__ import annotations

import base64
import json
import string
from collections.abc import Callable, Iterator
from pathlib import Path

import pydantic
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vertexcompat.auth.thought_signatures import (
    SIGNATURE_MAGIC,
    SIGNATURE_PREFIX,
    TEXT_BINDING,
    BadThoughtSignature,
    ThoughtSealer,
    call_binding,
)
from vertexcompat.store.database import StateDatabase, open_state_database
from vertexcompat.store.sqlite import Database, open_database
from vertexcompat.store.thought_keys import SqlThoughtKeys, ThoughtKey

from ...postgres import PostgresServer, postgres_server  # noqa: F401 - a fixture
from .conftest import Clock

STANDARD = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"
URL_SAFE = STANDARD[:62] + "-_"
MAGIC = b"vxt\x02"
NONCE = 12
TAG = 16


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(tmp_path)
    yield database
    database.close()


@pytest.fixture(params=("sqlite", "postgresql"))
def shared_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateDatabase]:
    """One state database on either backend, for sealers that share it (replicas)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_schema("thought")
    database = open_state_database(url, tmp_path, pool_size=2)
    yield database
    database.close()


@pytest.fixture
def keys(db: Database) -> SqlThoughtKeys:
    return SqlThoughtKeys(db)


@pytest.fixture
def sealer(keys: SqlThoughtKeys, clock: Clock) -> ThoughtSealer:
    return ThoughtSealer(keys, clock=clock)


def blob_of(signature: str) -> bytes:
    """The bytes of an issued (standard, padded) signature, decoded strictly."""
    return base64.b64decode(signature, validate=True)


def layout(signature: str) -> tuple[bytes, str, bytes, bytes]:
    """(magic, key id, nonce, ciphertext ‖ tag), read by hand from the documented layout."""
    raw = blob_of(signature)
    n = raw[4]
    return raw[:4], raw[5 : 5 + n].decode("ascii"), raw[5 + n : 5 + n + NONCE], raw[5 + n + NONCE :]


def key_id_of(signature: str) -> str:
    return layout(signature)[1]


def assemble(key_id: bytes, nonce: bytes, sealed: bytes, magic: bytes = MAGIC) -> str:
    return base64.b64encode(magic + bytes([len(key_id)]) + key_id + nonce + sealed).decode()


def relabel(signature: str, key_id: str) -> str:
    """The same nonce and ciphertext under another key id."""
    _, _, nonce, sealed = layout(signature)
    return assemble(key_id.encode(), nonce, sealed)


def urlsafe(signature: str, *, padded: bool) -> str:
    """What the google-genai SDK sends back: the bytes re-encoded URL-safe (pydantic)."""
    out = base64.urlsafe_b64encode(base64.b64decode(signature)).decode()
    return out if padded else out.rstrip("=")


SPELLINGS: dict[str, Callable[[str], str]] = {
    "standard": lambda s: s,
    "standard-unpadded": lambda s: s.rstrip("="),
    "urlsafe": lambda s: urlsafe(s, padded=True),
    "urlsafe-unpadded": lambda s: urlsafe(s, padded=False),
}


def spellings_of(raw: bytes) -> set[str]:
    """Every string that legitimately stands for `raw`."""
    return {spell(base64.b64encode(raw).decode()) for spell in SPELLINGS.values()}


def refused(sealer: ThoughtSealer, signature: str, binding: str = TEXT_BINDING) -> bool:
    try:
        sealer.open(signature, binding=binding)
    except BadThoughtSignature:
        return True
    return False


def seal_until(
    sealer: ThoughtSealer, wanted: Callable[[str], bool], thoughts: str = "thoughts"
) -> str:
    for _ in range(200):
        signature = sealer.seal(thoughts, binding=TEXT_BINDING)
        if wanted(signature):
            return signature
    pytest.fail("no suitable signature in 200 seals")


# --- round trip ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "thoughts",
    [
        "I should check the weather in Oslo first.",
        "Überlegung: 東京の天気 → ☀️, naïve «quotes» and \"escapes\"\n\ttabs \\ too",
        "",
        "x" * 20_000,
        "step {n}: " * 2_000,
    ],
    ids=["plain", "unicode", "empty", "20kb", "20kb-structured"],
)
@pytest.mark.parametrize("binding", [TEXT_BINDING, call_binding("get_weather")])
def test_sealed_thoughts_open_to_exactly_what_was_sealed(sealer, thoughts, binding):
    signature = sealer.seal(thoughts, binding=binding)
    assert sealer.open(signature, binding=binding) == thoughts


def test_every_signature_is_one_padded_standard_base64_value(sealer, keys):
    signatures = [sealer.seal(t, binding=TEXT_BINDING) for t in ("a", "ab", "abc", "", "ü" * 100)]
    [key] = keys.usable()
    assert SIGNATURE_MAGIC == MAGIC
    assert SIGNATURE_PREFIX == "dnh0A"  # what the magic alone spells, in either alphabet
    for signature in signatures:
        assert set(signature.rstrip("=")) <= set(STANDARD)
        assert len(signature) % 4 == 0
        assert base64.b64encode(blob_of(signature)).decode() == signature  # canonical
        assert signature.startswith(SIGNATURE_PREFIX)
        assert urlsafe(signature, padded=False).startswith(SIGNATURE_PREFIX)
        assert blob_of(signature).startswith(MAGIC + bytes([len(key.key_id)]) + key.key_id.encode())
    assert {len(blob_of(s)) % 3 for s in signatures[:3]} == {0, 1, 2}


def test_sealing_the_same_thoughts_twice_gives_different_signatures(sealer):
    first = sealer.seal("same", binding=TEXT_BINDING)
    second = sealer.seal("same", binding=TEXT_BINDING)
    assert first != second
    assert layout(first)[2] != layout(second)[2]  # fresh nonce
    assert layout(first)[3] != layout(second)[3]
    assert sealer.open(first, binding=TEXT_BINDING) == sealer.open(second, binding=TEXT_BINDING)


def test_the_sealed_blob_has_the_documented_layout(sealer, keys, clock):
    """`vxt\\x02 ‖ len(key id) ‖ key id ‖ nonce ‖ AES-256-GCM(JSON {t, b, iat}) ‖ tag`, with
    everything before the nonce as associated data."""
    clock.now = 1_900_000_123.75
    signature = sealer.seal("Überlegung", binding=call_binding("f"))
    [key] = keys.usable()
    raw = blob_of(signature)
    assert raw[:4] == b"vxt\x02"
    assert raw[4] == len(key.key_id) == 8
    assert raw[5:13] == key.key_id.encode("ascii")
    header, nonce, sealed = raw[:13], raw[13:25], raw[25:]
    payload = AESGCM(key.secret).decrypt(nonce, sealed, header)
    assert payload == '{"t":"Überlegung","b":"call:f","iat":1900000123}'.encode()
    assert json.loads(payload) == {"t": "Überlegung", "b": "call:f", "iat": 1_900_000_123}
    assert len(raw) == 4 + 1 + 8 + NONCE + len(payload) + TAG
    for other_aad in (b"", MAGIC, raw[:12], f"vxts1.{key.key_id}".encode()):
        with pytest.raises(InvalidTag):
            AESGCM(key.secret).decrypt(nonce, sealed, other_aad)


def test_thoughts_are_not_readable_in_the_signature(sealer):
    secret_plan = "the user's password is hunter2"
    signature = sealer.seal(secret_plan, binding=TEXT_BINDING)
    for spelling in (signature, urlsafe(signature, padded=False)):
        assert "hunter2" not in spelling
    assert b"hunter2" not in blob_of(signature)
    assert b"password" not in blob_of(signature)


# --- what the Gemini SDK does with it --------------------------------------------------


@pytest.mark.parametrize("padded", [True, False], ids=["padded", "unpadded"])
def test_the_sdks_urlsafe_re_encoding_opens(sealer, padded):
    signature = seal_until(sealer, lambda s: "+" in s and "/" in s)
    again = urlsafe(signature, padded=padded)
    assert again != signature and ("-" in again and "_" in again)
    assert sealer.open(again, binding=TEXT_BINDING) == "thoughts"
    assert sealer.open(signature, binding=TEXT_BINDING) == "thoughts"


@pytest.mark.parametrize("thoughts", ["a", "ab", "abc"])  # every blob length mod 3
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_of_the_bytes_opens(sealer, thoughts, spelling):
    signature = sealer.seal(thoughts, binding=call_binding("g"))
    assert sealer.open(SPELLINGS[spelling](signature), binding=call_binding("g")) == thoughts


def test_a_pydantic_base64_bytes_field_round_trips_it(sealer):
    """The SDK's `thoughtSignature` is pydantic `bytes` with base64 validation and
    serialisation: it must parse our string, and what it writes back must open."""
    field = pydantic.TypeAdapter(
        bytes, config=pydantic.ConfigDict(val_json_bytes="base64", ser_json_bytes="base64")
    )
    signature = seal_until(sealer, lambda s: "+" in s or "/" in s)
    as_bytes = field.validate_json(json.dumps(signature))
    assert as_bytes == blob_of(signature)
    sent_back = json.loads(field.dump_json(as_bytes))
    assert sent_back != signature
    assert sealer.open(sent_back, binding=TEXT_BINDING) == "thoughts"
    with pytest.raises(pydantic.ValidationError, match="valid base64"):
        field.validate_json(json.dumps("vxts1.0123abcd.AAAA"))  # why the format changed


def test_the_google_genai_sdk_round_trips_it(sealer):
    types = pytest.importorskip("google.genai.types")
    signature = seal_until(sealer, lambda s: "+" in s or "/" in s)
    part = types.Part.model_validate({"text": "x", "thoughtSignature": signature})
    assert part.thought_signature == blob_of(signature)
    sent_back = part.model_dump(mode="json", by_alias=True, exclude_none=True)["thoughtSignature"]
    assert sent_back != signature
    assert sealer.open(sent_back, binding=TEXT_BINDING) == "thoughts"


# --- tampering -------------------------------------------------------------------------


def _substitute(text: str, position: int, replacement: str) -> str:
    return text[:position] + replacement + text[position + 1 :]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_flipping_any_character_anywhere_is_refused(sealer, spelling):
    # With a single `+`/`/` (or `-`/`_`), swapping it for its twin would spell the same
    # bytes in the other alphabet, which opens by design; with two or more, it mixes them.
    signature = SPELLINGS[spelling](
        seal_until(sealer, lambda s: sum(s.count(c) for c in "+/") >= 2, "private reasoning")
    )
    assert sealer.open(signature, binding=TEXT_BINDING) == "private reasoning"
    for position, original in enumerate(signature):
        for replacement in STANDARD + "-_=":
            if replacement == original:
                continue
            tampered = _substitute(signature, position, replacement)
            assert refused(sealer, tampered), (
                f"{tampered!r} ([{position}] {original!r} → {replacement!r}) was accepted"
            )


@pytest.mark.parametrize("thoughts", ["a", "ab", "abc"])  # every blob length mod 3
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_any_change_to_the_last_character_is_refused_whatever_the_length(
    sealer, thoughts, spelling
):
    """Unless the blob's length is a multiple of 3, the last base64 character has unused
    low bits; a string that differs in them is still a different string and must not open.
    The same for the last character overall, padding included."""
    signature = sealer.seal(thoughts, binding=TEXT_BINDING)
    raw = blob_of(signature)
    spelled = SPELLINGS[spelling](signature)
    alphabet = URL_SAFE if spelling.startswith("urlsafe") else STANDARD
    data = spelled.rstrip("=")
    padding = spelled[len(data) :]
    last_data_variants = [data[:-1] + c + padding for c in alphabet if c != data[-1]]
    accepted = [v for v in last_data_variants if not refused(sealer, v)]
    assert accepted == [], f"last data character {data[-1]!r} replaced: {accepted} opened"
    last_variants = [
        v for v in (spelled[:-1] + c for c in STANDARD + "-_=")
        if v not in spellings_of(raw)
    ]
    accepted = [v for v in last_variants if not refused(sealer, v)]
    assert accepted == [], f"last character {spelled[-1]!r} replaced: {accepted} opened"
    if len(raw) % 3:  # the test reaches the unused bits: some variants spell the same bytes
        lenient = [
            v for v in last_data_variants
            if base64.b64decode(v.rstrip("=").translate(str.maketrans("-_", "+/"))
                                + "=" * (-len(data) % 4)) == raw
        ]
        assert lenient


@pytest.mark.parametrize("thoughts", ["a", "ab", "abc"])
def test_only_the_padding_that_fits_is_accepted(sealer, thoughts):
    signature = sealer.seal(thoughts, binding=TEXT_BINDING)
    data = signature.rstrip("=")
    pads = len(signature) - len(data)
    for spelled in (data, urlsafe(signature, padded=False)):
        for count in range(4):
            attempt = spelled + "=" * count
            if count in (0, pads):
                assert sealer.open(attempt, binding=TEXT_BINDING) == thoughts
            else:
                assert refused(sealer, attempt), f"{count} '=' after {pads}-padded accepted"
        assert refused(sealer, "=" + spelled)
        assert refused(sealer, spelled[:10] + "=" + spelled[10:])


def test_a_character_outside_base64_is_refused(sealer):
    signature = sealer.seal("thoughts", binding=TEXT_BINDING)
    middle = len(signature) // 2
    for spelled in (signature, urlsafe(signature, padded=False)):
        for junk in ("*", "!", " ", "=", "\n", "\r\n", "\t", ".", "%", "é", "\0", "\ud800"):
            for tampered in (
                spelled[:middle] + junk + spelled[middle:],
                junk + spelled,
                spelled + junk,
                _substitute(spelled, middle, junk),
            ):
                if tampered in spellings_of(blob_of(signature)):  # `=` completing the padding
                    continue
                assert refused(sealer, tampered), f"{junk!r} in {tampered!r} was accepted"


def test_mixed_alphabets_in_one_string_are_refused(sealer):
    """Every `+`/`/` must be `-`/`_` or none: the bytes would be the same either way, but the
    string is neither the spelling we issued nor the SDK's."""
    signature = seal_until(sealer, lambda s: sum(s.count(c) for c in "+/") >= 2)
    positions = [i for i, c in enumerate(signature) if c in "+/"]
    to_url = str.maketrans("+/", "-_")
    to_standard = str.maketrans("-_", "+/")
    first = positions[0]
    half_url = signature[:first] + signature[first].translate(to_url) + signature[first + 1 :]
    full_url = signature.translate(to_url)
    half_standard = full_url[:first] + full_url[first].translate(to_standard) + full_url[
        first + 1 :
    ]
    for mixed in (half_url, half_standard, half_url.rstrip("="), half_standard.rstrip("=")):
        assert refused(sealer, mixed), f"{mixed!r} was accepted"
    assert sealer.open(full_url, binding=TEXT_BINDING) == "thoughts"


def test_changing_the_key_id_is_refused(sealer):
    signature = sealer.seal("thoughts", binding=TEXT_BINDING)
    key_id = key_id_of(signature)
    other = "0" * len(key_id) if key_id != "0" * len(key_id) else "1" * len(key_id)
    assert refused(sealer, relabel(signature, other))
    assert refused(sealer, relabel(signature, key_id.upper() + "x"))
    assert refused(sealer, relabel(signature, key_id[:-1]))
    assert refused(sealer, relabel(signature, key_id + "0"))
    assert sealer.open(relabel(signature, key_id), binding=TEXT_BINDING) == "thoughts"


def test_a_signature_relabelled_with_another_valid_key_id_is_refused(sealer):
    signature = sealer.seal("thoughts", binding=TEXT_BINDING)
    old_id = key_id_of(signature)
    new_id = sealer.rotate()
    assert new_id != old_id
    for spelling in SPELLINGS.values():
        assert refused(sealer, spelling(relabel(signature, new_id)))
    assert sealer.open(signature, binding=TEXT_BINDING) == "thoughts"  # the original still opens


def test_a_signature_relabelled_onto_a_key_with_the_same_secret_is_refused(sealer, keys):
    """The key id is authenticated, not just used to look the key up."""
    signature = sealer.seal("thoughts", binding=TEXT_BINDING)
    [key] = keys.usable()
    keys.add(ThoughtKey(key_id="twin0000", secret=key.secret, created_at=key.created_at - 1))
    assert refused(sealer, relabel(signature, "twin0000"))
    assert sealer.open(signature, binding=TEXT_BINDING) == "thoughts"


def test_a_genuine_blob_under_another_version_is_refused(sealer, keys):
    """Sealed with the real key and the other version as associated data: only the version
    refuses it."""
    signature = sealer.seal("thoughts", binding=TEXT_BINDING)
    [key] = keys.usable()
    _, key_id, nonce, _ = layout(signature)
    payload = json.dumps({"t": "thoughts", "b": "text", "iat": 1_800_000_000}).encode()
    for magic in (b"vxt\x01", b"vxt\x03", b"VXT\x02", b"vxs\x02"):
        header = magic + bytes([len(key_id)]) + key_id.encode()
        sealed = AESGCM(key.secret).encrypt(nonce, payload, header)
        forged = base64.b64encode(header + nonce + sealed).decode()
        assert refused(sealer, forged)
        assert refused(sealer, urlsafe(forged, padded=False))


def test_the_old_format_is_refused_even_when_genuinely_sealed(sealer, keys):
    """`vxts1.<key id>.<base64url>` with the live key: no longer a signature (the client gets
    the documented refusal and starts the turn afresh)."""
    sealer.seal("warm up", binding=TEXT_BINDING)
    [key] = keys.usable()
    payload = json.dumps({"t": "thoughts", "b": "text", "iat": 1_800_000_000}).encode()
    nonce = b"\7" * NONCE
    sealed = AESGCM(key.secret).encrypt(nonce, payload, f"vxts1.{key.key_id}".encode())
    body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
    old = f"vxts1.{key.key_id}.{body}"
    assert refused(sealer, old)
    with pytest.raises(BadThoughtSignature, match="not a thought signature"):
        sealer.open(old, binding=TEXT_BINDING)


def _cut(signature: str, end: int) -> str:
    return base64.b64encode(blob_of(signature)[:end]).decode()


def _extend(signature: str, extra: bytes) -> str:
    return base64.b64encode(blob_of(signature) + extra).decode()


def _with_raw(signature: str, change: Callable[[bytes], bytes]) -> str:
    return base64.b64encode(change(blob_of(signature))).decode()


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: "",
        lambda s: "=",
        lambda s: "====",
        lambda s: "A",
        lambda s: "AAAA",
        lambda s: "skip_thought_signature_validator",
        lambda s: "vxts1",
        lambda s: "vxts1.0123abcd.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        lambda s: "vxts1.bogus.AAAA",
        lambda s: SIGNATURE_PREFIX,
        lambda s: base64.b64encode(MAGIC).decode(),
        lambda s: _cut(s, 5),  # magic and length only
        lambda s: _cut(s, 13),  # header only
        lambda s: _cut(s, 13 + 8),  # shorter than a nonce
        lambda s: _cut(s, 13 + NONCE),  # nothing after the nonce
        lambda s: _cut(s, 13 + NONCE + TAG - 1),  # shorter than a tag
        lambda s: _cut(s, -1),  # tag cut short
        lambda s: _cut(s, -8),
        lambda s: _cut(s, -TAG),  # tag missing
        lambda s: s[:-4],
        lambda s: s[4:],
        lambda s: _extend(s, b"\0"),  # extra bytes after the tag
        lambda s: _extend(s, b"AAAA"),
        lambda s: s + s,
        lambda s: _with_raw(s, lambda r: r[:4] + b"\0" + r[5:]),  # zero-length key id
        lambda s: _with_raw(s, lambda r: r[:4] + b"\xff" + r[5:]),  # key id past the end
        lambda s: _with_raw(s, lambda r: r[:4] + bytes([r[4] + 1]) + r[5:]),
        lambda s: _with_raw(s, lambda r: r[:5] + b"\xe9" + r[6:]),  # non-ASCII key id
        lambda s: _with_raw(s, lambda r: r[:4] + r[5:]),  # length byte missing
        lambda s: assemble(b"0123abcd", b"\0" * NONCE, b"\0" * 40),  # forged zeros
        lambda s: base64.b64encode(b"\0" * 60).decode(),
        lambda s: "x" * 5000,
        lambda s: "A" * 4000,
        lambda s: "\ud800",
    ],
    ids=[
        "empty", "pad-only", "pads-only", "one-char", "four-chars", "skip-value", "old-prefix",
        "old-format", "old-format-bogus", "prefix-only", "magic-only", "magic-and-length",
        "header-only", "shorter-than-nonce", "nonce-only", "shorter-than-tag",
        "tag-one-byte-short", "tag-8-bytes-short", "tag-missing", "last-quantum-dropped",
        "first-quantum-dropped", "extra-byte", "extra-bytes", "doubled", "empty-key-id",
        "key-id-past-end", "key-id-length-off-by-one", "non-ascii-key-id", "no-length-byte",
        "forged-zeros", "zeros", "long-junk", "long-valid-base64", "lone-surrogate",
    ],
)
def test_malformed_or_forged_signatures_are_refused(sealer, mangle):
    signature = sealer.seal("thoughts", binding=TEXT_BINDING)
    assert sealer.open(signature, binding=TEXT_BINDING) == "thoughts"
    assert refused(sealer, mangle(signature))


# --- binding ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sealed_for", "opened_as"),
    [
        (call_binding("a"), call_binding("b")),
        (call_binding("a"), TEXT_BINDING),
        (TEXT_BINDING, call_binding("a")),
        (call_binding("a"), call_binding("A")),
        (call_binding("a"), "call:a "),
        (call_binding("get"), call_binding("get_weather")),
    ],
)
def test_a_signature_moved_to_another_part_is_refused(sealer, sealed_for, opened_as):
    signature = sealer.seal("thoughts", binding=sealed_for)
    assert refused(sealer, signature, binding=opened_as)
    assert sealer.open(signature, binding=sealed_for) == "thoughts"


def test_call_binding_names_the_function():
    assert call_binding("get_weather") == "call:get_weather"
    assert TEXT_BINDING == "text"


# --- keys ------------------------------------------------------------------------------


def test_a_signature_from_another_servers_key_is_refused(tmp_path, clock):
    here_db = open_database(tmp_path / "here")
    there_db = open_database(tmp_path / "there")
    try:
        here = ThoughtSealer(SqlThoughtKeys(here_db), clock=clock)
        there = ThoughtSealer(SqlThoughtKeys(there_db), clock=clock)
        here.seal("warm up", binding=TEXT_BINDING)  # `here` has a key of its own
        foreign = there.seal("thoughts", binding=TEXT_BINDING)
        assert refused(here, foreign)
        # Even under the same key id, another secret does not open it.
        [mine] = SqlThoughtKeys(here_db).usable()
        relabelled = relabel(foreign, mine.key_id)
        assert refused(here, relabelled)
    finally:
        here_db.close()
        there_db.close()


def test_the_first_seal_creates_a_key_when_there_is_none(sealer, keys, clock):
    assert keys.usable() == []
    signature = sealer.seal("thoughts", binding=TEXT_BINDING)
    [key] = keys.usable()
    assert key_id_of(signature) == key.key_id
    assert len(key.secret) == 32
    assert key.created_at == int(clock.now)
    assert key.retired_at is None
    sealer.seal("more", binding=TEXT_BINDING)
    assert len(keys.usable()) == 1  # later seals reuse it


def test_opening_without_any_key_is_refused_and_creates_none(sealer, keys):
    forged = assemble(b"deadbeef", b"\1" * NONCE, b"\1" * 48)
    assert refused(sealer, forged)
    assert keys.usable() == []


def test_rotation_seals_with_the_new_key_and_old_signatures_keep_opening(sealer, clock):
    old = sealer.seal("before", binding=TEXT_BINDING)
    old_id = key_id_of(old)
    clock.now += 60
    new_id = sealer.rotate()
    assert new_id != old_id
    new = sealer.seal("after", binding=call_binding("f"))
    assert key_id_of(new) == new_id
    assert sealer.open(old, binding=TEXT_BINDING) == "before"
    assert sealer.open(new, binding=call_binding("f")) == "after"


def test_rotating_twice_in_the_same_second_seals_with_the_latest_key(sealer):
    sealer.rotate()
    latest = sealer.rotate()
    assert key_id_of(sealer.seal("x", binding=TEXT_BINDING)) == latest


def test_retiring_a_key_ends_its_signatures_but_not_the_new_keys(sealer, keys, clock):
    old = sealer.seal("before", binding=TEXT_BINDING)
    old_id = key_id_of(old)
    clock.now += 60
    new_id = sealer.rotate()
    new = sealer.seal("after", binding=TEXT_BINDING)
    clock.now += 60
    assert sealer.retire(old_id) is True
    assert refused(sealer, old)
    assert sealer.open(new, binding=TEXT_BINDING) == "after"
    assert [k.key_id for k in keys.usable()] == [new_id]
    assert sealer.retire(old_id) is False  # already retired
    assert sealer.retire("no-such-key") is False


def test_retiring_the_only_key_makes_the_next_seal_create_a_fresh_one(sealer, keys):
    old = sealer.seal("before", binding=TEXT_BINDING)
    old_id = key_id_of(old)
    assert sealer.retire(old_id)
    new = sealer.seal("after", binding=TEXT_BINDING)
    assert key_id_of(new) != old_id
    assert refused(sealer, old)
    assert sealer.open(new, binding=TEXT_BINDING) == "after"
    assert [k.key_id for k in keys.usable()] == [key_id_of(new)]


def test_two_sealers_over_one_database_open_each_others_signatures(shared_db, clock):
    first = ThoughtSealer(SqlThoughtKeys(shared_db), clock=clock)
    second = ThoughtSealer(SqlThoughtKeys(shared_db), clock=clock)
    from_first = first.seal("one", binding=TEXT_BINDING)
    from_second = second.seal("two", binding=call_binding("f"))
    assert key_id_of(from_first) == key_id_of(from_second)  # one key, not two
    assert second.open(from_first, binding=TEXT_BINDING) == "one"
    assert first.open(from_second, binding=call_binding("f")) == "two"


def test_a_key_rotated_by_one_sealer_opens_in_another_over_the_same_database(
    shared_db, clock
):
    """Both sealers have already loaded the keys; the rotation happens in one of them
    (another replica or an admin command over the same state database)."""
    first = ThoughtSealer(SqlThoughtKeys(shared_db), clock=clock)
    second = ThoughtSealer(SqlThoughtKeys(shared_db), clock=clock)
    second.open(first.seal("warm", binding=TEXT_BINDING), binding=TEXT_BINDING)
    clock.now += 60
    first.rotate()
    fresh = first.seal("fresh", binding=TEXT_BINDING)
    assert second.open(fresh, binding=TEXT_BINDING) == "fresh"  # no wait at all


def test_a_key_retired_by_one_sealer_stops_opening_in_another_within_a_second(
    shared_db, clock
):
    """Issue 21: a revocation on one replica holds on every replica; the sealers' key
    cache may be at most 1 s stale. `second` reads the keys at the very moment `first`
    retires one, then serves for just over a second."""
    first = ThoughtSealer(SqlThoughtKeys(shared_db), clock=clock)
    second = ThoughtSealer(SqlThoughtKeys(shared_db), clock=clock)
    old = first.seal("old", binding=TEXT_BINDING)
    clock.now += 60
    first.rotate()
    assert second.open(old, binding=TEXT_BINDING) == "old"  # `second` has loaded the key
    assert first.retire(key_id_of(old))
    clock.now += 1.01
    assert refused(second, old)


def test_a_clock_stepped_back_does_not_keep_a_retired_key_opening(shared_db, clock):
    first = ThoughtSealer(SqlThoughtKeys(shared_db), clock=clock)
    second = ThoughtSealer(SqlThoughtKeys(shared_db), clock=clock)
    old = first.seal("old", binding=TEXT_BINDING)
    assert second.open(old, binding=TEXT_BINDING) == "old"
    assert first.retire(key_id_of(old))
    clock.now -= 3600  # NTP stepped the wall clock back an hour
    assert refused(second, old)


def test_a_key_rotated_by_one_sealer_seals_in_another_within_a_second(shared_db, clock):
    first = ThoughtSealer(SqlThoughtKeys(shared_db), clock=clock)
    second = ThoughtSealer(SqlThoughtKeys(shared_db), clock=clock)
    first.seal("first key", binding=TEXT_BINDING)
    clock.now += 60
    second.seal("warm", binding=TEXT_BINDING)  # `second` reads the keys as `first` rotates
    new_id = first.rotate()
    clock.now += 1.01
    assert key_id_of(second.seal("x", binding=TEXT_BINDING)) == new_id


def test_signatures_survive_a_restart(tmp_path, clock):
    db = open_database(tmp_path)
    signature = ThoughtSealer(SqlThoughtKeys(db), clock=clock).seal(
        "kept across restarts", binding=call_binding("f")
    )
    db.close()
    reopened = open_database(tmp_path)
    try:
        after = ThoughtSealer(SqlThoughtKeys(reopened), clock=clock)
        assert after.open(signature, binding=call_binding("f")) == "kept across restarts"
        assert key_id_of(after.seal("x", binding=TEXT_BINDING)) == key_id_of(signature)
    finally:
        reopened.close()


def test_a_retirement_survives_a_restart(tmp_path, clock):
    db = open_database(tmp_path)
    sealer = ThoughtSealer(SqlThoughtKeys(db), clock=clock)
    old = sealer.seal("x", binding=TEXT_BINDING)
    sealer.retire(key_id_of(old))
    db.close()
    reopened = open_database(tmp_path)
    try:
        assert refused(ThoughtSealer(SqlThoughtKeys(reopened), clock=clock), old)
    finally:
        reopened.close()


def test_the_key_secret_never_appears_in_a_signature(sealer, keys):
    signatures = [sealer.seal(t, binding=TEXT_BINDING) for t in ("", "a", "b" * 1000)]
    [key] = keys.usable()
    encodings = {
        key.secret.hex(),
        key.secret.hex().upper(),
        base64.b64encode(key.secret).decode().rstrip("="),
        base64.urlsafe_b64encode(key.secret).decode().rstrip("="),
    }
    for signature in signatures:
        for encoding in encodings:
            # Any 16-character run of the secret's encoding would be a leak.
            for start in range(0, len(encoding) - 16, 4):
                assert encoding[start : start + 16] not in signature
                assert encoding[start : start + 16] not in urlsafe(signature, padded=False)
        raw = blob_of(signature)
        assert key.secret not in raw
        assert key.secret[:16] not in raw and key.secret[16:] not in raw
