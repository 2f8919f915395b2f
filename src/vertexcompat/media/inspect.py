"""Measuring media before it is used: image dimensions and frame count, audio duration,
sample rate and channels — and proof that the file decodes.

The order matters: the header is read first and the limits (pixels, seconds) are enforced on
it, and only then is anything decoded, so a small file that claims a huge canvas or hours of
audio is refused before it costs memory or time. Everything here is blocking; `intake.py`
runs it in a worker thread.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import assert_never

from PIL import Image

from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.media.limits import MediaLimits
from vertexcompat.media.sniff import MediaFormat
from vertexcompat.media.wav import WavError, parse_wav

# Whatever a decoder raises on malformed input, mapped once here. Pillow's plugins use
# OSError (and its UnidentifiedImageError), SyntaxError (PNG), ValueError, EOFError,
# IndexError and struct.error; PyAV raises FFmpegError subclasses.
_PILLOW_FAILURES: tuple[type[BaseException], ...] = (
    OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error,
)
# (with PyAV's FFmpegError, added where PyAV is imported: only audio needs it, and its import
# is ~0.2 s of every process's start)
_AV_FAILURES: tuple[type[BaseException], ...] = (ValueError, OSError, EOFError)


@dataclass(frozen=True, slots=True)
class ImageInfo:
    width: int
    height: int
    frame_count: int  # > 1 for animated GIF/WebP/PNG; perception looks at the first frame


@dataclass(frozen=True, slots=True)
class AudioInfo:
    duration_s: float
    sample_rate: int
    channels: int


def inspect_image(data: bytes, fmt: MediaFormat, *, param: str, limits: MediaLimits) -> ImageInfo:
    """Measure the image from its header (refusing it over the pixel limit before any pixel
    is decoded), then prove that its first frame decodes."""
    info = measure_image(data, fmt, param=param, limits=limits)
    check_image_decodes(data, fmt, param=param)
    return info


def measure_image(data: bytes, fmt: MediaFormat, *, param: str, limits: MediaLimits) -> ImageInfo:
    """Size and frame count from the header alone, under the per-image pixel limit. Cheap
    at any size (no pixel is decoded), so a request's images can be measured and checked
    against the request's budget before any of them costs a decode."""
    pil_format = _pillow_format(fmt)
    try:
        # `formats=` keeps Pillow to the plugin the magic number chose: no other parser ever
        # sees these bytes. `open` reads the header only.
        image = Image.open(io.BytesIO(data), formats=[pil_format])
    except Image.DecompressionBombError:
        # Pillow's own guard (at ~179 MP) fires inside `open`, before we see the size.
        raise _too_many_pixels(param, limits, None) from None
    except _PILLOW_FAILURES as exc:
        raise _corrupt(param, fmt, exc) from None
    with image:
        width, height = image.size
        if width <= 0 or height <= 0:
            raise _corrupt(param, fmt, ValueError(f"{width}x{height} image"))
        if width * height > limits.max_image_pixels:
            raise _too_many_pixels(param, limits, (width, height))
        try:
            # `n_frames` walks the frame headers without decoding pixels.
            frame_count = int(getattr(image, "n_frames", 1))
        except Image.DecompressionBombError:
            raise _too_many_pixels(param, limits, (width, height)) from None
        except _PILLOW_FAILURES as exc:
            raise _corrupt(param, fmt, exc) from None
    return ImageInfo(width=width, height=height, frame_count=frame_count)


def check_image_decodes(data: bytes, fmt: MediaFormat, *, param: str) -> None:
    """Decode the first frame in full: the proof that the file is neither truncated nor
    corrupt. Call it on a measured image only (the pixel limit is `measure_image`'s).

    A JPEG is decoded at 1/8 scale (libjpeg's DCT scaling): every byte of the entropy-coded
    data is still read, so truncation and corruption still fail, at a fraction of the cost
    (the 49 MP sign of bench/perception.py: 0.013 s of CPU instead of 0.12 s, a 2.3 MB frame
    instead of 147 MB). Other formats have no scaled decode."""
    try:
        with Image.open(io.BytesIO(data), formats=[_pillow_format(fmt)]) as image:
            image.seek(0)
            if fmt is MediaFormat.JPEG:
                width, height = image.size
                image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            image.load()
    except Image.DecompressionBombError:
        raise _corrupt(param, fmt, ValueError("a frame larger than the image")) from None
    except _PILLOW_FAILURES as exc:
        raise _corrupt(param, fmt, exc) from None


