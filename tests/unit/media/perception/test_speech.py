"""Transcription with the real Whisper base model on speech synthesised offline by eSpeak NG
(its library and voices ship in the `espeakng-loader` wheel)."""

import io
import wave
from pathlib import Path

import numpy as np
import pytest

from vertexcompat.media.intake import AudioMedia
from vertexcompat.media.perception import Perception
from vertexcompat.media.perception.speech import SAMPLE_RATE, decode_16k_mono
from vertexcompat.media.sniff import MediaFormat

from .. import samples
from .speech_samples import speak_wav, word_errors

pytestmark = pytest.mark.timeout(240)

SENTENCE = "the quick brown fox jumps over the lazy dog"


def test_word_errors_counts_substitutions_insertions_and_deletions() -> None:
    assert word_errors("the quick brown fox", "The quick, brown fox!") == 0
    assert word_errors("the quick brown fox", "the quick fox") == 1
    assert word_errors("the quick brown fox", "a quick brown fox jumped") == 2


def wav_media(data: bytes) -> AudioMedia:
    with wave.open(io.BytesIO(data)) as w:
        return AudioMedia(format=MediaFormat.WAV, data=data,
                          duration_s=w.getnframes() / w.getframerate(),
                          sample_rate=w.getframerate(), channels=w.getnchannels())


def test_spoken_sentence_is_transcribed_within_two_word_errors(perception: Perception) -> None:
    audio = wav_media(speak_wav(SENTENCE))
    findings = perception.transcribe(audio)
    assert word_errors(SENTENCE, findings.transcript) <= 2, findings.transcript
    assert findings.language == "en"
    assert 0.5 < findings.language_probability <= 1.0
    assert findings.duration_s == pytest.approx(audio.duration_s, abs=0.05)
    assert findings.describe().startswith(
        f"(Attached audio, as heard by a speech recognizer: {audio.duration_s:.1f} s of English "
        "speech; the transcript reads")


def test_audio_is_decoded_to_16k_mono_float() -> None:
    rate, seconds = 44_100, 0.5
    t = np.arange(int(rate * seconds)) / rate
    stereo = np.stack([np.sin(2 * np.pi * 440 * t)] * 2, axis=1) * 0.5
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((stereo * 32767).astype("<i2").tobytes())
    samples = decode_16k_mono(buf.getvalue())
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) - SAMPLE_RATE * seconds) <= 32
    assert 0.4 < float(np.abs(samples).max()) <= 0.55


def test_audio_too_short_to_hold_a_word_is_not_sent_to_the_model(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(b"\x00\x00" * 800)  # 50 ms of silence
    # A fresh Perception whose cache dir does not exist: the model must not even be assembled.
    perception = Perception(cache_dir=tmp_path / "never-created", threads=1)
    findings = perception.transcribe(wav_media(buf.getvalue()))
    assert (findings.transcript, findings.duration_s) == ("", 0.05)
    assert findings.describe() == (
        "(Attached audio, as heard by a speech recognizer: 0.1 s; no speech recognised.)")
    assert not (tmp_path / "never-created").exists()


@pytest.mark.parametrize("name", sorted(samples.ENCODINGS))
def test_every_compressed_format_the_intake_accepts_decodes_to_16k(name: str) -> None:
    decoded = decode_16k_mono(samples.encoded(name, seconds=1.5))
    # Codec priming and padding (MP3, Opus) add a few ms at either end.
    assert abs(len(decoded) / SAMPLE_RATE - 1.5) < 0.1
    assert 0.2 < float(np.abs(decoded).max()) < 0.4  # the 0.3-amplitude tone survives
