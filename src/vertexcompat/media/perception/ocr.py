"""Text in images: RapidOCR (PP-OCRv4 detection, direction and recognition, ONNX models inside
the `rapidocr-onnxruntime` wheel) on onnxruntime. Built on first use, kept loaded.

One `TextReader` serves many threads: RapidOCR keeps per-call state on its instance, so calls
are serialized by a lock; the perception pool is small (cores are the limit, not the lock).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

_MIN_CONFIDENCE = 0.5  # RapidOCR's own default text_score; below it lines are mostly noise


class TextReader:
    def __init__(self, *, threads: int) -> None:
        self._threads = threads
        self._engine: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            self._load_locked()

    def read(self, rgb: np.ndarray) -> tuple[str, ...]:
        """HxWx3 uint8 RGB → recognised lines in reading order."""
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])  # RapidOCR takes OpenCV's BGR
        with self._lock:
            self._load_locked()
            result, _elapsed = self._engine(bgr)
        return reading_order(result or [])

    def _load_locked(self) -> None:
        if self._engine is None:
            from rapidocr_onnxruntime import RapidOCR  # heavy (onnxruntime, cv2): on first use

            self._engine = RapidOCR(intra_op_num_threads=self._threads,
                                    inter_op_num_threads=1, text_score=_MIN_CONFIDENCE)


def reading_order(result: list[Any]) -> tuple[str, ...]:
    """RapidOCR's [box, text, score] rows → texts top to bottom, left to right. Boxes whose
    vertical centres lie within half a line height of each other count as one row."""
    boxes = []
    for box, text, _score in result:
        text = str(text).strip()
        if not text:
            continue
        points = np.asarray(box, dtype=np.float32)
        top, bottom = float(points[:, 1].min()), float(points[:, 1].max())
        boxes.append(((top + bottom) / 2, bottom - top, float(points[:, 0].min()), text))
    boxes.sort()
    rows: list[list[tuple[float, float, float, str]]] = []
    for entry in boxes:
        if rows and abs(entry[0] - rows[-1][0][0]) < max(entry[1], rows[-1][0][1]) / 2:
            rows[-1].append(entry)
        else:
            rows.append([entry])
    return tuple(" ".join(e[3] for e in sorted(row, key=lambda e: e[2])) for row in rows)
