"""A pure parser for the RIFF/WAVE header: enough to know the duration, sample rate and
channel count of a WAV file without decoding a single sample (and without FFmpeg)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

# WAVE_FORMAT_* tags we accept: their byte rate is constant, so the duration is exact.
_PCM, _IEEE_FLOAT, _ALAW, _MULAW, _EXTENSIBLE = 0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE
_CONSTANT_RATE = frozenset({_PCM, _IEEE_FLOAT, _ALAW, _MULAW})
# Writers that stream a WAV before knowing its length put one of these in the size fields.
_UNKNOWN_SIZES = frozenset({0, 0xFFFFFFFF})


class WavError(ValueError):
    """The bytes are not a WAV file we can read; the message says why."""


@dataclass(frozen=True, slots=True)
class WavHeader:
    format_tag: int
    channels: int
    sample_rate: int
    bits_per_sample: int
    data_bytes: int

    @property
    def duration_s(self) -> float:
        return self.data_bytes / (self.sample_rate * self.block_align)

    @property
    def block_align(self) -> int:
        return self.channels * self.bits_per_sample // 8


def parse_wav(data: bytes) -> WavHeader:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavError("not a RIFF/WAVE file")
    fmt: tuple[int, int, int, int] | None = None
    offset = 12
    while offset + 8 <= len(data):
        chunk_id, size = data[offset:offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        body = offset + 8
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(data[body:body + size])
        elif chunk_id == b"data":
            if fmt is None:
                raise WavError("the data chunk comes before the fmt chunk")
            available = len(data) - body
            if size in _UNKNOWN_SIZES:
                size = available
            elif size > available:
                raise WavError(f"truncated: the data chunk declares {size} bytes "
                               f"but only {available} are present")
            tag, channels, rate, bits = fmt
            header = WavHeader(tag, channels, rate, bits, size)
            if size == 0 or size < header.block_align:
                raise WavError("the data chunk holds no samples")
            return header
        # Chunks are padded to an even length (RIFF spec).
        offset = body + size + (size & 1)
    if fmt is None:
        raise WavError("no fmt chunk")
    raise WavError("no data chunk (truncated?)")


def _parse_fmt(body: bytes) -> tuple[int, int, int, int]:
    if len(body) < 16:
        raise WavError("the fmt chunk is truncated")
    tag, channels, rate, byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
    if tag == _EXTENSIBLE:
        # WAVEFORMATEXTENSIBLE: the real format tag is the first two bytes of the
        # sub-format GUID, 24 bytes into the fmt body.
        if len(body) < 40:
            raise WavError("the extensible fmt chunk is truncated")
        tag = struct.unpack_from("<H", body, 24)[0]
    if tag not in _CONSTANT_RATE:
        raise WavError(f"unsupported WAV encoding 0x{tag:04x} "
                       "(supported: PCM, IEEE float, A-law, mu-law)")
    if not 1 <= channels <= 32 or not 1 <= rate <= 768_000 or bits not in (8, 16, 24, 32, 64):
        raise WavError(f"implausible format: {channels} channels, {rate} Hz, {bits} bits")
    if block_align != channels * bits // 8 or byte_rate != rate * block_align:
        raise WavError("inconsistent fmt chunk (block align or byte rate)")
    return tag, channels, rate, bits
