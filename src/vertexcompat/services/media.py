"""`MediaResolver`: media parts of a request → what a text-only backend can read.

Every image (`FileDataPart`) and audio part (`InlineDataPart`) is loaded through the media
intake (limits, SSRF-safe fetching, type checks: a 400/413 naming the part) and run through
the perception pipeline in a small worker pool — off the event loop, so media never stalls
other requests — and replaced by an `ImageDescriptionPart` / `TranscriptPart`. Parts of one
request are perceived concurrently, in the pool's limits.
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from vertexcompat.domain.content import (
    Content,
    FileDataPart,
    GenerateContentRequest,
    ImageDescriptionPart,
    InlineDataPart,
    Part,
    TranscriptPart,
)
from vertexcompat.domain.errors import InvalidArgument, Unavailable
from vertexcompat.media.intake import AudioMedia, ImageMedia, check_part_count, load_audio, load_image
from vertexcompat.media.limits import MediaLimits
from vertexcompat.media.perception.errors import PerceptionModelError
from vertexcompat.media.perception.findings import AudioFindings, ImageFindings


class Perceiver(Protocol):
    """The perception port (media/perception/pipeline.Perception in production)."""

    def describe_image(self, image: ImageMedia) -> ImageFindings: ...

    def transcribe(self, audio: AudioMedia) -> AudioFindings: ...


def _lower_priority(nice: int) -> None:
    """Runs in each new worker thread; threads the perception models start later (their
    own pools) inherit it."""
    if nice > 0 and hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except OSError:  # not permitted here: run at normal priority
            pass


def has_media(request: GenerateContentRequest) -> bool:
    return any(
        isinstance(part, FileDataPart | InlineDataPart)
        for content in request.contents
        for part in content.parts
    )


class MediaResolver:
    """`nice`: the perception workers' CPU priority (Linux nice value, 0-19). Perception and
    the LLM share the same cores, and llama.cpp's decode threads wait for each other at
    every step, so a perception thread that takes one of their cores stalls every text
    request; at a low priority it uses what the decode leaves (measured in
    bench/media_load.py)."""

    def __init__(
        self, perceiver: Perceiver, limits: MediaLimits, *, workers: int = 1, nice: int = 0
    ) -> None:
        self._perceiver = perceiver
        self._limits = limits
        self._pool = ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix="perception",
            initializer=_lower_priority,
            initargs=(nice,),
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def resolve(self, request: GenerateContentRequest) -> GenerateContentRequest:
        media = [
            part
            for content in request.contents
            for part in content.parts
            if isinstance(part, FileDataPart | InlineDataPart)
        ]
        if not media:
            return request
        check_part_count(len(media), limits=self._limits)
        perceived = dict(zip(map(id, media), await asyncio.gather(*map(self._perceive, media))))
        contents = tuple(
            Content(role=c.role, parts=tuple(perceived.get(id(p), p) for p in c.parts))
            for c in request.contents
        )
        return GenerateContentRequest(
            model=request.model,
            contents=contents,
            system_instruction=request.system_instruction,
            generation_config=request.generation_config,
            tools=request.tools,
            tool_config=request.tool_config,
        )

    async def _perceive(self, part: FileDataPart | InlineDataPart) -> Part:
        if isinstance(part, FileDataPart):
            image = await load_image(part.file_uri, param=part.source, limits=self._limits)
            found = await self._run(self._perceiver.describe_image, image)
            return ImageDescriptionPart(
                description=found.describe(),
                mime_type=image.mime_type,
                width=image.width,
                height=image.height,
                text_lines=tuple(found.text_lines),
                nsfw_score=found.nsfw_score,
            )
        kind, _, fmt = part.mime_type.partition("/")
        if kind != "audio" or not fmt:
            raise InvalidArgument(
                f"`{part.source}`: only audio is accepted inline here, got {part.mime_type!r}.",
                param=part.source,
            )
        audio = await load_audio(part.data, fmt, param=part.source, limits=self._limits)
        heard = await self._run(self._perceiver.transcribe, audio)
        return TranscriptPart(
            description=heard.describe(),
            mime_type=audio.mime_type,
            transcript=heard.transcript,
            language=heard.language,
            duration_s=heard.duration_s,
        )

    async def _run(self, fn, media):  # type: ignore[no-untyped-def]
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, fn, media)
        except PerceptionModelError as exc:
            # A broken install, not the client's media (the intake checked that).
            raise Unavailable(f"Media perception is unavailable: {exc}") from None
