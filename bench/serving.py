"""Serving benchmark: vertexcompat vs llama-cpp-python, same model file, same thread count.

Measures, in one run and against baselines measured in the same run:

  (a) decode tokens/s of ONE streaming request through our server vs `llama_cpp.Llama`
      driven in-process (create_chat_completion(stream=True)), greedy, same prompt,
      same max_tokens                                                 target ratio >= 0.90
  (b) time to first token, ours (HTTP request sent -> first content delta) minus direct
      (call -> first content chunk), medians after a warm-up          target <= 30 ms
  (c) aggregate tokens/s of 4 concurrent streams vs 1 stream on our server
                                                                      target >= 1.8x
      and the same 4-stream load against `python -m llama_cpp.server` (serializes requests)

Phases run strictly one after another (2 cores): direct baseline in this process, then our
server, then llama_cpp.server. Servers log to files; every server is stopped in `finally`.

    .venv/bin/python bench/serving.py [--model NAME|PATH.gguf] [--threads N] [--max-tokens N]
                                      [--runs N] [--skip-llama-server] [--json FILE|-]
    .venv/bin/python bench/serving.py --quick   # smoke: tiny model, 1 run, no llama_cpp.server
    .venv/bin/python bench/serving.py --metrics-off   # our server without /metrics and the
                                                      # access log (their overhead: compare)

`--quick` proves the script works (tests/e2e/test_bench_smoke.py runs it), not the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from collections.abc import AsyncIterator
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from _no_extra_bufts import patch as _patch_extra_bufts  # noqa: E402

# A prompt whose greedy answer is far longer than any sensible max_tokens, so every engine
# generates exactly max_tokens tokens (no EOS): token counts match without logit tricks.
PROMPTS = [
    "Write a very long, detailed, step-by-step tutorial on building a REST API in Python with "
    "Flask and SQLite. Explain every step in depth and include complete code examples.",
    "Write a very long, detailed, step-by-step tutorial on writing a command-line todo app in "
    "Rust. Explain every step in depth and include complete code examples.",
    "Write a very long, detailed, step-by-step tutorial on building a chat server in Go with "
    "WebSockets. Explain every step in depth and include complete code examples.",
    "Write a very long, detailed, step-by-step tutorial on unit testing a JavaScript library "
    "with Jest. Explain every step in depth and include complete code examples.",
]
OUR_MODEL_ID = "google/gemini-2.0-flash-001"
CONCURRENCY = 4
TARGET_DECODE_RATIO = 0.95
TARGET_TTFT_OVERHEAD_MS = 30.0
TARGET_CONC_SPEEDUP = 2.0


# ---------------------------------------------------------------------------------------------
# measurements


@dataclass
class Stream:
    """One streamed completion, times relative to the moment the request was issued."""

    tokens: int
    ttft: float  # s: request -> first content
    t_last: float  # s: request -> last content
    t_done: float  # s: request -> stream closed
    text: str = ""

    @property
    def decode_tps(self) -> float:
        """Steady-state decode rate: tokens after the first over first->last content."""
        span = self.t_last - self.ttft
        return (self.tokens - 1) / span if self.tokens > 1 and span > 0 else float("nan")

    @property
    def e2e_tps(self) -> float:
        return self.tokens / self.t_done if self.t_done > 0 else float("nan")


@dataclass
class Load:
    """CONCURRENCY streams issued at once."""

    streams: list[Stream]
    wall: float  # s: first request issued -> last stream closed

    @property
    def tokens(self) -> int:
        return sum(s.tokens for s in self.streams)

    @property
    def aggregate_tps(self) -> float:
        return self.tokens / self.wall


class ForeignCpu:
    """CPU time other processes used while a phase ran: /proc/stat busy time minus our own
    (this process + its waited-for children, i.e. the servers). The benchmark wants a quiet
    machine; this number says how quiet it was (in cores, averaged over the phase)."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}

    @staticmethod
    def _snap() -> tuple[float, float, float]:
        try:
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:]]
            busy = (sum(v) - v[3] - (v[4] if len(v) > 4 else 0)) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError):
            busy = float("nan")
        t = os.times()
        return time.monotonic(), busy, t.user + t.system + t.children_user + t.children_system

    def start(self) -> None:
        self._t0 = self._snap()

    def stop(self, phase: str) -> None:
        (w0, b0, o0), (w1, b1, o1) = self._t0, self._snap()
        self.phases[phase] = max(0.0, (b1 - b0) - (o1 - o0)) / max(w1 - w0, 1e-9)


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


