"""The candidate decoder driven by scripted token pieces, without a model: text, stop
sequences across pieces, max_tokens and the context, thoughts (marker, end of turn,
budget), the start of the answer after thoughts, and the answer guard."""

import pytest

from vertexcompat.domain.events import Finished, FinishReason, TextDelta, ThoughtDelta
from vertexcompat.engine.candidate import CandidateDecoder, Step
from vertexcompat.engine.thinking import ThinkingPlan

CLOSE = (901, 902, 903)  # forced when the budget is spent or the model ends its turn
AFTER_MARKER = (904,)  # forced when the model wrote `</think>` itself
END = None  # an end-of-generation token in a script


def decoder(*, stop=(), max_tokens=100, context_room=1000, budget=None, close=CLOSE):
    events = []
    plan = None if budget is None else ThinkingPlan(
        budget=budget, close_tokens=close, after_marker_tokens=AFTER_MARKER
    )
    dec = CandidateDecoder(
        3, events.append, stop=stop, max_tokens=max_tokens, context_room=context_room,
        thinking=plan,
    )
    return dec, events


def play(dec, script):
    """Feed pieces (str, bytes, or END); the steps, stopping at DONE."""
    steps = []
    for piece in script:
        if piece is END:
            step = dec.on_end_of_turn()
        else:
            step = dec.on_token(piece.encode() if isinstance(piece, str) else piece)
        steps.append(step)
        if step is Step.DONE:
            break
    return steps


def text(events, kind=TextDelta):
    return "".join(e.text for e in events if isinstance(e, kind))


def finished(events):
    [finish] = [e for e in events if isinstance(e, Finished)]
    assert events[-1] is finish, "Finished is the candidate's last event"
    return finish.reason


# -- answers ---------------------------------------------------------------------------


def test_text_streams_as_it_comes_and_events_carry_the_candidate_index():
    dec, events = decoder()
    assert play(dec, ["Hel", "lo", " there"]) == [Step.NEXT] * 3
    assert [e for e in events] == [TextDelta(3, "Hel"), TextDelta(3, "lo"), TextDelta(3, " there")]
    assert dec.generated == 3 and dec.thought_tokens == 0


def test_a_character_split_across_tokens_is_emitted_whole():
    dec, events = decoder()
    snowman = "☃".encode()
    play(dec, [b"a" + snowman[:1], snowman[1:] + b"b"])
    assert [e.text for e in events] == ["a", "☃b"]


def test_end_of_turn_finishes_with_stop_and_is_not_counted():
    dec, events = decoder()
    assert play(dec, ["Hi", END]) == [Step.NEXT, Step.DONE]
    assert finished(events) is FinishReason.STOP
    assert dec.generated == 1


def test_max_tokens_finishes_on_the_last_allowed_token():
    dec, events = decoder(max_tokens=3)
    assert play(dec, ["a", "b", "c", "d"]) == [Step.NEXT, Step.NEXT, Step.DONE]
    assert text(events) == "abc" and finished(events) is FinishReason.MAX_TOKENS
    assert dec.generated == 3


def test_a_full_context_finishes_like_max_tokens():
    dec, events = decoder(max_tokens=100, context_room=2)
    assert play(dec, ["a", "b", "c"]) == [Step.NEXT, Step.DONE]
    assert finished(events) is FinishReason.MAX_TOKENS


@pytest.mark.parametrize("pieces", [
    ["hello ", "ST", "OP", " more"],
    ["hello S", "T", "O", "P"],
    ["hello STOP more"],
    ["hel", "lo STO", "P"],
])
def test_a_stop_sequence_split_anywhere_is_cut_and_never_emitted(pieces):
    dec, events = decoder(stop=("STOP",))
    steps = play(dec, pieces)
    assert steps[-1] is Step.DONE and steps[:-1] == [Step.NEXT] * (len(steps) - 1)
    assert text(events) == "hello "
    assert finished(events) is FinishReason.STOP


def test_text_held_as_a_possible_stop_is_released_when_it_diverges_or_the_answer_ends():
    dec, events = decoder(stop=("STOP",), max_tokens=3)
    play(dec, ["a ST", "ay ", "ST"])
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["a ", "STay ", "ST"]
    assert finished(events) is FinishReason.MAX_TOKENS


def test_the_earliest_stop_sequence_wins():
    dec, events = decoder(stop=("world", "lo"))
    play(dec, ["hello world"])
    assert text(events) == "hel"


# -- thoughts --------------------------------------------------------------------------


def test_a_spent_budget_ends_the_thoughts_with_the_forced_close():
    dec, events = decoder(budget=3)
    assert play(dec, ["I", " think", " so"]) == [Step.NEXT, Step.NEXT, Step.ANSWER]
    assert dec.forced == CLOSE and not dec.thinking
    assert dec.thought_tokens == 3 and dec.generated == 3 + len(CLOSE)
    assert text(events, ThoughtDelta) == "I think so"
    assert play(dec, ["Blue", END]) == [Step.NEXT, Step.DONE]
    assert text(events) == "Blue" and finished(events) is FinishReason.STOP
    assert dec.generated == 3 + len(CLOSE) + 1


def test_the_model_closing_its_thoughts_itself_gets_the_after_marker_text():
    dec, events = decoder(budget=50)
    assert play(dec, ["Rayleigh", " scattering</th", "ink>"]) == [Step.NEXT, Step.NEXT, Step.ANSWER]
    assert dec.forced == AFTER_MARKER
    assert text(events, ThoughtDelta) == "Rayleigh scattering"
    assert dec.thought_tokens == 3 and dec.generated == 3 + len(AFTER_MARKER)


