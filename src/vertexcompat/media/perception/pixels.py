"""Decoding a checked image into the pixel arrays the models read: RGB uint8, first frame of
an animation, alpha composited onto white (a transparent logo is drawn on a white page), and
no larger than any model reads.

`MAX_SIDE`: no model looks at more than 2000 pixels on the longer side — RapidOCR shrinks
its input to that (`max_side_len`, and it crops the text lines from the shrunk image), faces
read 1024, NSFW 256, colours 128. So a larger image is shrunk here, once, before the
copies each stage makes: a JPEG is decoded at 1/2, 1/4 or 1/8 scale by libjpeg's DCT
scaling (it still reads every byte, so a truncated file still fails), other formats are
decoded in full and shrunk at once, before the alpha page is composed.

Measured with bench/hardening.py `--one-image` (the intake's decode proof and the whole
pipeline, one thread, warm models, CPU time on this repository's 2-core machine; the red
"STOP 42" sign of bench/perception.py; before = `--baseline` on the tree before issue 12):

| image | before (full-size decode and RGBA page) | after |
|---|---|---|
| JPEG 7000x7000 = 49 MP, 1.0 MB | 5.4 s CPU, peak RSS +964 MB | 3.7 s, +734 MB |
| PNG 49 MP, 0.8 MB | 5.9 s, +919 MB | 4.4 s, +788 MB |
| JPEG 2000x2000 = 4 MP | 3.5 s, +677 MB | 3.1 s, +658 MB |

What remains is OCR's text detector on a 2000x2000 input (~3 s, ~650 MB of onnxruntime
buffers): a 49 MP JPEG now costs about what a 4 MP one does; a PNG still pays its full
decode (twice: the intake's proof, then here). The findings are the same (text, faces,
colours, NSFW score).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

MAX_SIDE = 2000


def to_rgb(data: bytes, *, max_side: int = MAX_SIDE) -> np.ndarray:
    """Image bytes → HxWx3 uint8 RGB array of the first frame, the longer side at most
    `max_side` pixels."""
    with Image.open(io.BytesIO(data)) as image:
        image.seek(0)
        width, height = image.size
        scale = max_side / max(width, height)
        if scale < 1 and image.format == "JPEG":
            # Asks for the smallest DCT scale that is still at least the target size.
            image.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
        frame = image.convert("RGBA")
    if max(frame.size) > max_side:
        # `reducing_gap`: a fast box reduction first, then an antialiased resample (RGBA is
        # resized with premultiplied alpha, so transparent edges do not darken).
        frame.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    page = Image.new("RGBA", frame.size, (255, 255, 255, 255))
    page.alpha_composite(frame)
    return np.asarray(page.convert("RGB"))


def fit_within(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale (never upscale) so the longer side is at most `max_side` pixels."""
    height, width = rgb.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))