# ---------------------------------------------------------------------------------------------
# the kernel ceiling for row (c): what batching can give at all on this machine


def kernel_ceiling(model_path: Path, threads: int, flash_attn: bool, steps: int = 24) -> dict[str, float]:
    """ms per llama_decode call of one row, and of one row in each of 4 sequences, after a
    100-token prompt per sequence: 4 streams can be at most (4 / t4) / (1 / t1) times one
    stream's throughput, whatever the server does around the kernel."""
    _patch_extra_bufts()
    import llama_cpp

    llama_cpp.llama_backend_init()
    mparams = llama_cpp.llama_model_default_params()
    mparams.use_extra_bufts = False
    model = llama_cpp.llama_model_load_from_file(str(model_path).encode(), mparams)
    cparams = llama_cpp.llama_context_default_params()
    cparams.n_ctx, cparams.n_batch, cparams.n_ubatch = 4 * 1024, 512, 512
    cparams.n_seq_max, cparams.n_threads, cparams.n_threads_batch = 4, threads, threads
    cparams.flash_attn_type = 1 if flash_attn else 0
    ctx = llama_cpp.llama_init_from_model(model, cparams)
    batch = llama_cpp.llama_batch_init(512, 0, 1)
    try:
        def decode(rows: list[tuple[int, int, int]]) -> None:
            for i, (token, pos, seq) in enumerate(rows):
                batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos, 1
                batch.seq_id[i][0], batch.logits[i] = seq, True
            batch.n_tokens = len(rows)
            if llama_cpp.llama_decode(ctx, batch) != 0:
                raise RuntimeError("llama_decode failed")

        for seq in range(4):
            decode([(100 + i % 50, i, seq) for i in range(100)])
        out = {}
        for width in (1, 4):
            t0 = time.perf_counter()
            for k in range(steps):
                decode([(300, 100 + k, seq) for seq in range(width)])
            out[f"ms_{width}"] = (time.perf_counter() - t0) / steps * 1000
            for seq in range(4):
                llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(ctx), seq, 100, -1)
        out["speedup"] = (4 / out["ms_4"]) / (1 / out["ms_1"])
        return out
    finally:
        llama_cpp.llama_batch_free(batch)
        llama_cpp.llama_free(ctx)
        llama_cpp.llama_model_free(model)


# ---------------------------------------------------------------------------------------------
# direct baseline: llama_cpp.Llama in this process


