"""Gateway benchmark: what vertexcompat adds in front of an upstream model server.

The upstream is a minimal OpenAI-compatible responder (bench/_echo_upstream.py: the same
short answer at once, whole or as five chunks), so the numbers are the gateway's, not a
model's. Our server (auth off, the tiny local model loaded but unused) declares it as
endpoint `bench`. Measured in one run, the same requests sent directly and through us:

(a) non-streamed latency, one client, sequential: p50 and p99, and the added p50
    (target: <= 2 ms);
(b) streamed time to first content chunk: p50 and p99, and the added p50;
(c) requests/s with 32 concurrent clients (non-streamed), through us vs direct; and
    through LiteLLM's proxy when `litellm` is installed (`pip install 'litellm[proxy]'`:
    not a project dependency), target >= 3x LiteLLM's.

    .venv/bin/python bench/gateway.py [--requests 400] [--concurrency 32]
    .venv/bin/python bench/gateway.py --quick    # smoke: 40 requests, 8 clients

`--quick` proves the script works (tests/e2e/test_bench_smoke.py runs it), not the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import BENCH_DIR, Server, free_port, print_rows  # noqa: E402

TARGET_ADDED_P50_MS = 2.0
TARGET_VS_LITELLM = 3.0
BODY = {"model": "echo", "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 16}


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def latencies(url: str, n: int, *, stream: bool, headers: dict[str, str]) -> list[float]:
    """Seconds per request (non-stream) or to the first content chunk (stream), one at a
    time over one kept-alive connection."""
    out = []
    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        for _ in range(n + 5):  # the first 5 warm up
            t0 = time.perf_counter()
            if stream:
                async with client.stream("POST", url, json={**BODY, "stream": True}) as r:
                    assert r.status_code == 200, await r.aread()
                    first = None
                    async for line in r.aiter_lines():  # read to the end, timing the first
                        if first is None and ('"content": "H' in line or '"content":"H' in line):
                            first = time.perf_counter() - t0
                    assert first is not None, "no content chunk"
                    out.append(first)
            else:
                r = await client.post(url, json=BODY)
                assert r.status_code == 200, r.text
                assert r.json()["choices"][0]["message"]["content"]
                out.append(time.perf_counter() - t0)
    return out[5:]


async def throughput(url: str, n: int, concurrency: int, headers: dict[str, str]) -> float:
    """Non-streamed requests/s with `concurrency` clients sending `n` requests in all."""
    async with httpx.AsyncClient(
        timeout=60, headers=headers, limits=httpx.Limits(max_connections=concurrency)
    ) as client:
        await client.post(url, json=BODY)
        left = n

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                r = await client.post(url, json=BODY)
                assert r.status_code == 200, r.text

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return n / (time.perf_counter() - t0)


def litellm_proxy(upstream: str, log_dir: Path) -> Server | None:
    if importlib.util.find_spec("litellm") is None:
        return None
    port = free_port()
    config = log_dir / "litellm.yaml"
    config.write_text(
        "model_list:\n  - model_name: echo\n    litellm_params:\n"
        f"      model: openai/echo\n      api_base: {upstream}\n      api_key: none\n"
    )
    return Server("litellm proxy", [sys.executable, "-m", "litellm", "--config", str(config),
                                    "--port", str(port), "--host", "127.0.0.1"],
                  "/health/liveliness", port, log_dir / "litellm.log", timeout=120)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=400, help="per latency phase and per "
                   "throughput run")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--quick", action="store_true", help="smoke: 40 requests, 8 clients")
    args = p.parse_args(argv)
    if args.quick:
        args.requests, args.concurrency = 40, 8
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    log_dir = Path(tempfile.mkdtemp(prefix="vertexcompat-gateway-bench-"))
    up_port = free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    config = log_dir / "endpoints.toml"
    config.write_text(f'[[endpoints]]\nid = "bench"\nreplicas = ["{upstream}"]\nmodel = "echo"\n')
    port = free_port()
    ours_url = (f"http://127.0.0.1:{port}/v1/projects/bench/locations/us-central1/endpoints/"
                "bench/chat/completions")
    direct_url = f"{upstream}/chat/completions"
    auth = {"Authorization": "Bearer x"}
    print(f"logs in {log_dir}", file=sys.stderr)
    with Server("echo upstream", [sys.executable, str(BENCH_DIR / "_echo_upstream.py"),
                                  "--port", str(up_port)],
                "/v1/models", up_port, log_dir / "upstream.log"), \
         Server("vertexcompat", [sys.executable, "-m", "vertexcompat", "serve", "--no-auth",
                                 "--host", "127.0.0.1", "--port", str(port), "--model",
                                 "smollm2-135m-instruct", "--threads", "1", "--parallel", "1",
                                 "--log-level", "warning", "--config", str(config)],
                "/readyz", port, log_dir / "ours.log"):
        n = args.requests
        direct = asyncio.run(latencies(direct_url, n, stream=False, headers={}))
        ours = asyncio.run(latencies(ours_url, n, stream=False, headers=auth))
        direct_s = asyncio.run(latencies(direct_url, n, stream=True, headers={}))
        ours_s = asyncio.run(latencies(ours_url, n, stream=True, headers=auth))
        rps_direct = asyncio.run(throughput(direct_url, n, args.concurrency, {}))
        rps_ours = asyncio.run(throughput(ours_url, n, args.concurrency, auth))
        rps_litellm = None
        proxy = litellm_proxy(upstream, log_dir)
        if proxy is not None:
            with proxy:
                rps_litellm = asyncio.run(throughput(
                    f"{proxy.base}/v1/chat/completions", n, args.concurrency, auth))

    ms = lambda xs, q: 1000 * pct(xs, q)  # noqa: E731
    added = 1000 * (statistics.median(ours) - statistics.median(direct))
    added_s = 1000 * (statistics.median(ours_s) - statistics.median(direct_s))
    rows = [
        ("(a) non-stream p50 ms", f"{ms(ours, 0.5):.2f}", f"direct {ms(direct, 0.5):.2f}",
         f"+{added:.2f} ms", f"<= +{TARGET_ADDED_P50_MS:.0f} ms",
         "PASS" if added <= TARGET_ADDED_P50_MS else "MISS"),
        ("(a) non-stream p99 ms", f"{ms(ours, 0.99):.2f}", f"direct {ms(direct, 0.99):.2f}",
         f"+{ms(ours, 0.99) - ms(direct, 0.99):.2f} ms", "report", "-"),
        ("(b) stream TTFT p50 ms", f"{ms(ours_s, 0.5):.2f}", f"direct {ms(direct_s, 0.5):.2f}",
         f"+{added_s:.2f} ms", "report", "-"),
        ("(b) stream TTFT p99 ms", f"{ms(ours_s, 0.99):.2f}", f"direct {ms(direct_s, 0.99):.2f}",
         f"+{ms(ours_s, 0.99) - ms(direct_s, 0.99):.2f} ms", "report", "-"),
        (f"(c) requests/s, {args.concurrency} clients", f"{rps_ours:.0f}",
         f"direct {rps_direct:.0f}", f"{rps_ours / rps_direct:.2f}x", "report", "-"),
    ]
    if rps_litellm is not None:
        rows.append((f"(c) requests/s, {args.concurrency} clients", f"{rps_ours:.0f}",
                     f"litellm {rps_litellm:.0f}", f"{rps_ours / rps_litellm:.2f}x",
                     f">= {TARGET_VS_LITELLM:.0f}x",
                     "PASS" if rps_ours >= TARGET_VS_LITELLM * rps_litellm else "MISS"))
    print()
    print(f"vertexcompat gateway benchmark: {n} requests per phase, echo upstream")
    print_rows(("metric", "ours", "baseline", "difference", "target", "result"), rows)
    if rps_litellm is None:
        print("(LiteLLM not installed: pip install 'litellm[proxy]' to add its row)")
    print(json.dumps({"added_p50_ms": round(added, 3), "rps": round(rps_ours, 1)}))
    print(f"gateway bench done: added p50 {added:.2f} ms, {rps_ours:.0f} requests/s "
          f"({rps_ours / rps_direct:.2f}x direct)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
