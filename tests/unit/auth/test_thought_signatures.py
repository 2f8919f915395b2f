"""Thought signatures (SPEC §5): sealed with the newest key of a real SQLite key store,
opened only where they were issued, and refused whenever anything about them changed."""

from __future__ import annotations

import base64
import json
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vertexcompat.auth.thought_signatures import (
    SIGNATURE_PREFIX,
    TEXT_BINDING,
    BadThoughtSignature,
    ThoughtSealer,
    call_binding,
)
from vertexcompat.store.sqlite import Database, open_database
from vertexcompat.store.thought_keys import SqliteThoughtKeys

from .conftest import Clock

B64URL = string.ascii_letters + string.digits + "-_"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(tmp_path)
    yield database
    database.close()


@pytest.fixture
def keys(db: Database) -> SqliteThoughtKeys:
    return SqliteThoughtKeys(db)


@pytest.fixture
def sealer(keys: SqliteThoughtKeys, clock: Clock) -> ThoughtSealer:
    return ThoughtSealer(keys, clock=clock)


def parts_of(signature: str) -> tuple[str, str, str]:
    prefix, key_id, body = signature.split(".")
    return prefix, key_id, body


def with_body(signature: str, body: str) -> str:
    prefix, key_id, _ = parts_of(signature)
    return f"{prefix}.{key_id}.{body}"


def refused(sealer: ThoughtSealer, signature: str, binding: str = TEXT_BINDING) -> bool:
    try:
        sealer.open(signature, binding=binding)
    except BadThoughtSignature:
        return True
    return False


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


def test_every_signature_is_prefixed_with_version_and_key_id(sealer, keys):
    signatures = [sealer.seal(t, binding=TEXT_BINDING) for t in ("a", "", "ü" * 100)]
    [key] = keys.usable()
    for signature in signatures:
        assert signature.startswith(f"{SIGNATURE_PREFIX}.{key.key_id}.")
        assert signature.startswith("vxts1.")
        prefix, key_id, body = parts_of(signature)
        assert (prefix, key_id) == ("vxts1", key.key_id)
        assert body and set(body) <= set(B64URL)


def test_sealing_the_same_thoughts_twice_gives_different_signatures(sealer):
    first = sealer.seal("same", binding=TEXT_BINDING)
    second = sealer.seal("same", binding=TEXT_BINDING)
    assert first != second
    assert sealer.open(first, binding=TEXT_BINDING) == sealer.open(second, binding=TEXT_BINDING)


def test_the_sealed_payload_has_the_documented_format(sealer, keys, clock):
    """`nonce ‖ AES-256-GCM(JSON {t, b, iat})` with `vxts1.<key id>` as associated data."""
    clock.now = 1_900_000_123.75
    signature = sealer.seal("Überlegung", binding=call_binding("f"))
    [key] = keys.usable()
    _, key_id, body = parts_of(signature)
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    payload = AESGCM(key.secret).decrypt(raw[:12], raw[12:], f"vxts1.{key_id}".encode())
    assert json.loads(payload) == {"t": "Überlegung", "b": "call:f", "iat": 1_900_000_123}
    assert "=" not in body  # unpadded


def test_thoughts_are_not_readable_in_the_signature(sealer):
    secret_plan = "the user's password is hunter2"
    signature = sealer.seal(secret_plan, binding=TEXT_BINDING)
    _, _, body = parts_of(signature)
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert b"hunter2" not in raw
    assert "hunter2" not in signature


# --- tampering -------------------------------------------------------------------------


def _substitute(text: str, position: int, replacement: str) -> str:
    return text[:position] + replacement + text[position + 1 :]


@pytest.mark.parametrize("where", ["first", "second", "middle", "second-to-last", "last"])
def test_flipping_a_character_of_the_body_is_refused(sealer, where):
    signature = sealer.seal("private reasoning", binding=TEXT_BINDING)
    _, _, body = parts_of(signature)
    position = {
        "first": 0,
        "second": 1,
        "middle": len(body) // 2,
        "second-to-last": len(body) - 2,
        "last": len(body) - 1,
    }[where]
    for replacement in B64URL:
        if replacement == body[position]:
            continue
        tampered = with_body(signature, _substitute(body, position, replacement))
        assert refused(sealer, tampered), (
            f"{tampered!r} (body[{position}] {body[position]!r} → {replacement!r}) was accepted"
        )


@pytest.mark.parametrize("thoughts", ["a", "ab", "abc"])  # every sealed length mod 3
def test_any_change_to_the_last_character_is_refused_whatever_the_length(sealer, thoughts):
    """base64url without padding has unused low bits in its last character; a signature
    that differs in them is still a different signature and must not open."""
    signature = sealer.seal(thoughts, binding=TEXT_BINDING)
    _, _, body = parts_of(signature)
    accepted = [
        c for c in B64URL
        if c != body[-1] and not refused(sealer, with_body(signature, body[:-1] + c))
    ]
    assert accepted == [], f"last character {body[-1]!r} replaced by {accepted} still opened"


