"""Log probabilities on the candidate path, without a model: each answer token's
`TokenLogprobs` comes out in order, no later than the `TextDelta` carrying its text; tokens
holding part of a character wait for the rest; a stop sequence holds them back with its
text and drops those wholly inside it; thoughts, forced tokens and the end of the turn get
none."""

from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    TextDelta,
    ThoughtDelta,
    TokenChoice,
    TokenLogprobs,
)
from vertexcompat.engine.candidate import CandidateDecoder, Step
from vertexcompat.engine.thinking import ThinkingPlan

END = None  # an end of generation in a script


def decoder(*, stop=(), max_tokens=100, budget=None):
    events = []
    plan = None if budget is None else ThinkingPlan(
        budget=budget, close_tokens=(901,), after_marker_tokens=(904,)
    )
    dec = CandidateDecoder(
        2, events.append, stop=stop, max_tokens=max_tokens, context_room=1000, thinking=plan
    )
    return dec, events


def lp(piece: bytes, i: int) -> TokenLogprobs:
    """A token's log probabilities, its id standing for its place in the script."""
    return TokenLogprobs(2, TokenChoice(piece, -0.5, i), (TokenChoice(piece, -0.5, i),))


def play(dec, script):
    """Feed bytes pieces (with their log probabilities) or END, stopping at DONE."""
    for i, piece in enumerate(script):
        step = dec.on_end_of_turn() if piece is END else dec.on_token(piece, lp(piece, i))
        if step is Step.DONE:
            return
    dec.finish(FinishReason.STOP)


def answer(events) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def chosen(events) -> list[int]:
    return [e.chosen.token_id for e in events if isinstance(e, TokenLogprobs)]


def joined(events) -> bytes:
    return b"".join(e.chosen.token for e in events if isinstance(e, TokenLogprobs))


def assert_no_later_than_text(events):
    """Every character of the answer comes after the events of the tokens spelling it:
    the bytes of the events before each TextDelta cover the text so far."""
    seen, text = b"", ""
    for e in events:
        if isinstance(e, TokenLogprobs):
            seen += e.chosen.token
        elif isinstance(e, TextDelta):
            text += e.text
            assert seen.decode("utf-8", errors="ignore").startswith(text), (seen, text)


def test_every_answer_token_gets_its_event_before_its_text():
    dec, events = decoder()
    play(dec, [b"Hel", b"lo", b" there"])
    assert chosen(events) == [0, 1, 2]
    assert joined(events).decode() == answer(events) == "Hello there"
    assert isinstance(events[0], TokenLogprobs) and isinstance(events[1], TextDelta)
    assert_no_later_than_text(events)
    assert events[-1] == Finished(2, FinishReason.STOP)


def test_split_characters_rejoin_to_exactly_the_answer_bytes():
    emoji = "☕🍔".encode()  # 3 + 4 bytes, split across tokens every which way
    script = [b"caf", "é".encode()[:1], "é".encode()[1:] + b" ", emoji[:2], emoji[2:5], emoji[5:]]
    dec, events = decoder()
    play(dec, script)
    assert answer(events) == "café ☕🍔"
    assert joined(events) == "café ☕🍔".encode()
    assert chosen(events) == list(range(len(script)))
    assert_no_later_than_text(events)
    # The first byte of "é" spells nothing yet: its event waits for the byte that ends it.
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta) and "é" in e.text)
    assert chosen(events[:first_text]) == [0, 1, 2]


def test_a_stop_sequence_holds_the_events_back_and_drops_the_tokens_inside_it():
    dec, events = decoder(stop=("END",))
    play(dec, [b"Done", b" E", b"ND", b" more"])
    assert answer(events) == "Done "
    # " E" spells the answer's space: reported; "ND" lies wholly inside the stop sequence.
    assert chosen(events) == [0, 1]
    assert_no_later_than_text(events)
    assert events[-1] == Finished(2, FinishReason.STOP)


def test_text_held_for_a_possible_stop_releases_its_events_with_it():
    dec, events = decoder(stop=("END",))
    play(dec, [b"A", b" E", b"x", b"!"])
    assert answer(events) == "A Ex!"
    assert chosen(events) == [0, 1, 2, 3]
    assert_no_later_than_text(events)
    # " E" waited with its text: its event comes after the first event's text.
    assert [type(e).__name__ for e in events[:3]] == ["TokenLogprobs", "TextDelta", "TokenLogprobs"]


def test_held_text_at_the_end_releases_its_events():
    dec, events = decoder(stop=("END",), max_tokens=2)
    play(dec, [b"Hi", b" EN"])
    assert answer(events) == "Hi EN"
    assert chosen(events) == [0, 1]
    assert events[-1] == Finished(2, FinishReason.MAX_TOKENS)


def test_bytes_of_a_character_cut_by_max_tokens_are_not_reported():
    dec, events = decoder(max_tokens=2)
    play(dec, [b"ok ", "🍔".encode()[:2]])
    assert answer(events) == "ok "
    assert chosen(events) == [0]


def test_the_end_of_turn_has_no_event():
    dec, events = decoder()
    play(dec, [b"Hi", END])
    assert chosen(events) == [0]


def test_thought_tokens_and_the_forced_close_have_no_events():
    dec, events = decoder(budget=2)
    # The budget of two thought tokens is spent: the close is forced, then the answer.
    assert dec.on_token(b"hmm", lp(b"hmm", 0)) is Step.NEXT
    assert dec.on_token(b" ok", lp(b" ok", 1)) is Step.ANSWER
    assert dec.on_token(b"Yes", lp(b"Yes", 2)) is Step.NEXT
    dec.finish(FinishReason.STOP)
    assert chosen(events) == [2]
    thoughts = [i for i, e in enumerate(events) if isinstance(e, ThoughtDelta)]
    assert thoughts and max(thoughts) < events.index(next(e for e in events if isinstance(e, TokenLogprobs)))
    assert answer(events) == "Yes"


def test_without_log_probabilities_nothing_changes():
    dec, events = decoder(stop=("END",))
    for piece in (b"Done", b" E", b"ND"):
        dec.on_token(piece)
    assert events == [TextDelta(2, "Done"), TextDelta(2, " "), Finished(2, FinishReason.STOP)]
