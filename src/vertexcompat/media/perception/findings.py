"""What perception found in one image or one audio clip, as typed values, and the short
plain-English note a text-only chat model reads in place of the media.

The NSFW score is a finding but never part of the note: it exists for safety settings, and
telling the chat model about it would only invite it to comment.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NamedColor:
    name: str  # a basic colour word: "red", "grey", ...
    hex: str  # the cluster's mean colour, "#rrggbb"
    share: float  # fraction of the image's pixels, 0-1


@dataclass(frozen=True, slots=True)
class ImageFindings:
    width: int
    height: int
    format: str  # "JPEG", "PNG", ...
    text_lines: tuple[str, ...]  # OCR, in reading order (top to bottom, left to right)
    faces: int
    dominant_colors: tuple[NamedColor, ...]  # largest share first
    nsfw_score: float  # 0-1, for safety settings; kept out of `describe()`

    def describe(self) -> str:
        parts = [f"Image {self.width}x{self.height} {self.format}."]
        if self.text_lines:
            parts.append("Text in the image: " + _quoted_lines(self.text_lines) + ".")
        else:
            parts.append("No text in the image.")
        if self.dominant_colors:
            parts.append("Main colours: " + ", ".join(
                f"{c.name} ({round(c.share * 100)}%)" for c in self.dominant_colors) + ".")
        parts.append(f"Faces: {_count(self.faces)}.")
        return "[" + " ".join(parts) + "]"


@dataclass(frozen=True, slots=True)
class AudioFindings:
    transcript: str
    language: str  # ISO 639-1 code as Whisper reports it, e.g. "en"
    language_probability: float
    duration_s: float

    def describe(self) -> str:
        language = _LANGUAGE_NAMES.get(self.language, self.language or "unknown language")
        head = f"Audio {self.duration_s:.1f} s, {language}."
        if not self.transcript:
            return f"[{head} No speech recognised.]"
        return f"[{head} Transcript: {_quote(self.transcript)}]"


# A scanned page can hold thousands of characters; the note must still fit a small model's
# context beside the conversation, so the text is cut at a line boundary and says so.
MAX_TEXT_CHARS = 1500


def _quoted_lines(lines: tuple[str, ...]) -> str:
    shown: list[str] = []
    used = 0
    for line in lines:
        if shown and used + len(line) > MAX_TEXT_CHARS:
            return " / ".join(shown) + f" (and {len(lines) - len(shown)} more lines)"
        shown.append(_quote(line[:MAX_TEXT_CHARS]))
        used += len(line)
    return " / ".join(shown)


def _quote(text: str) -> str:
    # Straight double quotes inside would close the quotation early for the reader.
    return '"' + text.replace('"', "'") + '"'


def _count(n: int) -> str:
    return "none" if n == 0 else str(n)


# Whisper's most common languages; anything else is shown as its code.
_LANGUAGE_NAMES = {
    "en": "English", "de": "German", "es": "Spanish", "fr": "French", "it": "Italian",
    "pt": "Portuguese", "nl": "Dutch", "ru": "Russian", "zh": "Chinese", "ja": "Japanese",
    "ko": "Korean", "ar": "Arabic", "hi": "Hindi", "tr": "Turkish", "pl": "Polish",
    "uk": "Ukrainian", "sv": "Swedish", "cs": "Czech", "el": "Greek", "he": "Hebrew",
}
