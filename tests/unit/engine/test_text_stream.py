"""CandidateText: UTF-8 reassembly across tokens and stop sequences that are never emitted."""

from vertexcompat.engine.text_stream import CandidateText


def feed(ct: CandidateText, pieces: list[bytes]) -> str:
    return "".join(ct.push(p) for p in pieces) + ct.flush()


def test_multibyte_character_split_across_tokens_is_reassembled():
    ct = CandidateText()
    snowman = "☃".encode()
    assert ct.push(snowman[:1]) == ""
    assert ct.push(snowman[1:]) == "☃"


def test_stop_sequence_is_cut_and_not_emitted():
    ct = CandidateText(("STOP",))
    out = feed(ct, [b"hello ", b"ST", b"OP", b" more"])
    assert out == "hello "
    assert ct.stopped


def test_text_resembling_a_stop_prefix_is_released_when_it_diverges():
    ct = CandidateText(("STOP",))
    assert ct.push(b"a ST") == "a "
    assert ct.push(b"ay") == "STay"
    assert not ct.stopped


def test_earliest_of_several_stop_sequences_wins():
    ct = CandidateText(("world", "lo"))
    assert feed(ct, [b"hello world"]) == "hel"


def test_held_back_prefix_is_flushed_at_end():
    ct = CandidateText(("STOP",))
    assert ct.push(b"end ST") == "end "
    assert ct.flush() == "ST"


def test_stop_sequence_inside_one_token_is_cut():
    ct = CandidateText(("4",))
    assert feed(ct, [b"1, 2, 3, 4, 5"]) == "1, 2, 3, "


def test_incomplete_character_at_the_end_is_dropped_not_replaced():
    ct = CandidateText()
    assert ct.push(b"ok ") == "ok "
    assert ct.push("😀".encode()[:2]) == ""
    assert ct.flush() == ""