def test_a_body_with_a_character_outside_base64url_is_refused(sealer):
    signature = sealer.seal("thoughts", binding=TEXT_BINDING)
    _, _, body = parts_of(signature)
    middle = len(body) // 2
    for junk in ("*", "!", " ", "=", "\n"):
        tampered = with_body(signature, body[:middle] + junk + body[middle:])
        assert refused(sealer, tampered), f"inserting {junk!r} into the body was accepted"


def test_the_standard_base64_alphabet_is_not_accepted_for_base64url(sealer):
    # Seal until the body contains a `-` or `_` (almost always on the first try).
    for _ in range(50):
        signature = sealer.seal("thoughts", binding=TEXT_BINDING)
        _, _, body = parts_of(signature)
        if "-" in body or "_" in body:
            break
    else:
        pytest.fail("no body with a url-safe character in 50 seals")
    standard = body.replace("-", "+").replace("_", "/")
    assert refused(sealer, with_body(signature, standard))


def test_changing_the_key_id_is_refused(sealer):
    signature = sealer.seal("thoughts", binding=TEXT_BINDING)
    prefix, key_id, body = parts_of(signature)
    other = "0" * len(key_id) if key_id != "0" * len(key_id) else "1" * len(key_id)
    assert refused(sealer, f"{prefix}.{other}.{body}")
    assert refused(sealer, f"{prefix}.{key_id.upper()}x.{body}")


def test_a_signature_relabelled_with_another_valid_key_id_is_refused(sealer):
    signature = sealer.seal("thoughts", binding=TEXT_BINDING)
    prefix, old_id, body = parts_of(signature)
    new_id = sealer.rotate()
    assert new_id != old_id
    assert refused(sealer, f"{prefix}.{new_id}.{body}")
    assert sealer.open(signature, binding=TEXT_BINDING) == "thoughts"  # the original still opens


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s.replace("vxts1.", "vxts2.", 1),
        lambda s: s.replace("vxts1.", "VXTS1.", 1),
        lambda s: s.replace("vxts1.", "", 1),
        lambda s: "x" + s,
        lambda s: s.rsplit(".", 1)[0],  # no body
        lambda s: s.rsplit(".", 1)[0] + ".",  # empty body
        lambda s: "vxts1..{}".format(s.rsplit(".", 1)[1]),  # empty key id
        lambda s: "vxts1",
        lambda s: "",
        lambda s: "skip_thought_signature_validator",
        lambda s: with_body(s, "!!!!"),
        lambda s: with_body(s, "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@"),
        lambda s: with_body(s, parts_of(s)[2][:16]),  # shorter than a nonce
        lambda s: with_body(s, parts_of(s)[2][:-8]),  # tag cut short
        lambda s: with_body(s, parts_of(s)[2][:-1]),
        lambda s: with_body(s, parts_of(s)[2] + "AAAA"),  # extra bytes after the tag
        lambda s: with_body(s, base64.urlsafe_b64encode(b"\0" * 60).decode().rstrip("=")),
    ],
    ids=[
        "other-version", "upper-prefix", "no-prefix", "prefix-junk", "no-body", "empty-body",
        "empty-key-id", "prefix-only", "empty", "skip-value", "non-base64", "non-base64-long",
        "shorter-than-nonce", "truncated-tag", "one-char-short", "extended", "forged-zeros",
    ],
)
def test_malformed_or_forged_signatures_are_refused(sealer, mangle):
    signature = sealer.seal("thoughts", binding=TEXT_BINDING)
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
        here = ThoughtSealer(SqliteThoughtKeys(here_db), clock=clock)
        there = ThoughtSealer(SqliteThoughtKeys(there_db), clock=clock)
        here.seal("warm up", binding=TEXT_BINDING)  # `here` has a key of its own
        foreign = there.seal("thoughts", binding=TEXT_BINDING)
        assert refused(here, foreign)
        # Even under the same key id, another secret does not open it.
        [mine] = SqliteThoughtKeys(here_db).usable()
        relabelled = f"vxts1.{mine.key_id}.{parts_of(foreign)[2]}"
        assert refused(here, relabelled)
    finally:
        here_db.close()
        there_db.close()


def test_the_first_seal_creates_a_key_when_there_is_none(sealer, keys, clock):
    assert keys.usable() == []
    signature = sealer.seal("thoughts", binding=TEXT_BINDING)
    [key] = keys.usable()
    assert parts_of(signature)[1] == key.key_id
    assert len(key.secret) == 32
    assert key.created_at == int(clock.now)
    assert key.retired_at is None
    sealer.seal("more", binding=TEXT_BINDING)
    assert len(keys.usable()) == 1  # later seals reuse it


def test_opening_without_any_key_is_refused_and_creates_none(sealer, keys):
    forged = "vxts1.deadbeef." + base64.urlsafe_b64encode(b"\1" * 60).decode().rstrip("=")
    assert refused(sealer, forged)
    assert keys.usable() == []


