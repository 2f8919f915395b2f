"""The perception pipeline: one object that owns the models and turns checked media into
findings. Blocking calls, meant to run in a worker pool off the event loop.

Models load on first use (or in `warm()`) and stay loaded for the object's life; nothing is
module-global, so two `Perception`s (two apps in one process, tests) are independent.
"""

from __future__ import annotations

from pathlib import Path

from vertexcompat.media.intake import AudioMedia, ImageMedia
from vertexcompat.media.perception.colors import dominant_colors
from vertexcompat.media.perception.faces import FaceCounter
from vertexcompat.media.perception.findings import AudioFindings, ImageFindings
from vertexcompat.media.perception.nsfw import NsfwScorer
from vertexcompat.media.perception.ocr import TextReader
from vertexcompat.media.perception.pixels import to_rgb
from vertexcompat.media.perception.speech import Transcriber


class Perception:
    def __init__(self, *, cache_dir: Path, threads: int = 2) -> None:
        """`cache_dir` receives the assembled Whisper files (~145 MB); `threads` is the
        intra-op thread count each model uses per call."""
        self._text = TextReader(threads=threads)
        self._faces = FaceCounter()
        self._nsfw = NsfwScorer(threads=threads)
        self._speech = Transcriber(model_dir=cache_dir / "whisper-base-ct2", threads=threads)

    def warm(self, *, images: bool = True, audio: bool = True) -> None:
        """Load the models now instead of on the first request."""
        if images:
            self._text.load()
            self._faces.load()
            self._nsfw.load()
        if audio:
            self._speech.load()

    def describe_image(self, image: ImageMedia) -> ImageFindings:
        rgb = to_rgb(image.data)
        return ImageFindings(
            width=image.width,
            height=image.height,
            format=image.format.label,
            text_lines=self._text.read(rgb),
            faces=self._faces.count(rgb),
            dominant_colors=dominant_colors(rgb),
            nsfw_score=round(self._nsfw.score(rgb), 4),
        )

    def score_image(self, data: bytes) -> float:
        """The probability that an encoded image is not safe for work (open_nsfw): how the
        safety settings rate a generated image as sexually explicit."""
        return self._nsfw.score(to_rgb(data))

    def transcribe(self, audio: AudioMedia) -> AudioFindings:
        return self._speech.transcribe(audio.data)
