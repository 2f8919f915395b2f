"""Image generation (issue 7): seconds per 512x512 image end to end on the default model,
split into generating (the model writing its caption and SVG) and rendering (sanitize +
resvg in the worker process). Baseline: the end-to-end time itself; the split comes from
the server's own counters (`render_ms_total`, `images_rendered` under `/readyz` → load).

Starts the real server (--no-auth) on loopback; needs nothing else.

    .venv/bin/python bench/image_generation.py [--model NAME] [--images N] [--data-dir DIR] [--shapes]
    .venv/bin/python bench/image_generation.py --quick   # smoke: tiny model, one 64x64 "a dot"

The server draws in its default mode, scenes from the illustration library (issue 23);
`--shapes` sets VERTEXCOMPAT_IMAGE_ILLUSTRATIONS=false (the model draws the SVG itself,
the issue-7 path). bench/image_panel.py times both modes in one run.

`--quick` proves the script works (tests/e2e/test_bench_smoke.py runs it), not the numbers.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from serving import REPO, Server, free_port

PROMPTS = [
    "a red circle on a blue background",
    "a yellow square on a green background",
    "a white star on a black background",
    "an orange sun above a blue sea",
]
# --quick: a prompt of few objects (a scene of 3 instead of 6: ~110 tokens written, not ~210)
QUICK_PROMPTS = ["a dot"]


def render_counters(base: str) -> tuple[int, int]:
    load: dict[str, Any] = httpx.get(f"{base}/readyz", timeout=10).json().get("load", {})
    rendered = sum(int(stats.get("images_rendered", 0)) for stats in load.values())
    render_ms = sum(int(stats.get("render_ms_total", 0)) for stats in load.values())
    return rendered, render_ms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("VERTEXCOMPAT_TEST_DATA_DIR")
        or str(Path.home() / ".cache" / "vertexcompat-tests"),
    )
    parser.add_argument("--shapes", action="store_true",
                        help="illustration library off: the model draws the SVG itself")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: smollm2-135m-instruct, one 64x64 image of 'a dot'")
    args = parser.parse_args()
    size, prompts = "512x512", PROMPTS
    if args.quick:
        args.model, args.images, size = "smollm2-135m-instruct", 1, "64x64"
        prompts = QUICK_PROMPTS
    port = free_port()
    log = Path(tempfile.gettempdir()) / "vertexcompat-image-bench.log"
    argv = [str(REPO / ".venv/bin/vertexcompat"), "serve", "--no-auth", "--port", str(port),
            "--model", args.model, "--threads", str(args.threads), "--parallel", "1",
            "--data-dir", args.data_dir]
    env = {"PATH": "/usr/bin:/bin",
           "VERTEXCOMPAT_IMAGE_ILLUSTRATIONS": "false" if args.shapes else "true"}
    with Server("vertexcompat", argv, "/readyz", port, log, env=env) as server:
        url = f"{server.base}/v1/images/generations"
        with httpx.Client(timeout=900, headers={"Authorization": "Bearer bench"}) as client:
            # Warm-up: the renderer's worker process starts on the first image (a smoke run
            # skips it: it times nothing worth a warm-up).
            if not args.quick:
                client.post(url, json={"prompt": "a dot", "size": "64x64"}).raise_for_status()
            before = render_counters(server.base)
            seconds: list[float] = []
            for i in range(args.images):
                start = time.perf_counter()
                r = client.post(url, json={"prompt": prompts[i % len(prompts)],
                                           "size": size, "response_format": "b64_json"})
                r.raise_for_status()
                seconds.append(time.perf_counter() - start)
                assert base64.b64decode(r.json()["data"][0]["b64_json"])[:4] == b"\x89PNG"
            after = render_counters(server.base)
    images = after[0] - before[0]
    total = sum(seconds)
    rendering = (after[1] - before[1]) / 1000
    generating = total - rendering
    mode = "shapes (library off)" if args.shapes else "scenes (library on)"
    print(f"model {args.model}, threads {args.threads}, {args.images} images of {size}, {mode}")
    print("| measure | value |\n|---|---|")
    print(f"| seconds per image, end to end (median) | {statistics.median(seconds):.2f} |")
    print(f"| seconds per image, end to end (mean) | {total / len(seconds):.2f} |")
    print(f"| generating (model writes caption + SVG) | {generating:.2f} s, "
          f"{100 * generating / total:.1f}% |")
    print(f"| rendering (sanitize + resvg worker) | {rendering:.2f} s, "
          f"{100 * rendering / total:.1f}% |")
    print(f"| images the renderer counted | {images} |")


if __name__ == "__main__":
    main()
