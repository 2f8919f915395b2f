"""Real media files made on the spot (Pillow, `wave`, PyAV): no fixtures on disk, no network."""

from __future__ import annotations

import io
import struct
import wave
import zlib

import av
import numpy as np
from PIL import Image


def image(fmt: str, size: tuple[int, int] = (64, 48), colour: str = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format=fmt)
    return buf.getvalue()


def animated_gif(frames: int = 3, size: tuple[int, int] = (32, 32)) -> bytes:
    colours = ["red", "green", "blue", "yellow", "white"]
    images = [Image.new("RGB", size, colours[i % len(colours)]) for i in range(frames)]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=100)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A syntactically valid PNG that claims a huge canvas but holds almost no data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


def tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def wav(seconds: float = 1.0, rate: int = 16000, channels: int = 1) -> bytes:
    pcm = (tone(seconds, rate) * 32767).astype("<i2")
    frames = np.repeat(pcm[:, None], channels, axis=1).tobytes()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buf.getvalue()


# (container, encoder, sample rate) for each compressed format the intake accepts.
ENCODINGS = {
    "mp3": ("mp3", "libmp3lame", 16000),
    "flac": ("flac", "flac", 16000),
    "ogg": ("ogg", "libopus", 48000),
    "webm": ("webm", "libopus", 48000),
}


def encoded(name: str, seconds: float = 1.5, *, live: bool = False) -> bytes:
    """`live=True` (WebM only) writes no Duration element, like a browser's MediaRecorder."""
    container_format, codec, rate = ENCODINGS[name]
    samples = tone(seconds, rate)
    buf = io.BytesIO()
    options = {"live": "1"} if live else {}
    with av.open(buf, "w", format=container_format, options=options) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = "mono"
        sample_format = stream.codec_context.format.name
        for start in range(0, len(samples), 960):
            chunk = samples[start:start + 960].reshape(1, -1)
            if sample_format.startswith("s16"):
                chunk = (chunk * 32767).astype(np.int16)
            elif sample_format.startswith("s32"):
                chunk = (chunk * 2**31 * 0.99).astype(np.int32)
            frame = av.AudioFrame.from_ndarray(chunk, format=sample_format, layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()
