"""Media intake: getting image and audio bytes safely (data: URIs, https:// through an
SSRF-safe fetcher, gs:// from a local object store) and checking them (real type from magic
numbers, declared type, size, pixels, duration, decodability). Perception lives elsewhere.

Imports only `vertexcompat.domain`; no web framework. The fetcher (`media.fetcher`: httpx)
is imported by the intake on the first URL it is given, not with the package.
"""

from vertexcompat.media.intake import (
    AudioMedia,
    ImageMedia,
    check_part_count,
    load_audio,
    load_image,
)
from vertexcompat.media.limits import MediaLimits
from vertexcompat.media.sniff import MediaFormat, MediaKind

__all__ = [
    "AudioMedia",
    "ImageMedia",
    "MediaFormat",
    "MediaKind",
    "MediaLimits",
    "check_part_count",
    "load_audio",
    "load_image",
]
