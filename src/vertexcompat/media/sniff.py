"""What the bytes really are: media type detection from magic numbers, and the check that a
declared type (a data URI's MIME, `input_audio.format`) agrees with them.

We never trust a declared type: it picks nothing, it can only be contradicted. Detection
looks at the first bytes only; `inspect.py` then proves the rest of the file is sound.
"""

from __future__ import annotations

from enum import Enum

from vertexcompat.domain.errors import InvalidArgument


class MediaKind(Enum):
    IMAGE = "image"
    AUDIO = "audio"


class MediaFormat(Enum):
    """A supported format: (label, kind, canonical MIME)."""

    JPEG = ("JPEG", MediaKind.IMAGE, "image/jpeg")
    PNG = ("PNG", MediaKind.IMAGE, "image/png")
    WEBP = ("WebP", MediaKind.IMAGE, "image/webp")
    GIF = ("GIF", MediaKind.IMAGE, "image/gif")
    WAV = ("WAV", MediaKind.AUDIO, "audio/wav")
    MP3 = ("MP3", MediaKind.AUDIO, "audio/mpeg")
    FLAC = ("FLAC", MediaKind.AUDIO, "audio/flac")
    OGG = ("OGG (Opus or Vorbis)", MediaKind.AUDIO, "audio/ogg")
    WEBM = ("WebM/Matroska", MediaKind.AUDIO, "audio/webm")

    def __init__(self, label: str, kind: MediaKind, mime: str) -> None:
        self.label = label
        self.kind = kind
        self.mime = mime


# Every name a client may use for a format: MIME types with their common aliases, and the
# short names `input_audio.format` takes (OpenAI documents "wav" and "mp3"; Gemini reads more).
_DECLARED: dict[str, MediaFormat] = {
    "image/jpeg": MediaFormat.JPEG, "image/jpg": MediaFormat.JPEG,
    "image/pjpeg": MediaFormat.JPEG, "jpeg": MediaFormat.JPEG, "jpg": MediaFormat.JPEG,
    "image/png": MediaFormat.PNG, "png": MediaFormat.PNG,
    "image/webp": MediaFormat.WEBP, "webp": MediaFormat.WEBP,
    "image/gif": MediaFormat.GIF, "gif": MediaFormat.GIF,
    "audio/wav": MediaFormat.WAV, "audio/x-wav": MediaFormat.WAV, "audio/wave": MediaFormat.WAV,
    "audio/vnd.wave": MediaFormat.WAV, "wav": MediaFormat.WAV, "wave": MediaFormat.WAV,
    "audio/mpeg": MediaFormat.MP3, "audio/mp3": MediaFormat.MP3,
    "audio/mpeg3": MediaFormat.MP3, "audio/x-mp3": MediaFormat.MP3, "mp3": MediaFormat.MP3,
    "audio/flac": MediaFormat.FLAC, "audio/x-flac": MediaFormat.FLAC, "flac": MediaFormat.FLAC,
    "audio/ogg": MediaFormat.OGG, "audio/opus": MediaFormat.OGG, "audio/vorbis": MediaFormat.OGG,
    "application/ogg": MediaFormat.OGG, "ogg": MediaFormat.OGG, "opus": MediaFormat.OGG,
    "oga": MediaFormat.OGG,
    "audio/webm": MediaFormat.WEBM, "video/webm": MediaFormat.WEBM,
    "audio/x-matroska": MediaFormat.WEBM, "video/x-matroska": MediaFormat.WEBM,
    "webm": MediaFormat.WEBM, "mka": MediaFormat.WEBM, "matroska": MediaFormat.WEBM,
}

# A declared type that claims nothing: clients send it when they do not know.
_NO_CLAIM = frozenset({"application/octet-stream", "binary/octet-stream"})


def supported(kind: MediaKind) -> str:
    return ", ".join(f.mime for f in MediaFormat if f.kind is kind)


