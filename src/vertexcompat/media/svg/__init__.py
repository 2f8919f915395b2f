"""Model-drawn images (issue 7): sanitizing the SVG a model wrote (`sanitize.py`, with the
allowed subset in `allowlist.py` and its value checks in `values.py`) and rasterizing it to
PNG in a killable worker process (`render.py`, running `worker.py`).

Imports only the standard library and resvg-py/Pillow (in the worker); nothing of the server.
"""

from vertexcompat.media.svg.sanitize import SvgLimits, SvgRejected, sanitize_svg

__all__ = ["SvgLimits", "SvgRejected", "sanitize_svg"]
