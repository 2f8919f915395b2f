"""Perception cost on 2 cores: time per image for each stage (decode, OCR, faces, colours,
NSFW) and in total, and Whisper base's transcription real-time factor (processing time /
audio duration; below 1 is faster than real time). Inputs are generated here: images drawn
with Pillow, speech synthesised by eSpeak NG from the `espeakng-loader` wheel (test extra).

Cold figures are the first call (model load included); warm figures are medians over
`--repeats` calls on loaded models.

    .venv/bin/python bench/perception.py [--threads 2] [--repeats 5]
    .venv/bin/python bench/perception.py --quick   # smoke: one image, one sentence, 1 repeat

`--quick` proves the script works (tests/e2e/test_bench_smoke.py runs it), not the numbers.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for the speech generator shared with the tests

from tests.unit.media.perception.speech_samples import speak_wav  # noqa: E402
from vertexcompat.media.intake import AudioMedia, ImageMedia  # noqa: E402
from vertexcompat.media.perception.colors import dominant_colors  # noqa: E402
from vertexcompat.media.perception.faces import FaceCounter  # noqa: E402
from vertexcompat.media.perception.nsfw import NsfwScorer  # noqa: E402
from vertexcompat.media.perception.ocr import TextReader  # noqa: E402
from vertexcompat.media.perception.pipeline import Perception  # noqa: E402
from vertexcompat.media.perception.pixels import to_rgb  # noqa: E402
from vertexcompat.media.sniff import MediaFormat  # noqa: E402

PARAGRAPH = (
    "The quick brown fox jumps over the lazy dog. Perception runs on two cores in a worker "
    "pool, so that images and audio never stall the text requests served beside them. "
    "Each model loads on first use and then stays in memory for the life of the server."
)


def sign(size: tuple[int, int]) -> bytes:
    w, h = size
    image = Image.new("RGB", size, (128, 128, 128))
    draw = ImageDraw.Draw(image)
    draw.rectangle((w // 20, h // 20, w - w // 20, h - h // 20), fill=(204, 20, 30))
    draw.text((w // 2, h // 2), "STOP 42", fill="white",
              font=ImageFont.load_default(size=h // 4), anchor="mm")
    return _jpeg(image)


def document(size: tuple[int, int]) -> bytes:
    """A photo-like page: noisy background with twelve lines of text, harder for OCR."""
    rng = np.random.default_rng(0)
    noise = rng.normal(200, 20, (size[1], size[0], 3)).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(noise)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=size[1] // 30)
    for i in range(12):
        draw.text((size[0] // 10, size[1] // 10 + i * size[1] // 16),
                  f"Line {i + 1}: invoice 2026-{i + 1:02d} total {37 * (i + 3)}.00 EUR",
                  fill=(20, 20, 20), font=font)
    return _jpeg(image)


def _jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def median_ms(fn: Callable[[], Any], repeats: int) -> float:
    return statistics.median(timed(fn)[0] for _ in range(repeats)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: the sign only, one sentence of speech, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 1
    n = args.repeats

    reader, faces, nsfw = TextReader(threads=args.threads), FaceCounter(), NsfwScorer(
        threads=args.threads)
    print(f"threads={args.threads} repeats={n}\n")
    print("model load (cold):")
    for name, load in (("OCR (RapidOCR)", reader.load), ("faces (Haar)", faces.load),
                       ("NSFW (open_nsfw)", nsfw.load)):
        print(f"  {name:<18} {timed(load)[0] * 1000:8.0f} ms")

    images = {"sign 640x480": sign((640, 480))}
    if not args.quick:
        images["document 1920x1080"] = document((1920, 1080))
    print("\nper image, warm, median ms:")
    print(f"  {'image':<20}{'decode':>8}{'OCR':>8}{'faces':>8}{'colours':>9}{'NSFW':>8}"
          f"{'sum':>8}   lines read")
    for label, data in images.items():
        rgb = to_rgb(data)
        lines = reader.read(rgb)
        stages = [median_ms(lambda: to_rgb(data), n), median_ms(lambda: reader.read(rgb), n),
                  median_ms(lambda: faces.count(rgb), n),
                  median_ms(lambda: dominant_colors(rgb), n), median_ms(lambda: nsfw.score(rgb), n)]
        print(f"  {label:<20}" + "".join(f"{s:8.0f}" for s in stages[:3])
              + f"{stages[3]:9.0f}{stages[4]:8.0f}{sum(stages):8.0f}   {len(lines)}")

    with tempfile.TemporaryDirectory() as cache:
        perception = Perception(cache_dir=Path(cache), threads=args.threads)
        media = ImageMedia(format=MediaFormat.JPEG, data=images["sign 640x480"], width=640,
                           height=480, frame_count=1)
        cold, _ = timed(lambda: perception.describe_image(media))
        print(f"\nPerception.describe_image, sign, incl. first-use loads: {cold * 1000:.0f} ms; "
              f"warm median: {median_ms(lambda: perception.describe_image(media), n):.0f} ms")

        load_s, _ = timed(lambda: perception.warm(images=False, audio=True))
        print(f"\nWhisper base: assemble model.bin (145 MB, sha256) + load int8: {load_s:.1f} s")
        if not args.quick:
            load2_s, _ = timed(lambda: Perception(cache_dir=Path(cache), threads=args.threads)
                               .warm(images=False, audio=True))
            print(f"Whisper base: second load from a verified cache: {load2_s:.1f} s")
        runs_each = 1 if args.quick else 3
        texts = [("one sentence", "the quick brown fox jumps over the lazy dog")]
        if not args.quick:
            texts.append(("paragraph", PARAGRAPH))
        print(f"\ntranscription, warm, median of {runs_each}:")
        for label, text in texts:
            wav = speak_wav(text)
            audio = AudioMedia(format=MediaFormat.WAV, data=wav, duration_s=0.0,
                               sample_rate=22_050, channels=1)
            runs = [timed(lambda: perception.transcribe(audio)) for _ in range(runs_each)]
            seconds = statistics.median(r[0] for r in runs)
            findings = runs[-1][1]
            print(f"  {label:<13} audio {findings.duration_s:5.1f} s  time {seconds:5.2f} s  "
                  f"RTF {seconds / findings.duration_s:.3f}  "
                  f"({findings.language} p={findings.language_probability:.2f}) "
                  f"{findings.transcript[:70]!r}")


if __name__ == "__main__":
    main()
