"""Images drawn on the spot with Pillow: no fixtures on disk, no network. The font is
Pillow's bundled scalable default (Pillow >= 10.1), so no system font is needed."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

from vertexcompat.media.intake import ImageMedia
from vertexcompat.media.sniff import MediaFormat


def stop_sign_jpeg(size: tuple[int, int] = (640, 480)) -> bytes:
    """A red sign filling most of a grey wall, reading "STOP 42" in large white letters."""
    width, height = size
    image = Image.new("RGB", size, (128, 128, 128))
    draw = ImageDraw.Draw(image)
    draw.rectangle((width // 20, height // 20, width - width // 20, height - height // 20),
                   fill=(204, 20, 30))
    font = ImageFont.load_default(size=height // 4)
    draw.text((width // 2, height // 2), "STOP 42", fill="white", font=font, anchor="mm")
    return _encode(image, "JPEG")


def plain_png(colour: str | tuple[int, int, int] = (40, 90, 200),
              size: tuple[int, int] = (320, 240)) -> bytes:
    return _encode(Image.new("RGB", size, colour), "PNG")


def as_media(data: bytes) -> ImageMedia:
    with Image.open(io.BytesIO(data)) as image:
        fmt = {"JPEG": MediaFormat.JPEG, "PNG": MediaFormat.PNG, "GIF": MediaFormat.GIF,
               "WEBP": MediaFormat.WEBP}[image.format or ""]
        return ImageMedia(format=fmt, data=data, width=image.width, height=image.height,
                          frame_count=getattr(image, "n_frames", 1))


def _encode(image: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def portrait_jpeg() -> bytes:
    """A real photograph of one face: the public-domain portrait of Grace Hopper that
    matplotlib's wheel ships as sample data (found on disk; matplotlib is not imported)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("matplotlib")
    assert spec is not None and spec.submodule_search_locations, "matplotlib (test extra)"
    path = Path(spec.submodule_search_locations[0]) / "mpl-data/sample_data/grace_hopper.jpg"
    return path.read_bytes()


def side_by_side(data: bytes, copies: int) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")
    row = Image.new("RGB", (rgb.width * copies, rgb.height))
    for i in range(copies):
        row.paste(rgb, (i * rgb.width, 0))
    return _encode(row, "JPEG")
