"""Prefix cache benchmark: the same requests against our server with the prefix cache on and
off (`serve --no-prefix-cache`), same model and threads, one phase after the other, printed
as ratios on / off with PASS/MISS against the targets.

(a) TTFT of a question over a ~2,500-token document that an earlier question already sent
    (a new document each repetition): target <= 0.10x.
(b) total time of an 8-turn conversation over that document (each turn sends the history).
(c) aggregate tokens/s of 4 concurrent streams that share nothing (each request in its own,
    fresh project: a prefix is never reused across projects): target >= 0.97x, i.e. the
    cache must not slow down traffic that never hits it. Bursts alternate between the two
    servers; half of them run after restarting both in the other order.
(e) TTFT of a question over a document whose slot other documents took since (as many as
    the server has slots, 4): the
    prefix comes back from host memory (`--cache-ram`), on vs off: target <= 0.10x.
(f) TTFT of the same request sent again (the whole prompt seen before: with the cache on
    nothing is decoded, the first token is drawn from the logits kept with the prompt), on
    vs off: reported, and its answer must be the same.
(d) (a) against llama-cpp-python's own server (`python -m llama_cpp.server`), which keeps
    the previous prompt's KV and reuses its longest common prefix: reported.

    .venv/bin/python bench/prefix_cache.py [--model NAME] [--threads N] [--reps 3]
    .venv/bin/python bench/prefix_cache.py --quick   # smoke: tiny model, short document, no warm-ups

`--quick` proves the script works (tests/e2e/test_bench_smoke.py runs it), not the numbers.
A quiet machine is required (see bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import BENCH_DIR, Server, free_port, print_rows, resolve_model  # noqa: E402

MODEL_ID = "google/gemini-2.0-flash-001"
TARGET_TTFT_RATIO = 0.10
TARGET_NO_HIT_RATIO = 0.97
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
         "november oscar papa quebec romeo sierra tango uniform victor whiskey xray").split()
QUESTIONS = [
    "Which word appears in line 3?", "How many lines mention tango?", "What is line 10 about?",
    "Summarize the first five lines.", "Which line is the longest?", "What comes after line 7?",
    "Name three words from line 12.", "Is there a line about zulu?",
]


def document(seed: int, lines: int) -> str:
    """A made-up document of `lines` numbered lines (~25 tokens each), different per seed."""
    out = []
    for i in range(lines):
        words = [WORDS[(seed * 7919 + i * 31 + k * 17) % len(WORDS)] for k in range(12)]
        out.append(f"Line {i + 1}: {' '.join(words)}.")
    return "\n".join(out)


def vertex_url(base: str, project: str) -> str:
    return f"{base}/v1/projects/{project}/locations/us-central1/endpoints/openapi/chat/completions"


async def chat(client: httpx.AsyncClient, url: str, messages: list[dict[str, str]],
               max_tokens: int, model: str = MODEL_ID) -> dict[str, Any]:
    """One streamed greedy request: TTFT, total time, the text and the usage."""
    body = {"model": model, "messages": messages, "stream": True, "temperature": 0.0,
            "max_tokens": max_tokens, "stream_options": {"include_usage": True}}
    t0 = time.perf_counter()
    ttft, parts, usage = None, [], {}
    async with client.stream("POST", url, json=body, headers={"Authorization": "Bearer x"}) as r:
        if r.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {r.status_code}: {(await r.aread())[:300]!r}")
        async for line in r.aiter_lines():
            if not line.startswith("data:") or line[5:].strip() == "[DONE]":
                continue
            event = json.loads(line[5:])
            usage = event.get("usage") or usage
            for choice in event.get("choices") or ():
                if (choice.get("delta") or {}).get("content"):
                    ttft = ttft if ttft is not None else time.perf_counter() - t0
                    parts.append(choice["delta"]["content"])
    total = time.perf_counter() - t0
    return {"ttft": ttft if ttft is not None else total, "total": total, "text": "".join(parts),
            "usage": usage or {}}


def cached_tokens(result: dict[str, Any]) -> int:
    return ((result["usage"].get("prompt_tokens_details") or {}).get("cached_tokens") or 0)


async def measure(base: str, args: argparse.Namespace, *, openai_path: bool = False,
                  skip_bc: bool = False) -> dict[str, Any]:
    project = "bench-" + secrets.token_hex(4)
    url = f"{base}/v1/chat/completions" if openai_path else vertex_url(base, project)
    model = "local" if openai_path else MODEL_ID
    out: dict[str, Any] = {"a_ttft": [], "a_cached": [], "a_prompt": [], "texts": [],
                           "f_ttft": [], "f_cached": []}
    async with httpx.AsyncClient(timeout=httpx.Timeout(900.0)) as client:
        if not args.quick:  # warm-up (a smoke run's times prove nothing)
            await chat(client, url, [{"role": "user", "content": "Hi"}], 4, model)
        for rep in range(args.reps):
            doc = [{"role": "system", "content": "Answer from this document.\n" +
                    document(1000 + rep, args.lines)}]
            await chat(client, url, doc + [{"role": "user", "content": QUESTIONS[0]}],
                       args.first_tokens, model)
            second = await chat(client, url, doc + [{"role": "user", "content": QUESTIONS[1]}],
                                args.second_tokens, model)
            out["a_ttft"].append(second["ttft"])
            out["a_cached"].append(cached_tokens(second))
            out["a_prompt"].append(second["usage"].get("prompt_tokens", 0))
            out["texts"].append(second["text"])
            again = await chat(client, url, doc + [{"role": "user", "content": QUESTIONS[1]}],
                               args.second_tokens, model)
            out["f_ttft"].append(again["ttft"])
            out["f_cached"].append(cached_tokens(again))
            out["texts"].append(again["text"])
        if skip_bc:
            return out
        # (e) a document whose slot was taken by as many others as there are slots
        doc = [{"role": "system", "content": "Answer from this document.\n" +
                document(3000, args.lines)}]
        await chat(client, url, doc + [{"role": "user", "content": QUESTIONS[0]}],
                   args.first_tokens, model)
        for k in range(args.parallel):
            await chat(client, url, [{"role": "system", "content": "Answer from this document.\n"
                                      + document(3100 + k, args.filler_lines)},
                                     {"role": "user", "content": QUESTIONS[0]}],
                       args.filler_tokens, model)
        back = await chat(client, url, doc + [{"role": "user", "content": QUESTIONS[1]}],
                          args.second_tokens, model)
        out["e_ttft"], out["e_cached"] = back["ttft"], cached_tokens(back)
        out["texts"].append(back["text"])
        # (b) an 8-turn conversation over a new document
        history = [{"role": "system", "content": "Answer from this document.\n" +
                    document(2000, args.lines)}]
        t0 = time.perf_counter()
        turn_cached = []
        for question in QUESTIONS[: args.turns]:
            history.append({"role": "user", "content": question})
            answer = await chat(client, url, history, args.turn_tokens, model)
            turn_cached.append(cached_tokens(answer))
            history.append({"role": "assistant", "content": answer["text"]})
            out["texts"].append(answer["text"])
        out["b_total"] = time.perf_counter() - t0
        out["b_cached"] = turn_cached
    return out


async def no_hit_burst(base: str, burst: int, args: argparse.Namespace) -> float:
    """(c) 4 streams that share nothing (each request in a fresh project): tokens/s."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(900.0)) as client:
        t0 = time.perf_counter()
        results = await asyncio.gather(*(
            chat(client, vertex_url(base, "nohit-" + secrets.token_hex(6)),
                 [{"role": "user", "content": f"Write a long story about {w} and {v}."}],
                 args.stream_tokens)
            for w, v in zip(WORDS[(4 * burst) % 20:(4 * burst) % 20 + 4], WORDS[-4:])
        ))
        wall = time.perf_counter() - t0
    assert all(cached_tokens(r) == 0 for r in results), "a no-hit burst hit"
    return sum(r["usage"].get("completion_tokens", 0) for r in results) / wall