def test_rotation_seals_with_the_new_key_and_old_signatures_keep_opening(sealer, clock):
    old = sealer.seal("before", binding=TEXT_BINDING)
    old_id = parts_of(old)[1]
    clock.now += 60
    new_id = sealer.rotate()
    assert new_id != old_id
    new = sealer.seal("after", binding=call_binding("f"))
    assert new.startswith(f"vxts1.{new_id}.")
    assert sealer.open(old, binding=TEXT_BINDING) == "before"
    assert sealer.open(new, binding=call_binding("f")) == "after"


def test_rotating_twice_in_the_same_second_seals_with_the_latest_key(sealer):
    sealer.rotate()
    latest = sealer.rotate()
    assert parts_of(sealer.seal("x", binding=TEXT_BINDING))[1] == latest


def test_retiring_a_key_ends_its_signatures_but_not_the_new_keys(sealer, keys, clock):
    old = sealer.seal("before", binding=TEXT_BINDING)
    old_id = parts_of(old)[1]
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
    old_id = parts_of(old)[1]
    assert sealer.retire(old_id)
    new = sealer.seal("after", binding=TEXT_BINDING)
    assert parts_of(new)[1] != old_id
    assert refused(sealer, old)
    assert sealer.open(new, binding=TEXT_BINDING) == "after"
    assert [k.key_id for k in keys.usable()] == [parts_of(new)[1]]


def test_two_sealers_over_one_database_open_each_others_signatures(db, clock):
    first = ThoughtSealer(SqliteThoughtKeys(db), clock=clock)
    second = ThoughtSealer(SqliteThoughtKeys(db), clock=clock)
    from_first = first.seal("one", binding=TEXT_BINDING)
    from_second = second.seal("two", binding=call_binding("f"))
    assert parts_of(from_first)[1] == parts_of(from_second)[1]  # one key, not two
    assert second.open(from_first, binding=TEXT_BINDING) == "one"
    assert first.open(from_second, binding=call_binding("f")) == "two"


def test_a_key_rotated_by_one_sealer_opens_in_another_over_the_same_database(db, clock):
    """Both sealers have already loaded the keys; the rotation happens in one of them
    (another worker or an admin command over the same state database)."""
    first = ThoughtSealer(SqliteThoughtKeys(db), clock=clock)
    second = ThoughtSealer(SqliteThoughtKeys(db), clock=clock)
    second.open(first.seal("warm", binding=TEXT_BINDING), binding=TEXT_BINDING)
    clock.now += 60
    first.rotate()
    fresh = first.seal("fresh", binding=TEXT_BINDING)
    assert second.open(fresh, binding=TEXT_BINDING) == "fresh"


def test_a_key_retired_by_one_sealer_soon_stops_opening_in_another(db, clock):
    first = ThoughtSealer(SqliteThoughtKeys(db), clock=clock)
    second = ThoughtSealer(SqliteThoughtKeys(db), clock=clock)
    old = first.seal("old", binding=TEXT_BINDING)
    assert second.open(old, binding=TEXT_BINDING) == "old"  # `second` has loaded the key
    clock.now += 1
    first.rotate()
    first.retire(parts_of(old)[1])
    clock.now += 10 * 60  # well past any reasonable key cache
    assert refused(second, old)


def test_a_key_rotated_by_one_sealer_is_soon_used_for_sealing_by_another(db, clock):
    first = ThoughtSealer(SqliteThoughtKeys(db), clock=clock)
    second = ThoughtSealer(SqliteThoughtKeys(db), clock=clock)
    second.seal("warm", binding=TEXT_BINDING)
    clock.now += 1
    new_id = first.rotate()
    clock.now += 10 * 60
    assert parts_of(second.seal("x", binding=TEXT_BINDING))[1] == new_id


def test_signatures_survive_a_restart(tmp_path, clock):
    db = open_database(tmp_path)
    signature = ThoughtSealer(SqliteThoughtKeys(db), clock=clock).seal(
        "kept across restarts", binding=call_binding("f")
    )
    db.close()
    reopened = open_database(tmp_path)
    try:
        after = ThoughtSealer(SqliteThoughtKeys(reopened), clock=clock)
        assert after.open(signature, binding=call_binding("f")) == "kept across restarts"
        assert parts_of(after.seal("x", binding=TEXT_BINDING))[1] == parts_of(signature)[1]
    finally:
        reopened.close()


def test_a_retirement_survives_a_restart(tmp_path, clock):
    db = open_database(tmp_path)
    sealer = ThoughtSealer(SqliteThoughtKeys(db), clock=clock)
    old = sealer.seal("x", binding=TEXT_BINDING)
    sealer.retire(parts_of(old)[1])
    db.close()
    reopened = open_database(tmp_path)
    try:
        assert refused(ThoughtSealer(SqliteThoughtKeys(reopened), clock=clock), old)
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
        _, _, body = parts_of(signature)
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        assert key.secret not in raw
        assert key.secret[:16] not in raw and key.secret[16:] not in raw
