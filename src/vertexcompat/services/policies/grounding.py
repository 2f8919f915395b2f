"""Grounding (Gemini's `googleSearch` / `retrieval` tools, OpenAI's `web_search_options`)
for models that do not search themselves: the request's question is looked up in the
search index, the top passages go into the prompt before it, and each candidate's answer
ends with a `GroundingMetadata` saying which of its sentences which source supports.

- **The query** is the text of the last user turn (its first 1,000 characters): no
  generation is spent writing one. `bench/grounding.py` measures what the lookup and the
  longer prompt cost.
- **The prompt**: `passages` results (several may come from one document; a document is
  one source, numbered in the order found) put before the question
  (services/grounding.py).
- **The answer** streams as the model writes it; at each candidate's end its text is
  attributed (services/grounding.py `Attribution`) and a `GroundingMetadata` with the query,
  the sources and the supports goes out before its `Finished`.
- **No index, or an empty one**: the request is answered ungrounded (the web layer says so
  in the `x-vertexcompat-grounding` header); no results: answered ungrounded, its metadata
  naming the query and no sources.

Counting tokens (`countTokens`, cachedContents) counts the request as sent, without
sources: they depend on the index at the time of the generation.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from vertexcompat.backends.base import Backend
from vertexcompat.domain.content import GenerateContentRequest, TextPart
from vertexcompat.domain.events import Finished, GroundingMetadata, StreamEvent, TextDelta
from vertexcompat.domain.grounding import Source
from vertexcompat.models.registry import ModelFacts
from vertexcompat.services.grounding import Attribution, Passage, grounded_contents
from vertexcompat.services.policies import BackendWrapper, aclose

if TYPE_CHECKING:
    from vertexcompat.search.index import Hit, SearchIndex

QUERY_CHARS = 1000


class Grounding:
    def __init__(
        self, search: SearchIndex | None, attribution: Attribution, *, passages: int = 3
    ) -> None:
        self._search = search
        self._attribution = attribution
        self._passages = passages

    def available(self) -> bool:
        """Whether grounded requests are answered from search results now."""
        return self._search is not None and not self._search.is_empty()

    def wrap(self, inner: Backend, model: ModelFacts) -> Backend:
        return _Grounded(inner, self)

    async def lookup(self, query: str) -> list[Hit]:
        assert self._search is not None
        return await asyncio.to_thread(self._search.search, query, self._passages)

    @property
    def attribution(self) -> Attribution:
        return self._attribution


class _Grounded(BackendWrapper):
    def __init__(self, inner: Backend, grounding: Grounding) -> None:
        super().__init__(inner)
        self._grounding = grounding

    def stream(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        if not request.grounding:
            return self.inner.stream(request)
        ungrounded = dataclasses.replace(request, grounding=False)
        if not self._grounding.available():
            return self.inner.stream(ungrounded)
        return self._grounded(ungrounded)

    async def _grounded(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        query = _query(request)
        hits = await self._grounding.lookup(query) if query else []
        sources, passages = _sources(hits)
        if passages:
            request = dataclasses.replace(
                request, contents=grounded_contents(request.contents, sources, passages)
            )
        answers: dict[int, list[str]] = {}
        events = self.inner.stream(request)
        try:
            async for event in events:
                if isinstance(event, TextDelta):
                    answers.setdefault(event.candidate, []).append(event.text)
                elif isinstance(event, Finished):
                    answer = "".join(answers.pop(event.candidate, ()))
                    supports = await asyncio.to_thread(
                        self._grounding.attribution.supports, answer, passages
                    )
                    yield GroundingMetadata(
                        candidate=event.candidate, queries=(query,) if query else (),
                        sources=tuple(sources), supports=supports,
                    )
                yield event
        finally:
            await aclose(events)


def _query(request: GenerateContentRequest) -> str:
    """The text of the last user turn."""
    for content in reversed(request.contents):
        if content.role == "user":
            text = " ".join(
                p.text for p in content.parts if isinstance(p, TextPart) and not p.thought
            ).strip()
            return text[:QUERY_CHARS]
    return ""


def _sources(hits: Sequence[Hit]) -> tuple[list[Source], list[Passage]]:
    """One source per document, numbered in the order first found; each hit a passage of
    its document's source."""
    index: dict[str, int] = {}
    sources: list[Source] = []
    passages: list[Passage] = []
    for hit in hits:
        if hit.doc_id not in index:
            index[hit.doc_id] = len(sources)
            sources.append(Source(uri=hit.url, title=hit.title))
        passages.append(Passage(text=hit.text, source=index[hit.doc_id]))
    return sources, passages