def test_an_end_of_turn_while_thinking_is_replaced_by_the_close():
    dec, events = decoder(budget=50)
    assert play(dec, ["A draft.", END]) == [Step.NEXT, Step.ANSWER]
    assert dec.forced == CLOSE
    # the end of turn is neither a thought nor output; the close is
    assert dec.thought_tokens == 1 and dec.generated == 1 + len(CLOSE)
    assert text(events, ThoughtDelta) == "A draft."


def test_an_end_of_turn_while_thinking_without_a_close_ends_the_candidate():
    dec, events = decoder(budget=50, close=())
    assert play(dec, ["A draft.", END]) == [Step.NEXT, Step.DONE]
    assert finished(events) is FinishReason.STOP


def test_max_tokens_inside_the_thoughts_ends_the_candidate_with_its_thoughts():
    dec, events = decoder(budget=100, max_tokens=4)
    assert play(dec, ["a", "b", "c", "d", "e"]) == [Step.NEXT] * 3 + [Step.DONE]
    assert text(events, ThoughtDelta) == "abcd" and text(events) == ""
    assert finished(events) is FinishReason.MAX_TOKENS
    assert dec.thought_tokens == dec.generated == 4


def test_no_room_for_the_forced_close_ends_the_candidate():
    # the budget is spent after 3 tokens, but 3 + the 3-token close exceeds max_tokens
    dec, events = decoder(budget=3, max_tokens=6)
    assert play(dec, ["a", "b", "c"]) == [Step.NEXT, Step.NEXT, Step.DONE]
    assert finished(events) is FinishReason.MAX_TOKENS
    dec, events = decoder(budget=3, max_tokens=7)
    assert play(dec, ["a", "b", "c"])[-1] is Step.ANSWER


def test_thoughts_drop_leading_space_and_a_repeated_open_marker():
    dec, events = decoder(budget=50)
    play(dec, ["\n<th", "ink>\n", "Light.", "</think>"])
    assert text(events, ThoughtDelta) == "Light."


def test_every_thought_comes_before_the_answer_and_the_finish_is_last():
    dec, events = decoder(budget=2, stop=("x",))
    play(dec, ["one", " two", "Answer", " here", END])
    kinds = [type(e) for e in events]
    assert kinds == [ThoughtDelta, ThoughtDelta, TextDelta, TextDelta, Finished]


# -- the answer after thoughts ---------------------------------------------------------


def test_the_answer_drops_leading_space_and_a_repeated_open_marker_split_anywhere():
    full = "\n <think>\nThe answer is 4."
    for cut in range(len(full) + 1):
        dec, events = decoder(budget=1)
        play(dec, ["t"])
        play(dec, [full[:cut], full[cut:], END])
        assert text(events) == "The answer is 4.", cut


def test_an_answer_that_opens_a_new_reasoning_segment_is_over():
    dec, events = decoder(budget=1)
    play(dec, ["t"])
    assert play(dec, ["Blue.", " <thi", "nk> more notes"]) == [Step.NEXT, Step.NEXT, Step.DONE]
    assert text(events) == "Blue. "
    assert finished(events) is FinishReason.STOP


def test_an_answer_that_writes_the_close_marker_again_is_over():
    dec, events = decoder(budget=1)
    play(dec, ["t"])
    assert play(dec, ["Blue.", "</think>", "more"])[-1] is Step.DONE
    assert text(events) == "Blue."


def test_the_client_stop_sequences_apply_to_the_answer_not_the_thoughts():
    dec, events = decoder(budget=2, stop=("sky",))
    play(dec, ["the sky", " is", "The sky is blue"])
    assert text(events, ThoughtDelta) == "the sky is"
    assert text(events) == "The " and finished(events) is FinishReason.STOP


# -- finishing from outside ------------------------------------------------------------


def test_finish_releases_held_text_then_the_reason():
    dec, events = decoder(stop=("STOP",))
    play(dec, ["end ST"])
    assert dec.finish(FinishReason.MALFORMED_FUNCTION_CALL) is Step.DONE
    assert text(events) == "end ST"
    assert finished(events) is FinishReason.MALFORMED_FUNCTION_CALL


def test_finish_while_thinking_keeps_the_thoughts_written_so_far():
    dec, events = decoder(budget=50)
    play(dec, ["half a tho", "ught <"])
    dec.finish(FinishReason.STOP)
    assert text(events, ThoughtDelta) == "half a thought <"
    assert text(events) == "" and finished(events) is FinishReason.STOP


def test_the_answer_is_opening_from_the_end_of_the_thoughts_until_its_first_text():
    dec, _ = decoder(budget=2)
    assert not dec.answer_opening  # thinking
    play(dec, ["a", "b"])  # the budget is spent: the answer starts
    assert dec.answer_opening
    play(dec, ["  ", "<think>"])  # whitespace and a repeated open marker are not text
    assert dec.answer_opening
    play(dec, ["Yes"])
    assert not dec.answer_opening


def test_a_candidate_without_thoughts_never_has_an_opening_answer():
    dec, _ = decoder()
    assert not dec.answer_opening
    play(dec, ["Hi"])
    assert not dec.answer_opening
