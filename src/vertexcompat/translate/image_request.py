"""`to_image_generate_request`: OpenAI `images.generate` (`POST /images/generations`) lowered
to the same `GenerateContentRequest` a chat request for an image becomes (issue 7).

`n` images are `n` candidates; the prompt is one user turn; the answer is text and image
(the text, the model's caption, comes back as `revised_prompt`). Pure.
"""

from __future__ import annotations

from vertexcompat.domain.content import (
    IMAGE_MODALITY,
    TEXT_MODALITY,
    Content,
    GenerateContentRequest,
    GenerationConfig,
    ImageConfig,
    TextPart,
)
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.locations import FieldPath
from vertexcompat.openai_api.request import ImageGenerationRequest
from vertexcompat.translate.image_options import parse_size

# OpenAI's `model` is optional here; Gemini's OpenAI-compatible images route serves this one.
DEFAULT_IMAGE_MODEL = "gemini-2.5-flash-image"


def image_model_id(request: ImageGenerationRequest) -> str:
    return request.model or DEFAULT_IMAGE_MODEL


def to_image_generate_request(
    request: ImageGenerationRequest, *, backend_model: str
) -> GenerateContentRequest:
    if request.response_format == "url":
        raise InvalidArgument(
            "`response_format` \"url\" is not supported: this server hosts no files. Use "
            "\"b64_json\".",
            param="response_format",
        )
    size = parse_size(request.size, param="size")
    return GenerateContentRequest(
        model=backend_model,
        contents=(Content(role="user", parts=(TextPart(request.prompt),)),),
        generation_config=GenerationConfig(
            candidate_count=request.n if request.n is not None else 1,
            seed=request.seed,
            response_modalities=(TEXT_MODALITY, IMAGE_MODALITY),
            image_config=ImageConfig(width=size[0], height=size[1]) if size else None,
        ),
    )


def images_param_names(location: FieldPath) -> str | None:
    """The images surface's one, complete mapper from Gemini locations to its parameter
    names (`web/errors.py` applies it); `None` where the request has no such parameter."""
    match location.steps:
        case ("model", *_) | ("generation_config", "response_modalities", *_):
            # The image output comes from the model (the route always asks for it).
            return "model"
        case ("contents" | "system_instruction", *_):
            return "prompt"
        case ("generation_config", "candidate_count", *_):
            return "n"
        case ("generation_config", "seed", *_):
            return "seed"
        case ("generation_config", "image_config", *_):
            return "size"
        case _:
            return None
