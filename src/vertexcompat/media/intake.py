"""The media intake: one call per content part turns what the client sent into checked,
measured media — or a 400/413 naming the part.

`load_image` takes an `image_url.url` (`data:`, `https://`, `http://` when allowed, `gs://`);
`load_audio` takes an `input_audio` part's base64 `data` and `format`. Both: get the bytes
(under the byte limit), sniff the real type, check the declared one against it, then measure
and decode-check in a worker thread (under the pixel / duration limits).

`open_image` stops after the header, so that a request's images can be measured together
and held to the request's budget (`check_request_budget`: total pixels, total audio seconds)
before any of them is decoded; `prove_image_decodes` then finishes the check where the
decode is accounted for (services/media.py runs it in the perception pool).

A fetched file's `Content-Type` is not checked against its bytes: web servers often label
media loosely (`application/octet-stream`, `image/jpg` for a PNG), and the client did not
write it. Only a type the *client* declared (a data URI's MIME, `input_audio.format`) can
contradict the bytes.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field

from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.media.data_uri import decode_base64, parse_data_uri
from vertexcompat.media.gcs import read_gcs_object
from vertexcompat.media.inspect import (
    check_image_decodes,
    inspect_audio,
    inspect_image,
    measure_image,
)
from vertexcompat.media.limits import MediaLimits
from vertexcompat.media.sniff import (
    MediaFormat,
    MediaKind,
    check_declared,
    parse_declared,
    sniff,
)


@dataclass(frozen=True, slots=True)
class ImageMedia:
    format: MediaFormat
    data: bytes = field(repr=False)  # megabytes; keep them out of logs and tracebacks
    width: int
    height: int
    frame_count: int  # animated GIF/WebP/PNG: perception reads the first frame

    @property
    def mime_type(self) -> str:
        return self.format.mime


@dataclass(frozen=True, slots=True)
class AudioMedia:
    format: MediaFormat
    data: bytes = field(repr=False)
    duration_s: float
    sample_rate: int
    channels: int

    @property
    def mime_type(self) -> str:
        return self.format.mime


async def load_image(url: str, *, param: str, limits: MediaLimits,
                     ssl_context: ssl.SSLContext | None = None) -> ImageMedia:
    """`image_url.url` → a checked image. `param` names the part, e.g.
    `messages[2].content[1].image_url.url`."""
    declared, data = await _image_bytes(url, param=param, limits=limits, ssl_context=ssl_context)
    fmt = check_declared(declared, sniff(data), kind=MediaKind.IMAGE, param=param)
    info = await asyncio.to_thread(inspect_image, data, fmt, param=param, limits=limits)
    return ImageMedia(format=fmt, data=data, width=info.width, height=info.height,
                      frame_count=info.frame_count)


async def open_image(url: str, *, param: str, limits: MediaLimits,
                     ssl_context: ssl.SSLContext | None = None) -> ImageMedia:
    """Like `load_image`, but stops after the header: the image is measured and within the
    per-image limits, not yet proven to decode. Call `prove_image_decodes` before reading
    its pixels."""
    declared, data = await _image_bytes(url, param=param, limits=limits, ssl_context=ssl_context)
    fmt = check_declared(declared, sniff(data), kind=MediaKind.IMAGE, param=param)
    info = await asyncio.to_thread(measure_image, data, fmt, param=param, limits=limits)
    return ImageMedia(format=fmt, data=data, width=info.width, height=info.height,
                      frame_count=info.frame_count)


def prove_image_decodes(image: ImageMedia, *, param: str) -> None:
    """Blocking: decode an `open_image` result's first frame (a 400 naming `param` when the
    file is truncated or corrupt)."""
    check_image_decodes(image.data, image.format, param=param)


async def load_audio(data_b64: str, fmt: str, *, param: str, limits: MediaLimits) -> AudioMedia:
    """`input_audio` {data, format} → checked audio. `param` names the part's `data`, e.g.
    `messages[0].content[1].input_audio.data`; a bad `format` is reported on the sibling
    `...input_audio.format`."""
    if data_b64[:5].lower() == "data:":
        raise InvalidArgument(
            f"`{param}` takes bare base64, not a data: URI; put the type in `format`.",
            param=param,
        )
    format_param = _sibling(param, "format")
    # The name is checked before any decoding, and an unknown one points at `format`.
    parse_declared(fmt, kind=MediaKind.AUDIO, param=format_param)
    data = decode_base64(data_b64, param=param, max_bytes=limits.max_audio_bytes)
    audio = check_declared(fmt, sniff(data), kind=MediaKind.AUDIO, param=param,
                           declared_param=format_param)
    info = await asyncio.to_thread(inspect_audio, data, audio, param=param, limits=limits)
    return AudioMedia(format=audio, data=data, duration_s=info.duration_s,
                      sample_rate=info.sample_rate, channels=info.channels)


def check_part_count(count: int, *, limits: MediaLimits, param: str = "messages") -> None:
    """Refuse a request with more media parts than `limits.max_parts_per_request`; call it
    once per request, before loading any part."""
    if count > limits.max_parts_per_request:
        raise InvalidArgument(
            f"The request has {count} image and audio parts; the limit is "
            f"{limits.max_parts_per_request}.",
            param=param,
        )


def check_request_budget(media: Sequence[tuple[str, ImageMedia | AudioMedia]], *,
                         limits: MediaLimits) -> None:
    """Hold one request's measured media (`(param, media)` in request order) to the
    per-request budgets: a 400 naming the part at which the total pixels or the total audio
    seconds cross the limit. Call it before any part is decoded or perceived."""
    pixels, seconds = 0, 0.0
    for param, part in media:
        if isinstance(part, ImageMedia):
            pixels += part.width * part.height
            if pixels > limits.max_request_pixels:
                raise InvalidArgument(
                    f"The images of this request add up to {pixels:,} pixels with `{param}` "
                    f"({part.width}x{part.height}); the limit per request is "
                    f"{limits.max_request_pixels:,} pixels. Send fewer or smaller images.",
                    param=param,
                )
        else:
            seconds += part.duration_s
            if seconds > limits.max_request_audio_seconds:
                raise InvalidArgument(
                    f"The audio of this request adds up to {seconds:.1f} seconds with "
                    f"`{param}`; the limit per request is "
                    f"{limits.max_request_audio_seconds:g} seconds. Send less audio.",
                    param=param,
                )


async def _image_bytes(url: str, *, param: str, limits: MediaLimits,
                       ssl_context: ssl.SSLContext | None) -> tuple[str | None, bytes]:
    """(the MIME the client declared, if any; the bytes)."""
    scheme = url.partition(":")[0].lower() if ":" in url else ""
    match scheme:
        case "data":
            parsed = parse_data_uri(url, param=param, max_bytes=limits.max_image_bytes)
            return parsed.mime, parsed.data
        case "https" | "http":
            # Imported on the first URL, not at start-up: httpx is most of the fetcher.
            from vertexcompat.media.fetcher import fetch

            fetched = await fetch(url, param=param, limits=limits,
                                  max_bytes=limits.max_image_bytes, ssl_context=ssl_context)
            return None, fetched.data
        case "gs":
            data = await asyncio.to_thread(read_gcs_object, url, param=param, limits=limits,
                                           max_bytes=limits.max_image_bytes)
            return None, data
        case _:
            raise InvalidArgument(
                f"`{param}` must be a data: URI, an https:// URL or a gs:// URI.", param=param)


def _sibling(param: str, name: str) -> str:
    # `messages[0].content[1].input_audio.data` → `messages[0].content[1].input_audio.format`
    head, dot, _ = param.rpartition(".")
    return f"{head}.{name}" if dot else name
