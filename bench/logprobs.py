"""Log probabilities cost: decode ms/token of one greedy streamed chat completion through our
server, with and without `logprobs`, against the same request without them, in one run.

One server (the flags of bench/serving.py's own server), the same request in five variants,
measured alternately (every round runs each variant once, starting from a different one each
round, so machine noise hits all of them alike):

  (a) no logprobs                                   the baseline
  (b) `logprobs: true`, no alternatives
  (c) `logprobs: true, top_logprobs: 20`
  (d) `top_logprobs: 20` + a JSON-schema `response_format` (the grammar is then applied to the
      whole vocabulary every step, for the numbers: the expensive part)
  (e) the JSON-schema `response_format` alone       (d)'s own baseline: the grammar's cost

decode ms/token = (last content chunk - first content chunk) / (completion tokens - 1), as
serving.py's decode tok/s (prompt evaluation excluded); the median over the rounds, and each
variant's median divided by (a)'s (and (d)'s by (e)'s). (a) is exactly serving.py's
row (a) "ours" request: same prompt, body and server flags. It also checks what came back:
a log probability per completion token, 20 alternatives each where asked, and the same greedy
text with and without logprobs (which token is drawn must not depend on asking).

    .venv/bin/python bench/logprobs.py [--model NAME|PATH.gguf] [--threads N] [--max-tokens N]
                                       [--runs N] [--json FILE|-]
    .venv/bin/python bench/logprobs.py --quick   # smoke: tiny model, 8 tokens, 1 round

`--quick` proves the script works (tests/e2e/test_bench_smoke.py runs it), not the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from serving import (  # noqa: E402
    OUR_MODEL_ID, PROMPTS, QUICK_PROMPTS, ForeignCpu, Server, free_port, med, print_rows,
    resolve_model, sse_events,
)

TOP = 20
# Long enough that greedy decoding never closes the object before max_tokens (20+ steps with
# free-text fields), like the tutorial prompt without a schema.
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "steps": {
            "type": "array",
            "minItems": 20,
            "items": {
                "type": "object",
                "properties": {
                    "heading": {"type": "string"},
                    "explanation": {"type": "string"},
                    "code": {"type": "string"},
                },
                "required": ["heading", "explanation", "code"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["title", "steps"],
    "additionalProperties": False,
}
RESPONSE_FORMAT = {"type": "json_schema",
                   "json_schema": {"name": "tutorial", "schema": SCHEMA, "strict": True}}
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "a": ("no logprobs (baseline)", {}),
    "b": ("logprobs: true", {"logprobs": True}),
    "c": (f"top_logprobs: {TOP}", {"logprobs": True, "top_logprobs": TOP}),
    "d": (f"top_logprobs: {TOP} + JSON schema",
          {"logprobs": True, "top_logprobs": TOP, "response_format": RESPONSE_FORMAT}),
    "e": ("JSON schema, no logprobs", {"response_format": RESPONSE_FORMAT}),
}


@dataclass
class Run:
    tokens: int  # completion tokens (usage)
    first: float  # s: request -> first content chunk
    last: float  # s: request -> last content chunk
    text: str
    entries: int  # logprobs.content[] entries over the stream
    tops: tuple[int, int]  # fewest and most alternatives per entry (0, 0 without entries)
    sse_bytes: int  # bytes of the `data:` payloads

    @property
    def ms_per_token(self) -> float:
        span = self.last - self.first
        return span / (self.tokens - 1) * 1000 if self.tokens > 1 and span > 0 else float("nan")


async def stream_once(client: httpx.AsyncClient, url: str, prompt: str, max_tokens: int,
                      extra: dict[str, Any]) -> Run:
    body: dict[str, Any] = {
        "model": OUR_MODEL_ID,
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "temperature": 0.0,
        "max_tokens": max_tokens,
        "seed": 0,
        "stream_options": {"include_usage": True},
        **extra,
    }
    tokens: int | None = None
    first = last = None
    parts: list[str] = []
    entries, fewest, most, sse_bytes = 0, None, 0, 0
    t0 = time.perf_counter()
    async with client.stream("POST", url, json=body, headers={"Authorization": "Bearer x"}) as resp:
        async for event, size in sse_events(resp, url):
            sse_bytes += size
            if event.get("usage"):
                tokens = event["usage"].get("completion_tokens")
            for choice in event.get("choices") or ():
                content = (choice.get("delta") or {}).get("content")
                if content:
                    now = time.perf_counter() - t0
                    first = now if first is None else first
                    last = now
                    parts.append(content)
                for entry in (choice.get("logprobs") or {}).get("content") or ():
                    entries += 1
                    n = len(entry.get("top_logprobs") or ())
                    fewest = n if fewest is None else min(fewest, n)
                    most = max(most, n)
    if first is None or last is None or tokens is None:
        raise RuntimeError(f"no content or no usage in the stream ({extra})")
    return Run(tokens, first, last, "".join(parts), entries, (fewest or 0, most), sse_bytes)


async def measure(base: str, max_tokens: int, runs: int,
                  say: Any, warm: bool = True, prompt: str = PROMPTS[0]
                  ) -> dict[str, list[Run]]:
    url = f"{base}/v1/chat/completions"
    keys = list(VARIANTS)
    out: dict[str, list[Run]] = {k: [] for k in keys}
    async with httpx.AsyncClient(timeout=httpx.Timeout(600.0)) as client:
        # Warm-up: one of each (compiles the grammar, opens the connection); not in --quick,
        # whose times prove nothing (its one round does the same work and is checked).
        for k in keys if warm else ():
            await stream_once(client, url, prompt, max_tokens, VARIANTS[k][1])
        for r in range(runs):
            order = keys[r % len(keys):] + keys[:r % len(keys)]
            for k in order:
                out[k].append(await stream_once(client, url, prompt, max_tokens,
                                                VARIANTS[k][1]))
            say(f"round {r + 1}/{runs}: " + ", ".join(
                f"({k}) {out[k][-1].ms_per_token:.2f}" for k in keys) + " ms/token")
    return out


def check(runs: dict[str, list[Run]]) -> list[str]:
    """What the streams must have said: an entry per token where asked, the alternatives
    asked for, and the same greedy text with and without logprobs."""
    problems = []
    for k, (label, extra) in VARIANTS.items():
        for i, run in enumerate(runs[k]):
            want_entries = run.tokens if extra.get("logprobs") else 0
            want_top = extra.get("top_logprobs", 0) if extra.get("logprobs") else 0
            if run.entries != want_entries:
                problems.append(f"({k}) run {i}: {run.entries} logprobs entries for "
                                f"{run.tokens} tokens (want {want_entries})")
            # Under a grammar, only the tokens it allows are alternatives: fewer at times.
            fewest = min(1, want_top) if "response_format" in extra else want_top
            if run.entries and not (fewest <= run.tops[0] and run.tops[1] == want_top):
                problems.append(f"({k}) run {i}: {run.tops[0]}-{run.tops[1]} alternatives "
                                f"(want {want_top})")
    for k, ref in (("b", "a"), ("c", "a"), ("d", "e")):
        if any(r.text != runs[ref][0].text for r in runs[k] + runs[ref]):
            problems.append(f"({k}) greedy text differs from ({ref})'s")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="qwen2.5-coder-0.5b-instruct",
                   help="catalog name or .gguf path (default: %(default)s)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--runs", type=int, default=7, help="rounds (each runs every variant once)")
    p.add_argument("--ctx", type=int, default=4096, help="our --ctx-per-seq")
    p.add_argument("--json", nargs="?", const="-", metavar="FILE",
                   help="also dump results as JSON to FILE (or stdout with no FILE)")
    p.add_argument("--log-dir", type=Path, help="server log (default: a temp dir)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: smollm2-135m-instruct, 8 tokens, 1 round, a one-sentence "
                   "prompt, no warm-up")
    args = p.parse_args(argv)
    if args.quick:
        args.model, args.max_tokens, args.runs, args.ctx = "smollm2-135m-instruct", 8, 1, 1024
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `with Server` still stops it
    runs = max(1, args.runs)

    model_path = resolve_model(args.model)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="vertexcompat-bench-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    say = lambda msg: print(f"[bench {time.monotonic() - t_start:6.1f}s] {msg}",  # noqa: E731
                            file=sys.stderr, flush=True)
    say(f"model {model_path}, threads {args.threads}, {args.max_tokens} tokens, {runs} rounds, "
        f"log in {log_dir}")

    load1 = os.getloadavg()[0]
    foreign = ForeignCpu()
    foreign.start()
    port = free_port()
    server = Server(
        "vertexcompat",
        # The flags of serving.py's server: --no-auth, no prefix cache (every run evaluates
        # its prompt in full), 4 slots.
        [sys.executable, "-m", "vertexcompat", "serve", "--no-auth", "--host", "127.0.0.1",
         "--port", str(port), "--model", str(args.model), "--threads", str(args.threads),
         "--parallel", "4", "--ctx-per-seq", str(args.ctx), "--no-prefix-cache",
         "--log-level", "warning"],
        "/readyz", port, log_dir / "vertexcompat.log",
    )
    with server:
        # --quick: the prompt's first sentence (serving.py's smoke prompts)
        results = asyncio.run(measure(server.base, args.max_tokens, runs, say,
                                      warm=not args.quick,
                                      prompt=(QUICK_PROMPTS if args.quick else PROMPTS)[0]))
    foreign.stop("server")
    fc = foreign.phases["server"]
    noisy = fc > 0.1

    ms = {k: med([r.ms_per_token for r in results[k]]) for k in VARIANTS}
    ratio = {k: ms[k] / ms["a"] for k in VARIANTS}
    d_over_e = ms["d"] / ms["e"]
    print(f"Decode ms/token, median of {runs} interleaved rounds; model {args.model}, "
          f"threads {args.threads}, max_tokens {args.max_tokens}, greedy")
    print(f"  other processes' CPU use (cores): {fc:.2f}   load avg at start {load1:.2f}"
          + ("   <-- NOT A QUIET MACHINE: numbers unreliable" if noisy else "   (quiet)"))
    print(f"  (a) = serving.py's row (a) ours request: {1000 / ms['a']:.1f} decode tok/s")
    print()
    rows = []
    for k, (label, _) in VARIANTS.items():
        rs = results[k]
        rows.append((
            f"({k}) {label}", f"{ms[k]:.2f}", f"{ratio[k]:.3f}x",
            f"{ms[k] - ms['a']:+.2f}",
            f"{min(r.ms_per_token for r in rs):.2f}-{max(r.ms_per_token for r in rs):.2f}",
            "/".join(str(t) for t in sorted({r.tokens for r in rs})),
            f"{min(r.tops[0] for r in rs)}-{max(r.tops[1] for r in rs)}"
            if any(r.entries for r in rs) else "-",
            f"{med([r.sse_bytes / r.tokens for r in rs]):.0f}",
        ))
    print_rows(("variant", "ms/token", "vs (a)", "ms added", "range", "tokens",
                "alternatives", "SSE bytes/token"), rows)
    print(f"(d) vs (e), the logprobs' own cost under the grammar: {d_over_e:.3f}x "
          f"({ms['d'] - ms['e']:+.2f} ms/token)")
    problems = check(results)
    for problem in problems:
        print("FAIL:", problem)
    if not problems:
        print(f"checks: a log probability per token in (b)-(d), {TOP} alternatives in (c) (in "
              "(d) those the grammar allows, up to 20), same greedy text with and without "
              "logprobs")
    summary = {"model": args.model, "threads": args.threads, "max_tokens": args.max_tokens,
               "runs": runs, "ms_per_token": {k: round(v, 3) for k, v in ms.items()},
               "ratio_to_a": {k: round(v, 3) for k, v in ratio.items()},
               "d_over_e": round(d_over_e, 3), "foreign_cpu_cores": round(fc, 3),
               "quiet": not noisy}
    if args.json:
        full = {**summary, "python": platform.python_version(), "log_dir": str(log_dir),
                "runs_detail": {k: [r.__dict__ for r in v] for k, v in results.items()}}
        text = json.dumps(full, indent=2, default=float)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    print(json.dumps(summary))
    print(f"logprobs bench done: (a) {ms['a']:.2f} ms/token, (b) {ratio['b']:.3f}x "
          f"(c) {ratio['c']:.3f}x (d) {ratio['d']:.3f}x (e) {ratio['e']:.3f}x")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
