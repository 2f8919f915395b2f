"""PNG text chunks (media/svg/png_text.py): the licence metadata a composed picture
carries is readable by a standard decoder, and the image itself is unchanged."""

import io

import pytest
from PIL import Image

from vertexcompat.media.svg.png_text import text_chunks, with_text_chunks


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 3), "red").save(out, format="PNG")
    return out.getvalue()


def test_chunks_are_read_back_by_pillow_and_the_pixels_are_unchanged():
    plain = png()
    tagged = with_text_chunks(plain, {"License": "CC BY-SA 4.0", "Source": "OpenMoji 17.0.0"})
    image = Image.open(io.BytesIO(tagged))
    image.load()
    assert image.text == {"License": "CC BY-SA 4.0", "Source": "OpenMoji 17.0.0"}
    assert image.tobytes() == Image.open(io.BytesIO(plain)).tobytes()
    assert text_chunks(tagged) == image.text


def test_text_outside_latin1_is_replaced_not_an_error():
    assert text_chunks(with_text_chunks(png(), {"Comment": "cat 🐈"})) == {"Comment": "cat ?"}


@pytest.mark.parametrize("keyword", ["", " lead", "x" * 80, "tab\there"])
def test_an_invalid_keyword_is_refused(keyword):
    with pytest.raises(ValueError):
        with_text_chunks(png(), {keyword: "x"})


def test_data_that_is_not_a_png_is_refused():
    with pytest.raises(ValueError):
        with_text_chunks(b"GIF89a....", {"A": "b"})
