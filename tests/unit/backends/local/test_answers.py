"""Answers driven by scripted engine events, without a model: calls cut out of each
candidate's text, a repeated call ends its candidate, malformed and unfinished calls, and
the JSON post-check."""

import logging

from vertexcompat.backends.local.answers import CallAnswers, JsonAnswers, post_check
from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    FunctionCall,
    TextDelta,
    ThoughtDelta,
    Usage,
)
from vertexcompat.domain.tools import FunctionDeclaration

WEATHER = FunctionDeclaration(
    "get_weather", "Weather.",
    {"type": "object", "properties": {"city": {"type": "string", "maxLength": 5}}},
)
CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
STOP, LENGTH = FinishReason.STOP, FinishReason.MAX_TOKENS


def calls(script, *, declarations=(WEATHER,)):
    """Feed the scripted events; (events out, candidates asked to end)."""
    ended = []
    answers = CallAnswers(declarations, end_candidate=ended.append)
    out = [e for event in script for e in answers.feed(event)]
    return out, ended


def pieces(candidate, text, size=7):
    return [TextDelta(candidate, text[i:i + size]) for i in range(0, len(text), size)]


def merged(events):
    out = []
    for e in events:
        if isinstance(e, TextDelta) and out and isinstance(out[-1], TextDelta) \
                and out[-1].candidate == e.candidate:
            out[-1] = TextDelta(e.candidate, out[-1].text + e.text)
        else:
            out.append(e)
    return out


def test_plain_text_passes_through_and_finishes_as_it_did():
    out, ended = calls([*pieces(0, "The sky is blue."), Finished(0, STOP), Usage(5, 4)])
    assert merged(out) == [TextDelta(0, "The sky is blue."), Finished(0, STOP), Usage(5, 4)]
    assert ended == []


def test_a_call_split_across_deltas_becomes_one_function_call():
    out, _ = calls([*pieces(0, "Let me check. " + CALL), Finished(0, STOP)])
    assert merged(out) == [
        TextDelta(0, "Let me check."),
        FunctionCall(0, "get_weather", {"city": "Oslo"}),
        Finished(0, STOP),
    ]


def test_a_bare_call_object_is_a_call():
    out, _ = calls([*pieces(1, '{"name": "get_weather", "arguments": {}}'), Finished(1, STOP)])
    assert out == [FunctionCall(1, "get_weather", {}), Finished(1, STOP)]


def test_candidates_are_parsed_apart_even_interleaved():
    a, b = pieces(0, CALL, 5), pieces(1, "Plain answer.", 3)
    script = [e for pair in zip(a, b + [None] * len(a)) for e in pair if e is not None]
    out, _ = calls([*script, Finished(1, STOP), Finished(0, STOP)])
    assert [e for e in merged(out) if e.candidate == 0] == [
        FunctionCall(0, "get_weather", {"city": "Oslo"}), Finished(0, STOP)]
    assert [e for e in merged(out) if e.candidate == 1] == [
        TextDelta(1, "Plain answer."), Finished(1, STOP)]


def test_a_repeated_call_is_dropped_and_ends_its_candidate_only():
    script = [*pieces(0, CALL + "\n" + CALL + "\nand more"), *pieces(1, CALL + CALL),
              Finished(0, LENGTH), Finished(1, STOP)]
    out, ended = calls(script)
    assert ended == [0, 1]
    assert out == [
        FunctionCall(0, "get_weather", {"city": "Oslo"}),
        FunctionCall(1, "get_weather", {"city": "Oslo"}),
        # what followed the repeat is not the answer, and the cut is not a length finish
        Finished(0, STOP),
        Finished(1, STOP),
    ]


def test_two_different_calls_are_both_kept():
    other = CALL.replace("Oslo", "Rome")
    out, ended = calls([*pieces(0, CALL + other), Finished(0, STOP)])
    assert [e.args["city"] for e in out if isinstance(e, FunctionCall)] == ["Oslo", "Rome"]
    assert ended == []


def test_a_call_that_does_not_parse_is_malformed_and_silences_its_candidate():
    out, _ = calls([*pieces(0, "<tool_call>{not json}</tool_call> then text"), Finished(0, STOP)])
    assert out == [Finished(0, FinishReason.MALFORMED_FUNCTION_CALL)]


def test_a_call_left_open_is_malformed_when_the_model_stopped_but_length_when_cut():
    open_call = '<tool_call>{"name": "get_weather", "argu'
    assert calls([*pieces(0, open_call), Finished(0, STOP)])[0] == [
        Finished(0, FinishReason.MALFORMED_FUNCTION_CALL)]
    assert calls([*pieces(0, open_call), Finished(0, LENGTH)])[0] == [Finished(0, LENGTH)]


def test_text_held_as_a_possible_call_start_is_released_at_the_finish():
    out, _ = calls([TextDelta(0, "See <tool"), Finished(0, STOP)])
    assert merged(out) == [TextDelta(0, "See <tool"), Finished(0, STOP)]


def test_thoughts_and_usage_pass_through_untouched():
    thought = ThoughtDelta(0, '<tool_call>{"name": "x"}</tool_call>')
    out, _ = calls([thought, *pieces(0, CALL), Finished(0, STOP), Usage(3, 9, reasoning_tokens=2)])
    assert out[0] is thought and out[-1] == Usage(3, 9, reasoning_tokens=2)


def test_arguments_that_fail_their_schema_are_kept_and_logged(caplog):
    long_city = CALL.replace("Oslo", "Llanfair")
    with caplog.at_level(logging.WARNING, logger="vertexcompat.backends.local.answers"):
        out, _ = calls([*pieces(0, long_city), Finished(0, STOP)])
    assert out[0] == FunctionCall(0, "get_weather", {"city": "Llanfair"})
    [record] = caplog.records
    assert "get_weather" in record.getMessage() and "post-check" in record.getMessage()


# -- JSON ------------------------------------------------------------------------------

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 5}}}


def json_answers(script, caplog):
    answers = JsonAnswers(SCHEMA)
    with caplog.at_level(logging.WARNING, logger="vertexcompat.backends.local.answers"):
        out = [e for event in script for e in answers.feed(event)]
    assert out == script  # every event passes as it is
    return [r.getMessage() for r in caplog.records]


def test_a_json_answer_that_fails_its_schema_keeps_its_stop_and_is_logged(caplog):
    logged = json_answers([*pieces(1, '{"n": 1}', 3), Finished(1, STOP)], caplog)
    assert len(logged) == 1 and "candidate 1" in logged[0] and "minimum" in logged[0]


def test_a_json_answer_cut_by_max_tokens_or_valid_is_not_checked(caplog):
    assert json_answers([*pieces(0, '{"n": 1', 2), Finished(0, LENGTH)], caplog) == []
    assert json_answers([*pieces(0, '{"n": 7}', 2), Finished(0, STOP)], caplog) == []


def test_json_answers_are_checked_per_candidate(caplog):
    script = [TextDelta(0, '{"n": '), TextDelta(1, '{"n": 9}'), TextDelta(0, "2}"),
              Finished(1, STOP), Finished(0, STOP)]
    [message] = json_answers(script, caplog)
    assert "candidate 0" in message


def test_post_check_failure_is_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="vertexcompat.backends.local.answers"):
        post_check('{"n": 1}', SCHEMA, 0)
    [record] = caplog.records
    assert "post-check" in record.getMessage() and "less than the minimum" in record.getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vertexcompat.backends.local.answers"):
        post_check('{"n": 7}', SCHEMA, 0)
    assert not caplog.records
