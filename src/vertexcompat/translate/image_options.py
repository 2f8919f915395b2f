"""Lowering the image-output options of a chat request (issue 7, SPEC §6): OpenAI
`modalities` → Gemini `responseModalities`, OpenAI `size` ("WxH") and
`extra_body.google.image_config.aspect_ratio` → `ImageConfig` with a pixel size.

When both are given, `size` wins (it is the more specific of the two) and the aspect
ratio is kept for the record. Pure; errors name the path the client used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from vertexcompat.domain.content import (
    IMAGE_MODALITY,
    TEXT_MODALITY,
    ImageConfig,
    Modality,
)
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.openai_api.request import ChatCompletionRequest

MIN_SIDE = 64
MAX_SIDE = 2048

# Gemini 2.5 Flash Image's documented output size for each aspect ratio.
ASPECT_RATIO_SIZES: Mapping[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}

# OpenAI's `size: "auto"` (gpt-image-1): the model's default size.
AUTO_SIZE = "auto"
_SIZE = re.compile(r"^([0-9]{1,5})x([0-9]{1,5})$")


def to_response_modalities(chat: ChatCompletionRequest) -> tuple[Modality, ...]:
    """`()` when the client did not say (the model's default applies)."""
    if chat.modalities is None:
        return ()
    wanted = set(chat.modalities)
    # Gemini's order: text, then image.
    return tuple(
        m for m, name in ((TEXT_MODALITY, "text"), (IMAGE_MODALITY, "image")) if name in wanted
    )


def to_image_config(chat: ChatCompletionRequest) -> ImageConfig | None:
    google = chat.google_options
    wire = google.image_config
    aspect = wire.aspect_ratio if wire is not None else None
    if aspect is not None and aspect not in ASPECT_RATIO_SIZES:
        valid = ", ".join(ASPECT_RATIO_SIZES)
        param = google.param("image_config", "aspect_ratio")
        raise InvalidArgument(
            f"Invalid value for `{param}`: {aspect!r}. Supported values are: {valid}.",
            param=param,
        )
    size = parse_size(chat.size, param="size")
    if size is None and aspect is None:
        return None
    width, height = size if size is not None else ASPECT_RATIO_SIZES[aspect]  # type: ignore[index]
    return ImageConfig(width=width, height=height, aspect_ratio=aspect)


def parse_size(size: str | None, *, param: str) -> tuple[int, int] | None:
    """"512x768" → (512, 768); None or "auto" → None (the default size)."""
    if size is None or size == AUTO_SIZE:
        return None
    match = _SIZE.match(size)
    if match is None:
        raise InvalidArgument(
            f"Invalid value for `{param}`: {size!r}. Expected \"WIDTHxHEIGHT\" in pixels, "
            f"e.g. \"1024x1024\", or \"auto\".",
            param=param,
        )
    width, height = int(match.group(1)), int(match.group(2))
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise InvalidArgument(
            f"Invalid value for `{param}`: {size!r}. Each side must be between {MIN_SIDE} "
            f"and {MAX_SIDE} pixels.",
            param=param,
        )
    return width, height
