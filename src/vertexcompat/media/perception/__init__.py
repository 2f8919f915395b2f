"""Perception: what is in an image (text, faces, colours, an NSFW score) and what is said in
an audio clip (transcript, language), as typed findings a text-only chat model can read.

Models come from PyPI wheels only (RapidOCR, OpenCV's Haar cascade, open_nsfw, Whisper base)
and load lazily. Heavy libraries are imported on first use, not when this package is.
"""

from vertexcompat.media.perception.errors import PerceptionModelError
from vertexcompat.media.perception.findings import AudioFindings, ImageFindings, NamedColor
from vertexcompat.media.perception.pipeline import Perception

__all__ = ["AudioFindings", "ImageFindings", "NamedColor", "Perception", "PerceptionModelError"]
