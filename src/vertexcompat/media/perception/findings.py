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
        # Phrased as a tool's report in plain sentences: measured on the default 0.5B chat
        # model, this framing is what gets the text and colours into its answer.
        parts = [f"a {self.width}x{self.height} {self.format}"]
        if self.text_lines:
            parts.append("the text written in it reads " + _quoted_lines(self.text_lines))
        else:
            parts.append("no text in it")
        if self.dominant_colors:
            parts.append("its main colours are " + _and_list([
                f"{c.name} ({round(c.share * 100)}%)" for c in self.dominant_colors]))
        parts.append(_faces(self.faces))
        return "(Attached image, as examined by an image-analysis tool: " + "; ".join(parts) + ".)"


@dataclass(frozen=True, slots=True)
class AudioFindings:
    transcript: str
    language: str  # ISO 639-1 code as Whisper reports it, e.g. "en"
    language_probability: float
    duration_s: float

    def describe(self) -> str:
        language = _LANGUAGE_NAMES.get(self.language, self.language or "unknown language")
        head = "(Attached audio, as heard by a speech recognizer: "
        if not self.transcript:
            return f"{head}{self.duration_s:.1f} s; no speech recognised.)"
        return (f"{head}{self.duration_s:.1f} s of {language} speech; the transcript reads "
                f"{_quote(self.transcript)}.)")


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


def _faces(n: int) -> str:
    return "no faces" if n == 0 else "1 face" if n == 1 else f"{n} faces"


def _and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# Whisper's most common languages; anything else is shown as its code.
_LANGUAGE_NAMES = {
    "en": "English", "de": "German", "es": "Spanish", "fr": "French", "it": "Italian",
    "pt": "Portuguese", "nl": "Dutch", "ru": "Russian", "zh": "Chinese", "ja": "Japanese",
    "ko": "Korean", "ar": "Arabic", "hi": "Hindi", "tr": "Turkish", "pl": "Polish",
    "uk": "Ukrainian", "sv": "Swedish", "cs": "Czech", "el": "Greek", "he": "Hebrew",
}