def run_direct(model_path: Path, threads: int, max_tokens: int, runs: int, flash_attn: bool,
               ctx: int) -> tuple[list[Stream], dict[str, Any]]:
    _patch_extra_bufts()
    import llama_cpp

    llm = llama_cpp.Llama(
        model_path=str(model_path),
        n_threads=threads,
        n_threads_batch=threads,
        n_ctx=ctx,
        n_batch=512,
        n_ubatch=512,
        flash_attn=flash_attn,
        verbose=False,
    )
    sampled = [0]
    original_sample = llm.sample

    def counting_sample(*a: Any, **kw: Any) -> int:  # exact count of sampled tokens
        sampled[0] += 1
        return original_sample(*a, **kw)

    llm.sample = counting_sample  # type: ignore[method-assign]
    messages = [{"role": "user", "content": PROMPTS[0]}]
    out: list[Stream] = []
    try:
        for i in range(runs + 1):  # first run = warm-up
            # No prefix-cache reuse between runs: our server evaluates every prompt in full.
            llm.reset()
            sampled[0] = 0
            ttft = t_last = None
            parts: list[str] = []
            t0 = time.perf_counter()
            for chunk in llm.create_chat_completion(
                messages=messages, stream=True, temperature=0.0, max_tokens=max_tokens, seed=0
            ):
                content = chunk["choices"][0]["delta"].get("content")  # type: ignore[index]
                if content:
                    now = time.perf_counter() - t0
                    ttft = now if ttft is None else ttft
                    t_last = now
                    parts.append(content)
            t_done = time.perf_counter() - t0
            assert ttft is not None and t_last is not None, "direct baseline produced no text"
            if i:
                out.append(Stream(sampled[0], ttft, t_last, t_done, "".join(parts)))
        info: dict[str, Any] = {}
    finally:
        llm.close()
        del llm
        gc.collect()
    return out, info


# ---------------------------------------------------------------------------------------------
# HTTP streaming client (raw SSE over httpx: light, and the same code for both servers)


async def sse_events(resp: httpx.Response, url: str) -> AsyncIterator[tuple[dict[str, Any], int]]:
    """Each `data:` event of an OpenAI chat stream as (parsed JSON, payload length), until
    `[DONE]`; a refusal raises with what the server said."""
    if resp.status_code != 200:
        raise RuntimeError(f"{url}: HTTP {resp.status_code}: {(await resp.aread())[:500]!r}")
    async for line in resp.aiter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        yield json.loads(data), len(data)


async def stream_chat(client: httpx.AsyncClient, url: str, model: str, prompt: str,
                      max_tokens: int, usage: bool) -> Stream:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "temperature": 0.0,
        "max_tokens": max_tokens,
        "seed": 0,
    }
    if usage:
        body["stream_options"] = {"include_usage": True}
    chunks = 0
    usage_tokens: int | None = None
    ttft = t_last = None
    parts: list[str] = []
    t0 = time.perf_counter()
    async with client.stream("POST", url, json=body,
                             headers={"Authorization": "Bearer x"}) as resp:
        async for event, _ in sse_events(resp, url):
            if event.get("usage"):
                usage_tokens = event["usage"].get("completion_tokens")
            for choice in event.get("choices") or ():
                content = (choice.get("delta") or {}).get("content")
                if content:
                    now = time.perf_counter() - t0
                    ttft = now if ttft is None else ttft
                    t_last = now
                    chunks += 1
                    parts.append(content)
    t_done = time.perf_counter() - t0
    if ttft is None or t_last is None:
        raise RuntimeError(f"{url}: stream produced no content")
    tokens = usage_tokens if usage_tokens is not None else chunks
    return Stream(tokens, ttft, t_last, t_done, "".join(parts))


