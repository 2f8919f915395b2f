"""Vertex `cachedContents` on the wire: the create and patch bodies (camelCase or snake_case
keys), durations (`"300s"`) and timestamps (RFC 3339), and the resource as responses show
it. Pure: the service (services/context_cache.py) decides what is valid to keep."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from vertexcompat.domain.cached_content import CachedParts, CacheSpec
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.translate.gemini_contents import (
    contents_to_wire,
    parse_contents,
    parse_system_instruction,
    parse_tool_config,
    parse_tools,
    system_instruction_to_wire,
    tool_config_to_wire,
    tools_to_wire,
)

_CREATE_FIELDS = {
    "model": "model", "contents": "contents", "systemInstruction": "system_instruction",
    "system_instruction": "system_instruction", "tools": "tools", "toolConfig": "tool_config",
    "tool_config": "tool_config", "ttl": "ttl", "expireTime": "expire_time",
    "expire_time": "expire_time", "displayName": "display_name", "display_name": "display_name",
    # Output-only fields a client may echo back from a GET: ignored.
    "name": None, "createTime": None, "create_time": None, "updateTime": None,
    "update_time": None, "usageMetadata": None, "usage_metadata": None,
}
_DURATION = re.compile(r"^(\d{1,12})(\.\d{1,9})?s$")
MAX_DISPLAY_NAME = 128


def _fields(body: object, allowed: Mapping[str, str | None]) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise InvalidArgument("The request body must be a JSON object.")
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key not in allowed:
            raise InvalidArgument(f"Unknown field `{key}`.", param=str(key))
        name = allowed[key]
        if name is None:
            continue
        if name in out:
            raise InvalidArgument(f"`{name}` is given twice (camelCase and snake_case).",
                                  param=name)
        out[name] = value
    return out


def parse_create(body: object) -> CacheSpec:
    fields = _fields(body, _CREATE_FIELDS)
    model = fields.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidArgument("`model` is required: the model the cache is for.", param="model")
    display_name = fields.get("display_name", "")
    if not isinstance(display_name, str) or len(display_name) > MAX_DISPLAY_NAME:
        raise InvalidArgument(
            f"`display_name` must be a string of at most {MAX_DISPLAY_NAME} characters.",
            param="display_name",
        )
    ttl, expire = _expiry(fields)
    parts = CachedParts(
        contents=parse_contents(fields.get("contents", [])),
        system_instruction=parse_system_instruction(fields.get("system_instruction")),
        tools=parse_tools(fields.get("tools", [])),
        tool_config=parse_tool_config(fields.get("tool_config")),
    )
    return CacheSpec(model, parts, display_name, ttl, expire)


def parse_update(body: object, update_mask: str | None) -> tuple[float | None, float | None]:
    """A patch body: (ttl seconds, expiry epoch), exactly one set. Only the expiry may
    change (Vertex); `update_mask`, when given, must name only it."""
    allowed: dict[str, str | None] = {k: None for k in _CREATE_FIELDS if _CREATE_FIELDS[k] is None}
    allowed.update({"ttl": "ttl", "expireTime": "expire_time", "expire_time": "expire_time"})
    for key in ("model", "contents", "systemInstruction", "system_instruction", "tools",
                "toolConfig", "tool_config", "displayName", "display_name"):
        if isinstance(body, Mapping) and key in body:
            raise InvalidArgument(
                f"`{key}` cannot be changed: only `ttl` or `expire_time` can be updated.",
                param=key,
            )
    fields = _fields(body, allowed)
    if update_mask:
        for path in update_mask.split(","):
            if path.strip() not in ("ttl", "expire_time", "expireTime"):
                raise InvalidArgument(
                    f"update_mask: `{path.strip()}` cannot be updated; only `ttl` or "
                    "`expire_time` can.", param="update_mask",
                )
    ttl, expire = _expiry(fields)
    if ttl is None and expire is None:
        raise InvalidArgument("Give the new `ttl` or `expire_time`.", param="ttl")
    return ttl, expire


def _expiry(fields: Mapping[str, Any]) -> tuple[float | None, float | None]:
    ttl, expire = fields.get("ttl"), fields.get("expire_time")
    if ttl is not None and expire is not None:
        raise InvalidArgument("Give either `ttl` or `expire_time`, not both.", param="ttl")
    return (
        parse_duration(ttl, "ttl") if ttl is not None else None,
        parse_timestamp(expire, "expire_time") if expire is not None else None,
    )


def parse_duration(value: object, param: str) -> float:
    """A protobuf Duration in JSON: `"300s"`, `"1.5s"`."""
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidArgument(
            f"`{param}` must be a duration in seconds like \"3600s\" or \"1.5s\"; got "
            f"{json.dumps(value)[:40]}.", param=param,
        )
    seconds = float(value[:-1])  # type: ignore[index]
    if seconds <= 0:
        raise InvalidArgument(f"`{param}` must be positive.", param=param)
    return seconds


def parse_timestamp(value: object, param: str) -> float:
    """A protobuf Timestamp in JSON (RFC 3339, `Z` or an offset): epoch seconds."""
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        # Python 3.11 reads at most 6 fraction digits; RFC 3339 allows nanoseconds.
        text = re.sub(r"(\.\d{6})\d+", r"\1", text)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.timestamp()
    raise InvalidArgument(
        f"`{param}` must be an RFC 3339 timestamp like \"2025-01-01T00:00:00Z\"; got "
        f"{json.dumps(value)[:40]}.", param=param,
    )


def format_timestamp(epoch: float) -> str:
    """RFC 3339 in UTC with microseconds, as Google's JSON timestamps are written."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class WireCodec:
    """The cached parts as Gemini wire JSON (services/context_cache.py `PartsCodec`)."""

    @staticmethod
    def encode(parts: CachedParts) -> str:
        return parts_to_json(parts)

    @staticmethod
    def decode(text: str) -> CachedParts:
        return parts_from_json(text)


def parts_to_json(parts: CachedParts) -> str:
    """What the store keeps: the cached parts as Gemini wire JSON."""
    body: dict[str, Any] = {"contents": contents_to_wire(parts.contents)}
    if parts.system_instruction is not None:
        body["systemInstruction"] = system_instruction_to_wire(parts.system_instruction)
    if parts.tools:
        body["tools"] = tools_to_wire(parts.tools)
    if parts.tool_config is not None:
        body["toolConfig"] = tool_config_to_wire(parts.tool_config)
    return json.dumps(body, separators=(",", ":"))


def parts_from_json(text: str) -> CachedParts:
    body = json.loads(text)
    return CachedParts(
        contents=parse_contents(body.get("contents", [])),
        system_instruction=parse_system_instruction(body.get("systemInstruction")),
        tools=parse_tools(body.get("tools", [])),
        tool_config=parse_tool_config(body.get("toolConfig")),
    )


def cached_content_to_wire(
    *, name: str, model_resource: str, display_name: str, total_tokens: int,
    created_at: float, updated_at: float, expires_at: float,
) -> dict[str, Any]:
    """The resource as Vertex returns it (without the cached parts themselves)."""
    out: dict[str, Any] = {
        "name": name,
        "model": model_resource,
        "createTime": format_timestamp(created_at),
        "updateTime": format_timestamp(updated_at),
        "expireTime": format_timestamp(expires_at),
        "usageMetadata": {"totalTokenCount": total_tokens},
    }
    if display_name:
        out["displayName"] = display_name
    return out
