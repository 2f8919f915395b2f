"""`MediaResolver`: media parts of a request → what a text-only backend can read
(`policies/media.py` puts it in front of the backends whose models need it).

Every image (`FileDataPart`) and audio part (`InlineDataPart`) the model cannot read
itself is loaded through the media intake (limits, SSRF-safe fetching, type checks: a 400/413 naming the part), run through the
perception pipeline and replaced by an `ImageDescriptionPart` / `TranscriptPart`.

The order is what keeps heavy work bounded (issue 12):

1. the part count, and room in the perception pool (429 at once when it is full);
2. every part's bytes and measurements — image headers, audio packets — but no image is
   decoded yet;
3. the request's budgets: total pixels, total audio seconds (400 naming the part that
   crosses one);
4. the pool: admission against the work it already holds (429), then the decode proof and
   perception of each part on its workers, round robin with other requests, within the
   deadline (503 naming the part that did not finish).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any, Protocol

from vertexcompat.domain.content import (
    FileDataPart,
    GenerateContentRequest,
    ImageDescriptionPart,
    InlineDataPart,
    Part,
    TranscriptPart,
)
from vertexcompat.domain.errors import InvalidArgument, Unavailable
from vertexcompat.media.intake import (
    AudioMedia,
    ImageMedia,
    check_part_count,
    check_request_budget,
    load_audio,
    open_image,
    prove_image_decodes,
)
from vertexcompat.media.limits import MediaLimits
from vertexcompat.media.perception.errors import PerceptionModelError
from vertexcompat.media.perception.findings import AudioFindings, ImageFindings
from vertexcompat.media.perception.pool import PerceptionPool, Work

MediaPart = FileDataPart | InlineDataPart

# Perception of one request may take this long, queue wait included. The budgets keep an
# admitted request well inside it on an idle machine (config.py `perception_deadline_s`).
DEFAULT_DEADLINE_S = 120.0

# Told the seconds each part's perception took on its worker, by kind ("image", "audio").
PerceptionTiming = Callable[[str, float], None]


class Perceiver(Protocol):
    """The perception port (media/perception/pipeline.Perception in production)."""

    def describe_image(self, image: ImageMedia) -> ImageFindings: ...

    def transcribe(self, audio: AudioMedia) -> AudioFindings: ...


def media_parts(
    request: GenerateContentRequest, *, images: bool = True, audio: bool = True
) -> list[MediaPart]:
    """The request's image parts (`images`) and audio parts (`audio`), in order. Images
    come by reference (`image_url`, Gemini `fileData`) or by value (Gemini `inlineData`
    of an `image/*` type); audio by value (`input_audio`, `inlineData` of any other type,
    which the intake refuses unless it is audio)."""
    return [
        part
        for content in request.contents
        for part in content.parts
        if (images and _is_image(part)) or (audio and isinstance(part, InlineDataPart)
                                             and not _is_image(part))
    ]


def _is_image(part: object) -> bool:
    return isinstance(part, FileDataPart) or (
        isinstance(part, InlineDataPart) and part.mime_type.lower().startswith("image/")
    )


def has_media(
    request: GenerateContentRequest, *, images: bool = True, audio: bool = True
) -> bool:
    return bool(media_parts(request, images=images, audio=audio))


class MediaResolver:
    """`pool`: where perception runs (default: one worker, the default budget); the
    resolver owns it and closes it. `timing`: told how long each part's perception took
    (metrics; on the worker thread; queue wait not included)."""

    def __init__(
        self,
        perceiver: Perceiver,
        limits: MediaLimits,
        *,
        pool: PerceptionPool | None = None,
        deadline_s: float = DEFAULT_DEADLINE_S,
        timing: PerceptionTiming | None = None,
    ) -> None:
        if deadline_s <= 0:
            raise ValueError("MediaResolver deadline_s must be positive")
        self._perceiver = perceiver
        self._limits = limits
        self._pool = pool or PerceptionPool()
        self._deadline_s = deadline_s
        self._timing = timing
        # A request the pool could never hold beside others would be refused with 429 for
        # as long as anything else runs: a misconfiguration, reported at startup.
        budget = self._pool.budget
        for per_request, in_flight, name in (
            (limits.max_parts_per_request, budget.max_parts, "parts"),
            (limits.max_request_pixels, budget.max_pixels, "pixels"),
            (limits.max_request_audio_seconds, budget.max_audio_seconds, "audio seconds"),
        ):
            if per_request > in_flight:
                raise ValueError(
                    f"The per-request limit of {per_request:g} {name} is larger than the "
                    f"perception pool's budget of {in_flight:g} {name} in flight.")

    def close(self) -> None:
        self._pool.close()

    def stats(self) -> dict[str, float]:
        return self._pool.stats()

    async def resolve(
        self, request: GenerateContentRequest, *, images: bool = True, audio: bool = True
    ) -> GenerateContentRequest:
        """`request` with its image parts (`images`) and audio parts (`audio`) perceived;
        every other part and field is kept as it is."""
        parts = media_parts(request, images=images, audio=audio)
        if not parts:
            return request
        check_part_count(len(parts), limits=self._limits)
        self._pool.check_room(len(parts))
        media = await asyncio.gather(*map(self._load, parts))
        check_request_budget([(p.source, m) for p, m in zip(parts, media)], limits=self._limits)
        try:
            found = await self._pool.run(
                [self._work(p, m) for p, m in zip(parts, media)], deadline_s=self._deadline_s
            )
        except PerceptionModelError as exc:
            # A broken install, not the client's media (the intake checked that).
            raise Unavailable(f"Media perception is unavailable: {exc}") from None
        perceived = {
            id(part): _perceived(m, f) for part, m, f in zip(parts, media, found)
        }
        contents = tuple(
            dataclasses.replace(c, parts=tuple(perceived.get(id(p), p) for p in c.parts))
            for c in request.contents
        )
        return dataclasses.replace(request, contents=contents)

    async def _load(self, part: MediaPart) -> ImageMedia | AudioMedia:
        """Bytes and measurements only: no image is decoded before the budget check."""
        if isinstance(part, FileDataPart):
            return await open_image(part.file_uri, param=part.source, limits=self._limits)
        if _is_image(part):  # the same intake as an image sent as a `data:` URI
            return await open_image(f"data:{part.mime_type};base64,{part.data}",
                                    param=part.source, limits=self._limits)
        kind, _, fmt = part.mime_type.partition("/")
        if kind != "audio" or not fmt:
            raise InvalidArgument(
                f"`{part.source}`: only audio is accepted inline here, got {part.mime_type!r}.",
                param=part.source,
            )
        return await load_audio(part.data, fmt, param=part.source, limits=self._limits)

    def _work(self, part: MediaPart, media: ImageMedia | AudioMedia) -> Work:
        perceiver, param = self._perceiver, part.source
        if isinstance(media, ImageMedia):
            image = media

            def describe() -> ImageFindings:
                prove_image_decodes(image, param=param)
                return perceiver.describe_image(image)

            return Work(self._timed("image", describe), label=param,
                        pixels=image.width * image.height)
        audio = media
        return Work(self._timed("audio", lambda: perceiver.transcribe(audio)), label=param,
                    audio_seconds=audio.duration_s)

    def _timed(self, kind: str, fn: Callable[[], Any]) -> Callable[[], Any]:
        timing = self._timing
        if timing is None:
            return fn

        def run() -> Any:
            started = time.perf_counter()
            try:
                return fn()
            finally:
                timing(kind, time.perf_counter() - started)

        return run


def _perceived(media: ImageMedia | AudioMedia, found: Any) -> Part:
    if isinstance(media, ImageMedia):
        return ImageDescriptionPart(
            description=found.describe(),
            mime_type=media.mime_type,
            width=media.width,
            height=media.height,
            text_lines=tuple(found.text_lines),
            nsfw_score=found.nsfw_score,
        )
    return TranscriptPart(
        description=found.describe(),
        mime_type=media.mime_type,
        transcript=found.transcript,
        language=found.language,
        duration_s=found.duration_s,
    )
