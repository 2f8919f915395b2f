"""Serving benchmark: vertexcompat vs llama.cpp's own C++ server (`llama-server`) and vs
llama-cpp-python driven in process, same model file, same thread count, one run.

Measures, each against a baseline measured in the same run:

  (a) decode tokens/s of ONE streaming request through our server vs `llama_cpp.Llama`
      driven in-process (create_chat_completion(stream=True)), greedy, same prompt,
      same max_tokens                                                 target ratio >= 0.95
  (b) time to first token, ours (HTTP request sent -> first content delta) minus direct
      (call -> first content chunk), medians after a warm-up          target <= 30 ms
  (c) aggregate tokens/s of 4 concurrent streams vs 1 stream on our server, beside the
      kernel's own ceiling for 4 rows vs 1                            target >= 2.0x
  (d) ours vs llama-server (built from the llama.cpp sources llama-cpp-python vendors:
      `make llama-server`), both with --parallel 8, the same context per slot and their
      default prompt caches: one stream decode tok/s (>= 1.0x) and TTFT; 4 and 8
      concurrent streams of distinct prompts, aggregate tok/s (>= 1.05x), and 8 streams
      asking 4 prompts twice each (identical requests at once; reported); a burst of 4
      fresh requests at once,
      p50 and p95 TTFT (p95 <= 1.0x); peak RSS of the server's processes
  (e) with --with-llama-cpp-server: 4 streams against `python -m llama_cpp.server`
  (g) one decode step of the 4-stream load (ms per token per stream): through our server,
      through our engine driven in this process without HTTP, through llama-server

The direct baseline runs first, in this process. Then our server and llama-server (and
llama-server --no-repack with --peer-no-repack) start together and take turns: round r is
every server's r-th single stream, loads and burst, in alternating order, one server busy at
a time (2 cores), so a drift of the machine's speed over the minutes of a run falls on all
alike (`--sequential`: each server's phases alone, one server after the other). Servers log
to files; every server is stopped in `finally`.

    .venv/bin/python bench/serving.py [--model NAME|PATH.gguf] [--threads N] [--max-tokens N]
                                      [--runs N] [--llama-server BINARY] [--json FILE|-]
    make llama-server                      # builds the baseline once (about 6 minutes)
    .venv/bin/python bench/serving.py --quick   # smoke: tiny model, 1 run; llama-server
                                                # only if it is built
    .venv/bin/python bench/serving.py --metrics-off   # our server without /metrics and the
                                                      # access log (their overhead: compare)

`--quick` proves the script works (tests/e2e/test_bench_smoke.py runs it), not the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
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
from collections.abc import AsyncIterator, Iterator
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
# --quick: each prompt's first sentence (about 25 tokens instead of 40: a smoke run reads a
# prompt nineteen times over its three engines)
QUICK_PROMPTS = [p.split(". ")[0] + "." for p in PROMPTS]
OUR_MODEL_ID = "google/gemini-2.0-flash-001"
# Loads of concurrent long streams: name -> (streams, times each prompt is asked). "4" and
# "8" ask distinct prompts (the engines' batching side by side); "8x2" asks four prompts
# twice each, at once (greedy, seed 0: identical requests, which our server answers once,
# engine/scheduler.py "Shared answers").
LOADS = {"4": (4, 1), "8": (8, 1), "8x2": (8, 2)}
LOAD_LABELS = {"4": "4 streams", "8": "8 streams", "8x2": "8 streams, 4 prompts x2"}
# What the prompts of a load past the first len(PROMPTS) end with (distinct prompts that
# still share a long prefix with the others).
AUDIENCES = ["beginners", "experienced developers", "students", "a team lead"]
PARALLEL = 8  # KV slots of both servers (memory is compared at this)
BURST = 4  # fresh requests arriving at once
BURST_TOKENS = 8
SINGLES_BASE = 10_000  # fresh_prompt numbers of the single streams
TARGET_DECODE_RATIO = 0.95  # ours / direct llama-cpp-python, one stream
TARGET_TTFT_OVERHEAD_MS = 30.0
TARGET_CONC_SPEEDUP = 2.0  # ours: 4 streams / 1 stream
# ours / llama-server (llama.cpp's C++ server) in the same run
TARGET_VS_LLAMA_1 = 1.0
TARGET_VS_LLAMA_CONC = 1.05
TARGET_BURST_P95 = 1.0  # ours p95 TTFT / llama-server's (lower is better)


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
    """Concurrent streams issued at once."""

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


def kernel_ceiling(model_path: Path, threads: int, flash_attn: bool, steps: int = 24,
                   prompt: int = 100) -> dict[str, float]:
    """ms per llama_decode call of one row, and of one row in each of 4 sequences, after a
    100-token prompt per sequence (`prompt`: --quick's is shorter): 4 streams can be at most
    (4 / t4) / (1 / t1) times one stream's throughput, whatever the server does around the
    kernel."""
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
            decode([(100 + i % 50, i, seq) for i in range(prompt)])
        out = {}
        for width in (1, 4):
            t0 = time.perf_counter()
            for k in range(steps):
                decode([(300, prompt + k, seq) for seq in range(width)])
            out[f"ms_{width}"] = (time.perf_counter() - t0) / steps * 1000
            for seq in range(4):
                llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(ctx), seq, prompt, -1)
        out["speedup"] = (4 / out["ms_4"]) / (1 / out["ms_1"])
        return out
    finally:
        llama_cpp.llama_batch_free(batch)
        llama_cpp.llama_free(ctx)
        llama_cpp.llama_model_free(model)


# ---------------------------------------------------------------------------------------------
# our engine in this process, without HTTP: what the serving path costs per token


def run_engine_loads(model_path: Path, threads: int, parallel: int, ctx: int, max_tokens: int,
                     runs: int, prompts: list[str], speculative: str | None,
                     flash_attn: bool) -> list[Load]:
    """The "4" load through our engine (vertexcompat.engine.llama_engine) in this process,
    with the server's engine settings, consumed by a bare asyncio loop: set beside the
    same load through our server, the difference is the HTTP serving path's cost."""
    from vertexcompat.config import Settings
    from vertexcompat.container import engine_config
    from vertexcompat.domain.events import TextDelta, Usage
    from vertexcompat.engine.llama_engine import LlamaEngine
    from vertexcompat.engine.sampling import SamplingParams

    # What `serve` makes of the flags main() passes our server.
    settings = Settings(threads=threads, parallel=parallel, ctx_per_seq=ctx,
                        flash_attn=flash_attn,
                        **({"speculative": speculative} if speculative else {}))
    engine = LlamaEngine(engine_config(settings))
    engine.load(model_path, "bench")

    async def one(prompt: str, t0: float) -> Stream:
        handle = engine.submit(engine.prompt_tokens([{"role": "user", "content": prompt}]),
                               n=1, params=SamplingParams(temperature=0.0, seed=0),
                               max_tokens=max_tokens, stop=())
        ttft = t_last = None
        tokens = 0
        parts: list[str] = []
        async for ev in handle.events():
            if isinstance(ev, TextDelta) and ev.text:
                t_last = time.perf_counter() - t0
                ttft = t_last if ttft is None else ttft
                parts.append(ev.text)
            elif isinstance(ev, Usage):
                tokens = ev.completion_tokens
        assert ttft is not None and t_last is not None, "our engine produced no text"
        return Stream(tokens, ttft, t_last, time.perf_counter() - t0, "".join(parts))

    async def load() -> Load:
        t0 = time.perf_counter()
        streams = await asyncio.gather(*(one(p, t0) for p in load_prompts("4", prompts)))
        return Load(list(streams), time.perf_counter() - t0)

    try:
        asyncio.run(load())  # warm-up: the prompts' KV, as the servers' loads have it
        return [asyncio.run(load()) for _ in range(runs)]
    finally:
        engine.close()


def engine_loads_phase(args: argparse.Namespace) -> int:
    """`--engine-loads-to FILE`: run_engine_loads with the run's settings, streams to FILE.
    A process of its own: in a process that already ran a llama.cpp model (the direct
    baseline, the kernel ceiling), our engine decodes 15-20% slower (measured, 4 streams)."""
    loads = run_engine_loads(resolve_model(args.model), args.threads, args.parallel, args.ctx,
                             args.max_tokens, max(1, args.conc_runs),
                             QUICK_PROMPTS if args.quick else PROMPTS, args.speculative,
                             args.flash_attn == "on")
    args.engine_loads_to.write_text(json.dumps(
        [{"wall": ld.wall, "streams": [asdict(st) for st in ld.streams]} for ld in loads]))
    return 0


def engine_loads_in_subprocess(argv: list[str] | None, log_dir: Path) -> list[Load]:
    """The (g) phase in a fresh process with this run's arguments."""
    out = log_dir / "engine_loads.json"
    with open(log_dir / "engine_in_process.log", "wb") as log:
        subprocess.run([sys.executable, __file__, *(sys.argv[1:] if argv is None else argv),
                        "--engine-loads-to", str(out)], check=True, stdout=log, stderr=log)
    return [Load([Stream(**st) for st in ld["streams"]], ld["wall"])
            for ld in json.loads(out.read_text())]


def stream_ms_per_token(loads: list[Load]) -> float:
    """Median over streams of (last content - first content) / (tokens - 1), in ms: the
    time of one decode step while the load's streams run together."""
    return med([(s.t_last - s.ttft) / (s.tokens - 1) * 1000
                for ld in loads for s in ld.streams if s.tokens > 1])


# ---------------------------------------------------------------------------------------------
# direct baseline: llama_cpp.Llama in this process


def run_direct(model_path: Path, threads: int, max_tokens: int, runs: int, flash_attn: bool,
               ctx: int, prompts: list[str], warm: bool = True
               ) -> tuple[list[Stream], dict[str, Any]]:
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
    out: list[Stream] = []
    try:
        for i in range(0 if warm else 1, runs + 1):  # first run = warm-up (not in --quick)
            # No prefix-cache reuse between runs: our server evaluates every prompt in full.
            llm.reset()
            sampled[0] = 0
            ttft = t_last = None
            parts: list[str] = []
            t0 = time.perf_counter()
            prompt = (single_prompt(i - 1, prompts) if i
                      else fresh_prompt(SINGLES_BASE - 1, prompts))
            for chunk in llm.create_chat_completion(
                messages=[{"role": "user", "content": prompt}], stream=True, temperature=0.0, max_tokens=max_tokens, seed=0
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
                      max_tokens: int, usage: bool = True) -> Stream:
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


def load_prompts(load: str, prompts: list[str]) -> list[str]:
    """The prompts of one load's streams, in order."""
    width, repeat = LOADS[load]
    distinct = [prompts[j] if j < len(prompts) else
                f"{prompts[j % len(prompts)]} Write it for {AUDIENCES[j // len(prompts) - 1]}."
                for j in range(width // repeat)]
    return [distinct[i % len(distinct)] for i in range(width)]


def fresh_prompt(n: int, prompts: list[str]) -> str:
    """A prompt no earlier request began with (only the chat template's opening is shared
    with them): its whole text is prefilled even by a server that reuses prefixes."""
    topic = prompts[n % len(prompts)]
    return f"Request {n}: {topic}"


def single_prompt(i: int, prompts: list[str]) -> str:
    """The i-th single-stream prompt: the same for every engine (their answers compare),
    fresh to each (no other request begins with it)."""
    return fresh_prompt(SINGLES_BASE + i, prompts)


@dataclass
class ServerRun:
    """What one server did in its phase: single streams of fresh prompts, loads of
    concurrent long streams (LOADS), bursts of BURST fresh short requests at once, and
    the peak resident memory of its processes."""

    singles: list[Stream] = field(default_factory=list)
    loads: dict[str, list[Load]] = field(default_factory=dict)
    bursts: list[list[Stream]] = field(default_factory=list)
    peak_rss_mb: float = float("nan")

    def burst_ttfts(self) -> list[float]:
        return sorted(s.ttft for b in self.bursts for s in b)


@dataclass
class _Seat:
    """One server's place in `measure_servers`: its client, URL, model id, fresh-prompt
    counter and what it measured."""

    client: httpx.AsyncClient
    url: str
    model: str
    fresh: Iterator[int] = field(default_factory=itertools.count)
    run: ServerRun = field(default_factory=ServerRun)

    def next_fresh(self, prompts: list[str]) -> str:
        return fresh_prompt(next(self.fresh), prompts)


async def measure_servers(targets: list[tuple[str, str]], *, prompts: list[str],
                          max_tokens: int, runs: int, conc_runs: int,
                          loads: tuple[str, ...], burst_runs: int, usage: bool,
                          warm: bool = True, burst_tokens: int = BURST_TOKENS
                          ) -> list[ServerRun]:
    """The phases of each server (base URL, model id), taking turns: round r holds the
    r-th single stream, the r-th run of each load and the r-th burst of every server,
    the servers in one order in even rounds and the reverse in odd ones. A change in the
    machine's speed during the run then falls on all of them alike (run one after the
    other, the phases of two servers are minutes apart, and this machine drifts 10-25%
    over that). Every server gets the same fresh prompts in the same order."""
    top = max([LOADS[name][0] for name in loads] + [BURST])
    limits = httpx.Limits(max_connections=top * 2, max_keepalive_connections=top)
    async with contextlib.AsyncExitStack() as stack:
        seats = [_Seat(await stack.enter_async_context(httpx.AsyncClient(
                           timeout=httpx.Timeout(600.0), limits=limits)),
                       f"{base}/v1/chat/completions", model)
                 for base, model in targets]

        async def ask(seat: _Seat, prompt: str, tokens: int) -> Stream:
            return await stream_chat(seat.client, seat.url, seat.model, prompt, tokens, usage)

        # warm-up: one stream, then one burst as wide as the widest load (opens the
        # pooled connections, touches every slot); not in --quick, whose times prove nothing
        for seat in seats if warm else ():
            await ask(seat, seat.next_fresh(prompts), max_tokens)
            await asyncio.gather(*(ask(seat, seat.next_fresh(prompts), 4) for _ in range(top)))
        for r in range(max(runs, conc_runs, burst_runs)):
            for seat in seats if r % 2 == 0 else seats[::-1]:
                if r < runs:
                    seat.run.singles.append(await ask(seat, single_prompt(r, prompts),
                                                      max_tokens))
                for name in loads if r < conc_runs else ():
                    t0 = time.perf_counter()
                    streams = await asyncio.gather(*(
                        ask(seat, prompt, max_tokens) for prompt in load_prompts(name, prompts)))
                    seat.run.loads.setdefault(name, []).append(
                        Load(list(streams), time.perf_counter() - t0))
                if r < burst_runs:
                    await asyncio.sleep(0.2)  # the previous burst's streams are over
                    seat.run.bursts.append(list(await asyncio.gather(*(
                        ask(seat, seat.next_fresh(prompts), burst_tokens)
                        for _ in range(BURST)))))
    return [seat.run for seat in seats]


def measure_together(group: dict[str, tuple[Server, str]], measure: dict[str, Any]
                     ) -> dict[str, ServerRun]:
    """Start the servers of `group` (name -> server, model id), measure them taking turns
    (`measure_servers`), read each one's peak RSS, stop them."""
    with contextlib.ExitStack() as stack:
        for server, _ in group.values():
            stack.enter_context(server)
        runs = asyncio.run(measure_servers(
            [(server.base, model) for server, model in group.values()], **measure))
        for (server, _), run in zip(group.values(), runs):
            assert server.proc is not None
            run.peak_rss_mb = tree_peak_rss_mb(server.proc.pid)
    return dict(zip(group, runs))


def tree_peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process and its descendants, summed, in MiB."""
    total_kb = 0
    pending = [pid]
    while pending:
        p = pending.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kb += int(line.split()[1])
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except (OSError, ValueError):
            continue
        pending.extend(int(c) for c in children)
    return total_kb / 1024


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


def pct(xs: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of xs."""
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def summarize(run: ServerRun) -> dict[str, Any]:
    ttfts = run.burst_ttfts()
    return {
        "decode_tps": med([s.decode_tps for s in run.singles]),
        "ttft_ms": med([s.ttft for s in run.singles]) * 1000,
        "e2e_tps_1": med([s.e2e_tps for s in run.singles]),
        **{f"aggregate_tps_{w}": med([ld.aggregate_tps for ld in loads])
           for w, loads in run.loads.items()},
        "burst_ttft_p50_ms": pct(ttfts, 0.5) * 1000,
        "burst_ttft_p95_ms": pct(ttfts, 0.95) * 1000,
        "peak_rss_mb": run.peak_rss_mb,
        "tokens_1": [s.tokens for s in run.singles],
        **{f"tokens_{w}": [ld.tokens for ld in loads] for w, loads in run.loads.items()},
    }


def build_report(cfg: dict[str, Any], direct: list[Stream], ours: ServerRun,
                 peer: ServerRun | None, pyserver: ServerRun | None,
                 ceiling: dict[str, float]) -> dict[str, Any]:
    r: dict[str, Any] = {"config": cfg}
    o = summarize(ours)
    d_dec = med([s.decode_tps for s in direct])
    d_ttft = med([s.ttft for s in direct]) * 1000
    m: dict[str, Any] = {
        "direct_decode_tps": d_dec, "direct_ttft_ms": d_ttft,
        "direct_tokens": [s.tokens for s in direct],
        "ours": o,
        "kernel_ms_1_row": ceiling["ms_1"], "kernel_ms_4_rows": ceiling["ms_4"],
        "kernel_4_stream_ceiling": ceiling["speedup"],
    }
    checks: dict[str, dict[str, Any]] = {
        "a_decode_ratio": {"value": o["decode_tps"] / d_dec,
                           "target": f">= {TARGET_DECODE_RATIO}",
                           "pass": o["decode_tps"] / d_dec >= TARGET_DECODE_RATIO},
        "b_ttft_overhead_ms": {"value": o["ttft_ms"] - d_ttft,
                               "target": f"<= {TARGET_TTFT_OVERHEAD_MS}",
                               "pass": o["ttft_ms"] - d_ttft <= TARGET_TTFT_OVERHEAD_MS},
        "c_concurrency_speedup": {"value": o["aggregate_tps_4"] / o["e2e_tps_1"],
                                  "target": f">= {TARGET_CONC_SPEEDUP}",
                                  "pass": o["aggregate_tps_4"] / o["e2e_tps_1"]
                                  >= TARGET_CONC_SPEEDUP},
    }
    checks["c_share_of_ceiling"] = {
        "value": checks["c_concurrency_speedup"]["value"] / ceiling["speedup"],
        "target": "(report)", "pass": None}
    if peer is not None:
        p = summarize(peer)
        m["llama_server"] = p
        checks["vs_llama_decode_1"] = _ratio(o["decode_tps"], p["decode_tps"], TARGET_VS_LLAMA_1)
        checks["vs_llama_ttft_1"] = _ratio(o["ttft_ms"], p["ttft_ms"], None)
        for w in ours.loads:
            # the target is for distinct prompts; "8x2" (identical requests) is reported
            checks[f"vs_llama_aggregate_{w}"] = _ratio(
                o[f"aggregate_tps_{w}"], p[f"aggregate_tps_{w}"],
                TARGET_VS_LLAMA_CONC if LOADS[w][1] == 1 else None)
        checks["vs_llama_burst_p50"] = _ratio(o["burst_ttft_p50_ms"], p["burst_ttft_p50_ms"],
                                              None)
        checks["vs_llama_burst_p95"] = _ratio(o["burst_ttft_p95_ms"], p["burst_ttft_p95_ms"],
                                              TARGET_BURST_P95, lower=True)
        checks["vs_llama_rss"] = _ratio(o["peak_rss_mb"], p["peak_rss_mb"], None)
    if pyserver is not None:
        m["llama_cpp_server"] = summarize(pyserver)
        checks["vs_pyserver_aggregate_4"] = _ratio(
            o["aggregate_tps_4"], m["llama_cpp_server"]["aggregate_tps_4"], None)
    m["same_text_ours_vs_direct"] = bool(direct and ours.singles
                                         and direct[0].text == ours.singles[0].text)
    r["measured"], r["checks"] = m, checks
    r["raw"] = {name: _raw_run(run) for name, run in
                (("ours", ours), ("llama_server", peer), ("llama_cpp_server", pyserver))
                if run is not None}
    r["raw"]["direct"] = [_raw(s) for s in direct]
    return r


def _ratio(ours: float, theirs: float, target: float | None, lower: bool = False
           ) -> dict[str, Any]:
    value = ours / theirs if theirs else float("nan")
    if target is None:
        return {"value": value, "target": "(report)", "pass": None}
    ok = value <= target if lower else value >= target
    return {"value": value, "target": f"{'<=' if lower else '>='} {target}", "pass": ok}


def _raw_run(run: ServerRun) -> dict[str, Any]:
    return {
        "singles": [_raw(s) for s in run.singles],
        "loads": {w: [_raw_load(ld) for ld in loads] for w, loads in run.loads.items()},
        "bursts": [[_raw(s) for s in b] for b in run.bursts],
        "peak_rss_mb": run.peak_rss_mb,
    }


def _raw(s: Stream) -> dict[str, Any]:
    d = asdict(s)
    d.pop("text")
    return d


def _raw_load(ld: Load) -> dict[str, Any]:
    return {"wall": ld.wall, "streams": [_raw(s) for s in ld.streams]}


def print_table(r: dict[str, Any]) -> None:
    c, m, k = r["config"], r["measured"], r["checks"]
    o = m["ours"]
    print()
    print("vertexcompat serving benchmark")
    print(f"  model       {c['model']}  ({c['model_path']})")
    print(f"  threads     {c['threads']}   max_tokens {c['max_tokens']}   runs {c['runs']} "
          f"(+1 warm-up)   loads {c['loads']} x {c['conc_runs']}   bursts of "
          f"{BURST} x {c['burst_runs']}   --parallel {c['parallel']} (both servers)")
    print(f"  baselines   llama-cpp-python {c['llama_cpp_version']} in process; llama-server "
          f"{c.get('llama_server') or 'not run'}; flash_attn={c['flash_attn']}, "
          f"n_ctx/seq={c['ctx']}, prefix caches on (their defaults); medians reported")
    print("  phases      " + ("the servers taking turns, round by round (alternating order)"
                             if c.get("taking_turns") else "one server after the other"))
    print(f"  tokens      direct {m['direct_tokens']}  ours {o['tokens_1']}  ours x4 "
          f"{o.get('tokens_4')}" + (f"  llama-server x4 {m['llama_server'].get('tokens_4')}"
                                    if "llama_server" in m else ""))
    fc = c.get("foreign_cpu_cores", {})
    noisy = any(v > 0.1 for v in fc.values())
    print("  other processes' CPU use per phase (cores): "
          + ", ".join(f"{k} {v:.2f}" for k, v in fc.items())
          + (f"   load avg at start {c['loadavg_at_start']:.2f}")
          + ("   <-- NOT A QUIET MACHINE: numbers unreliable" if noisy else "   (quiet)"))
    print()
    rows = [
        ("(a) decode tok/s, 1 stream", f"{o['decode_tps']:.1f}",
         f"direct {m['direct_decode_tps']:.1f}", f"{k['a_decode_ratio']['value']:.3f}x",
         f">= {TARGET_DECODE_RATIO:.2f}x", verdict(k["a_decode_ratio"]["pass"])),
        ("(b) TTFT ms, 1 stream", f"{o['ttft_ms']:.1f}",
         f"direct {m['direct_ttft_ms']:.1f}", f"{k['b_ttft_overhead_ms']['value']:+.1f} ms",
         f"<= {TARGET_TTFT_OVERHEAD_MS:.0f} ms", verdict(k["b_ttft_overhead_ms"]["pass"])),
        ("(c) aggregate tok/s, 4 streams", f"{o['aggregate_tps_4']:.1f}",
         f"ours x1 {o['e2e_tps_1']:.1f}",
         f"{k['c_concurrency_speedup']['value']:.2f}x", f">= {TARGET_CONC_SPEEDUP:.1f}x",
         verdict(k["c_concurrency_speedup"]["pass"])),
        ("(c) kernel ceiling, 4 streams", f"{m['kernel_ms_4_rows']:.1f} ms/4 rows",
         f"{m['kernel_ms_1_row']:.1f} ms/1 row", f"{m['kernel_4_stream_ceiling']:.2f}x",
         "report", "-"),
        ("(c) ours x4/x1 of the ceiling", f"{k['c_concurrency_speedup']['value']:.2f}x",
         f"ceiling {m['kernel_4_stream_ceiling']:.2f}x",
         f"{k['c_share_of_ceiling']['value']:.2f}", "report", "-"),
    ]
    if "llama_server" in m:
        p = m["llama_server"]

        def vs(label: str, key: str, ours_v: float, theirs_v: float, fmt: str) -> None:
            chk = k[key]
            rows.append((label, format(ours_v, fmt), f"llama-server {format(theirs_v, fmt)}",
                         f"{chk['value']:.2f}x", chk["target"].replace(" ", " ") + (
                             "x" if chk["pass"] is not None else ""),
                         verdict(chk["pass"]) if chk["pass"] is not None else "-"))

        vs("(d) decode tok/s, 1 stream", "vs_llama_decode_1", o["decode_tps"], p["decode_tps"],
           ".1f")
        vs("(d) TTFT ms, 1 stream", "vs_llama_ttft_1", o["ttft_ms"], p["ttft_ms"], ".1f")
        for w in c["loads"]:
            vs(f"(d) aggregate tok/s, {LOAD_LABELS[w]}", f"vs_llama_aggregate_{w}",
               o[f"aggregate_tps_{w}"], p[f"aggregate_tps_{w}"], ".1f")
        vs(f"(d) burst of {BURST} new, p50 TTFT ms", "vs_llama_burst_p50",
           o["burst_ttft_p50_ms"], p["burst_ttft_p50_ms"], ".1f")
        vs(f"(d) burst of {BURST} new, p95 TTFT ms", "vs_llama_burst_p95",
           o["burst_ttft_p95_ms"], p["burst_ttft_p95_ms"], ".1f")
        vs(f"(d) peak RSS MiB, --parallel {c['parallel']}", "vs_llama_rss", o["peak_rss_mb"],
           p["peak_rss_mb"], ".0f")
    else:
        rows.append(("(d) vs llama-server", "-", "not run (make llama-server)", "-", "report",
                     "-"))
    if "llama_server_no_repack" in m:
        nr = m["llama_server_no_repack"]
        pairs = [("decode tok/s, 1 stream", "decode_tps")] + [
            (f"aggregate tok/s, {LOAD_LABELS[w]}", f"aggregate_tps_{w}") for w in c["loads"]
        ] + [(f"burst of {BURST} new, p95 TTFT ms", "burst_ttft_p95_ms")]
        for label, key in pairs:
            rows.append((f"(f) {label}", f"{o[key]:.1f}", f"llama-server -nr {nr[key]:.1f}",
                         f"{o[key] / nr[key]:.2f}x", "report", "-"))
    if "llama_cpp_server" in m:
        rows.append(("(e) aggregate tok/s, 4 streams", f"{o['aggregate_tps_4']:.1f}",
                     f"llama_cpp.server {m['llama_cpp_server']['aggregate_tps_4']:.1f}",
                     f"{k['vs_pyserver_aggregate_4']['value']:.2f}x", "report", "-"))
    steps = m.get("ms_per_token_4")
    if steps:
        engine = steps["engine_in_process"]
        rows.append(("(g) ms/token/stream, 4 streams", f"{steps['ours']:.1f}",
                     f"engine in process {engine:.1f}", f"{steps['ours'] - engine:+.1f} ms",
                     "report", "-"))
        if "llama_server" in steps:
            rows.append(("(g) engine in process vs peer", f"{engine:.1f}",
                         f"llama-server {steps['llama_server']:.1f}",
                         f"{engine / steps['llama_server']:.2f}x", "report", "-"))
    print_rows(("metric", "ours", "baseline", "ratio/diff", "target", "result"), rows)
    print("  decode tok/s = (tokens-1)/(last content - first content) of one stream of a fresh "
          "prompt; TTFT = request issued -> first content;")
    print("  aggregate tok/s = completion tokens of all streams / (first request issued -> last "
          "stream closed); x1 = same for one stream.")
    print(f"  burst = {BURST} requests of fresh prompts ({BURST_TOKENS} tokens each) sent at "
          "once; p50/p95 of their TTFTs over all bursts.")
    print("  kernel ceiling = llama_decode of one row in each of 4 sequences vs one row, in "
          "process: the most 4 streams can gain over 1 here, whatever the server does.")
    if steps:
        print("  (g) = median over streams of (last content - first content)/(tokens-1) in the "
              "4-stream load: one decode step; 'engine in process' = our engine driven in "
              "this process without HTTP (the difference is the serving path's cost).")
    if "llama_server_no_repack" in m:
        print("  (f) = llama-server with --no-repack: without llama.cpp's repacked weights, "
              "the kernels our engine runs (it loads models without extra buffers).")
    print()


# ---------------------------------------------------------------------------------------------


def resolve_model(name: str) -> Path:
    from vertexcompat.engine.model_files import ModelCatalog

    data_dir = os.environ.get("VERTEXCOMPAT_DATA_DIR")
    if not data_dir:
        import platformdirs

        data_dir = platformdirs.user_cache_dir("vertexcompat")
    return Path(ModelCatalog(Path(data_dir)).resolve(name).path)


def llama_server_argv(binary: Path, model_path: Path, *, threads: int, ctx: int,
                      parallel: int, flash_attn: bool, port: int) -> list[str]:
    """llama.cpp's server on the same GGUF, threads, slots and context per slot as ours;
    its other settings are its defaults (continuous batching, prompt cache on)."""
    return [str(binary), "--model", str(model_path), "--threads", str(threads),
            "--threads-batch", str(threads), "--ctx-size", str(ctx * parallel),
            "--parallel", str(parallel), "--batch-size", "512", "--ubatch-size", "512",
            "--flash-attn", "on" if flash_attn else "off", "--no-webui",
            "--host", "127.0.0.1", "--port", str(port)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="qwen2.5-coder-0.5b-instruct",
                   help="catalog name or .gguf path (default: %(default)s)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--runs", type=int, default=5, help="measured single-stream runs per engine")
    p.add_argument("--conc-runs", type=int, default=3,
                   help="measured runs of each load per server")
    p.add_argument("--burst-runs", type=int, default=5,
                   help=f"measured bursts of {BURST} fresh requests per server")
    p.add_argument("--parallel", type=int, default=PARALLEL,
                   help="KV slots of both servers (default: %(default)s)")
    p.add_argument("--ctx", type=int, default=4096,
                   help="context per sequence: our --ctx-per-seq and the baselines' n_ctx")
    p.add_argument("--flash-attn", choices=("on", "off"), default="off",
                   help="flash attention for every engine (ours: serve --flash-attn); default "
                        "off, our server's default")
    p.add_argument("--llama-server", type=Path, metavar="BINARY",
                   help="llama.cpp's server binary (default: $VERTEXCOMPAT_LLAMA_SERVER, else "
                        "the one `make llama-server` builds)")
    p.add_argument("--skip-llama-server", action="store_true",
                   help="do not run llama.cpp's server")
    p.add_argument("--sequential", action="store_true",
                   help="run each server's phases alone, one server after the other (default: "
                   "start them together and let their phases take turns, so the machine's "
                   "drift falls on all alike)")
    p.add_argument("--peer-no-repack", action="store_true",
                   help="also run llama-server with --no-repack: the kernels our engine uses "
                        "(it loads models without llama.cpp's extra buffers, whose AMX path "
                        "crashes here), to tell kernel differences from serving differences")
    p.add_argument("--with-llama-cpp-server", action="store_true",
                   help="also run llama-cpp-python's server (python -m llama_cpp.server)")
    p.add_argument("--speculative", choices=("off", "ngram"),
                   help="our server's --speculative (default: its own default)")
    p.add_argument("--metrics-off", action="store_true",
                   help="our server without metrics and access log (to measure their cost)")
    p.add_argument("--json", nargs="?", const="-", metavar="FILE",
                   help="also dump results as JSON to FILE (or stdout with no FILE)")
    p.add_argument("--log-dir", type=Path, help="server logs (default: a temp dir)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: smollm2-135m-instruct, 4 tokens, 1 run, 1 load of 4 "
                        "streams, 1 burst, one-sentence prompts, no warm-ups; llama-server "
                        "only when already built")
    p.add_argument("--engine-loads-to", type=Path, help=argparse.SUPPRESS)  # (g)'s subprocess
    args = p.parse_args(argv)
    if args.quick:
        args.model, args.max_tokens, args.runs, args.conc_runs = "smollm2-135m-instruct", 4, 1, 1
        args.burst_runs, args.ctx = 1, 1024
    if args.engine_loads_to:
        return engine_loads_phase(args)
    # SIGTERM -> SystemExit, so the `with Server(...)` blocks still stop their servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    runs = max(1, args.runs)
    conc_runs = max(1, args.conc_runs)
    burst_runs = max(1, args.burst_runs)
    loads = tuple(name for name, (w, _) in LOADS.items() if w <= args.parallel) or ("4",)
    if args.quick:
        loads = loads[:1]

    import llama_cpp
    from _build_llama_server import find_binary

    model_path = resolve_model(args.model)
    peer_binary: Path | None = None
    if not args.skip_llama_server:
        peer_binary = args.llama_server or find_binary()
        if peer_binary is None and not args.quick:
            print("llama.cpp's server is not built: run `make llama-server` (about 6 minutes), "
                  "pass --llama-server BINARY, or --skip-llama-server", file=sys.stderr)
            return 2
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="vertexcompat-bench-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    cfg = {
        "model": args.model, "model_path": str(model_path), "threads": args.threads,
        "max_tokens": args.max_tokens, "runs": runs, "conc_runs": conc_runs,
        "burst_runs": burst_runs, "loads": list(loads),
        "parallel": args.parallel, "ctx": args.ctx, "flash_attn": args.flash_attn,
        "llama_cpp_version": llama_cpp.__version__, "python": platform.python_version(),
        "cpu_count": os.cpu_count(), "log_dir": str(log_dir),
        "metrics": not args.metrics_off, "speculative": args.speculative,
        "llama_server": str(peer_binary) if peer_binary else None,
        "taking_turns": bool(peer_binary) and not args.sequential,
    }
    t_start = time.monotonic()
    say = lambda msg: print(f"[bench {time.monotonic() - t_start:6.1f}s] {msg}",  # noqa: E731
                            file=sys.stderr, flush=True)
    say(f"model {model_path}, threads {args.threads}, logs in {log_dir}")
    prompts = QUICK_PROMPTS if args.quick else PROMPTS
    measure = dict(prompts=prompts, max_tokens=args.max_tokens, runs=runs, conc_runs=conc_runs,
                   loads=loads, burst_runs=burst_runs, usage=True, warm=not args.quick)

    load1 = os.getloadavg()[0]
    foreign = ForeignCpu()
    foreign.start()
    time.sleep(1.0)
    foreign.stop("before start")
    if foreign.phases["before start"] > 0.1:
        say(f"WARNING: other processes use {foreign.phases['before start']:.2f} cores right now;"
            " numbers will be noisy (see the table's foreign-CPU line)")
    foreign.start()
    say("direct llama_cpp.Llama baseline (in-process)")
    direct, _ = run_direct(model_path, args.threads, args.max_tokens, runs,
                           args.flash_attn == "on", args.ctx, prompts, warm=not args.quick)
    ceiling = kernel_ceiling(model_path, args.threads, args.flash_attn == "on",
                             steps=4 if args.quick else 24, prompt=16 if args.quick else 100)
    foreign.stop("direct")
    foreign.start()
    say("our engine in a process of its own, the 4-stream load without HTTP")
    engine_loads = engine_loads_in_subprocess(argv, log_dir)
    foreign.stop("engine in process")

    port = free_port()
    ours_server = Server(
        "vertexcompat",
        # --no-auth: the benchmark measures serving, not token checks (any bearer passes).
        [py, "-m", "vertexcompat", "serve", "--no-auth", "--host", "127.0.0.1", "--port", str(port),
         "--model", str(args.model), "--threads", str(args.threads),
         "--parallel", str(args.parallel), "--ctx-per-seq", str(args.ctx),
         *(["--flash-attn"] if args.flash_attn == "on" else []),
         *(["--speculative", args.speculative] if args.speculative else []),
         "--log-level", "warning"],
        "/readyz", port, log_dir / "vertexcompat.log",
        env={**os.environ, "VERTEXCOMPAT_METRICS_ENABLED": "false",
             "VERTEXCOMPAT_ACCESS_LOG": "false"} if args.metrics_off else None,
    )
    peers: dict[str, Server] = {}
    if peer_binary is not None:
        port = free_port()
        peers["llama-server"] = Server(
            "llama-server",
            llama_server_argv(peer_binary, model_path, threads=args.threads, ctx=args.ctx,
                              parallel=args.parallel, flash_attn=args.flash_attn == "on",
                              port=port),
            "/health", port, log_dir / "llama-server.log",
        )
        if args.peer_no_repack:
            port = free_port()
            peers["llama-server --no-repack"] = Server(
                "llama-server --no-repack",
                [*llama_server_argv(peer_binary, model_path, threads=args.threads,
                                    ctx=args.ctx, parallel=args.parallel,
                                    flash_attn=args.flash_attn == "on", port=port),
                 "--no-repack"],
                "/health", port, log_dir / "llama-server-no-repack.log",
            )
    else:
        say("llama-server baseline skipped" + (" (not built)" if not args.skip_llama_server
                                               else ""))
    servers = {"vertexcompat": (ours_server, OUR_MODEL_ID),
               **{name: (server, "local") for name, server in peers.items()}}
    runs_by_name: dict[str, ServerRun] = {}
    if args.sequential or not peers:
        groups = [{name: seat} for name, seat in servers.items()]
    else:
        groups = [servers]
    for group in groups:
        if len(group) > 1:
            phase = "servers, taking turns"
            say(", ".join(group) + ": started together, their phases taking turns")
        else:
            phase = next(iter(group))
            say(f"{phase} (its phases alone)")
        foreign.start()
        runs_by_name |= measure_together(group, measure)
        foreign.stop(phase)  # after the servers stopped: their CPU is ours, not foreign
    ours = runs_by_name["vertexcompat"]
    peer = runs_by_name.get("llama-server")
    no_repack = runs_by_name.get("llama-server --no-repack")

    pyserver: ServerRun | None = None
    if args.with_llama_cpp_server:
        say("llama_cpp.server baseline")
        foreign.start()
        port = free_port()
        pserver = Server(
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
        pyserver = measure_together({"llama_cpp.server": (pserver, "local")},
                                    {**measure, "loads": ("4",), "burst_runs": 0,
                                     "usage": False})["llama_cpp.server"]
        foreign.stop("llama_cpp.server")

    cfg["loadavg_at_start"] = load1
    cfg["foreign_cpu_cores"] = foreign.phases
    report = build_report(cfg, direct, ours, peer, pyserver, ceiling)
    report["measured"]["ms_per_token_4"] = {
        "engine_in_process": stream_ms_per_token(engine_loads),
        "ours": stream_ms_per_token(ours.loads["4"]),
        **({"llama_server": stream_ms_per_token(peer.loads["4"])} if peer is not None else {}),
    }
    report["raw"]["engine_in_process"] = [_raw_load(ld) for ld in engine_loads]
    if no_repack is not None:
        report["measured"]["llama_server_no_repack"] = summarize(no_repack)
        report["raw"]["llama_server_no_repack"] = _raw_run(no_repack)
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