def our_server(args: argparse.Namespace, model_path: Path, log_dir: Path, cache: bool,
               tag: str = "") -> Server:
    port = free_port()
    return Server(
        f"vertexcompat (prefix cache {'on' if cache else 'off'})",
        [sys.executable, "-m", "vertexcompat", "serve", "--no-auth", "--host", "127.0.0.1",
         "--port", str(port), "--model", str(model_path), "--threads", str(args.threads),
         "--parallel", str(args.parallel), "--ctx-per-seq", str(args.ctx),
         "--log-level", "warning",
         *([] if cache else ["--no-prefix-cache"])],
        "/readyz", port, log_dir / f"ours-cache-{'on' if cache else 'off'}{tag}.log",
    )


def run_bursts(servers: dict[str, Server], first: int, last: int, args: argparse.Namespace,
               results: dict[str, Any]) -> None:
    """(c) bursts `first`..`last` on both servers, alternating, after a warm-up burst each
    (not in --quick: its one burst each proves the path, not a number)."""
    for server in servers.values() if not args.quick else ():
        asyncio.run(no_hit_burst(server.base, 0, args))
    for burst in range(first, last + 1):
        for name in (("on", "off") if burst % 2 else ("off", "on")):
            results[name]["c_tps"].append(asyncio.run(no_hit_burst(servers[name].base, burst, args)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--reps", type=int, default=3, help="(a) repetitions, medians reported")
    p.add_argument("--lines", type=int, default=100, help="document lines (~25 tokens each)")
    p.add_argument("--turns", type=int, default=8)
    p.add_argument("--turn-tokens", type=int, default=32)
    p.add_argument("--bursts", type=int, default=8, help="(c) measured 4-stream bursts per server")
    p.add_argument("--stream-tokens", type=int, default=64)
    p.add_argument("--ctx", type=int, default=4096)
    p.add_argument("--parallel", type=int, default=4, help="our servers' slots")
    p.add_argument("--skip-llama-server", action="store_true")
    p.add_argument("--only-c", action="store_true", help="only the no-hit bursts (c)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: tiny model, 3-line document, 1 rep, 2 turns, 1 burst, "
                   "answers of 1-4 tokens")
    args = p.parse_args(argv)
    # max_tokens of the first question over a document, of the measured second one, and of
    # the other documents that take its slot in (e)
    args.first_tokens, args.second_tokens, args.filler_tokens = 8, 16, 4
    args.filler_lines = args.lines  # of the documents that take its slot in (e)
    if args.only_c:
        args.skip_llama_server = True
    if args.quick:
        args.model, args.reps, args.lines, args.turns = "smollm2-135m-instruct", 1, 3, 2
        args.turn_tokens, args.bursts, args.stream_tokens, args.ctx = 4, 1, 4, 1024
        args.parallel = 2
        args.first_tokens, args.second_tokens, args.filler_tokens = 2, 4, 1
        args.filler_lines = 1  # taking a slot needs no length
        args.skip_llama_server = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    model_path = resolve_model(args.model)
    log_dir = Path(tempfile.mkdtemp(prefix="vertexcompat-prefix-bench-"))
    t_start = time.monotonic()
    say = lambda m: print(f"[bench {time.monotonic() - t_start:6.1f}s] {m}", file=sys.stderr,  # noqa: E731
                          flush=True)
    say(f"model {model_path}, threads {args.threads}, logs in {log_dir}")
    results: dict[str, Any] = {}
    # Both servers run, one at a time: (a) and (b) on each, then the no-hit bursts (c)
    # alternate between them, so that drift over the run (measured: the second of two
    # back-to-back phases ran ~8% faster) does not land on one side.
    with our_server(args, model_path, log_dir, True) as on_server, \
            our_server(args, model_path, log_dir, False) as off_server:
        servers = {"on": on_server, "off": off_server}
        for name, server in servers.items():
            say(f"our server, prefix cache {name}: (a), (b)")
            results[name] = (
                asyncio.run(measure(server.base, args)) if not args.only_c
                else {"a_ttft": [1.0], "a_cached": [1], "a_prompt": [0], "texts": [], "b_total": 1.0,
                      "b_cached": [], "e_ttft": 1.0, "e_cached": 1}
            )
        half = max(1, args.bursts // 2)
        say(f"(c) {args.bursts} no-hit bursts on each, alternating: {half} now")
        for name in servers:
            results[name]["c_tps"] = []
        run_bursts(servers, 1, half, args, results)
    if args.bursts > half:
        # The rest on fresh servers started in the other order: measured, the server
        # started first ran ~2-6% slower through a whole run, whichever it was.
        say(f"(c) {args.bursts - half} more on each, the servers restarted in the other order")
        with our_server(args, model_path, log_dir, False, "-2") as off_server, \
                our_server(args, model_path, log_dir, True, "-2") as on_server:
            run_bursts({"on": on_server, "off": off_server}, half + 1, args.bursts, args,
                       results)
    if not args.skip_llama_server:
        say("llama_cpp.server (keeps its last prompt's KV)")
        port = free_port()
        with Server("llama_cpp.server",
                    [sys.executable, str(BENCH_DIR / "_llama_server.py"), "--model", str(model_path),
                     "--n_threads", str(args.threads), "--n_threads_batch", str(args.threads),
                     "--n_ctx", str(args.ctx), "--n_batch", "512", "--n_ubatch", "512",
                     "--flash_attn", "false", "--interrupt_requests", "false",
                     "--host", "127.0.0.1", "--port", str(port)],
                    "/v1/models", port, log_dir / "llama_cpp_server.log") as server:
            results["llama"] = asyncio.run(measure(server.base, args, openai_path=True,
                                                   skip_bc=True))
    on, off = results["on"], results["off"]
    med = statistics.median
    if args.only_c:
        print(f"(c) 4 streams, 0% hits: on {med(on['c_tps']):.1f} tok/s, off "
              f"{med(off['c_tps']):.1f} tok/s, {med(on['c_tps']) / med(off['c_tps']):.3f}x; per "
              f"burst on {[round(x, 1) for x in on['c_tps']]}, off "
              f"{[round(x, 1) for x in off['c_tps']]}")
        return 0
    same = on["texts"] == off["texts"]
    a_ratio = med(on["a_ttft"]) / med(off["a_ttft"])
    b_ratio = on["b_total"] / off["b_total"]
    c_ratio = med(on["c_tps"]) / med(off["c_tps"])
    e_ratio = on["e_ttft"] / off["e_ttft"]
    f_ratio = med(on["f_ttft"]) / med(off["f_ttft"])
    rows = [
        ("(a) TTFT s, shared prefix", f"{med(on['a_ttft']):.3f}", f"off {med(off['a_ttft']):.3f}",
         f"{a_ratio:.3f}x", f"<= {TARGET_TTFT_RATIO:.2f}x",
         "PASS" if a_ratio <= TARGET_TTFT_RATIO else "MISS"),
        ("(b) 8-turn conversation s" if args.turns == 8 else f"(b) {args.turns}-turn conversation s",
         f"{on['b_total']:.2f}", f"off {off['b_total']:.2f}", f"{b_ratio:.3f}x", "report", "-"),
        ("(c) 4 streams, 0% hits, tok/s", f"{med(on['c_tps']):.1f}", f"off {med(off['c_tps']):.1f}",
         f"{c_ratio:.3f}x", f">= {TARGET_NO_HIT_RATIO:.2f}x",
         "PASS" if c_ratio >= TARGET_NO_HIT_RATIO else "MISS"),
        ("(e) TTFT s, prefix from host memory", f"{on['e_ttft']:.3f}", f"off {off['e_ttft']:.3f}",
         f"{e_ratio:.3f}x", f"<= {TARGET_TTFT_RATIO:.2f}x",
         "PASS" if e_ratio <= TARGET_TTFT_RATIO else "MISS"),
        ("(f) TTFT s, the same request again", f"{med(on['f_ttft']):.3f}",
         f"off {med(off['f_ttft']):.3f}", f"{f_ratio:.3f}x", "report", "-"),
    ]
    if "llama" in results:
        ll = med(results["llama"]["a_ttft"])
        rows.append(("(d) TTFT s, shared prefix", f"{med(on['a_ttft']):.3f}",
                     f"llama_cpp.server {ll:.3f}", f"{med(on['a_ttft']) / ll:.3f}x", "report", "-"))
    print()
    print("vertexcompat prefix cache benchmark")
    print(f"  model {args.model}  threads {args.threads}  (a) reps {args.reps}, prompt tokens "
          f"{on['a_prompt']}, cached on {on['a_cached']} / off {off['a_cached']}")
    print(f"  (b) cached tokens per turn, on: {on['b_cached']}")
    print(f"  (f) cached tokens of the repeats, on: {on['f_cached']} (prompts {on['a_prompt']})")
    print(f"  (c) tok/s per burst, on: {[round(x, 1) for x in on['c_tps']]}, "
          f"off: {[round(x, 1) for x in off['c_tps']]}")
    print(f"  (e) cached tokens after {args.parallel} other documents, on {on['e_cached']} / off "
          f"{off['e_cached']}")
    print(f"  same greedy answers with the cache on and off: {same}")
    print_rows(("metric", "on", "baseline", "ratio", "target", "result"), rows)
    if not same:
        print("FAIL: the answers differ with the cache on and off")
        return 1
    if not all(c > 0 for c in on["a_cached"]) or any(off["a_cached"]) or not on["e_cached"] \
            or off["e_cached"] or on["f_cached"] != on["a_prompt"]:
        print("FAIL: cached_tokens is not what the cache did")
        return 1
    print(f"prefix cache bench done: (a) {a_ratio:.3f}x (b) {b_ratio:.3f}x (c) {c_ratio:.3f}x "
          f"(e) {e_ratio:.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
