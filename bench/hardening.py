"""Heavy work under budgets (issue 12): the attacker-style probe against a live server, and
the in-process measurements behind the defaults.

Server probes (the real server, default model, --no-auth, on loopback; `--baseline DIR`
runs the same probes against another source tree, e.g. `git archive HEAD~20 | tar -x -C
/tmp/before`, for a before/after):

- huge prompts: four ~20 MB prompts at once → status and time of each, server RSS;
- huge images: sixteen 49 MP images in one request → status and time, server RSS;
- big beside small: one request at the per-request pixel budget (16 images of 4 MP) and,
  0.5 s later from another client, one small image → the small one's latency;
- memory: the server's RSS before the probes, at its peak, and 3 s after the last one.

In-process (no server):

- `--one-image`: time, CPU time and peak RSS of one image through the decode proof and the
  perception pipeline (JPEG and PNG, 49 MP and 4 MP), each in a fresh process (with
  `--baseline DIR`: that tree's intake check and pipeline);
- `--memory`: RSS after a burst of perception through `MediaResolver` (two image requests
  of 62 and 37 MP and one spoken clip at once) with and without `malloc_trim` when the pool
  goes idle, and with `MALLOC_ARENA_MAX=2`.

    .venv/bin/python bench/hardening.py [--baseline DIR] [--quick]
    .venv/bin/python bench/hardening.py --one-image [--baseline DIR] [--quick]
    .venv/bin/python bench/hardening.py --memory [--quick]

`--quick` is a smoke run (small sizes, a few seconds of work): it proves the script works,
not the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from perception import sign  # noqa: E402  (bench/perception.py: the red "STOP 42" sign)
from serving import REPO, Server, free_port  # noqa: E402

MODEL = "google/gemini-2.0-flash"


def png(side: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.open(io.BytesIO(sign((side, side)))).save(out, "PNG")
    return out.getvalue()


def flat_sign_png(side: int) -> bytes:
    """A red field with white "STOP 42": a PNG that compresses like a screenshot (49 MP in
    0.3 MB), so sixteen of them fit one request, as in the measured attack (3.4 MB)."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (side, side), (204, 20, 30))
    ImageDraw.Draw(image).text((side // 2, side // 2), "STOP 42", fill="white",
                               font=ImageFont.load_default(size=side // 4), anchor="mm")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def image_body(images: list[bytes], mime: str = "image/jpeg", max_tokens: int = 16
               ) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"type": "text", "text": "What is in these images?"}]
    parts += [{"type": "image_url", "image_url": {
        "url": f"data:{mime};base64,{base64.b64encode(i).decode()}"}} for i in images]
    return {"model": MODEL, "max_tokens": max_tokens, "temperature": 0,
            "messages": [{"role": "user", "content": parts}]}


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class RssWatch:
    """Samples the server's RSS every 100 ms (the server is the `serve` process)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, False

    async def run(self) -> None:
        while not self._stop:
            self.peak = max(self.peak, rss_mb(self.pid))
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        self._stop = True


async def post(client: httpx.AsyncClient, url: str, body: dict[str, Any] | bytes,
               ) -> tuple[int, float, str]:
    start = time.perf_counter()
    kwargs: dict[str, Any] = ({"content": body, "headers": {"Content-Type": "application/json"}}
                              if isinstance(body, bytes) else {"json": body})
    r = await client.post(url, timeout=900, **kwargs)
    elapsed = time.perf_counter() - start
    detail = ""
    if r.status_code != 200:
        error = r.json().get("error", {})
        detail = f"{error.get('param')}: {str(error.get('message'))[:90]}"
        if "retry-after" in r.headers:
            detail += f" (Retry-After {r.headers['retry-after']})"
    return r.status_code, elapsed, detail


async def probes(url: str, pid: int, quick: bool) -> list[str]:
    lines: list[str] = []
    watch = RssWatch(pid)
    watcher = asyncio.create_task(watch.run())
    start_rss = rss_mb(pid)
    prompt_mb = 1 if quick else 20
    big_side, many_side, count = (400, 300, 2) if quick else (7000, 2000, 16)
    small_size = (320, 240) if quick else (640, 480)
    tokens = 2 if quick else 16  # the answers' length (a smoke run's time is perception's)
    async with httpx.AsyncClient(headers={"Authorization": "Bearer bench"}) as client:
        # 1. four huge prompts at once
        text = ("The quick brown fox jumps over the lazy dog. " * (prompt_mb * 23_000))[
            : prompt_mb * 1_000_000]
        prompt = json.dumps({"model": MODEL, "max_tokens": 8,
                             "messages": [{"role": "user", "content": text}]}).encode()
        results = await asyncio.gather(*(post(client, url, prompt) for _ in range(4)))
        for status, elapsed, detail in results:
            lines.append(f"| 4 x {prompt_mb} MB prompt | {status} | {elapsed:.1f} s | {detail} |")
        # 2. sixteen 49 MP images in one request
        huge = flat_sign_png(big_side)
        status, elapsed, detail = await post(client, url, image_body([huge] * count, "image/png",
                                                                     tokens))
        lines.append(f"| {count} x {big_side * big_side / 1e6:.0f} MP images, one request "
                     f"({len(huge) * count / 1e6:.1f} MB) | {status} | {elapsed:.1f} s | {detail} |")
        # 3. a request at the pixel budget, and a small image from another client
        many = sign((many_side, many_side))
        big = asyncio.create_task(post(client, url, image_body([many] * count,
                                                               max_tokens=tokens)))
        await asyncio.sleep(0.5)
        small = await post(client, url, image_body([sign(small_size)], max_tokens=tokens))
        big_result = await big
        lines.append(f"| {count} x {many_side * many_side / 1e6:.0f} MP images, one request "
                     f"| {big_result[0]} | {big_result[1]:.1f} s | {big_result[2]} |")
        lines.append(f"| 1 small image 0.5 s later, another client | {small[0]} | "
                     f"{small[1]:.1f} s | {small[2]} |")
        peak = watch.peak
        await asyncio.sleep(3)
    watch.stop()
    await watcher
    lines.append(f"server RSS: {start_rss:.0f} MB before, peak {max(peak, watch.peak):.0f} MB, "
                 f"{rss_mb(pid):.0f} MB 3 s after the last probe")
    return lines


def serve_and_probe(args: argparse.Namespace) -> None:
    port = free_port()
    log = Path(tempfile.gettempdir()) / "vertexcompat-hardening.log"
    env = {"PATH": "/usr/bin:/bin", "VERTEXCOMPAT_MAX_QUEUE": "64"}
    env.update(baseline_env(args))
    argv = [str(REPO / ".venv/bin/python"), "-m", "vertexcompat", "serve", "--no-auth",
            "--port", str(port), "--model", args.model, "--threads", str(args.threads),
            # --quick: a smaller KV cache (its prompts are short; 8 x 4096 is 0.4 s to set up)
            *(["--ctx-per-seq", "1024"] if args.quick else [])]
    with Server("vertexcompat", argv, "/readyz", port, log, env=env) as server:
        assert server.proc is not None
        url = f"{server.base}/v1/chat/completions"
        # Warm-up: load the perception models, so the probes measure work, not loading
        # (not in --quick: its times prove nothing, and its first image loads them).
        if not args.quick:
            warm = image_body([sign((640, 480))])
            httpx.post(url, json=warm, headers={"Authorization": "Bearer bench"}, timeout=600)
        lines = asyncio.run(probes(url, server.proc.pid, args.quick))
    source = args.baseline or "this tree"
    print(f"source: {source}; model {args.model}, threads {args.threads}; log {log}")
    print("| probe | status | time | error param: message |\n|---|---|---|---|")
    print("\n".join(lines))


# -- in process ---------------------------------------------------------------------------


def one_image(side: int, fmt: str) -> None:
    """Runs in a fresh process: one image through the decode proof and perception."""
    from vertexcompat.media.intake import ImageMedia
    from vertexcompat.media.limits import MediaLimits
    from vertexcompat.media.perception.pipeline import Perception
    from vertexcompat.media.sniff import sniff

    try:
        from vertexcompat.media.intake import prove_image_decodes
    except ImportError:  # a baseline from before issue 12: the intake's check decoded in full
        from vertexcompat.media.inspect import inspect_image

        def prove_image_decodes(image: Any, *, param: str) -> None:
            inspect_image(image.data, image.format, param=param,
                          limits=MediaLimits(max_image_pixels=10**9))

    data = sign((side, side)) if fmt == "JPEG" else png(side)
    perception = Perception(cache_dir=Path(tempfile.gettempdir()) / "vertexcompat-bench",
                            threads=1)
    warm = sign((640, 480))
    perception.describe_image(ImageMedia(format=sniff(warm), data=warm, width=640, height=480,
                                         frame_count=1))
    before = rss_mb(os.getpid())
    image = ImageMedia(format=sniff(data), data=data, width=side, height=side, frame_count=1)
    cpu0, wall0 = _cpu(), time.perf_counter()
    prove_image_decodes(image, param="bench")
    found = perception.describe_image(image)
    cpu, wall = _cpu() - cpu0, time.perf_counter() - wall0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"| {fmt} {side}x{side} ({side * side / 1e6:.0f} MP, {len(data) / 1e6:.1f} MB) | "
          f"{wall:.2f} s | {cpu:.2f} s | +{peak - before:.0f} MB | {found.text_lines} |")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def memory_burst(trim: bool, quick: bool) -> None:
    """Runs in a fresh process: a burst of media requests through MediaResolver."""
    from tests.unit.media.perception.speech_samples import speak_wav
    from vertexcompat.domain.content import (
        Content,
        FileDataPart,
        GenerateContentRequest,
        InlineDataPart,
    )
    from vertexcompat.media.limits import MediaLimits
    from vertexcompat.media.perception.pipeline import Perception
    from vertexcompat.media.perception.pool import PerceptionPool
    from vertexcompat.services.media import MediaResolver
    from vertexcompat.services.memory import MemoryTrimmer

    trimmer = MemoryTrimmer()
    perception = Perception(cache_dir=Path(tempfile.gettempdir()) / "vertexcompat-bench",
                            threads=1)
    resolver = MediaResolver(perception, MediaLimits(),
                             pool=PerceptionPool(on_idle=trimmer if trim else None))

    def request(parts: list[Any]) -> GenerateContentRequest:
        return GenerateContentRequest(model="m", contents=(Content("user", tuple(parts)),))

    def image(side: int, i: int) -> FileDataPart:
        data = base64.b64encode(sign((side, side))).decode()
        return FileDataPart(file_uri=f"data:image/jpeg;base64,{data}", source=f"image {i}")

    speech = speak_wav("The quick brown fox jumps over the lazy dog. " * (1 if quick else 6))
    audio = InlineDataPart(mime_type="audio/wav", data=base64.b64encode(speech).decode(),
                           source="audio")
    # Two requests within the per-request budget (62 MP and 37 MP) and one audio clip.
    sides_a, sides_b = ([800], [600]) if quick else ([7000, 3000, 2000], [5000, 2000, 2000, 2000])
    asyncio.run(resolver.resolve(request([image(640, 0)])))  # load the models first
    time.sleep(0.5)
    trimmer()  # the same starting point for every run
    before = rss_mb(os.getpid())

    async def burst() -> None:
        await asyncio.gather(
            resolver.resolve(request([image(side, i) for i, side in enumerate(sides_a)])),
            resolver.resolve(request([image(side, i) for i, side in enumerate(sides_b)])),
            resolver.resolve(request([audio])),
        )

    wall0 = time.perf_counter()
    asyncio.run(burst())
    wall = time.perf_counter() - wall0
    time.sleep(1)  # the idle hook runs on the worker after the last part
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    after = rss_mb(os.getpid())
    trim_ms = ""
    if trimmer.available:
        t0 = time.perf_counter()
        trimmer()
        trim_ms = f"{(time.perf_counter() - t0) * 1000:.0f} ms"
    resolver.close()
    arenas = os.environ.get("MALLOC_ARENA_MAX", "default")
    print(f"| trim on idle: {'yes' if trim else 'no'}, MALLOC_ARENA_MAX {arenas} | "
          f"{before:.0f} MB | {peak:.0f} MB | {after:.0f} MB | "
          f"{rss_mb(os.getpid()):.0f} MB ({trim_ms}) | {wall:.1f} s |")


def in_fresh_process(*argv: str, env: dict[str, str] | None = None) -> None:
    subprocess.run([sys.executable, __file__, *argv], check=True, cwd=REPO,
                   env={**os.environ, **(env or {})})


def baseline_env(args: argparse.Namespace) -> dict[str, str]:
    return {"PYTHONPATH": str(Path(args.baseline).resolve() / "src")} if args.baseline else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--baseline", help="another source tree to probe (its src/ is used)")
    parser.add_argument("--quick", action="store_true", help="smoke run: small sizes")
    parser.add_argument("--one-image", action="store_true")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "image":
            one_image(int(rest[0]), rest[1])
        else:
            memory_burst(rest[0] == "trim", rest[1] == "quick")
        return
    if args.one_image:
        print(f"source: {args.baseline or 'this tree'}")
        print("| image | wall | CPU | peak RSS over warm | OCR |\n|---|---|---|---|---|")
        sizes = [600, 300] if args.quick else [7000, 2000]
        for side in sizes:
            for fmt in ("JPEG", "PNG"):
                in_fresh_process("--child", "image", str(side), fmt, env=baseline_env(args))
        return
    if args.memory:
        quick = "quick" if args.quick else "full"
        print("| run | RSS warm | peak | 1 s after the burst | after an explicit trim | "
              "burst wall |\n|---|---|---|---|---|---|")
        in_fresh_process("--child", "burst", "none", quick)
        in_fresh_process("--child", "burst", "trim", quick)
        in_fresh_process("--child", "burst", "none", quick, env={"MALLOC_ARENA_MAX": "2"})
        return
    serve_and_probe(args)


if __name__ == "__main__":
    main()
