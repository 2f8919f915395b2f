"""Counting faces with OpenCV's Haar cascade for frontal faces, the XML that ships inside the
OpenCV wheel (`cv2.data.haarcascades`; OpenCV 5 wheels no longer carry it, hence the 4.x pin).

Frontal faces only, and a count, not identities. `CascadeClassifier.detectMultiScale` is not
documented thread-safe, so one classifier is used under a lock.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from vertexcompat.media.perception.errors import PerceptionModelError
from vertexcompat.media.perception.pixels import fit_within

_CASCADE = "haarcascade_frontalface_default.xml"
_MAX_SIDE = 1024  # faces smaller than ~3% of the image are not what a caption is about


class FaceCounter:
    def __init__(self) -> None:
        self._cascade: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            self._load_locked()

    def count(self, rgb: np.ndarray) -> int:
        import cv2

        small = fit_within(rgb, _MAX_SIDE)
        gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
        min_side = max(24, min(gray.shape) // 30)
        with self._lock:
            self._load_locked()
            found = self._cascade.detectMultiScale(
                gray, scaleFactor=1.1, minNeighbors=6, minSize=(min_side, min_side))
        return len(found)

    def _load_locked(self) -> None:
        if self._cascade is not None:
            return
        import cv2

        path = os.path.join(cv2.data.haarcascades, _CASCADE)  # type: ignore[attr-defined]
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise PerceptionModelError(f"OpenCV's face cascade is missing or unreadable: {path}")
        self._cascade = cascade
