"""Model-drawn images (issue 7): sanitizing the SVG a model wrote (`sanitize.py`, with the
allowed subset in `allowlist.py` and its value checks in `values.py`) and rasterizing it to
PNG in a killable worker process (`render.py`, running `worker.py`).

Imports only the standard library here; resvg-py and Pillow are imported by the worker
process alone.
"""

from vertexcompat.media.svg.render import RenderFailed, RenderTimeout, SvgRenderer
from vertexcompat.media.svg.sanitize import SvgLimits, SvgRejected, sanitize_svg

__all__ = [
    "RenderFailed",
    "RenderTimeout",
    "SvgLimits",
    "SvgRejected",
    "SvgRenderer",
    "sanitize_svg",
]
