"""`ThoughtSignatures` around a backend (SPEC §5): restoring sealed thoughts into the
history on the way in, enforcing Gemini 3's signature rule, and sealing a turn's thoughts
on the way out. A real sealer over a real SQLite key store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.unit.auth.conftest import Clock
from vertexcompat.auth.thought_signatures import (
    TEXT_BINDING,
    BadThoughtSignature,
    ThoughtSealer,
    call_binding,
)
from vertexcompat.domain.content import (
    Content,
    FunctionCallPart,
    FunctionResponsePart,
    GenerateContentRequest,
    TextPart,
)
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    FunctionCall,
    TextDelta,
    ThoughtDelta,
    ThoughtSignature,
    Usage,
)
from vertexcompat.services.thoughts import SKIP_SIGNATURE, ThoughtSignatures
from vertexcompat.store.sqlite import open_database
from vertexcompat.store.thought_keys import SqlThoughtKeys

STOP = FinishReason.STOP


@pytest.fixture
def sealer(tmp_path: Path) -> Iterator[ThoughtSealer]:
    db = open_database(tmp_path)
    yield ThoughtSealer(SqlThoughtKeys(db), clock=Clock())
    db.close()


@pytest.fixture
def thoughts(sealer: ThoughtSealer) -> ThoughtSignatures:
    return ThoughtSignatures(sealer)


def request(*contents: Content) -> GenerateContentRequest:
    return GenerateContentRequest(model="m", contents=contents)


def user(text: str = "question") -> Content:
    return Content("user", (TextPart(text),))


def results(*names: str) -> Content:
    return Content("user", tuple(FunctionResponsePart(n, {"ok": True}) for n in names))


def model(*parts) -> Content:
    return Content("model", tuple(parts))


def call(name: str, signature: str | None = None, source: str = "") -> FunctionCallPart:
    return FunctionCallPart(
        name, {"city": "Oslo"}, id=f"call_{name}", thought_signature=signature,
        signature_source=source or f"src.{name}",
    )


def invalid(fn, *args, **kwargs) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        fn(*args, **kwargs)
    return info.value


# --- restore ---------------------------------------------------------------------------


@pytest.mark.parametrize("enforce", [True, False])
def test_a_text_signature_restores_its_thoughts_as_the_first_part(thoughts, sealer, enforce):
    signature = sealer.seal("I planned this answer.", binding=TEXT_BINDING)
    answer = TextPart("Answer.", thought_signature=signature, signature_source="s")
    restored = thoughts.restore(
        request(user(), model(TextPart("client thoughts", thought=True), answer), user("more")),
        enforce=enforce,
    )
    assert restored.contents[1] == model(TextPart("I planned this answer.", thought=True), answer)
    assert restored.contents[0] == user()
    assert restored.contents[2] == user("more")


def test_a_call_signature_restores_its_thoughts_and_keeps_the_calls(thoughts, sealer):
    signature = sealer.seal("Need the weather.", binding=call_binding("get"))
    first, second = call("get", signature), call("put")
    restored = thoughts.restore(
        request(user(), model(TextPart("Let me look."), first, second), results("get", "put")),
        enforce=True,
    )
    assert restored.contents[1].parts == (
        TextPart("Need the weather.", thought=True),
        TextPart("Let me look."),
        first,
        second,
    )


def test_client_sent_thoughts_are_replaced_only_in_the_signed_content(thoughts, sealer):
    signature = sealer.seal("sealed", binding=TEXT_BINDING)
    unsigned = model(TextPart("client-side thinking", thought=True), TextPart("first answer"))
    signed = model(
        TextPart("edited thinking", thought=True),
        TextPart("more edited thinking", thought=True),
        TextPart("second answer", thought_signature=signature),
    )
    restored = thoughts.restore(
        request(user(), unsigned, user("again"), signed, user("last")), enforce=False
    )
    assert restored.contents[1] == unsigned
    assert restored.contents[3].parts == (
        TextPart("sealed", thought=True),
        TextPart("second answer", thought_signature=signature),
    )


def test_several_signatures_in_one_content_are_all_restored_in_order(thoughts, sealer):
    one = sealer.seal("first thought", binding=call_binding("get"))
    two = sealer.seal("second thought", binding=TEXT_BINDING)
    restored = thoughts.restore(
        request(user(), model(call("get", one), TextPart("done", thought_signature=two))),
        enforce=False,
    )
    assert restored.contents[1].parts[0] == TextPart(
        "first thought\n\nsecond thought", thought=True
    )


def test_a_signature_on_a_user_content_is_not_opened(thoughts):
    content = Content("user", (TextPart("hi", thought_signature="vxts1.bogus.AAAA"),))
    assert thoughts.restore(request(content), enforce=True).contents == (content,)


@pytest.mark.parametrize("enforce", [True, False])
def test_the_skip_value_passes_and_restores_nothing(thoughts, enforce):
    history = request(
        user(),
        model(TextPart("old thoughts", thought=True), call("get", SKIP_SIGNATURE)),
        results("get"),
    )
    assert thoughts.restore(history, enforce=enforce) == history


def test_the_skip_value_on_text_restores_nothing(thoughts):
    history = request(
        user(), model(TextPart("a", thought_signature=SKIP_SIGNATURE)), user("b")
    )
    assert thoughts.restore(history, enforce=True) == history


@pytest.mark.parametrize("enforce", [True, False])
def test_a_tampered_text_signature_is_a_400_naming_the_part(thoughts, sealer, enforce):
    signature = sealer.seal("plan", binding=TEXT_BINDING)
    middle = len(signature) - 20
    tampered = signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[
        middle + 1 :
    ]
    source = "messages[1].extra_content.google.thought_signature"
    error = invalid(
        thoughts.restore,
        request(user(), model(TextPart("x", thought_signature=tampered, signature_source=source))),
        enforce=enforce,
    )
    assert error.param == source
    assert error.http_status == 400
    assert "Thought signature is not valid" in error.message


def test_a_forged_call_signature_is_a_400_naming_the_call(thoughts):
    source = "messages[1].tool_calls[0].extra_content.google.thought_signature"
    error = invalid(
        thoughts.restore,
        request(user(), model(call("get", "vxts1.0000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                   source)), results("get")),
        enforce=False,
    )
    assert error.param == source


def test_a_call_signature_moved_to_another_call_is_refused(thoughts, sealer):
    signature = sealer.seal("plan", binding=call_binding("get"))
    error = invalid(
        thoughts.restore,
        request(user(), model(call("put", signature, "messages[1].tool_calls[0].x")),
                results("put")),
        enforce=False,
    )
    assert error.param == "messages[1].tool_calls[0].x"


def test_a_text_signature_moved_onto_a_call_is_refused(thoughts, sealer):
    signature = sealer.seal("plan", binding=TEXT_BINDING)
    with pytest.raises(InvalidArgument):
        thoughts.restore(request(user(), model(call("get", signature)), results("get")),
                         enforce=False)


def test_a_tampered_signature_without_a_source_has_no_param(thoughts):
    part = TextPart("x", thought_signature="garbage")
    assert invalid(thoughts.restore, request(user(), model(part)), enforce=False).param is None


# --- enforcement -----------------------------------------------------------------------


def test_an_unsigned_first_call_of_the_current_turn_is_refused(thoughts):
    source = "messages[1].tool_calls[0].extra_content.google.thought_signature"
    error = invalid(
        thoughts.restore,
        request(user(), model(TextPart("Looking."), call("get", source=source), call("put")),
                results("get", "put")),
        enforce=True,
    )
    assert error.message.startswith("Function call is missing a thought_signature")
    assert error.param == source
    assert "`default_api:get`" in error.message
    assert error.http_status == 400


def test_only_the_first_call_of_a_step_needs_a_signature(thoughts, sealer):
    signature = sealer.seal("plan", binding=call_binding("get"))
    thoughts.restore(
        request(user(), model(call("get", signature), call("put")), results("get", "put")),
        enforce=True,
    )


def test_a_signature_on_a_later_call_does_not_excuse_the_first(thoughts, sealer):
    signature = sealer.seal("plan", binding=call_binding("put"))
    error = invalid(
        thoughts.restore,
        request(user(), model(call("get"), call("put", signature)), results("get", "put")),
        enforce=True,
    )
    assert error.param == "src.get"


def test_calls_before_the_last_user_message_are_not_checked(thoughts):
    history = request(
        user("earlier question"),
        model(call("get")),
        results("get"),
        model(TextPart("It is sunny.")),
        user("new question"),
    )
    assert thoughts.restore(history, enforce=True) == history


def test_function_results_do_not_start_a_new_turn(thoughts, sealer):
    signed = sealer.seal("plan", binding=call_binding("get"))
    error = invalid(
        thoughts.restore,
        request(
            user(),
            model(call("get", signed)),
            results("get"),
            model(call("put", source="messages[3].tool_calls[0].sig")),
            results("put"),
        ),
        enforce=True,
    )
    assert error.message.startswith("Function call is missing a thought_signature")
    assert error.param == "messages[3].tool_calls[0].sig"
    assert "`default_api:put`" in error.message


def test_every_step_of_the_current_turn_is_checked_not_only_the_last(thoughts, sealer):
    signed = sealer.seal("plan", binding=call_binding("put"))
    error = invalid(
        thoughts.restore,
        request(
            user(),
            model(call("get", source="first-step")),
            results("get"),
            model(call("put", signed)),
            results("put"),
        ),
        enforce=True,
    )
    assert error.param == "first-step"


def test_a_model_content_without_calls_needs_no_signature(thoughts):
    history = request(user(), model(TextPart("Hi!")), results("get"))
    assert thoughts.restore(history, enforce=True) == history


@pytest.mark.parametrize(
    "history",
    [
        request(user(), model(call("get")), results("get")),
        request(user(), model(call("get")), results("get"), model(call("put")), results("put")),
        request(user(), model(TextPart("x"), call("get"), call("put"))),
    ],
)
def test_without_enforcement_missing_signatures_are_fine(thoughts, history):
    assert thoughts.restore(history, enforce=False) == history


# --- sign ------------------------------------------------------------------------------


async def _source(events, log: list[str] | None = None) -> AsyncIterator:
    try:
        for event in events:
            yield event
    finally:
        if log is not None:
            log.append("closed")


def sign(thoughts: ThoughtSignatures, events, *, enforce: bool) -> list:
    async def go():
        return [e async for e in thoughts.sign(_source(events), enforce=enforce)]

    return asyncio.run(go())


def signatures_of(events) -> list[ThoughtSignature]:
    return [e for e in events if isinstance(e, ThoughtSignature)]


@pytest.mark.parametrize("enforce", [True, False])
def test_a_text_turn_gets_a_signature_right_before_finished(thoughts, sealer, enforce):
    out = sign(
        thoughts,
        [
            ThoughtDelta(0, "First, "),
            ThoughtDelta(0, "think."),
            TextDelta(0, "Ans"),
            TextDelta(0, "wer"),
            Finished(0, STOP),
            Usage(prompt_tokens=1, completion_tokens=2),
        ],
        enforce=enforce,
    )
    assert [type(e).__name__ for e in out] == [
        "ThoughtDelta", "ThoughtDelta", "TextDelta", "TextDelta", "ThoughtSignature",
        "Finished", "Usage",
    ]
    signature = out[4]
    assert signature.candidate == 0
    assert sealer.open(signature.signature, binding=TEXT_BINDING) == "First, think."
    with pytest.raises(BadThoughtSignature):
        sealer.open(signature.signature, binding=call_binding("x"))


@pytest.mark.parametrize("enforce", [True, False])
def test_only_the_first_call_of_a_candidate_carries_the_signature(thoughts, sealer, enforce):
    out = sign(
        thoughts,
        [
            ThoughtDelta(0, "Need two tools."),
            TextDelta(0, "Checking."),
            FunctionCall(0, "get", {"city": "Oslo"}, id="a"),
            FunctionCall(0, "put", {}, id="b"),
            Finished(0, STOP),
        ],
        enforce=enforce,
    )
    calls = [e for e in out if isinstance(e, FunctionCall)]
    assert [c.name for c in calls] == ["get", "put"]
    assert sealer.open(calls[0].thought_signature, binding=call_binding("get")) == (
        "Need two tools."
    )
    with pytest.raises(BadThoughtSignature):
        sealer.open(calls[0].thought_signature, binding=call_binding("put"))
    assert calls[1].thought_signature is None
    assert signatures_of(out) == []
    # Everything else passes through unchanged.
    assert (calls[0].id, calls[0].args) == ("a", {"city": "Oslo"})
    assert out[-1] == Finished(0, STOP)


def test_no_thoughts_and_no_enforcement_means_no_signature_anywhere(thoughts):
    events = [
        TextDelta(0, "Hi"),
        Finished(0, STOP),
        FunctionCall(1, "get", {}),
        Finished(1, STOP),
        Usage(prompt_tokens=1, completion_tokens=1),
    ]
    assert sign(thoughts, events, enforce=False) == events


def test_empty_thought_deltas_count_as_no_thoughts(thoughts):
    events = [ThoughtDelta(0, ""), TextDelta(0, "Hi"), Finished(0, STOP)]
    assert signatures_of(sign(thoughts, events, enforce=False)) == []


def test_no_thoughts_on_an_enforcing_model_still_gets_signatures(thoughts, sealer):
    out = sign(
        thoughts,
        [
            TextDelta(0, "Hi"),
            Finished(0, STOP),
            FunctionCall(1, "get", {}),
            FunctionCall(1, "put", {}),
            Finished(1, STOP),
        ],
        enforce=True,
    )
    [text_signature] = signatures_of(out)
    assert text_signature.candidate == 0
    assert sealer.open(text_signature.signature, binding=TEXT_BINDING) == ""
    calls = [e for e in out if isinstance(e, FunctionCall)]
    assert sealer.open(calls[0].thought_signature, binding=call_binding("get")) == ""
    assert calls[1].thought_signature is None


def test_candidates_are_signed_independently(thoughts, sealer):
    out = sign(
        thoughts,
        [
            ThoughtDelta(0, "zero thinks"),
            ThoughtDelta(1, "one thinks"),
            TextDelta(0, "text"),
            ThoughtDelta(1, " more"),
            FunctionCall(1, "get", {}),
            FunctionCall(0, "put", {}),
            Finished(1, STOP),
            Finished(0, STOP),
        ],
        enforce=False,
    )
    calls = {e.candidate: e for e in out if isinstance(e, FunctionCall)}
    assert sealer.open(calls[1].thought_signature, binding=call_binding("get")) == (
        "one thinks more"
    )
    assert sealer.open(calls[0].thought_signature, binding=call_binding("put")) == "zero thinks"
    assert signatures_of(out) == []


def test_one_candidate_thinking_does_not_sign_the_other(thoughts, sealer):
    out = sign(
        thoughts,
        [
            ThoughtDelta(1, "only one thinks"),
            TextDelta(0, "a"),
            TextDelta(1, "b"),
            Finished(0, STOP),
            Finished(1, STOP),
        ],
        enforce=False,
    )
    [signature] = signatures_of(out)
    assert signature.candidate == 1
    assert sealer.open(signature.signature, binding=TEXT_BINDING) == "only one thinks"
    position = out.index(signature)
    assert out[position + 1] == Finished(1, STOP)


def test_a_candidate_that_called_gets_no_text_signature_at_its_finish(thoughts):
    out = sign(
        thoughts,
        [ThoughtDelta(0, "t"), FunctionCall(0, "get", {}), TextDelta(0, "after"),
         Finished(0, STOP)],
        enforce=True,
    )
    assert signatures_of(out) == []


def test_closing_the_signed_stream_early_closes_the_backend_stream(thoughts):
    log: list[str] = []

    async def go():
        out = thoughts.sign(
            _source([ThoughtDelta(0, "a"), TextDelta(0, "b"), Finished(0, STOP)], log),
            enforce=False,
        )
        first = await out.__anext__()
        assert log == []
        await out.aclose()
        return first

    assert asyncio.run(go()) == ThoughtDelta(0, "a")
    assert log == ["closed"]


def test_the_backend_stream_is_closed_when_signing_completes(thoughts):
    log: list[str] = []

    async def go():
        return [e async for e in thoughts.sign(_source([TextDelta(0, "x")], log),
                                               enforce=False)]

    asyncio.run(go())
    assert log == ["closed"]
