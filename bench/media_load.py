"""Media beside text: how much do images and audio slow the text-only requests served
next to them? Baseline: 20 text-only requests at once. Measured: the same 20 text-only
requests sent together with 20 media requests (10 images, 10 audio clips). Prints the text-
only latency ratio (target: at most 2x) and the media requests' own latency.

Starts the real server (default model, --no-auth) on loopback; needs nothing else.

    .venv/bin/python bench/media_load.py [--model NAME] [--threads N] [--parallel N] [--quick]

`--quick` is a smoke run (the tiny model, 2 text-only requests beside 2 media requests, 4
tokens each, a 320x240 image and 1 s of audio, no warm-up): it proves the script works
(tests/e2e/test_bench_smoke.py runs it), not the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import math
import statistics
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import httpx

from perception import sign  # bench/perception.py: the red "STOP 42" sign
from serving import REPO, Server, free_port

TEXT = {"role": "user", "content": "Name three colours."}


def tone_wav(seconds: float = 4.0, rate: int = 16000) -> bytes:
    """A tone with syllable-like bursts: Whisper decodes it like speech (it costs the same)."""
    frames = bytearray()
    for i in range(int(seconds * rate)):
        envelope = 0.5 * (1 + math.sin(2 * math.pi * 3 * i / rate))
        value = int(9000 * envelope * math.sin(2 * math.pi * 220 * i / rate))
        frames += value.to_bytes(2, "little", signed=True)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return out.getvalue()


def bodies(max_tokens: int = 32, image_size: tuple[int, int] = (640, 480),
           audio_seconds: float = 4.0) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    image = base64.b64encode(sign(image_size)).decode()
    audio = base64.b64encode(tone_wav(audio_seconds)).decode()
    common = {"model": "google/gemini-2.0-flash", "max_tokens": max_tokens, "temperature": 0}
    text = {**common, "messages": [TEXT]}
    with_image = {**common, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is in this image?"},
        {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{image}"}}]}]}
    with_audio = {**common, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "Transcribe this audio"},
        {"type": "input_audio", "input_audio": {"data": audio, "format": "wav"}}]}]}
    return text, with_image, with_audio


async def timed(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> float:
    start = time.perf_counter()
    r = await client.post(url, json=body, headers={"Authorization": "Bearer bench"}, timeout=900)
    r.raise_for_status()
    return time.perf_counter() - start


async def run(url: str, text: dict[str, Any], media: list[dict[str, Any]],
              texts: int = 20) -> tuple[list[float], list[float]]:
    async with httpx.AsyncClient() as client:
        text_jobs = [timed(client, url, text) for _ in range(texts)]
        media_jobs = [timed(client, url, body) for body in media]
        results = await asyncio.gather(*text_jobs, *media_jobs)
    return list(results[:texts]), list(results[texts:])


def stats(xs: list[float]) -> str:
    if not xs:
        return "-"
    q = statistics.quantiles(xs, n=10) if len(xs) > 1 else xs
    return f"median {statistics.median(xs):.2f} s, p90 {q[-1]:.2f} s, max {max(xs):.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: tiny model, 2 + 2 requests of 4 tokens, a 320x240 "
                        "image and 1 s of audio, no warm-up")
    args = parser.parse_args()
    if args.quick:
        args.model = "smollm2-135m-instruct"
    texts, each = (2, 1) if args.quick else (20, 10)
    max_tokens = 4 if args.quick else 32
    text, with_image, with_audio = (bodies(max_tokens, (320, 240), 1.0) if args.quick
                                    else bodies(max_tokens))
    port = free_port()
    log = Path(tempfile.gettempdir()) / "vertexcompat-media-load.log"
    argv = [str(REPO / ".venv/bin/vertexcompat"), "serve", "--no-auth", "--port", str(port),
            "--model", args.model, "--threads", str(args.threads), "--parallel", str(args.parallel),
            # --quick: a smaller KV cache (its prompts are short; 8 x 4096 is 0.4 s to set up)
            *(["--ctx-per-seq", "1024"] if args.quick else [])]
    env = {"VERTEXCOMPAT_MAX_QUEUE": "64", "PATH": "/usr/bin:/bin"}
    with Server("vertexcompat", argv, "/readyz", port, log, env=env) as server:
        url = f"{server.base}/v1/chat/completions"
        if not args.quick:  # warm-up: load the perception models
            asyncio.run(run(url, text, [with_image, with_audio], texts))
        alone, _ = asyncio.run(run(url, text, [], texts))
        mixed, media = asyncio.run(run(url, text, [with_image] * each + [with_audio] * each,
                                       texts))
    ratio = statistics.median(mixed) / statistics.median(alone)
    print(f"model {args.model}, threads {args.threads}, parallel {args.parallel}, "
          f"max_tokens {max_tokens}")
    print(f"| requests | latency |\n|---|---|")
    print(f"| {texts} text-only alone (baseline) | {stats(alone)} |")
    print(f"| {texts} text-only beside {2 * each} media | {stats(mixed)} |")
    print(f"| the {2 * each} media requests ({each} images, {each} audio) | {stats(media)} |")
    print(f"text-only median latency ratio: {ratio:.2f}x (target <= 2x)")


if __name__ == "__main__":
    main()