async def _measure_server(base: str, model: str, max_tokens: int, runs: int, conc_runs: int,
                          usage: bool, single: bool) -> tuple[list[Stream], list[Load]]:
    url = f"{base}/v1/chat/completions"
    limits = httpx.Limits(max_connections=CONCURRENCY * 2, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(timeout=httpx.Timeout(600.0), limits=limits) as client:
        # warm-up: one stream, then one concurrent burst (opens the pooled connections)
        await stream_chat(client, url, model, PROMPTS[0], max_tokens, usage)
        singles: list[Stream] = []
        if single:
            for _ in range(runs):
                singles.append(await stream_chat(client, url, model, PROMPTS[0], max_tokens,
                                                 usage))
        loads: list[Load] = []
        for _ in range(conc_runs):
            t0 = time.perf_counter()
            streams = await asyncio.gather(*(
                stream_chat(client, url, model, PROMPTS[i % len(PROMPTS)], max_tokens, usage)
                for i in range(CONCURRENCY)
            ))
            loads.append(Load(list(streams), time.perf_counter() - t0))
    return singles, loads


# ---------------------------------------------------------------------------------------------
# server processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name: str, argv: list[str], ready_path: str, port: int, log: Path,
                 env: dict[str, str] | None = None, timeout: float = 600.0) -> None:
        self.name, self.argv, self.port, self.log = name, argv, port, log
        self.base = f"http://127.0.0.1:{port}"
        self.ready_path, self.timeout, self.env = ready_path, timeout, env
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        self._fh = self.log.open("wb")
        self.proc = subprocess.Popen(
            self.argv, stdout=self._fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=REPO, env=self.env, start_new_session=True,
        )
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:  # bounded readiness poll
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {self.proc.returncode} before becoming ready;"
                    f" log: {self.log}\n{self.tail()}"
                )
            try:
                if httpx.get(self.base + self.ready_path, timeout=2.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.name} not ready after {self.timeout:.0f}s; log: {self.log}")

    def tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def __exit__(self, *exc: object) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        self._fh.close()


# ---------------------------------------------------------------------------------------------
# report


