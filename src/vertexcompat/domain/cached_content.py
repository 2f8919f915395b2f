"""Explicit context caches (Vertex `cachedContents`): what one holds and what a create asks."""

from __future__ import annotations

from dataclasses import dataclass

from vertexcompat.domain.content import Content
from vertexcompat.domain.tools import FunctionDeclaration, ToolConfig


@dataclass(frozen=True, slots=True)
class CachedParts:
    """What a cache holds of a request: its contents and the request-wide parts."""

    contents: tuple[Content, ...] = ()
    system_instruction: Content | None = None
    tools: tuple[FunctionDeclaration, ...] = ()
    tool_config: ToolConfig | None = None


@dataclass(frozen=True, slots=True)
class CacheSpec:
    """A create request: the model as the client named it, what to cache, and when it
    expires (a time to live in seconds or an absolute expiry in epoch seconds; neither: the
    default)."""

    model: str
    parts: CachedParts
    display_name: str = ""
    ttl_s: float | None = None
    expire_time: float | None = None
