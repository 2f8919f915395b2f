"""Speech made offline for the transcription tests: libespeak-ng from the `espeakng-loader`
wheel (library and voice data inside it, no system package), driven through ctypes, written
as a 16-bit mono WAV; and the word-error count the transcription tests judge by."""

from __future__ import annotations

import ctypes
import io
import re
import wave

import numpy as np

_AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: callback runs inside espeak_Synth
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.c_void_p)


def speak_wav(text: str, *, voice: str = "en-us", words_per_minute: int = 150) -> bytes:
    """`text` spoken by eSpeak NG → WAV bytes (22.05 kHz mono s16)."""
    import espeakng_loader

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0,
                                 espeakng_loader.get_data_path().encode(), 0)
    if rate <= 0:
        raise RuntimeError("espeak_Initialize failed")
    chunks: list[np.ndarray] = []

    def on_audio(wav, n, _events):  # type: ignore[no-untyped-def]
        if wav and n > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0  # 0 = keep synthesising

    callback = _CALLBACK(on_audio)  # keep a reference while espeak may call it
    lib.espeak_SetSynthCallback(callback)
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise RuntimeError(f"eSpeak has no voice {voice!r}")
    lib.espeak_SetParameter(1, words_per_minute, 0)  # espeakRATE, absolute
    data = text.encode()
    lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                 ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    if lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8,
                        None, None) != 0:
        raise RuntimeError("espeak_Synth failed")
    lib.espeak_Synchronize()
    lib.espeak_Terminate()
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())
    return out.getvalue()


def word_errors(reference: str, hypothesis: str) -> int:
    """Word-level Levenshtein distance (substitutions + deletions + insertions) after
    lower-casing and dropping punctuation: the numerator of WER."""
    ref, hyp = (re.findall(r"[a-z0-9']+", s.lower()) for s in (reference, hypothesis))
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]