def sniff(data: bytes) -> MediaFormat | None:
    """The supported format whose signature `data` starts with, or None."""
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return MediaFormat.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaFormat.PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return MediaFormat.GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return MediaFormat.WEBP
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return MediaFormat.WAV
    if head.startswith(b"fLaC"):
        return MediaFormat.FLAC
    if head.startswith(b"OggS"):
        return _sniff_ogg(data)
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return _sniff_ebml(head)
    if head.startswith(b"ID3"):
        return _sniff_after_id3(data)
    if _is_mpeg_audio_layer3_frame(head):
        return MediaFormat.MP3
    return None


def check_declared(declared: str | None, actual: MediaFormat | None, *,
                   kind: MediaKind, param: str, declared_param: str | None = None) -> MediaFormat:
    """The format of the bytes, after checking it is a supported `kind` and that `declared`
    (a MIME or short format name, or None) does not contradict it. An unknown `declared`
    name is reported on `declared_param` (e.g. `input_audio.format`), defaulting to `param`."""
    claim = parse_declared(declared, kind=kind, param=declared_param or param)
    if actual is None:
        raise InvalidArgument(
            f"The media in `{param}` is not a supported {kind.value} "
            f"(supported: {supported(kind)}).",
            param=param,
        )
    if actual.kind is not kind:
        raise InvalidArgument(
            f"`{param}` must be {kind.value}, but the bytes are {actual.label} "
            f"{actual.kind.value} (supported: {supported(kind)}).",
            param=param,
        )
    if claim is not None and claim is not actual:
        raise InvalidArgument(
            f"The media in `{param}` is declared {declared} but the bytes are {actual.label}.",
            param=param,
        )
    return actual


def parse_declared(declared: str | None, *, kind: MediaKind, param: str) -> MediaFormat | None:
    """The format a declared MIME or short name means; None if nothing is claimed."""
    if declared is None:
        return None
    name = declared.strip().lower()
    if name in _NO_CLAIM:
        return None
    claim = _DECLARED.get(name)
    if claim is None or claim.kind is not kind:
        raise InvalidArgument(
            f"The media in `{param}` is declared {declared!r}, which is not a supported "
            f"{kind.value} type (supported: {supported(kind)}).",
            param=param,
        )
    return claim


def _sniff_ogg(data: bytes) -> MediaFormat | None:
    # The first Ogg page carries the codec's identification header right after the page
    # header (27 bytes + one byte per lacing segment). Only audio codecs we decode qualify;
    # Theora video or an Ogg-wrapped FLAC is not what a client means by "ogg audio".
    if len(data) < 27:
        return None
    body = data[27 + data[26]: 27 + data[26] + 8]
    if body.startswith(b"OpusHead") or body.startswith(b"\x01vorbis"):
        return MediaFormat.OGG
    return None


def _sniff_ebml(head: bytes) -> MediaFormat | None:
    # The EBML header names its DocType ("webm" or "matroska") within its first bytes.
    if b"webm" in head or b"matroska" in head:
        return MediaFormat.WEBM
    return None


def _sniff_after_id3(data: bytes) -> MediaFormat | None:
    # An ID3v2 tag (10-byte header, then a 28-bit "syncsafe" size) may prefix MP3 and, rarely,
    # FLAC; what follows the tag decides.
    if len(data) < 10:
        return None
    size = (data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | data[9] & 0x7F
    footer = 10 if data[5] & 0x10 else 0
    rest = data[10 + size + footer: 10 + size + footer + 4]
    if rest.startswith(b"fLaC"):
        return MediaFormat.FLAC
    if not rest or _is_mpeg_audio_layer3_frame(rest):
        # A tag-only prefix (an empty or cut-short file) still says MP3; inspection will
        # then find no audio frames and report the file as corrupt.
        return MediaFormat.MP3
    return None


def _is_mpeg_audio_layer3_frame(head: bytes) -> bool:
    # An MPEG audio frame header: 11 sync bits, a version that is not "reserved" (01), layer
    # bits 01 (Layer III), a bitrate index that is not 1111 and a sample rate index that is
    # not 11. ADTS AAC shares the sync word but has layer bits 00, so it is not matched.
    if len(head) < 3 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 0b11, (head[1] >> 1) & 0b11
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 0b11
    return version != 0b01 and layer == 0b01 and bitrate != 0b1111 and rate != 0b11
