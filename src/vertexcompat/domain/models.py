"""What the server knows about a model: what it can do (`ModelCapabilities`, per backend
model) and how it is listed (`ModelInfo`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ModelCapabilities:
    """What a backend model can do itself. The container composes a backend's policies from
    these (`container.backend_policies`): what the model cannot do, a policy does for it.

    - `vision` / `audio`: reads images / hears audio itself; otherwise the media-perception
      policy replaces those parts with what perception found (descriptions, transcripts).
    - `issues_thought_signatures`: seals its own thoughts into signatures and checks them
      (an upstream Gemini); otherwise the thought-sealing policy does, once.
    - `native_images`: generates images and applies Gemini's image-model defaults itself;
      otherwise the image-defaults policy asks for text and an image on image model ids.
    - `tools`, `json_schema`, `thinking`, `logprobs`: function calling, schema-constrained
      output, thinking budgets, token log-probabilities.
    - `safety_settings`: applies Gemini's safety settings itself (an upstream Gemini);
      otherwise the safety policy judges prompts and answers with this server's classifiers.
    - `grounding`: searches itself when asked to ground its answer (an upstream Gemini's
      Google Search); otherwise the grounding policy searches this server's index.
    """

    vision: bool = False
    audio: bool = False
    tools: bool = True
    json_schema: bool = True
    thinking: bool = True
    logprobs: bool = False
    issues_thought_signatures: bool = False
    native_images: bool = False
    safety_settings: bool = False
    grounding: bool = False


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str            # the id clients use (a Gemini id or a local model name)
    backend_model: str  # the backend's model name it resolves to
    owned_by: str = "vertexcompat"
    context_length: int | None = None
