"""The grounding policy over a fake backend and a fake index: sources before the question,
metadata before each candidate's finish, ungrounded answers without an index; and the
attribution of answer sentences to passages."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest

from tests.fakes import FAKE_MODEL, FakeBackend
from vertexcompat.domain.content import Content, GenerateContentRequest, TextPart
from vertexcompat.domain.events import Finished, FinishReason, GroundingMetadata, TextDelta, Usage
from vertexcompat.domain.grounding import Source
from vertexcompat.models.registry import ModelRegistry, default_aliases
from vertexcompat.services.grounding import Attribution, Passage, grounded_contents, sentences
from vertexcompat.services.policies import compose
from vertexcompat.services.policies.grounding import Grounding

REGISTRY = ModelRegistry(default_aliases(FAKE_MODEL, []))


@dataclasses.dataclass(frozen=True)
class Hit:  # the fields of vertexcompat.search.index.Hit the policy reads
    doc_id: str
    title: str
    url: str
    text: str
    score: float

X200 = Hit(doc_id="d1", title="Zephyr X200", url="https://docs.example.com/x200",
           text="The Zephyr X200 drone weighs 3.2 kg and flies for 41 minutes.", score=2.0)
X200_MORE = dataclasses.replace(X200, text="The X200 was designed in Tromsø in 2031.")
KETTLE = Hit(doc_id="d2", title="Brühwerk K9", url="https://docs.example.com/k9",
             text="The Brühwerk K9 kettle boils 1.7 litres in 94 seconds.", score=1.0)


class Index:
    def __init__(self, hits=(X200, X200_MORE, KETTLE)) -> None:
        self.hits = list(hits)
        self.queries: list[str] = []

    def search(self, query: str, k: int):
        self.queries.append(query)
        return self.hits[:k]

    def is_empty(self) -> bool:
        return not self.hits


def request(text="How much does the Zephyr X200 weigh?", *, grounding=True):
    return GenerateContentRequest(model=FAKE_MODEL,
                                  contents=(Content("user", (TextPart(text),)),),
                                  grounding=grounding)


def answering(*texts):
    def script(req):
        events = []
        for c, text in enumerate(texts):
            events += [TextDelta(c, text[:10]), TextDelta(c, text[10:]), Finished(c, FinishReason.STOP)]
        return [*events, Usage(10, 5)]
    return FakeBackend([FAKE_MODEL], script)


def run(backend, req, index=None, attribution=Attribution(None)):
    policy = Grounding(index, attribution)
    wrapped = compose(backend, REGISTRY.lookup(FAKE_MODEL), [policy])

    async def go():
        return [e async for e in wrapped.stream(req)]

    return asyncio.run(go())


def test_an_ungrounded_request_passes_untouched():
    backend, index = answering("hello"), Index()
    run(backend, request(grounding=False), index)
    assert index.queries == [] and backend.requests == [request(grounding=False)]


@pytest.mark.parametrize("index", [None, Index(hits=())])
def test_without_an_index_or_with_an_empty_one_the_answer_is_ungrounded(index):
    backend = answering("hello")
    events = run(backend, request(), index)
    assert not any(isinstance(e, GroundingMetadata) for e in events)
    assert backend.requests[0].grounding is False
    assert backend.requests[0].contents == request().contents


def test_the_sources_go_before_the_question_and_metadata_before_each_finish():
    backend, index = answering("The Zephyr X200 weighs 3.2 kg.", "I do not know."), Index()
    req = dataclasses.replace(request(), generation_config=dataclasses.replace(
        request().generation_config, candidate_count=2))
    events = run(backend, req, index)
    assert index.queries == ["How much does the Zephyr X200 weigh?"]
    prompt = backend.requests[0].contents[-1].parts[0].text
    assert prompt.index("[1] Zephyr X200") < prompt.index("[2] Brühwerk K9") < prompt.index(
        "Question: How much does the Zephyr X200 weigh?")
    assert prompt.count("[1] Zephyr X200") == 2  # two passages of one document: one source
    kinds = [(type(e).__name__, getattr(e, "candidate", None)) for e in events]
    assert kinds[2:4] == [("GroundingMetadata", 0), ("Finished", 0)]
    first = events[2]
    assert first.queries == ("How much does the Zephyr X200 weigh?",)
    assert first.sources == (Source("https://docs.example.com/x200", "Zephyr X200"),
                             Source("https://docs.example.com/k9", "Brühwerk K9"))
    (support,) = first.supports
    assert (support.start, support.end, support.sources) == (0, 30, (0,))
    second = [e for e in events if isinstance(e, GroundingMetadata) and e.candidate == 1][0]
    assert second.supports == ()  # "I do not know." cites nothing


def test_grounded_contents_keep_earlier_turns_and_other_parts():
    history = (Content("user", (TextPart("hi"),)), Content("model", (TextPart("hello"),)),
               Content("user", (TextPart("q?"),)))
    out = grounded_contents(history, [Source("u", "T")], [Passage("fact", 0)])
    assert out[:2] == history[:2]
    assert out[2].parts[0].text.endswith("[1] T\nfact\n\nQuestion: q?")


def test_sentences_keep_their_character_offsets():
    text = "Größe: 3.2 kg. Das Gerät wurde 2031 in Tromsø gebaut!\n- Preis 499 €"
    spans = sentences(text)
    assert [text[s:e] for s, e in spans] == [
        "Größe: 3.2 kg.", "Das Gerät wurde 2031 in Tromsø gebaut!", "- Preis 499 €"]


def test_attribution_cites_the_passage_a_sentence_repeats_and_nothing_for_filler():
    passages = [Passage(X200.text, 0), Passage(KETTLE.text, 1)]
    answer = "Sure! The Brühwerk K9 boils 1.7 litres in 94 seconds. Hope this helps you."
    supports = Attribution(None).supports(answer, passages)
    assert [(answer[s.start:s.end], s.sources) for s in supports] == [
        ("The Brühwerk K9 boils 1.7 litres in 94 seconds.", (1,))]
    assert 0 < supports[0].scores[0] <= 1


class Vectors:
    """Embeds by keyword: texts about drones point one way, kettles another."""

    def embed(self, texts):
        rows = [[1.0, 0.0] if "drone" in t or "flies" in t else [0.0, 1.0] for t in texts]
        return np.asarray(rows, dtype=np.float32)


def test_attribution_uses_the_embedding_when_the_words_differ():
    passages = [Passage(X200.text, 0), Passage(KETTLE.text, 1)]
    answer = "It flies for about forty minutes."
    supports = Attribution(Vectors()).supports(answer, passages)
    assert [s.sources for s in supports] == [(0,)] and supports[0].scores == (1.0,)


def test_a_terse_answer_that_is_a_code_number_or_name_from_a_passage_is_cited():
    passages = [Passage(X200_MORE.text, 0), Passage(KETTLE.text, 1)]
    for answer, cited in (("1.7 litres", [(1,)]), ("1.7", [(1,)]), ("94 s", []), ("Yes.", []),
                          ("Tromsø.", [(0,)]), ("It was made in Tromsø by hand.", [])):
        supports = Attribution(None).supports(answer, passages)
        assert [s.sources for s in supports] == cited, answer
        assert all(answer[s.start:s.end] == s.text for s in supports)
