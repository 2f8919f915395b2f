"""Speech to text: Whisper base on CTranslate2 (faster-whisper), CPU, int8, with the model
files assembled from PyPI packages by `model_files`. Audio is decoded with PyAV to what
Whisper was trained on: 16 kHz mono float32.

The model loads on first use and stays loaded. faster-whisper's `WhisperModel` may be called
from several threads (CTranslate2 queues them onto its workers), so no lock around it.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import numpy as np

from vertexcompat.media.perception.findings import AudioFindings
from vertexcompat.media.perception.model_files import WHISPER_BASE, assemble

SAMPLE_RATE = 16_000  # Whisper's feature extractor expects exactly this
_MIN_SECONDS = 0.1  # shorter than one spoken syllable


def decode_16k_mono(data: bytes) -> np.ndarray:
    """Any audio container PyAV reads → 1-D float32 samples at 16 kHz, mono, in [-1, 1].

    Channels are averaged here rather than by FFmpeg's downmix, which gives each channel of a
    stereo pair a -3 dB (0.707) gain: in-phase stereo would come out up to 1.41, past full
    scale."""
    import av  # noqa: PLC0415 - on first use: ~0.2 s of every process's start otherwise

    chunks: list[np.ndarray] = []
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.audio[0]
        # Planar float keeps channels apart: to_ndarray() is (channels, samples).
        resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=SAMPLE_RATE)
        for frame in container.decode(stream):
            chunks.extend(out.to_ndarray() for out in resampler.resample(frame))
        chunks.extend(out.to_ndarray() for out in resampler.resample(None))  # resampler tail
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(chunks, axis=1).mean(axis=0).astype(np.float32)


class Transcriber:
    def __init__(self, *, model_dir: Path, threads: int) -> None:
        self._model_dir = model_dir
        self._threads = threads
        self._model: Any = None
        self._lock = threading.Lock()  # guards loading only

    def load(self) -> Any:
        with self._lock:
            if self._model is None:
                from faster_whisper import WhisperModel

                path = assemble(WHISPER_BASE, self._model_dir)
                self._model = WhisperModel(str(path), device="cpu", compute_type="int8",
                                           cpu_threads=self._threads, num_workers=1,
                                           local_files_only=True)
            return self._model

    def transcribe(self, data: bytes) -> AudioFindings:
        samples = decode_16k_mono(data)
        duration = len(samples) / SAMPLE_RATE
        if duration < _MIN_SECONDS:
            # Nothing to hear; Whisper would pad it to 30 s of silence and may hallucinate.
            return AudioFindings(transcript="", language="", language_probability=0.0,
                                 duration_s=round(duration, 2))
        model = self.load()
        # Beam 5 is faster-whisper's default. VAD stays off so short clips are kept whole.
        # Not conditioning on the previous window's text stops Whisper's known repetition
        # loops on long audio, at a small cost in cross-window consistency.
        segments, info = model.transcribe(samples, beam_size=5, vad_filter=False,
                                          condition_on_previous_text=False)
        text = " ".join(s.text.strip() for s in segments if s.text.strip())
        return AudioFindings(transcript=text, language=info.language or "",
                             language_probability=float(info.language_probability),
                             duration_s=round(duration, 2))
