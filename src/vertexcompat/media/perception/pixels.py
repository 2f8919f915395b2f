"""Decoding a checked image into the pixel arrays the models read: RGB uint8, first frame of
an animation, alpha composited onto white (a transparent logo is drawn on a white page)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def to_rgb(data: bytes) -> np.ndarray:
    """Image bytes → HxWx3 uint8 RGB array of the first frame."""
    with Image.open(io.BytesIO(data)) as image:
        image.seek(0)
        frame = image.convert("RGBA")
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
