"""llama.cpp's log lines, routed into Python logging under `vertexcompat.llama_cpp`.

llama-cpp-python installs its own callback at import, but its level table predates ggml's
current enum (NONE, DEBUG, INFO, WARN, ERROR, CONT), so model-loading INFO chatter prints as
warnings and real errors are dropped. We install ours when an engine loads: llama.cpp's INFO
becomes DEBUG here (hundreds of lines per load), WARN and ERROR keep their rank.
"""

from __future__ import annotations

import ctypes
import logging

import llama_cpp

_logger = logging.getLogger("vertexcompat.llama_cpp")
_LEVELS = {1: logging.DEBUG, 2: logging.DEBUG, 3: logging.WARNING, 4: logging.ERROR}
_CONT = 5
MAX_MESSAGE_BYTES = 2048


class _State:
    last_level = logging.DEBUG


@llama_cpp.llama_log_callback
def _forward(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    # Called from llama.cpp threads; must never raise.
    try:
        py_level = _State.last_level if level == _CONT else _LEVELS.get(level, logging.DEBUG)
        _State.last_level = py_level
        if _logger.isEnabledFor(py_level):
            message = truncate(text)
            if message:
                _logger.log(py_level, "%s", message)
    except Exception:  # pragma: no cover - logging must not crash native code
        pass


def truncate(text: bytes, limit: int = MAX_MESSAGE_BYTES) -> str:
    """One llama.cpp message as text: its first `limit` bytes, with a note of how many more
    there were. Only the kept part is decoded, however long the message."""
    text = text.rstrip()
    if len(text) <= limit:
        return text.decode("utf-8", errors="replace")
    head = text[:limit].decode("utf-8", errors="ignore")  # a character cut in two is dropped
    return f"{head}… ({len(text) - len(head.encode('utf-8'))} bytes elided)"


def route_llama_logs() -> None:
    """Idempotent: point llama.cpp's (process-wide) log callback at Python logging."""
    llama_cpp.llama_log_set(_forward, ctypes.c_void_p(0))
