"""Dominant colours: every pixel of a downscaled copy is named with one of eleven basic colour
words (Berlin & Kay's basic terms: red, orange, yellow, green, blue, purple, pink, brown,
black, white, grey) by rules over hue, saturation and value, and the names are counted.

Naming pixels and counting names, rather than clustering and naming the centroids, keeps a
red sign "red" even when JPEG ringing and anti-aliased text edges add many in-between
shades: those scatter over small shares instead of dragging a centroid off its hue.
"""

from __future__ import annotations

import numpy as np

from vertexcompat.media.perception.findings import NamedColor
from vertexcompat.media.perception.pixels import fit_within

_SAMPLE_SIDE = 128  # enough pixels for stable shares, cheap at any input size
_MIN_SHARE = 0.05  # below this a colour is detail, not a main colour
_MAX_COLORS = 4

_NAMES = ("black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple",
          "pink", "brown")


def dominant_colors(rgb: np.ndarray) -> tuple[NamedColor, ...]:
    """HxWx3 uint8 RGB → up to four named colours covering at least 5% each, largest first."""
    pixels = fit_within(rgb, _SAMPLE_SIDE).reshape(-1, 3).astype(np.float32) / 255.0
    if len(pixels) == 0:
        return ()
    labels = name_pixels(pixels)
    counts = np.bincount(labels, minlength=len(_NAMES))
    found: list[NamedColor] = []
    for index in np.argsort(-counts, kind="stable"):
        share = counts[index] / len(labels)
        if share < _MIN_SHARE or len(found) == _MAX_COLORS:
            break
        mean = pixels[labels == index].mean(axis=0)
        found.append(NamedColor(name=_NAMES[index], hex=_hex(mean), share=float(round(share, 3))))
    return tuple(found)


def name_pixels(rgb: np.ndarray) -> np.ndarray:
    """Nx3 float RGB in 0-1 → N indices into `_NAMES`."""
    hue, sat, val = _hsv(rgb)
    labels = np.empty(len(rgb), dtype=np.intp)
    # Hue bands in degrees, tuned on the sRGB primaries and their common named mixes.
    # Purple reaches to 320: CSS purple, violet and magenta sit at 300 (hot and deep pink
    # at 328-330 stay pink).
    chroma_names = np.select(
        [hue < 15, hue < 40, hue < 70, hue < 165, hue < 260, hue < 320, hue < 340],
        [_NAMES.index(n) for n in ("red", "orange", "yellow", "green", "blue", "purple",
                                   "pink")],
        default=_NAMES.index("red"),
    )
    labels[:] = chroma_names
    red_or_orange = (hue < 40) | (hue >= 340)
    # Dark oranges and reds read as brown; pale reds as pink.
    labels[red_or_orange & (val < 0.6) & (sat > 0.25) & (hue >= 10) & (hue < 40)] = \
        _NAMES.index("brown")
    labels[((hue < 15) | (hue >= 340)) & (sat < 0.45) & (val > 0.75)] = _NAMES.index("pink")
    labels[sat < 0.18] = _NAMES.index("grey")
    labels[(sat < 0.18) & (val > 0.85)] = _NAMES.index("white")
    labels[val < 0.2] = _NAMES.index("black")
    return labels


def _hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    val = rgb.max(axis=1)
    spread = val - rgb.min(axis=1)
    sat = np.where(val > 0, spread / np.maximum(val, 1e-6), 0.0)
    safe = np.maximum(spread, 1e-6)
    hue = np.select(
        [val == r, val == g],
        [((g - b) / safe) % 6, (b - r) / safe + 2],
        default=(r - g) / safe + 4,
    ) * 60.0
    return hue, sat, val


def _hex(rgb: np.ndarray) -> str:
    r, g, b = (int(round(float(c) * 255)) for c in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"