def inspect_audio(data: bytes, fmt: MediaFormat, *, param: str, limits: MediaLimits) -> AudioInfo:
    match fmt:
        case MediaFormat.WAV:
            try:
                header = parse_wav(data)
            except WavError as exc:
                raise _corrupt(param, fmt, exc) from None
            info = AudioInfo(header.duration_s, header.sample_rate, header.channels)
            _check_duration(info.duration_s, param=param, limits=limits)
            return info
        case MediaFormat.MP3 | MediaFormat.FLAC | MediaFormat.OGG | MediaFormat.WEBM:
            return _probe_compressed(data, fmt, param=param, limits=limits)
        case MediaFormat.JPEG | MediaFormat.PNG | MediaFormat.WEBP | MediaFormat.GIF:
            raise AssertionError(f"inspect_audio called with image format {fmt}")
        case _:
            assert_never(fmt)


def _probe_compressed(data: bytes, fmt: MediaFormat, *, param: str,
                      limits: MediaLimits) -> AudioInfo:
    """Demux every packet (cheap: no decoding) to measure the real duration — a header's
    duration is only a claim (an MP3 Xing frame count, a WebM Duration element, or none at
    all for browser-recorded WebM) — stopping as soon as it passes the limit. Packets are
    decoded only until the first frame comes out, which proves the codec can read the stream."""
    import av  # noqa: PLC0415 - lazily, see _AV_FAILURES
    import av.error  # noqa: PLC0415

    try:
        with av.open(io.BytesIO(data), mode="r", format=_demuxer(fmt)) as container:
            if not container.streams.audio:
                raise InvalidArgument(
                    f"The {fmt.label} file in `{param}` has no audio stream.", param=param)
            stream = container.streams.audio[0]
            codec = stream.codec_context  # None when FFmpeg has no decoder for the codec id
            if codec is None:
                raise _corrupt(param, fmt, ValueError("unknown audio codec"))
            sample_rate, channels = codec.sample_rate, codec.channels
            if not sample_rate or not channels or stream.time_base is None:
                raise _corrupt(param, fmt, ValueError("no sample rate or channel layout"))
            end, decoded = 0.0, False
            for packet in container.demux(stream):
                if not decoded:
                    decoded = bool(packet.decode())
                if packet.pts is None:
                    continue  # the flush packet at the end of the stream
                end = max(end, float((packet.pts + (packet.duration or 0)) * stream.time_base))
                _check_duration(end, param=param, limits=limits)
            if end <= 0:
                raise _corrupt(param, fmt, ValueError("no audio packets"))
            if not decoded:
                raise _corrupt(param, fmt, ValueError("no decodable audio frame"))
    except (av.error.FFmpegError, *_AV_FAILURES) as exc:
        raise _corrupt(param, fmt, exc) from None
    return AudioInfo(duration_s=end, sample_rate=sample_rate, channels=channels)


def _check_duration(seconds: float, *, param: str, limits: MediaLimits) -> None:
    if seconds > limits.max_audio_seconds:
        raise InvalidArgument(
            f"The audio in `{param}` is longer than the limit of "
            f"{limits.max_audio_seconds:g} seconds.",
            param=param,
        )


def _pillow_format(fmt: MediaFormat) -> str:
    match fmt:
        case MediaFormat.JPEG:
            return "JPEG"
        case MediaFormat.PNG:
            return "PNG"
        case MediaFormat.WEBP:
            return "WEBP"
        case MediaFormat.GIF:
            return "GIF"
        case (MediaFormat.WAV | MediaFormat.MP3 | MediaFormat.FLAC | MediaFormat.OGG
              | MediaFormat.WEBM):
            raise AssertionError(f"inspect_image called with audio format {fmt}")
        case _:
            assert_never(fmt)


def _demuxer(fmt: MediaFormat) -> str:
    match fmt:
        case MediaFormat.MP3:
            return "mp3"
        case MediaFormat.FLAC:
            return "flac"
        case MediaFormat.OGG:
            return "ogg"
        case MediaFormat.WEBM:
            return "matroska"  # FFmpeg's one demuxer for both WebM and Matroska
        case (MediaFormat.WAV | MediaFormat.JPEG | MediaFormat.PNG | MediaFormat.WEBP
              | MediaFormat.GIF):
            raise AssertionError(f"no FFmpeg demuxer is used for {fmt}")
        case _:
            assert_never(fmt)


def _too_many_pixels(param: str, limits: MediaLimits,
                     size: tuple[int, int] | None) -> InvalidArgument:
    dims = f" is {size[0]}x{size[1]} pixels, which" if size else ""
    return InvalidArgument(
        f"The image in `{param}`{dims} exceeds the limit of {limits.max_image_pixels} pixels.",
        param=param,
    )


def _corrupt(param: str, fmt: MediaFormat, exc: BaseException) -> InvalidArgument:
    # FFmpeg errors print as "[Errno 1094995529] ...: '<none>'"; their strerror reads better.
    detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return InvalidArgument(
        f"The {fmt.label} file in `{param}` is corrupt or truncated: {detail}.",
        param=param,
    )