def print_rows(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """A table with aligned columns, then a blank line."""
    widths = [max(len(str(row[i])) for row in rows + [head]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    print(fmt.format(*head))
    print(fmt.format(*("-" * w for w in widths)))
    for row in rows:
        print(fmt.format(*row))
    print()


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def build_report(cfg: dict[str, Any], direct: list[Stream], ours1: list[Stream],
                 ours4: list[Load], llama4: list[Load] | None,
                 ceiling: dict[str, float]) -> dict[str, Any]:
    r: dict[str, Any] = {"config": cfg}
    d_dec = med([s.decode_tps for s in direct])
    o_dec = med([s.decode_tps for s in ours1])
    d_ttft = med([s.ttft for s in direct]) * 1000
    o_ttft = med([s.ttft for s in ours1]) * 1000
    o_agg1 = med([s.e2e_tps for s in ours1])
    o_agg4 = med([ld.aggregate_tps for ld in ours4])
    r["measured"] = {
        "direct_decode_tps": d_dec,
        "ours_decode_tps": o_dec,
        "direct_ttft_ms": d_ttft,
        "ours_ttft_ms": o_ttft,
        "ours_1stream_aggregate_tps": o_agg1,
        "ours_4stream_aggregate_tps": o_agg4,
        "direct_tokens": [s.tokens for s in direct],
        "ours_tokens": [s.tokens for s in ours1],
        "ours_4stream_tokens": [ld.tokens for ld in ours4],
        "ours_4stream_per_stream_ttft_ms": [round(med([s.ttft for s in ld.streams]) * 1000, 1)
                                            for ld in ours4],
        "direct_e2e_tps": med([s.e2e_tps for s in direct]),
        "same_text_ours_vs_direct": bool(direct and ours1 and direct[0].text == ours1[0].text),
        "kernel_ms_1_row": ceiling["ms_1"],
        "kernel_ms_4_rows": ceiling["ms_4"],
        "kernel_4_stream_ceiling": ceiling["speedup"],
    }
    checks = {
        "a_decode_ratio": {"value": o_dec / d_dec, "target": f">= {TARGET_DECODE_RATIO}",
                           "pass": o_dec / d_dec >= TARGET_DECODE_RATIO},
        "b_ttft_overhead_ms": {"value": o_ttft - d_ttft, "target": f"<= {TARGET_TTFT_OVERHEAD_MS}",
                               "pass": o_ttft - d_ttft <= TARGET_TTFT_OVERHEAD_MS},
        "c_concurrency_speedup": {"value": o_agg4 / o_agg1, "target": f">= {TARGET_CONC_SPEEDUP}",
                                  "pass": o_agg4 / o_agg1 >= TARGET_CONC_SPEEDUP},
    }
    checks["c_share_of_ceiling"] = {"value": (o_agg4 / o_agg1) / ceiling["speedup"],
                                     "target": "(report)", "pass": None}
    if llama4:
        l_agg4 = med([ld.aggregate_tps for ld in llama4])
        r["measured"]["llama_server_4stream_aggregate_tps"] = l_agg4
        r["measured"]["llama_server_4stream_tokens"] = [ld.tokens for ld in llama4]
        checks["c_vs_llama_server"] = {"value": o_agg4 / l_agg4, "target": "(report)",
                                       "pass": None}
    r["checks"] = checks
    r["raw"] = {
        "direct": [_raw(s) for s in direct],
        "ours_1": [_raw(s) for s in ours1],
        "ours_4": [{"wall": ld.wall, "streams": [_raw(s) for s in ld.streams]} for ld in ours4],
        "llama_server_4": [{"wall": ld.wall, "streams": [_raw(s) for s in ld.streams]}
                           for ld in (llama4 or [])],
    }
    return r


def _raw(s: Stream) -> dict[str, Any]:
    d = asdict(s)
    d.pop("text")
    return d


def print_table(r: dict[str, Any]) -> None:
    c, m, k = r["config"], r["measured"], r["checks"]
    print()
    print("vertexcompat serving benchmark")
    print(f"  model       {c['model']}  ({c['model_path']})")
    print(f"  threads     {c['threads']}   max_tokens {c['max_tokens']}   runs {c['runs']} "
          f"(+1 warm-up)   4-stream runs {c['conc_runs']}   server --parallel {c['parallel']}")
    print(f"  baselines   llama-cpp-python {c['llama_cpp_version']}, flash_attn="
          f"{c['flash_attn']}, n_ctx={c['ctx']}, use_extra_bufts=False; medians reported")
    print(f"  tokens      direct {m['direct_tokens']}  ours {m['ours_tokens']}  "
          f"ours x4 {m['ours_4stream_tokens']}"
          + (f"  llama_cpp.server x4 {m['llama_server_4stream_tokens']}"
             if "llama_server_4stream_tokens" in m else ""))
    print(f"  same greedy text (ours vs direct): {m['same_text_ours_vs_direct']}")
    fc = c.get("foreign_cpu_cores", {})
    noisy = any(v > 0.1 for v in fc.values())
    print("  other processes' CPU use per phase (cores): "
          + ", ".join(f"{k} {v:.2f}" for k, v in fc.items())
          + (f"   load avg at start {c['loadavg_at_start']:.2f}")
          + ("   <-- NOT A QUIET MACHINE: numbers unreliable" if noisy else "   (quiet)"))
    print()
    rows = [
        ("(a) decode tok/s, 1 stream", f"{m['ours_decode_tps']:.1f}",
         f"direct {m['direct_decode_tps']:.1f}", f"{k['a_decode_ratio']['value']:.3f}x",
         f">= {TARGET_DECODE_RATIO:.2f}x", verdict(k["a_decode_ratio"]["pass"])),
        ("(b) TTFT ms, 1 stream", f"{m['ours_ttft_ms']:.1f}",
         f"direct {m['direct_ttft_ms']:.1f}", f"{k['b_ttft_overhead_ms']['value']:+.1f} ms",
         f"<= {TARGET_TTFT_OVERHEAD_MS:.0f} ms", verdict(k["b_ttft_overhead_ms"]["pass"])),
        ("(c) aggregate tok/s, 4 streams", f"{m['ours_4stream_aggregate_tps']:.1f}",
         f"ours x1 {m['ours_1stream_aggregate_tps']:.1f}",
         f"{k['c_concurrency_speedup']['value']:.2f}x", f">= {TARGET_CONC_SPEEDUP:.1f}x",
         verdict(k["c_concurrency_speedup"]["pass"])),
    ]
    rows.append(("(c) kernel ceiling, 4 streams", f"{m['kernel_ms_4_rows']:.1f} ms/4 rows",
                 f"{m['kernel_ms_1_row']:.1f} ms/1 row", f"{m['kernel_4_stream_ceiling']:.2f}x",
                 "report", "-"))
    rows.append(("(c) ours x4/x1 of the ceiling", f"{k['c_concurrency_speedup']['value']:.2f}x",
                 f"ceiling {m['kernel_4_stream_ceiling']:.2f}x",
                 f"{k['c_share_of_ceiling']['value']:.2f}", "report", "-"))
    if "c_vs_llama_server" in k:
        rows.append(("(c) aggregate tok/s, 4 streams", f"{m['ours_4stream_aggregate_tps']:.1f}",
                     f"llama_cpp.server {m['llama_server_4stream_aggregate_tps']:.1f}",
                     f"{k['c_vs_llama_server']['value']:.2f}x", "report", "-"))
    else:
        rows.append(("(c) vs llama_cpp.server", "-", "skipped", "-", "report", "-"))
    print_rows(("metric", "ours", "baseline", "ratio/diff", "target", "result"), rows)
    print("  decode tok/s = (tokens-1)/(last content - first content) of one stream; TTFT = "
          "request issued -> first content;")
    print("  aggregate tok/s = completion tokens of all streams / (first request issued -> last "
          "stream closed); x1 = same for one stream.")
    print("  kernel ceiling = llama_decode of one row in each of 4 sequences vs one row, in "
          "process: the most 4 streams can gain over 1 here, whatever the server does.")
    print()


# ---------------------------------------------------------------------------------------------


def resolve_model(name: str) -> Path:
    from vertexcompat.engine.model_files import ModelCatalog

    data_dir = os.environ.get("VERTEXCOMPAT_DATA_DIR")
    if not data_dir:
        import platformdirs

        data_dir = platformdirs.user_cache_dir("vertexcompat")
    return Path(ModelCatalog(Path(data_dir)).resolve(name).path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="qwen2.5-coder-0.5b-instruct",
                   help="catalog name or .gguf path (default: %(default)s)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--runs", type=int, default=5, help="measured single-stream runs per engine")
    p.add_argument("--conc-runs", type=int, default=3, help="measured 4-stream bursts per server")
    p.add_argument("--parallel", type=int, default=CONCURRENCY,
                   help="our server's --parallel (KV slots)")
    p.add_argument("--ctx", type=int, default=4096,
                   help="context per sequence: our --ctx-per-seq and the baselines' n_ctx")
    p.add_argument("--flash-attn", choices=("on", "off"), default="off",
                   help="flash attention for every engine (ours: serve --flash-attn); default "
                        "off, our server's default")
    p.add_argument("--skip-llama-server", action="store_true")
    p.add_argument("--metrics-off", action="store_true",
                   help="our server without metrics and access log (to measure their cost)")
    p.add_argument("--json", nargs="?", const="-", metavar="FILE",
                   help="also dump results as JSON to FILE (or stdout with no FILE)")
    p.add_argument("--log-dir", type=Path, help="server logs (default: a temp dir)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: smollm2-135m-instruct, 16 tokens, 1 run and 1 burst, "
                        "no llama_cpp.server")
    args = p.parse_args(argv)
    if args.quick:
        args.model, args.max_tokens, args.runs, args.conc_runs = "smollm2-135m-instruct", 16, 1, 1
        args.ctx, args.skip_llama_server = 1024, True
    # SIGTERM -> SystemExit, so the `with Server(...)` blocks still stop their servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    runs = max(1, args.runs)
    conc_runs = max(1, args.conc_runs)

    import llama_cpp

    model_path = resolve_model(args.model)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="vertexcompat-bench-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    cfg = {
        "model": args.model, "model_path": str(model_path), "threads": args.threads,
        "max_tokens": args.max_tokens, "runs": runs, "conc_runs": conc_runs,
        "parallel": args.parallel, "ctx": args.ctx, "flash_attn": args.flash_attn,
        "llama_cpp_version": llama_cpp.__version__, "python": platform.python_version(),
        "cpu_count": os.cpu_count(), "log_dir": str(log_dir),
        "metrics": not args.metrics_off,
    }
    t_start = time.monotonic()
    say = lambda msg: print(f"[bench {time.monotonic() - t_start:6.1f}s] {msg}",  # noqa: E731
                            file=sys.stderr, flush=True)
    say(f"model {model_path}, threads {args.threads}, logs in {log_dir}")

    load1 = os.getloadavg()[0]
    foreign = ForeignCpu()
    foreign.start()
    time.sleep(1.0)
    foreign.stop("before start")
    if foreign.phases["before start"] > 0.1:
        say(f"WARNING: other processes use {foreign.phases['before start']:.2f} cores right now;"
            " numbers will be noisy (see the table's foreign-CPU line)")
    foreign.start()
    say("1/3 direct llama_cpp.Llama baseline (in-process)")
    direct, _ = run_direct(model_path, args.threads, args.max_tokens, runs,
                           args.flash_attn == "on", args.ctx)
    ceiling = kernel_ceiling(model_path, args.threads, args.flash_attn == "on",
                             steps=8 if args.quick else 24)
    foreign.stop("direct")

    say("2/3 vertexcompat server")
    foreign.start()
    port = free_port()
    ours = Server(
        "vertexcompat",
        # --no-auth: the benchmark measures serving, not token checks (any bearer passes).
        [py, "-m", "vertexcompat", "serve", "--no-auth", "--host", "127.0.0.1", "--port", str(port),
         "--model", str(args.model), "--threads", str(args.threads),
         "--parallel", str(args.parallel), "--ctx-per-seq", str(args.ctx),
         # Every run repeats its prompt: no reuse, as the baselines (bench/prefix_cache.py
         # measures the prefix cache).
         "--no-prefix-cache",
         *(["--flash-attn"] if args.flash_attn == "on" else []),
         "--log-level", "warning"],
        "/readyz", port, log_dir / "vertexcompat.log",
        env={**os.environ, "VERTEXCOMPAT_METRICS_ENABLED": "false",
             "VERTEXCOMPAT_ACCESS_LOG": "false"} if args.metrics_off else None,
    )
    with ours:
        ours1, ours4 = asyncio.run(_measure_server(
            ours.base, OUR_MODEL_ID, args.max_tokens, runs, conc_runs, usage=True, single=True))
    foreign.stop("vertexcompat")

    llama4: list[Load] | None = None
    if not args.skip_llama_server:
        say("3/3 llama_cpp.server baseline")
        foreign.start()
        port = free_port()
        lserver = Server(
            "llama_cpp.server",
            [py, str(BENCH_DIR / "_llama_server.py"), "--model", str(model_path),
             "--n_threads", str(args.threads), "--n_threads_batch", str(args.threads),
             "--n_ctx", str(args.ctx), "--n_batch", "512", "--n_ubatch", "512",
             "--flash_attn", "true" if args.flash_attn == "on" else "false",
             # queue concurrent requests (its default aborts the running one instead)
             "--interrupt_requests", "false",
             "--host", "127.0.0.1", "--port", str(port)],
            "/v1/models", port, log_dir / "llama_cpp_server.log",
        )
        with lserver:
            _, llama4 = asyncio.run(_measure_server(
                lserver.base, "local", args.max_tokens, runs, conc_runs, usage=False,
                single=False))
        foreign.stop("llama_cpp.server")
    else:
        say("3/3 llama_cpp.server baseline skipped")

    cfg["loadavg_at_start"] = load1
    cfg["foreign_cpu_cores"] = foreign.phases
    report = build_report(cfg, direct, ours1, ours4, llama4, ceiling)
    print_table(report)
    if args.json:
        text = json.dumps(report, indent=2, default=float)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
            say(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
