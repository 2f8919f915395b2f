"""Media perception: for a model that cannot read images (`vision`) or hear audio
(`audio`) itself, those parts become what the perception pipeline found — descriptions
and transcripts — before it generates (`services/media.py`). A model that reads them
natively gets the original parts. Without a resolver (a server started without media
support) such parts are refused, naming the first."""

from __future__ import annotations

from collections.abc import AsyncIterator

from vertexcompat.backends.base import Backend
from vertexcompat.domain.content import GenerateContentRequest
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.events import StreamEvent
from vertexcompat.domain.tokens import TokensInfo
from vertexcompat.models.registry import ModelFacts
from vertexcompat.services.media import MediaResolver, has_media, media_parts
from vertexcompat.services.policies import BackendWrapper, aclose


class MediaPerception:
    """`images` / `audio`: which kinds of parts to perceive (those the model cannot read)."""

    def __init__(self, resolver: MediaResolver | None, *, images: bool, audio: bool) -> None:
        self._resolver = resolver
        self._images = images
        self._audio = audio

    def wrap(self, inner: Backend, model: ModelFacts) -> Backend:
        if not (self._images or self._audio):
            return inner
        return _Perceiving(inner, self._resolver, images=self._images, audio=self._audio)


class _Perceiving(BackendWrapper):
    def __init__(
        self, inner: Backend, resolver: MediaResolver | None, *, images: bool, audio: bool
    ) -> None:
        super().__init__(inner)
        self._resolver = resolver
        self._images = images
        self._audio = audio

    def stream(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        if not has_media(request, images=self._images, audio=self._audio):
            return self.inner.stream(request)  # nothing to perceive: no extra layer
        return self._perceived(request)

    async def count_tokens(self, request: GenerateContentRequest, *, as_prompt: bool = False) -> int:
        """Counted as the model reads it: media parts as what perception makes of them."""
        return await self.inner.count_tokens(await self._as_read(request), as_prompt=as_prompt)

    async def compute_tokens(self, request: GenerateContentRequest) -> list[TokensInfo]:
        """Tokenized as the model reads it: media parts as what perception makes of them."""
        return await self.inner.compute_tokens(await self._as_read(request))

    async def _as_read(self, request: GenerateContentRequest) -> GenerateContentRequest:
        """`request` with its media perceived (itself when it has none to perceive)."""
        if not has_media(request, images=self._images, audio=self._audio):
            return request
        self._no_media_support(request)
        assert self._resolver is not None
        return await self._resolver.resolve(request, images=self._images, audio=self._audio)

    def _no_media_support(self, request: GenerateContentRequest) -> None:
        if self._resolver is None:
            first = media_parts(request, images=self._images, audio=self._audio)[0]
            raise InvalidArgument(
                f"`{first.source}`: this server was started without media support; images "
                "and audio cannot be read.",
                param=first.source,
            )

    async def _perceived(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        """A media error surfaces at the first event, before any response header."""
        self._no_media_support(request)
        assert self._resolver is not None
        # What the backend would refuse whatever the media say (a schema it cannot compile,
        # a prompt or a completion too long for the window even without them): refused
        # before seconds of perception, not after (issue 12).
        await self.inner.precheck(request)
        resolved = await self._resolver.resolve(request, images=self._images, audio=self._audio)
        events = self.inner.stream(resolved)
        try:
            async for event in events:
                yield event
        finally:
            await aclose(events)
