"""Domain `ImageOutput` → the wire image object (SPEC §6), and the image events of a
finished generation → OpenAI `images.generate`'s response."""

from __future__ import annotations

import base64
from collections.abc import Iterable

from vertexcompat.domain.events import ImageOutput, StreamEvent, TextDelta
from vertexcompat.openai_api.response import (
    GoogleImageInfo,
    Image,
    ImageData,
    ImageExtraContent,
    ImagesResponse,
)


def to_openai_image(image: ImageOutput) -> Image:
    return Image(
        data=base64.b64encode(image.data).decode("ascii"),
        extra_content=ImageExtraContent(google=GoogleImageInfo(mime_type=image.mime_type)),
    )


def to_images_response(events: Iterable[StreamEvent], *, created: int) -> ImagesResponse:
    """One entry per image, in candidate order; `revised_prompt` is the text the candidate
    wrote with its image (its caption), when it wrote any."""
    texts: dict[int, list[str]] = {}
    images: list[ImageOutput] = []
    for event in events:
        if isinstance(event, TextDelta):
            texts.setdefault(event.candidate, []).append(event.text)
        elif isinstance(event, ImageOutput):
            images.append(event)
    images.sort(key=lambda image: image.candidate)  # stable: a candidate's own order stays
    data = []
    for image in images:
        caption = "".join(texts.get(image.candidate, ())).strip()
        data.append(
            ImageData(
                b64_json=base64.b64encode(image.data).decode("ascii"),
                revised_prompt=caption or None,
            )
        )
    return ImagesResponse(created=created, data=data)
