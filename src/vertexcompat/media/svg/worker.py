"""The render worker process: reads render requests on stdin, answers PNGs on stdout.

Run as a script by `render.py` (`python -P path/to/worker.py`), never imported by the server:
it imports only the standard library, resvg-py and Pillow, so it starts in a fraction of a
second, and a drawing that makes resvg spin can be killed with the process.

Wire format, all integers big-endian:
  ready   worker → parent: the single byte b"R" once the imports are done
  request parent → worker: u32 width, u32 height, u32 n, then n bytes of UTF-8 SVG
  reply   worker → parent: u8 status (0 PNG, 1 error), u32 n, then n bytes (PNG or message)
End of stdin ends the worker.
"""

from __future__ import annotations

import io
import os
import resource
import struct
import sys
from typing import BinaryIO

REQUEST = struct.Struct(">III")
REPLY = struct.Struct(">BI")
READY = b"R"
OK, ERROR = 0, 1
# Address-space cap: the largest canvas (8192² RGBA, 256 MB) exists up to three times during a
# render (resvg's pixmap, Pillow's decode, the RGB copy). resvg clips its layers to the canvas
# (a 200-layer drawing peaked at 58 MB), so this only stops what we did not foresee: an
# allocation past it fails and the worker dies, to be replaced, instead of the host swapping.
MAX_ADDRESS_SPACE = 2 * 1024**3
# resvg looks fonts up by family name; with no such font installed, text is silently not
# drawn. DejaVu comes with the matplotlib wheel (a dependency, never imported), so text
# draws the same on a host without system fonts.
_SANS = "DejaVu Sans"
_SERIF = "DejaVu Serif"
_MONO = "DejaVu Sans Mono"


def bundled_fonts() -> list[str]:
    """The DejaVu font files shipped in matplotlib's wheel, found without importing it."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("matplotlib")
    locations = spec.submodule_search_locations if spec is not None else None
    found: list[str] = []
    for location in locations or ():
        found += sorted(str(p) for p in (Path(location) / "mpl-data/fonts/ttf").glob("DejaVu*.ttf"))
    return found


def render(svg: str, width: int, height: int, fonts: list[str] | None = None) -> bytes:
    """Exactly width×height RGB PNG: the drawing scaled to fit (its aspect ratio kept, centred)
    on an opaque white canvas."""
    # Imported here, not at the top: the server process imports this module for the wire
    # format above and must not load resvg for it.
    import resvg_py
    from PIL import Image

    drawn = resvg_py.svg_to_bytes(
        svg_string=svg, width=width, height=height, background="white",
        font_family=_SANS, sans_serif_family=_SANS, serif_family=_SERIF,
        monospace_family=_MONO, font_files=fonts or None,
    )
    with Image.open(io.BytesIO(drawn)) as image:
        rgba = image.convert("RGBA")
    if rgba.size == (width, height):
        # `background` already made every pixel opaque; dropping alpha changes no colour.
        canvas = rgba.convert("RGB")
    else:
        # resvg fits to the document's own size; a document whose aspect ratio differs from
        # the request comes back smaller on one side.
        canvas = Image.new("RGB", (width, height), "white")
        canvas.paste(rgba, ((width - rgba.width) // 2, (height - rgba.height) // 2), rgba)
    out = io.BytesIO()
    canvas.save(out, format="PNG")
    return out.getvalue()


def serve(requests: BinaryIO, replies: BinaryIO) -> None:
    """Answer requests until end of input."""
    import resvg_py  # noqa: F401  (imported before READY so the first render is not slower)
    from PIL import Image  # noqa: F401

    fonts = bundled_fonts()
    replies.write(READY)
    replies.flush()
    while True:
        header = _read_exactly(requests, REQUEST.size)
        if header is None:
            return
        width, height, length = REQUEST.unpack(header)
        payload = _read_exactly(requests, length)
        if payload is None:
            return
        try:
            status, body = OK, render(payload.decode("utf-8"), width, height, fonts)
        except Exception as exc:  # noqa: BLE001 — any failure is reported, the worker lives on
            status, body = ERROR, f"{type(exc).__name__}: {exc}"[:1000].encode()
        except BaseException as exc:
            # pyo3 turns a Rust panic into PanicException, a BaseException.
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            status, body = ERROR, f"{type(exc).__name__}: {exc}"[:1000].encode()
        replies.write(REPLY.pack(status, len(body)) + body)
        replies.flush()


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def main() -> None:
    # The protocol gets its own copy of stdout, and fd 1 becomes stderr: a stray print from
    # Python or a log line from native code then cannot corrupt a reply.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or hard > MAX_ADDRESS_SPACE:
        resource.setrlimit(resource.RLIMIT_AS, (MAX_ADDRESS_SPACE, hard))
    serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    main()
